//! `strata dev`: a whole cluster on one machine. Each core replica is a separate `strata core`
//! process with its own data directory (so killing one behaves like losing a machine); the
//! gateways (`--gateways N`, default 1) run in this process, each with its own listeners. Data stays under `--data-dir` across restarts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::process::{Child, Command};

use crate::config::FileConfig;

/// Prints a status line; a closed stdout (e.g. piped into `head`) must not kill the cluster.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Where each node keeps its data (node-N/ below it).
    #[arg(long, default_value = "strata-data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 6379)]
    redis_port: u16,
    #[arg(long, default_value_t = 50051)]
    grpc_port: u16,
    #[arg(long, default_value_t = 9090)]
    metrics_port: u16,
    /// Core node N listens on core-port + N - 1.
    #[arg(long, default_value_t = 7101)]
    core_port: u16,
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Gateways to run; gateway N uses redis/grpc/metrics ports + N - 1.
    #[arg(long, default_value_t = 1)]
    gateways: u16,
    #[arg(long, env = "STRATA_REQUIREPASS")]
    requirepass: Option<String>,
    /// S3 port of gateway 1 (gateway N: + N - 1); 0 lets the OS pick.
    #[arg(long, default_value_t = 9000)]
    s3_port: u16,
    /// The S3 access key id (default: the one in DATA_DIR/s3-credentials, generated on first start).
    #[arg(long, env = "STRATA_S3_ACCESS_KEY")]
    s3_access_key: Option<String>,
    #[arg(long, env = "STRATA_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<String>,
}

/// The file `strata dev` keeps its S3 key pair in, AWS shared-credentials style.
pub const S3_CREDENTIALS_FILE: &str = "s3-credentials";

/// The dev S3 key pair: from the flags / environment, else from the data directory's
/// credentials file, else a new random pair; written back to that file either way.
fn dev_s3_keys(args: &DevArgs) -> anyhow::Result<(String, String)> {
    let path = args.data_dir.join(S3_CREDENTIALS_FILE);
    let pair = match (&args.s3_access_key, &args.s3_secret_key) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        (None, None) => {
            let existing =
                std::fs::read_to_string(&path).ok().map(|t| strata_gateway::s3_server::parse_credentials(&t));
            match existing.and_then(|keys| keys.into_iter().next()) {
                Some(pair) => pair,
                None => (random_key(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), random_key(40, ALPHANUMERIC)),
            }
        }
        _ => anyhow::bail!("--s3-access-key and --s3-secret-key go together"),
    };
    std::fs::write(&path, strata_gateway::s3_server::render_credentials(&pair.0, &pair.1))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(pair)
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_key(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

struct CoreProcess {
    id: u64,
    addr: String,
    child: Child,
}

pub async fn run(args: DevArgs, file: FileConfig) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the strata binary")?;
    std::fs::create_dir_all(&args.data_dir)?;
    let addrs: Vec<(u64, String)> =
        (1..=args.nodes as u64).map(|id| (id, format!("{}:{}", args.host, args.core_port as u64 + id - 1))).collect();
    let peers = addrs.iter().map(|(id, a)| format!("{id}={a}")).collect::<Vec<_>>().join(",");

    let mut cores = Vec::new();
    for (id, addr) in &addrs {
        let dir = args.data_dir.join(format!("node-{id}"));
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("core.log"))?;
        let child = Command::new(&exe)
            .args(["core", "--node-id", &id.to_string(), "--listen", addr, "--peers", &peers])
            .arg("--data-dir")
            .arg(&dir)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting core node {id}"))?;
        cores.push(CoreProcess { id: *id, addr: addr.clone(), child });
    }

    let s3_keys = dev_s3_keys(&args)?;
    let socket = |port: u16| -> anyhow::Result<SocketAddr> { Ok(format!("{}:{port}", args.host).parse()?) };
    let mut gateways = Vec::new();
    for i in 0..args.gateways.max(1) {
        let config = strata_gateway::GatewayConfig {
            core: addrs.iter().map(|(_, a)| a.clone()).collect(),
            redis: socket(args.redis_port + i)?,
            grpc: socket(args.grpc_port + i)?,
            metrics: socket(args.metrics_port + i)?,
            requirepass: args.requirepass.clone().or(file.gateway.requirepass.clone()),
            limits: crate::config::limits(&crate::GatewayArgs::default(), &file.gateway),
            advertise_grpc: None,
            collection_gc_interval: crate::config::collection_gc_interval(file.gateway.collection_gc_ms),
            s3: Some(strata_gateway::s3_server::S3Config {
                listen: socket(if args.s3_port == 0 { 0 } else { args.s3_port + i })?,
                keys: vec![s3_keys.clone()],
                domains: crate::config::s3_domains(&crate::GatewayArgs::default(), &file.gateway),
            }),
            chunk_gc_interval: crate::config::chunk_gc_interval(file.gateway.chunk_gc_ms),
            chunk_gc_grace: crate::config::chunk_gc_grace(file.gateway.chunk_gc_grace_ms),
            redis_max_staleness_ms: file.gateway.redis_max_staleness_ms.unwrap_or(0),
        };
        match strata_gateway::Gateway::bind(config).await {
            Ok(g) => gateways.push(g),
            Err(e) => {
                stop_cores(&mut cores).await;
                return Err(e.context(format!("binding the listeners of gateway {}", i + 1)));
            }
        }
    }

    say!("Strata dev cluster (data in {})", args.data_dir.display());
    for (i, gateway) in gateways.iter().enumerate() {
        let port = gateway.redis_addr.port();
        say!("  redis    {}   try: redis-cli -p {port}   (gateway {})", gateway.redis_addr, i + 1);
        say!("  grpc     {}", gateway.grpc_addr);
        say!("  metrics  http://{}/metrics", gateway.metrics_addr);
        if let Some(s3) = gateway.s3_addr {
            say!("  s3       http://{s3}");
        }
    }
    for core in &cores {
        say!(
            "  core {}   {}   data {}   metrics http://{}/metrics",
            core.id,
            core.addr,
            args.data_dir.join(format!("node-{}", core.id)).display(),
            core.addr
        );
    }
    // Stable lines for scripts: `s3 endpoint: URL` (gateway 1), the key pair, the file.
    if let Some(s3) = gateways.first().and_then(|g| g.s3_addr) {
        say!("s3 endpoint: http://{s3}");
        say!("s3 region: {}", strata_gateway::s3_server::REGION);
        say!("s3 access key: {}", s3_keys.0);
        say!("s3 secret key: {}", s3_keys.1);
        say!("s3 credentials file: {}", args.data_dir.join(S3_CREDENTIALS_FILE).display());
    }
    match wait_for_leader(&addrs, Duration::from_secs(60)).await {
        Some(leader) => say!("ready: range 1 leader is core {leader}"),
        None => say!("warning: no leader elected yet; see core.log files"),
    }

    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let serving: Vec<_> = gateways
        .into_iter()
        .map(|gateway| {
            let mut stop = stop_tx.subscribe();
            tokio::spawn(gateway.serve(async move {
                let _ = stop.recv().await;
            }))
        })
        .collect();
    crate::shutdown_signal().await;
    say!("stopping...");
    let _ = stop_tx.send(());
    for task in serving {
        let _ = task.await;
    }
    stop_cores(&mut cores).await;
    say!("stopped; data kept in {}", args.data_dir.display());
    Ok(())
}

async fn stop_cores(cores: &mut [CoreProcess]) {
    for core in cores.iter() {
        if let Some(pid) = core.child.id() {
            // SAFETY: sending SIGTERM to a child process we spawned and still own.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    for core in cores.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), core.child.wait()).await.is_err() {
            let _ = core.child.kill().await;
        }
    }
}

/// Polls the cores until one reports a leader for the first range.
async fn wait_for_leader(addrs: &[(u64, String)], limit: Duration) -> Option<u64> {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        for (_, addr) in addrs {
            let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else { continue };
            let Ok(channel) = endpoint.connect().await else { continue };
            let mut client = strata_proto::core::kv_client::KvClient::new(channel);
            if let Ok(resp) = client.ranges(strata_proto::core::RangesRequest {}).await {
                if let Some(leader) = resp.into_inner().ranges.first().map(|r| r.leader_node_id).filter(|l| *l != 0) {
                    return Some(leader);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}
