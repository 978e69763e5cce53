//! The writes of one apply call that are not yet in RocksDB, so later commands in the same
//! call see earlier ones (values, locks, transaction states and request ids alike).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use openraft::StorageIOError;
use rocksdb::WriteBatch;

use super::log_store::{decode, encode};
use super::types::{StorageError, TxnState};
use crate::mvcc::{self, Latest, Version};
use crate::storage::{keys, Engine, CF_DATA, CF_DEDUP, CF_EXPIRY, CF_LOCKS, CF_TXNS};
use crate::txn::records::{self, Lock};

/// How long a committed request id is remembered. Decided from commit timestamps only, so
/// every replica answers a retry the same way even if their local cleanup runs at other times.
pub const REQUEST_DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

pub struct PendingWrites<'a> {
    pub engine: &'a Engine,
    pub batch: WriteBatch,
    overlay: BTreeMap<Bytes, Latest>,
    locks: HashMap<Bytes, Option<Lock>>,
    statuses: HashMap<(Bytes, u64), TxnState>,
    requests: HashMap<u128, u64>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

impl<'a> PendingWrites<'a> {
    pub fn new(engine: &'a Engine) -> Self {
        Self {
            engine,
            batch: WriteBatch::default(),
            overlay: BTreeMap::new(),
            locks: HashMap::new(),
            statuses: HashMap::new(),
            requests: HashMap::new(),
        }
    }

    /// The commit timestamp of an earlier application of `request_id`, if still remembered.
    pub fn committed_request(&self, anchor: &[u8], request_id: u128, now_ts: u64) -> Result<Option<u64>, StorageError> {
        let ts = match self.requests.get(&request_id) {
            Some(ts) => Some(*ts),
            None => self
                .engine
                .get_cf(CF_DEDUP, &keys::request_record(anchor, request_id))
                .map_err(read_err)?
                .map(|raw| decode::<u64>(&raw))
                .transpose()
                .map_err(read_err)?,
        };
        let window = crate::hlc::pack(REQUEST_DEDUP_WINDOW_MS, 0);
        Ok(ts.filter(|ts| ts.saturating_add(window) > now_ts))
    }

    pub fn remember_request(&mut self, anchor: &[u8], request_id: u128, commit_ts: u64) -> Result<(), StorageError> {
        let raw = encode(&commit_ts).map_err(|e| StorageIOError::write_state_machine(&e))?;
        self.batch.put_cf(self.engine.cf(CF_DEDUP), keys::request_record(anchor, request_id), raw);
        self.requests.insert(request_id, commit_ts);
        Ok(())
    }

    pub fn latest(&self, key: &[u8]) -> Result<Option<Latest>, StorageError> {
        if let Some(latest) = self.overlay.get(key) {
            return Ok(Some(latest.clone()));
        }
        mvcc::read_latest(self.engine.db(), key).map_err(read_err)
    }

    /// Commit timestamp of the key's newest version (value or tombstone), 0 if none.
    pub fn latest_ts(&self, key: &[u8]) -> Result<u64, StorageError> {
        Ok(self.latest(key)?.map(|l| l.commit_ts).unwrap_or(0))
    }

    /// The version conditions compare against: a tombstone counts as "no record", because
    /// local GC may drop tombstones on one replica before another.
    pub fn live_version(&self, key: &[u8]) -> Result<u64, StorageError> {
        Ok(match self.latest(key)? {
            Some(Latest { commit_ts, version: Version::Put { .. } }) => commit_ts,
            _ => 0,
        })
    }

    pub fn put_version(&mut self, key: Bytes, commit_ts: u64, version: Version) {
        self.batch.put_cf(self.engine.cf(CF_DATA), mvcc::version_key(&key, commit_ts), version.encode());
        if let Version::Put { expire_at_ms: Some(at), .. } = &version {
            self.batch.put_cf(self.engine.cf(CF_EXPIRY), keys::expiry_entry(*at, &key), []);
        }
        self.overlay.insert(key, Latest { commit_ts, version });
    }

    /// Keys whose newest version is a put, in `[start, end)` (empty end = unbounded).
    pub fn keys_with_values(&self, start: &[u8], end: &[u8]) -> Result<Vec<Bytes>, StorageError> {
        let mut found = BTreeMap::new();
        mvcc::scan_latest(self.engine.db(), start, end, |key, latest| {
            found.insert(Bytes::from(key), matches!(latest.version, Version::Put { .. }));
            Ok(true)
        })
        .map_err(read_err)?;
        let upper = if end.is_empty() { std::ops::Bound::Unbounded } else { std::ops::Bound::Excluded(end) };
        for (key, latest) in self.overlay.range::<[u8], _>((std::ops::Bound::Included(start), upper)) {
            found.insert(key.clone(), matches!(latest.version, Version::Put { .. }));
        }
        Ok(found.into_iter().filter_map(|(k, is_put)| is_put.then_some(k)).collect())
    }

    pub fn lock(&self, key: &Bytes) -> Result<Option<Lock>, StorageError> {
        if let Some(lock) = self.locks.get(key) {
            return Ok(lock.clone());
        }
        records::read_lock(self.engine.db(), key).map_err(read_err)
    }

    pub fn put_lock(&mut self, key: Bytes, lock: Lock) {
        self.batch.put_cf(self.engine.cf(CF_LOCKS), records::lock_key(&key), records::encode_lock(&lock));
        self.locks.insert(key, Some(lock));
    }

    pub fn delete_lock(&mut self, key: Bytes) {
        self.batch.delete_cf(self.engine.cf(CF_LOCKS), records::lock_key(&key));
        self.locks.insert(key, None);
    }

    pub fn status(&self, primary: &Bytes, start_ts: u64) -> Result<Option<TxnState>, StorageError> {
        if let Some(state) = self.statuses.get(&(primary.clone(), start_ts)) {
            return Ok(Some(*state));
        }
        records::read_status(self.engine.db(), primary, start_ts).map_err(read_err)
    }

    pub fn put_status(&mut self, primary: Bytes, start_ts: u64, state: TxnState) {
        let raw = records::encode_status(&state);
        self.batch.put_cf(self.engine.cf(CF_TXNS), records::status_key(&primary, start_ts), raw);
        self.statuses.insert((primary, start_ts), state);
    }
}
