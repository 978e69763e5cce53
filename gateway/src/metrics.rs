//! Prometheus metrics of a gateway.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct GatewayMetrics {
    pub registry: Registry,
    pub connections: IntGauge,
    pub commands: IntCounterVec,
    pub route_refreshes: IntCounter,
    pub retries: IntCounterVec,
    pub core_transport_errors: IntCounter,
    pub refused: IntCounterVec,
    pub breaker_open: prometheus::IntGaugeVec,
    pub breaker_trips: IntCounterVec,
    pub breaker_rejections: IntCounter,
    pub core_rpcs: IntCounterVec,
    pub catalog_version: IntGauge,
    pub catalog_resets: IntCounter,
    pub catalog_reconnects: IntCounter,
    pub catalog_deltas_applied: IntCounter,
    pub txns: IntCounterVec,
    pub locks_resolved: IntCounterVec,
    pub grpc_requests: IntCounterVec,
    pub grpc_open_txns: IntGauge,
    pub collection_gc_passes: IntCounterVec,
    pub collection_gc_orphaned_versions: IntCounter,
    /// Bounded-staleness read attempts by core node and outcome (served, refused, error).
    pub stale_reads: IntCounterVec,
    /// Bounded-staleness reads no replica could serve within the bound: read at the leader.
    pub stale_read_fallbacks: IntCounter,
}

impl GatewayMetrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("strata_gateway".into()), None).expect("valid registry");
        let connections = IntGauge::new("redis_connections", "Open RESP connections").expect("valid metric");
        let commands = IntCounterVec::new(Opts::new("redis_commands_total", "RESP commands by outcome"), &["outcome"])
            .expect("valid metric");
        let route_refreshes =
            IntCounter::new("route_refreshes_total", "Waits for a newer route table after a routing error")
                .expect("valid metric");
        let retries = IntCounterVec::new(
            Opts::new("core_retries_total", "Core calls retried after a routing error"),
            &["method"],
        )
        .expect("valid metric");
        let core_transport_errors =
            IntCounter::new("core_transport_errors_total", "Core calls that failed in transport")
                .expect("valid metric");
        let refused = IntCounterVec::new(
            Opts::new("commands_refused_total", "Commands refused by rate limits or the in-flight bound"),
            &["reason"],
        )
        .expect("valid metric");
        let breaker_open = prometheus::IntGaugeVec::new(
            Opts::new("breaker_open", "1 while the range's leader-proxy circuit breaker is open"),
            &["range"],
        )
        .expect("valid metric");
        let breaker_trips =
            IntCounterVec::new(Opts::new("breaker_trips_total", "Times a range's breaker opened"), &["range"])
                .expect("valid metric");
        let breaker_rejections = IntCounter::new("breaker_rejections_total", "Requests failed fast by an open breaker")
            .expect("valid metric");
        let core_rpcs = IntCounterVec::new(Opts::new("core_rpcs_total", "Batch RPCs sent, by core node"), &["node"])
            .expect("valid metric");
        let catalog_version =
            IntGauge::new("catalog_version", "Version of the route catalog applied").expect("valid metric");
        let catalog_resets =
            IntCounter::new("catalog_resets_total", "Full catalog resets applied").expect("valid metric");
        let catalog_reconnects =
            IntCounter::new("catalog_reconnects_total", "Catalog watch streams reopened").expect("valid metric");
        let catalog_deltas_applied =
            IntCounter::new("catalog_deltas_applied_total", "Catalog deltas applied").expect("valid metric");
        let txns = IntCounterVec::new(
            Opts::new("txn_commits_total", "Transaction commits by path (1pc, 2pc) and outcome"),
            &["path", "outcome"],
        )
        .expect("valid metric");
        let locks_resolved = IntCounterVec::new(
            Opts::new("locks_resolved_total", "Transaction locks met and how they were settled"),
            &["fate"],
        )
        .expect("valid metric");
        let grpc_requests = IntCounterVec::new(
            Opts::new("grpc_requests_total", "Calls of the public gRPC API (RawKV, TxnKV) by method and status code"),
            &["method", "code"],
        )
        .expect("valid metric");
        let grpc_open_txns =
            IntGauge::new("grpc_open_txns", "TxnKV transactions open on this gateway").expect("valid metric");
        let collection_gc_passes = IntCounterVec::new(
            Opts::new("collection_gc_passes_total", "Garbage-collection passes over collection sub-keys, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let collection_gc_orphaned_versions = IntCounter::new(
            "collection_gc_orphaned_versions_total",
            "Versions of deleted, expired or overwritten collections whose sub-keys were removed",
        )
        .expect("valid metric");
        let stale_reads = IntCounterVec::new(
            Opts::new("stale_reads_total", "Bounded-staleness read attempts, by core node and outcome"),
            &["node", "outcome"],
        )
        .expect("valid metric");
        let stale_read_fallbacks = IntCounter::new(
            "stale_read_fallbacks_total",
            "Bounded-staleness reads no replica served within the bound (read at the leader instead)",
        )
        .expect("valid metric");
        for m in [
            Box::new(stale_reads.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(stale_read_fallbacks.clone()),
            Box::new(collection_gc_passes.clone()),
            Box::new(collection_gc_orphaned_versions.clone()),
            Box::new(txns.clone()),
            Box::new(grpc_requests.clone()),
            Box::new(grpc_open_txns.clone()),
            Box::new(locks_resolved.clone()),
            Box::new(catalog_version.clone()),
            Box::new(catalog_resets.clone()),
            Box::new(catalog_reconnects.clone()),
            Box::new(catalog_deltas_applied.clone()),
            Box::new(refused.clone()),
            Box::new(breaker_open.clone()),
            Box::new(breaker_trips.clone()),
            Box::new(breaker_rejections.clone()),
            Box::new(core_rpcs.clone()),
            Box::new(connections.clone()),
            Box::new(commands.clone()),
            Box::new(route_refreshes.clone()),
            Box::new(retries.clone()),
            Box::new(core_transport_errors.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Self {
            registry,
            connections,
            commands,
            route_refreshes,
            retries,
            core_transport_errors,
            refused,
            breaker_open,
            breaker_trips,
            breaker_rejections,
            core_rpcs,
            catalog_version,
            catalog_resets,
            catalog_reconnects,
            catalog_deltas_applied,
            txns,
            locks_resolved,
            grpc_requests,
            grpc_open_txns,
            collection_gc_passes,
            collection_gc_orphaned_versions,
            stale_reads,
            stale_read_fallbacks,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            out = format!("# metrics encoding failed: {e}\n");
        }
        out
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}
