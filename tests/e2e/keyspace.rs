//! Keyspace commands (SCAN across a range split, KEYS, TYPE filters), collection COPY and
//! garbage collection, and bit / HyperLogLog commands compared with a real redis-server.

use std::collections::HashSet;
use std::time::Duration;

use crate::cluster::{eventually, Cluster};
use crate::compat::ReferenceRedis;
use crate::raw::RawConn;
use crate::routing::gateway_metric;

/// Every key of a full SCAN iteration with `options`, calling `between` after each page.
async fn scan_all(
    conn: &mut redis::aio::MultiplexedConnection,
    options: &[&str],
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    for page in 0.. {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg(options).query_async(conn).await.expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
        between(page).await;
    }
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_returns_every_key_across_a_range_split_mid_iteration() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let total = 10_000;
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let mut mset = redis::cmd("MSET");
        for i in chunk {
            mset.arg(format!("key:{i:05}")).arg(i);
        }
        let _: () = mset.query_async(&mut conn).await.unwrap();
    }
    for i in 0..5 {
        let _: () = redis::cmd("HSET").arg(format!("hash:{i}")).arg("f").arg("v").query_async(&mut conn).await.unwrap();
    }

    let mut split_done = false;
    let keys = scan_all(&mut conn, &["COUNT", "100"], async |page| {
        // A third of the way in, split ahead of the cursor (and again behind it).
        if page == 30 && !split_done {
            cluster.split(b"Rkey:06000").await;
            cluster.split(b"Rkey:01000").await;
            split_done = true;
        }
    })
    .await;
    assert!(split_done, "the iteration was long enough to split in the middle");
    let seen: HashSet<&String> = keys.iter().collect();
    for i in 0..total {
        assert!(seen.contains(&format!("key:{i:05}")), "key:{i:05} missing from the SCAN");
    }
    let dbsize: usize = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(seen.len(), dbsize, "SCAN saw every key and nothing else");
    assert_eq!(keys.len(), seen.len(), "a split does not make SCAN repeat keys");

    let matched = scan_all(&mut conn, &["MATCH", "key:0999*", "COUNT", "7"], async |_| {}).await;
    assert_eq!(matched.len(), 10);
    let mut hashes = scan_all(&mut conn, &["TYPE", "hash", "COUNT", "1000"], async |_| {}).await;
    hashes.sort();
    assert_eq!(hashes, (0..5).map(|i| format!("hash:{i}")).collect::<Vec<_>>());

    let mut listed: Vec<String> = redis::cmd("KEYS").arg("key:05*").query_async(&mut conn).await.unwrap();
    listed.sort();
    assert_eq!(listed, (5000..6000).map(|i| format!("key:{i:05}")).collect::<Vec<_>>());
    let all: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert_eq!(all.len(), dbsize);
    let random: String = redis::cmd("RANDOMKEY").query_async(&mut conn).await.unwrap();
    assert!(seen.contains(&random));
}

/// Number of collection sub-keys (`r...` KV keys) in the single data range.
async fn sub_key_count(cluster: &Cluster) -> Option<u64> {
    use strata_proto::core::{kv_client::KvClient, RangeEpoch, RequestHeader, ScanRequest};
    let leader = cluster.leader().await?;
    let mut client = KvClient::connect(format!("http://{}", cluster.core(leader).addr)).await.ok()?;
    let request = ScanRequest {
        header: Some(RequestHeader { range_id: 1, epoch: Some(RangeEpoch { version: 1, conf_version: 1 }) }),
        start_key: bytes::Bytes::from_static(b"r"),
        end_key: bytes::Bytes::from_static(b"s"),
        count_only: true,
        ..Default::default()
    };
    let response = client.scan(request).await.ok()?.into_inner();
    response.range_error.is_none().then_some(response.count)
}

#[tokio::test(flavor = "multi_thread")]
async fn orphaned_hash_fields_are_collected_in_the_background() {
    let cluster = Cluster::start_with(&[], &["--collection-gc-ms", "200"]).await;
    let mut conn = cluster.connection().await;
    for i in 0..6 {
        let _: () = redis::cmd("HSET")
            .arg(format!("gc:{i}"))
            .arg(&["a", "1", "b", "2", "c", "3"])
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let _: () = redis::cmd("HSET").arg("gc:kept").arg("x").arg("1").query_async(&mut conn).await.unwrap();
    let _: i64 = redis::cmd("COPY").arg("gc:0").arg("gc:copy").query_async(&mut conn).await.unwrap();
    let count = eventually(Duration::from_secs(10), "sub-keys readable", || sub_key_count(&cluster)).await;
    assert_eq!(count, 6 * 3 + 1 + 3);

    let _: i64 = redis::cmd("DEL").arg(&["gc:0", "gc:1", "gc:2"]).query_async(&mut conn).await.unwrap();
    let _: i64 = redis::cmd("PEXPIRE").arg("gc:3").arg(100).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("SET").arg("gc:4").arg("now a string").query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("RENAME").arg("gc:kept").arg("gc:5").query_async(&mut conn).await.unwrap();
    // Left: gc:5 (was gc:kept, 1 field) and gc:copy (3 fields).
    eventually(Duration::from_secs(30), "orphaned sub-keys to be collected", || async {
        (sub_key_count(&cluster).await? == 4).then_some(())
    })
    .await;
    let fields: Vec<String> = redis::cmd("HGETALL").arg("gc:copy").query_async(&mut conn).await.unwrap();
    assert_eq!(fields, vec!["a", "1", "b", "2", "c", "3"]);
    let x: String = redis::cmd("HGET").arg("gc:5").arg("x").query_async(&mut conn).await.unwrap();
    assert_eq!(x, "1");
    // The counters move when a pass ends, which may be just after the sub-keys went.
    eventually(Duration::from_secs(10), "the gc metrics to count the pass", || async {
        let collected = gateway_metric(&cluster, "strata_gateway_collection_gc_orphaned_versions_total", "").await;
        let passes = gateway_metric(&cluster, "strata_gateway_collection_gc_passes_total", "outcome=\"ok\"").await;
        (collected >= 6 && passes >= 1).then_some(())
    })
    .await;
}

const BITS_AND_HLL_SCRIPT: &[&str] = &[
    "SETBIT b 7 1",
    "SETBIT b 7 1",
    "SETBIT b 100 1",
    "GET b",
    "GETBIT b 7",
    "GETBIT b 6",
    "GETBIT b 1000000",
    "GETBIT nokey 1",
    "SETBIT b -1 1",
    "SETBIT b 4294967296 1",
    "SETBIT b 1 2",
    "SETBIT b 1 x",
    "GETBIT b x",
    "SET s foobar",
    "BITCOUNT s",
    "BITCOUNT s 0 0",
    "BITCOUNT s 1 1",
    "BITCOUNT s 1 1 BIT",
    "BITCOUNT s 5 30 bit",
    "BITCOUNT s -2 -1",
    "BITCOUNT s -1 -2",
    "BITCOUNT s 1",
    "BITCOUNT s 0 1 foo",
    "BITCOUNT s x 1",
    "BITCOUNT nokey 1",
    "BITPOS s 0",
    "BITPOS s 1",
    "BITPOS s 1 2",
    "BITPOS s 0 2 -1 BIT",
    "BITPOS s 1 7 15 BIT",
    "BITPOS s 0 0 0",
    "BITPOS s 1 -1",
    "BITPOS s 2",
    "BITPOS nokey 0",
    "BITPOS nokey 1",
    "SETBIT ff 0 1",
    "SETBIT ff 1 1",
    "SETBIT ff 2 1",
    "SETBIT ff 3 1",
    "SETBIT ff 4 1",
    "SETBIT ff 5 1",
    "SETBIT ff 6 1",
    "SETBIT ff 7 1",
    "BITPOS ff 0",
    "BITPOS ff 0 0 -1",
    "BITPOS ff 0 0 -1 BIT",
    "BITOP AND d s b",
    "GET d",
    "BITOP OR d s b",
    "GET d",
    "BITOP XOR d s b ff",
    "GET d",
    "BITOP NOT d s",
    "GET d",
    "BITOP NOT d s b",
    "BITOP FOO d s",
    "BITOP AND d nokey",
    "EXISTS d",
    "HSET h a 1",
    "BITOP AND d h",
    "SETBIT h 1 1",
    "BITCOUNT h",
    "PFADD h a",
    "PFADD s a",
    "PFCOUNT s",
    "PFMERGE m s",
    "PFADD hl a b c",
    "PFADD hl a",
    "PFADD hl",
    "PFCOUNT hl",
    "PFADD new",
    "PFCOUNT new",
    "PFCOUNT hl new nokey",
    "PFADD hl2 c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7 8 9 0",
    "PFCOUNT hl2",
    "PFCOUNT hl hl2",
    "PFMERGE hm hl hl2",
    "PFCOUNT hm",
    "PFMERGE hm",
    "PFCOUNT hm",
    "GETRANGE hm 0 3",
    "PFCOUNT h",
    "OBJECT ENCODING s",
    "SET n 123",
    "OBJECT ENCODING n",
    "OBJECT REFCOUNT n",
    "OBJECT REFCOUNT s",
    "OBJECT FREQ n",
    "OBJECT ENCODING nokey",
    "OBJECT ENCODING h",
    "OBJECT HELP",
    "OBJECT FOO",
    "TOUCH s n nokey s",
    "SCAN 0 COUNT 0",
    "SCAN x",
    "SCAN 0 COUNT x",
    "SCAN 0 FOO bar",
    "KEYS nothing*",
    "COPY h h2",
    "HGET h2 a",
    "HSET h2 a 2",
    "HGET h a",
    "COPY h h2",
    "COPY h h2 REPLACE",
    "HGET h2 a",
    "RENAME h2 h3",
    "HGET h3 a",
    "TYPE h3",
];

#[tokio::test(flavor = "multi_thread")]
async fn bits_hll_and_keyspace_replies_match_redis() {
    let cluster = Cluster::start().await;
    let reference = ReferenceRedis::start().await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    let mut redis = RawConn::connect(reference.port).await;
    for line in BITS_AND_HLL_SCRIPT {
        let expected = redis.cmd(line).await;
        let actual = strata.cmd(line).await;
        assert_eq!(actual, expected, "reply to `{line}` differs from redis-server");
    }
    // Estimates of larger sets (Redis converts to the dense encoding past 3000 bytes; counts
    // do not depend on the encoding).
    for round in 0..4 {
        let elements: Vec<String> = (0..2500).map(|i| format!("{round}:{i}")).collect();
        let mut args: Vec<&[u8]> = vec![&b"PFADD"[..], &b"big"[..]];
        args.extend(elements.iter().map(|e| e.as_bytes()));
        assert_eq!(strata.cmd_args(&args).await, redis.cmd_args(&args).await);
        assert_eq!(strata.cmd("PFCOUNT big").await, redis.cmd("PFCOUNT big").await, "after round {round}");
    }
}
