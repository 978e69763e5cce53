//! Transactions over ranges: Percolator-style two-phase commit, its one-phase fast path, and
//! the timestamp rules that make both snapshot-isolated and real-time ordered.
//!
//! - `records`: the lock and transaction-status records and how they are stored.
//! - `apply`: what each transaction step does to a range's state, deterministically.
//! - `ts_guard`: how a range leader picks commit timestamps so a snapshot read never misses
//!   a write that commits at or below its timestamp.
//!
//! `docs/transactions.md` explains the protocol and why it is safe.

pub mod apply;
pub mod read;
pub mod records;
pub mod ts_guard;

/// How long a prewrite lock lives without a heartbeat, from its transaction's start.
pub const DEFAULT_LOCK_TTL_MS: u64 = 3_000;
