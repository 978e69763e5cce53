//! Prometheus metrics of a core node.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct CoreMetrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub entry_commands: Histogram,
    pub read_barrier_waiters: Histogram,
    pub raft: IntGaugeVec,
    pub gc_removed_versions: prometheus::IntCounter,
    /// Reads served, by range and by the role of this replica when it served them.
    pub reads: IntCounterVec,
    /// Bounded-staleness reads refused (the gateway then reads elsewhere), by reason.
    pub stale_reads_refused: IntCounterVec,
    /// How far behind this node's wall clock a closed timestamp was when it arrived.
    pub closed_ts_lag_ms: Histogram,
}

impl CoreMetrics {
    pub fn new(node_id: u64) -> Self {
        let registry =
            Registry::new_custom(Some("strata_core".into()), Some([("node".to_string(), node_id.to_string())].into()))
                .expect("valid registry");
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "KV requests served, by method and result"),
            &["method", "result"],
        )
        .expect("valid metric");
        let buckets = vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let entry_commands = Histogram::with_opts(
            HistogramOpts::new("raft_entry_commands", "Client writes batched into one Raft entry")
                .buckets(buckets.clone()),
        )
        .expect("valid metric");
        let read_barrier_waiters = Histogram::with_opts(
            HistogramOpts::new("read_barrier_waiters", "Reads sharing one ReadIndex round").buckets(buckets),
        )
        .expect("valid metric");
        let raft = IntGaugeVec::new(
            Opts::new(
                "raft_state",
                "Raft state per range: term, leader, last_log_index, applied_index, is_leader, snapshots_installed",
            ),
            &["range", "field"],
        )
        .expect("valid metric");
        let gc_removed_versions =
            prometheus::IntCounter::new("gc_removed_versions_total", "Old MVCC versions removed by GC")
                .expect("valid metric");
        let reads = IntCounterVec::new(
            Opts::new("reads_total", "Reads served (Get keys batches and scans), by range and role (leader, follower)"),
            &["range", "role"],
        )
        .expect("valid metric");
        let stale_reads_refused = IntCounterVec::new(
            Opts::new("stale_reads_refused_total", "Bounded-staleness reads refused, by reason"),
            &["reason"],
        )
        .expect("valid metric");
        let closed_ts_lag_ms = Histogram::with_opts(
            HistogramOpts::new("closed_ts_lag_ms", "Wall-clock age of closed timestamps when they arrive")
                .buckets(vec![5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0, 2000.0]),
        )
        .expect("valid metric");
        for m in [
            Box::new(reads.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(stale_reads_refused.clone()),
            Box::new(closed_ts_lag_ms.clone()),
            Box::new(requests.clone()),
            Box::new(entry_commands.clone()),
            Box::new(read_barrier_waiters.clone()),
            Box::new(raft.clone()),
            Box::new(gc_removed_versions.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            entry_commands,
            read_barrier_waiters,
            raft,
            gc_removed_versions,
            reads,
            stale_reads_refused,
            closed_ts_lag_ms,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            out = format!("# metrics encoding failed: {e}\n");
        }
        out
    }
}
