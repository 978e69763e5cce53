//! Faults against a real cluster: leader kill under a write stream, full restarts, and a
//! replica that falls behind far enough to need a snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::{connect, eventually, Cluster};

/// Writers that record every acknowledged SET.
struct WriteStream {
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<usize>>,
}

impl WriteStream {
    fn start(cluster: &Cluster, writers: usize) -> Self {
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..writers)
            .map(|w| {
                let url = cluster.redis_url();
                let acked = acked.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut errors = 0;
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("w{w}:{i}");
                        let value = format!("v{w}-{i}");
                        let result: redis::RedisResult<()> = async {
                            let mut conn = connect(&url).await?;
                            redis::cmd("SET").arg(&key).arg(&value).query_async(&mut conn).await
                        }
                        .await;
                        match result {
                            Ok(()) => {
                                acked.lock().unwrap().insert(key, value);
                            }
                            Err(_) => errors += 1,
                        }
                        i += 1;
                    }
                    errors
                })
            })
            .collect();
        Self { acked, stop, tasks }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn finish(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(self.acked).unwrap().into_inner().unwrap()
    }
}

async fn assert_all_readable(cluster: &Cluster, acked: &BTreeMap<String, String>) {
    let mut conn = cluster.connection().await;
    let keys: Vec<&String> = acked.keys().collect();
    for chunk in keys.chunks(200) {
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query_async(&mut conn).await.unwrap();
        for (key, value) in chunk.iter().zip(values) {
            assert_eq!(value.as_ref(), acked.get(*key), "acknowledged write to {key} lost");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_kill_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let stream = WriteStream::start(&cluster, 4);
    eventually(Duration::from_secs(30), "writes before the kill", || async {
        (stream.acked_count() > 200).then_some(())
    })
    .await;
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(Some(leader)).await;
    assert_ne!(new_leader, leader);
    let before = stream.acked_count();
    eventually(Duration::from_secs(30), "writes after failover", || async {
        (stream.acked_count() > before + 200).then_some(())
    })
    .await;
    let acked = stream.finish().await;
    assert_all_readable(&cluster, &acked).await;
    // The old leader comes back as a follower and catches up.
    cluster.restart(leader);
    eventually(Duration::from_secs(30), "old leader to catch up", || async {
        let target = cluster.applied_index(new_leader).await?;
        let caught_up = cluster.applied_index(leader).await?;
        (caught_up >= target).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_cluster_restart_keeps_data() {
    let mut cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    for i in 0..100 {
        let _: () = redis::cmd("SET").arg(format!("persist:{i}")).arg(i).query_async(&mut conn).await.unwrap();
    }
    let _: () = redis::cmd("SET").arg("persist:ttl").arg("x").arg("EX").arg(1000).query_async(&mut conn).await.unwrap();
    let _: i64 = redis::cmd("INCRBY").arg("persist:counter").arg(41).query_async(&mut conn).await.unwrap();
    drop(conn);
    cluster.stop_gateway();
    for id in [1, 2, 3] {
        cluster.stop(id);
    }
    for id in [1, 2, 3] {
        cluster.restart(id);
    }
    cluster.start_gateway();
    cluster.wait_ready().await;
    let mut conn = cluster.connection().await;
    for i in 0..100 {
        let v: Option<i64> = redis::cmd("GET").arg(format!("persist:{i}")).query_async(&mut conn).await.unwrap();
        assert_eq!(v, Some(i));
    }
    let ttl: i64 = redis::cmd("TTL").arg("persist:ttl").query_async(&mut conn).await.unwrap();
    assert!(ttl > 900 && ttl <= 1000, "TTL survived the restart: {ttl}");
    let counter: i64 = redis::cmd("INCR").arg("persist:counter").query_async(&mut conn).await.unwrap();
    assert_eq!(counter, 42);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_minus_nine_everywhere_keeps_acknowledged_writes() {
    let mut cluster = Cluster::start().await;
    let stream = WriteStream::start(&cluster, 4);
    eventually(Duration::from_secs(30), "some writes", || async { (stream.acked_count() > 300).then_some(()) }).await;
    let acked = stream.finish().await;
    for id in [1, 2, 3] {
        cluster.kill(id);
    }
    for id in [1, 2, 3] {
        cluster.restart(id);
    }
    cluster.wait_ready().await;
    assert_all_readable(&cluster, &acked).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lagging_replica_catches_up_from_a_snapshot() {
    // Snapshot (and purge the log) every 50 entries, so a replica that misses hundreds of
    // writes can only catch up by installing a snapshot.
    let mut cluster = Cluster::start_with(&["--snapshot-after-entries", "50"], &[]).await;
    let leader = cluster.wait_for_leader(None).await;
    let lagger = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    cluster.stop(lagger);
    let mut conn = cluster.connection().await;
    for i in 0..600 {
        // One at a time: each write is its own Raft entry, so the log really moves on.
        let _: () = redis::cmd("SET").arg(format!("snap:{i}")).arg(i).query_async(&mut conn).await.unwrap();
    }
    cluster.restart(lagger);
    eventually(Duration::from_secs(60), "the lagging replica to catch up", || async {
        let target = cluster.applied_index(leader).await?;
        let applied = cluster.applied_index(lagger).await?;
        (applied >= target).then_some(())
    })
    .await;
    let installed = eventually(Duration::from_secs(5), "the metric to publish", || async {
        cluster.raft_metric(lagger, "snapshots_installed").await.filter(|n| *n > 0)
    })
    .await;
    assert!(installed >= 1, "caught up by a snapshot, not by replaying the log");
    // Now make the caught-up replica necessary for a quorum: it must hold the data.
    let third = [1, 2, 3].into_iter().find(|id| *id != leader && *id != lagger).unwrap();
    cluster.kill(third);
    let mut conn = cluster.connection().await;
    for i in (0..600).step_by(37) {
        let v: Option<i64> = redis::cmd("GET").arg(format!("snap:{i}")).query_async(&mut conn).await.unwrap();
        assert_eq!(v, Some(i));
    }
    cluster.kill(leader);
    cluster.restart(third);
    // With the old leader gone, the snapshot-installed replica and the restarted one elect a
    // leader between them and still serve everything.
    let mut conn = cluster.connection().await;
    let n: i64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert!(n >= 600, "DBSIZE {n}");
    let v: Option<i64> = redis::cmd("GET").arg("snap:599").query_async(&mut conn).await.unwrap();
    assert_eq!(v, Some(599));
}

/// A leader frozen past its lease and then resumed still believes it leads; it must not
/// answer a read from its stale state.
#[tokio::test(flavor = "multi_thread")]
async fn a_deposed_leader_never_serves_a_stale_read() {
    use strata_proto::core::{kv_client::KvClient, GetRequest, RangeEpoch, RequestHeader};

    let mut cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let _: () = redis::cmd("SET").arg("stale:key").arg("old").query_async(&mut conn).await.unwrap();
    let old_leader = cluster.wait_for_leader(None).await;
    // Warm the old leader's read lease, then freeze it.
    let _: Option<String> = redis::cmd("GET").arg("stale:key").query_async(&mut conn).await.unwrap();
    cluster.pause(old_leader, true);
    let new_leader = cluster.wait_for_leader(Some(old_leader)).await;
    assert_ne!(new_leader, old_leader);
    let _: () = redis::cmd("SET").arg("stale:key").arg("new").query_async(&mut conn).await.unwrap();
    cluster.pause(old_leader, false);

    // Ask the old leader directly, bypassing the gateway's routing.
    let mut client = KvClient::connect(format!("http://{}", cluster.core(old_leader).addr)).await.unwrap();
    let request = GetRequest {
        header: Some(RequestHeader { range_id: 1, epoch: Some(RangeEpoch { version: 1, conf_version: 1 }) }),
        keys: vec![bytes::Bytes::from_static(b"Rstale:key")],
        ..Default::default()
    };
    let response = client.get(request).await.unwrap().into_inner();
    match response.range_error {
        Some(_) => {} // refused: not leader any more
        None => {
            let state = &response.states[0];
            assert!(state.live && state.value.ends_with(b"new"), "a deposed leader served {:?}", state.value);
        }
    }
    cluster.kill(old_leader);
}

/// Read-modify-write commands stay exact under contention and across a leader kill: every
/// acknowledged INCR counts once, none twice (retried writes carry request ids).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_incr_counts_exactly_across_a_leader_kill() {
    let mut cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = cluster.redis_url();
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(&url).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                let r: redis::RedisResult<i64> = redis::cmd("INCR").arg("counter").query_async(&mut conn).await;
                match r {
                    Ok(_) => acked.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    eventually(Duration::from_secs(30), "INCRs before the kill", || async {
        (acked.load(Ordering::Relaxed) > 300).then_some(())
    })
    .await;
    cluster.kill(leader);
    let before = acked.load(Ordering::Relaxed);
    eventually(Duration::from_secs(30), "INCRs after the kill", || async {
        (acked.load(Ordering::Relaxed) > before + 300).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let mut conn = cluster.connection().await;
    let value: u64 = redis::cmd("GET").arg("counter").query_async(&mut conn).await.unwrap();
    let acked = acked.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    // A failed INCR may or may not have been applied (as with Redis over a broken
    // connection); an acknowledged one must be, exactly once.
    assert!(value >= acked && value <= acked + failed, "counter {value}, acked {acked}, failed {failed}");
}
