//! What one phase measured: successful operations with their latencies, failures, wall time;
//! and what is derived from it (ops/s, MiB/s, latency percentiles).

use std::time::Duration;

/// One phase's raw results, merged from all workers.
#[derive(Debug, Default, Clone)]
pub struct PhaseStats {
    /// Latencies of the successful operations, in no particular order.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    /// The first failure, to show why a phase failed.
    pub first_error: Option<String>,
    /// From the first operation's start to the last one's end (workers start together).
    pub elapsed: Duration,
}

impl PhaseStats {
    pub fn record_error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    pub fn merge(&mut self, other: PhaseStats) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn successes(&self) -> u64 {
        self.latencies.len() as u64
    }

    pub fn summarize(&self, object_size: u64) -> Summary {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let seconds = self.elapsed.as_secs_f64();
        let per_second = |amount: f64| if seconds > 0.0 { amount / seconds } else { 0.0 };
        let ops = self.successes();
        Summary {
            ops,
            errors: self.errors,
            seconds,
            ops_per_sec: per_second(ops as f64),
            mib_per_sec: per_second(ops as f64 * object_size as f64 / (1u64 << 20) as f64),
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied(),
        }
    }
}

/// The derived numbers of one phase. Latencies are None when no operation succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub mib_per_sec: f64,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
}

/// Nearest-rank percentile of ascending `sorted`: the smallest value with at least `pct`% of the
/// samples at or below it. Never interpolates, so it is always a latency that was observed.
pub fn percentile(sorted: &[Duration], pct: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let pct = pct.clamp(0.0, 100.0);
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn percentile_of_nothing_is_none() {
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn percentile_of_one_sample_is_that_sample() {
        let one = ms(&[7]);
        for pct in [0.0, 1.0, 50.0, 99.0, 100.0] {
            assert_eq!(percentile(&one, pct), Some(Duration::from_millis(7)));
        }
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&hundred, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&hundred, 0.0), Some(Duration::from_millis(1)));
        // 4 samples: p50 is the 2nd, p99 the 4th (ceil(0.99 * 4) = 4).
        let four = ms(&[10, 20, 30, 40]);
        assert_eq!(percentile(&four, 50.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&four, 99.0), Some(Duration::from_millis(40)));
    }

    #[test]
    fn percentile_clamps_out_of_range_requests() {
        let three = ms(&[1, 2, 3]);
        assert_eq!(percentile(&three, -5.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&three, 250.0), Some(Duration::from_millis(3)));
    }

    #[test]
    fn summary_derives_rates_from_successes_and_wall_time() {
        let stats = PhaseStats {
            latencies: ms(&[30, 10, 20, 40]),
            errors: 1,
            first_error: Some("boom".into()),
            elapsed: Duration::from_secs(2),
        };
        let summary = stats.summarize(1 << 20);
        assert_eq!(summary.ops, 4);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.ops_per_sec, 2.0);
        assert_eq!(summary.mib_per_sec, 2.0);
        assert_eq!(summary.p50, Some(Duration::from_millis(20)));
        assert_eq!(summary.p99, Some(Duration::from_millis(40)));
        assert_eq!(summary.max, Some(Duration::from_millis(40)));
    }

    #[test]
    fn summary_of_an_empty_phase_has_no_rates_or_latencies() {
        let summary = PhaseStats::default().summarize(4096);
        assert_eq!((summary.ops, summary.ops_per_sec, summary.mib_per_sec), (0, 0.0, 0.0));
        assert_eq!((summary.p50, summary.p99, summary.max), (None, None, None));
    }

    #[test]
    fn merge_keeps_the_first_error_and_all_samples() {
        let mut a = PhaseStats { latencies: ms(&[1]), ..Default::default() };
        a.record_error("first".into());
        let mut b = PhaseStats { latencies: ms(&[2, 3]), ..Default::default() };
        b.record_error("second".into());
        b.record_error("third".into());
        a.merge(b);
        assert_eq!(a.successes(), 3);
        assert_eq!(a.errors, 3);
        assert_eq!(a.first_error.as_deref(), Some("first"));
    }
}
