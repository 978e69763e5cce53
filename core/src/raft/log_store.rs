//! A range's Raft log and vote in RocksDB. Every write is fsynced before openraft is told it
//! is durable: a vote or an appended entry that a crash could lose would break Raft's safety.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError};
use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::storage::{keys, Engine, CF_RAFT_LOG, CF_RAFT_STATE};

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

pub(crate) fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(raw)
}

#[derive(Clone)]
pub struct LogStore {
    engine: Engine,
    range_id: u64,
}

impl LogStore {
    pub fn new(engine: Engine, range_id: u64) -> Self {
        Self { engine, range_id }
    }

    fn read_state<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StorageError> {
        let raw = self
            .engine
            .get_cf(CF_RAFT_STATE, &keys::range_record(self.range_id, name))
            .map_err(|e| StorageIOError::read(&e))?;
        raw.map(|r| decode(&r).map_err(|e| StorageIOError::read(&e).into())).transpose()
    }

    fn write_state<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StorageError> {
        let raw = encode(value).map_err(|e| StorageIOError::write(&e))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.engine.cf(CF_RAFT_STATE), keys::range_record(self.range_id, name), raw);
        self.engine.write_synced(batch).map_err(|e| StorageIOError::write(&e).into())
    }

    fn last_entry(&self) -> Result<Option<Entry>, StorageError> {
        let db = self.engine.db();
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(keys::raft_log(self.range_id, 0).to_vec());
        opts.set_iterate_upper_bound(keys::raft_log(self.range_id + 1, 0).to_vec());
        let mut iter = db.iterator_cf_opt(self.engine.cf(CF_RAFT_LOG), opts, IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (_, v) = item.map_err(|e| StorageIOError::read_logs(&e))?;
                Ok(Some(decode(&v).map_err(|e| StorageIOError::read_logs(&e))?))
            }
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        let db = self.engine.db();
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(keys::raft_log(self.range_id, end).to_vec());
        let from = keys::raft_log(self.range_id, start);
        let iter = db.iterator_cf_opt(self.engine.cf(CF_RAFT_LOG), opts, IteratorMode::From(&from, Direction::Forward));
        let mut entries = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            if k.get(..8) != Some(&self.range_id.to_be_bytes()[..]) {
                break;
            }
            entries.push(decode::<Entry>(&v).map_err(|e| StorageIOError::read_logs(&e))?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.read_state::<Option<LogId>>(keys::LAST_PURGED)?.flatten();
        let last = self.last_entry()?.map(|e| e.log_id);
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last.or(last_purged) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_state(keys::VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_state(keys::VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Only a hint for faster restarts; losing it is harmless, so no fsync of its own.
        let raw = encode(&committed).map_err(|e| StorageIOError::write(&e))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.engine.cf(CF_RAFT_STATE), keys::range_record(self.range_id, keys::COMMITTED), raw);
        self.engine.write_unsynced(batch).map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_state::<Option<LogId>>(keys::COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let cf = self.engine.cf(CF_RAFT_LOG);
        let mut batch = WriteBatch::default();
        for entry in entries {
            let raw = encode(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.put_cf(cf, keys::raft_log(self.range_id, entry.log_id.index), raw);
        }
        // openraft needs the entries readable when this returns and durable when the callback
        // fires: write now, and let the node's WAL syncer (shared by every range) fsync.
        self.engine.write_unsynced(batch).map_err(|e| StorageIOError::write_logs(&e))?;
        self.engine.after_wal_sync(Box::new(move |result| {
            callback.log_io_completed(result.map_err(std::io::Error::other));
        }));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.engine.cf(CF_RAFT_LOG),
            keys::raft_log(self.range_id, log_id.index),
            keys::raft_log(self.range_id + 1, 0),
        );
        self.engine.write_synced(batch).map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let raw = encode(&Some(log_id)).map_err(|e| StorageIOError::write_logs(&e))?;
        batch.put_cf(self.engine.cf(CF_RAFT_STATE), keys::range_record(self.range_id, keys::LAST_PURGED), raw);
        batch.delete_range_cf(
            self.engine.cf(CF_RAFT_LOG),
            keys::raft_log(self.range_id, 0),
            keys::raft_log(self.range_id, log_id.index + 1),
        );
        self.engine.write_synced(batch).map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
