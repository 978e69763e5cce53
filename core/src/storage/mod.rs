//! One RocksDB instance per core node, shared by every range replica on it.
//!
//! Column families split the data by purpose so each can be tuned and scanned on its own:
//! - `raft_log`: Raft log entries, keyed by range id + log index;
//! - `raft_state`: vote, committed and purged log ids, keyed by range id;
//! - `data`: MVCC versions of user keys (ranges partition the keyspace, so no range prefix);
//! - `range_meta`: per-range state-machine state (applied log id, membership, descriptor,
//!   HLC ceiling), written in the same batch as the data it describes;
//! - `expiry`: a local index of values with a TTL, keyed by expiry time, so finding expired
//!   keys never scans the data;
//! - `dedup`: committed request ids (retry deduplication), filed under the write's first key
//!   so they split with the keyspace;
//! - `catalog`: the route catalog (only the meta range writes it);
//! - `locks` and `txns`: transaction locks and final transaction states (`crate::txn`), filed
//!   under user keys like `dedup`.

pub mod keys;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};

pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_RAFT_STATE: &str = "raft_state";
pub const CF_DATA: &str = "data";
pub const CF_RANGE_META: &str = "range_meta";
pub const CF_EXPIRY: &str = "expiry";
pub const CF_DEDUP: &str = "dedup";
pub const CF_CATALOG: &str = "catalog";
pub const CF_LOCKS: &str = "locks";
pub const CF_TXNS: &str = "txns";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt record {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// The node's storage engine.
#[derive(Clone)]
pub struct Engine {
    db: Arc<DB>,
    wal_sync: std::sync::mpsc::Sender<SyncWaiter>,
}

/// Called once the WAL has been fsynced past the write it waits for.
pub type SyncWaiter = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One thread fsyncs the WAL for every writer that asked since the last fsync: writes become
/// visible at once, and many Raft appends (of any range, leader or follower) share one fsync.
///
/// It holds the database only weakly, so the database closes when the last `Engine` is
/// dropped, on that thread, and not at some arbitrary point during process exit.
fn wal_sync_loop(db: std::sync::Weak<DB>, rx: std::sync::mpsc::Receiver<SyncWaiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let result = match db.upgrade() {
            Some(db) => db.flush_wal(true).map_err(|e| e.to_string()),
            None => Err("database closed".to_string()),
        };
        for w in waiters {
            w(result.clone());
        }
    }
}

impl Engine {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Let concurrent synced writers share one WAL fsync (group commit).
        opts.set_enable_pipelined_write(true);
        let cfs =
            [CF_RAFT_LOG, CF_RAFT_STATE, CF_DATA, CF_RANGE_META, CF_EXPIRY, CF_DEDUP, CF_CATALOG, CF_LOCKS, CF_TXNS]
                .into_iter()
                .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&opts, dir, cfs)?);
        let (wal_sync, rx) = std::sync::mpsc::channel();
        let sync_db = Arc::downgrade(&db);
        std::thread::Builder::new().name("wal-sync".into()).spawn(move || wal_sync_loop(sync_db, rx))?;
        Ok(Self { db, wal_sync })
    }

    /// Writes a batch without waiting for the disk: it is readable at once and made durable
    /// by the next WAL fsync (RocksDB's WAL is one ordered stream, so any later fsync covers
    /// it).
    pub fn write_unsynced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.db.write(batch)?;
        Ok(())
    }

    /// Calls `waiter` once everything written so far is on disk.
    pub fn after_wal_sync(&self, waiter: SyncWaiter) {
        if let Err(std::sync::mpsc::SendError(w)) = self.wal_sync.send(waiter) {
            w(Err("WAL sync thread stopped".into()));
        }
    }

    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    pub fn cf(&self, name: &str) -> &ColumnFamily {
        // The column families are created in `open`; a missing one is a programming error.
        self.db.cf_handle(name).unwrap_or_else(|| panic!("column family {name} missing"))
    }

    /// Writes a batch and fsyncs the WAL before returning: nothing is acknowledged that a
    /// crash could lose.
    pub fn write_synced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    pub fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }
}
