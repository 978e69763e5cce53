//! `strata dev`, the one command that runs Strata: it must print its endpoints, serve Redis,
//! stop on Ctrl-C, and find its data again on the next start.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cluster::{eventually, free_port, STRATA};

fn start_dev(dir: &std::path::Path, redis_port: u16, core_port: u16) -> (Child, Vec<String>) {
    let mut child = Command::new(STRATA)
        .arg("dev")
        .args(["--gateways", "2"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--redis-port", &redis_port.to_string()])
        .args(["--grpc-port", &free_port_run().to_string()])
        .args(["--metrics-port", &free_port_run().to_string()])
        .args(["--core-port", &core_port.to_string()])
        .args(["--s3-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("strata dev");
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with("ready") || line.starts_with("warning");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

fn interrupt(mut child: Child) {
    // SAFETY: signalling the child we spawned.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "strata dev exits cleanly on Ctrl-C: {status}");
}

/// Three consecutive free ports for the core nodes.
pub fn free_port_run() -> u16 {
    loop {
        let base = free_port();
        if base < 65000 && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_cluster_runs_stops_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("strata-data");
    let redis_port = free_port_run();
    let core_port = free_port_run();
    let (child, lines) = start_dev(&data, redis_port, core_port);
    let text = lines.join("\n");
    assert!(text.contains(&format!("redis    127.0.0.1:{redis_port}")), "{text}");
    assert!(text.contains(&format!("redis    127.0.0.1:{}", redis_port + 1)), "second gateway: {text}");
    assert!(text.contains("core 3"), "{text}");
    assert!(text.contains("ready: range 1 leader is core"), "{text}");
    // The S3 endpoint and dev key pair, in the stable form scripts parse.
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} line: {text}"))
            .to_string()
    };
    assert!(field("s3 endpoint: http://127.0.0.1:").parse::<u16>().is_ok(), "{text}");
    let access_key = field("s3 access key: ");
    let secret_key = field("s3 secret key: ");
    let credentials = std::fs::read_to_string(data.join("s3-credentials")).expect("dev writes s3-credentials");
    assert!(credentials.contains(&format!("aws_access_key_id = {access_key}")), "{credentials}");
    assert!(credentials.contains(&format!("aws_secret_access_key = {secret_key}")), "{credentials}");
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let mut conn = crate::cluster::connect(&url).await.unwrap();
    let _: () = redis::cmd("SET").arg("dev:key").arg("survives").query_async(&mut conn).await.unwrap();
    drop(conn);
    // Both gateways front the same core.
    let mut second = crate::cluster::connect(&format!("redis://127.0.0.1:{}/", redis_port + 1)).await.unwrap();
    let seen: String = redis::cmd("GET").arg("dev:key").query_async(&mut second).await.unwrap();
    assert_eq!(seen, "survives");
    drop(second);
    interrupt(child);
    for n in 1..=3 {
        assert!(data.join(format!("node-{n}/db")).is_dir(), "node {n} keeps its RocksDB on disk");
    }

    let (child, lines) = start_dev(&data, redis_port, core_port);
    assert!(
        lines.iter().any(|l| l == &format!("s3 access key: {access_key}")),
        "the key pair survives a restart: {lines:?}"
    );
    let value: String = eventually(Duration::from_secs(30), "data after restart", || {
        let url = url.clone();
        async move {
            let mut conn = crate::cluster::connect(&url).await.ok()?;
            redis::cmd("GET").arg("dev:key").query_async(&mut conn).await.ok()
        }
    })
    .await;
    assert_eq!(value, "survives");
    interrupt(child);
}
