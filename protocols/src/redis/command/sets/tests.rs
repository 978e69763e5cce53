//! Set commands against the in-memory fake store; replies checked against redis-server 7.0.15.

use std::collections::HashSet;

use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
use crate::resp::Reply;

async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

fn set(items: &[&str]) -> Reply {
    Reply::Set(items.iter().map(|s| bulk(s)).collect())
}

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&n| int(n)).collect())
}

fn wrongtype() -> Reply {
    err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

/// The members in a set or array reply, as strings.
fn members(reply: &Reply) -> Vec<String> {
    let (Reply::Set(items) | Reply::Array(items)) = reply else { panic!("not a collection: {reply:?}") };
    items
        .iter()
        .map(|item| match item {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn membership_commands_answer_like_redis() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SADD s a b a c", int(3)),
            ("SADD s c d", int(1)),
            ("SADD s a", int(0)),
            ("SCARD s", int(4)),
            ("SCARD nokey", int(0)),
            ("SMEMBERS s", set(&["a", "b", "c", "d"])),
            ("SMEMBERS nokey", set(&[])),
            ("SISMEMBER s a", int(1)),
            ("SISMEMBER s z", int(0)),
            ("SISMEMBER nokey a", int(0)),
            ("SMISMEMBER s a z d", ints(&[1, 0, 1])),
            ("SMISMEMBER nokey a b", ints(&[0, 0])),
            ("SREM s a z a", int(1)),
            ("SREM s z", int(0)),
            ("SREM nokey a", int(0)),
            ("SREM s b c d", int(3)),
            ("EXISTS s", int(0)),
            ("SADD s \"\"", int(1)),
            ("SMEMBERS s", set(&[""])),
            ("TYPE s", Reply::Simple("set".into())),
            ("SADD s", err("ERR wrong number of arguments for 'sadd' command")),
            ("SREM s", err("ERR wrong number of arguments for 'srem' command")),
            ("SMISMEMBER s", err("ERR wrong number of arguments for 'smismember' command")),
            ("SISMEMBER s", err("ERR wrong number of arguments for 'sismember' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn every_set_command_refuses_other_types() {
    let mut h = Harness::new();
    h.run("SET str v").await;
    h.run("HSET hash f v").await;
    h.run("SADD s a").await;
    for line in [
        "SADD str a",
        "SREM str a",
        "SMEMBERS str",
        "SISMEMBER str a",
        "SMISMEMBER str a",
        "SCARD str",
        "SPOP str",
        "SPOP str 2",
        "SRANDMEMBER str",
        "SRANDMEMBER str -2",
        "SMOVE str s a",
        "SMOVE s str a",
        "SINTER s str",
        "SINTER nokey str",
        "SUNION s hash",
        "SDIFF s str",
        "SDIFF nokey str",
        "SINTERSTORE d s str",
        "SUNIONSTORE d s str",
        "SDIFFSTORE d s str",
        "SINTERCARD 2 s str",
        "SSCAN str 0",
        "SADD hash a",
    ] {
        assert_eq!(h.run(line).await, wrongtype(), "{line}");
    }
    assert_eq!(h.run("GET s").await, wrongtype());
    // SMOVE answers 0 for a missing source before looking at the destination.
    assert_eq!(h.run("SMOVE nokey str a").await, int(0));
    assert_eq!(h.run("EXISTS d").await, int(0), "a failed STORE leaves the destination alone");
}

#[tokio::test]
async fn smove_moves_one_member() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SADD src a b", int(2)),
            ("SADD dst b", int(1)),
            ("SMOVE src dst a", int(1)),
            ("SMEMBERS src", set(&["b"])),
            ("SMEMBERS dst", set(&["a", "b"])),
            ("SMOVE src dst z", int(0)),
            ("SMOVE src dst b", int(1)),
            ("EXISTS src", int(0)),
            ("SCARD dst", int(2)),
            ("SMOVE dst dst a", int(1)),
            ("SMOVE dst dst z", int(0)),
            ("SMOVE dst fresh a", int(1)),
            ("SMEMBERS fresh", set(&["a"])),
            ("SCARD dst", int(1)),
            ("EXPIRE dst 100", int(1)),
            ("SMOVE fresh dst a", int(1)),
            ("TTL dst", int(100)),
        ],
    )
    .await;
}

#[tokio::test]
async fn algebra_and_store_forms() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SADD a 1 2 3 4", int(4)),
            ("SADD b 2 3 5", int(3)),
            ("SADD c 3 4 5 6", int(4)),
            ("SINTER a b", set(&["2", "3"])),
            ("SINTER a b c", set(&["3"])),
            ("SINTER a nokey", set(&[])),
            ("SINTER a", set(&["1", "2", "3", "4"])),
            ("SINTER a a", set(&["1", "2", "3", "4"])),
            ("SUNION a b", set(&["1", "2", "3", "4", "5"])),
            ("SUNION nokey b", set(&["2", "3", "5"])),
            ("SUNION nokey", set(&[])),
            ("SDIFF a b", set(&["1", "4"])),
            ("SDIFF a b c", set(&["1"])),
            ("SDIFF a nokey", set(&["1", "2", "3", "4"])),
            ("SDIFF nokey a", set(&[])),
            ("SDIFF a a", set(&[])),
            ("SINTERCARD 2 a b", int(2)),
            ("SINTERCARD 1 a LIMIT 3", int(3)),
            ("SINTERCARD 1 a LIMIT 0", int(4)),
            ("SINTERCARD 2 a nokey", int(0)),
            ("SINTERCARD 0 a", err("ERR numkeys should be greater than 0")),
            ("SINTERCARD x a", err("ERR numkeys should be greater than 0")),
            ("SINTERCARD 3 a b", err("ERR Number of keys can't be greater than number of args")),
            ("SINTERCARD 1 a LIMIT -1", err("ERR LIMIT can't be negative")),
            ("SINTERCARD 1 a LIMIT x", err("ERR LIMIT can't be negative")),
            ("SINTERCARD 1 a LIMIT", err("ERR syntax error")),
            ("SINTERCARD 1 a foo bar", err("ERR syntax error")),
            ("SINTERSTORE d a b", int(2)),
            ("SMEMBERS d", set(&["2", "3"])),
            ("SUNIONSTORE d a b", int(5)),
            ("SMEMBERS d", set(&["1", "2", "3", "4", "5"])),
            ("SDIFFSTORE d a b", int(2)),
            ("SMEMBERS d", set(&["1", "4"])),
            // The destination may be a source: it is read before it is replaced.
            ("SUNIONSTORE d d c", int(5)),
            ("SMEMBERS d", set(&["1", "3", "4", "5", "6"])),
            // An empty result deletes the destination, whatever it held.
            ("SINTERSTORE d a nokey", int(0)),
            ("EXISTS d", int(0)),
            ("SET d string", ok()),
            ("EXPIRE d 100", int(1)),
            ("SINTERSTORE d a b", int(2)),
            ("TYPE d", Reply::Simple("set".into())),
            ("TTL d", int(-1)),
            ("SET d string", ok()),
            ("SDIFFSTORE d a a", int(0)),
            ("EXISTS d", int(0)),
            ("SINTERSTORE d", err("ERR wrong number of arguments for 'sinterstore' command")),
            ("SINTER", err("ERR wrong number of arguments for 'sinter' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn spop_and_srandmember() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SPOP nokey", Reply::Null),
            ("SPOP nokey 3", set(&[])),
            ("SRANDMEMBER nokey", Reply::Null),
            ("SRANDMEMBER nokey 3", arr(&[])),
            ("SRANDMEMBER nokey -3", arr(&[])),
            ("SADD s a b c", int(3)),
            ("SPOP s 0", set(&[])),
            ("SRANDMEMBER s 0", arr(&[])),
            ("SRANDMEMBER s 10", arr(&["a", "b", "c"])),
            ("SPOP s -1", err("ERR value is out of range, must be positive")),
            ("SPOP s x", err("ERR value is out of range, must be positive")),
            ("SPOP s 1 2", err("ERR syntax error")),
            ("SRANDMEMBER s 1 2", err("ERR syntax error")),
            (
                "SRANDMEMBER s -9223372036854775808",
                err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            ),
            ("SCARD s", int(3)),
        ],
    )
    .await;
    let Reply::Bulk(one) = h.run("SRANDMEMBER s").await else { panic!() };
    assert!([&b"a"[..], b"b", b"c"].contains(&&one[..]));
    let repeated = members(&h.run("SRANDMEMBER s -50").await);
    assert_eq!(repeated.len(), 50);
    assert!(repeated.iter().all(|m| ["a", "b", "c"].contains(&m.as_str())));
    let two = members(&h.run("SRANDMEMBER s 2").await);
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);

    let Reply::Bulk(popped) = h.run("SPOP s").await else { panic!() };
    assert_eq!(h.run(&format!("SISMEMBER s {}", String::from_utf8_lossy(&popped))).await, int(0));
    assert_eq!(h.run("SCARD s").await, int(2));
    let rest = members(&h.run("SPOP s 5").await);
    assert_eq!(rest.len(), 2);
    assert_eq!(h.run("EXISTS s").await, int(0), "popping the last members deletes the set");
}

#[tokio::test]
async fn spop_with_count_from_a_large_set_removes_exactly_what_it_answers() {
    let mut h = Harness::new();
    let mut line = String::from("SADD big");
    for i in 0..5000 {
        line.push_str(&format!(" m{i:05}"));
    }
    assert_eq!(h.run(&line).await, int(5000));
    let popped = members(&h.run("SPOP big 100").await);
    assert_eq!(popped.len(), 100);
    assert_eq!(popped.iter().collect::<HashSet<_>>().len(), 100);
    assert_eq!(h.run("SCARD big").await, int(4900));
    for member in &popped {
        assert_eq!(h.run(&format!("SISMEMBER big {member}")).await, int(0));
    }
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let Reply::Bulk(one) = h.run("SRANDMEMBER big").await else { panic!() };
        seen.insert(one);
    }
    assert!(seen.len() > 150, "single picks spread over the set: {} distinct of 200", seen.len());
    // Most of the set: read whole and sampled exactly.
    let most = members(&h.run("SPOP big 4000").await);
    assert_eq!(most.iter().collect::<HashSet<_>>().len(), 4000);
    assert_eq!(h.run("SCARD big").await, int(900));
}

#[tokio::test]
async fn store_forms_on_large_sets() {
    let mut h = Harness::new();
    for (key, step) in [("evens", 2), ("threes", 3)] {
        let mut line = format!("SADD {key}");
        for i in (0..20_000).step_by(step) {
            line.push_str(&format!(" {i}"));
        }
        h.run(&line).await;
    }
    h.run("SADD tiny 6 7 12").await;
    let started = std::time::Instant::now();
    assert_eq!(h.run("SINTERSTORE both evens threes").await, int(3334));
    assert_eq!(h.run("SUNIONSTORE either evens threes").await, int(10_000 + 6667 - 3334));
    assert_eq!(h.run("SDIFFSTORE only evens threes").await, int(10_000 - 3334));
    assert_eq!(h.run("SINTERCARD 2 evens threes LIMIT 10").await, int(10));
    // A small set against large ones is answered with point reads.
    assert_eq!(h.run("SINTER tiny evens threes").await, set(&["12", "6"]));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(h.run("SISMEMBER both 18").await, int(1));
    assert_eq!(h.run("SISMEMBER only 18").await, int(0));
    assert_eq!(h.run("SCARD either").await, int(13_333));
}

async fn scan_all(h: &mut Harness, key: &str, options: &str) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut items = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let Reply::Array(parts) = h.run(&format!("SSCAN {key} {cursor} {options}")).await else { panic!() };
        let [Reply::Bulk(next), page] = &parts[..] else { panic!("{parts:?}") };
        items.extend(members(page));
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            return (items, calls);
        }
        assert!(calls < 10_000, "scan does not terminate");
    }
}

#[tokio::test]
async fn sscan_walks_every_member() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("SSCAN nokey 0", Reply::Array(vec![bulk("0"), arr(&[])])),
            ("SADD s a b c", int(3)),
            ("SSCAN s 0", Reply::Array(vec![bulk("0"), arr(&["a", "b", "c"])])),
            ("SSCAN s 0 MATCH [ab]", Reply::Array(vec![bulk("0"), arr(&["a", "b"])])),
            ("SSCAN s 0 COUNT 0", err("ERR syntax error")),
            ("SSCAN s -x", err("ERR invalid cursor")),
            ("SSCAN s 0 TYPE set", err("ERR syntax error")),
        ],
    )
    .await;
    let mut line = String::from("SADD big");
    for i in 0..1000 {
        line.push_str(&format!(" {i}"));
    }
    h.run(&line).await;
    let (items, calls) = scan_all(&mut h, "big", "COUNT 100").await;
    assert_eq!(items.len(), 1000);
    assert_eq!(items.iter().collect::<HashSet<_>>().len(), 1000);
    assert_eq!(calls, 10);
    let (items, _) = scan_all(&mut h, "big", "MATCH *7 COUNT 33").await;
    assert_eq!(items.len(), 100);
}

#[tokio::test]
async fn set_commands_inside_multi_and_store_reads_one_snapshot() {
    let mut h = Harness::new();
    let queued = Reply::Simple("QUEUED".into());
    script(
        &mut h,
        &[
            ("SADD a 1 2", int(2)),
            ("MULTI", ok()),
            ("SADD b 2 3", queued.clone()),
            ("SINTERSTORE c a b", queued.clone()),
            ("SREM a 2", queued.clone()),
            ("SMEMBERS c", queued.clone()),
            ("SCARD a", queued.clone()),
            ("EXEC", Reply::Array(vec![int(2), int(1), int(1), set(&["2"]), int(1)])),
        ],
    )
    .await;
}
