//! MULTI / EXEC / DISCARD / WATCH / UNWATCH against the in-memory fake store. The scripts'
//! expected bytes were recorded from redis-server 7.0.15.

use bytes::Bytes;

use super::multi::MAX_EXEC_ATTEMPTS;
use super::test_support::{bulk, err, int, ok, Harness, START_MS};
use super::{execute, Access, Command};
use crate::kv::{Condition, Expiry, KvStore, Mutation, TxnCommit};
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

fn queued() -> Reply {
    Reply::simple("QUEUED")
}

fn array(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

fn put(key: &str, value: &str) -> Mutation {
    Mutation::Put { key: kv_key(key.as_bytes()), value: encode_string(value.as_bytes()), expiry: Expiry::Never }
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Recorded from redis-server 7.0.15 (RESP2, one connection, empty database).
const REDIS_SCRIPT: &[(&str, &[u8])] = &[
        ("MULTI", b"+OK\r\n"),
        ("MULTI", b"-ERR MULTI calls can not be nested\r\n"),
        ("SET a 1", b"+QUEUED\r\n"),
        ("INCR a", b"+QUEUED\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        ("SET a b foo", b"+QUEUED\r\n"),
        ("INCRBY a x", b"+QUEUED\r\n"),
        ("MSET a 1 b", b"+QUEUED\r\n"),
        ("APPEND a x", b"+QUEUED\r\n"),
        ("EXEC", b"*7\r\n+OK\r\n:2\r\n$1\r\n2\r\n-ERR syntax error\r\n-ERR value is not an integer or out of range\r\n-ERR wrong number of arguments for 'mset' command\r\n:2\r\n"),
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
        ("DISCARD", b"-ERR DISCARD without MULTI\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SET a 2", b"+QUEUED\r\n"),
        ("NOSUCH x", b"-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"),
        ("GET", b"-ERR wrong number of arguments for 'get' command\r\n"),
        ("CLIENT NOSUCH", b"-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"),
        ("EXEC", b"-EXECABORT Transaction discarded because of previous errors.\r\n"),
        ("GET a", b"$2\r\n2x\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("WATCH x", b"-ERR WATCH inside MULTI is not allowed\r\n"),
        ("UNWATCH", b"+QUEUED\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("ECHO hi", b"+QUEUED\r\n"),
        ("SELECT 0", b"+QUEUED\r\n"),
        ("CLIENT SETNAME txn", b"+QUEUED\r\n"),
        ("EXEC", b"*5\r\n+OK\r\n+PONG\r\n$2\r\nhi\r\n+OK\r\n+OK\r\n"),
        ("CLIENT GETNAME", b"$3\r\ntxn\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("SET a 5", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        ("EXEC", b"*-1\r\n"),
        ("GET a", b"$1\r\n5\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("INCR a", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n:6\r\n"),
        ("WATCH a b", b"+OK\r\n"),
        ("SET b 1", b"+OK\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("EXEC", b"*-1\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("SET a 6", b"+OK\r\n"),
        ("UNWATCH", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n$1\r\n6\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("SET a 7", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("DISCARD", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n$1\r\n7\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("EXEC x", b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"),
        ("SET a 8", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n$1\r\n8\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("EXEC", b"*0\r\n"),
        ("WATCH nokey", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("EXEC", b"*0\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SET k v EX 100", b"+QUEUED\r\n"),
        ("SET k v2 KEEPTTL", b"+QUEUED\r\n"),
        ("TTL k", b"+QUEUED\r\n"),
        ("INCR k", b"+QUEUED\r\n"),
        ("DEL k", b"+QUEUED\r\n"),
        ("EXISTS k", b"+QUEUED\r\n"),
        ("SET n 10", b"+QUEUED\r\n"),
        ("INCRBY n 5", b"+QUEUED\r\n"),
        ("GETSET n 1", b"+QUEUED\r\n"),
        ("EXEC", b"*9\r\n+OK\r\n+OK\r\n:100\r\n-ERR value is not an integer or out of range\r\n:1\r\n:0\r\n+OK\r\n:15\r\n$2\r\n15\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("DISCARD x", b"-ERR wrong number of arguments for 'discard' command\r\n"),
        ("DISCARD", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("EXEC x", b"-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"),
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
        ("WATCH", b"-ERR wrong number of arguments for 'watch' command\r\n"),
        ("UNWATCH x", b"-ERR wrong number of arguments for 'unwatch' command\r\n"),
        ("MULTI x", b"-ERR wrong number of arguments for 'multi' command\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SETNX s 1", b"+QUEUED\r\n"),
        ("SETNX s 2", b"+QUEUED\r\n"),
        ("MSETNX s 3 t 4", b"+QUEUED\r\n"),
        ("MGET s t", b"+QUEUED\r\n"),
        ("GETDEL s", b"+QUEUED\r\n"),
        ("STRLEN s", b"+QUEUED\r\n"),
        ("EXEC", b"*6\r\n:1\r\n:0\r\n:0\r\n*2\r\n$1\r\n1\r\n$-1\r\n$1\r\n1\r\n:0\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SET e v PX 100000", b"+QUEUED\r\n"),
        ("PTTL e", b"+QUEUED\r\n"),
        ("PERSIST e", b"+QUEUED\r\n"),
        ("TTL e", b"+QUEUED\r\n"),
        ("EXPIRE e 50", b"+QUEUED\r\n"),
        ("TTL e", b"+QUEUED\r\n"),
        ("SET e 10 KEEPTTL", b"+QUEUED\r\n"),
        ("INCR e", b"+QUEUED\r\n"),
        ("TTL e", b"+QUEUED\r\n"),
        ("EXEC", b"*9\r\n+OK\r\n:100000\r\n:1\r\n:-1\r\n:1\r\n:50\r\n+OK\r\n:11\r\n:50\r\n"),
        ("TTL e", b":50\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SET c 1", b"+QUEUED\r\n"),
        ("SET c 2", b"+QUEUED\r\n"),
        ("GET c", b"+QUEUED\r\n"),
        ("DEL c", b"+QUEUED\r\n"),
        ("GET c", b"+QUEUED\r\n"),
        ("EXEC", b"*5\r\n+OK\r\n+OK\r\n$1\r\n2\r\n:1\r\n$-1\r\n"),
        ("EXISTS c", b":0\r\n"),
];

#[tokio::test]
async fn transactions_match_redis_byte_for_byte() {
    let mut h = Harness::new();
    same_bytes(&mut h, REDIS_SCRIPT).await;
    assert!(!h.session.in_multi() && !h.session.is_watching());
}

#[tokio::test]
async fn resp3_transactions_match_redis() {
    let mut h = Harness::new();
    // Recorded from redis-server 7.0.15 (its client id was 15; ours is 7).
    same_bytes(
        &mut h,
        &[
            ("HELLO 3 SETNAME x", b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"),
            ("WATCH a", b"+OK\r\n"),
            ("SET a 9", b"+OK\r\n"),
            ("MULTI", b"+OK\r\n"),
            ("GET a", b"+QUEUED\r\n"),
            ("EXEC", b"_\r\n"),
            ("MULTI", b"+OK\r\n"),
            ("GET zz", b"+QUEUED\r\n"),
            ("MGET zz a", b"+QUEUED\r\n"),
            ("INCRBYFLOAT f 1.5", b"+QUEUED\r\n"),
            ("EXEC", b"*3\r\n_\r\n*2\r\n_\r\n$1\r\n9\r\n$3\r\n1.5\r\n"),
        ],
    )
    .await;
}

#[tokio::test]
async fn hello_inside_exec_switches_protocol_mid_array_like_redis() {
    let mut h = Harness::new();
    let hello = |proto: u8| {
        let head: &[u8] = if proto == 3 { b"%7" } else { b"*14" };
        [
            head,
            b"\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:",
            &[b'0' + proto],
            b"\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
        ]
        .concat()
    };
    let expected = [b"*5\r\n$-1\r\n".to_vec(), hello(3), b"_\r\n".to_vec(), hello(2), b"$-1\r\n".to_vec()].concat();
    for line in ["MULTI", "GET zz", "HELLO 3", "GET zz", "HELLO 2", "GET zz"] {
        h.run(line).await;
    }
    let reply = h.run("EXEC").await;
    assert_eq!(String::from_utf8_lossy(&reply.to_bytes(h.session.protocol)), String::from_utf8_lossy(&expected));
    assert_eq!(h.session.protocol, ProtocolVersion::Resp2);
}

#[tokio::test]
async fn queued_commands_touch_nothing_until_exec() {
    let mut h = Harness::new();
    assert_eq!(h.run("multi").await, ok());
    let (reads, writes) = (h.kv.read_count(), h.kv.write_count());
    script(
        &mut h,
        &[
            ("set a 1", queued()),
            ("incr a", queued()),
            ("get a", queued()),
            ("set b x ex 0", queued()),
            ("client setname conn", queued()),
            ("flushall", queued()),
        ],
    )
    .await;
    assert_eq!((h.kv.read_count(), h.kv.write_count()), (reads, writes));
    assert!(h.kv.commits().is_empty());
    assert_eq!(h.session.name, None);
    // FLUSHALL cannot run in a transaction; the other commands still apply.
    let flush = err("ERR FLUSHDB and FLUSHALL are not supported inside MULTI");
    assert_eq!(
        h.run("exec").await,
        array(vec![ok(), int(2), bulk("2"), err("ERR invalid expire time in 'set' command"), ok(), flush])
    );
    assert_eq!(h.session.name.as_deref(), Some(&b"conn"[..]));
    assert_eq!(h.run("get a").await, bulk("2"));
    assert_eq!(h.kv.commits().len(), 1);
}

#[tokio::test]
async fn transaction_commands_and_queued_ones_run_in_order() {
    let h = Harness::new();
    let parse = |session: &crate::redis::Session, line: &str| {
        let args = line.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        Command::parse(args, session, &h.ctx).unwrap()
    };
    let mut session = h.session.clone();
    for line in ["MULTI", "EXEC", "DISCARD", "WATCH a b", "UNWATCH"] {
        assert_eq!(parse(&session, line).access(), Access::Barrier, "{line}");
    }
    assert_eq!(parse(&session, "GET a").access(), Access::Keys(vec![Bytes::from_static(b"a")]));
    // Inside MULTI everything is a barrier (queueing changes the session), unknown commands too.
    session.transaction.queued = Some(Vec::new());
    for line in ["GET a", "PING", "NOSUCH", "GET"] {
        assert_eq!(parse(&session, line).access(), Access::Barrier, "{line}");
    }
    // Under WATCH the connection runs strictly in order.
    session.transaction = Default::default();
    session.transaction.watched.push(crate::redis::session::WatchedKey {
        key: kv_key(b"a"),
        version: 0,
        expire_at_ms: None,
        expired: false,
    });
    assert_eq!(parse(&session, "GET b").access(), Access::Barrier);
    assert_eq!(parse(&session, "SET c 1").access(), Access::Barrier);
    // An error outside MULTI is still just an error reply.
    session.transaction = Default::default();
    let args = vec![Bytes::from_static(b"GET")];
    assert_eq!(Command::parse(args, &session, &h.ctx), Err(err("ERR wrong number of arguments for 'get' command")));
}

#[tokio::test]
async fn run_time_errors_are_elements_and_the_rest_applies() {
    let mut h = Harness::new();
    h.kv.put_raw(&kv_key(b"h"), &[ValueType::Hash as u8, b'x']);
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("set a 1", queued()),
            ("incr h", queued()),
            ("set b 2", queued()),
            ("incrby a notanumber", queued()),
            ("append a 0", queued()),
            (
                "exec",
                array(vec![ok(), err(WRONGTYPE), ok(), err("ERR value is not an integer or out of range"), int(2)]),
            ),
            ("mget a b", array(vec![bulk("10"), bulk("2")])),
            ("type h", Reply::simple("hash")),
        ],
    )
    .await;
}

#[tokio::test]
async fn queue_time_errors_abort_exec_and_nothing_applies() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("set a 1", queued()),
            ("nosuch x", err("ERR unknown command 'nosuch', with args beginning with: 'x' ")),
            ("set b 2", queued()),
            ("exec", err("EXECABORT Transaction discarded because of previous errors.")),
            ("exists a b", int(0)),
            // The transaction is over.
            ("exec", err("ERR EXEC without MULTI")),
        ],
    )
    .await;
    assert!(h.kv.commits().is_empty());
    // Nested MULTI and WATCH inside MULTI answer an error but do not abort the transaction.
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("multi", err("ERR MULTI calls can not be nested")),
            ("watch a", err("ERR WATCH inside MULTI is not allowed")),
            ("set a 1", queued()),
            ("exec", array(vec![ok()])),
            ("discard", err("ERR DISCARD without MULTI")),
        ],
    )
    .await;
}

#[tokio::test]
async fn incr_reads_its_own_writes() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("set k 1", queued()),
            ("incr k", queued()),
            ("get k", queued()),
            ("exec", array(vec![ok(), int(2), bulk("2")])),
            ("get k", bulk("2")),
        ],
    )
    .await;
    // One commit holding the net effect: the last write of `k`.
    let commits = h.kv.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].mutations, vec![put("k", "2")]);
    assert!(commits[0].conditions.is_empty());
}

#[tokio::test]
async fn commit_lists_every_key_read_and_the_net_writes() {
    let mut h = Harness::new();
    h.run("set r 1").await;
    for line in ["multi", "get r", "set c 1", "set c 2", "set d x", "del d", "incr n", "exists e f", "set w v"] {
        h.run(line).await;
    }
    assert_eq!(h.run("exec").await, array(vec![bulk("1"), ok(), ok(), ok(), int(1), int(1), int(0), ok()]));
    let commits = h.kv.commits();
    let TxnCommit { start_ts, read_keys, conditions, mutations } = commits.last().unwrap().clone();
    assert!(start_ts > 0);
    // DEL and INCR read their key; blind SETs do not.
    let key = |k: &str| kv_key(k.as_bytes());
    assert_eq!(read_keys, vec![key("r"), key("d"), key("n"), key("e"), key("f")]);
    assert!(conditions.is_empty());
    assert_eq!(mutations, vec![put("c", "2"), Mutation::Delete { key: key("d") }, put("n", "1"), put("w", "v")]);
}

#[tokio::test]
async fn read_only_transactions_need_no_commit() {
    let mut h = Harness::new();
    h.run("set a 1").await;
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("get a", queued()),
            ("ttl a", queued()),
            ("ping", queued()),
            ("exec", array(vec![bulk("1"), int(-1), Reply::simple("PONG")])),
        ],
    )
    .await;
    assert!(h.kv.commits().is_empty());
}

#[tokio::test]
async fn watch_aborts_when_another_client_changed_the_key() {
    let mut h = Harness::new();
    h.run("set k 1").await;
    assert_eq!(h.run("watch k").await, ok());
    assert_eq!(h.run_other("set k 2").await, ok());
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("set k 3", queued()),
            ("set j 1", queued()),
            ("client setname ignored", queued()),
            ("exec", Reply::NullArray),
            ("get k", bulk("2")),
            ("exists j", int(0)),
        ],
    )
    .await;
    assert_eq!(h.session.name, None, "nothing of an aborted transaction runs");
    assert_eq!(h.run("exec").await.to_bytes(ProtocolVersion::Resp2), &b"-ERR EXEC without MULTI\r\n"[..]);
    // EXEC forgot the watched key: the next transaction applies.
    assert!(!h.session.is_watching());
    h.run_other("set k 4").await;
    script(&mut h, &[("multi", ok()), ("incr k", queued()), ("exec", array(vec![int(5)]))]).await;
}

#[tokio::test]
async fn watch_aborts_when_the_key_is_deleted_or_created() {
    let mut h = Harness::new();
    h.run("set k 1").await;
    h.run("watch k missing").await;
    h.run_other("set missing now").await;
    script(&mut h, &[("multi", ok()), ("set x 1", queued()), ("exec", Reply::NullArray)]).await;
    h.run("watch k").await;
    h.run_other("del k").await;
    script(&mut h, &[("multi", ok()), ("set x 1", queued()), ("exec", Reply::NullArray), ("exists x", int(0))]).await;
}

#[tokio::test]
async fn watch_then_unchanged_applies_with_version_conditions() {
    let mut h = Harness::new();
    h.run("set k 1").await;
    let version = h.kv.raw(&kv_key(b"k")).version;
    assert_eq!(h.run("watch k nokey k").await, ok());
    h.run_other("set other 1").await;
    script(&mut h, &[("multi", ok()), ("incr k", queued()), ("exec", array(vec![int(2)]))]).await;
    let commit = h.kv.commits().pop().unwrap();
    assert_eq!(
        commit.conditions,
        vec![
            Condition { key: kv_key(b"k"), expected_version: version },
            Condition { key: kv_key(b"nokey"), expected_version: 0 },
        ]
    );
    // An empty transaction still checks WATCH.
    h.run("watch k").await;
    script(&mut h, &[("multi", ok()), ("exec", array(vec![]))]).await;
    assert_eq!(h.kv.commits().len(), 2);
    h.run("watch k").await;
    h.run_other("incr k").await;
    script(&mut h, &[("multi", ok()), ("exec", Reply::NullArray)]).await;
}

#[tokio::test]
async fn unwatch_and_discard_forget_watched_keys() {
    let mut h = Harness::new();
    h.run("watch k").await;
    h.run_other("set k 1").await;
    assert_eq!(h.run("unwatch").await, ok());
    script(&mut h, &[("multi", ok()), ("get k", queued()), ("exec", array(vec![bulk("1")]))]).await;

    h.run("watch k").await;
    h.run_other("set k 2").await;
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("set k 3", queued()),
            ("discard", ok()),
            ("get k", bulk("2")),
            ("multi", ok()),
            ("get k", queued()),
            ("exec", array(vec![bulk("2")])),
        ],
    )
    .await;

    // A refused EXEC (wrong arity) discards too, even outside MULTI.
    h.run("watch k").await;
    h.run_other("set k 4").await;
    assert_eq!(
        h.run("exec x").await,
        err("EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command")
    );
    script(&mut h, &[("multi", ok()), ("get k", queued()), ("exec", array(vec![bulk("4")]))]).await;
}

#[tokio::test]
async fn a_watched_key_changed_by_this_client_aborts_too() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("watch k", ok()),
            ("set k mine", ok()),
            // WATCHing it again keeps what the first WATCH saw, as in Redis.
            ("watch k", ok()),
            ("multi", ok()),
            ("get k", queued()),
            ("exec", Reply::NullArray),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_watched_key_that_expires_aborts_exec() {
    let mut h = Harness::new();
    h.run("set k v px 200").await;
    h.run("set gone v px 10").await;
    h.kv.advance_ms(10);
    // `gone` had already expired when watched: its expiry is no change.
    h.run("watch gone").await;
    script(&mut h, &[("multi", ok()), ("set x 1", queued()), ("exec", array(vec![ok()]))]).await;
    h.run("watch k").await;
    h.kv.advance_ms(189);
    script(&mut h, &[("multi", ok()), ("exec", array(vec![]))]).await;
    h.run("watch k").await;
    h.kv.advance_ms(1);
    script(&mut h, &[("multi", ok()), ("set x 2", queued()), ("exec", Reply::NullArray), ("get x", bulk("1"))]).await;

    // An expired key that the core's sweeper deletes after WATCH: no change, as in Redis.
    h.run("watch k").await;
    let version = h.kv.raw(&kv_key(b"k")).version;
    assert_ne!(version, 0, "expired but not swept yet");
    h.kv.write(
        vec![Condition { key: kv_key(b"k"), expected_version: version }],
        vec![Mutation::Delete { key: kv_key(b"k") }],
    )
    .await
    .unwrap();
    script(&mut h, &[("multi", ok()), ("set x 3", queued()), ("exec", array(vec![ok()]))]).await;
    // But a key that comes back to life after being swept is a change.
    h.run("set k v px 10").await;
    h.kv.advance_ms(10);
    h.run("watch k").await;
    let version = h.kv.raw(&kv_key(b"k")).version;
    h.kv.write(
        vec![Condition { key: kv_key(b"k"), expected_version: version }],
        vec![Mutation::Delete { key: kv_key(b"k") }],
    )
    .await
    .unwrap();
    h.run_other("set k back").await;
    script(&mut h, &[("multi", ok()), ("set x 4", queued()), ("exec", Reply::NullArray), ("get x", bulk("3"))]).await;
}

#[tokio::test]
async fn a_conflict_reruns_the_whole_transaction() {
    let mut h = Harness::new();
    h.run("set k 1").await;
    // Another client writes `k` after EXEC took its snapshot: the first commit conflicts and
    // EXEC runs the queue again on a fresh snapshot.
    h.kv.write_before_next_commit(vec![put("k", "10")]);
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("incr k", queued()),
            ("set seen yes", queued()),
            ("exec", array(vec![int(11), ok()])),
            ("get k", bulk("11")),
        ],
    )
    .await;
    let commits = h.kv.commits();
    assert_eq!(commits.len(), 2);
    assert!(commits[1].start_ts > commits[0].start_ts);

    // A key only read counts too: the transaction is serializable, not just snapshot
    // isolated.
    h.kv.write_before_next_commit(vec![put("src", "new")]);
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("get src", queued()),
            ("set dst copied", queued()),
            ("exec", array(vec![bulk("new"), ok()])),
        ],
    )
    .await;
    assert_eq!(h.kv.commits().len(), 4);
}

#[tokio::test]
async fn endless_conflicts_end_in_tryagain_with_nothing_applied() {
    let mut h = Harness::new();
    for i in 0..MAX_EXEC_ATTEMPTS {
        h.kv.write_before_next_commit(vec![put("k", &i.to_string())]);
    }
    for line in ["multi", "incr k", "client setname no"] {
        h.run(line).await;
    }
    let reply = h.run("exec").await;
    assert!(matches!(&reply, Reply::Error(text) if text.starts_with(b"TRYAGAIN ")), "{reply:?}");
    assert_eq!(h.kv.commits().len(), MAX_EXEC_ATTEMPTS as usize);
    assert_eq!(h.run("get k").await, bulk(&(MAX_EXEC_ATTEMPTS - 1).to_string()));
    assert_eq!(h.session.name, None);
    assert!(!h.session.in_multi());
}

#[tokio::test]
async fn a_store_failure_fails_the_whole_exec() {
    let mut h = Harness::new();
    for line in ["multi", "set a 1", "get b"] {
        h.run(line).await;
    }
    h.kv.fail_timestamps(true);
    let reply = h.run("exec").await;
    assert!(matches!(&reply, Reply::Error(text) if text.starts_with(b"TRYAGAIN ")), "{reply:?}");
    h.kv.fail_timestamps(false);
    assert!(!h.session.in_multi());
    assert_eq!(h.run("exists a").await, int(0));
}

#[tokio::test]
async fn expiries_stay_relative_until_commit() {
    let mut h = Harness::new();
    h.run("set old v ex 100").await;
    script(
        &mut h,
        &[
            ("multi", ok()),
            ("set k 5 ex 10", queued()),
            ("incr k", queued()),
            ("ttl k", queued()),
            ("set old w keepttl", queued()),
            ("set fresh w keepttl", queued()),
            ("exec", array(vec![ok(), int(6), int(10), ok(), ok()])),
        ],
    )
    .await;
    let mutations = h.kv.commits().pop().unwrap().mutations;
    let expiry_of = |key: &str| {
        mutations.iter().find_map(|m| match m {
            Mutation::Put { key: k, expiry, .. } if k == &kv_key(key.as_bytes()) => Some(*expiry),
            _ => None,
        })
    };
    // The core resolves the relative expiry when it commits; KEEPTTL kept what the snapshot had.
    assert_eq!(expiry_of("k"), Some(Expiry::AfterMs(10_000)));
    assert_eq!(expiry_of("old"), Some(Expiry::AtUnixMs(START_MS + 100_000)));
    assert_eq!(expiry_of("fresh"), Some(Expiry::Never));
    assert_eq!(h.run("ttl k").await, int(10));
    assert_eq!(h.run("ttl old").await, int(100));
}

#[tokio::test]
async fn refusals_flag_the_transaction_like_redis_reject_command() {
    let mut h = Harness::new();
    let refuse = |h: &mut Harness, line: &str| {
        let args = line.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        let cmd = Command::parse(args, &h.session, &h.ctx).unwrap();
        cmd.reject(err("TRYAGAIN gateway rate limit exceeded (10 commands/s)"), &mut h.session)
    };
    // Outside MULTI a refusal is just the error.
    assert_eq!(refuse(&mut h, "set a 1"), err("TRYAGAIN gateway rate limit exceeded (10 commands/s)"));
    h.run("multi").await;
    h.run("set a 1").await;
    assert_eq!(refuse(&mut h, "set b 1"), err("TRYAGAIN gateway rate limit exceeded (10 commands/s)"));
    assert_eq!(h.run("exec").await, err("EXECABORT Transaction discarded because of previous errors."));
    // A refused EXEC discards the transaction at once.
    h.run("multi").await;
    h.run("set a 1").await;
    assert_eq!(
        refuse(&mut h, "exec"),
        err("EXECABORT Transaction discarded because of: TRYAGAIN gateway rate limit exceeded (10 commands/s)")
    );
    assert!(!h.session.in_multi());
    assert_eq!(h.run("exists a").await, int(0));
}

#[tokio::test]
async fn requirepass_inside_and_around_transactions() {
    let mut h = Harness::with_password("secret");
    script(
        &mut h,
        &[
            ("exec", err("EXECABORT Transaction discarded because of: NOAUTH Authentication required.")),
            ("multi", err("NOAUTH Authentication required.")),
            ("watch a", err("NOAUTH Authentication required.")),
            ("auth secret", ok()),
            ("multi", ok()),
            ("auth wrong", queued()),
            ("set a 1", queued()),
            ("exec", array(vec![err("WRONGPASS invalid username-password pair or user is disabled."), ok()])),
        ],
    )
    .await;
    assert!(h.session.authenticated);
}

#[tokio::test]
async fn quit_inside_multi_closes_at_once() {
    let mut h = Harness::new();
    h.run("multi").await;
    h.run("set a 1").await;
    let cmd = Command::parse(vec![Bytes::from_static(b"QUIT")], &h.session, &h.ctx).unwrap();
    let outcome = execute(cmd, &mut h.session, &h.kv, &h.ctx).await;
    assert_eq!(outcome.reply, ok());
    assert!(outcome.close);
    assert_eq!(h.run_other("exists a").await, int(0));
}

#[tokio::test]
async fn commands_inside_exec_are_counted_once_like_redis() {
    let mut h = Harness::new();
    for line in ["multi", "set a 1", "get a", "exec"] {
        h.run(line).await;
    }
    // MULTI, EXEC and the two commands it ran; queueing is not counted.
    assert_eq!(h.ctx.total_commands_processed.load(std::sync::atomic::Ordering::Relaxed), 4);
}

#[tokio::test]
async fn exec_reads_all_keys_in_one_round_trip() {
    let mut h = Harness::new();
    h.run("mset a 1 b 2").await;
    for line in ["multi", "incr a", "get b", "mget a b c", "set big blob", "exists d", "ping"] {
        h.run(line).await;
    }
    let reads = h.kv.read_count();
    let reply = h.run("exec").await;
    assert_eq!(
        reply,
        array(vec![
            int(2),
            bulk("2"),
            array(vec![bulk("2"), bulk("2"), Reply::Null]),
            ok(),
            int(0),
            Reply::simple("PONG")
        ])
    );
    assert_eq!(h.kv.read_count(), reads + 1);
    // Prefetching is not reading: only what the commands read is in the read set.
    let key = |k: &str| kv_key(k.as_bytes());
    assert_eq!(h.kv.commits()[0].read_keys, vec![key("a"), key("b"), key("c"), key("d")]);
}

#[tokio::test]
async fn command_table_entries_match_redis() {
    let mut h = Harness::new();
    // Recorded from redis-server 7.0.15 (WATCH is left out: Strata's key specs are empty).
    same_bytes(
        &mut h,
        &[
            ("COMMAND INFO multi exec discard unwatch", b"*4\r\n*10\r\n$5\r\nmulti\r\n:1\r\n*5\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@transaction\r\n*0\r\n*0\r\n*0\r\n*10\r\n$4\r\nexec\r\n:1\r\n*4\r\n+noscript\r\n+loading\r\n+stale\r\n+skip_slowlog\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@transaction\r\n*0\r\n*0\r\n*0\r\n*10\r\n$7\r\ndiscard\r\n:1\r\n*5\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@transaction\r\n*0\r\n*0\r\n*0\r\n*10\r\n$7\r\nunwatch\r\n:1\r\n*5\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@transaction\r\n*0\r\n*0\r\n*0\r\n"),
            ("COMMAND DOCS multi", b"*2\r\n$5\r\nmulti\r\n*8\r\n$7\r\nsummary\r\n$37\r\nMark the start of a transaction block\r\n$5\r\nsince\r\n$5\r\n1.2.0\r\n$5\r\ngroup\r\n$12\r\ntransactions\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n"),
        ],
    )
    .await;
    let Reply::Array(watch) = h.run("command info watch").await else { panic!() };
    let Some(Reply::Array(fields)) = watch.first() else { panic!() };
    assert_eq!(&fields[..2], &[bulk("watch"), int(-2)]);
    assert_eq!(&fields[3..6], &[int(1), int(-1), int(1)]);
}

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

#[tokio::test]
async fn above_maxmemory_writes_and_queueing_are_refused_with_oom() {
    let mut h = Harness::new();
    // Any process uses more than one byte, so `maxmemory 1` puts the gateway above its limit.
    script(
        &mut h,
        &[
            ("SET x value", ok()),
            ("CONFIG SET maxmemory 1", ok()),
            ("SET y 1", err(OOM)),
            ("GET x", bulk("value")),
            ("MULTI", ok()),
            // Inside MULTI even reads are refused (queueing itself takes memory), which
            // flags the transaction; DISCARD still runs.
            ("GET x", err(OOM)),
            ("DISCARD", ok()),
            ("MULTI", ok()),
            ("LPUSH l a", err(OOM)),
            ("CONFIG SET maxmemory 0", err(OOM)),
        ],
    )
    .await;
    assert_eq!(h.run_other("CONFIG SET maxmemory 0").await, ok());
    script(
        &mut h,
        &[
            ("SET y 2", queued()),
            ("EXEC", err("EXECABORT Transaction discarded because of previous errors.")),
            ("EXISTS y l", int(0)),
        ],
    )
    .await;
}

#[tokio::test]
async fn exec_above_maxmemory_is_refused_only_if_a_queued_command_may_grow_memory() {
    let mut h = Harness::new();
    script(&mut h, &[("SET x value", ok()), ("MULTI", ok()), ("GET x", queued()), ("PING", queued())]).await;
    assert_eq!(h.run_other("CONFIG SET maxmemory 1").await, ok());
    assert_eq!(h.run("EXEC").await, array(vec![bulk("value"), Reply::simple("PONG")]));
    assert_eq!(h.run_other("CONFIG SET maxmemory 0").await, ok());
    script(&mut h, &[("MULTI", ok()), ("SET x 1", queued()), ("GET x", queued())]).await;
    assert_eq!(h.run_other("CONFIG SET maxmemory 1").await, ok());
    assert_eq!(h.run("EXEC").await, err(&format!("EXECABORT Transaction discarded because of: {OOM}")));
    assert_eq!(h.run_other("CONFIG SET maxmemory 0").await, ok());
    // The refused EXEC ended the transaction and wrote nothing.
    script(&mut h, &[("GET x", bulk("value")), ("PING", Reply::simple("PONG"))]).await;
}

#[tokio::test]
async fn save_and_shutdown_are_refused_inside_multi_and_abort_the_transaction() {
    let mut h = Harness::new();
    for command in ["SAVE", "SHUTDOWN"] {
        script(
            &mut h,
            &[
                ("MULTI", ok()),
                ("SET foo bar", queued()),
                (command, err("ERR Command not allowed inside a transaction")),
                ("EXEC", err("EXECABORT Transaction discarded because of previous errors.")),
                ("GET foo", Reply::Null),
            ],
        )
        .await;
    }
    // Outside MULTI, SAVE has nothing to do: acknowledged writes are already durable.
    assert_eq!(h.run("SAVE").await, ok());
    assert_eq!(h.run("SHUTDOWN NOSAVE").await, err("ERR SHUTDOWN is not supported: stop the Strata process instead"));
}
