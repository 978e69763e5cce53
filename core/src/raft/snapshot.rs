//! Range snapshots as SST files.
//!
//! A snapshot is cut from a RocksDB snapshot taken while the state machine is paused between
//! applies (so data and applied index agree), written with `SstFileWriter`, and installed on
//! the receiver by deleting the range's old data and ingesting the file — no key-by-key
//! replay. Layout: `u32 header length | postcard(SnapshotHeader) | SST file bytes`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openraft::{Snapshot, StorageIOError};
use rocksdb::{IteratorMode, Options, ReadOptions, SnapshotWithThreadMode, SstFileWriter, WriteBatch, DB};
use serde::{Deserialize, Serialize};

use super::log_store::{decode, encode};
use super::types::{LogId, RangeDescriptor, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::mvcc;
use crate::storage::{self, keys, Engine, CF_CATALOG, CF_DATA, CF_DEDUP, CF_LOCKS, CF_RANGE_META, CF_TXNS};

/// A `(key, value)` pair as stored in a column family.
pub type RawRecord = (Vec<u8>, Vec<u8>);

/// The latest snapshot a state machine built or installed, served to lagging followers.
pub type CurrentSnapshot = Arc<Mutex<Option<(SnapshotMeta, Vec<u8>)>>>;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SnapshotHeader {
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    pub descriptor: RangeDescriptor,
    pub clock_ceiling: u64,
    pub last_commit_ts: u64,
    /// Dedup records (raw `dedup` keys) of requests still inside the window, with their
    /// commit timestamps: part of the replicated state, because apply consults them.
    pub requests: Vec<(Vec<u8>, u64)>,
    /// Raw `(key, value)` records of the `locks` and `txns` column families inside the
    /// range: transaction state is replicated state too.
    pub locks: Vec<RawRecord>,
    pub txns: Vec<RawRecord>,
    pub has_data: bool,
}

/// A RocksDB snapshot that owns a handle to its database.
struct OwnedSnapshot {
    // Declared first so it is dropped before the database handle it borrows.
    snapshot: SnapshotWithThreadMode<'static, DB>,
    _db: Arc<DB>,
}

impl OwnedSnapshot {
    fn new(db: Arc<DB>) -> Self {
        let snapshot = db.snapshot();
        // SAFETY: the snapshot borrows the DB behind the Arc, which this struct keeps alive
        // for at least as long as the snapshot (field order drops the snapshot first), and the
        // Arc's heap allocation never moves.
        let snapshot = unsafe {
            std::mem::transmute::<SnapshotWithThreadMode<'_, DB>, SnapshotWithThreadMode<'static, DB>>(snapshot)
        };
        Self { snapshot, _db: db }
    }
}

pub struct Builder {
    engine: Engine,
    range_id: u64,
    descriptor: RangeDescriptor,
    snapshot: Arc<OwnedSnapshot>,
    current: CurrentSnapshot,
    dir: PathBuf,
}

impl Builder {
    pub fn new(
        engine: Engine,
        range_id: u64,
        descriptor: RangeDescriptor,
        current: CurrentSnapshot,
        dir: PathBuf,
    ) -> Self {
        let snapshot = Arc::new(OwnedSnapshot::new(engine.db().clone()));
        Self { engine, range_id, descriptor, snapshot, current, dir }
    }

    pub async fn build(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let engine = self.engine.clone();
        let snapshot = self.snapshot.clone();
        let range_id = self.range_id;
        let descriptor = self.descriptor.clone();
        let dir = self.dir.clone();
        let (header, bytes) =
            tokio::task::spawn_blocking(move || write_snapshot(&engine, &snapshot, range_id, descriptor, &dir))
                .await
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let index = header.applied.map(|l| l.index).unwrap_or(0);
        let meta = SnapshotMeta {
            last_log_id: header.applied,
            last_membership: header.membership.clone(),
            snapshot_id: format!("{range_id}-{index}-{}", crate::hlc::wall_clock_ms()),
        };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot { meta, snapshot: Box::new(std::io::Cursor::new(bytes)) })
    }
}

fn write_snapshot(
    engine: &Engine,
    snap: &OwnedSnapshot,
    range_id: u64,
    descriptor: RangeDescriptor,
    dir: &std::path::Path,
) -> Result<(SnapshotHeader, Vec<u8>), storage::StorageError> {
    let meta = |name: &str| -> Result<Option<Vec<u8>>, storage::StorageError> {
        Ok(snap.snapshot.get_cf(engine.cf(CF_RANGE_META), keys::range_record(range_id, name))?)
    };
    let corrupt = |e: postcard::Error| storage::StorageError::Corrupt { what: "range meta", detail: e.to_string() };
    let applied: Option<LogId> =
        meta(keys::APPLIED)?.map(|r| decode::<Option<LogId>>(&r)).transpose().map_err(corrupt)?.flatten();
    let membership: StoredMembership =
        meta(keys::MEMBERSHIP)?.map(|r| decode(&r)).transpose().map_err(corrupt)?.unwrap_or_default();
    let clock_ceiling: u64 = meta(keys::HLC_CEILING)?.map(|r| decode(&r)).transpose().map_err(corrupt)?.unwrap_or(0);
    let last_commit_ts: u64 =
        meta(keys::LAST_COMMIT_TS)?.map(|r| decode(&r)).transpose().map_err(corrupt)?.unwrap_or(0);
    let (requests, locks, txns) = if descriptor.is_meta() {
        Default::default()
    } else {
        (
            remembered_requests(engine, &snap.snapshot, &descriptor, last_commit_ts)?,
            records_in_range(engine, &snap.snapshot, &descriptor, CF_LOCKS)?,
            records_in_range(engine, &snap.snapshot, &descriptor, CF_TXNS)?,
        )
    };

    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("build-{range_id}-{}.sst", crate::hlc::wall_clock_ms()));
    let sst_options = Options::default();
    let mut writer = SstFileWriter::create(&sst_options);
    writer.open(&path)?;
    let mut opts = ReadOptions::default();
    opts.set_snapshot(&snap.snapshot);
    // The meta range's state is the whole catalog; a data range's is its slice of the data.
    let (cf, lower) = if descriptor.is_meta() {
        (engine.cf(CF_CATALOG), Vec::new())
    } else {
        if !descriptor.end_key.is_empty() {
            opts.set_iterate_upper_bound(mvcc::range_bound(&descriptor.end_key));
        }
        (engine.cf(CF_DATA), mvcc::range_bound(&descriptor.start_key))
    };
    let iter = engine.db().iterator_cf_opt(cf, opts, IteratorMode::From(&lower, rocksdb::Direction::Forward));
    let mut has_data = false;
    for item in iter {
        let (k, v) = item?;
        writer.put(&k, &v)?;
        has_data = true;
    }
    let sst = if has_data {
        writer.finish()?;
        std::fs::read(&path)?
    } else {
        Vec::new()
    };
    let _ = std::fs::remove_file(&path);
    let header = SnapshotHeader {
        applied,
        membership,
        descriptor,
        clock_ceiling,
        last_commit_ts,
        requests,
        locks,
        txns,
        has_data,
    };
    let header_bytes = encode(&header).map_err(corrupt)?;
    let mut out = Vec::with_capacity(4 + header_bytes.len() + sst.len());
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&sst);
    Ok((header, out))
}

/// Replaces the range's data and state with the snapshot's.
pub fn install(
    engine: &Engine,
    range_id: u64,
    bytes: &[u8],
    dir: &std::path::Path,
) -> Result<SnapshotHeader, storage::StorageError> {
    let bad = |detail: &str| storage::StorageError::Corrupt { what: "snapshot", detail: detail.to_string() };
    let len: [u8; 4] = bytes.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(|| bad("short header"))?;
    let len = u32::from_be_bytes(len) as usize;
    let header_bytes = bytes.get(4..4 + len).ok_or_else(|| bad("short header"))?;
    let header: SnapshotHeader = decode(header_bytes).map_err(|e| bad(&e.to_string()))?;
    let sst = &bytes[4 + len..];

    let db = engine.db();
    let is_meta = header.descriptor.is_meta();
    let data = engine.cf(if is_meta { CF_CATALOG } else { CF_DATA });
    let mut batch = WriteBatch::default();
    if is_meta {
        crate::catalog::store::clear(engine, &mut batch);
    } else {
        let (lower, upper) = (mvcc::range_bound(&header.descriptor.start_key), upper_bound(engine, CF_DATA, &header)?);
        if let Some(upper) = upper.filter(|u| u.as_slice() > lower.as_slice()) {
            batch.delete_range_cf(data, &lower, &upper);
        }
        // Replace the dedup records: apply must answer retries exactly as the sender's state did.
        for cf in [CF_DEDUP, CF_LOCKS, CF_TXNS] {
            if let Some(upper) = upper_bound(engine, cf, &header)?.filter(|u| u.as_slice() > lower.as_slice()) {
                batch.delete_range_cf(engine.cf(cf), &lower, &upper);
            }
        }
    }
    engine.write_synced(batch)?;
    if header.has_data {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("install-{range_id}-{}.sst", crate::hlc::wall_clock_ms()));
        std::fs::write(&path, sst)?;
        let result = db.ingest_external_file_cf(data, vec![&path]);
        let _ = std::fs::remove_file(&path);
        result?;
        if !is_meta {
            index_expiring_values(engine, &header.descriptor)?;
        }
    }
    let mut batch = WriteBatch::default();
    let meta_cf = engine.cf(CF_RANGE_META);
    let corrupt = |e: postcard::Error| storage::StorageError::Corrupt { what: "snapshot meta", detail: e.to_string() };
    batch.put_cf(meta_cf, keys::range_record(range_id, keys::APPLIED), encode(&header.applied).map_err(corrupt)?);
    batch.put_cf(meta_cf, keys::range_record(range_id, keys::MEMBERSHIP), encode(&header.membership).map_err(corrupt)?);
    batch.put_cf(meta_cf, keys::range_record(range_id, keys::DESCRIPTOR), encode(&header.descriptor).map_err(corrupt)?);
    batch.put_cf(
        meta_cf,
        keys::range_record(range_id, keys::HLC_CEILING),
        encode(&header.clock_ceiling).map_err(corrupt)?,
    );
    batch.put_cf(
        meta_cf,
        keys::range_record(range_id, keys::LAST_COMMIT_TS),
        encode(&header.last_commit_ts).map_err(corrupt)?,
    );
    for (key, ts) in &header.requests {
        batch.put_cf(engine.cf(CF_DEDUP), key, encode(ts).map_err(corrupt)?);
    }
    for (key, value) in &header.locks {
        batch.put_cf(engine.cf(CF_LOCKS), key, value);
    }
    for (key, value) in &header.txns {
        batch.put_cf(engine.cf(CF_TXNS), key, value);
    }
    engine.write_synced(batch)?;
    Ok(header)
}

/// The exclusive upper bound of a data range's records in `cf`: its end key, or past the
/// last record for the last range (`None` when the family is empty).
fn upper_bound(engine: &Engine, cf: &str, header: &SnapshotHeader) -> Result<Option<Vec<u8>>, storage::StorageError> {
    if !header.descriptor.end_key.is_empty() {
        return Ok(Some(mvcc::range_bound(&header.descriptor.end_key)));
    }
    let mut iter = engine.db().iterator_cf(engine.cf(cf), IteratorMode::End);
    match iter.next() {
        Some(item) => {
            let (k, _) = item?;
            let mut k = k.to_vec();
            k.push(0);
            Ok(Some(k))
        }
        None => Ok(None),
    }
}

/// Rebuilds the expiry index for an installed range (the index is local and not shipped).
fn index_expiring_values(engine: &Engine, descriptor: &RangeDescriptor) -> Result<(), storage::StorageError> {
    let expiry = engine.cf(storage::CF_EXPIRY);
    let mut batch = WriteBatch::default();
    mvcc::scan_latest(engine.db(), &descriptor.start_key, &descriptor.end_key, |key, latest| {
        if let mvcc::Version::Put { expire_at_ms: Some(at), .. } = latest.version {
            batch.put_cf(expiry, keys::expiry_entry(at, &key), []);
        }
        Ok(true)
    })?;
    engine.write_synced(batch)
}

/// Request records a snapshot must carry: those apply could still honour after `last_commit_ts`.
fn remembered_requests(
    engine: &Engine,
    snap: &SnapshotWithThreadMode<'static, DB>,
    descriptor: &RangeDescriptor,
    last_commit_ts: u64,
) -> Result<Vec<(Vec<u8>, u64)>, storage::StorageError> {
    let window = crate::hlc::pack(super::state_machine::REQUEST_DEDUP_WINDOW_MS, 0);
    let mut opts = ReadOptions::default();
    opts.set_snapshot(snap);
    if !descriptor.end_key.is_empty() {
        opts.set_iterate_upper_bound(mvcc::range_bound(&descriptor.end_key));
    }
    let lower = mvcc::range_bound(&descriptor.start_key);
    let iter =
        engine.db().iterator_cf_opt(engine.cf(CF_DEDUP), opts, IteratorMode::From(&lower, rocksdb::Direction::Forward));
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item?;
        let ts: u64 =
            decode(&v).map_err(|e| storage::StorageError::Corrupt { what: "request record", detail: e.to_string() })?;
        if ts.saturating_add(window) > last_commit_ts {
            out.push((k.to_vec(), ts));
        }
    }
    Ok(out)
}

/// Every raw record of `cf` filed under a key inside the range.
fn records_in_range(
    engine: &Engine,
    snap: &SnapshotWithThreadMode<'static, DB>,
    descriptor: &RangeDescriptor,
    cf: &str,
) -> Result<Vec<RawRecord>, storage::StorageError> {
    let mut opts = ReadOptions::default();
    opts.set_snapshot(snap);
    if !descriptor.end_key.is_empty() {
        opts.set_iterate_upper_bound(mvcc::range_bound(&descriptor.end_key));
    }
    let lower = mvcc::range_bound(&descriptor.start_key);
    let iter =
        engine.db().iterator_cf_opt(engine.cf(cf), opts, IteratorMode::From(&lower, rocksdb::Direction::Forward));
    iter.map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into)).collect()
}
