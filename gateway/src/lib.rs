//! Strata's stateless gateway: it speaks client protocols (RESP, and the public gRPC
//! key-value API in [`grpc_api`]; S3 later), routes each request to the range that owns the
//! key, and forwards it to that range's leader in the core. Any number of gateways can run
//! against one core cluster.

pub mod batcher;
pub mod breaker;
pub mod catalog_watch;
pub mod chunk_gc;
pub mod collection_gc;
pub mod core_kv;
pub mod grpc_api;
pub mod limits;
pub mod metrics;
pub mod oracle;
pub mod pubsub;
pub mod redis_server;
pub mod route_table;
pub mod routing;
pub mod s3_server;
pub mod txn;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use strata_protocols::redis::ServerContext;
use tokio::net::TcpListener;

use crate::core_kv::CoreKv;
use crate::metrics::GatewayMetrics;
use crate::redis_server::RedisServer;
use crate::routing::Router;

/// How often a gateway looks for transaction locks whose owner is gone.
const LOCK_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Core node addresses to discover the cluster from.
    pub core: Vec<String>,
    pub redis: SocketAddr,
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
    /// Redis `requirepass`: clients must AUTH with it when set.
    pub requirepass: Option<String>,
    pub limits: limits::LimitsConfig,
    /// The address other gateways reach this one's gRPC listener at, for Redis Pub/Sub across
    /// gateways (default: the gRPC listener's bound address).
    pub advertise_grpc: Option<String>,
    /// How often this gateway removes orphaned collection sub-keys (`None`: never).
    pub collection_gc_interval: Option<std::time::Duration>,
    /// The S3 listener, keys and virtual-host domains (`None`: no S3).
    pub s3: Option<s3_server::S3Config>,
    /// How often this gateway removes chunks no S3 object names (`None`: never).
    pub chunk_gc_interval: Option<std::time::Duration>,
    /// Data younger than this is never collected (default [`chunk_gc::DEFAULT_GRACE`]).
    pub chunk_gc_grace: std::time::Duration,
    /// Staleness bound RESP connections start with (0 = linearizable reads until READONLY or
    /// CLIENT STALENESS); see docs/follower-reads.md.
    pub redis_max_staleness_ms: u64,
}

/// A gateway whose listeners are bound (so ports chosen by the OS are known) but not yet
/// serving.
pub struct Gateway {
    redis: TcpListener,
    grpc: TcpListener,
    metrics_listener: TcpListener,
    pub redis_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// The S3 listener's bound address, when S3 is served.
    pub s3_addr: Option<SocketAddr>,
    s3: Option<(TcpListener, s3_server::S3Config)>,
    chunk_gc_interval: Option<std::time::Duration>,
    chunk_gc_grace: std::time::Duration,
    router: Arc<Router>,
    metrics: GatewayMetrics,
    ctx: Arc<ServerContext>,
    limits: limits::LimitsConfig,
    pubsub: Arc<pubsub::Hub>,
    advertise_grpc: String,
    collection_gc_interval: Option<std::time::Duration>,
}

impl Gateway {
    pub async fn bind(config: GatewayConfig) -> anyhow::Result<Self> {
        let redis = TcpListener::bind(config.redis).await?;
        let grpc = TcpListener::bind(config.grpc).await?;
        let metrics_listener = TcpListener::bind(config.metrics).await?;
        let s3 = match config.s3 {
            Some(s3) => Some((TcpListener::bind(s3.listen).await?, s3)),
            None => None,
        };
        let s3_addr = match &s3 {
            Some((listener, _)) => Some(listener.local_addr()?),
            None => None,
        };
        let metrics = GatewayMetrics::new();
        let router = Router::new(config.core.clone(), metrics.clone());
        let redis_addr = redis.local_addr()?;
        let grpc_addr = grpc.local_addr()?;
        let gateway_id = format!("{:016x}", rand::random::<u64>());
        let pubsub = pubsub::Hub::new(
            gateway_id,
            strata_protocols::redis::pubsub::OutputLimits::default(),
            pubsub::PubSubMetrics::register(&metrics),
        );
        let ctx = Arc::new(
            ServerContext::new(redis_addr.port(), config.requirepass.clone())
                .with_pubsub(pubsub.clone())
                .with_default_staleness(config.redis_max_staleness_ms),
        );
        let advertise_grpc = config.advertise_grpc.clone().unwrap_or_else(|| grpc_addr.to_string());
        if grpc_addr.ip().is_unspecified() && config.advertise_grpc.is_none() {
            tracing::warn!(
                %grpc_addr,
                "the gRPC listener has no specific address: other gateways on other hosts cannot reach it for \
                 Pub/Sub; set --advertise-grpc"
            );
        }
        Ok(Self {
            redis_addr,
            grpc_addr,
            metrics_addr: metrics_listener.local_addr()?,
            s3_addr,
            s3,
            chunk_gc_interval: config.chunk_gc_interval,
            chunk_gc_grace: config.chunk_gc_grace,
            redis,
            grpc,
            metrics_listener,
            router,
            metrics,
            ctx,
            limits: config.limits,
            pubsub,
            advertise_grpc,
            collection_gc_interval: config.collection_gc_interval,
        })
    }

    /// Serves every listener until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        // Not awaited: the core may still be starting; requests wait for routes on demand.
        let _catalog_watch = self.router.catalog().spawn();
        let kv = CoreKv::new(self.router.clone());
        let sweeper = tokio::spawn(txn::resolver::run_sweeper(kv.clone(), LOCK_SWEEP_INTERVAL));
        let collection_gc = self
            .collection_gc_interval
            .map(|every| tokio::spawn(collection_gc::run(kv.clone(), every, self.metrics.clone())));
        let s3_task = self.s3.map(|(listener, config)| tokio::spawn(s3_server::serve(listener, kv.clone(), config)));
        let chunk_gc = match (self.chunk_gc_interval, s3_task.is_some()) {
            (Some(every), true) => Some(tokio::spawn(chunk_gc::run(kv.clone(), every, self.chunk_gc_grace))),
            _ => None,
        };
        // One admission budget for RESP commands and gRPC calls alike.
        let admission = Arc::new(limits::Admission::new(self.limits));
        let api = grpc_api::Api::new(kv.clone(), admission.clone());
        let membership =
            tokio::spawn(pubsub::membership::run(self.pubsub.clone(), kv.clone(), self.advertise_grpc.clone()));
        let lease_kv = kv.clone();
        let redis = RedisServer::with_pubsub_metrics(
            kv,
            self.ctx.clone(),
            self.metrics.clone(),
            admission,
            Some(self.pubsub.metrics().clone()),
        );
        let redis_task = tokio::spawn(redis.serve(self.redis));

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        let routes = tonic::service::Routes::new(health_service)
            .add_service(pubsub::service::PubSubService::server(self.pubsub.clone()));
        let grpc = api.add_to(routes).into_axum_router();
        let grpc_task = tokio::spawn(async move { axum::serve(self.grpc, grpc).await });

        let metrics = self.metrics.clone();
        let router = self.router.clone();
        let http = axum::Router::new()
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
                    let router = router.clone();
                    async move {
                        if router.catalog().version() == 0 {
                            (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                "no route catalog from the core yet\n".to_string(),
                            )
                        } else {
                            (axum::http::StatusCode::OK, "ok\n".to_string())
                        }
                    }
                }),
            );
        let metrics_task = tokio::spawn(async move { axum::serve(self.metrics_listener, http).await });

        shutdown.await;
        membership.abort();
        pubsub::membership::withdraw(&self.pubsub, &lease_kv).await;
        sweeper.abort();
        if let Some(task) = collection_gc {
            task.abort();
        }
        redis_task.abort();
        if let Some(task) = s3_task {
            task.abort();
        }
        if let Some(task) = chunk_gc {
            task.abort();
        }
        grpc_task.abort();
        metrics_task.abort();
        Ok(())
    }
}
