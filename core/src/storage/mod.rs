//! One RocksDB instance per core node, shared by every range replica on it.
//!
//! Column families split the data by purpose so each can be tuned and scanned on its own:
//! - `raft_log`: Raft log entries, keyed by range id + log index;
//! - `raft_state`: vote, committed and purged log ids, keyed by range id;
//! - `data`: MVCC versions of user keys (ranges partition the keyspace, so no range prefix);
//! - `range_meta`: per-range state-machine state (applied log id, membership, descriptor,
//!   HLC ceiling), written in the same batch as the data it describes.

pub mod keys;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};

pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_RAFT_STATE: &str = "raft_state";
pub const CF_DATA: &str = "data";
pub const CF_RANGE_META: &str = "range_meta";

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
        let cfs = [CF_RAFT_LOG, CF_RAFT_STATE, CF_DATA, CF_RANGE_META]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)?;
        Ok(Self { db: Arc::new(db) })
    }

    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    pub fn cf(&self, name: &str) -> &ColumnFamily {
        // The four column families are created in `open`; a missing one is a programming error.
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
