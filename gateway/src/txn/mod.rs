//! The gateway's half of transactions: it coordinates two-phase commits (`commit`) and
//! settles the locks of transactions whose coordinator is gone (`resolver`). The core's half
//! (locks, commit records, timestamp rules) is `strata_core::txn`; `docs/transactions.md`
//! has the whole protocol.

pub mod commit;
pub mod resolver;

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use strata_proto::core as pb;

/// A transaction step (no conditions or mutations of its own) as a write request.
pub(crate) fn txn_step(kind: pb::txn_request::Kind) -> pb::WriteRequest {
    pb::WriteRequest { txn: Some(pb::TxnRequest { kind: Some(kind) }), ..Default::default() }
}

/// This gateway's wall clock, unix ms. Only to estimate lock ages: the primary's range
/// decides expiry with an oracle timestamp.
pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The physical milliseconds of a hybrid timestamp (48 bits ms, 16 bits logical).
pub(crate) fn physical_ms(ts: u64) -> u64 {
    ts >> 16
}

/// A short randomized pause growing with `attempt`, so that conflicting clients do not
/// retry in lockstep.
pub async fn backoff(attempt: u32) {
    let ceiling_us = 200 * u64::from(attempt.min(40) + 1);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let pause_us = ceiling_us / 2 + hasher.finish() % (ceiling_us / 2 + 1);
    tokio::time::sleep(Duration::from_micros(pause_us)).await;
}
