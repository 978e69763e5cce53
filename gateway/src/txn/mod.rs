//! The gateway's half of transactions: it coordinates two-phase commits (`commit`) and
//! settles the locks of transactions whose coordinator is gone (`resolver`). The core's half
//! (locks, commit records, timestamp rules) is `strata_core::txn`; `docs/transactions.md`
//! has the whole protocol.

pub mod commit;
pub mod resolver;

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A short randomized pause growing with `attempt`, so that conflicting clients do not
/// retry in lockstep.
pub async fn backoff(attempt: u32) {
    let ceiling_us = 200 * u64::from(attempt.min(40) + 1);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let pause_us = ceiling_us / 2 + hasher.finish() % (ceiling_us / 2 + 1);
    tokio::time::sleep(Duration::from_micros(pause_us)).await;
}
