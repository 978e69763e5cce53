//! The KV API that protocol semantics are written against.
//!
//! The gateway implements [`KvStore`] by forwarding to the core over gRPC; the protocol
//! modules never know where a key lives. Every write is a list of version conditions plus a
//! list of mutations that the core applies atomically (all or nothing) through Raft: that is
//! how read-modify-write commands such as INCR or SET NX stay atomic without locks in the
//! gateway (optimistic concurrency, retried on [`WriteOutcome::ConditionFailed`]).

use std::future::Future;

use bytes::Bytes;

/// What a read saw for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    /// Commit timestamp of the key's newest value (expired or not); 0 when the key has no
    /// value (never written, or deleted). Conditions compare against exactly this number.
    pub version: u64,
    /// The live value: `None` when absent, deleted or expired.
    pub value: Option<Bytes>,
    /// Absolute expiry (unix ms) of the live value, if it has one.
    pub expire_at_ms: Option<u64>,
}

impl KeyState {
    pub fn is_live(&self) -> bool {
        self.value.is_some()
    }
}

/// The result of a multi-key read: all keys are read at one point in time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSnapshot {
    /// One state per requested key, in request order.
    pub states: Vec<KeyState>,
    /// The wall-clock time (unix ms) at which the core judged expiry. TTL replies are computed
    /// against this, not the gateway's clock.
    pub now_ms: u64,
}

/// How a put sets the key's expiry. Relative expiries are resolved to absolute unix ms by the
/// core's leader when it proposes the write, so every replica stores the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The value never expires (a previous TTL is cleared).
    Never,
    /// Expire at this unix time in milliseconds.
    AtUnixMs(u64),
    /// Expire this many milliseconds after the write is proposed.
    AfterMs(u64),
    /// Keep whatever expiry the current live value has (SET ... KEEPTTL).
    Keep,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    Put {
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    },
    Delete {
        key: Bytes,
    },
    /// Deletes every key in `[start, end)`; an empty `end` means "to the end of the keyspace".
    DeleteRange {
        start: Bytes,
        end: Bytes,
    },
}

/// The write applies only if the key's current [`KeyState::version`] equals
/// `expected_version` (0 = "no record").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub key: Bytes,
    pub expected_version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Committed { commit_ts: u64 },
    ConditionFailed,
}

/// A transaction's writes and what they depend on, committed atomically at one commit
/// timestamp (all or nothing), wherever the keys live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnCommit {
    /// The snapshot the transaction read at, from [`KvStore::timestamp`].
    pub start_ts: u64,
    /// Keys read at `start_ts` that the transaction's decisions depend on: the commit fails
    /// with [`TxnOutcome::Conflict`] if any of them was written after `start_ts`. Listing every
    /// key read makes the transaction serializable rather than only snapshot-isolated.
    pub read_keys: Vec<Bytes>,
    /// Exact-version preconditions (WATCH): the commit fails with
    /// [`TxnOutcome::ConditionFailed`] unless each key's newest version is the expected one.
    pub conditions: Vec<Condition>,
    /// `Put` and `Delete` only. A mutated key written by someone else after `start_ts` makes
    /// the commit fail with [`TxnOutcome::Conflict`] (first committer wins).
    pub mutations: Vec<Mutation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    Committed {
        commit_ts: u64,
    },
    /// A [`TxnCommit::conditions`] entry did not hold; nothing was written.
    ConditionFailed,
    /// Another transaction wrote a key this one read or writes after `start_ts`; nothing was
    /// written. Retrying from a fresh timestamp may succeed.
    Conflict,
}

/// A key found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedKey {
    pub key: Bytes,
    pub state: KeyState,
}

/// Facts about the cluster for INFO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `(section field, value)` lines describing the core (leader, replicas, applied index...).
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The core could not be reached or has no leader right now; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The request gave up after too many conflicts or routing retries; the client may retry.
    #[error("{0}")]
    TryAgain(String),
    /// The request was refused as invalid (e.g. too large).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
    /// The keys of a single-range write no longer share a range (it split meanwhile). Stores
    /// handle this internally by committing as a transaction; it only surfaces from a store
    /// that cannot.
    #[error("keys of this command live in different ranges")]
    CrossRange,
}

/// The storage interface protocol semantics are written against.
pub trait KvStore: Send + Sync {
    /// Reads the newest state of each key, linearizably.
    fn get(&self, keys: Vec<Bytes>) -> impl Future<Output = Result<ReadSnapshot, KvError>> + Send;

    /// Applies all mutations atomically if every condition holds.
    fn write(
        &self,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    ) -> impl Future<Output = Result<WriteOutcome, KvError>> + Send;

    /// A fresh timestamp from the cluster's timestamp oracle: above every commit timestamp of
    /// a write that completed before this call began.
    fn timestamp(&self) -> impl Future<Output = Result<u64, KvError>> + Send;

    /// Reads each key as of timestamp `ts` (a snapshot: the newest version committed at or
    /// below `ts`). All keys are read at the same instant, wherever they live.
    fn get_at(&self, keys: Vec<Bytes>, ts: u64) -> impl Future<Output = Result<ReadSnapshot, KvError>> + Send;

    /// Commits a transaction: one-phase when every key is in one range, two-phase otherwise.
    fn commit(&self, txn: TxnCommit) -> impl Future<Output = Result<TxnOutcome, KvError>> + Send;

    /// Live keys in `[start, end)` (empty `end` = unbounded), in key order, at most `limit`.
    fn scan(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ScannedKey>, KvError>> + Send;

    /// Live keys in `[start, end)` (empty `end` = unbounded) as of timestamp `ts` (a snapshot,
    /// like [`KvStore::get_at`]), at most `limit`, in ascending key order or, with `reverse`,
    /// descending. Locks of transactions still committing are settled first, so the result is
    /// exactly what a transaction reading at `ts` sees.
    fn scan_at(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        reverse: bool,
        ts: u64,
    ) -> impl Future<Output = Result<Vec<ScannedKey>, KvError>> + Send;

    /// Reads each key at a snapshot that misses no write acknowledged more than
    /// `max_staleness_ms` before the call (bounded staleness; docs/follower-reads.md). Any
    /// replica may serve it, so such reads spread over followers. 0 = linearizable, like
    /// [`KvStore::get`], which is also what stores without replicas do.
    fn get_stale(
        &self,
        keys: Vec<Bytes>,
        max_staleness_ms: u64,
    ) -> impl Future<Output = Result<ReadSnapshot, KvError>> + Send {
        let _ = max_staleness_ms;
        self.get(keys)
    }

    /// True when this store is an open transaction that buffers writes (MULTI/EXEC, a Lua
    /// script): multi-step commands then run inside it instead of opening their own.
    fn in_transaction(&self) -> bool {
        false
    }

    /// Number of live keys in `[start, end)` (empty `end` = unbounded).
    fn count(&self, start: Bytes, end: Bytes) -> impl Future<Output = Result<u64, KvError>> + Send;

    /// Status of the core for INFO.
    fn cluster_info(&self) -> impl Future<Output = Result<ClusterInfo, KvError>> + Send;
}
