//! RENAME, RENAMENX and COPY against the in-memory fake store. The scripts' expected bytes
//! were recorded from redis-server 7.0.15 (RESP2, one connection, empty database).

use bytes::Bytes;

use super::test_support::{bulk, err, int, ok, Harness, START_MS};
use super::{Access, Command};
use crate::kv::{Condition, Expiry, Mutation};
use crate::redis::keyspace::{encode_string, kv_key, ValueType};
use crate::resp::{ProtocolVersion, Reply};

/// Runs each line on one connection and compares the encoded reply with redis-server's.
async fn same_bytes(h: &mut Harness, steps: &[(&str, &[u8])]) {
    for (line, expected) in steps {
        let reply = h.run(line).await;
        let actual = reply.to_bytes(h.session.protocol);
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(expected),
            "reply to `{line}` differs from redis-server"
        );
    }
}

async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

fn key(name: &str) -> Bytes {
    kv_key(name.as_bytes())
}

/// An absolute expiry far in the future, so that the recorded PEXPIRETIME replies hold
/// against the fake store's clock as well as a real one.
const FAR_MS: u64 = 4_102_444_800_000;

const REDIS_SCRIPT: &[(&str, &[u8])] = &[
    ("SET a 1", b"+OK\r\n"),
    ("RENAME nokey b", b"-ERR no such key\r\n"),
    ("RENAME nokey nokey", b"-ERR no such key\r\n"),
    ("RENAMENX nokey b", b"-ERR no such key\r\n"),
    ("RENAMENX nokey nokey", b"-ERR no such key\r\n"),
    ("RENAME a a", b"+OK\r\n"),
    ("RENAMENX a a", b":0\r\n"),
    ("GET a", b"$1\r\n1\r\n"),
    ("RENAME a b", b"+OK\r\n"),
    ("EXISTS a", b":0\r\n"),
    ("GET b", b"$1\r\n1\r\n"),
    ("SET c 2 EX 100", b"+OK\r\n"),
    ("RENAME c d", b"+OK\r\n"),
    ("TTL d", b":100\r\n"),
    ("EXISTS c", b":0\r\n"),
    ("PEXPIREAT d 4102444800000", b":1\r\n"),
    ("RENAME d e", b"+OK\r\n"),
    ("PEXPIRETIME e", b":4102444800000\r\n"),
    ("SET f v EX 50", b"+OK\r\n"),
    ("RENAME b f", b"+OK\r\n"),
    ("TTL f", b":-1\r\n"),
    ("GET f", b"$1\r\n1\r\n"),
    ("SET g x", b"+OK\r\n"),
    ("RENAMENX e g", b":0\r\n"),
    ("GET e", b"$1\r\n2\r\n"),
    ("GET g", b"$1\r\nx\r\n"),
    ("RENAMENX e h", b":1\r\n"),
    ("PEXPIRETIME h", b":4102444800000\r\n"),
    ("EXISTS e", b":0\r\n"),
    ("RENAME", b"-ERR wrong number of arguments for 'rename' command\r\n"),
    ("RENAME a", b"-ERR wrong number of arguments for 'rename' command\r\n"),
    ("RENAME a b c", b"-ERR wrong number of arguments for 'rename' command\r\n"),
    ("RENAMENX a", b"-ERR wrong number of arguments for 'renamenx' command\r\n"),
    ("COPY h i", b":1\r\n"),
    ("PEXPIRETIME i", b":4102444800000\r\n"),
    ("PEXPIRETIME h", b":4102444800000\r\n"),
    ("GET i", b"$1\r\n2\r\n"),
    ("COPY f i", b":0\r\n"),
    ("GET i", b"$1\r\n2\r\n"),
    ("COPY f i REPLACE", b":1\r\n"),
    ("GET i", b"$1\r\n1\r\n"),
    ("TTL i", b":-1\r\n"),
    ("COPY nokey j", b":0\r\n"),
    ("EXISTS j", b":0\r\n"),
    ("COPY nokey i REPLACE", b":0\r\n"),
    ("EXISTS i", b":1\r\n"),
    ("COPY h h", b"-ERR source and destination objects are the same\r\n"),
    ("COPY nokey nokey", b"-ERR source and destination objects are the same\r\n"),
    ("COPY h k DB 0", b":1\r\n"),
    ("COPY h k db 0 replace", b":1\r\n"),
    ("COPY h k replace REPLACE db 0 DB 0", b":1\r\n"),
    ("COPY h k", b":0\r\n"),
    ("COPY h l DB 16", b"-ERR DB index is out of range\r\n"),
    ("COPY h l DB -1", b"-ERR DB index is out of range\r\n"),
    ("COPY h l DB x", b"-ERR value is not an integer or out of range\r\n"),
    ("COPY h l DB 99999999999", b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
    ("COPY h l DB 99999999999999999999", b"-ERR value is not an integer or out of range\r\n"),
    ("COPY h l DB", b"-ERR syntax error\r\n"),
    ("COPY h l foo", b"-ERR syntax error\r\n"),
    ("COPY h l REPLACE foo", b"-ERR syntax error\r\n"),
    ("COPY h l DB 16 foo", b"-ERR DB index is out of range\r\n"),
    ("COPY h l foo DB 16", b"-ERR syntax error\r\n"),
    ("COPY h l DB 0 DB", b"-ERR syntax error\r\n"),
    ("COPY h h DB 0", b"-ERR source and destination objects are the same\r\n"),
    ("COPY h h foo", b"-ERR syntax error\r\n"),
    ("COPY h h DB 16", b"-ERR DB index is out of range\r\n"),
    ("COPY h h DB x", b"-ERR value is not an integer or out of range\r\n"),
    ("EXISTS l", b":0\r\n"),
    ("COPY", b"-ERR wrong number of arguments for 'copy' command\r\n"),
    ("COPY a", b"-ERR wrong number of arguments for 'copy' command\r\n"),
];

#[tokio::test]
async fn rename_renamenx_copy_match_redis_byte_for_byte() {
    let mut h = Harness::new();
    same_bytes(&mut h, REDIS_SCRIPT).await;
}

/// Recorded from redis-server 7.0.15: RENAME, RENAMENX and COPY queued in MULTI, including
/// their run-time errors as EXEC elements.
const MULTI_SCRIPT: &[(&str, &[u8])] = &[
    ("SET m:x old", b"+OK\r\n"),
    ("MULTI", b"+OK\r\n"),
    ("SET m:a 1 EX 100", b"+QUEUED\r\n"),
    ("RENAME m:a m:b", b"+QUEUED\r\n"),
    ("GET m:b", b"+QUEUED\r\n"),
    ("TTL m:b", b"+QUEUED\r\n"),
    ("EXISTS m:a", b"+QUEUED\r\n"),
    ("RENAME m:a m:c", b"+QUEUED\r\n"),
    ("RENAMENX m:b m:b", b"+QUEUED\r\n"),
    ("RENAMENX m:x m:b", b"+QUEUED\r\n"),
    ("COPY m:b m:c", b"+QUEUED\r\n"),
    ("COPY m:b m:b", b"+QUEUED\r\n"),
    ("COPY m:b m:c DB 16", b"+QUEUED\r\n"),
    ("COPY m:b m:c foo", b"+QUEUED\r\n"),
    ("TTL m:c", b"+QUEUED\r\n"),
    ("RENAME m:x m:y", b"+QUEUED\r\n"),
    ("EXEC", b"*14\r\n+OK\r\n+OK\r\n$1\r\n1\r\n:100\r\n:0\r\n-ERR no such key\r\n:0\r\n:0\r\n:1\r\n-ERR source and destination objects are the same\r\n-ERR DB index is out of range\r\n-ERR syntax error\r\n:100\r\n+OK\r\n"),
    ("GET m:b", b"$1\r\n1\r\n"),
    ("TTL m:b", b":100\r\n"),
    ("GET m:c", b"$1\r\n1\r\n"),
    ("GET m:y", b"$3\r\nold\r\n"),
    ("EXISTS m:a m:x", b":0\r\n"),
];

#[tokio::test]
async fn rename_and_copy_inside_multi_match_redis() {
    let mut h = Harness::new();
    same_bytes(&mut h, MULTI_SCRIPT).await;
    // EXEC committed once: the net writes of the whole queue, atomically.
    let commits = h.kv.commits();
    assert_eq!(commits.len(), 1);
    let mut written: Vec<Bytes> = commits[0]
        .mutations
        .iter()
        .map(|m| match m {
            Mutation::Put { key, .. } | Mutation::Delete { key } => key.clone(),
            Mutation::DeleteRange { .. } => panic!("no range deletes in a transaction"),
        })
        .collect();
    written.sort();
    assert_eq!(written, vec![key("m:a"), key("m:b"), key("m:c"), key("m:x"), key("m:y")]);
    // The relative expiry SET gave m:a moved to m:b as an absolute one, from the core's clock
    // at the snapshot read (docs/redis.md).
    let expiry_of = |name: &str| {
        commits[0].mutations.iter().find_map(|m| match m {
            Mutation::Put { key: k, expiry, .. } if *k == key(name) => Some(*expiry),
            _ => None,
        })
    };
    assert_eq!(expiry_of("m:b"), Some(Expiry::AtUnixMs(START_MS + 100_000)));
    assert_eq!(expiry_of("m:c"), Some(Expiry::AtUnixMs(START_MS + 100_000)));
    assert_eq!(expiry_of("m:y"), Some(Expiry::Never));
}

#[tokio::test]
async fn rename_inside_multi_exec_moves_the_key() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("set src v", ok()),
            ("set dst old", ok()),
            ("multi", ok()),
            ("rename src dst", Reply::simple("QUEUED")),
            ("get dst", Reply::simple("QUEUED")),
            ("exists src", Reply::simple("QUEUED")),
            ("exec", Reply::Array(vec![ok(), bulk("v"), int(0)])),
            ("get dst", bulk("v")),
            ("exists src", int(0)),
        ],
    )
    .await;
    let commit = h.kv.commits().pop().unwrap();
    assert!(commit.read_keys.contains(&key("src")) && commit.read_keys.contains(&key("dst")));
    assert!(commit.mutations.contains(&Mutation::Delete { key: key("src") }));
}

#[tokio::test]
async fn rename_is_one_write_conditioned_on_both_keys() {
    let mut h = Harness::new();
    h.run(&format!("set a v pxat {FAR_MS}")).await;
    h.run("set b old").await;
    let (va, vb) = (h.kv.raw(&key("a")).version, h.kv.raw(&key("b")).version);
    let writes = h.kv.write_count();
    assert_eq!(h.run("rename a b").await, ok());
    assert_eq!(h.kv.write_count(), writes + 1);
    let (conditions, mutations) = h.kv.last_write().unwrap();
    assert_eq!(
        conditions,
        vec![Condition { key: key("a"), expected_version: va }, Condition { key: key("b"), expected_version: vb },]
    );
    assert_eq!(
        mutations,
        vec![
            Mutation::Put { key: key("b"), value: encode_string(b"v"), expiry: Expiry::AtUnixMs(FAR_MS) },
            Mutation::Delete { key: key("a") },
        ]
    );

    // COPY: one put of the destination, conditioned on both keys as well.
    assert_eq!(h.run("copy b c").await, int(1));
    let (conditions, mutations) = h.kv.last_write().unwrap();
    assert_eq!(conditions.iter().map(|c| c.key.clone()).collect::<Vec<_>>(), vec![key("b"), key("c")]);
    assert_eq!(
        mutations,
        vec![Mutation::Put { key: key("c"), value: encode_string(b"v"), expiry: Expiry::AtUnixMs(FAR_MS) }]
    );

    // Nothing to do writes nothing.
    let writes = h.kv.write_count();
    for (line, reply) in [("rename b b", ok()), ("renamenx b c", int(0)), ("copy b c", int(0)), ("copy zz c", int(0))] {
        assert_eq!(h.run(line).await, reply, "{line}");
    }
    assert_eq!(h.run("rename zz c").await, err("ERR no such key"));
    assert_eq!(h.kv.write_count(), writes);
}

#[tokio::test]
async fn conflicting_writes_are_retried() {
    let mut h = Harness::new();
    h.run("set a 1").await;
    h.kv.inject_conflicts(2);
    let writes = h.kv.write_count();
    assert_eq!(h.run("renamenx a b").await, int(1));
    assert_eq!(h.kv.write_count(), writes + 3);
    h.kv.inject_conflicts(2);
    assert_eq!(h.run("copy b c").await, int(1));
    assert_eq!(h.kv.write_count(), writes + 6);
    script(&mut h, &[("exists a", int(0)), ("get b", bulk("1")), ("get c", bulk("1"))]).await;
}

#[tokio::test]
async fn the_absolute_expiry_moves_with_the_key() {
    let mut h = Harness::new();
    h.run("set a v px 5000").await;
    h.kv.advance_ms(1_000);
    script(
        &mut h,
        &[
            ("rename a b", ok()),
            ("pttl b", int(4_000)),
            ("pexpiretime b", int((START_MS + 5_000) as i64)),
            ("copy b c", int(1)),
            ("pexpiretime c", int((START_MS + 5_000) as i64)),
        ],
    )
    .await;
    h.kv.advance_ms(4_000);
    script(
        &mut h,
        &[
            // Expired keys are absent: the source is missing, the destination free.
            ("rename b x", err("ERR no such key")),
            ("copy c x", int(0)),
            ("set d 1", ok()),
            ("set e 2 px 10", ok()),
            ("copy d f px", err("ERR syntax error")),
        ],
    )
    .await;
    h.kv.advance_ms(10);
    script(&mut h, &[("renamenx d e", int(1)), ("get e", bulk("1")), ("ttl e", int(-1))]).await;
    h.run("set g 3 px 10").await;
    h.kv.advance_ms(10);
    script(&mut h, &[("copy e g", int(1)), ("get g", bulk("1"))]).await;
}

#[tokio::test]
async fn stored_bytes_are_moved_and_copied_as_they_are() {
    use crate::redis::collection::Meta;
    let mut h = Harness::new();
    // A hash whose only field is absent: RENAME moves the metadata record byte for byte; COPY
    // gives the copy a fresh version (a collection's sub-keys are copied, see copy.rs).
    let mut meta = Meta::new(ValueType::Hash, 7);
    meta.size = 1;
    let raw = meta.encode();
    h.kv.put_raw(&key("h"), &raw);
    script(
        &mut h,
        &[
            ("rename h h2", ok()),
            ("type h2", Reply::simple("hash")),
            ("copy h2 h3", int(1)),
            ("set s str", ok()),
            ("copy h3 s replace", int(1)),
            ("type s", Reply::simple("hash")),
            ("renamenx s h3", int(0)),
        ],
    )
    .await;
    assert_eq!(h.kv.raw(&key("h2")).value.as_deref(), Some(&raw[..]));
    let mut versions = std::collections::HashSet::new();
    for name in ["h2", "h3", "s"] {
        let copied = Meta::decode(&h.kv.raw(&key(name)).value.unwrap_or_default()).unwrap();
        assert_eq!((copied.kind, copied.size), (ValueType::Hash, 1), "{name}");
        assert!(versions.insert(copied.version), "{name} has a version of its own");
    }
    assert!(!h.kv.raw(&key("h")).is_live());
}

#[tokio::test]
async fn only_database_zero_exists_for_copy_too() {
    // A deliberate difference (docs/redis.md): Redis with 16 databases copies to DB 1;
    // Strata answers what a redis-server started with `--databases 1` answers, as SELECT does.
    let mut h = Harness::new();
    h.run("set a 1").await;
    let out_of_range = err("ERR DB index is out of range");
    script(
        &mut h,
        &[
            ("copy a b db 1", out_of_range.clone()),
            ("copy a a db 1", out_of_range.clone()),
            ("copy a b db 1 foo", out_of_range.clone()),
            ("copy nokey b db 1", out_of_range.clone()),
            ("select 1", out_of_range.clone()),
            ("exists b", int(0)),
            ("copy a b db 0", int(1)),
        ],
    )
    .await;
}

#[tokio::test]
async fn both_keys_are_the_commands_keys() {
    let h = Harness::new();
    let access = |line: &str| {
        let args = line.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        Command::parse(args, &h.session, &h.ctx).unwrap().access()
    };
    let keys = |names: &[&str]| Access::Keys(names.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect());
    assert_eq!(access("RENAME a b"), keys(&["a", "b"]));
    assert_eq!(access("RENAMENX a b"), keys(&["a", "b"]));
    assert_eq!(access("COPY a b DB 0 REPLACE"), keys(&["a", "b"]));
}

#[tokio::test]
async fn command_table_entries_match_redis() {
    let mut h = Harness::new();
    // Recorded from redis-server 7.0.15, with the key specs (element 9) emptied: Strata's are
    // empty lists (docs/redis.md).
    same_bytes(
        &mut h,
        &[
            ("COMMAND INFO rename renamenx copy", b"*3\r\n*10\r\n$6\r\nrename\r\n:3\r\n*1\r\n+write\r\n:1\r\n:2\r\n:1\r\n*3\r\n+@keyspace\r\n+@write\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n*10\r\n$8\r\nrenamenx\r\n:3\r\n*2\r\n+write\r\n+fast\r\n:1\r\n:2\r\n:1\r\n*3\r\n+@keyspace\r\n+@write\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n*10\r\n$4\r\ncopy\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:2\r\n:1\r\n*3\r\n+@keyspace\r\n+@write\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n"),
            ("COMMAND DOCS rename", b"*2\r\n$6\r\nrename\r\n*8\r\n$7\r\nsummary\r\n$12\r\nRename a key\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$7\r\ngeneric\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n"),
        ],
    )
    .await;
    // Redis's DOCS also has history and arguments, which Strata leaves out (docs/redis.md).
    let docs = h.run("command docs copy renamenx").await.to_bytes(ProtocolVersion::Resp2);
    let expected: &[u8] = b"*4\r\n$4\r\ncopy\r\n*8\r\n$7\r\nsummary\r\n$10\r\nCopy a key\r\n$5\r\nsince\r\n$5\r\n6.2.0\r\n\
$5\r\ngroup\r\n$7\r\ngeneric\r\n$10\r\ncomplexity\r\n$95\r\nO(N) worst case for collections, where N is the number of \
nested items. O(1) for string values.\r\n$8\r\nrenamenx\r\n*8\r\n$7\r\nsummary\r\n$48\r\nRename a key, only if the new \
key does not exist\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$7\r\ngeneric\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n";
    assert_eq!(String::from_utf8_lossy(&docs), String::from_utf8_lossy(expected));
}
