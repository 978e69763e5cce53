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

use strata_proto::core::catalog_server::CatalogServer;
use tokio::sync::{mpsc, watch, Notify};

use crate::catalog::client::MetaClient;
use crate::catalog::service::CatalogService;
use crate::gc;
use crate::metrics::CoreMetrics;
use crate::raft::log_store::{decode, LogStore};
use crate::raft::network::{NetworkFactory, PeerChannels};
use crate::raft::state_machine::{NodeHooks, RangeEvent, StateMachine};
use crate::raft::types::{NodeId, Raft, RangeDescriptor, META_RANGE_ID};
use crate::replica::{initial_members, Replica};
use crate::service::{KvService, RaftService, Replicas};
use crate::split::SplitPolicy;
use crate::storage::{keys, Engine, CF_RANGE_META};

/// The founding data range: it covers the whole keyspace until the first split.
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
    /// Catalog deltas the meta range keeps for watchers that fall behind.
    pub catalog_delta_window: u64,
    /// How often leaders report their ranges to the catalog (changes only).
    pub report_interval: Duration,
    pub split: SplitPolicy,
    /// Let a range's group go quiet after this long without client requests (None = never).
    pub hibernate_after: Option<Duration>,
    /// How often range leaders close a timestamp for follower reads (None = never).
    pub closed_ts_interval: Option<Duration>,
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
    pub meta_client: MetaClient,
    hooks: NodeHooks,
    channels: PeerChannels,
    catalog_version: watch::Receiver<u64>,
    /// Wakes the range reporter (after a split or a leadership change).
    report_now: Arc<Notify>,
    /// Serialises replica creation, so a range is never started twice.
    creating: tokio::sync::Mutex<()>,
}

impl Node {
    pub async fn open(config: NodeConfig) -> anyhow::Result<Arc<Self>> {
        let engine = Engine::open(&config.data_dir.join("db"))?;
        let metrics = CoreMetrics::new(config.node_id);
        let (events, events_rx) = mpsc::unbounded_channel();
        let (version_tx, catalog_version) = watch::channel(crate::catalog::store::version(engine.db())?);
        let hooks =
            NodeHooks { events, catalog_window: config.catalog_delta_window, catalog_version: Arc::new(version_tx) };
        let replicas = Replicas::default();
        let channels = PeerChannels::default();
        let node = Arc::new(Self {
            meta_client: MetaClient::new(replicas.clone(), channels.clone()),
            config,
            engine,
            replicas,
            metrics,
            hooks,
            channels,
            catalog_version,
            report_now: Arc::new(Notify::new()),
            creating: tokio::sync::Mutex::new(()),
        });
        let founding = |range_id| RangeDescriptor {
            range_id,
            start_key: Bytes::new(),
            end_key: Bytes::new(),
            epoch_version: 1,
            conf_version: 1,
            replicas: node.config.peers.clone(),
        };
        node.start_replica(founding(META_RANGE_ID), Start::Founding).await?;
        node.start_replica(founding(FIRST_RANGE_ID), Start::Founding).await?;
        for desc in persisted_descriptors(&node.engine)? {
            if node.replicas.get(desc.range_id).is_none() {
                node.start_replica(desc, Start::Persisted).await?;
            }
        }
        tokio::spawn(handle_events(Arc::downgrade(&node), events_rx));
        Ok(node)
    }

    async fn start_replica(&self, initial: RangeDescriptor, start: Start) -> anyhow::Result<Arc<Replica>> {
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
        let persist = start == Start::Founding;
        let state_machine =
            StateMachine::open(self.engine.clone(), initial.clone(), persist, snapshot_dir, self.hooks.clone())?;
        let applied = state_machine.shared();
        let log_store = LogStore::new(self.engine.clone(), range_id);
        let network = NetworkFactory { channels: self.channels.clone(), range_id, shared: applied.clone() };
        let raft = Raft::new(self.config.node_id, Arc::new(raft_config), network, log_store, state_machine).await?;
        // Only the founding node with the smallest id bootstraps a founding group: if every
        // founder initialized, all would campaign at once in term 1, split the vote and force
        // a second election a second later. The others join when it contacts them.
        let bootstrapper = initial.replicas.iter().map(|(id, _)| *id).min();
        if start == Start::Founding && bootstrapper == Some(self.config.node_id) && !raft.is_initialized().await? {
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
            self.meta_client.clone(),
        );
        self.replicas.insert(range_id, replica.clone());
        Ok(replica)
    }

    /// The replica a Raft message for `range_id` is meant for, creating an empty one (filled
    /// later by a snapshot) if this node should hold it but missed the split that made it.
    /// While a range of ours still covers the message's bounds, the split is yet to apply
    /// here and will create the replica with its proper starting state.
    pub async fn replica_for_message(&self, range_id: u64, start: &[u8], end: &[u8]) -> Option<Arc<Replica>> {
        if let Some(r) = self.replicas.get(range_id) {
            return Some(r);
        }
        let _creating = self.creating.lock().await;
        if let Some(r) = self.replicas.get(range_id) {
            return Some(r);
        }
        if range_id == META_RANGE_ID || self.replicas.all().iter().any(|r| r.descriptor().overlaps(start, end)) {
            return None;
        }
        let placeholder = RangeDescriptor {
            range_id,
            start_key: Bytes::copy_from_slice(start),
            end_key: Bytes::copy_from_slice(end),
            ..Default::default()
        };
        tracing::info!(range_id, "creating an empty replica to receive a snapshot");
        self.start_replica(placeholder, Start::Empty).await.ok()
    }

    pub fn channels(&self) -> &PeerChannels {
        &self.channels
    }

    async fn on_split(&self, parent: RangeDescriptor, child: RangeDescriptor) {
        let replica = {
            let _creating = self.creating.lock().await;
            match self.replicas.get(child.range_id) {
                Some(r) => r,
                None => match self.start_replica(child.clone(), Start::Persisted).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(range_id = child.range_id, error = %e, "could not start split child");
                        return;
                    }
                },
            }
        };
        // The parent's leader campaigns for the child at once; waiting for an election
        // timeout would leave the child's keys unavailable for a second.
        let parent_leader = self.replicas.get(parent.range_id).and_then(|p| p.leader()).map(|(id, _)| id);
        if parent_leader == Some(self.config.node_id) {
            let _ = replica.raft.trigger().elect().await;
        }
        self.report_now.notify_one();
    }

    /// Serves until `shutdown` resolves, then stops Raft cleanly.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let kv = KvService { node: self.clone() };
        let raft = RaftService { node: self.clone() };
        let catalog = CatalogService {
            node_id: self.config.node_id,
            replicas: self.replicas.clone(),
            version: self.catalog_version.clone(),
        };
        let grpc = tonic::service::Routes::new(
            KvServer::new(kv).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX),
        )
        .add_service(
            RaftTransportServer::new(raft).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX),
        )
        .add_service(CatalogServer::new(catalog).max_encoding_message_size(usize::MAX))
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
            tokio::spawn(crate::catalog::reporter::report_loop(
                self.config.node_id,
                self.replicas.clone(),
                self.meta_client.clone(),
                self.report_now.clone(),
                self.config.report_interval,
            )),
            tokio::spawn(crate::split::auto_split(self.clone(), self.config.split.clone())),
        ];
        let hibernation = self
            .config
            .hibernate_after
            .map(|after| tokio::spawn(crate::hibernate::hibernate_loop(self.clone(), after)));
        let closing = self
            .config
            .closed_ts_interval
            .map(|interval| tokio::spawn(crate::closed_ts::publish_loop(self.clone(), interval)));
        // Without TCP_NODELAY, small gRPC replies wait for delayed ACKs (~40 ms stalls).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
        for task in background.into_iter().chain(hibernation).chain(closing) {
            task.abort();
        }
        for replica in self.replicas.all() {
            let _ = replica.raft.shutdown().await;
        }
        result?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A range every founding node creates (the meta range and the first data range).
    Founding,
    /// A range whose state is on disk (after a restart, or seeded by a split).
    Persisted,
    /// An empty replica waiting for a snapshot.
    Empty,
}

/// Descriptors of every range with state on this node.
fn persisted_descriptors(engine: &Engine) -> anyhow::Result<Vec<RangeDescriptor>> {
    let mut out = Vec::new();
    for item in engine.db().iterator_cf(engine.cf(CF_RANGE_META), rocksdb::IteratorMode::Start) {
        let (k, v) = item?;
        if k.len() == 8 + keys::DESCRIPTOR.len() && k.ends_with(keys::DESCRIPTOR.as_bytes()) {
            out.push(decode::<RangeDescriptor>(&v)?);
        }
    }
    Ok(out)
}

async fn handle_events(node: std::sync::Weak<Node>, mut events: mpsc::UnboundedReceiver<RangeEvent>) {
    while let Some(event) = events.recv().await {
        let Some(node) = node.upgrade() else { return };
        match event {
            RangeEvent::Split { parent, child } => node.on_split(parent, child).await,
        }
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
            set("hibernating", r.quiet.hibernating.load(std::sync::atomic::Ordering::Relaxed) as u64);
            set("snapshots_installed", r.applied.snapshots_installed.load(std::sync::atomic::Ordering::Relaxed));
        }
    }
}
