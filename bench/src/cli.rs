//! Command-line arguments of `strata-s3-bench`, and their translation into a target and a plan.

use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::load::{ChecksumMode, LoadPlan, PlanError, S3Target};
use crate::size::ByteSize;

#[derive(Parser, Debug)]
#[command(
    name = "strata-s3-bench",
    about = "PUT then GET objects of one size against an S3 endpoint; prints ops/s, MiB/s and p50/p99 latency"
)]
pub struct Cli {
    /// S3 endpoint, e.g. http://127.0.0.1:9000
    #[arg(long, env = "S3_ENDPOINT")]
    pub endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Created if missing; an existing bucket is used as it is.
    #[arg(long, default_value = "strata-bench")]
    pub bucket: String,
    /// Object size: bytes or binary units (4KiB, 1MiB, 64MiB).
    #[arg(long, default_value = "1MiB")]
    pub size: ByteSize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds per phase (PUT, then GET); the phase also ends after --count operations.
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Operations per phase; the phase also ends after --duration.
    #[arg(long)]
    pub count: Option<u64>,
    /// Distinct objects written (PUTs cycle through them; GETs read them back): bounds the disk
    /// the run fills to keys x size.
    #[arg(long, default_value_t = 256)]
    pub keys: u64,
    #[arg(long, default_value = "strata-s3-bench/")]
    pub key_prefix: String,
    /// Request checksums: only where S3 requires one, or on every request (the SDK default).
    #[arg(long, value_enum, default_value_t = Checksums::WhenRequired)]
    pub checksums: Checksums,
    /// Leave the written objects in the bucket.
    #[arg(long)]
    pub keep_objects: bool,
    /// Print tab-separated lines (with a header) instead of sentences.
    #[arg(long)]
    pub tsv: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksums {
    WhenRequired,
    WhenSupported,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 =
        text.trim_end_matches('s').parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a non-negative number of seconds"))
}

impl Cli {
    pub fn target(&self) -> S3Target {
        S3Target {
            endpoint: self.endpoint.clone(),
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
        }
    }

    /// Without --count or --duration a phase runs for 10 seconds.
    pub fn plan(&self) -> Result<LoadPlan, PlanError> {
        let duration = match (self.count, self.duration) {
            (None, None) => Some(Duration::from_secs(10)),
            (_, duration) => duration,
        };
        let plan = LoadPlan {
            object_size: self.size,
            concurrency: self.concurrency,
            count: self.count,
            duration,
            keys: self.keys,
            key_prefix: self.key_prefix.clone(),
        };
        plan.validate()?;
        Ok(plan)
    }

    pub fn checksum_mode(&self) -> ChecksumMode {
        match self.checksums {
            Checksums::WhenRequired => ChecksumMode::WhenRequired,
            Checksums::WhenSupported => ChecksumMode::WhenSupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [&str; 7] =
        ["strata-s3-bench", "--endpoint", "http://127.0.0.1:9000", "--access-key", "ak", "--secret-key", "sk"];

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(BASE.iter().chain(extra))
    }

    #[test]
    fn defaults_run_one_mib_objects_for_ten_seconds() {
        let cli = parse(&[]).unwrap();
        let plan = cli.plan().unwrap();
        assert_eq!(plan.object_size, ByteSize(1 << 20));
        assert_eq!(plan.concurrency, 8);
        assert_eq!(plan.duration, Some(Duration::from_secs(10)));
        assert_eq!(plan.count, None);
        assert_eq!(cli.checksum_mode(), ChecksumMode::WhenRequired);
        assert_eq!(cli.target().bucket, "strata-bench");
    }

    #[test]
    fn size_count_duration_and_concurrency_are_read() {
        let cli =
            parse(&["--size", "64MiB", "--count", "32", "--duration", "2.5s", "--concurrency", "4", "--tsv"]).unwrap();
        let plan = cli.plan().unwrap();
        assert_eq!(plan.object_size, ByteSize(64 << 20));
        assert_eq!(plan.count, Some(32));
        assert_eq!(plan.duration, Some(Duration::from_millis(2500)));
        assert_eq!(plan.concurrency, 4);
        assert!(cli.tsv);
    }

    #[test]
    fn a_count_alone_has_no_time_limit() {
        let plan = parse(&["--count", "5"]).unwrap().plan().unwrap();
        assert_eq!((plan.count, plan.duration), (Some(5), None));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--size", "lots"]).is_err());
        assert!(parse(&["--duration", "-1"]).is_err());
        assert!(parse(&["--duration", "soon"]).is_err());
        assert!(parse(&["--checksums", "always"]).is_err());
        assert_eq!(parse(&["--concurrency", "0"]).unwrap().plan().unwrap_err(), PlanError::NoConcurrency);
        assert_eq!(parse(&["--keys", "0"]).unwrap().plan().unwrap_err(), PlanError::NoKeys);
    }

    #[test]
    fn the_endpoint_is_required() {
        assert!(Cli::try_parse_from(["strata-s3-bench", "--access-key", "a", "--secret-key", "s"]).is_err());
    }

    #[test]
    fn checksums_on_every_request_can_be_asked_for() {
        let cli = parse(&["--checksums", "when-supported"]).unwrap();
        assert_eq!(cli.checksum_mode(), ChecksumMode::WhenSupported);
    }
}
