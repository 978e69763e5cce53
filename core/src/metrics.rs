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
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(entry_commands.clone()),
            Box::new(read_barrier_waiters.clone()),
            Box::new(raft.clone()),
            Box::new(gc_removed_versions.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Self { registry, requests, entry_commands, read_barrier_waiters, raft, gc_removed_versions }
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
