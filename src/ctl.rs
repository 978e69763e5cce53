//! `strata ctl`: operator commands against a running core cluster.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use strata_proto::core::kv_client::KvClient;
use strata_proto::core::NodeStatusRequest;

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
    /// List ranges: id, bounds, epoch, leader and term, replicas, applied index.
    Ranges,
}

pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    match args.command {
        CtlCommand::Ranges => ranges(&args.core).await,
    }
}

fn show_key(key: &[u8], unbounded: &str) -> String {
    if key.is_empty() {
        return unbounded.to_string();
    }
    key.iter().flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect()
}

async fn ranges(core: &[String]) -> anyhow::Result<()> {
    let mut last_error = None;
    for addr in core {
        let status = async {
            let mut client = KvClient::connect(format!("http://{addr}")).await?;
            Ok::<_, anyhow::Error>(client.node_status(NodeStatusRequest {}).await?.into_inner())
        };
        match tokio::time::timeout(std::time::Duration::from_secs(3), status).await {
            Ok(Ok(status)) => {
                println!(
                    "{:<6} {:<24} {:<24} {:<6} {:<20} {:<10} replicas",
                    "range", "start", "end", "epoch", "leader", "applied"
                );
                for range in status.ranges {
                    let Some(d) = range.descriptor else { continue };
                    let epoch = d.epoch.unwrap_or_default();
                    let leader = d
                        .replicas
                        .iter()
                        .find(|r| r.node_id == d.leader_node_id)
                        .map(|r| format!("{}@{} t{}", r.node_id, r.addr, d.leader_term))
                        .unwrap_or_else(|| "none".into());
                    let replicas: Vec<_> = d.replicas.iter().map(|r| format!("{}@{}", r.node_id, r.addr)).collect();
                    println!(
                        "{:<6} {:<24} {:<24} {:<6} {:<20} {:<10} {}",
                        d.range_id,
                        show_key(&d.start_key, "-inf"),
                        show_key(&d.end_key, "+inf"),
                        format!("{}.{}", epoch.version, epoch.conf_version),
                        leader,
                        range.applied_index,
                        replicas.join(",")
                    );
                }
                return Ok(());
            }
            Ok(Err(e)) => last_error = Some(format!("{addr}: {e}")),
            Err(_) => last_error = Some(format!("{addr}: timed out")),
        }
    }
    match last_error {
        Some(e) => Err(anyhow::anyhow!(e)).context("no core node answered"),
        None => bail!("--core needs at least one address"),
    }
}
