//! How a range leader picks the commit timestamp of a one-phase write.
//!
//! A write arrives with `min_commit_ts`, a timestamp the gateway took from the oracle when
//! the request began. The leader commits it at `max(min_commit_ts, max_read_ts + 1)`, where
//! `max_read_ts` is the highest snapshot-read timestamp this range has served. So:
//!
//! - a snapshot read at `ts` never misses a write that later commits at or below `ts`: the
//!   read first raises `max_read_ts` (later writes land above it) and then waits for the
//!   writes already given a timestamp at or below `ts` to be applied;
//! - every commit timestamp is at most one above a timestamp the oracle had issued before
//!   the write was acknowledged, so a transaction that starts after the write completed
//!   (and gets a strictly larger timestamp from the oracle) sees it.
//!
//! A new leader does not know which reads its predecessors served, so before its first
//! write in a term it raises `max_read_ts` to a fresh oracle timestamp, which is above every
//! read timestamp issued before.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
struct Inner {
    max_read_ts: u64,
    /// The term whose oracle floor has been folded into `max_read_ts`.
    floor_term: Option<u64>,
    /// Commit timestamps handed out and not yet applied (or failed), with multiplicity.
    pending: BTreeMap<u64, usize>,
}

#[derive(Default)]
pub struct TsGuard {
    inner: Mutex<Inner>,
    released: Notify,
}

impl TsGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the leader must fetch an oracle floor before assigning timestamps in `term`.
    pub fn needs_floor(&self, term: u64) -> bool {
        self.lock().floor_term != Some(term)
    }

    pub fn set_floor(&self, term: u64, oracle_ts: u64) {
        let mut inner = self.lock();
        inner.max_read_ts = inner.max_read_ts.max(oracle_ts);
        inner.floor_term = Some(term);
    }

    /// The commit timestamp for a write that may not commit below `min_commit_ts`. The
    /// caller must [`release`](Self::release) it once the write is applied or has failed.
    pub fn assign(&self, min_commit_ts: u64) -> u64 {
        let mut inner = self.lock();
        let ts = min_commit_ts.max(inner.max_read_ts + 1);
        *inner.pending.entry(ts).or_default() += 1;
        ts
    }

    pub fn release(&self, ts: u64) {
        let mut inner = self.lock();
        if let Some(n) = inner.pending.get_mut(&ts) {
            *n -= 1;
            if *n == 0 {
                inner.pending.remove(&ts);
            }
        }
        drop(inner);
        self.released.notify_waiters();
    }

    /// Registers a snapshot read at `read_ts` and waits until no write with a timestamp at or
    /// below it is still in flight. Afterwards the state machine holds every write that will
    /// ever commit at or below `read_ts` on this leader.
    pub async fn observe_read(&self, read_ts: u64) {
        {
            let mut inner = self.lock();
            inner.max_read_ts = inner.max_read_ts.max(read_ts);
        }
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let blocked = self.lock().pending.first_key_value().is_some_and(|(ts, _)| *ts <= read_ts);
            if !blocked {
                return;
            }
            released.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn writes_land_above_served_reads_and_reads_wait_for_lower_writes() {
        let guard = Arc::new(TsGuard::default());
        assert!(guard.needs_floor(3));
        guard.set_floor(3, 100);
        assert!(!guard.needs_floor(3));
        assert_eq!(guard.assign(50), 101, "never below the oracle floor");
        assert_eq!(guard.assign(200), 200);
        // A read at 150 must wait for the write at 101, not for the one at 200.
        let reader = {
            let guard = guard.clone();
            tokio::spawn(async move { guard.observe_read(150).await })
        };
        tokio::task::yield_now().await;
        assert!(!reader.is_finished());
        guard.release(101);
        reader.await.unwrap();
        // Later writes commit above the read.
        assert_eq!(guard.assign(120), 151);
        assert!(guard.needs_floor(4), "a new term needs a new floor");
    }
}
