//! Lua scripting against a real cluster: the `redis` crate's `Script` (EVALSHA falling back
//! to EVAL), scripts stored in the core (visible from every connection and after a gateway
//! restart), atomicity under concurrent scripts, and replies compared byte for byte with a
//! real redis-server.

use crate::cluster::Cluster;
use crate::compat::ReferenceRedis;
use crate::raw::RawConn;

/// Requests (argument vectors) replayed on both servers. String commands only.
const SCRIPTING_REQUESTS: &[&[&str]] = &[
    &["SCRIPT", "FLUSH"],
    &["SET", "lua:s", "abc"],
    &["EVAL", "return 1+nil", "0"],
    &["EVAL", "return a", "0"],
    &["EVAL", "a=1", "0"],
    &["EVAL", "return redis.call('incr', KEYS[1])", "1", "lua:n"],
    &["EVAL", "return redis.call('incr', KEYS[1])", "1", "lua:s"],
    &["EVAL", "return redis.pcall('incr', KEYS[1])", "1", "lua:s"],
    &["EVAL", "local ok, e = pcall(redis.call, 'incr', 'lua:s'); return e", "0"],
    &["EVAL", "return redis.call('nosuch')", "0"],
    &["EVAL", "return redis.call('get')", "0"],
    &["EVAL", "return redis.call('multi')", "0"],
    &["EVAL", "return redis.call('set', KEYS[1], 'x', 'xx', 'nx')", "1", "lua:s"],
    &["EVAL", "return redis.call('set', KEYS[1], {})", "1", "lua:s"],
    &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    &["EVALSHA", "abc", "0"],
    &["EVAL", "return 1", "2", "a"],
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "x"],
    &["EVAL", "return 1"],
    &["EVAL_RO", "return redis.call('set', KEYS[1], 'y')", "1", "lua:s"],
    &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "lua:s"],
    &["EVAL", "return {1, 'two', {3, {ok='four'}}, true, false, 3.9, nil, 'never'}", "0"],
    &["EVAL", "return {err='MYERR custom'}", "0"],
    &["EVAL", "return redis.error_reply('boom')", "0"],
    &["EVAL", "return redis.status_reply('FINE')", "0"],
    &["EVAL", "return {KEYS[1], ARGV[1], ARGV[2], #KEYS, #ARGV}", "1", "lua:k", "a1", "a2"],
    &["EVAL", "redis.call('set', KEYS[1], 0.1); return redis.call('get', KEYS[1])", "1", "lua:f"],
    &["EVAL", "return redis.call('mget', 'lua:s', 'lua:missing')", "0"],
    &["EVAL", "return type(redis.call('get', 'lua:missing'))", "0"],
    &["EVAL", "return os", "0"],
    &["EVAL", "return redis.sha1hex('strata')", "0"],
    &["EVAL", "error('line1\\nline2')", "0"],
    &["EVAL", "syntax error here", "0"],
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["SCRIPT", "LOAD", "bad code here"],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
    &["SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8", "ffffffffffffffffffffffffffffffffffffffff"],
    &["SCRIPT", "EXISTS"],
    &["SCRIPT", "FLUSH", "BOGUS"],
    &["SCRIPT", "NOSUCH"],
    &["SCRIPT", "KILL"],
    &["SCRIPT", "HELP"],
    &["MULTI"],
    &["SET", "lua:m", "1"],
    &["EVAL", "return redis.call('incr', KEYS[1])", "1", "lua:m"],
    &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    &["EXEC"],
    &["GET", "lua:m"],
    &["SCRIPT", "FLUSH", "SYNC"],
    &["SCRIPT", "EXISTS", "b534286061d4b9e4026607613b95c06c06015ae8"],
];

#[tokio::test(flavor = "multi_thread")]
async fn scripting_matches_redis_byte_for_byte() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    for request in SCRIPTING_REQUESTS {
        let args: Vec<&[u8]> = request.iter().map(|a| a.as_bytes()).collect();
        let expected = redis.cmd_args(&args).await;
        let actual = strata.cmd_args(&args).await;
        assert_eq!(actual, expected, "reply to {request:?} differs from redis-server");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_are_stored_in_the_core() {
    let mut cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;

    // The Script type sends EVALSHA first and falls back to EVAL on NOSCRIPT.
    let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    let first: i64 = script.key("lua:counter").arg(5).invoke_async(&mut conn).await.unwrap();
    let second: i64 = script.key("lua:counter").arg(2).invoke_async(&mut conn).await.unwrap();
    assert_eq!((first, second), (5, 7));

    // Loaded through one connection, run through another.
    let body = "return 'from the core'";
    let mut loader = cluster.connection().await;
    let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(body).query_async(&mut loader).await.unwrap();
    let mut other = cluster.connection().await;
    let reply: String = redis::cmd("EVALSHA").arg(&sha).arg(0).query_async(&mut other).await.unwrap();
    assert_eq!(reply, "from the core");

    // A restarted gateway starts with an empty cache: the bodies come from the core.
    cluster.stop_gateway();
    cluster.start_gateway();
    cluster.wait_ready().await;
    let mut conn = cluster.connection().await;
    let reply: String = redis::cmd("EVALSHA").arg(&sha).arg(0).query_async(&mut conn).await.unwrap();
    assert_eq!(reply, "from the core");
    let exists: Vec<i64> =
        redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).arg(script.get_hash()).query_async(&mut conn).await.unwrap();
    assert_eq!(exists, vec![1, 1], "EVAL stored the Script's body too");
    let third: i64 = redis::cmd("EVALSHA")
        .arg(script.get_hash())
        .arg(1)
        .arg("lua:counter")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(third, 8);

    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut conn).await.unwrap();
    let exists: Vec<i64> = redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).query_async(&mut conn).await.unwrap();
    assert_eq!(exists, vec![0]);
    let gone = redis::cmd("EVALSHA").arg(&sha).arg(0).query_async::<String>(&mut conn).await.unwrap_err();
    assert_eq!(gone.code(), Some("NOSCRIPT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_scripts_are_atomic() {
    let cluster = Cluster::start().await;
    // A read-modify-write spread over two commands: only atomic if the whole script is.
    let script = redis::Script::new(
        "local v = tonumber(redis.call('get', KEYS[1]) or '0'); redis.call('set', KEYS[1], v + 1); \
         redis.call('set', KEYS[2], v + 1); return v + 1",
    );
    let clients = 8;
    let increments = 25;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut conn = cluster.connection().await;
        let script = script.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..increments {
                let n: i64 = script.key("lua:race").key("lua:mirror").invoke_async(&mut conn).await.unwrap();
                seen.push(n);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    let expected: Vec<i64> = (1..=clients * increments).collect();
    assert_eq!(all, expected, "every run saw a distinct value: no increment was lost");
    let mut conn = cluster.connection().await;
    let values: Vec<String> =
        redis::cmd("MGET").arg("lua:race").arg("lua:mirror").query_async(&mut conn).await.unwrap();
    let total = (clients * increments).to_string();
    assert_eq!(values, vec![total.clone(), total]);
}
