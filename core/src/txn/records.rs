//! Lock and transaction-status records.
//!
//! - `locks` column family: one record per locked user key, filed under the key's MVCC
//!   prefix (so a range's locks lie inside its bounds and follow their keys through a split).
//! - `txns` column family: the final state of a transaction, filed under its primary key's
//!   prefix + start timestamp. Written when the primary commits or rolls back; a resolver
//!   that meets a secondary lock decides by this record.

use bytes::Bytes;
use rocksdb::DB;
use serde::{Deserialize, Serialize};

use crate::mvcc;
use crate::raft::log_store::{decode, encode};
use crate::raft::types::{ExpireAt, LockInfo, TxnState};
use crate::storage::{StorageError, CF_LOCKS, CF_TXNS};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum LockKind {
    Put {
        value: Bytes,
        expire: ExpireAt,
    },
    Delete,
    /// A key the transaction only read: it blocks writers (so the read stays valid until the
    /// commit) but not readers, and commits to nothing.
    Read,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    pub start_ts: u64,
    pub primary: Bytes,
    pub ttl_ms: u64,
    pub kind: LockKind,
}

impl Lock {
    pub fn info(&self, key: &Bytes) -> LockInfo {
        LockInfo { key: key.clone(), primary: self.primary.clone(), start_ts: self.start_ts, ttl_ms: self.ttl_ms }
    }

    /// Whether a reader must wait for (or resolve) this lock before trusting what it read.
    pub fn blocks_readers(&self) -> bool {
        !matches!(self.kind, LockKind::Read)
    }
}

pub fn lock_key(key: &[u8]) -> Vec<u8> {
    mvcc::user_key_prefix(key)
}

pub fn status_key(primary: &[u8], start_ts: u64) -> Vec<u8> {
    let mut k = mvcc::user_key_prefix(primary);
    k.extend_from_slice(&start_ts.to_be_bytes());
    k
}

fn corrupt(what: &'static str) -> impl Fn(postcard::Error) -> StorageError {
    move |e| StorageError::Corrupt { what, detail: e.to_string() }
}

pub fn encode_lock(lock: &Lock) -> Vec<u8> {
    encode(lock).expect("a lock always serializes")
}

pub fn decode_lock(raw: &[u8]) -> Result<Lock, StorageError> {
    decode(raw).map_err(corrupt("lock"))
}

pub fn read_lock(db: &DB, key: &[u8]) -> Result<Option<Lock>, StorageError> {
    read_lock_in(db, key, None)
}

/// [`read_lock`] through a RocksDB snapshot.
pub fn read_lock_in(
    db: &DB,
    key: &[u8],
    snapshot: Option<&rocksdb::SnapshotWithThreadMode<'_, DB>>,
) -> Result<Option<Lock>, StorageError> {
    let cf = db.cf_handle(CF_LOCKS).expect("locks column family");
    let mut opts = rocksdb::ReadOptions::default();
    if let Some(snapshot) = snapshot {
        opts.set_snapshot(snapshot);
    }
    db.get_cf_opt(cf, lock_key(key), &opts)?.map(|raw| decode_lock(&raw)).transpose()
}

pub fn encode_status(state: &TxnState) -> Vec<u8> {
    encode(state).expect("a state always serializes")
}

pub fn read_status(db: &DB, primary: &[u8], start_ts: u64) -> Result<Option<TxnState>, StorageError> {
    let cf = db.cf_handle(CF_TXNS).expect("txns column family");
    db.get_cf(cf, status_key(primary, start_ts))?.map(|raw| decode(&raw).map_err(corrupt("txn status"))).transpose()
}

/// Locks in `[start, end)` (empty end = unbounded) with their keys, at most `limit`.
pub fn scan_locks(db: &DB, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Bytes, Lock)>, StorageError> {
    let cf = db.cf_handle(CF_LOCKS).expect("locks column family");
    let mut opts = rocksdb::ReadOptions::default();
    if !end.is_empty() {
        opts.set_iterate_upper_bound(mvcc::range_bound(end));
    }
    let lower = mvcc::range_bound(start);
    let mut out = Vec::new();
    for item in db.iterator_cf_opt(cf, opts, rocksdb::IteratorMode::From(&lower, rocksdb::Direction::Forward)) {
        if out.len() >= limit {
            break;
        }
        let (k, v) = item?;
        // A lock key is a version key without the timestamp: decode with a dummy one.
        let mut versioned = k.to_vec();
        versioned.extend_from_slice(&[0; 8]);
        let Some((key, _)) = mvcc::decode_version_key(&versioned) else {
            return Err(StorageError::Corrupt { what: "lock key", detail: format!("{k:?}") });
        };
        out.push((Bytes::from(key), decode_lock(&v)?));
    }
    Ok(out)
}
