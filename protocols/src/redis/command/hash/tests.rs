//! Hash commands against the in-memory fake store; replies checked against redis-server 7.0.15.

use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
use crate::resp::Reply;

async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

fn map(pairs: &[(&str, &str)]) -> Reply {
    Reply::Map(pairs.iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
}

#[tokio::test]
async fn hset_counts_new_fields_and_hget_reads_them() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSET h a 1 b 2 a 3", int(2)),
            ("HGET h a", bulk("3")),
            ("HGET h b", bulk("2")),
            ("HGET h missing", Reply::Null),
            ("HGET nokey a", Reply::Null),
            ("HSET h b 20 c 30", int(1)),
            ("HMSET h d 4", ok()),
            ("HGETALL h", map(&[("a", "3"), ("b", "20"), ("c", "30"), ("d", "4")])),
            ("HGETALL nokey", Reply::Map(vec![])),
            ("TYPE h", Reply::Simple("hash".into())),
            ("HSET h a", err("ERR wrong number of arguments for 'hset' command")),
            ("HMSET h a 1 b", err("ERR wrong number of arguments for 'hmset' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn strings_and_hashes_refuse_each_other() {
    let mut h = Harness::new();
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    script(
        &mut h,
        &[
            ("SET s v", ok()),
            ("HSET s a 1", wrongtype.clone()),
            ("HGET s a", wrongtype.clone()),
            ("HGETALL s", wrongtype.clone()),
            ("HSET h a 1", int(1)),
            ("GET h", wrongtype.clone()),
            ("APPEND h x", wrongtype),
        ],
    )
    .await;
}

#[tokio::test]
async fn del_drops_the_hash_in_one_write_and_a_new_one_starts_empty() {
    let mut h = Harness::new();
    script(&mut h, &[("HSET h a 1 b 2", int(2)), ("DEL h", int(1)), ("EXISTS h", int(0)), ("HGET h a", Reply::Null)])
        .await;
    let writes = h.kv.write_count();
    h.run("HSET h c 3").await;
    // The old fields are not resurrected: the new hash has a new version.
    script(&mut h, &[("HGETALL h", map(&[("c", "3")]))]).await;
    assert_eq!(h.kv.write_count(), writes, "HSET commits as a transaction, not a plain write");
}

#[tokio::test]
async fn rename_moves_the_whole_hash_and_expire_applies_to_it() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSET h a 1 b 2", int(2)),
            ("RENAME h g", ok()),
            ("HGETALL g", map(&[("a", "1"), ("b", "2")])),
            ("EXISTS h", int(0)),
            ("EXPIRE g 10", int(1)),
            ("TTL g", int(10)),
            ("HSET g c 3", int(1)),
            ("TTL g", int(10)),
        ],
    )
    .await;
    h.kv.advance_ms(10_001);
    script(&mut h, &[("HGET g a", Reply::Null), ("EXISTS g", int(0))]).await;
}

#[tokio::test]
async fn hset_inside_multi_sees_its_own_writes() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("MULTI", ok()),
            ("HSET h a 1", Reply::Simple("QUEUED".into())),
            ("HSET h a 2 b 1", Reply::Simple("QUEUED".into())),
            ("HGETALL h", Reply::Simple("QUEUED".into())),
            ("EXEC", Reply::Array(vec![int(1), int(1), map(&[("a", "2"), ("b", "1")])])),
        ],
    )
    .await;
}

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

/// The bytes of a bulk reply.
fn bytes_of(reply: &Reply) -> Vec<u8> {
    match reply {
        Reply::Bulk(b) => b.to_vec(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn wrongtype() -> Reply {
    err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

#[tokio::test]
async fn field_commands_answer_like_redis() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSET h a 1 b 22", int(2)),
            ("HSETNX h a 9", int(0)),
            ("HSETNX h c 3", int(1)),
            ("HSETNX fresh x y", int(1)),
            ("HGET h a", bulk("1")),
            ("HMGET h a nope c", Reply::Array(vec![bulk("1"), Reply::Null, bulk("3")])),
            ("HMGET nokey a b", Reply::Array(vec![Reply::Null, Reply::Null])),
            ("HEXISTS h a", int(1)),
            ("HEXISTS h z", int(0)),
            ("HEXISTS nokey a", int(0)),
            ("HSTRLEN h b", int(2)),
            ("HSTRLEN h z", int(0)),
            ("HLEN h", int(3)),
            ("HLEN nokey", int(0)),
            ("HKEYS h", arr(&["a", "b", "c"])),
            ("HVALS h", arr(&["1", "22", "3"])),
            ("HKEYS nokey", Reply::Array(vec![])),
            ("HVALS nokey", Reply::Array(vec![])),
            ("HDEL h a a nope", int(1)),
            ("HDEL h nope", int(0)),
            ("HDEL nokey a", int(0)),
            ("HLEN h", int(2)),
            ("HDEL h b c", int(2)),
            ("EXISTS h", int(0)),
            ("HMGET h", err("ERR wrong number of arguments for 'hmget' command")),
            ("HDEL h", err("ERR wrong number of arguments for 'hdel' command")),
            ("HSETNX h a", err("ERR wrong number of arguments for 'hsetnx' command")),
            ("HLEN h x", err("ERR wrong number of arguments for 'hlen' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn every_hash_command_refuses_other_types() {
    let mut h = Harness::new();
    h.run("SET s v").await;
    for line in [
        "HSETNX s a 1",
        "HMGET s a",
        "HDEL s a",
        "HEXISTS s a",
        "HLEN s",
        "HSTRLEN s a",
        "HKEYS s",
        "HVALS s",
        "HINCRBY s a 1",
        "HINCRBYFLOAT s a 1",
        "HRANDFIELD s",
        "HRANDFIELD s 2",
        "HSCAN s 0",
    ] {
        assert_eq!(h.run(line).await, wrongtype(), "{line}");
    }
    h.run("SADD set m").await;
    assert_eq!(h.run("HGET set m").await, wrongtype());
}

#[tokio::test]
async fn hincrby_and_hincrbyfloat_check_values_like_redis() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSET h n 10 s x big 9223372036854775807 small -9223372036854775808 f 1.5 sp \" 1\"", int(6)),
            ("HINCRBY h n 5", int(15)),
            ("HINCRBY h n -20", int(-5)),
            ("HINCRBY h new 7", int(7)),
            ("HGET h new", bulk("7")),
            ("HINCRBY h s 1", err("ERR hash value is not an integer")),
            ("HINCRBY h f 1", err("ERR hash value is not an integer")),
            ("HINCRBY h sp 1", err("ERR hash value is not an integer")),
            ("HINCRBY h big 1", err("ERR increment or decrement would overflow")),
            ("HINCRBY h small -1", err("ERR increment or decrement would overflow")),
            ("HINCRBY h big 0", int(i64::MAX)),
            ("HINCRBY h n x", err("ERR value is not an integer or out of range")),
            ("HINCRBY h n 1.5", err("ERR value is not an integer or out of range")),
            ("HINCRBYFLOAT h f 1", bulk("2.5")),
            ("HINCRBYFLOAT h n 0.1", bulk("-4.9")),
            ("HINCRBYFLOAT h nf 3", bulk("3")),
            ("HINCRBYFLOAT h f 1e3", bulk("1002.5")),
            ("HINCRBYFLOAT h s 1", err("ERR hash value is not a float")),
            ("HINCRBYFLOAT h f abc", err("ERR value is not a valid float")),
            ("HINCRBYFLOAT h f inf", err("ERR value is NaN or Infinity")),
            ("HSET h huge 1e4932", int(1)),
            ("HINCRBYFLOAT h huge 1e4932", err("ERR increment would produce NaN or Infinity")),
            ("HLEN h", int(9)),
            // Redis checks the increment before the key's type.
            ("SET str v", ok()),
            ("HINCRBY str a x", err("ERR value is not an integer or out of range")),
            ("HINCRBYFLOAT str a x", err("ERR value is not a valid float")),
        ],
    )
    .await;
}

#[tokio::test]
async fn hrandfield_counts_and_values() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HRANDFIELD nokey", Reply::Null),
            ("HRANDFIELD nokey 3", Reply::Array(vec![])),
            ("HRANDFIELD nokey -3 WITHVALUES", Reply::Array(vec![])),
            ("HSET h a 1 b 2 c 3", int(3)),
            ("HRANDFIELD h 0", Reply::Array(vec![])),
            ("HRANDFIELD h 5", arr(&["a", "b", "c"])),
            ("HRANDFIELD h 3 WITHVALUES", arr(&["a", "1", "b", "2", "c", "3"])),
            ("HRANDFIELD h 1 withvalue", err("ERR syntax error")),
            ("HRANDFIELD h 1 WITHVALUES x", err("ERR syntax error")),
            ("HRANDFIELD h x", err("ERR value is not an integer or out of range")),
            (
                "HRANDFIELD h -9223372036854775808",
                err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            ),
            ("HRANDFIELD h 9223372036854775807 WITHVALUES", err("ERR value is out of range")),
        ],
    )
    .await;
    let fields = ["a", "b", "c"];
    for _ in 0..20 {
        let Reply::Bulk(one) = h.run("HRANDFIELD h").await else { panic!("not a bulk") };
        assert!(fields.contains(&std::str::from_utf8(&one).unwrap()));
        let Reply::Array(two) = h.run("HRANDFIELD h 2").await else { panic!("not an array") };
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1], "a positive count never repeats");
        let Reply::Array(many) = h.run("HRANDFIELD h -10 WITHVALUES").await else { panic!("not an array") };
        assert_eq!(many.len(), 20);
        for pair in many.chunks(2) {
            let (Reply::Bulk(field), Reply::Bulk(value)) = (&pair[0], &pair[1]) else { panic!("{pair:?}") };
            let index = fields.iter().position(|f| f.as_bytes() == &field[..]).expect("a field of h");
            assert_eq!(&value[..], (index + 1).to_string().as_bytes());
        }
    }
    // RESP3 answers [field, value] pairs.
    h.session.protocol = crate::resp::ProtocolVersion::Resp3;
    let Reply::Array(pairs) = h.run("HRANDFIELD h 2 WITHVALUES").await else { panic!("not an array") };
    assert_eq!(pairs.len(), 2);
    assert!(pairs.iter().all(|p| matches!(p, Reply::Array(pair) if pair.len() == 2)), "{pairs:?}");
}

#[tokio::test]
async fn hrandfield_samples_large_hashes_without_reading_them_whole() {
    let mut h = Harness::new();
    let mut line = String::from("HSET big");
    for i in 0..5000 {
        line.push_str(&format!(" f{i:05} {i}"));
    }
    assert_eq!(h.run(&line).await, int(5000));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let Reply::Array(fields) = h.run("HRANDFIELD big 20").await else { panic!("not an array") };
        assert_eq!(fields.len(), 20);
        let distinct: std::collections::HashSet<_> = fields.iter().map(bytes_of).collect();
        assert_eq!(distinct.len(), 20, "a positive count never repeats");
        seen.extend(fields.iter().map(bytes_of));
    }
    // Probes land all over the hash, not on one spot.
    assert!(seen.len() > 500, "only {} distinct fields seen", seen.len());
    let Reply::Array(repeated) = h.run("HRANDFIELD big -3000").await else { panic!("not an array") };
    assert_eq!(repeated.len(), 3000);
}

async fn scan_all(h: &mut Harness, command: &str, key: &str, options: &str) -> (Vec<Reply>, usize) {
    let mut cursor = "0".to_string();
    let mut items = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let reply = h.run(&format!("{command} {key} {cursor} {options}")).await;
        let Reply::Array(parts) = reply else { panic!("{reply:?}") };
        let [Reply::Bulk(next), Reply::Array(page)] = &parts[..] else { panic!("{parts:?}") };
        items.extend(page.iter().cloned());
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            return (items, calls);
        }
        assert!(calls < 10_000, "scan does not terminate");
    }
}

#[tokio::test]
async fn hscan_walks_every_field_with_match_and_count() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("HSCAN nokey 0", Reply::Array(vec![bulk("0"), Reply::Array(vec![])])),
            ("HSCAN nokey 0 COUNT 0", Reply::Array(vec![bulk("0"), Reply::Array(vec![])])),
            ("HSCAN h x", err("ERR invalid cursor")),
            ("HSET h a 1 b 2", int(2)),
            ("HSCAN h 0", Reply::Array(vec![bulk("0"), arr(&["a", "1", "b", "2"])])),
            ("HSCAN h 0 COUNT 0", err("ERR syntax error")),
            ("HSCAN h 0 COUNT x", err("ERR value is not an integer or out of range")),
            ("HSCAN h 0 MATCH", err("ERR syntax error")),
            ("HSCAN h 0 NOVALUES", err("ERR syntax error")),
            ("HSCAN h 0 MATCH b*", Reply::Array(vec![bulk("0"), arr(&["b", "2"])])),
        ],
    )
    .await;
    let mut line = String::from("HSET big");
    for i in 0..300 {
        line.push_str(&format!(" field:{i} v{i}"));
    }
    h.run(&line).await;
    let (items, calls) = scan_all(&mut h, "HSCAN", "big", "COUNT 7").await;
    assert_eq!(items.len(), 600);
    assert_eq!(calls, 300usize.div_ceil(7));
    let (items, _) = scan_all(&mut h, "HSCAN", "big", "MATCH field:1?? COUNT 50").await;
    assert_eq!(items.len(), 200, "field:100..field:199 with their values");
}

#[tokio::test]
async fn hscan_returns_every_field_present_throughout_while_the_hash_changes() {
    let mut h = Harness::new();
    let mut line = String::from("HSET h");
    for i in 0..200 {
        line.push_str(&format!(" keep{i:03} x"));
    }
    h.run(&line).await;
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut round = 0;
    loop {
        let Reply::Array(parts) = h.run(&format!("HSCAN h {cursor} COUNT 10")).await else { panic!() };
        let [Reply::Bulk(next), Reply::Array(page)] = &parts[..] else { panic!() };
        for pair in page.chunks(2) {
            seen.insert(bytes_of(&pair[0]));
        }
        // Churn between calls: add and remove other fields all over the key space.
        round += 1;
        h.run(&format!("HSET h a{round} 1 keep{round:03}z 1 zz{round} 1")).await;
        h.run(&format!("HDEL h a{} zz{}", round - 1, round - 1)).await;
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..200 {
        assert!(seen.contains(format!("keep{i:03}").as_bytes()), "keep{i:03} was never returned");
    }
}

#[tokio::test]
async fn hash_commands_inside_multi_see_one_another() {
    let mut h = Harness::new();
    let queued = Reply::Simple("QUEUED".into());
    script(
        &mut h,
        &[
            ("HSET h a 1", int(1)),
            ("MULTI", ok()),
            ("HINCRBY h a 10", queued.clone()),
            ("HDEL h a", queued.clone()),
            ("HSETNX h a 5", queued.clone()),
            ("HINCRBY h s x", queued.clone()),
            ("HGETALL h", queued.clone()),
            (
                "EXEC",
                Reply::Array(vec![
                    int(11),
                    int(1),
                    int(1),
                    err("ERR value is not an integer or out of range"),
                    map(&[("a", "5")]),
                ]),
            ),
        ],
    )
    .await;
}
