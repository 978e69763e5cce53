//! Hybrid logical clock: 48 bits of physical milliseconds, 16 bits of logical counter.
//!
//! Only a range leader issues timestamps, and only below a *ceiling* it has committed through
//! Raft. A new leader starts above the highest committed ceiling, so its timestamps are
//! above every timestamp any earlier leader could have issued — even if the earlier leader's
//! wall clock ran ahead of ours. Followers never issue timestamps from their own clocks.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub const LOGICAL_BITS: u32 = 16;
const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;

pub fn pack(physical_ms: u64, logical: u64) -> u64 {
    (physical_ms << LOGICAL_BITS) | (logical & LOGICAL_MASK)
}

pub fn physical_ms(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

/// The node's wall clock in unix milliseconds, shifted by the test-only clock offset.
pub fn wall_clock_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    now.saturating_add_signed(CLOCK_OFFSET_MS.load(Ordering::Relaxed))
}

/// Test-only: when set, the file named by `STRATA_TEST_CLOCK_OFFSET_FILE` holds a signed
/// number of milliseconds added to this node's wall clock, re-read every 100 ms. The
/// fault-injection harness (`jepsen/`) uses it to skew clocks; monotonic clocks (leases,
/// timeouts) are not affected, as with a real wall-clock jump.
pub const CLOCK_OFFSET_ENV: &str = "STRATA_TEST_CLOCK_OFFSET_FILE";

static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Starts following the offset file, if the environment names one.
pub fn follow_test_clock_offset() {
    let Some(path) = std::env::var_os(CLOCK_OFFSET_ENV) else { return };
    tracing::warn!(path = ?path, "test clock offset enabled");
    std::thread::spawn(move || loop {
        let offset = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0);
        CLOCK_OFFSET_MS.store(offset, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The clock would have to issue at or above the committed ceiling; wait for renewal.
    #[error("timestamp ceiling reached; waiting for renewal")]
    CeilingReached,
}

#[derive(Debug, Default)]
struct State {
    last: u64,
    /// Exclusive bound committed through Raft; 0 = none yet (not allowed to issue).
    ceiling: u64,
}

/// A leader's timestamp source.
#[derive(Debug, Default)]
pub struct HybridClock {
    state: Mutex<State>,
}

impl HybridClock {
    /// Reserves `count` consecutive timestamps and returns the first.
    pub fn issue(&self, count: u64) -> Result<u64, ClockError> {
        self.issue_at(wall_clock_ms(), count)
    }

    fn issue_at(&self, now_ms: u64, count: u64) -> Result<u64, ClockError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let first = pack(now_ms, 0).max(s.last + 1);
        let last = first + count.max(1) - 1;
        if last >= s.ceiling {
            return Err(ClockError::CeilingReached);
        }
        s.last = last;
        Ok(first)
    }

    /// Raises the floor: later timestamps are strictly above `ts`.
    pub fn observe(&self, ts: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.last = s.last.max(ts);
    }

    /// Installs a ceiling that has been committed through Raft.
    pub fn set_ceiling(&self, ceiling: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.ceiling = s.ceiling.max(ceiling);
    }

    /// Forgets the ceiling when leadership is lost: no timestamps until re-established.
    pub fn revoke(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.ceiling = 0;
    }

    pub fn ceiling(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).ceiling
    }

    pub fn last_issued(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_monotonic_timestamps_below_ceiling() {
        let clock = HybridClock::default();
        assert_eq!(clock.issue_at(1000, 1), Err(ClockError::CeilingReached));
        clock.set_ceiling(pack(2000, 0));
        let a = clock.issue_at(1000, 3).unwrap();
        assert_eq!(a, pack(1000, 0));
        // Same millisecond: the logical part moves on past the reserved block.
        let b = clock.issue_at(1000, 1).unwrap();
        assert_eq!(b, pack(1000, 3));
        // Wall clock going backwards never lowers timestamps.
        let c = clock.issue_at(900, 1).unwrap();
        assert!(c > b);
        assert_eq!(clock.issue_at(2000, 1), Err(ClockError::CeilingReached));
    }

    #[test]
    fn observed_timestamps_raise_the_floor() {
        let clock = HybridClock::default();
        clock.set_ceiling(pack(10_000, 0));
        clock.observe(pack(5000, 7));
        assert_eq!(clock.issue_at(1000, 1).unwrap(), pack(5000, 8));
        assert_eq!(physical_ms(pack(5000, 8)), 5000);
    }
}
