//! A core node: opens the storage engine, starts the replicas it hosts, and serves the KV
//! API, the Raft transport, `/metrics` and `/healthz` on one listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use bytes::Bytes;
use strata_proto::core::kv_server::KvServer;
use strata_proto::core::raft_transport_server::RaftTransportServer;
use tokio::net::TcpListener;

use crate::gc;
use crate::metrics::CoreMetrics;
use crate::raft::log_store::LogStore;
use crate::raft::network::{NetworkFactory, PeerChannels};
use crate::raft::state_machine::StateMachine;
use crate::raft::types::{NodeId, Raft, RangeDescriptor};
use crate::replica::{initial_members, Replica};
use crate::service::{KvService, RaftService, Replicas};
use crate::storage::Engine;

/// The first range covers the whole keyspace until splits exist.
pub const FIRST_RANGE_ID: u64 = 1;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// Address to bind.
    pub listen: SocketAddr,
    /// Address peers and gateways use to reach this node (defaults to `listen`).
    pub advertise: String,
    pub data_dir: PathBuf,
    /// Every voter of the initial cluster, this node included: `(node id, address)`.
    pub peers: Vec<(NodeId, String)>,
    pub raft: RaftTiming,
    pub gc_interval: Duration,
    pub gc_retention: Duration,
    pub expiry_sweep_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and purge the log) after this many applied entries.
    pub snapshot_after_entries: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_timeout_min_ms: 700,
            election_timeout_max_ms: 1400,
            snapshot_after_entries: 20_000,
        }
    }
}

pub struct Node {
    pub config: NodeConfig,
    pub engine: Engine,
    pub replicas: Replicas,
    pub metrics: CoreMetrics,
}

impl Node {
    pub async fn open(config: NodeConfig) -> anyhow::Result<Arc<Self>> {
        let engine = Engine::open(&config.data_dir.join("db"))?;
        let metrics = CoreMetrics::new(config.node_id);
        let node = Arc::new(Self { config, engine, replicas: Replicas::default(), metrics });
        let first = RangeDescriptor {
            range_id: FIRST_RANGE_ID,
            start_key: Bytes::new(),
            end_key: Bytes::new(),
            epoch_version: 1,
            conf_version: 1,
            replicas: node.config.peers.clone(),
        };
        node.start_replica(first).await?;
        Ok(node)
    }

    async fn start_replica(&self, initial: RangeDescriptor) -> anyhow::Result<()> {
        let range_id = initial.range_id;
        let timing = &self.config.raft;
        let raft_config = openraft::Config {
            cluster_name: format!("strata-range-{range_id}"),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_timeout_min_ms,
            election_timeout_max: timing.election_timeout_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(timing.snapshot_after_entries),
            // Keep some log after a snapshot for followers that are only slightly behind.
            max_in_snapshot_log_to_keep: (timing.snapshot_after_entries / 2).min(1_000),
            max_payload_entries: 64,
            ..Default::default()
        }
        .validate()?;
        let snapshot_dir = self.config.data_dir.join("snapshots");
        let state_machine = StateMachine::open(self.engine.clone(), initial.clone(), snapshot_dir)?;
        let applied = state_machine.shared();
        let log_store = LogStore::new(self.engine.clone(), range_id);
        let network = NetworkFactory { channels: PeerChannels::default(), range_id };
        let raft = Raft::new(self.config.node_id, Arc::new(raft_config), network, log_store, state_machine).await?;
        // Only the founding node with the smallest id bootstraps the group: if every founder
        // initialized, all would campaign at once in term 1, split the vote and force a
        // second election a second later. The others join when it contacts them.
        let bootstrapper = initial.replicas.iter().map(|(id, _)| *id).min();
        if bootstrapper == Some(self.config.node_id) && !raft.is_initialized().await? {
            if let Err(e) = raft.initialize(initial_members(&initial.replicas)).await {
                tracing::info!(range_id, error = %e, "initialize skipped");
            }
        }
        let election_timeout_min = Duration::from_millis(timing.election_timeout_min_ms);
        let replica = Replica::start(
            self.config.node_id,
            self.engine.clone(),
            raft,
            applied,
            self.metrics.clone(),
            election_timeout_min,
        );
        self.replicas.insert(replica);
        Ok(())
    }

    /// Serves until `shutdown` resolves, then stops Raft cleanly.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let kv = KvService {
            node_id: self.config.node_id,
            addr: self.config.advertise.clone(),
            replicas: self.replicas.clone(),
            metrics: self.metrics.clone(),
        };
        let raft = RaftService { replicas: self.replicas.clone() };
        let grpc = tonic::service::Routes::new(
            KvServer::new(kv).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX),
        )
        .add_service(
            RaftTransportServer::new(raft).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX),
        )
        .into_axum_router();
        let metrics = self.metrics.clone();
        let health_replicas = self.replicas.clone();
        let router = grpc
            .route(
                "/metrics",
                get(move || {
                    let metrics = metrics.clone();
                    async move { metrics.render() }
                }),
            )
            .route(
                "/healthz",
                get(move || {
                    let replicas = health_replicas.clone();
                    async move { health(&replicas) }
                }),
            );

        let background = [
            tokio::spawn(gc::expiry_sweeper(
                self.engine.clone(),
                self.replicas.clone(),
                self.config.expiry_sweep_interval,
            )),
            tokio::spawn(gc::version_gc(
                self.engine.clone(),
                self.metrics.clone(),
                self.config.gc_interval,
                self.config.gc_retention,
            )),
            tokio::spawn(publish_raft_metrics(self.replicas.clone(), self.metrics.clone())),
        ];
        // Without TCP_NODELAY, small gRPC replies wait for delayed ACKs (~40 ms stalls).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
        for task in background {
            task.abort();
        }
        for replica in self.replicas.all() {
            let _ = replica.raft.shutdown().await;
        }
        result?;
        Ok(())
    }
}

fn health(replicas: &Replicas) -> (axum::http::StatusCode, String) {
    let mut lines = Vec::new();
    let mut healthy = true;
    for r in replicas.all() {
        let m = r.raft.metrics().borrow().clone();
        healthy &= m.current_leader.is_some();
        lines.push(format!(
            "range {} state {:?} term {} leader {:?}",
            r.range_id(),
            m.state,
            m.current_term,
            m.current_leader
        ));
    }
    let status = if healthy { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, lines.join("\n") + "\n")
}

async fn publish_raft_metrics(replicas: Replicas, metrics: CoreMetrics) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        for r in replicas.all() {
            let m = r.raft.metrics().borrow().clone();
            let range = r.range_id().to_string();
            let set = |field: &str, v: u64| metrics.raft.with_label_values(&[range.as_str(), field]).set(v as i64);
            set("term", m.current_term);
            set("leader", m.current_leader.unwrap_or(0));
            set("is_leader", (m.current_leader == Some(r.node_id)) as u64);
            set("last_log_index", m.last_log_index.unwrap_or(0));
            set("applied_index", m.last_applied.map(|l| l.index).unwrap_or(0));
            set("snapshots_installed", r.applied.snapshots_installed.load(std::sync::atomic::Ordering::Relaxed));
        }
    }
}
