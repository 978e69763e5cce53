//! `strata-jepsen run --workload register|list-append|bank|s3-register --nemesis kill,pause,partition,clock,split
//! --time 60 --out DIR`: exits 0 only when the checker finds the history valid.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use strata_jepsen::nemesis::Fault;
use strata_jepsen::run::{run, RunConfig};
use strata_jepsen::workload::Workload;

#[derive(Parser)]
#[command(name = "strata-jepsen", about = "Fault injection against a real Strata cluster, with history checkers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One run: start a cluster, run the workload under the nemesis, check the history.
    Run {
        #[arg(long)]
        workload: Workload,
        /// Comma-separated faults; empty for none.
        #[arg(long, value_delimiter = ',', default_value = "kill,partition")]
        nemesis: Vec<Fault>,
        /// Seconds of workload.
        #[arg(long, default_value_t = 60)]
        time: u64,
        #[arg(long)]
        out: PathBuf,
        /// The `strata` binary (default: next to this one).
        #[arg(long)]
        strata: Option<PathBuf>,
        #[arg(long, default_value_t = 6)]
        processes: usize,
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        #[arg(long, default_value_t = 2)]
        gateways: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let Command::Run { workload, nemesis, time, out, strata, processes, nodes, gateways, seed } = Cli::parse().command;
    let strata = match strata {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("strata"),
    };
    anyhow::ensure!(strata.exists(), "no strata binary at {} (build it, or pass --strata)", strata.display());
    let runtime = tokio::runtime::Runtime::new()?;
    let config = RunConfig {
        strata,
        workload,
        faults: nemesis,
        time: Duration::from_secs(time),
        out: out.clone(),
        processes,
        nodes,
        gateways,
        seed,
    };
    let result = runtime.block_on(run(config))?;
    let v = &result.verdict;
    println!(
        "{}: {} operations, {} checked, {} fault windows, {} anomalies; details in {}",
        if v.valid { "VALID" } else { "INVALID" },
        result.ops,
        v.checked,
        result.faults,
        v.anomalies.len(),
        out.display()
    );
    for a in &v.anomalies {
        println!("  {}: {}", a.kind, a.explanation);
    }
    std::process::exit(if v.valid { 0 } else { 1 });
}
