//! The core's routing checks, seen from a raw gRPC client: every request names its range
//! and epoch, and the core answers typed errors the gateway uses to refresh its routes.

use bytes::Bytes;
use strata_proto::core::{
    kv_client::KvClient, mutation, range_error::Kind, GetRequest, Mutation, Put, RangeEpoch, RequestHeader,
    WriteRequest,
};

use crate::cluster::Cluster;

fn header(range_id: u64, version: u64) -> Option<RequestHeader> {
    Some(RequestHeader { range_id, epoch: Some(RangeEpoch { version, conf_version: 1 }) })
}

fn put(key: &'static [u8]) -> Mutation {
    Mutation {
        op: Some(mutation::Op::Put(Put {
            key: Bytes::from_static(key),
            value: Bytes::from_static(b"v"),
            expiry: None,
        })),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_epochs_and_unknown_ranges_get_typed_errors_and_change_nothing() {
    let cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let mut client = KvClient::connect(format!("http://{}", cluster.core(leader).addr)).await.unwrap();

    let stale = WriteRequest { header: header(1, 0), mutations: vec![put(b"epoch:key")], ..Default::default() };
    let resp = client.write(stale).await.unwrap().into_inner();
    match resp.range_error.and_then(|e| e.kind) {
        Some(Kind::EpochNotMatch(m)) => {
            let current = &m.current_ranges[0];
            assert_eq!(current.range_id, 1);
            assert_eq!(current.epoch.unwrap().version, 1, "the error carries the current descriptor");
            assert_eq!(current.leader_node_id, leader);
            assert!(current.leader_term >= 1);
        }
        other => panic!("expected EpochNotMatch, got {other:?}"),
    }
    let unknown =
        GetRequest { header: header(99, 1), keys: vec![Bytes::from_static(b"epoch:key")], ..Default::default() };
    let resp = client.get(unknown).await.unwrap().into_inner();
    assert!(matches!(resp.range_error.and_then(|e| e.kind), Some(Kind::RangeNotFound(r)) if r.range_id == 99));

    // A follower names the leader (and its term) instead of serving the write.
    let mut at_follower = KvClient::connect(format!("http://{}", cluster.core(follower).addr)).await.unwrap();
    let write = WriteRequest { header: header(1, 1), mutations: vec![put(b"epoch:key")], ..Default::default() };
    let resp = at_follower.write(write).await.unwrap().into_inner();
    match resp.range_error.and_then(|e| e.kind) {
        Some(Kind::NotLeader(nl)) => {
            assert_eq!(nl.leader_node_id, leader);
            assert_eq!(nl.leader_addr, cluster.core(leader).addr);
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }

    // None of the refused writes happened.
    let check = GetRequest { header: header(1, 1), keys: vec![Bytes::from_static(b"epoch:key")], ..Default::default() };
    let resp = client.get(check).await.unwrap().into_inner();
    assert!(resp.range_error.is_none());
    assert!(!resp.states[0].live, "no refused write was applied");
}

/// Reads one counter or gauge from the gateway's /metrics (summing label sets that match).
pub async fn gateway_metric(cluster: &Cluster, name: &str, label: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", cluster.gateway_metrics_port)).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Kill the leader under load: the breaker for its leadership opens, the RPCs the gateway
/// sends to the dead node stay few, and traffic recovers once a new leader is elected.
#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_bounds_retries_to_a_dead_leader_and_traffic_recovers() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::cluster::{connect, eventually};

    let mut cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let dead_addr = cluster.core(leader).addr.clone();
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (url, acked, stop) = (cluster.redis_url(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut conn = connect(&url).await.unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r: redis::RedisResult<()> =
                    redis::cmd("SET").arg(format!("b{w}:{i}")).arg(i).query_async(&mut conn).await;
                if r.is_ok() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    eventually(Duration::from_secs(30), "writes before the kill", || async {
        (acked.load(Ordering::Relaxed) > 200).then_some(())
    })
    .await;
    let label = format!("node=\"{dead_addr}\"");
    let rpcs_before = gateway_metric(&cluster, "strata_gateway_core_rpcs_total", &label).await;
    cluster.kill(leader);
    cluster.wait_for_leader(Some(leader)).await;
    let before = acked.load(Ordering::Relaxed);
    eventually(Duration::from_secs(30), "traffic to recover", || async {
        (acked.load(Ordering::Relaxed) > before + 200).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let rpcs_to_dead = gateway_metric(&cluster, "strata_gateway_core_rpcs_total", &label).await - rpcs_before;
    let trips = gateway_metric(&cluster, "strata_gateway_breaker_trips_total", "range=\"1\"").await;
    let open = gateway_metric(&cluster, "strata_gateway_breaker_open", "range=\"1\"").await;
    eprintln!("breaker test: {rpcs_to_dead} RPCs to the dead leader, {trips} trips");
    // The breaker trips after 3 failures in a row per kind of batch (gets, writes); when the
    // gateway learns of the new leader before that (its routes refresh from the catalog
    // stream), it never needs to, and fewer RPCs reached the dead node.
    assert!(trips >= 1 || rpcs_to_dead < 2 * 3, "{rpcs_to_dead} RPCs to the dead leader and the breaker never opened");
    assert_eq!(open, 0, "and closed again for the new leader");
    // Threshold (3) plus one probe per backoff step (100, 200, 400, 800 ms, 2 s, ...) during
    // the election, per kind of batch (gets and writes), with slack for scheduling.
    assert!(rpcs_to_dead <= 15, "{rpcs_to_dead} RPCs went to the dead leader");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctl_ranges_lists_the_catalog() {
    // No collection GC: its scans would wake the idle range this test needs.
    let cluster = Cluster::start_with(&[], &["--collection-gc-ms", "0"]).await;
    let leader = cluster.wait_for_leader(None).await;
    cluster.wait_for_catalog(1).await;
    let core = cluster.cores.iter().map(|c| c.addr.clone()).collect::<Vec<_>>().join(",");
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(crate::cluster::STRATA).args(["ctl", "--core", &core]).args(args).output();
        let out = out.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let text = ctl(&["ranges"]);
    let row = text.lines().find(|l| l.starts_with("1 ")).unwrap_or_else(|| panic!("no row for range 1: {text}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&fields[..4], &["1", "-inf", "+inf", "1.1"], "{row}");
    assert!(fields[4].starts_with(&format!("{leader}@{}", cluster.core(leader).addr)), "{row}");
    assert!(fields[6].parse::<u64>().is_ok(), "size column: {row}");
    assert_eq!(fields[7].split(',').count(), 3, "three replicas: {row}");

    // `ctl split` cuts the range; the catalog then lists both halves.
    let out = ctl(&["split", "--key", "m"]);
    assert!(out.contains("range 1 [-inf, m) epoch 2.1"), "{out}");
    cluster.wait_for_catalog(2).await;
    let text = ctl(&["ranges"]);
    let rows: Vec<Vec<&str>> = text.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(&rows[0][1..4], &["-inf", "m", "2.1"], "{text}");
    assert_eq!(&rows[1][1..4], &["m", "+inf", "2.1"], "{text}");

    // `ctl campaign` moves the leadership of an idle range to a node of our choosing. (A busy
    // leader keeps its followers' vote leases fresh, and openraft 0.9 has no transfer call.)
    // Range 2 `[m, +inf)` holds only Redis keys, which nobody touches here; range 1 holds the
    // gateways' pub/sub leases, renewed every few seconds, so it may never fall idle.
    let leader_of_2 = || async {
        for core in &cluster.cores {
            if cluster.range_metric(core.id, 2, "is_leader").await == Some(1) {
                return Some(core.id);
            }
        }
        None
    };
    let leader =
        crate::cluster::eventually(std::time::Duration::from_secs(30), "a leader for range 2", leader_of_2).await;
    crate::cluster::eventually(std::time::Duration::from_secs(30), "range 2 to hibernate", || async {
        (cluster.range_metric(leader, 2, "hibernating").await? == 1).then_some(())
    })
    .await;
    let target = cluster.cores.iter().map(|c| c.id).find(|id| *id != leader).expect("a follower");
    let out = ctl(&["campaign", "--key", "n", "--node", &cluster.core(target).addr]);
    assert!(out.contains("campaigns for range 2"), "{out}");
    crate::cluster::eventually(std::time::Duration::from_secs(30), "the chosen node to lead range 2", || async {
        (cluster.range_metric(target, 2, "is_leader").await? == 1).then_some(())
    })
    .await;
}
