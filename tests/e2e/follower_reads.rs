//! Bounded-staleness reads (docs/follower-reads.md) against a real cluster through the public
//! gRPC API: they land on followers (asserted on the cores' and the gateway's metrics), never
//! return a value older than the bound allows while a writer runs, and keep being served
//! when the leader is killed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_proto::kv::raw_kv_client::RawKvClient;
use strata_proto::kv::*;
use tonic::transport::Channel;

use crate::cluster::{eventually, Cluster};

const MAX_STALENESS_MS: u64 = 500;

async fn raw_client(cluster: &Cluster) -> RawKvClient<Channel> {
    let channel = Channel::from_shared(cluster.grpc_url()).expect("url").connect().await.expect("connect");
    RawKvClient::new(channel)
}

/// The text of a core node's /metrics.
async fn core_metrics(addr: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        Some(out)
    };
    tokio::time::timeout(Duration::from_secs(2), fetch).await.ok()?
}

/// Sum of a metric's samples whose line contains every one of `labels`.
fn metric_sum(text: &str, name: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Reads served by `node`'s replica of range 1 in `role`, per its core metrics.
async fn reads_served(cluster: &Cluster, node: u64, role: &str) -> u64 {
    let role = format!("role=\"{role}\"");
    match core_metrics(&cluster.core(node).addr).await {
        Some(text) => metric_sum(&text, "strata_core_reads_total", &["range=\"1\"", &role]),
        None => 0,
    }
}

/// Writes acknowledged so far: (sequence number written, when the put returned).
type Acks = Arc<Mutex<Vec<(u64, Instant)>>>;

/// The newest sequence number whose write was acknowledged before `before` (0 = none).
fn newest_acked_before(acks: &Acks, before: Instant) -> u64 {
    let acks = acks.lock().unwrap();
    acks.iter().take_while(|(_, at)| *at < before).last().map_or(0, |(seq, _)| *seq)
}

/// How the leader is taken away midway.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// kill -9.
    Kill,
    /// SIGSTOP: the node keeps its connections open but never answers, like a partition.
    Freeze,
}

#[tokio::test(flavor = "multi_thread")]
async fn bounded_staleness_reads_land_on_followers_respect_the_bound_and_survive_a_leader_kill() {
    bounded_staleness_reads_under(Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bounded_staleness_reads_respect_the_bound_and_fail_over_when_the_leader_freezes() {
    bounded_staleness_reads_under(Fault::Freeze).await;
}

/// Resumes a frozen node when dropped, also when the test fails: a stopped process would
/// never act on the SIGTERM the cluster's teardown sends it.
struct Resume<'c> {
    cluster: &'c Cluster,
    node: u64,
}

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.cluster.pause(self.node, false);
    }
}

async fn bounded_staleness_reads_under(fault: Fault) {
    let mut cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let key = Bytes::from_static(b"follower-reads:register");

    // One writer stamps each value with a sequence number and records when it was acked.
    let acks: Acks = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut raw, acks, stop, key) = (raw_client(&cluster).await, acks.clone(), stop.clone(), key.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            while !stop.load(Ordering::Acquire) {
                seq += 1;
                let put = RawPutRequest { key: key.clone(), value: Bytes::from(seq.to_string()), ttl_ms: 0 };
                match raw.put(put).await {
                    Ok(_) => acks.lock().unwrap().push((seq, Instant::now())),
                    // Unknown outcome (leader killed mid-write): not counted as acknowledged.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
    };
    // Readers allow 500 ms of staleness: a value older than the newest write acknowledged
    // 500 ms before the read began is a violation.
    let reads_ok = Arc::new(AtomicU64::new(0));
    let reads_after_kill = Arc::new(AtomicU64::new(0));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut readers = Vec::new();
    for _ in 0..4 {
        let mut raw = raw_client(&cluster).await;
        let (acks, stop, key) = (acks.clone(), stop.clone(), key.clone());
        let (reads_ok, reads_after_kill, killed_at, violations) =
            (reads_ok.clone(), reads_after_kill.clone(), killed_at.clone(), violations.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let started = Instant::now();
                let request = RawGetRequest { key: key.clone(), max_staleness_ms: MAX_STALENESS_MS };
                let Ok(resp) = raw.get(request).await else { continue };
                let resp = resp.into_inner();
                let seen: u64 = if resp.found { String::from_utf8_lossy(&resp.value).parse().unwrap_or(0) } else { 0 };
                let required = newest_acked_before(&acks, started - Duration::from_millis(MAX_STALENESS_MS));
                if seen < required {
                    violations.lock().unwrap().push(format!("read {seen}, but {required} was acked 500 ms before"));
                }
                reads_ok.fetch_add(1, Ordering::Relaxed);
                if killed_at.lock().unwrap().is_some_and(|at| at.elapsed() > Duration::from_secs(2)) {
                    reads_after_kill.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // Reads spread over the replicas: followers serve some of them.
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|n| *n != leader).collect();
    eventually(Duration::from_secs(20), "followers to serve bounded-staleness reads", || async {
        let mut served = 0;
        for node in &followers {
            served += reads_served(&cluster, *node, "follower").await.min(1);
        }
        (served == followers.len() as u64).then_some(())
    })
    .await;
    let follower_reads_before_kill: u64 = {
        let mut total = 0;
        for node in &followers {
            total += reads_served(&cluster, *node, "follower").await;
        }
        total
    };
    assert!(follower_reads_before_kill > 0);

    // Take the leader away: stale reads keep being served (from the survivors) and never
    // break the bound.
    let _resume = match fault {
        Fault::Kill => {
            cluster.kill(leader);
            None
        }
        Fault::Freeze => {
            cluster.pause(leader, true);
            Some(Resume { cluster: &cluster, node: leader })
        }
    };
    *killed_at.lock().unwrap() = Some(Instant::now());
    let new_leader = cluster.wait_for_leader(Some(leader)).await;
    let acked_at_kill = acks.lock().unwrap().len();
    eventually(Duration::from_secs(30), "reads and writes to go on after the kill", || async {
        let writes_moved = acks.lock().unwrap().len() > acked_at_kill + 20;
        (writes_moved && reads_after_kill.load(Ordering::Relaxed) > 50).then_some(())
    })
    .await;
    let survivor = followers.iter().copied().find(|n| *n != new_leader).expect("a follower survives");
    eventually(Duration::from_secs(20), "the surviving follower to serve reads in the new term", || async {
        let before = reads_served(&cluster, survivor, "follower").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (reads_served(&cluster, survivor, "follower").await > before).then_some(())
    })
    .await;

    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    for reader in readers {
        reader.await.unwrap();
    }
    let violations = violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{} stale reads broke the bound, e.g. {:?}", violations.len(), violations.first());
    assert!(reads_ok.load(Ordering::Relaxed) > 100, "reads were served");
    // The gateway saw replicas other than the leader serve, per node.
    let served_nodes = {
        let text = {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", cluster.gateway_metrics_port)).await.unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        cluster
            .cores
            .iter()
            .filter(|c| {
                let node = format!("node=\"{}\"", c.addr);
                metric_sum(&text, "strata_gateway_stale_reads_total", &[&node, "outcome=\"served\""]) > 0
            })
            .count()
    };
    assert_eq!(served_nodes, 3, "the gateway spread bounded-staleness reads over every replica");
}

/// Without `max_staleness_ms`, reads stay linearizable: only the leader serves them.
#[tokio::test(flavor = "multi_thread")]
async fn reads_without_a_staleness_bound_are_served_by_the_leader_only() {
    let cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let mut raw = raw_client(&cluster).await;
    let key = Bytes::from_static(b"linearizable");
    raw.put(RawPutRequest { key: key.clone(), value: Bytes::from_static(b"v1"), ttl_ms: 0 }).await.unwrap();
    for _ in 0..50 {
        let resp = raw.get(RawGetRequest { key: key.clone(), max_staleness_ms: 0 }).await.unwrap().into_inner();
        assert_eq!(resp.value, Bytes::from_static(b"v1"));
    }
    for node in [1, 2, 3] {
        assert_eq!(reads_served(&cluster, node, "follower").await, 0, "node {node} served no follower read");
    }
    assert!(reads_served(&cluster, leader, "leader").await >= 50);

    // A bounded-staleness scan sees the write too, served wherever.
    let scan =
        RawScanRequest { start: Bytes::new(), end: Bytes::new(), limit: 10, reverse: false, max_staleness_ms: 5_000 };
    let found = eventually(Duration::from_secs(10), "a bounded-staleness scan to see the write", || {
        let (mut raw, scan) = (raw.clone(), scan.clone());
        async move {
            let pairs = raw.scan(scan).await.ok()?.into_inner().pairs;
            pairs.iter().any(|p| p.key == b"linearizable"[..]).then_some(pairs.len())
        }
    })
    .await;
    assert!(found >= 1);
}

/// Total follower reads of range 1 over the live nodes.
async fn follower_reads_total(cluster: &Cluster) -> u64 {
    let mut total = 0;
    for node in [1, 2, 3] {
        total += reads_served(cluster, node, "follower").await;
    }
    total
}

/// RESP: the gateway default makes new connections read with bounded staleness; READWRITE
/// turns it off, READONLY and CLIENT STALENESS back on, and such GETs land on followers.
#[tokio::test(flavor = "multi_thread")]
async fn resp_connections_read_from_followers_per_gateway_default_and_client_staleness() {
    let cluster = Cluster::start_with(&[], &["--redis-max-staleness-ms", "500"]).await;
    let mut conn = cluster.connection().await;
    let bound: u64 = redis::cmd("CLIENT").arg("STALENESS").query_async(&mut conn).await.unwrap();
    assert_eq!(bound, 500, "the gateway default");
    let _: () = redis::cmd("SET").arg("resp:key").arg("v1").query_async(&mut conn).await.unwrap();

    // READWRITE: linearizable, so the value just written is read, and only by the leader.
    let ok: String = redis::cmd("READWRITE").query_async(&mut conn).await.unwrap();
    assert_eq!(ok, "OK");
    let before = follower_reads_total(&cluster).await;
    for _ in 0..30 {
        let v: String = redis::cmd("GET").arg("resp:key").query_async(&mut conn).await.unwrap();
        assert_eq!(v, "v1");
    }
    assert_eq!(follower_reads_total(&cluster).await, before, "READWRITE reads stay on the leader");
    let bound: u64 = redis::cmd("CLIENT").arg("STALENESS").query_async(&mut conn).await.unwrap();
    assert_eq!(bound, 0);

    // READONLY (with the connection's 500 ms bound): GET and MGET spread over the replicas.
    let ok: String = redis::cmd("READONLY").query_async(&mut conn).await.unwrap();
    assert_eq!(ok, "OK");
    eventually(Duration::from_secs(20), "READONLY GETs to be served by followers", || {
        let mut conn = conn.clone();
        let cluster = &cluster;
        async move {
            for _ in 0..20 {
                let v: Option<String> = redis::cmd("GET").arg("resp:key").query_async(&mut conn).await.ok()?;
                // Within the bound the write is visible or not yet; never anything else.
                assert!(v.is_none() || v.as_deref() == Some("v1"), "{v:?}");
                let _: Vec<Option<String>> =
                    redis::cmd("MGET").arg("resp:key").arg("resp:other").query_async(&mut conn).await.ok()?;
            }
            (follower_reads_total(cluster).await > before).then_some(())
        }
    })
    .await;

    // A write acknowledged more than the bound ago is always seen.
    let _: () = redis::cmd("SET").arg("resp:key").arg("v2").query_async(&mut conn).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..30 {
        let v: String = redis::cmd("GET").arg("resp:key").query_async(&mut conn).await.unwrap();
        assert_eq!(v, "v2", "a write acknowledged 600 ms ago is within a 500 ms bound");
    }
    let err = redis::cmd("CLIENT").arg("STALENESS").arg("soon").query_async::<String>(&mut conn).await.unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
}
