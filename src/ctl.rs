//! `strata ctl`: operator commands against a running core cluster.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use strata_proto::core as pb;
use strata_proto::core::catalog_client::CatalogClient;
use strata_proto::core::kv_client::KvClient;

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// Core node addresses, comma separated; the first that answers is used.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103")]
    core: Vec<String>,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand, Debug)]
enum CtlCommand {
    /// List the route catalog: range, bounds, epoch, leader and term, size, replicas.
    Ranges,
    /// Split the range holding KEY at KEY.
    Split {
        #[command(flatten)]
        key: KeyArg,
    },
    /// Make the node at ADDR start an election for the range holding KEY now. It wins once
    /// the other replicas' vote leases lapse, i.e. when the current leader is idle
    /// (hibernating) or unreachable; a busy leader keeps its leadership.
    Campaign {
        #[command(flatten)]
        key: KeyArg,
        /// The core node that should lead (one of its addresses).
        #[arg(long)]
        node: String,
    },
}

/// A raw KV key, as text or (for keys no argument can carry, e.g. S3 manifest keys, which
/// hold a zero byte) in hex.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct KeyArg {
    #[arg(long)]
    key: Option<String>,
    /// The key's bytes in hex.
    #[arg(long)]
    key_hex: Option<String>,
}

impl KeyArg {
    fn bytes(self) -> anyhow::Result<Bytes> {
        match (self.key, self.key_hex) {
            (Some(key), _) => Ok(Bytes::from(key.into_bytes())),
            (None, Some(hex)) => parse_hex(&hex).map(Bytes::from),
            (None, None) => bail!("--key or --key-hex is required"),
        }
    }
}

fn parse_hex(hex: &str) -> anyhow::Result<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        bail!("--key-hex needs an even number of hex digits");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .with_context(|| format!("--key-hex: {hex:?} is not hex"))
        })
        .collect()
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    if args.core.is_empty() {
        bail!("--core needs at least one address");
    }
    match args.command {
        CtlCommand::Ranges => ranges(&args.core).await,
        CtlCommand::Split { key } => split(&args.core, key.bytes()?).await,
        CtlCommand::Campaign { key, node } => campaign(&node, key.bytes()?).await,
    }
}

fn show_key(key: &[u8], unbounded: &str) -> String {
    if key.is_empty() {
        return unbounded.to_string();
    }
    key.iter().flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect()
}

/// The catalog from the meta leader, following its address hint.
async fn catalog(core: &[String]) -> anyhow::Result<pb::GetCatalogResponse> {
    let mut queue: Vec<String> = core.to_vec();
    let mut last_error = String::new();
    for _ in 0..(core.len() * 3) {
        let Some(addr) = queue.first().cloned() else { break };
        queue.rotate_left(1);
        let call = async {
            let mut client = CatalogClient::connect(format!("http://{addr}")).await?;
            Ok::<_, anyhow::Error>(client.get_catalog(pb::GetCatalogRequest {}).await)
        };
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(Ok(resp))) => return Ok(resp.into_inner()),
            Ok(Ok(Err(status))) => {
                if let Some(leader) = status.metadata().get("strata-meta-leader").and_then(|v| v.to_str().ok()) {
                    queue.insert(0, leader.to_string());
                }
                last_error = format!("{addr}: {}", status.message());
            }
            Ok(Err(e)) => last_error = format!("{addr}: {e}"),
            Err(_) => last_error = format!("{addr}: timed out"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!(last_error)).context("no meta leader answered")
}

/// Approximate range sizes as each range's leader (or any replica) reports them.
async fn sizes(addrs: impl IntoIterator<Item = String>) -> HashMap<u64, (bool, u64)> {
    let mut sizes: HashMap<u64, (bool, u64)> = HashMap::new();
    for addr in addrs {
        let call = async {
            let mut client = KvClient::connect(format!("http://{addr}")).await?;
            Ok::<_, anyhow::Error>(client.node_status(pb::NodeStatusRequest {}).await?.into_inner())
        };
        let Ok(Ok(status)) = tokio::time::timeout(CALL_TIMEOUT, call).await else { continue };
        for range in status.ranges {
            let Some(d) = range.descriptor else { continue };
            let leader = range.role == "leader";
            let entry = sizes.entry(d.range_id).or_insert((leader, range.approximate_size_bytes));
            if leader || !entry.0 {
                *entry = (leader, range.approximate_size_bytes);
            }
        }
    }
    sizes
}

async fn ranges(core: &[String]) -> anyhow::Result<()> {
    let mut catalog = catalog(core).await?;
    catalog.ranges.sort_by(|a, b| a.start_key.cmp(&b.start_key));
    let mut addrs: Vec<String> = core.to_vec();
    for r in catalog.ranges.iter().flat_map(|d| &d.replicas) {
        if !addrs.contains(&r.addr) {
            addrs.push(r.addr.clone());
        }
    }
    let sizes = sizes(addrs).await;
    println!("catalog version {}, {} ranges", catalog.version, catalog.ranges.len());
    println!("{:<6} {:<24} {:<24} {:<6} {:<24} {:>10} replicas", "range", "start", "end", "epoch", "leader", "size");
    for d in &catalog.ranges {
        let epoch = d.epoch.unwrap_or_default();
        let leader = d
            .replicas
            .iter()
            .find(|r| r.node_id == d.leader_node_id)
            .map(|r| format!("{}@{} t{}", r.node_id, r.addr, d.leader_term))
            .unwrap_or_else(|| "unknown".into());
        let size = sizes.get(&d.range_id).map(|(_, s)| s.to_string()).unwrap_or_else(|| "?".into());
        let replicas: Vec<_> = d.replicas.iter().map(|r| format!("{}@{}", r.node_id, r.addr)).collect();
        println!(
            "{:<6} {:<24} {:<24} {:<6} {:<24} {:>10} {}",
            d.range_id,
            show_key(&d.start_key, "-inf"),
            show_key(&d.end_key, "+inf"),
            format!("{}.{}", epoch.version, epoch.conf_version),
            leader,
            size,
            replicas.join(",")
        );
    }
    Ok(())
}

/// Asks each node to split until the range's leader does it, following leader hints.
async fn split(core: &[String], key: Bytes) -> anyhow::Result<()> {
    let mut queue: Vec<String> = core.to_vec();
    let mut last_error = String::new();
    for _ in 0..(core.len() * 5) {
        let Some(addr) = queue.first().cloned() else { break };
        queue.rotate_left(1);
        let call = async {
            let mut client = KvClient::connect(format!("http://{addr}")).await?;
            Ok::<_, anyhow::Error>(client.split_range(pb::SplitRangeRequest { split_key: key.clone() }).await?)
        };
        match tokio::time::timeout(CALL_TIMEOUT * 2, call).await {
            Ok(Ok(resp)) => {
                let resp = resp.into_inner();
                use pb::range_error::Kind;
                match resp.range_error.and_then(|e| e.kind) {
                    None => {
                        for d in [resp.left, resp.right].into_iter().flatten() {
                            let epoch = d.epoch.unwrap_or_default();
                            println!(
                                "range {} [{}, {}) epoch {}.{}",
                                d.range_id,
                                show_key(&d.start_key, "-inf"),
                                show_key(&d.end_key, "+inf"),
                                epoch.version,
                                epoch.conf_version
                            );
                        }
                        return Ok(());
                    }
                    Some(Kind::NotLeader(nl)) if !nl.leader_addr.is_empty() => {
                        queue.insert(0, nl.leader_addr.clone());
                        last_error = format!("{addr}: not leader");
                    }
                    Some(other) => last_error = format!("{addr}: {other:?}"),
                }
            }
            Ok(Err(e)) => last_error = format!("{addr}: {e}"),
            Err(_) => last_error = format!("{addr}: timed out"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("split at {:?} failed: {last_error}", show_key(&key, ""))
}

/// Asks the node at `node` to campaign for the range holding `key`.
async fn campaign(node: &str, key: Bytes) -> anyhow::Result<()> {
    let call = async {
        let mut client = KvClient::connect(format!("http://{node}")).await?;
        Ok::<_, anyhow::Error>(client.campaign(pb::CampaignRequest { key: key.clone() }).await?.into_inner())
    };
    let resp = tokio::time::timeout(CALL_TIMEOUT, call).await.context("campaign timed out")??;
    if resp.range_id == 0 {
        bail!("{node} holds no replica of a range with key {:?}", show_key(&key, ""));
    }
    println!("node {node} campaigns for range {}", resp.range_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn key_hex_parses_bytes_and_refuses_junk() {
        assert_eq!(parse_hex("4f62006b").unwrap(), b"Ob\0k");
        assert_eq!(parse_hex("").unwrap(), b"");
        assert!(parse_hex("4f6").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("é1").is_err());
    }
}
