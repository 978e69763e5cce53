//! How results are printed: one line per phase for people, or tab-separated lines (with a
//! header) that `scripts/bench-s3.sh` turns into its table.

use std::time::Duration;

use crate::size::ByteSize;
use crate::stats::Summary;

pub const TSV_HEADER: &str =
    "phase\tsize\tsize_bytes\tconcurrency\tops\terrors\tseconds\tops_per_s\tmib_per_s\tp50_ms\tp99_ms\tmax_ms";

fn millis(latency: Option<Duration>) -> String {
    latency.map_or_else(|| "-".to_string(), |l| format!("{:.2}", l.as_secs_f64() * 1000.0))
}

pub fn human_line(phase: &str, size: ByteSize, concurrency: usize, s: &Summary) -> String {
    format!(
        "{phase:<3} {size} x{concurrency}: {} ops in {:.1} s, {:.1} ops/s, {:.2} MiB/s, p50 {} ms, p99 {} ms, max {} ms, {} errors",
        s.ops,
        s.seconds,
        s.ops_per_sec,
        s.mib_per_sec,
        millis(s.p50),
        millis(s.p99),
        millis(s.max),
        s.errors
    )
}

pub fn tsv_line(phase: &str, size: ByteSize, concurrency: usize, s: &Summary) -> String {
    format!(
        "{phase}\t{size}\t{}\t{concurrency}\t{}\t{}\t{:.3}\t{:.1}\t{:.2}\t{}\t{}\t{}",
        size.0,
        s.ops,
        s.errors,
        s.seconds,
        s.ops_per_sec,
        s.mib_per_sec,
        millis(s.p50),
        millis(s.p99),
        millis(s.max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            ops: 20,
            errors: 1,
            seconds: 2.0,
            ops_per_sec: 10.0,
            mib_per_sec: 10.0,
            p50: Some(Duration::from_micros(1500)),
            p99: Some(Duration::from_millis(12)),
            max: None,
        }
    }

    #[test]
    fn tsv_line_matches_the_header_columns() {
        let line = tsv_line("PUT", ByteSize(1 << 20), 8, &summary());
        assert_eq!(line.split('\t').count(), TSV_HEADER.split('\t').count());
        assert_eq!(line, "PUT\t1MiB\t1048576\t8\t20\t1\t2.000\t10.0\t10.00\t1.50\t12.00\t-");
    }

    #[test]
    fn human_line_names_phase_size_and_latencies() {
        let line = human_line("GET", ByteSize(4096), 16, &summary());
        assert!(line.starts_with("GET 4KiB x16: 20 ops"), "{line}");
        assert!(line.contains("p50 1.50 ms, p99 12.00 ms, max - ms, 1 errors"), "{line}");
    }
}
