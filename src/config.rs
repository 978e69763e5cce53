//! The TOML config file and how flags override it.
//!
//! ```toml
//! [core]
//! node_id = 1
//! listen = "127.0.0.1:7101"
//! data_dir = "/var/lib/strata/core-1"
//! peers = ["1=127.0.0.1:7101", "2=127.0.0.1:7102", "3=127.0.0.1:7103"]
//! heartbeat_ms = 100
//! election_timeout_ms = 700
//! snapshot_after_entries = 20000
//!
//! [gateway]
//! core = ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
//! redis = "127.0.0.1:6379"
//! grpc = "127.0.0.1:50051"
//! metrics = "127.0.0.1:9090"
//! requirepass = "secret"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::{CoreArgs, GatewayArgs};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub core: CoreFile,
    #[serde(default)]
    pub gateway: GatewayFile,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CoreFile {
    pub node_id: Option<u64>,
    pub listen: Option<SocketAddr>,
    pub advertise: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub heartbeat_ms: Option<u64>,
    pub election_timeout_ms: Option<u64>,
    pub snapshot_after_entries: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    #[serde(default)]
    pub core: Vec<String>,
    pub redis: Option<SocketAddr>,
    pub grpc: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    pub requirepass: Option<String>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Parses `ID=ADDR`.
pub fn parse_peer(spec: &str) -> anyhow::Result<(u64, String)> {
    let Some((id, addr)) = spec.split_once('=') else { bail!("peer {spec:?} is not ID=ADDR") };
    let id = id.trim().parse().with_context(|| format!("peer id in {spec:?}"))?;
    Ok((id, addr.trim().to_string()))
}

pub fn core_config(args: CoreArgs, file: CoreFile) -> anyhow::Result<strata_core::NodeConfig> {
    let node_id = args.node_id.or(file.node_id).context("--node-id is required")?;
    let listen = args.listen.or(file.listen).context("--listen is required")?;
    let data_dir = args.data_dir.or(file.data_dir).context("--data-dir is required")?;
    let peers = if args.peers.is_empty() { file.peers } else { args.peers };
    let peers = peers.iter().map(|p| parse_peer(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let advertise = args.advertise.or(file.advertise).unwrap_or_else(|| listen.to_string());
    let mut raft = crate::default_core_timing();
    if let Some(hb) = args.heartbeat_ms.or(file.heartbeat_ms) {
        raft.heartbeat_ms = hb;
    }
    if let Some(et) = args.election_timeout_ms.or(file.election_timeout_ms) {
        raft.election_timeout_min_ms = et;
        raft.election_timeout_max_ms = et * 2;
    }
    if let Some(n) = args.snapshot_after_entries.or(file.snapshot_after_entries) {
        raft.snapshot_after_entries = n;
    }
    Ok(strata_core::NodeConfig {
        node_id,
        listen,
        advertise,
        data_dir,
        peers,
        raft,
        gc_interval: crate::GC_INTERVAL,
        gc_retention: crate::GC_RETENTION,
        expiry_sweep_interval: crate::EXPIRY_SWEEP_INTERVAL,
    })
}

pub fn gateway_config(args: GatewayArgs, file: GatewayFile) -> anyhow::Result<strata_gateway::GatewayConfig> {
    let core = if args.core.is_empty() { file.core } else { args.core };
    if core.is_empty() {
        bail!("--core needs at least one core node address");
    }
    let addr = |s: &str| -> SocketAddr { s.parse().expect("static address") };
    Ok(strata_gateway::GatewayConfig {
        core,
        redis: args.redis.or(file.redis).unwrap_or_else(|| addr("127.0.0.1:6379")),
        grpc: args.grpc.or(file.grpc).unwrap_or_else(|| addr("127.0.0.1:50051")),
        metrics: args.metrics.or(file.metrics).unwrap_or_else(|| addr("127.0.0.1:9090")),
        requirepass: args.requirepass.or(file.requirepass),
    })
}
