//! Differential tests: the same command scripts run against a real redis-server and against
//! Strata, and every reply must match byte for byte.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cluster::{eventually, free_port, Cluster};
use crate::raw::RawConn;
use crate::routing::gateway_metric;

/// A throwaway redis-server (no persistence) to compare against.
pub struct ReferenceRedis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ReferenceRedis {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// With extra configuration, e.g. `["--databases", "1"]`.
    pub async fn start_with(config: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args(config)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        eventually(Duration::from_secs(10), "redis-server", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()
        })
        .await;
        Self { port, child, _dir: dir }
    }
}

impl Drop for ReferenceRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs each line on both servers and asserts identical replies.
async fn same_replies(strata: &mut RawConn, redis: &mut RawConn, script: &[&str]) {
    for line in script {
        let expected = redis.cmd(line).await;
        let actual = strata.cmd(line).await;
        assert_eq!(actual, expected, "reply to `{line}` differs from redis-server");
    }
}

const STRING_SCRIPT: &[&str] = &[
    "PING",
    "PING hello",
    "ECHO hi",
    "GET s:missing",
    "SET s:a hello",
    "GET s:a",
    "SET s:a world NX",
    "SET s:a world XX",
    "GET s:a",
    "SET s:b v XX",
    "GET s:b",
    "SET s:a again GET",
    "SET s:new first GET",
    "SET s:a v NX XX",
    "SET s:a v EX 10 PX 100",
    "SET s:a v EX 0",
    "SET s:a v EX -5",
    "SET s:a v EX notanumber",
    "SET s:a v PX 0",
    "SET s:a v KEEPTTL EX 10",
    "SET s:a v BOGUS",
    "SET s:a",
    "SET s:ttl v EX 100",
    "TTL s:ttl",
    "SET s:ttl v2 KEEPTTL",
    "TTL s:ttl",
    "SET s:ttl v3",
    "TTL s:ttl",
    "SETNX s:nx 1",
    "SETNX s:nx 2",
    "GET s:nx",
    "SETEX s:ex 100 v",
    "TTL s:ex",
    "SETEX s:ex 0 v",
    "SETEX s:ex abc v",
    "PSETEX s:pex 100000 v",
    "TTL s:pex",
    "PSETEX s:pex -1 v",
    "GETSET s:gs new",
    "GETSET s:gs newer",
    "GETDEL s:gs",
    "GETDEL s:gs",
    "SET s:gx v",
    "GETEX s:gx",
    "GETEX s:gx EX 100",
    "TTL s:gx",
    "GETEX s:gx PERSIST",
    "TTL s:gx",
    "GETEX s:gx EX 0",
    "GETEX s:gx EX 10 PX 10",
    "GETEX s:missing EX 10",
    "MSET s:m1 a s:m2 b s:m3 c",
    "MGET s:m1 s:m2 s:missing s:m3",
    "MSET s:m1",
    "MSET s:m1 a s:m2",
    "MSETNX s:m1 x s:m4 y",
    "MGET s:m1 s:m4",
    "MSETNX s:m5 x s:m6 y",
    "MGET s:m5 s:m6",
    "DEL s:m1 s:m2 s:missing s:m1",
    "UNLINK s:m3 s:m4",
    "EXISTS s:m5 s:m5 s:m6 s:missing",
    "TYPE s:m5",
    "TYPE s:missing",
    "SET s:n 10",
    "INCR s:n",
    "INCRBY s:n 5",
    "DECR s:n",
    "DECRBY s:n 20",
    "INCRBY s:n abc",
    "INCR s:a",
    "SET s:big 9223372036854775807",
    "INCR s:big",
    "SET s:small -9223372036854775808",
    "DECR s:small",
    "DECRBY s:n -9223372036854775808",
    "INCR s:fresh",
    "SET s:f 10.5",
    "INCRBYFLOAT s:f 0.1",
    "INCRBYFLOAT s:f -5",
    "INCRBYFLOAT s:f 5.0e3",
    "INCRBYFLOAT s:f abc",
    "INCRBYFLOAT s:fresh2 3",
    "APPEND s:ap Hello",
    "APPEND s:ap _World",
    "GET s:ap",
    "STRLEN s:ap",
    "STRLEN s:missing",
    "SET s:range Thisisastring",
    "GETRANGE s:range 0 3",
    "GETRANGE s:range -3 -1",
    "GETRANGE s:range 0 -1",
    "GETRANGE s:range 10 100",
    "GETRANGE s:range 5 2",
    "GETRANGE s:missing 0 10",
    "GETRANGE s:range a 1",
    "SETRANGE s:range 4 XX",
    "GET s:range",
    "SETRANGE s:pad 5 hi",
    "GET s:pad",
    "SETRANGE s:range -1 x",
    "SETRANGE s:range 536870912 x",
    "SET s:e v",
    "EXPIRE s:e 100",
    "TTL s:e",
    "EXPIRE s:e 200 NX",
    "EXPIRE s:e 200 XX",
    "TTL s:e",
    "EXPIRE s:e 100 GT",
    "EXPIRE s:e 300 GT",
    "TTL s:e",
    "EXPIRE s:e 50 LT",
    "TTL s:e",
    "EXPIRE s:e 10 NX XX",
    "EXPIRE s:e 10 GT LT",
    "EXPIRE s:e 10 BOGUS",
    "EXPIRE s:e abc",
    "EXPIRE s:missing 10",
    "PERSIST s:e",
    "PERSIST s:e",
    "TTL s:e",
    "PTTL s:e",
    "EXPIRETIME s:e",
    "PEXPIRETIME s:e",
    "EXPIRETIME s:missing",
    "EXPIREAT s:e 4102444800",
    "EXPIRETIME s:e",
    "PEXPIREAT s:e 4102444800000",
    "PEXPIRETIME s:e",
    "EXPIRE s:e -1",
    "EXISTS s:e",
    "SET s:e2 v",
    "PEXPIRE s:e2 0",
    "GET s:e2",
    "EXPIRE s:x 9223372036854775807",
    "SET s:x v",
    "EXPIRE s:x 9223372036854775807",
    "PEXPIRE s:x 9223372036854775807",
    "TTL s:missing",
    "PTTL s:missing",
    "GET",
    "GET a b",
    "MGET",
    "INCR",
    "DEL",
    "EXISTS",
    "SETEX a b",
    "NOSUCHCOMMAND a b",
    "SELECT 0",
    "SELECT abc",
    "CLIENT SETNAME test-conn",
    "CLIENT GETNAME",
];

#[tokio::test(flavor = "multi_thread")]
async fn string_commands_match_redis_byte_for_byte() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    same_replies(&mut strata, &mut redis, STRING_SCRIPT).await;
    // Empty arguments cannot be written in the space-separated scripts.
    for args in [
        &[&b"SETRANGE"[..], b"s:empty", b"0", b""][..],
        &[b"EXISTS", b"s:empty"],
        &[b"SET", b"", b"empty-key"],
        &[b"GET", b""],
    ] {
        assert_eq!(strata.cmd_args(args).await, redis.cmd_args(args).await, "reply to {args:?}");
    }
}

/// MULTI / EXEC / DISCARD / WATCH / UNWATCH on one connection (a watched key changed by the
/// same client aborts EXEC too). Run on an empty database.
const TRANSACTION_SCRIPT: &[&str] = &[
    "MULTI",
    "MULTI",
    "SET a 1",
    "INCR a",
    "GET a",
    "SET a b foo",
    "INCRBY a x",
    "MSET a 1 b",
    "APPEND a x",
    "EXEC",
    "EXEC",
    "DISCARD",
    "MULTI",
    "SET a 2",
    "NOSUCH x",
    "GET",
    "CLIENT NOSUCH",
    "EXEC",
    "GET a",
    "MULTI",
    "WATCH x",
    "UNWATCH",
    "PING",
    "ECHO hi",
    "SELECT 0",
    "CLIENT SETNAME txn",
    "EXEC",
    "CLIENT GETNAME",
    "WATCH a",
    "SET a 5",
    "MULTI",
    "GET a",
    "EXEC",
    "GET a",
    "WATCH a",
    "MULTI",
    "INCR a",
    "EXEC",
    "WATCH a b",
    "SET b 1",
    "WATCH a",
    "MULTI",
    "EXEC",
    "WATCH a",
    "SET a 6",
    "UNWATCH",
    "MULTI",
    "GET a",
    "EXEC",
    "WATCH a",
    "SET a 7",
    "MULTI",
    "DISCARD",
    "MULTI",
    "GET a",
    "EXEC",
    "WATCH a",
    "EXEC x",
    "SET a 8",
    "MULTI",
    "GET a",
    "EXEC",
    "MULTI",
    "EXEC",
    "WATCH nokey",
    "MULTI",
    "EXEC",
    "MULTI",
    "SET k v EX 100",
    "SET k v2 KEEPTTL",
    "TTL k",
    "INCR k",
    "DEL k",
    "EXISTS k",
    "SET n 10",
    "INCRBY n 5",
    "GETSET n 1",
    "EXEC",
    "MULTI",
    "DISCARD x",
    "DISCARD",
    "MULTI",
    "EXEC x",
    "EXEC",
    "WATCH",
    "UNWATCH x",
    "MULTI x",
    "MULTI",
    "SETNX s 1",
    "SETNX s 2",
    "MSETNX s 3 t 4",
    "MGET s t",
    "GETDEL s",
    "STRLEN s",
    "EXEC",
    "MULTI",
    "SET e v PX 100000",
    "PTTL e",
    "PERSIST e",
    "TTL e",
    "EXPIRE e 50",
    "TTL e",
    "SET e 10 KEEPTTL",
    "INCR e",
    "TTL e",
    "EXEC",
    "TTL e",
    "MULTI",
    "SET c 1",
    "SET c 2",
    "GET c",
    "DEL c",
    "GET c",
    "EXEC",
    "EXISTS c",
];

/// The same in RESP3 (after HELLO 3 on both servers): aborted EXEC is `_`.
const TRANSACTION_SCRIPT_RESP3: &[&str] = &[
    "WATCH r3:a",
    "SET r3:a 9",
    "MULTI",
    "GET r3:a",
    "EXEC",
    "MULTI",
    "GET r3:zz",
    "MGET r3:zz r3:a",
    "INCRBYFLOAT r3:f 1.5",
    "EXEC",
];

#[tokio::test(flavor = "multi_thread")]
async fn transactions_match_redis_byte_for_byte() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    same_replies(&mut strata, &mut redis, TRANSACTION_SCRIPT).await;
    // HELLO's map carries server-specific fields (id); only the transaction replies compare.
    strata.cmd("HELLO 3").await;
    redis.cmd("HELLO 3").await;
    same_replies(&mut strata, &mut redis, TRANSACTION_SCRIPT_RESP3).await;
}

/// RENAME / RENAMENX / COPY, plain and inside MULTI. Strata's keyspace is split at `rn:m`
/// first, so that a rename or copy between `rn:a`... and `rn:w`... crosses ranges (a two-phase
/// commit). Expiries are compared through a fixed absolute PEXPIREAT or a TTL far from
/// rounding, so the replies are deterministic.
const RENAME_COPY_SCRIPT: &[&str] = &[
    "SET rn:a 1",
    "RENAME rn:nokey rn:b",
    "RENAME rn:nokey rn:nokey",
    "RENAMENX rn:nokey rn:b",
    "RENAMENX rn:nokey rn:nokey",
    "RENAME rn:a rn:a",
    "RENAMENX rn:a rn:a",
    "GET rn:a",
    "RENAME rn:a rn:z",
    "EXISTS rn:a",
    "GET rn:z",
    "SET rn:c 2 EX 100",
    "RENAME rn:c rn:y",
    "TTL rn:y",
    "EXISTS rn:c",
    "PEXPIREAT rn:y 4102444800000",
    "RENAME rn:y rn:d",
    "PEXPIRETIME rn:d",
    "SET rn:f v EX 50",
    "RENAME rn:z rn:f",
    "TTL rn:f",
    "GET rn:f",
    "SET rn:x x",
    "RENAMENX rn:d rn:x",
    "GET rn:d",
    "GET rn:x",
    "RENAMENX rn:d rn:w",
    "PEXPIRETIME rn:w",
    "EXISTS rn:d",
    "RENAME",
    "RENAME rn:a",
    "RENAME rn:a rn:b rn:c",
    "RENAMENX rn:a",
    "COPY rn:w rn:i",
    "PEXPIRETIME rn:i",
    "PEXPIRETIME rn:w",
    "GET rn:i",
    "COPY rn:f rn:i",
    "GET rn:i",
    "COPY rn:f rn:i REPLACE",
    "GET rn:i",
    "TTL rn:i",
    "COPY rn:nokey rn:j",
    "EXISTS rn:j",
    "COPY rn:nokey rn:i REPLACE",
    "EXISTS rn:i",
    "COPY rn:w rn:w",
    "COPY rn:nokey rn:nokey",
    "COPY rn:w rn:k DB 0",
    "COPY rn:w rn:k db 0 replace",
    "COPY rn:w rn:k replace REPLACE db 0 DB 0",
    "COPY rn:w rn:k",
    "COPY rn:w rn:l DB 16",
    "COPY rn:w rn:l DB -1",
    "COPY rn:w rn:l DB x",
    "COPY rn:w rn:l DB 99999999999",
    "COPY rn:w rn:l DB 99999999999999999999",
    "COPY rn:w rn:l DB",
    "COPY rn:w rn:l foo",
    "COPY rn:w rn:l REPLACE foo",
    "COPY rn:w rn:l DB 16 foo",
    "COPY rn:w rn:l foo DB 16",
    "COPY rn:w rn:l DB 0 DB",
    "COPY rn:w rn:w DB 0",
    "COPY rn:w rn:w foo",
    "COPY rn:w rn:w DB 16",
    "EXISTS rn:l",
    "COPY",
    "COPY rn:a",
    "MULTI",
    "SET rn:m1 1 EX 100",
    "RENAME rn:m1 rn:b",
    "GET rn:b",
    "TTL rn:b",
    "EXISTS rn:m1",
    "RENAME rn:m1 rn:c",
    "RENAMENX rn:b rn:b",
    "RENAMENX rn:x rn:b",
    "COPY rn:b rn:zz",
    "COPY rn:b rn:b",
    "COPY rn:b rn:zz DB 16",
    "COPY rn:b rn:zz foo",
    "TTL rn:zz",
    "RENAME rn:x rn:e",
    "EXEC",
    "MGET rn:a rn:b rn:c rn:e rn:f rn:i rn:k rn:m1 rn:w rn:x rn:zz",
    "TTL rn:b",
    "TTL rn:zz",
    "RENAME rn:e rn:e",
    "RENAME rn:zz rn:b",
    "MGET rn:b rn:zz",
    "TTL rn:b",
];

/// COPY's DB option (and SELECT) against a redis-server with a single database, which is what
/// Strata is (docs/redis.md).
const SINGLE_DB_SCRIPT: &[&str] = &[
    "SET db:a 1",
    "SELECT 1",
    "SELECT 0",
    "COPY db:a db:b DB 1",
    "COPY db:a db:a DB 1",
    "COPY db:a db:b DB 1 foo",
    "COPY db:nokey db:b DB 1",
    "EXISTS db:b",
    "COPY db:a db:b DB 0",
    "GET db:b",
];

#[tokio::test(flavor = "multi_thread")]
async fn rename_and_copy_match_redis_byte_for_byte() {
    let reference = ReferenceRedis::start().await;
    let single_db = ReferenceRedis::start_with(&["--databases", "1"]).await;
    let cluster = Cluster::start().await;
    cluster.split(b"Rrn:m").await;
    cluster.wait_for_catalog(2).await;
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    let two_phase =
        || gateway_metric(&cluster, "strata_gateway_txn_commits_total", "outcome=\"committed\",path=\"2pc\"");
    let before = two_phase().await;
    same_replies(&mut strata, &mut redis, RENAME_COPY_SCRIPT).await;
    // RENAME rn:a rn:z, rn:c rn:y, rn:y rn:d, rn:z rn:f, RENAMENX rn:d rn:w, the COPYs from
    // rn:w, the MULTI...: each a two-phase commit across the two ranges.
    let cross_range = two_phase().await - before;
    assert!(cross_range >= 5, "only {cross_range} two-phase commits");
    let mut redis_single_db = RawConn::connect(single_db.port).await;
    same_replies(&mut strata, &mut redis_single_db, SINGLE_DB_SCRIPT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resp3_replies_match_redis() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    // HELLO's map carries server-specific fields; compare its shape separately.
    let hello = strata.cmd("HELLO 3").await;
    assert!(hello.starts_with("%7\r\n"), "HELLO 3 must answer a RESP3 map: {hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    redis.cmd("HELLO 3").await;
    same_replies(
        &mut strata,
        &mut redis,
        &["GET r3:missing", "SET r3:a 1", "MGET r3:a r3:missing", "INCRBYFLOAT r3:f 1.5", "HELLO 4", "HELLO 2 AUTH"],
    )
    .await;
    let back = strata.cmd("HELLO 2").await;
    assert!(back.starts_with("*14\r\n"), "HELLO 2 answers a flat array: {back}");
    redis.cmd("HELLO 2").await;
    same_replies(&mut strata, &mut redis, &["GET r3:missing"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_database_zero_exists() {
    // A deliberate difference (docs/redis.md): one keyspace per cluster, like Redis Cluster.
    let cluster = Cluster::start().await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    assert_eq!(strata.cmd("SELECT 0").await, "+OK\r\n");
    assert_eq!(strata.cmd("SELECT 1").await, "-ERR DB index is out of range\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_and_dbsize() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let empty: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(empty, 0);
    for i in 0..25 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query_async(&mut conn).await.unwrap();
    }
    let _: () = redis::cmd("SET").arg("short").arg("v").arg("PX").arg(1).query_async(&mut conn).await.unwrap();
    // The expired key stops counting once it has expired.
    eventually(Duration::from_secs(10), "DBSIZE to drop the expired key", || {
        let mut conn = conn.clone();
        async move {
            let n: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.ok()?;
            (n == 25).then_some(())
        }
    })
    .await;
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    let after: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(after, 0);
    let gone: Option<String> = redis::cmd("GET").arg("k3").query_async(&mut conn).await.unwrap();
    assert_eq!(gone, None);
}
