//! Range splits seen from real clients: no acknowledged write lost or applied twice while
//! ranges split under load, stale epochs refused, and replicas that missed a split catching
//! up by snapshot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_proto::core::{
    kv_client::KvClient, mutation, range_error::Kind, GetRequest, Mutation, Put, RangeEpoch, RequestHeader,
    WriteRequest,
};

use crate::cluster::{eventually, node_status, Cluster};

#[derive(Default)]
struct WriterLog {
    /// Keys whose SET was acknowledged, with the value.
    acked_sets: Vec<(String, String)>,
    /// Per counter: acknowledged INCRs, and INCRs that failed (and so may or may not count).
    incrs: HashMap<String, (u64, u64)>,
}

async fn writer(cluster_url: String, id: usize, stop: Arc<AtomicBool>) -> WriterLog {
    let mut conn = crate::cluster::connect(&cluster_url).await.expect("connect");
    let mut log = WriterLog::default();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Keys spread over the whole keyspace, so every split cuts through live traffic.
        let key = format!("{}:{id}:{i:05}", ["a", "g", "n", "t"][(i % 4) as usize]);
        let value = format!("v{i}");
        let set: redis::RedisResult<String> = redis::cmd("SET").arg(&key).arg(&value).query_async(&mut conn).await;
        if set.is_ok() {
            log.acked_sets.push((key, value));
        }
        let counter = format!("{}:counter", ["c", "p", "x"][(i % 3) as usize]);
        let incr: redis::RedisResult<i64> = redis::cmd("INCR").arg(&counter).query_async(&mut conn).await;
        let entry = log.incrs.entry(counter).or_default();
        match incr {
            Ok(_) => entry.0 += 1,
            Err(_) => entry.1 += 1,
        }
        i += 1;
    }
    log
}

#[tokio::test(flavor = "multi_thread")]
async fn splits_under_concurrent_writes_lose_and_duplicate_nothing() {
    let cluster = Cluster::start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4).map(|id| tokio::spawn(writer(cluster.redis_url(), id, stop.clone()))).collect();
    // Let traffic build up, then split five times while it runs.
    let mut conn = cluster.connection().await;
    eventually(Duration::from_secs(30), "writes to flow", || {
        let mut conn = conn.clone();
        async move {
            let n: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.ok()?;
            (n > 50).then_some(())
        }
    })
    .await;
    // Redis keys live under the KV prefix `R`.
    for key in ["Rg", "Rn", "Rt", "Rp", "Rc:"] {
        cluster.split(key.as_bytes()).await;
    }
    let (_, ranges) = cluster.wait_for_catalog(6).await;
    eventually(Duration::from_secs(30), "writes after the last split", || {
        let mut conn = conn.clone();
        async move {
            let n: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.ok()?;
            let after: u64 = redis::cmd("INCR").arg("t:after").query_async(&mut conn).await.ok()?;
            (n > 200 && after > 0).then_some(())
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for w in writers {
        logs.push(w.await.unwrap());
    }

    let mut sets = 0;
    for log in &logs {
        for (key, value) in &log.acked_sets {
            let got: Option<String> = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap();
            assert_eq!(got.as_deref(), Some(value.as_str()), "acknowledged SET {key} lost");
            sets += 1;
        }
    }
    assert!(sets > 100, "too little traffic to mean anything: {sets} SETs");
    let mut totals: HashMap<&str, (u64, u64)> = HashMap::new();
    for log in &logs {
        for (counter, (acked, failed)) in &log.incrs {
            let t = totals.entry(counter.as_str()).or_default();
            t.0 += acked;
            t.1 += failed;
        }
    }
    for (counter, (acked, failed)) in totals {
        let value: u64 = redis::cmd("GET").arg(counter).query_async(&mut conn).await.unwrap();
        // A failed INCR may have applied before its reply was lost; an acknowledged one must
        // count exactly once.
        assert!(
            value >= acked && value <= acked + failed,
            "{counter} = {value}, but {acked} INCRs were acknowledged and {failed} failed"
        );
    }
    // The gateway's route cache follows the catalog.
    assert_eq!(ranges.len(), 6);
    eventually(Duration::from_secs(10), "the gateway to route by six ranges", || {
        let mut conn = conn.clone();
        async move {
            let info: String = redis::cmd("INFO").query_async(&mut conn).await.ok()?;
            info.contains("strata_ranges:6").then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_routed_by_the_old_epoch_is_refused_after_a_split() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let _: () = redis::cmd("SET").arg("b:before").arg("1").query_async(&mut conn).await.unwrap();
    let (left, right) = cluster.split(b"Rm").await;
    assert_eq!(left.range_id, 1);
    assert_ne!(right.range_id, 1);
    assert_eq!(left.epoch.unwrap().version, 2);
    assert_eq!(right.start_key, Bytes::from_static(b"Rm"));

    let leader = cluster.wait_for_leader(None).await;
    let mut client = KvClient::connect(format!("http://{}", cluster.core(leader).addr)).await.unwrap();
    let stale = WriteRequest {
        header: Some(RequestHeader { range_id: 1, epoch: Some(RangeEpoch { version: 1, conf_version: 1 }) }),
        mutations: vec![Mutation {
            op: Some(mutation::Op::Put(Put {
                key: Bytes::from_static(b"A:stale"),
                value: Bytes::from_static(b"x"),
                expiry: None,
            })),
        }],
        ..Default::default()
    };
    let resp = client.write(stale.clone()).await.unwrap().into_inner();
    match resp.range_error.and_then(|e| e.kind) {
        Some(Kind::EpochNotMatch(m)) => {
            assert_eq!(m.current_ranges[0].end_key, Bytes::from_static(b"Rm"), "carries the narrowed range")
        }
        other => panic!("expected EpochNotMatch, got {other:?}"),
    }
    // A key that moved to the new range is refused by the old one, whatever the epoch.
    let mut moved = stale.clone();
    moved.header.as_mut().unwrap().epoch = left.epoch;
    if let Some(mutation::Op::Put(p)) = moved.mutations[0].op.as_mut() {
        p.key = Bytes::from_static(b"z:moved");
    }
    let resp = client.write(moved).await.unwrap().into_inner();
    assert!(matches!(resp.range_error.and_then(|e| e.kind), Some(Kind::KeyNotInRange(_))));
    let check = GetRequest {
        header: Some(RequestHeader { range_id: 1, epoch: left.epoch }),
        keys: vec![Bytes::from_static(b"A:stale")],
        ..Default::default()
    };
    let resp = client.get(check).await.unwrap().into_inner();
    assert!(resp.range_error.is_none(), "{:?}", resp.range_error);
    assert!(!resp.states[0].live, "the stale-epoch write was not applied");

    // Through the gateway the split is invisible: both halves answer.
    let _: () = redis::cmd("SET").arg("z:after").arg("2").query_async(&mut conn).await.unwrap();
    let got: Vec<Option<String>> =
        redis::cmd("MGET").arg("b:before").arg("z:after").query_async(&mut conn).await.unwrap();
    assert_eq!(got, vec![Some("1".to_string()), Some("2".to_string())]);
}

/// A replica frozen through a split and through log truncation comes back, learns the split
/// from the parent's snapshot, gets the child range by snapshot too, and can then serve as
/// part of a quorum.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_missed_a_split_catches_up_by_snapshot() {
    let mut cluster = Cluster::start_with(&["--snapshot-after-entries", "40"], &[]).await;
    let leader = cluster.wait_for_leader(None).await;
    let lagging = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let other = [1, 2, 3].into_iter().find(|id| *id != leader && *id != lagging).unwrap();
    cluster.pause(lagging, true);
    let (_, right) = cluster.split(b"Rm").await;
    let mut conn = cluster.connection().await;
    // Enough single-key writes on both sides for each range to snapshot and purge its log.
    for i in 0..300 {
        let key = format!("{}{i:04}", if i % 2 == 0 { "d" } else { "q" });
        let _: () = redis::cmd("SET").arg(&key).arg(i).query_async(&mut conn).await.unwrap();
    }
    cluster.pause(lagging, false);
    let child = right.range_id;
    let lagging_addr = cluster.core(lagging).addr.clone();
    let leader_addr = cluster.core(leader).addr.clone();
    eventually(Duration::from_secs(60), "the lagging replica to catch up on both ranges", || {
        let (lagging_addr, leader_addr) = (lagging_addr.clone(), leader_addr.clone());
        async move {
            let mine = node_status(&lagging_addr).await?;
            let theirs = node_status(&leader_addr).await?;
            let applied = |s: &strata_proto::core::NodeStatusResponse, id: u64| {
                s.ranges
                    .iter()
                    .find(|r| r.descriptor.as_ref().is_some_and(|d| d.range_id == id))
                    .map(|r| r.applied_index)
            };
            let caught_up = [1, child]
                .iter()
                .all(|id| applied(&mine, *id).is_some() && applied(&mine, *id) >= applied(&theirs, *id));
            let narrowed = mine.ranges.iter().any(|r| {
                r.descriptor.as_ref().is_some_and(|d| d.range_id == 1 && d.end_key == Bytes::from_static(b"Rm"))
            });
            (caught_up && narrowed).then_some(())
        }
    })
    .await;
    // The child reached it by snapshot: it never saw the split in a log.
    eventually(Duration::from_secs(10), "the child's snapshot install to show", || async {
        (cluster.range_metric(lagging, child, "snapshots_installed").await? >= 1).then_some(())
    })
    .await;
    // Without the other follower, the lagging replica is needed for every quorum.
    cluster.stop(other);
    for i in (0..300).step_by(7) {
        let key = format!("{}{i:04}", if i % 2 == 0 { "d" } else { "q" });
        let got: Option<i64> = redis::cmd("GET").arg(&key).query_async(&mut conn).await.unwrap();
        assert_eq!(got, Some(i), "{key}");
    }
    let _: () = redis::cmd("SET").arg("q:quorum").arg("ok").query_async(&mut conn).await.unwrap();
}

/// Ranges created by splits come back after a restart of every node, data and all.
#[tokio::test(flavor = "multi_thread")]
async fn split_ranges_survive_a_full_restart() {
    let mut cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    for key in ["Rf", "Rk", "Rr"] {
        cluster.split(key.as_bytes()).await;
    }
    for key in ["a1", "g1", "l1", "s1"] {
        let _: () = redis::cmd("SET").arg(key).arg(key).query_async(&mut conn).await.unwrap();
    }
    for id in [1, 2, 3] {
        cluster.kill(id);
    }
    for id in [1, 2, 3] {
        cluster.restart(id);
    }
    let (_, ranges) = cluster.wait_for_catalog(4).await;
    assert_eq!(ranges.iter().map(|r| r.start_key.clone()).collect::<Vec<_>>(), ["", "Rf", "Rk", "Rr"]);
    let got: Vec<Option<String>> = eventually(Duration::from_secs(30), "reads after restart", || {
        let mut conn = conn.clone();
        async move { redis::cmd("MGET").arg("a1").arg("g1").arg("l1").arg("s1").query_async(&mut conn).await.ok() }
    })
    .await;
    assert_eq!(got, ["a1", "g1", "l1", "s1"].map(|s| Some(s.to_string())));
}

/// A gateway that starts after the catalog moved past its delta window converges by a reset,
/// then follows later splits as deltas, and routes to every range.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_gateway_converges_by_reset_then_follows_deltas() {
    use crate::routing::gateway_metric;
    let mut cluster = Cluster::start_with(&["--catalog-delta-window", "4"], &[]).await;
    cluster.stop_gateway();
    let split_keys = ["Rb", "Rd", "Rf", "Rh", "Rj", "Rl", "Rn", "Rp"];
    for key in split_keys {
        cluster.split(key.as_bytes()).await;
    }
    let (version, _) = cluster.wait_for_catalog(9).await;
    assert!(version > 4, "the catalog is past the delta window");
    cluster.start_gateway();
    cluster.wait_ready().await;
    eventually(Duration::from_secs(20), "the gateway to apply the catalog", || async {
        let v = gateway_metric(&cluster, "strata_gateway_catalog_version", "").await;
        (v >= version).then_some(())
    })
    .await;
    assert_eq!(gateway_metric(&cluster, "strata_gateway_catalog_resets_total", "").await, 1);
    let mut conn = cluster.connection().await;
    let keys: Vec<String> = ["a", "c", "e", "g", "i", "k", "m", "o", "q"].iter().map(|k| format!("{k}:late")).collect();
    for key in &keys {
        let _: () = redis::cmd("SET").arg(key).arg(key).query_async(&mut conn).await.unwrap();
    }
    let got: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.unwrap();
    assert_eq!(got, keys.iter().map(|k| Some(k.clone())).collect::<Vec<_>>());

    let deltas_before = gateway_metric(&cluster, "strata_gateway_catalog_deltas_applied_total", "").await;
    cluster.split(b"Rr").await;
    let (after, _) = cluster.wait_for_catalog(10).await;
    eventually(Duration::from_secs(20), "the gateway to follow the split", || async {
        let v = gateway_metric(&cluster, "strata_gateway_catalog_version", "").await;
        (v >= after).then_some(())
    })
    .await;
    assert!(gateway_metric(&cluster, "strata_gateway_catalog_deltas_applied_total", "").await > deltas_before);
    assert_eq!(gateway_metric(&cluster, "strata_gateway_catalog_resets_total", "").await, 1, "no second reset");
}

/// A range that passes the key-count threshold is split by its leader without any command.
#[tokio::test(flavor = "multi_thread")]
async fn ranges_split_automatically_past_the_key_threshold() {
    let cluster = Cluster::start_with(&["--split-keys", "60", "--split-check-ms", "200"], &[]).await;
    let mut conn = cluster.connection().await;
    for i in 0..200 {
        let _: () = redis::cmd("SET").arg(format!("auto:{i:04}")).arg(i).query_async(&mut conn).await.unwrap();
    }
    let ranges = eventually(Duration::from_secs(30), "automatic splits", || async {
        let catalog = cluster.catalog().await?;
        (catalog.ranges.len() >= 3).then_some(catalog.ranges)
    })
    .await;
    assert!(ranges.iter().all(|r| r.epoch.unwrap().version >= 2), "every range came from a split");
    for i in (0..200).step_by(9) {
        let got: Option<i64> = redis::cmd("GET").arg(format!("auto:{i:04}")).query_async(&mut conn).await.unwrap();
        assert_eq!(got, Some(i));
    }
}

/// Idle ranges stop heartbeating; a request wakes them, and a leader that dies while its
/// ranges sleep is still replaced.
#[tokio::test(flavor = "multi_thread")]
async fn idle_ranges_hibernate_wake_on_demand_and_still_fail_over() {
    let mut cluster = Cluster::start_with(&["--hibernate-after-ms", "300"], &[]).await;
    cluster.split(b"Rm").await;
    cluster.wait_for_catalog(2).await;
    let mut conn = cluster.connection().await;
    let _: () = redis::cmd("SET").arg("a:sleepy").arg("1").query_async(&mut conn).await.unwrap();
    let leader = cluster.wait_for_leader(None).await;
    eventually(Duration::from_secs(20), "range 1 to hibernate", || async {
        (cluster.range_metric(leader, 1, "hibernating").await? == 1).then_some(())
    })
    .await;
    // A request wakes it and is served.
    let got: Option<String> = redis::cmd("GET").arg("a:sleepy").query_async(&mut conn).await.unwrap();
    assert_eq!(got.as_deref(), Some("1"));
    let _: () = redis::cmd("SET").arg("z:sleepy").arg("2").query_async(&mut conn).await.unwrap();
    eventually(Duration::from_secs(20), "range 1 to hibernate again", || async {
        (cluster.range_metric(leader, 1, "hibernating").await? == 1).then_some(())
    })
    .await;
    // The leader dies while asleep: the followers notice its node is gone and elect.
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(Some(leader)).await;
    assert_ne!(new_leader, leader);
    let got: Vec<Option<String>> = eventually(Duration::from_secs(30), "reads after failover", || {
        let mut conn = conn.clone();
        async move { redis::cmd("MGET").arg("a:sleepy").arg("z:sleepy").query_async(&mut conn).await.ok() }
    })
    .await;
    assert_eq!(got, vec![Some("1".to_string()), Some("2".to_string())]);
}
