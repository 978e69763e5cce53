//! The `strata` binary: `core` runs one core replica, `gateway` runs a stateless gateway,
//! `dev` runs a whole local cluster (three core processes and a gateway) with data on disk;
//! `ctl` holds operator commands.

mod config;
mod ctl;
mod dev;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::FileConfig;

#[derive(Parser)]
#[command(name = "strata", version, about = "Strata: a distributed key-value store speaking Redis, S3 and gRPC")]
struct Cli {
    /// TOML config file; flags override its values.
    #[arg(long, global = true, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one core replica.
    Core(CoreArgs),
    /// Run a stateless gateway.
    Gateway(GatewayArgs),
    /// Run a local cluster: 3 core replicas + 1 gateway, data under ./strata-data.
    Dev(dev::DevArgs),
    /// Operator commands against a running cluster (`strata ctl ranges`).
    Ctl(ctl::CtlArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct CoreArgs {
    #[arg(long)]
    node_id: Option<u64>,
    /// Address to listen on (gRPC for gateways and peers, plus /metrics and /healthz).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address others reach this node at (default: --listen).
    #[arg(long)]
    advertise: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The initial voters, this node included: `1=127.0.0.1:7101,2=...`.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    #[arg(long)]
    election_timeout_ms: Option<u64>,
    /// Build a Raft snapshot (and purge the log) every this many applied entries.
    #[arg(long)]
    snapshot_after_entries: Option<u64>,
    /// Route catalog deltas the meta range keeps for gateways that fall behind (default 1024).
    #[arg(long)]
    catalog_delta_window: Option<u64>,
    /// Split a range whose data passes this many bytes (default 96 MiB; 0 = never).
    #[arg(long)]
    split_size_bytes: Option<u64>,
    /// Split a range holding more than this many keys (default 0 = never by count).
    #[arg(long)]
    split_keys: Option<u64>,
    /// How often range leaders check the split thresholds, in ms (default 10000).
    #[arg(long)]
    split_check_ms: Option<u64>,
    /// A range with no client requests for this long stops heartbeating (default 2000; 0 = never).
    #[arg(long)]
    hibernate_after_ms: Option<u64>,
    /// How often range leaders close a timestamp for follower reads, in ms (default 50; 0 = never).
    #[arg(long)]
    closed_ts_interval_ms: Option<u64>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct GatewayArgs {
    /// Core node addresses, comma separated.
    #[arg(long, value_delimiter = ',')]
    core: Vec<String>,
    #[arg(long)]
    redis: Option<SocketAddr>,
    #[arg(long)]
    grpc: Option<SocketAddr>,
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Require clients to AUTH with this password.
    #[arg(long, env = "STRATA_REQUIREPASS")]
    requirepass: Option<String>,
    /// Commands per second this gateway accepts across all connections (default: unlimited).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Commands per second per connection (default: unlimited).
    #[arg(long)]
    client_rate_limit: Option<u32>,
    /// Commands executing at once in this gateway before new ones are refused.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Address other gateways reach this one's gRPC listener at, for Redis Pub/Sub across
    /// gateways (default: the --grpc address).
    #[arg(long)]
    advertise_grpc: Option<String>,
    /// Milliseconds between passes removing orphaned collection sub-keys (default 30000; 0 = never).
    #[arg(long)]
    collection_gc_ms: Option<u64>,
    /// Serve S3 on this address (default: no S3).
    #[arg(long)]
    s3_listen: Option<SocketAddr>,
    /// S3 access keys: an AWS shared-credentials style file (`aws_access_key_id` /
    /// `aws_secret_access_key` per section).
    #[arg(long, env = "STRATA_S3_CREDENTIALS")]
    s3_credentials: Option<PathBuf>,
    /// One S3 access key id (with --s3-secret-key), on top of the file's.
    #[arg(long, env = "STRATA_S3_ACCESS_KEY")]
    s3_access_key: Option<String>,
    #[arg(long, env = "STRATA_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<String>,
    /// Base domains for virtual-host-style S3 requests (`bucket.DOMAIN`; default localhost).
    #[arg(long, value_delimiter = ',')]
    s3_domain: Vec<String>,
    /// Milliseconds between passes removing S3 chunks no object names (default 60000; 0 = never).
    #[arg(long)]
    chunk_gc_ms: Option<u64>,
    /// S3 data younger than this many milliseconds is never collected (default 60000; lower it
    /// only for tests: it must cover the time an upload's pending record takes to commit).
    #[arg(long, env = "STRATA_CHUNK_GC_GRACE_MS")]
    chunk_gc_grace_ms: Option<u64>,
    /// Staleness bound of RESP reads for new connections, in ms: above 0, GET/MGET may be
    /// served by any replica (docs/follower-reads.md). Default 0 = linearizable.
    #[arg(long)]
    redis_max_staleness_ms: Option<u64>,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    // Logs go to stderr: stdout carries command output (`ctl`, the endpoints `dev` prints).
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Ctl(_)) {
        // `strata ctl ranges | head` should end quietly when the pipe closes, like any CLI,
        // instead of panicking on a failed print.
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_logging(&cli.log_format);
    let file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Core(args) => run_core(config::core_config(args, file.core)?).await,
            Command::Gateway(args) => run_gateway(config::gateway_config(args, file.gateway)?).await,
            Command::Dev(args) => dev::run(args, file).await,
            Command::Ctl(args) => ctl::run(args).await,
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run_core(config: strata_core::NodeConfig) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(node_id = config.node_id, listen = %config.listen, data_dir = %config.data_dir.display(), "core node starting");
    strata_core::hlc::follow_test_clock_offset();
    let node = strata_core::Node::open(config).await?;
    node.serve(listener, shutdown_signal()).await?;
    tracing::info!("core node stopped");
    Ok(())
}

async fn run_gateway(config: strata_gateway::GatewayConfig) -> anyhow::Result<()> {
    let gateway = strata_gateway::Gateway::bind(config).await?;
    tracing::info!(redis = %gateway.redis_addr, grpc = %gateway.grpc_addr, metrics = %gateway.metrics_addr, s3 = ?gateway.s3_addr, "gateway serving");
    gateway.serve(shutdown_signal()).await
}

pub fn default_core_timing() -> strata_core::RaftTiming {
    strata_core::RaftTiming::default()
}

pub const GC_INTERVAL: Duration = Duration::from_secs(60);
pub const GC_RETENTION: Duration = Duration::from_secs(600);
pub const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How often range leaders report changed descriptors and leadership to the catalog.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(250);
