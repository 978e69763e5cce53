//! A real cluster for tests: three `strata core` processes and one `strata gateway` process
//! on loopback ports chosen by the OS, each with its own data directory in a temp dir.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_proto::core::catalog_client::CatalogClient;
use strata_proto::core::kv_client::KvClient;
use strata_proto::core::{
    GetCatalogRequest, GetCatalogResponse, NodeStatusRequest, RangeDescriptor, SplitRangeRequest,
};

pub const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// Finds a free loopback port by binding port 0.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A multiplexed connection whose replies may take as long as a leader election (the redis
/// crate's default response timeout is 500 ms).
pub async fn connect(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    conn.set_response_timeout(Duration::from_secs(30));
    Ok(conn)
}

/// Polls `check` until it returns Some or `limit` passes.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct CoreNode {
    pub id: u64,
    pub addr: String,
    pub dir: PathBuf,
    process: Option<Child>,
    extra_args: Vec<String>,
}

pub struct Cluster {
    _root: tempfile::TempDir,
    pub cores: Vec<CoreNode>,
    peers: String,
    gateway: Option<Child>,
    pub redis_port: u16,
    /// The gateway's gRPC listener (health, RawKV, TxnKV); see [`Cluster::grpc_url`].
    pub grpc_port: u16,
    pub gateway_metrics_port: u16,
    gateway_args: Vec<String>,
}

fn spawn_core(node: &CoreNode, peers: &str) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(node.dir.join("core.log")).expect("log file");
    Command::new(STRATA)
        .args(["core", "--node-id", &node.id.to_string(), "--listen", &node.addr, "--peers", peers])
        .arg("--data-dir")
        .arg(&node.dir)
        .args(&node.extra_args)
        .env("RUST_LOG", "info,openraft=warn")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start strata core")
}

impl Cluster {
    pub async fn start() -> Self {
        Self::start_with(&[], &[]).await
    }

    /// Starts a cluster; `core_args` and `gateway_args` are appended to every process's flags.
    pub async fn start_with(core_args: &[&str], gateway_args: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut cores = Vec::new();
        for id in 1..=3u64 {
            let dir = root.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).expect("node dir");
            cores.push(CoreNode {
                id,
                addr: format!("127.0.0.1:{}", free_port()),
                dir,
                process: None,
                extra_args: core_args.iter().map(|s| s.to_string()).collect(),
            });
        }
        let peers = cores.iter().map(|c| format!("{}={}", c.id, c.addr)).collect::<Vec<_>>().join(",");
        for core in &mut cores {
            core.process = Some(spawn_core(core, &peers));
        }
        let mut cluster = Cluster {
            _root: root,
            cores,
            peers,
            gateway: None,
            redis_port: free_port(),
            grpc_port: free_port(),
            gateway_metrics_port: free_port(),
            gateway_args: gateway_args.iter().map(|s| s.to_string()).collect(),
        };
        cluster.start_gateway();
        cluster.wait_ready().await;
        cluster
    }

    pub fn root(&self) -> &Path {
        self._root.path()
    }

    pub fn start_gateway(&mut self) {
        let core = self.cores.iter().map(|c| c.addr.clone()).collect::<Vec<_>>().join(",");
        let log_path = self.root().join("gateway.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).expect("log");
        let child = Command::new(STRATA)
            .args(["gateway", "--core", &core])
            .args(["--redis", &format!("127.0.0.1:{}", self.redis_port)])
            .args(["--grpc", &format!("127.0.0.1:{}", self.grpc_port)])
            .args(["--metrics", &format!("127.0.0.1:{}", self.gateway_metrics_port)])
            .args(&self.gateway_args)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start strata gateway");
        self.gateway = Some(child);
    }

    pub fn redis_url(&self) -> String {
        // Pick up --requirepass so helpers work on password-protected gateways too.
        let password =
            self.gateway_args.iter().position(|a| a == "--requirepass").and_then(|i| self.gateway_args.get(i + 1));
        match password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.redis_port),
            None => format!("redis://127.0.0.1:{}/", self.redis_port),
        }
    }

    /// The gateway's gRPC endpoint, for tonic clients (`RawKvClient::connect(cluster.grpc_url())`).
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        connect(&self.redis_url()).await.expect("connect to gateway")
    }

    /// Waits until the gateway answers and a write goes through Raft.
    pub async fn wait_ready(&self) {
        let url = self.redis_url();
        eventually(Duration::from_secs(60), "cluster to accept writes", || {
            let url = url.clone();
            async move {
                let mut conn = connect(&url).await.ok()?;
                let ok: String = redis::cmd("SET").arg("__ready").arg("1").query_async(&mut conn).await.ok()?;
                (ok == "OK").then_some(())
            }
        })
        .await;
    }

    /// The node currently leading the first range, as the cores see it.
    pub async fn leader(&self) -> Option<u64> {
        for core in self.cores.iter().filter(|c| c.process.is_some()) {
            let Some(status) = node_status(&core.addr).await else { continue };
            if first_range(&status).is_some_and(|r| r.role == "leader") {
                return Some(status.node_id);
            }
        }
        None
    }

    pub async fn wait_for_leader(&self, not: Option<u64>) -> u64 {
        eventually(Duration::from_secs(30), "a leader", || async { self.leader().await.filter(|l| Some(*l) != not) })
            .await
    }

    /// Applied index of the first range on `node`.
    pub async fn applied_index(&self, node: u64) -> Option<u64> {
        let status = node_status(&self.core(node).addr).await?;
        first_range(&status).map(|r| r.applied_index)
    }

    /// One field of a node's `strata_core_raft_state` metric for the first range.
    pub async fn raft_metric(&self, node: u64, field: &str) -> Option<i64> {
        self.range_metric(node, 1, field).await
    }

    /// One field of a node's `strata_core_raft_state` metric for `range`.
    pub async fn range_metric(&self, node: u64, range: u64, field: &str) -> Option<i64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.core(node).addr.clone();
        let fetch = async {
            let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).await.ok()?;
            Some(out)
        };
        let text = tokio::time::timeout(Duration::from_secs(2), fetch).await.ok()??;
        let needle = format!("field=\"{field}\"");
        let range_label = format!("range=\"{range}\"");
        text.lines()
            .filter(|l| l.starts_with("strata_core_raft_state") && l.contains(&needle) && l.contains(&range_label))
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
    }

    pub fn core(&self, id: u64) -> &CoreNode {
        self.cores.iter().find(|c| c.id == id).expect("node id")
    }

    /// kill -9: the node loses everything not fsynced.
    pub fn kill(&mut self, id: u64) {
        let core = self.cores.iter_mut().find(|c| c.id == id).expect("node id");
        if let Some(mut child) = core.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self, id: u64) {
        let core = self.cores.iter_mut().find(|c| c.id == id).expect("node id");
        if let Some(child) = core.process.take() {
            terminate(child);
        }
    }

    /// SIGSTOP / SIGCONT: the process freezes with all its state, like a long GC pause.
    pub fn pause(&self, id: u64, paused: bool) {
        let core = self.core(id);
        let pid = core.process.as_ref().expect("node running").id();
        let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signalling a child process this test spawned and still owns.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }

    pub fn restart(&mut self, id: u64) {
        let peers = self.peers.clone();
        let core = self.cores.iter_mut().find(|c| c.id == id).expect("node id");
        assert!(core.process.is_none(), "node {id} is still running");
        core.process = Some(spawn_core(core, &peers));
    }

    /// Splits the range holding `key` at `key` through the range's leader, retrying while
    /// leadership moves. Returns the two halves.
    pub async fn split(&self, key: &[u8]) -> (RangeDescriptor, RangeDescriptor) {
        let key = bytes::Bytes::copy_from_slice(key);
        eventually(Duration::from_secs(30), "the split to commit", || {
            let key = key.clone();
            async move {
                for core in self.cores.iter().filter(|c| c.process.is_some()) {
                    let Ok(mut client) = KvClient::connect(format!("http://{}", core.addr)).await else { continue };
                    let request = SplitRangeRequest { split_key: key.clone() };
                    let Ok(Ok(resp)) = tokio::time::timeout(Duration::from_secs(10), client.split_range(request)).await
                    else {
                        continue;
                    };
                    let resp = resp.into_inner();
                    if resp.range_error.is_none() {
                        return Some((resp.left?, resp.right?));
                    }
                }
                None
            }
        })
        .await
    }

    /// The route catalog, from whichever node leads the meta range.
    pub async fn catalog(&self) -> Option<GetCatalogResponse> {
        for core in self.cores.iter().filter(|c| c.process.is_some()) {
            let call = async {
                let mut client = CatalogClient::connect(format!("http://{}", core.addr)).await.ok()?;
                client.get_catalog(GetCatalogRequest {}).await.ok().map(|r| r.into_inner())
            };
            if let Ok(Some(catalog)) = tokio::time::timeout(Duration::from_secs(2), call).await {
                return Some(catalog);
            }
        }
        None
    }

    /// Waits until the catalog lists exactly `n` ranges that tile the keyspace, each with a
    /// known leader; returns them in key order.
    pub async fn wait_for_catalog(&self, n: usize) -> (u64, Vec<RangeDescriptor>) {
        eventually(Duration::from_secs(30), "the catalog to settle", || async {
            let mut catalog = self.catalog().await?;
            catalog.ranges.sort_by(|a, b| a.start_key.cmp(&b.start_key));
            let tiles = catalog.ranges.first().is_some_and(|r| r.start_key.is_empty())
                && catalog.ranges.last().is_some_and(|r| r.end_key.is_empty())
                && catalog.ranges.windows(2).all(|w| w[0].end_key == w[1].start_key);
            let led = catalog.ranges.iter().all(|r| r.leader_node_id != 0);
            (catalog.ranges.len() == n && tiles && led).then_some((catalog.version, catalog.ranges))
        })
        .await
    }

    /// Starts another gateway over the same core (gateways are stateless; Redis Pub/Sub links
    /// them), on its own free ports, with the same flags as the first. Waits until it serves.
    pub async fn start_extra_gateway(&self) -> ExtraGateway {
        let core = self.cores.iter().map(|c| c.addr.clone()).collect::<Vec<_>>().join(",");
        let (redis_port, grpc_port, metrics_port) = (free_port(), free_port(), free_port());
        let log_path = self.root().join(format!("gateway-{redis_port}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).expect("log");
        let process = Command::new(STRATA)
            .args(["gateway", "--core", &core])
            .args(["--redis", &format!("127.0.0.1:{redis_port}")])
            .args(["--grpc", &format!("127.0.0.1:{grpc_port}")])
            .args(["--metrics", &format!("127.0.0.1:{metrics_port}")])
            .args(&self.gateway_args)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start strata gateway");
        let gateway = ExtraGateway { process: Some(process), redis_port };
        let url = gateway.redis_url();
        eventually(Duration::from_secs(60), "the extra gateway to serve", || {
            let url = url.clone();
            async move {
                let mut conn = connect(&url).await.ok()?;
                let ok: String = redis::cmd("SET").arg("__ready").arg("1").query_async(&mut conn).await.ok()?;
                (ok == "OK").then_some(())
            }
        })
        .await;
        gateway
    }

    pub fn stop_gateway(&mut self) {
        if let Some(child) = self.gateway.take() {
            terminate(child);
        }
    }
}

/// A gateway started by [`Cluster::start_extra_gateway`]; killed when dropped.
pub struct ExtraGateway {
    process: Option<Child>,
    pub redis_port: u16,
}

impl ExtraGateway {
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.redis_port)
    }

    /// SIGTERM and wait: a clean shutdown (the gateway withdraws its Pub/Sub lease).
    pub fn stop(mut self) {
        if let Some(process) = self.process.take() {
            terminate(process);
        }
    }
}

impl Drop for ExtraGateway {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

fn first_range(status: &strata_proto::core::NodeStatusResponse) -> Option<&strata_proto::core::RangeStatus> {
    status.ranges.iter().find(|r| r.descriptor.as_ref().is_some_and(|d| d.range_id == 1))
}

/// A node's status, or None if it does not answer within a second (down or paused).
pub async fn node_status(addr: &str) -> Option<strata_proto::core::NodeStatusResponse> {
    let call = async {
        let mut client = KvClient::connect(format!("http://{addr}")).await.ok()?;
        Some(client.node_status(NodeStatusRequest {}).await.ok()?.into_inner())
    };
    tokio::time::timeout(Duration::from_secs(1), call).await.ok().flatten()
}

fn terminate(mut child: Child) {
    // SAFETY: signalling a child process this test spawned and still owns.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut g) = self.gateway.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
        for core in &mut self.cores {
            if let Some(mut c) = core.process.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
