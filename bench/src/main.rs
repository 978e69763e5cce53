//! `strata-s3-bench --endpoint URL --access-key K --secret-key S --size 1MiB --concurrency 8
//! --duration 10`: PUT then GET, one line (or one TSV row with --tsv) per phase. Exits non-zero
//! when no PUT succeeded or any operation failed.

use clap::Parser;
use strata_bench::cli::Cli;
use strata_bench::load;
use strata_bench::report::{human_line, tsv_line, TSV_HEADER};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let plan = cli.plan()?;
    let target = cli.target();
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        let client = load::client(&target, cli.checksum_mode());
        load::ensure_bucket(&client, &target.bucket).await?;
        load::run(&client, &target.bucket, &plan, !cli.keep_objects).await
    })?;
    if cli.tsv {
        println!("{TSV_HEADER}");
    }
    let mut failed = 0;
    for (phase, stats) in [("PUT", &result.put), ("GET", &result.get)] {
        let summary = stats.summarize(plan.object_size.0);
        let line = if cli.tsv { tsv_line } else { human_line };
        println!("{}", line(phase, plan.object_size, plan.concurrency, &summary));
        if let Some(error) = &stats.first_error {
            eprintln!("{phase}: {} operations failed; first error: {error}", stats.errors);
        }
        failed += stats.errors;
    }
    if result.cleanup_errors > 0 {
        eprintln!("warning: {} benchmark objects could not be deleted", result.cleanup_errors);
    }
    anyhow::ensure!(failed == 0, "{failed} operations failed");
    Ok(())
}
