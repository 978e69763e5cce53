//! Redis lists against a real cluster: every command compared byte for byte with redis-server,
//! blocking pops woken by pushes from other connections, a producer/consumer run where every
//! element is popped exactly once, and a large list whose elements span a range split.

use std::collections::HashSet;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use redis::aio::MultiplexedConnection;

use crate::cluster::{eventually, Cluster};
use crate::compat::ReferenceRedis;
use crate::raw::RawConn;

async fn same_replies(strata: &mut RawConn, redis: &mut RawConn, script: &[&str]) {
    for line in script {
        let expected = redis.cmd(line).await;
        let actual = strata.cmd(line).await;
        assert_eq!(actual, expected, "reply to `{line}` differs from redis-server");
    }
}

const LIST_SCRIPT: &[&str] = &[
    "LPUSH l:a a b c",
    "RPUSH l:a d e f",
    "LRANGE l:a 0 -1",
    "LRANGE l:a -2 100",
    "LRANGE l:a 4 2",
    "LRANGE l:a x 1",
    "LRANGE l:missing 0 -1",
    "LLEN l:a",
    "LLEN l:missing",
    "LINDEX l:a 0",
    "LINDEX l:a -1",
    "LINDEX l:a 6",
    "LINDEX l:a x",
    "LINDEX l:missing x",
    "LPUSHX l:missing a",
    "RPUSHX l:missing a",
    "LPUSHX l:a z",
    "RPUSHX l:a y x",
    "LSET l:a 1 C",
    "LSET l:a -1 X",
    "LSET l:a 100 v",
    "LSET l:missing 0 v",
    "LSET l:a x v",
    "LINSERT l:a BEFORE C before",
    "LINSERT l:a AFTER d after",
    "LINSERT l:a BEFORE nothere v",
    "LINSERT l:missing BEFORE a v",
    "LINSERT l:a MIDDLE a v",
    "LRANGE l:a 0 -1",
    "LPOP l:a",
    "RPOP l:a",
    "LPOP l:a 2",
    "RPOP l:a 0",
    "LPOP l:missing",
    "LPOP l:missing 2",
    "LPOP l:a -1",
    "LPOP l:a 1 2",
    "RPUSH l:r a b a c a d a",
    "LREM l:r 2 a",
    "LREM l:r -1 a",
    "LREM l:r 0 zz",
    "LRANGE l:r 0 -1",
    "LREM l:r x a",
    "LREM l:missing 0 a",
    "LTRIM l:r 1 -2",
    "LRANGE l:r 0 -1",
    "LTRIM l:r 5 1",
    "EXISTS l:r",
    "LTRIM l:r x 1",
    "RPUSH l:p a b c 1 2 3 c c",
    "LPOS l:p c",
    "LPOS l:p c RANK -1",
    "LPOS l:p c RANK 2 COUNT 0",
    "LPOS l:p c COUNT 0 MAXLEN 7",
    "LPOS l:p c RANK -1 COUNT 2 MAXLEN 3",
    "LPOS l:p c RANK 0",
    "LPOS l:p c COUNT -1",
    "LPOS l:p c MAXLEN x",
    "LPOS l:p c RANK",
    "LPOS l:missing c",
    "LPOS l:missing c COUNT 0",
    // l:a.. and l:z.. live in different ranges: these moves are two-phase commits.
    "RPUSH l:src 1 2 3",
    "LMOVE l:src l:zdst LEFT RIGHT",
    "LMOVE l:src l:zdst RIGHT LEFT",
    "RPOPLPUSH l:src l:zdst",
    "EXISTS l:src",
    "LRANGE l:zdst 0 -1",
    "LMOVE l:zdst l:zdst LEFT RIGHT",
    "LRANGE l:zdst 0 -1",
    "LMOVE l:missing l:zdst LEFT LEFT",
    "LMOVE l:zdst l:x MIDDLE LEFT",
    "LMPOP 2 l:missing l:zdst LEFT",
    "LMPOP 2 l:missing l:zdst RIGHT COUNT 10",
    "LMPOP 1 l:zdst LEFT",
    "LMPOP 0 l:a LEFT",
    "LMPOP 2 l:a LEFT",
    "LMPOP 1 l:a LEFT COUNT 0",
    "SET l:s v",
    "LPUSH l:s a",
    "LRANGE l:s 0 -1",
    "LMOVE l:a l:s LEFT LEFT",
    "LMPOP 2 l:missing l:s LEFT",
    "BLPOP l:s 0",
    "RPUSH l:b 1 2 3 4",
    "BLPOP l:missing l:b 0",
    "BRPOP l:missing l:b 0.5",
    "BLMOVE l:b l:zb LEFT LEFT 0",
    "BRPOPLPUSH l:b l:zb 0",
    "BLMPOP 0 1 l:zb RIGHT COUNT 5",
    "BLPOP l:missing 0.01",
    "BLMOVE l:missing l:zb LEFT LEFT 0.01",
    "BLMPOP 0.01 1 l:missing LEFT",
    "BLPOP l:b -1",
    "BLPOP l:b abc",
    "BLPOP l:b inf",
    "BLMPOP x 1 l:b LEFT",
    "BLPOP l:b",
    "MULTI",
    "BLPOP l:missing 0",
    "RPUSH l:missing x",
    "BRPOP l:missing 0",
    "BLMOVE l:missing l:b LEFT LEFT 0",
    "EXEC",
    "TYPE l:a",
    "DEL l:a",
    "LLEN l:a",
];

const LIST_RESP3_SCRIPT: &[&str] = &[
    "RPUSH l3:a a b",
    "LPOP l3:missing",
    "LPOP l3:missing 2",
    "LPOP l3:a 0",
    "LRANGE l3:a 0 -1",
    "LPOS l3:missing a",
    "LMPOP 1 l3:missing LEFT",
    "BLPOP l3:missing 0.01",
    "BLMOVE l3:missing l3:b LEFT LEFT 0.01",
    "LMPOP 1 l3:a LEFT",
];

#[tokio::test(flavor = "multi_thread")]
async fn list_commands_match_redis_byte_for_byte() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    cluster.split(b"Rl:m").await;
    cluster.wait_for_catalog(2).await;
    let mut redis = RawConn::connect(reference.port).await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    same_replies(&mut strata, &mut redis, LIST_SCRIPT).await;
    redis.cmd("HELLO 3").await;
    strata.cmd("HELLO 3").await;
    same_replies(&mut strata, &mut redis, LIST_RESP3_SCRIPT).await;
}

/// Runs one command with the typed-reply conversion of the `redis` crate.
async fn q<T: redis::FromRedisValue>(conn: &mut MultiplexedConnection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn).await.unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

async fn blocked_clients(conn: &mut MultiplexedConnection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query_async(conn).await.expect("INFO clients");
    info.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

/// Waits until `n` clients are blocked on the gateway.
async fn until_blocked(conn: &mut MultiplexedConnection, n: usize) {
    eventually(Duration::from_secs(10), "clients to block", || {
        let mut conn = conn.clone();
        async move { (blocked_clients(&mut conn).await >= n).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_pops_are_woken_by_pushes_and_time_out() {
    let cluster = Cluster::start().await;
    let mut pusher = cluster.connection().await;

    // BLPOP woken by a push from another connection.
    let mut blocked = cluster.connection().await;
    let waiting =
        tokio::spawn(async move { q::<Option<(String, String)>>(&mut blocked, &["BLPOP", "bq:a", "0"]).await });
    until_blocked(&mut pusher, 1).await;
    let len: i64 = q(&mut pusher, &["RPUSH", "bq:a", "hello"]).await;
    assert_eq!(len, 1);
    assert_eq!(waiting.await.unwrap(), Some(("bq:a".to_string(), "hello".to_string())));
    let exists: bool = q(&mut pusher, &["EXISTS", "bq:a"]).await;
    assert!(!exists, "the pop took the only element");

    // A timeout answers nil.
    let timed_out: Option<(String, String)> = q(&mut pusher, &["BLPOP", "bq:empty", "0.05"]).await;
    assert_eq!(timed_out, None);
    let timed_out: redis::Value = q(&mut pusher, &["BLMOVE", "bq:empty", "bq:d", "LEFT", "LEFT", "0.05"]).await;
    assert_eq!(timed_out, redis::Value::Nil);

    // BLMOVE woken by LPUSH; the element lands in the destination.
    let mut mover = cluster.connection().await;
    let moving = tokio::spawn(async move {
        q::<Option<String>>(&mut mover, &["BLMOVE", "bq:src", "bq:dst", "RIGHT", "LEFT", "0"]).await
    });
    until_blocked(&mut pusher, 1).await;
    let _: i64 = q(&mut pusher, &["LPUSH", "bq:src", "x", "y"]).await;
    assert_eq!(moving.await.unwrap(), Some("x".to_string()));
    let dst: Vec<String> = q(&mut pusher, &["LRANGE", "bq:dst", "0", "-1"]).await;
    assert_eq!(dst, vec!["x"]);
    let src: Vec<String> = q(&mut pusher, &["LRANGE", "bq:src", "0", "-1"]).await;
    assert_eq!(src, vec!["y"]);

    // A blocked client delays its own pipeline, not other clients.
    let mut raw = RawConn::connect(cluster.redis_port).await;
    raw.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$7\r\nbq:pipe\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n").await;
    until_blocked(&mut pusher, 1).await;
    let pong: String = q(&mut pusher, &["PING"]).await;
    assert_eq!(pong, "PONG");
    let _: i64 = q(&mut pusher, &["RPUSH", "bq:pipe", "p"]).await;
    assert_eq!(raw.read_reply().await.unwrap(), "*2\r\n$7\r\nbq:pipe\r\n$1\r\np\r\n");
    assert_eq!(raw.read_reply().await.unwrap(), "+PONG\r\n");

    // A client that disconnects while blocked pops nothing.
    let mut leaving = RawConn::connect(cluster.redis_port).await;
    leaving.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$8\r\nbq:leave\r\n$1\r\n0\r\n").await;
    until_blocked(&mut pusher, 1).await;
    drop(leaving);
    eventually(Duration::from_secs(10), "the blocked client to leave", || {
        let mut conn = pusher.clone();
        async move { (blocked_clients(&mut conn).await == 0).then_some(()) }
    })
    .await;
    let _: i64 = q(&mut pusher, &["RPUSH", "bq:leave", "kept"]).await;
    let kept: Vec<String> = q(&mut pusher, &["LRANGE", "bq:leave", "0", "-1"]).await;
    assert_eq!(kept, vec!["kept"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_pushed_element_is_popped_exactly_once() {
    const CONSUMERS: usize = 4;
    const PRODUCERS: usize = 2;
    const PER_PRODUCER: usize = 150;
    let cluster = Cluster::start().await;
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let mut conn = cluster.connection().await;
        consumers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let popped: Option<(String, String)> = q(&mut conn, &["BRPOP", "pc:queue", "0"]).await;
                let (_, element) = popped.expect("BRPOP with timeout 0 never answers nil");
                if element == "stop" {
                    return got;
                }
                got.push(element);
            }
        }));
    }
    let mut control = cluster.connection().await;
    until_blocked(&mut control, CONSUMERS).await;
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let mut conn = cluster.connection().await;
        producers.push(tokio::spawn(async move {
            for i in 0..PER_PRODUCER {
                let element = format!("{p}:{i}");
                // Mix LPUSH with LMOVE through a staging list (both wake consumers).
                if i % 3 == 0 {
                    let stage = format!("pc:stage:{p}");
                    let _: i64 = q(&mut conn, &["RPUSH", &stage, &element]).await;
                    let _: Option<String> = q(&mut conn, &["LMOVE", &stage, "pc:queue", "LEFT", "LEFT"]).await;
                } else {
                    let _: i64 = q(&mut conn, &["LPUSH", "pc:queue", &element]).await;
                }
            }
        }));
    }
    for producer in producers {
        producer.await.unwrap();
    }
    // BRPOP takes from the tail and LPUSH adds at the head: the stops come out last.
    for _ in 0..CONSUMERS {
        let _: i64 = q(&mut control, &["LPUSH", "pc:queue", "stop"]).await;
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for consumer in consumers {
        let got = consumer.await.unwrap();
        total += got.len();
        seen.extend(got);
    }
    assert_eq!(total, PRODUCERS * PER_PRODUCER, "an element was delivered twice or lost");
    let expected: HashSet<String> =
        (0..PRODUCERS).flat_map(|p| (0..PER_PRODUCER).map(move |i| format!("{p}:{i}"))).collect();
    assert_eq!(seen, expected);
    let left: i64 = q(&mut control, &["LLEN", "pc:queue"]).await;
    assert_eq!(left, 0);
}

/// The KV key of list element `index` of the list with metadata `version` (the layout of
/// `strata_protocols::redis::collection`).
fn element_key(version: u64, index: u64) -> Bytes {
    let mut key = BytesMut::new();
    key.put_u8(b'r');
    key.put_u64(version);
    key.put_u8(b'i');
    key.put_u64(index);
    key.freeze()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_list_spans_a_range_split() {
    use strata_proto::core::{kv_client::KvClient, GetRequest, RangeEpoch, RequestHeader};

    const LEN: usize = 200_000;
    const BATCH: usize = 2_000;
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    for batch in 0..LEN / BATCH {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg("big");
        for i in batch * BATCH..(batch + 1) * BATCH {
            cmd.arg(format!("e{i}"));
        }
        let len: usize = cmd.query_async(&mut conn).await.unwrap();
        assert_eq!(len, (batch + 1) * BATCH);
    }

    // Split the range between the list's sub-keys, in the middle of the list: read the list's
    // version from its metadata record on the (single, first) range's leader.
    let leader = cluster.wait_for_leader(None).await;
    let mut client = KvClient::connect(format!("http://{}", cluster.core(leader).addr)).await.unwrap();
    let request = GetRequest {
        header: Some(RequestHeader { range_id: 1, epoch: Some(RangeEpoch { version: 1, conf_version: 1 }) }),
        keys: vec![Bytes::from_static(b"Rbig")],
        ..Default::default()
    };
    let state = client.get(request).await.unwrap().into_inner().states.into_iter().next().expect("state");
    let meta = state.value;
    assert_eq!(meta.len(), 33, "list metadata: tag, version, size, head, tail");
    let word = |at: usize| u64::from_be_bytes(meta[at..at + 8].try_into().unwrap());
    let (version, head) = (word(1), word(17));
    let middle = LEN as u64 / 2;
    cluster.split(&element_key(version, head + middle)).await;
    cluster.wait_for_catalog(2).await;

    let all: Vec<String> = q(&mut conn, &["LRANGE", "big", "0", "-1"]).await;
    assert_eq!(all.len(), LEN);
    assert!(all.iter().enumerate().all(|(i, e)| *e == format!("e{i}")), "LRANGE across the split is in order");
    let (from, to) = ((middle - 2).to_string(), (middle + 1).to_string());
    let across: Vec<String> = q(&mut conn, &["LRANGE", "big", &from, &to]).await;
    let want: Vec<String> = (middle - 2..middle + 2).map(|i| format!("e{i}")).collect();
    assert_eq!(across, want);
    let at: Option<String> = q(&mut conn, &["LINDEX", "big", &middle.to_string()]).await;
    assert_eq!(at, Some(format!("e{middle}")));
    let at: Option<String> = q(&mut conn, &["LINDEX", "big", "-1"]).await;
    assert_eq!(at, Some(format!("e{}", LEN - 1)));
    let pos: Option<u64> = q(&mut conn, &["LPOS", "big", &format!("e{}", middle + 10)]).await;
    assert_eq!(pos, Some(middle + 10));
    // Pops from both ends and an LSET on each side of the split.
    let first: Option<String> = q(&mut conn, &["LPOP", "big"]).await;
    assert_eq!(first.as_deref(), Some("e0"));
    let last: Option<String> = q(&mut conn, &["RPOP", "big"]).await;
    assert_eq!(last, Some(format!("e{}", LEN - 1)));
    let _: () = q(&mut conn, &["LSET", "big", "10", "left-side"]).await;
    let _: () = q(&mut conn, &["LSET", "big", "-10", "right-side"]).await;
    let len: usize = q(&mut conn, &["LLEN", "big"]).await;
    assert_eq!(len, LEN - 2);
    let around: Vec<String> = q(&mut conn, &["LRANGE", "big", "9", "11"]).await;
    assert_eq!(around, vec!["e10", "left-side", "e12"]);
    let end: Option<String> = q(&mut conn, &["LINDEX", "big", "-10"]).await;
    assert_eq!(end.as_deref(), Some("right-side"));
}
