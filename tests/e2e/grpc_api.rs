//! The public gRPC API (`strata.kv.v1` RawKV and TxnKV) against a real cluster, through the
//! generated tonic clients: reads and writes across range splits, TTL, scans both ways,
//! range deletes, compare-and-swap, keyspace isolation from Redis, and the snapshot
//! isolation contract of transactions (lost updates refused, write skew allowed).

use std::time::Duration;

use bytes::Bytes;
use strata_proto::kv::raw_kv_client::RawKvClient;
use strata_proto::kv::txn_kv_client::TxnKvClient;
use strata_proto::kv::*;
use tonic::transport::Channel;
use tonic::Code;

use crate::cluster::{eventually, Cluster};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn channel(cluster: &Cluster) -> Channel {
    Channel::from_shared(cluster.grpc_url()).expect("url").connect().await.expect("connect to the gateway's gRPC")
}

async fn raw_client(cluster: &Cluster) -> RawKvClient<Channel> {
    RawKvClient::new(channel(cluster).await).max_decoding_message_size(usize::MAX)
}

async fn txn_client(cluster: &Cluster) -> TxnKvClient<Channel> {
    TxnKvClient::new(channel(cluster).await).max_decoding_message_size(usize::MAX)
}

async fn put(raw: &mut RawKvClient<Channel>, key: &str, value: &str) {
    raw.put(RawPutRequest { key: b(key), value: b(value), ttl_ms: 0 }).await.expect("put");
}

async fn get(raw: &mut RawKvClient<Channel>, key: &str) -> Option<Bytes> {
    let resp = raw.get(RawGetRequest { key: b(key), max_staleness_ms: 0 }).await.expect("get").into_inner();
    resp.found.then_some(resp.value)
}

async fn scan(
    raw: &mut RawKvClient<Channel>,
    start: &str,
    end: &str,
    limit: u32,
    reverse: bool,
) -> (Vec<String>, bool) {
    let resp = raw
        .scan(RawScanRequest { start: b(start), end: b(end), limit, reverse, max_staleness_ms: 0 })
        .await
        .expect("scan")
        .into_inner();
    (pairs(&resp.pairs), resp.more)
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

fn pairs(pairs: &[KvPair]) -> Vec<String> {
    pairs.iter().map(|p| format!("{}={}", String::from_utf8_lossy(&p.key), String::from_utf8_lossy(&p.value))).collect()
}

/// The status code of a failed call, checking the documented reason travels with it.
fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    let status = result.expect_err("the call should fail");
    let reason = status.metadata().get("strata-error-reason").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(!reason.is_empty() && status.message().starts_with(&format!("{reason}: ")), "{status:?}");
    status.code()
}

async fn cas(
    raw: &mut RawKvClient<Channel>,
    key: &str,
    expected: Option<&str>,
    new_value: Option<&str>,
) -> CompareAndSwapResponse {
    let request = CompareAndSwapRequest {
        key: b(key),
        expect_absent: expected.is_none(),
        expected: b(expected.unwrap_or_default()),
        delete: new_value.is_none(),
        new_value: b(new_value.unwrap_or_default()),
        ttl_ms: 0,
    };
    raw.compare_and_swap(request).await.expect("compare and swap").into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_kv_reads_writes_scans_and_compares_across_ranges() {
    let cluster = Cluster::start().await;
    let mut raw = raw_client(&cluster).await;

    // Put / Get; a missing key is not an error; an empty value is not absent.
    put(&mut raw, "greeting", "hello").await;
    assert_eq!(get(&mut raw, "greeting").await, Some(b("hello")));
    assert_eq!(get(&mut raw, "nobody").await, None);
    put(&mut raw, "empty", "").await;
    assert_eq!(get(&mut raw, "empty").await, Some(Bytes::new()));
    raw.delete(RawDeleteRequest { key: b("empty") }).await.expect("delete");
    assert_eq!(get(&mut raw, "empty").await, None);

    // Values above gRPC's default 4 MiB message size pass both ways (the gateway raises its
    // limits; this client raised its receive limit).
    let big = Bytes::from(vec![7u8; 8 << 20]);
    raw.put(RawPutRequest { key: b("big"), value: big.clone(), ttl_ms: 0 }).await.expect("put 8 MiB");
    assert!(get(&mut raw, "big").await == Some(big), "8 MiB value read back");

    // TTL: the key disappears by itself (polled with a deadline).
    raw.put(RawPutRequest { key: b("short"), value: b("lived"), ttl_ms: 300 }).await.expect("put with ttl");
    raw.put(RawPutRequest { key: b("long"), value: b("lived"), ttl_ms: 600_000 }).await.expect("put with ttl");
    let mut poll = raw.clone();
    eventually(Duration::from_secs(10), "the key with a TTL to expire", || {
        let mut raw = poll.clone();
        async move { get(&mut raw, "short").await.is_none().then_some(()) }
    })
    .await;
    assert_eq!(get(&mut poll, "long").await, Some(b("lived")));

    // Bad input.
    assert_eq!(code(raw.get(RawGetRequest { key: Bytes::new(), max_staleness_ms: 0 }).await), Code::InvalidArgument);
    let huge_key = Bytes::from(vec![b'k'; 64 * 1024 + 1]);
    assert_eq!(code(raw.put(RawPutRequest { key: huge_key, value: b("v"), ttl_ms: 0 }).await), Code::InvalidArgument);
    let bad_range = RawScanRequest { start: b("b"), end: b("a"), limit: 10, reverse: false, max_staleness_ms: 0 };
    assert_eq!(code(raw.scan(bad_range).await), Code::InvalidArgument);
    let big_limit = RawScanRequest { start: b(""), end: b(""), limit: 10_001, reverse: false, max_staleness_ms: 0 };
    assert_eq!(code(raw.scan(big_limit).await), Code::InvalidArgument);
    let bad_delete = RawDeleteRangeRequest { start: b("b"), end: b("b") };
    assert_eq!(code(raw.delete_range(bad_delete).await), Code::InvalidArgument);

    // Start the batch tests from an empty keyspace, then cut it into three ranges. Split
    // keys are raw KV keys: the API's keys live under the prefix `K`.
    raw.delete_range(RawDeleteRangeRequest::default()).await.expect("delete everything");
    cluster.split(b"Km").await;
    cluster.split(b"Kt").await;
    cluster.wait_for_catalog(3).await;

    // BatchPut is atomic across ranges; BatchGet answers in request order.
    let pairs_in = ["a1", "k5", "p3", "x9", "zz"].map(|k| KvPair { key: b(k), value: b(&format!("v-{k}")) });
    raw.batch_put(RawBatchPutRequest { pairs: pairs_in.to_vec(), ttl_ms: 0 }).await.expect("batch put");
    let keys = ["zz", "missing", "a1", "p3", "zz"].map(b).to_vec();
    let results =
        raw.batch_get(RawBatchGetRequest { keys, max_staleness_ms: 0 }).await.expect("batch get").into_inner().results;
    let seen: Vec<_> = results.iter().map(|r| (String::from_utf8_lossy(&r.key).to_string(), r.found)).collect();
    let expected = [("zz", true), ("missing", false), ("a1", true), ("p3", true), ("zz", true)];
    assert_eq!(seen, expected.map(|(k, f)| (k.to_string(), f)));
    assert_eq!(results[0].value, b("v-zz"));

    // Scans cross the split boundaries both ways, with limits and continuation.
    let all = ["a1=v-a1", "k5=v-k5", "p3=v-p3", "x9=v-x9", "zz=v-zz"];
    assert_eq!(scan(&mut raw, "", "", 0, false).await, (strings(&all), false));
    assert_eq!(scan(&mut raw, "", "", 3, false).await, (strings(&all[..3]), true));
    assert_eq!(scan(&mut raw, "p3\0", "", 3, false).await, (strings(&all[3..]), false));
    assert_eq!(scan(&mut raw, "", "", 3, true).await, (strings(&["zz=v-zz", "x9=v-x9", "p3=v-p3"]), true));
    assert_eq!(scan(&mut raw, "", "p3", 3, true).await, (strings(&["k5=v-k5", "a1=v-a1"]), false));
    assert_eq!(scan(&mut raw, "k", "x", 10, false).await.0, ["k5=v-k5", "p3=v-p3"]);
    assert_eq!(scan(&mut raw, "k", "x", 10, true).await.0, ["p3=v-p3", "k5=v-k5"]);

    // DeleteRange across all three ranges.
    raw.delete_range(RawDeleteRangeRequest { start: b("b"), end: b("y") }).await.expect("delete range");
    assert_eq!(scan(&mut raw, "", "", 0, false).await.0, ["a1=v-a1", "zz=v-zz"]);

    // CompareAndSwap: expect-absent, success, mismatch (answering the current value), delete.
    let r = cas(&mut raw, "lock", None, Some("1")).await;
    assert!(r.swapped && !r.previous_found);
    let r = cas(&mut raw, "lock", None, Some("x")).await;
    assert!(!r.swapped && r.previous_found && r.previous == b("1"));
    let r = cas(&mut raw, "lock", Some("1"), Some("2")).await;
    assert!(r.swapped && r.previous == b("1"));
    let r = cas(&mut raw, "lock", Some("1"), Some("3")).await;
    assert!(!r.swapped && r.previous == b("2"));
    let r = cas(&mut raw, "lock", Some("2"), None).await;
    assert!(r.swapped && r.previous == b("2"));
    assert_eq!(get(&mut raw, "lock").await, None);
    let r = cas(&mut raw, "lock", Some(""), Some("4")).await;
    assert!(!r.swapped && !r.previous_found, "an expected empty value does not match an absent key");

    // CAS is linearizable: concurrent CAS-increment loops lose no increment.
    put(&mut raw, "counter", "0").await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let mut raw = raw.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let mut current = get(&mut raw, "counter").await.expect("counter");
                    loop {
                        let seen = String::from_utf8_lossy(&current).to_string();
                        let next = (seen.parse::<u64>().expect("number") + 1).to_string();
                        let r = cas(&mut raw, "counter", Some(&seen), Some(&next)).await;
                        if r.swapped {
                            break;
                        }
                        current = r.previous;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("increments");
    }
    assert_eq!(get(&mut raw, "counter").await, Some(b("40")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grpc_keyspace_is_separate_from_redis() {
    let cluster = Cluster::start().await;
    let mut raw = raw_client(&cluster).await;
    let mut redis = cluster.connection().await;
    let dbsize = |mut conn: redis::aio::MultiplexedConnection| async move {
        redis::cmd("DBSIZE").query_async::<u64>(&mut conn).await.expect("DBSIZE")
    };

    let _: () = redis::cmd("SET").arg("shared").arg("from-redis").query_async(&mut redis).await.expect("SET");
    assert_eq!(get(&mut raw, "shared").await, None, "a Redis key is not visible to RawKV");
    let redis_keys = dbsize(redis.clone()).await;
    put(&mut raw, "shared", "from-grpc").await;
    put(&mut raw, "only-grpc", "x").await;
    let value: String = redis::cmd("GET").arg("shared").query_async(&mut redis).await.expect("GET");
    assert_eq!(value, "from-redis", "a RawKV write does not clobber the Redis key");
    let missing: Option<String> = redis::cmd("GET").arg("only-grpc").query_async(&mut redis).await.expect("GET");
    assert_eq!(missing, None, "a RawKV key is not visible to Redis");
    assert_eq!(dbsize(redis.clone()).await, redis_keys, "RawKV keys do not count in DBSIZE");

    // Scans and range deletes never leave the API's keyspace.
    assert_eq!(scan(&mut raw, "", "", 0, false).await.0, ["only-grpc=x", "shared=from-grpc"]);
    assert_eq!(scan(&mut raw, "", "", 0, true).await.0, ["shared=from-grpc", "only-grpc=x"]);
    raw.delete_range(RawDeleteRangeRequest::default()).await.expect("delete everything");
    assert_eq!(scan(&mut raw, "", "", 0, false).await.0, Vec::<String>::new());
    let value: String = redis::cmd("GET").arg("shared").query_async(&mut redis).await.expect("GET");
    assert_eq!(value, "from-redis");
    put(&mut raw, "survivor", "1").await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut redis).await.expect("FLUSHALL");
    let gone: Option<String> = redis::cmd("GET").arg("shared").query_async(&mut redis).await.expect("GET");
    assert_eq!(gone, None);
    assert_eq!(get(&mut raw, "survivor").await, Some(b("1")), "FLUSHALL empties only the Redis keyspace");
}

async fn begin(txn: &mut TxnKvClient<Channel>) -> (u64, u64) {
    let resp = txn.begin(BeginRequest {}).await.expect("begin").into_inner();
    (resp.txn_id, resp.start_ts)
}

async fn tget(txn: &mut TxnKvClient<Channel>, txn_id: u64, key: &str) -> Option<Bytes> {
    let resp = txn.get(TxnGetRequest { txn_id, key: b(key) }).await.expect("txn get").into_inner();
    resp.found.then_some(resp.value)
}

async fn tput(txn: &mut TxnKvClient<Channel>, txn_id: u64, key: &str, value: &str) {
    txn.put(TxnPutRequest { txn_id, key: b(key), value: b(value) }).await.expect("txn put");
}

async fn commit(txn: &mut TxnKvClient<Channel>, txn_id: u64) -> Result<u64, tonic::Status> {
    txn.commit(CommitRequest { txn_id }).await.map(|r| r.into_inner().commit_ts)
}

/// Adds one to `key` in a transaction, restarting it on ABORTED; returns the attempts.
async fn increment(txn: &mut TxnKvClient<Channel>, key: &str) -> u32 {
    for attempt in 1..=200 {
        let (id, _) = begin(txn).await;
        let n: u64 = tget(txn, id, key).await.map_or(0, |v| String::from_utf8_lossy(&v).parse().expect("number"));
        tput(txn, id, key, &(n + 1).to_string()).await;
        match commit(txn, id).await {
            Ok(_) => return attempt,
            Err(status) if status.code() == Code::Aborted => continue,
            Err(status) => panic!("commit failed: {status:?}"),
        }
    }
    panic!("too many conflicts");
}

#[tokio::test(flavor = "multi_thread")]
async fn txn_kv_gives_snapshot_isolation() {
    let cluster = Cluster::start().await;
    let mut raw = raw_client(&cluster).await;
    let mut txn = txn_client(&cluster).await;
    cluster.split(b"Km").await;
    cluster.wait_for_catalog(2).await;

    // Read own writes, in Get, BatchGet and Scan; committed atomically across two ranges.
    put(&mut raw, "a/old", "1").await;
    put(&mut raw, "x/old", "1").await;
    let (id, start_ts) = begin(&mut txn).await;
    assert!(start_ts > 0);
    tput(&mut txn, id, "a/new", "2").await;
    tput(&mut txn, id, "x/new", "2").await;
    txn.delete(TxnDeleteRequest { txn_id: id, key: b("x/old") }).await.expect("txn delete");
    assert_eq!(tget(&mut txn, id, "a/new").await, Some(b("2")));
    assert_eq!(tget(&mut txn, id, "x/old").await, None);
    let keys = ["x/old", "a/old", "x/new", "none"].map(b).to_vec();
    let results = txn.batch_get(TxnBatchGetRequest { txn_id: id, keys }).await.expect("batch get").into_inner();
    assert_eq!(results.results.iter().map(|r| r.found).collect::<Vec<_>>(), [false, true, true, false]);
    let scan_all = TxnScanRequest { txn_id: id, start: b(""), end: b(""), limit: 0, reverse: false };
    let resp = txn.scan(scan_all.clone()).await.expect("txn scan").into_inner();
    assert_eq!(pairs(&resp.pairs), ["a/new=2", "a/old=1", "x/new=2"]);
    let resp = txn.scan(TxnScanRequest { reverse: true, limit: 2, ..scan_all }).await.expect("scan").into_inner();
    assert_eq!(pairs(&resp.pairs), ["x/new=2", "a/old=1"]);
    assert_eq!(get(&mut raw, "a/new").await, None, "buffered writes stay in the gateway until commit");
    let commit_ts = commit(&mut txn, id).await.expect("commit");
    assert!(commit_ts > start_ts);
    assert_eq!(get(&mut raw, "a/new").await, Some(b("2")));
    assert_eq!(get(&mut raw, "x/new").await, Some(b("2")));
    assert_eq!(get(&mut raw, "x/old").await, None);
    assert_eq!(code(commit(&mut txn, id).await), Code::NotFound, "a finished transaction is gone");

    // Snapshot: a write committed after Begin is invisible to the transaction.
    put(&mut raw, "snap", "before").await;
    let (id, start_ts) = begin(&mut txn).await;
    put(&mut raw, "snap", "after").await;
    put(&mut raw, "snap2", "after").await;
    assert_eq!(tget(&mut txn, id, "snap").await, Some(b("before")));
    assert_eq!(tget(&mut txn, id, "snap2").await, None);
    let scan = TxnScanRequest { txn_id: id, start: b("snap"), end: b("snaq"), limit: 0, reverse: false };
    let resp = txn.scan(scan).await.expect("txn scan").into_inner();
    assert_eq!(pairs(&resp.pairs), ["snap=before"]);
    assert_eq!(commit(&mut txn, id).await.expect("read-only commit"), start_ts, "a read-only commit is trivial");

    // Lost update forbidden: two transactions increment the same key; exactly one commits.
    put(&mut raw, "counter", "0").await;
    let (t1, _) = begin(&mut txn).await;
    let (t2, _) = begin(&mut txn).await;
    for t in [t1, t2] {
        assert_eq!(tget(&mut txn, t, "counter").await, Some(b("0")));
        tput(&mut txn, t, "counter", "1").await;
    }
    commit(&mut txn, t1).await.expect("first committer wins");
    let loser = commit(&mut txn, t2).await;
    assert_eq!(code(loser), Code::Aborted);
    assert_eq!(get(&mut raw, "counter").await, Some(b("1")));
    // Restarting the loser from Begin succeeds.
    assert_eq!(increment(&mut txn, "counter").await, 1);
    assert_eq!(get(&mut raw, "counter").await, Some(b("2")));

    // ... and under concurrency, retried increments add up exactly.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let mut txn = txn.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    increment(&mut txn, "counter").await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("increments");
    }
    assert_eq!(get(&mut raw, "counter").await, Some(b("22")));

    // Write skew allowed: two doctors on call; each transaction sees both on call and takes
    // one off. Their write sets are disjoint, so both commit and nobody is on call.
    put(&mut raw, "alice:oncall", "yes").await;
    put(&mut raw, "zoe:oncall", "yes").await; // in the other range
    let (t1, _) = begin(&mut txn).await;
    let (t2, _) = begin(&mut txn).await;
    for (t, me) in [(t1, "alice:oncall"), (t2, "zoe:oncall")] {
        let on_call = [tget(&mut txn, t, "alice:oncall").await, tget(&mut txn, t, "zoe:oncall").await];
        assert!(on_call.iter().all(|v| v.as_deref() == Some(&b"yes"[..])));
        tput(&mut txn, t, me, "no").await;
    }
    commit(&mut txn, t1).await.expect("commit");
    commit(&mut txn, t2).await.expect("write skew is allowed under snapshot isolation");
    assert_eq!(get(&mut raw, "alice:oncall").await, Some(b("no")));
    assert_eq!(get(&mut raw, "zoe:oncall").await, Some(b("no")));

    // Rollback drops the buffered writes; the id is gone afterwards.
    let (id, _) = begin(&mut txn).await;
    tput(&mut txn, id, "rolled", "back").await;
    txn.rollback(RollbackRequest { txn_id: id }).await.expect("rollback");
    assert_eq!(get(&mut raw, "rolled").await, None);
    assert_eq!(code(txn.get(TxnGetRequest { txn_id: id, key: b("rolled") }).await), Code::NotFound);
    assert_eq!(code(commit(&mut txn, id).await), Code::NotFound);

    // Unknown id, bad input.
    assert_eq!(code(txn.get(TxnGetRequest { txn_id: 42, key: b("k") }).await), Code::NotFound);
    let (id, _) = begin(&mut txn).await;
    let empty = TxnPutRequest { txn_id: id, key: Bytes::new(), value: b("v") };
    assert_eq!(code(txn.put(empty).await), Code::InvalidArgument);
    assert_eq!(code(txn.get(TxnGetRequest { txn_id: id, key: Bytes::new() }).await), Code::InvalidArgument);
    txn.rollback(RollbackRequest { txn_id: id }).await.expect("rollback");
}
