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
//! catalog_delta_window = 1024
//! split_size_bytes = 100663296  # 96 MiB; 0 = never split by size
//! split_keys = 0                # 0 = never split by key count
//! split_check_ms = 10000
//! hibernate_after_ms = 2000     # idle ranges stop heartbeating; 0 = never
//! closed_ts_interval_ms = 50    # leaders close a timestamp for follower reads; 0 = never
//!
//! [gateway]
//! core = ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
//! redis = "127.0.0.1:6379"
//! grpc = "127.0.0.1:50051"
//! metrics = "127.0.0.1:9090"
//! requirepass = "secret"
//! rate_limit = 100000         # commands/s for the whole gateway (default: unlimited)
//! client_rate_limit = 5000     # commands/s per connection (default: unlimited)
//! max_in_flight = 10000        # commands executing at once
//! advertise_grpc = "10.0.0.5:50051"  # where other gateways reach this one (Pub/Sub); default: grpc
//! s3_listen = "127.0.0.1:9000"       # serve S3 (default: off)
//! s3_credentials = "/etc/strata/s3-credentials"  # [profile] aws_access_key_id / aws_secret_access_key
//! s3_keys = [{ access_key = "AK", secret_key = "SK" }]
//! s3_domains = ["s3.example.com"]   # bucket.s3.example.com is virtual-host style (default: localhost)
//! chunk_gc_ms = 60000                # S3 chunk collection; 0 = never
//! chunk_gc_grace_ms = 60000          # S3 data younger than this is never collected
//! redis_max_staleness_ms = 0         # RESP reads may be this stale (replica reads); 0 = linearizable
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
    pub catalog_delta_window: Option<u64>,
    pub split_size_bytes: Option<u64>,
    pub split_keys: Option<u64>,
    pub split_check_ms: Option<u64>,
    pub hibernate_after_ms: Option<u64>,
    pub closed_ts_interval_ms: Option<u64>,
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
    pub rate_limit: Option<u32>,
    pub client_rate_limit: Option<u32>,
    pub max_in_flight: Option<usize>,
    pub advertise_grpc: Option<String>,
    pub collection_gc_ms: Option<u64>,
    pub s3_listen: Option<SocketAddr>,
    pub s3_credentials: Option<PathBuf>,
    #[serde(default)]
    pub s3_keys: Vec<S3Key>,
    #[serde(default)]
    pub s3_domains: Vec<String>,
    pub chunk_gc_ms: Option<u64>,
    pub chunk_gc_grace_ms: Option<u64>,
    pub redis_max_staleness_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct S3Key {
    pub access_key: String,
    pub secret_key: String,
}

/// The chunk GC pause from `--chunk-gc-ms` / `chunk_gc_ms` (0 turns it off).
pub fn chunk_gc_interval(ms: Option<u64>) -> Option<std::time::Duration> {
    match ms {
        None => Some(strata_gateway::chunk_gc::DEFAULT_INTERVAL),
        Some(0) => None,
        Some(ms) => Some(std::time::Duration::from_millis(ms)),
    }
}

/// The chunk GC grace period from `--chunk-gc-grace-ms` / `chunk_gc_grace_ms`.
pub fn chunk_gc_grace(ms: Option<u64>) -> std::time::Duration {
    ms.map_or(strata_gateway::chunk_gc::DEFAULT_GRACE, std::time::Duration::from_millis)
}

/// S3 keys from the credentials file, the file config's list and the flag pair.
pub fn s3_keys(args: &GatewayArgs, file: &GatewayFile) -> anyhow::Result<Vec<(String, String)>> {
    let mut keys = Vec::new();
    if let Some(path) = args.s3_credentials.as_ref().or(file.s3_credentials.as_ref()) {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let parsed = strata_gateway::s3_server::parse_credentials(&text);
        if parsed.is_empty() {
            bail!("{} holds no aws_access_key_id / aws_secret_access_key pair", path.display());
        }
        keys.extend(parsed);
    }
    keys.extend(file.s3_keys.iter().map(|k| (k.access_key.clone(), k.secret_key.clone())));
    match (&args.s3_access_key, &args.s3_secret_key) {
        (Some(id), Some(secret)) => keys.push((id.clone(), secret.clone())),
        (None, None) => {}
        _ => bail!("--s3-access-key and --s3-secret-key go together"),
    }
    Ok(keys)
}

pub fn s3_domains(args: &GatewayArgs, file: &GatewayFile) -> Vec<String> {
    let domains = if args.s3_domain.is_empty() { file.s3_domains.clone() } else { args.s3_domain.clone() };
    if domains.is_empty() {
        strata_gateway::s3_server::DEFAULT_DOMAINS.iter().map(|d| d.to_string()).collect()
    } else {
        domains
    }
}

/// Commands executing at once per gateway unless configured.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;

pub fn limits(args: &GatewayArgs, file: &GatewayFile) -> strata_gateway::limits::LimitsConfig {
    strata_gateway::limits::LimitsConfig {
        global_rate: args.rate_limit.or(file.rate_limit).and_then(std::num::NonZeroU32::new),
        client_rate: args.client_rate_limit.or(file.client_rate_limit).and_then(std::num::NonZeroU32::new),
        max_in_flight: args.max_in_flight.or(file.max_in_flight).unwrap_or(DEFAULT_MAX_IN_FLIGHT),
    }
}

/// The collection GC pause from `--collection-gc-ms` / `collection_gc_ms` (0 turns it off).
pub fn collection_gc_interval(ms: Option<u64>) -> Option<std::time::Duration> {
    match ms {
        None => Some(strata_gateway::collection_gc::DEFAULT_INTERVAL),
        Some(0) => None,
        Some(ms) => Some(std::time::Duration::from_millis(ms)),
    }
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
    let mut split = strata_core::split::SplitPolicy::default();
    if let Some(bytes) = args.split_size_bytes.or(file.split_size_bytes) {
        split.max_bytes = bytes;
    }
    if let Some(keys) = args.split_keys.or(file.split_keys) {
        split.max_keys = keys;
    }
    if let Some(ms) = args.split_check_ms.or(file.split_check_ms) {
        split.check_interval = std::time::Duration::from_millis(ms.max(1));
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
        catalog_delta_window: args.catalog_delta_window.or(file.catalog_delta_window).unwrap_or(1024).max(1),
        report_interval: crate::REPORT_INTERVAL,
        split,
        hibernate_after: match args.hibernate_after_ms.or(file.hibernate_after_ms).unwrap_or(2_000) {
            0 => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        },
        closed_ts_interval: match args.closed_ts_interval_ms.or(file.closed_ts_interval_ms).unwrap_or(50) {
            0 => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        },
    })
}

pub fn gateway_config(args: GatewayArgs, file: GatewayFile) -> anyhow::Result<strata_gateway::GatewayConfig> {
    let s3 = match args.s3_listen.or(file.s3_listen) {
        Some(listen) => Some(strata_gateway::s3_server::S3Config {
            listen,
            keys: s3_keys(&args, &file)?,
            domains: s3_domains(&args, &file),
        }),
        None => None,
    };
    let limits = limits(&args, &file);
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
        limits,
        advertise_grpc: args.advertise_grpc.or(file.advertise_grpc),
        collection_gc_interval: collection_gc_interval(args.collection_gc_ms.or(file.collection_gc_ms)),
        s3,
        chunk_gc_interval: chunk_gc_interval(args.chunk_gc_ms.or(file.chunk_gc_ms)),
        chunk_gc_grace: chunk_gc_grace(args.chunk_gc_grace_ms.or(file.chunk_gc_grace_ms)),
        redis_max_staleness_ms: args.redis_max_staleness_ms.or(file.redis_max_staleness_ms).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [core]
        node_id = 2
        listen = "127.0.0.1:7102"
        data_dir = "/tmp/strata-2"
        peers = ["1=127.0.0.1:7101", "2=127.0.0.1:7102"]
        election_timeout_ms = 900

        [gateway]
        core = ["127.0.0.1:7101"]
        redis = "127.0.0.1:6380"
        requirepass = "from-file"
    "#;

    #[test]
    fn flags_override_the_file() {
        let file: FileConfig = toml::from_str(FILE).unwrap();
        let flags = CoreArgs { node_id: Some(5), heartbeat_ms: Some(50), ..Default::default() };
        let core = core_config(flags, file.core).unwrap();
        assert_eq!(core.node_id, 5, "flag wins");
        assert_eq!(core.listen.to_string(), "127.0.0.1:7102", "file fills the gap");
        assert_eq!(core.advertise, "127.0.0.1:7102", "advertise defaults to listen");
        assert_eq!(core.peers, vec![(1, "127.0.0.1:7101".to_string()), (2, "127.0.0.1:7102".to_string())]);
        assert_eq!(core.raft.heartbeat_ms, 50);
        assert_eq!((core.raft.election_timeout_min_ms, core.raft.election_timeout_max_ms), (900, 1800));

        let flags = GatewayArgs { requirepass: Some("from-flag".into()), ..Default::default() };
        let gateway = gateway_config(flags, file.gateway).unwrap();
        assert_eq!(gateway.requirepass.as_deref(), Some("from-flag"));
        assert_eq!(gateway.redis.to_string(), "127.0.0.1:6380");
        assert_eq!(gateway.grpc.to_string(), "127.0.0.1:50051", "default");
    }

    #[test]
    fn bad_config_is_a_clear_error() {
        assert!(toml::from_str::<FileConfig>("[core]\nnode_idd = 1\n").is_err(), "unknown keys are refused");
        assert!(parse_peer("1-127.0.0.1:1").is_err());
        assert!(parse_peer("x=127.0.0.1:1").is_err());
        let missing = core_config(CoreArgs::default(), CoreFile::default()).unwrap_err();
        assert!(missing.to_string().contains("--node-id"), "{missing}");
        assert!(gateway_config(GatewayArgs::default(), GatewayFile::default()).is_err());
    }
}
