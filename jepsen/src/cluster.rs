//! A real Strata cluster of separate processes on loopback, under the harness's control:
//! `strata core` nodes (each with its own data directory, reaching each peer through its own
//! [`Proxy`]) and `strata gateway` processes. Any process can be killed (`kill -9`),
//! restarted, paused (SIGSTOP) and resumed (SIGCONT); any link between two core nodes cut;
//! any node's wall clock skewed.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::proxy::Proxy;
use crate::workload::s3::S3Endpoint;

/// The S3 key pair every gateway accepts.
pub const S3_ACCESS_KEY: &str = "JEPSENACCESSKEY";
pub const S3_SECRET_KEY: &str = "jepsen-secret-key";

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub struct Node {
    pub id: u64,
    pub addr: String,
    pub dir: PathBuf,
    pub clock_file: PathBuf,
    process: Option<Child>,
    paused: bool,
    /// Proxies this node dials its peers through, by peer id.
    links: HashMap<u64, Proxy>,
}

pub struct Gateway {
    pub redis_port: u16,
    /// Every gateway serves S3 too, with [`S3_ACCESS_KEY`] / [`S3_SECRET_KEY`].
    pub s3_port: u16,
    process: Option<Child>,
    /// The gateway's way to each core node (by id), through a proxy that can be cut.
    links: HashMap<u64, Proxy>,
}

pub struct Cluster {
    pub strata: PathBuf,
    pub root: PathBuf,
    pub nodes: Vec<Node>,
    pub gateways: Vec<Gateway>,
    peers: String,
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: signalling a child process this harness spawned and still owns.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

impl Cluster {
    /// Starts `nodes` core nodes and `gateways` gateways under `root`.
    pub async fn start(strata: PathBuf, root: &Path, nodes: u64, gateways: usize) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(root)?;
        let mut cluster =
            Cluster { strata, root: root.to_path_buf(), nodes: Vec::new(), gateways: Vec::new(), peers: String::new() };
        for id in 1..=nodes {
            let dir = root.join(format!("node-{id}"));
            std::fs::create_dir_all(&dir)?;
            let clock_file = dir.join("clock-offset-ms");
            std::fs::write(&clock_file, "0")?;
            let addr = format!("127.0.0.1:{}", free_port());
            cluster.nodes.push(Node { id, addr, dir, clock_file, process: None, paused: false, links: HashMap::new() });
        }
        cluster.peers = cluster.nodes.iter().map(|n| format!("{}={}", n.id, n.addr)).collect::<Vec<_>>().join(",");
        let targets: Vec<(u64, String)> = cluster.nodes.iter().map(|n| (n.id, n.addr.clone())).collect();
        for node in &mut cluster.nodes {
            for (peer, addr) in &targets {
                if *peer != node.id {
                    node.links.insert(*peer, Proxy::start(addr.clone()).await?);
                }
            }
        }
        for i in 0..cluster.nodes.len() {
            cluster.spawn_node(i)?;
        }
        for _ in 0..gateways {
            let redis_port = free_port();
            let mut links = HashMap::new();
            for (id, addr) in &targets {
                links.insert(*id, Proxy::start(addr.clone()).await?);
            }
            cluster.gateways.push(Gateway { redis_port, s3_port: free_port(), process: None, links });
            let g = cluster.gateways.len() - 1;
            cluster.spawn_gateway(g)?;
        }
        Ok(cluster)
    }

    fn spawn_node(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &self.nodes[i];
        let via: Vec<String> = node
            .links
            .iter()
            .map(|(peer, proxy)| {
                format!("{}={}", self.nodes.iter().find(|n| n.id == *peer).expect("peer").addr, proxy.listen)
            })
            .collect();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(node.dir.join("core.log"))?;
        let child = Command::new(&self.strata)
            .args(["core", "--node-id", &node.id.to_string(), "--listen", &node.addr, "--peers", &self.peers])
            .arg("--data-dir")
            .arg(&node.dir)
            .env("STRATA_TEST_DIAL_VIA", via.join(","))
            .env("STRATA_TEST_CLOCK_OFFSET_FILE", &node.clock_file)
            .env("RUST_LOG", "info,openraft=warn")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting strata core")?;
        self.nodes[i].process = Some(child);
        self.nodes[i].paused = false;
        Ok(())
    }

    fn spawn_gateway(&mut self, g: usize) -> anyhow::Result<()> {
        let core = self.nodes.iter().map(|n| n.addr.clone()).collect::<Vec<_>>().join(",");
        let port = self.gateways[g].redis_port;
        let s3 = format!("127.0.0.1:{}", self.gateways[g].s3_port);
        let via: Vec<String> = self.gateways[g]
            .links
            .iter()
            .map(|(id, proxy)| format!("{}={}", self.nodes[self.index(*id)].addr, proxy.listen))
            .collect();
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.root.join(format!("gateway-{g}.log")))?;
        let child = Command::new(&self.strata)
            .args(["gateway", "--core", &core, "--redis", &format!("127.0.0.1:{port}")])
            .args(["--grpc", &format!("127.0.0.1:{}", free_port()), "--metrics", &format!("127.0.0.1:{}", free_port())])
            .args(["--s3-listen", &s3, "--s3-access-key", S3_ACCESS_KEY, "--s3-secret-key", S3_SECRET_KEY])
            .env("STRATA_TEST_DIAL_VIA", via.join(","))
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting strata gateway")?;
        self.gateways[g].process = Some(child);
        Ok(())
    }

    pub fn redis_urls(&self) -> Vec<String> {
        self.gateways.iter().map(|g| format!("redis://127.0.0.1:{}/", g.redis_port)).collect()
    }

    pub fn s3_endpoints(&self) -> Vec<S3Endpoint> {
        self.gateways
            .iter()
            .map(|g| S3Endpoint {
                url: format!("http://127.0.0.1:{}", g.s3_port),
                access_key: S3_ACCESS_KEY.to_string(),
                secret_key: S3_SECRET_KEY.to_string(),
            })
            .collect()
    }

    fn index(&self, id: u64) -> usize {
        self.nodes.iter().position(|n| n.id == id).expect("node id")
    }

    /// kill -9.
    pub fn kill(&mut self, id: u64) {
        let i = self.index(id);
        if let Some(mut child) = self.nodes[i].process.take() {
            if self.nodes[i].paused {
                signal(&child, libc::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self, id: u64) -> anyhow::Result<()> {
        let i = self.index(id);
        if self.nodes[i].process.is_none() {
            self.spawn_node(i)?;
        }
        Ok(())
    }

    /// kill -9 gateway `g`.
    pub fn kill_gateway(&mut self, g: usize) {
        if let Some(mut child) = self.gateways.get_mut(g).and_then(|gw| gw.process.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts gateway `g` again (on the same ports) if it is not running.
    pub fn restart_gateway(&mut self, g: usize) -> anyhow::Result<()> {
        if self.gateways.get(g).is_some_and(|gw| gw.process.is_none()) {
            self.spawn_gateway(g)?;
        }
        Ok(())
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.nodes[self.index(id)].process.is_some()
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`).
    pub fn pause(&mut self, id: u64, paused: bool) {
        let i = self.index(id);
        if let Some(child) = &self.nodes[i].process {
            signal(child, if paused { libc::SIGSTOP } else { libc::SIGCONT });
            self.nodes[i].paused = paused;
        }
    }

    /// Cuts (or heals) the link from `from` to `to` (one direction).
    pub fn set_link(&self, from: u64, to: u64, cut: bool) {
        if let Some(proxy) = self.nodes[self.index(from)].links.get(&to) {
            proxy.set_cut(cut);
        }
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&self, a: &[u64], b: &[u64]) {
        for x in a {
            for y in b {
                self.set_link(*x, *y, true);
                self.set_link(*y, *x, true);
            }
        }
    }

    /// Cuts (or heals) gateway `g`'s links to the core nodes `ids`, both ways.
    pub fn set_gateway_links(&self, g: usize, ids: &[u64], cut: bool) {
        for id in ids {
            if let Some(proxy) = self.gateways.get(g).and_then(|gw| gw.links.get(id)) {
                proxy.set_cut(cut);
            }
        }
    }

    pub fn heal(&self) {
        let core = self.nodes.iter().flat_map(|n| n.links.values());
        for proxy in core.chain(self.gateways.iter().flat_map(|g| g.links.values())) {
            proxy.set_cut(false);
        }
    }

    /// Shifts `id`'s wall clock by `offset_ms`.
    pub fn set_clock_offset(&self, id: u64, offset_ms: i64) -> anyhow::Result<()> {
        std::fs::write(&self.nodes[self.index(id)].clock_file, offset_ms.to_string())?;
        Ok(())
    }

    pub fn core_addrs(&self) -> String {
        self.nodes.iter().map(|n| n.addr.clone()).collect::<Vec<_>>().join(",")
    }

    /// Splits the range holding `key` (a raw KV key) through `strata ctl`.
    pub async fn split(&self, key: &[u8]) -> anyhow::Result<()> {
        let out = tokio::process::Command::new(&self.strata)
            .args(["ctl", "--core", &self.core_addrs(), "split"])
            .args(key_args(key))
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "split failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// Makes node `id` campaign for the range holding `key` (a raw KV key).
    pub async fn campaign(&self, id: u64, key: &[u8]) -> anyhow::Result<()> {
        let node = self.nodes[self.index(id)].addr.clone();
        let out = tokio::process::Command::new(&self.strata)
            .args(["ctl", "campaign", "--node", &node])
            .args(key_args(key))
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "campaign failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// Heals every fault: links, paused processes, clocks, dead nodes and gateways.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        self.heal();
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        for id in ids {
            self.pause(id, false);
            self.set_clock_offset(id, 0)?;
            self.restart(id)?;
        }
        for g in 0..self.gateways.len() {
            self.restart_gateway(g)?;
        }
        Ok(())
    }

    /// Stops every node (kill -9) and starts it again: what survives is what was durable.
    pub fn restart_all(&mut self) -> anyhow::Result<()> {
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        for id in &ids {
            self.kill(*id);
        }
        for id in ids {
            self.restart(id)?;
        }
        Ok(())
    }

    pub fn stop(&mut self) {
        for g in &mut self.gateways {
            if let Some(mut child) = g.process.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        for id in ids {
            self.kill(id);
        }
    }

    /// Waits until a write through every gateway succeeds.
    pub async fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        for url in self.redis_urls() {
            loop {
                let ok = async {
                    let client = redis::Client::open(url.as_str()).ok()?;
                    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                    redis::cmd("SET").arg("jepsen:ready").arg("1").query_async::<String>(&mut conn).await.ok()
                };
                if tokio::time::timeout(Duration::from_secs(5), ok).await.ok().flatten().is_some() {
                    break;
                }
                anyhow::ensure!(tokio::time::Instant::now() < deadline, "cluster not ready through {url}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

/// `strata ctl`'s way to name a raw KV key: `--key` when it is printable text, else
/// `--key-hex` (S3 manifest keys hold a zero byte, which no argument can carry).
fn key_args(key: &[u8]) -> [String; 2] {
    if key.iter().all(|b| b.is_ascii_graphic()) {
        ["--key".into(), String::from_utf8_lossy(key).into_owned()]
    } else {
        ["--key-hex".into(), key.iter().map(|b| format!("{b:02x}")).collect()]
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::key_args;

    #[test]
    fn keys_with_a_zero_byte_go_as_hex() {
        assert_eq!(key_args(b"Rjr:1"), ["--key".to_string(), "Rjr:1".to_string()]);
        assert_eq!(key_args(b"Ob\0k/1"), ["--key-hex".to_string(), "4f62006b2f31".to_string()]);
    }
}
