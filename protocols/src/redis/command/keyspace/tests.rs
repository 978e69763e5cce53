//! Keyspace commands against the in-memory fake store; replies checked against redis-server 7.0.15.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::redis::command::test_support::{bulk, err, int, ok, Harness};
use crate::resp::Reply;

/// Runs a whole SCAN iteration with `options`, returning every key answered (with repeats).
async fn scan_all(h: &mut Harness, options: &str) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    for _ in 0..100_000 {
        let reply = h.run(&format!("SCAN {cursor} {options}")).await;
        let Reply::Array(parts) = reply else { panic!("SCAN answered {reply:?}") };
        let [Reply::Bulk(next), Reply::Array(page)] = &parts[..] else { panic!("SCAN answered {parts:?}") };
        for key in page {
            let Reply::Bulk(key) = key else { panic!("key {key:?}") };
            keys.push(String::from_utf8_lossy(key).into_owned());
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return keys;
        }
    }
    panic!("SCAN never finished");
}

fn sorted(keys: Vec<String>) -> Vec<String> {
    keys.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
}

#[tokio::test]
async fn scan_visits_every_key_once_with_short_and_long_names() {
    let mut h = Harness::new();
    let mut expected = Vec::new();
    for i in 0..250 {
        let key = if i % 2 == 0 { format!("k{i}") } else { format!("a-much-longer-key-name-{i}") };
        h.run(&format!("SET {key} v")).await;
        expected.push(key);
    }
    expected.sort();
    for options in ["", "COUNT 1", "COUNT 7", "COUNT 1000"] {
        let keys = scan_all(&mut h, options).await;
        assert_eq!(keys.len(), expected.len(), "each key once with {options:?}");
        assert_eq!(sorted(keys), expected);
    }
}

#[tokio::test]
async fn scan_filters_by_match_and_type() {
    let mut h = Harness::new();
    for i in 0..30 {
        h.run(&format!("SET user:{i} v")).await;
        h.run(&format!("SET item:{i} v")).await;
    }
    h.run("HSET user:h f v").await;
    h.run("HSET other f v").await;
    let users = scan_all(&mut h, "MATCH user:* COUNT 5").await;
    assert_eq!(users.len(), 31);
    assert!(users.iter().all(|k| k.starts_with("user:")));
    assert_eq!(scan_all(&mut h, "MATCH *:1? COUNT 3").await.len(), 20);
    assert_eq!(sorted(scan_all(&mut h, "TYPE hash").await), vec!["other".to_string(), "user:h".to_string()]);
    assert_eq!(scan_all(&mut h, "TYPE HASH MATCH user*").await, vec!["user:h".to_string()]);
    assert_eq!(scan_all(&mut h, "TYPE string").await.len(), 60);
    assert_eq!(scan_all(&mut h, "TYPE nosuchtype").await.len(), 0, "unknown types match nothing, as in 7.0");
}

#[tokio::test]
async fn scan_refuses_bad_arguments_like_redis() {
    let mut h = Harness::new();
    let cases = [
        ("SCAN abc", "ERR invalid cursor"),
        ("SCAN -1", "ERR invalid cursor"),
        ("SCAN 18446744073709551616", "ERR invalid cursor"),
        ("SCAN 0 COUNT 0", "ERR syntax error"),
        ("SCAN 0 COUNT x", "ERR value is not an integer or out of range"),
        ("SCAN 0 FOO", "ERR syntax error"),
        ("SCAN 0 MATCH", "ERR syntax error"),
        ("SCAN x COUNT 0", "ERR invalid cursor"),
        ("SCAN", "ERR wrong number of arguments for 'scan' command"),
        ("SCAN 12345", "ERR invalid cursor"),
    ];
    for (line, error) in cases {
        assert_eq!(h.run(line).await, err(error), "{line}");
    }
    let empty = Reply::Array(vec![bulk("0"), Reply::Array(vec![])]);
    assert_eq!(h.run("SCAN 0").await, empty);
}

#[tokio::test]
async fn keys_matches_globs_in_key_order() {
    let mut h = Harness::new();
    for key in ["hello", "hallo", "hxllo", "hllo", "heeeello", "other"] {
        h.run(&format!("SET {key} v")).await;
    }
    let keys = |names: &[&str]| Reply::Array(names.iter().map(|n| bulk(n)).collect());
    assert_eq!(h.run("KEYS h?llo").await, keys(&["hallo", "hello", "hxllo"]));
    assert_eq!(h.run("KEYS h*llo").await, keys(&["hallo", "heeeello", "hello", "hllo", "hxllo"]));
    assert_eq!(h.run("KEYS h[ae]llo").await, keys(&["hallo", "hello"]));
    assert_eq!(h.run("KEYS h[^e]llo").await, keys(&["hallo", "hxllo"]));
    assert_eq!(h.run("KEYS *").await.clone(), keys(&["hallo", "heeeello", "hello", "hllo", "hxllo", "other"]));
    assert_eq!(h.run("KEYS nothing*").await, keys(&[]));
    assert_eq!(h.run("KEYS other").await, keys(&["other"]));
    assert_eq!(h.run("KEYS").await, err("ERR wrong number of arguments for 'keys' command"));
}

#[tokio::test]
async fn randomkey_touch_and_object() {
    let mut h = Harness::new();
    assert_eq!(h.run("RANDOMKEY").await, Reply::Null);
    h.run("SET a 1").await;
    h.run("SET b 2").await;
    // A small keyspace is sampled uniformly: both keys come up (the chance that 200 draws
    // miss one is 2^-199).
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let key = h.run("RANDOMKEY").await;
        assert!(key == bulk("a") || key == bulk("b"), "{key:?}");
        seen.insert(format!("{key:?}"));
    }
    assert_eq!(seen.len(), 2);
    assert_eq!(h.run("TOUCH a b a nokey").await, int(3));
    let steps = [
        ("SET int 123", ok()),
        ("OBJECT ENCODING int", bulk("int")),
        ("OBJECT REFCOUNT int", int(2147483647)),
        ("SET big 12345678901234567890", ok()),
        ("OBJECT ENCODING big", bulk("embstr")),
        ("SET zero 01", ok()),
        ("OBJECT ENCODING zero", bulk("embstr")),
        ("OBJECT REFCOUNT zero", int(1)),
        ("SET long 123456789012345678901234567890123456789012345", ok()),
        ("OBJECT ENCODING long", bulk("raw")),
        ("OBJECT ENCODING nokey", Reply::Null),
        ("OBJECT IDLETIME int", int(0)),
        ("OBJECT FREQ int", err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
        ("HSET h f v", int(1)),
        ("OBJECT ENCODING h", bulk("listpack")),
        ("OBJECT FOO x", err("ERR unknown subcommand 'FOO'. Try OBJECT HELP.")),
        ("OBJECT HELP x", err("ERR wrong number of arguments for 'object|help' command")),
        ("OBJECT ENCODING", err("ERR wrong number of arguments for 'object|encoding' command")),
    ];
    for (line, expected) in steps {
        assert_eq!(h.run(line).await, expected, "{line}");
    }
    let long_value = "x".repeat(65);
    h.run(&format!("HSET h2 f {long_value}")).await;
    assert_eq!(h.run("OBJECT ENCODING h2").await, bulk("hashtable"));
    let Reply::Array(help) = h.run("OBJECT HELP").await else { panic!() };
    assert_eq!(help.len(), 15);
    assert_eq!(
        help[0],
        Reply::Simple(Bytes::from_static(b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))
    );
}
