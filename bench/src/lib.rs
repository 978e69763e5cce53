//! `strata-s3-bench`: PUT then GET of fixed-size objects against any S3 endpoint, with a fixed
//! concurrency, for a time or a number of operations; reports ops/s, MiB/s and latency
//! percentiles per phase. Used by `scripts/bench-s3.sh` to compare `strata dev` with a
//! local-disk S3 server.

pub mod budget;
pub mod cli;
pub mod load;
pub mod report;
pub mod size;
pub mod stats;
