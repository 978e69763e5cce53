//! The route catalog as the meta range keeps it in the `catalog` column family.
//!
//! Layout (one byte of kind, then a big-endian number):
//! - `v` → catalog version; `n` → next free range id;
//! - `r` + range id → the range's descriptor (protobuf, with its last known leader);
//! - `d` + version → the delta that produced that version (protobuf `CatalogDelta`).
//!
//! A version, its descriptors and its delta are written in the same batch as the Raft
//! entry's applied index, so no reader ever sees a version without its delta. Only the last
//! `window` deltas are kept.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;
use rocksdb::{IteratorMode, ReadOptions, WriteBatch, DB};
use strata_proto::core as pb;

use crate::storage::{Engine, StorageError, CF_CATALOG};

const VERSION_KEY: &[u8] = b"v";
const NEXT_ID_KEY: &[u8] = b"n";
const RANGE_KIND: u8 = b'r';
const DELTA_KIND: u8 = b'd';
/// The founding data range; ids above it are handed out by [`CatalogWriter::allocate`].
const FIRST_FREE_RANGE_ID: u64 = 2;

fn numbered(kind: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = kind;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn read_u64(raw: Option<Vec<u8>>) -> u64 {
    raw.and_then(|r| r.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0)
}

fn corrupt(what: &'static str) -> impl Fn(prost::DecodeError) -> StorageError {
    move |e| StorageError::Corrupt { what, detail: e.to_string() }
}

pub fn epoch_of(d: &pb::RangeDescriptor) -> (u64, u64) {
    let e = d.epoch.unwrap_or_default();
    (e.version, e.conf_version)
}

/// Whether `new` carries information the catalog's `old` lacks: a later epoch (split or
/// membership change), or the same epoch with a later (or first known) leadership.
pub fn supersedes(new: &pb::RangeDescriptor, old: &pb::RangeDescriptor) -> bool {
    let (ne, oe) = (epoch_of(new), epoch_of(old));
    if ne != oe {
        return ne.0 >= oe.0 && ne.1 >= oe.1;
    }
    if new.leader_node_id == 0 {
        return false;
    }
    new.leader_term > old.leader_term || (new.leader_term == old.leader_term && old.leader_node_id == 0)
}

pub fn version(db: &DB) -> Result<u64, StorageError> {
    Ok(read_u64(db.get_cf(cf(db), VERSION_KEY)?))
}

fn cf(db: &DB) -> &rocksdb::ColumnFamily {
    db.cf_handle(CF_CATALOG).expect("catalog column family")
}

pub fn descriptor(db: &DB, range_id: u64) -> Result<Option<pb::RangeDescriptor>, StorageError> {
    db.get_cf(cf(db), numbered(RANGE_KIND, range_id))?
        .map(|raw| pb::RangeDescriptor::decode(raw.as_slice()).map_err(corrupt("catalog descriptor")))
        .transpose()
}

/// The whole catalog at one point in time: its version and every range, by id.
pub fn snapshot(db: &DB) -> Result<(u64, Vec<pb::RangeDescriptor>), StorageError> {
    let snap = db.snapshot();
    let version = read_u64(snap.get_cf(cf(db), VERSION_KEY)?);
    let mut opts = ReadOptions::default();
    opts.set_snapshot(&snap);
    opts.set_iterate_upper_bound(vec![RANGE_KIND + 1]);
    let mut ranges = Vec::new();
    for item in db.iterator_cf_opt(cf(db), opts, IteratorMode::From(&[RANGE_KIND], rocksdb::Direction::Forward)) {
        let (_, v) = item?;
        ranges.push(pb::RangeDescriptor::decode(&v[..]).map_err(corrupt("catalog descriptor"))?);
    }
    Ok((version, ranges))
}

/// What reading deltas after a cursor found.
#[derive(Debug, PartialEq)]
pub enum Deltas {
    /// Contiguous deltas starting right after the cursor (empty: the cursor is current).
    Batch(Vec<pb::CatalogDelta>),
    /// The delta after the cursor was trimmed from the window: the reader needs a reset.
    TooOld,
    /// The cursor is ahead of the catalog.
    FromTheFuture { version: u64 },
    /// A delta inside the retained window is missing: the catalog is damaged.
    Hole { missing: u64 },
}

/// Up to `max` deltas after version `after`.
pub fn deltas_after(db: &DB, after: u64, max: usize) -> Result<Deltas, StorageError> {
    let current = version(db)?;
    if after > current {
        return Ok(Deltas::FromTheFuture { version: current });
    }
    if after == current {
        return Ok(Deltas::Batch(Vec::new()));
    }
    let oldest = oldest_delta(db)?;
    if oldest.is_none_or(|oldest| after + 1 < oldest) {
        return Ok(Deltas::TooOld);
    }
    let last = current.min(after.saturating_add(max as u64));
    let mut out = Vec::with_capacity((last - after) as usize);
    for v in after + 1..=last {
        match db.get_cf(cf(db), numbered(DELTA_KIND, v))? {
            Some(raw) => out.push(pb::CatalogDelta::decode(raw.as_slice()).map_err(corrupt("catalog delta"))?),
            None => return Ok(Deltas::Hole { missing: v }),
        }
    }
    Ok(Deltas::Batch(out))
}

fn oldest_delta(db: &DB) -> Result<Option<u64>, StorageError> {
    let mut iter = db.iterator_cf(cf(db), IteratorMode::From(&[DELTA_KIND], rocksdb::Direction::Forward));
    match iter.next() {
        Some(item) => {
            let (k, _) = item?;
            Ok((k.len() == 9 && k[0] == DELTA_KIND).then(|| u64::from_be_bytes(k[1..].try_into().unwrap_or([0; 8]))))
        }
        None => Ok(None),
    }
}

/// Applies catalog commands of one apply call into its write batch, seeing its own earlier
/// changes.
pub struct CatalogWriter<'a> {
    engine: &'a Engine,
    window: u64,
    pub version: u64,
    next_id: u64,
    overlay: HashMap<u64, pb::RangeDescriptor>,
}

impl<'a> CatalogWriter<'a> {
    pub fn open(engine: &'a Engine, window: u64) -> Result<Self, StorageError> {
        let db = engine.db();
        Ok(Self {
            engine,
            window: window.max(1),
            version: version(db)?,
            next_id: read_u64(db.get_cf(cf(db), NEXT_ID_KEY)?).max(FIRST_FREE_RANGE_ID),
            overlay: HashMap::new(),
        })
    }

    fn current(&self, range_id: u64) -> Result<Option<pb::RangeDescriptor>, StorageError> {
        match self.overlay.get(&range_id) {
            Some(d) => Ok(Some(d.clone())),
            None => descriptor(self.engine.db(), range_id),
        }
    }

    pub fn allocate(&mut self, batch: &mut WriteBatch) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        batch.put_cf(self.engine.cf(CF_CATALOG), NEXT_ID_KEY, self.next_id.to_be_bytes());
        id
    }

    /// Folds reported descriptors into the catalog; everything that changes becomes one new
    /// version. Returns whether the version moved.
    pub fn report(&mut self, batch: &mut WriteBatch, reported: &[Bytes]) -> Result<bool, StorageError> {
        let mut mutations = Vec::new();
        for raw in reported {
            let Ok(d) = pb::RangeDescriptor::decode(raw.as_ref()) else { continue };
            let newer = match self.current(d.range_id)? {
                None => true,
                Some(old) => supersedes(&d, &old),
            };
            if newer {
                self.overlay.insert(d.range_id, d.clone());
                mutations.push(pb::CatalogMutation { kind: Some(pb::catalog_mutation::Kind::Upsert(d)) });
            }
        }
        if mutations.is_empty() {
            return Ok(false);
        }
        let cf = self.engine.cf(CF_CATALOG);
        for m in &mutations {
            if let Some(pb::catalog_mutation::Kind::Upsert(d)) = &m.kind {
                batch.put_cf(cf, numbered(RANGE_KIND, d.range_id), d.encode_to_vec());
            }
        }
        let delta = pb::CatalogDelta { previous_version: self.version, version: self.version + 1, mutations };
        self.version += 1;
        batch.put_cf(cf, numbered(DELTA_KIND, self.version), delta.encode_to_vec());
        batch.put_cf(cf, VERSION_KEY, self.version.to_be_bytes());
        if self.version > self.window {
            batch.delete_cf(cf, numbered(DELTA_KIND, self.version - self.window));
        }
        Ok(true)
    }
}

/// Deletes the whole catalog (before a meta snapshot replaces it).
pub fn clear(engine: &Engine, batch: &mut WriteBatch) {
    batch.delete_range_cf(engine.cf(CF_CATALOG), [0u8].as_slice(), [0xFFu8; 10].as_slice());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(id: u64, start: &str, end: &str, version: u64, leader: u64, term: u64) -> pb::RangeDescriptor {
        pb::RangeDescriptor {
            range_id: id,
            start_key: Bytes::from(start.to_string()),
            end_key: Bytes::from(end.to_string()),
            epoch: Some(pb::RangeEpoch { version, conf_version: 1 }),
            replicas: vec![],
            leader_node_id: leader,
            leader_term: term,
        }
    }

    fn report(engine: &Engine, window: u64, ds: &[pb::RangeDescriptor]) -> bool {
        let mut w = CatalogWriter::open(engine, window).unwrap();
        let mut batch = WriteBatch::default();
        let raw: Vec<Bytes> = ds.iter().map(|d| Bytes::from(d.encode_to_vec())).collect();
        let moved = w.report(&mut batch, &raw).unwrap();
        engine.write_synced(batch).unwrap();
        moved
    }

    #[test]
    fn versions_deltas_window_and_supersession() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let db = engine.db();
        assert!(report(&engine, 3, &[desc(1, "", "", 1, 1, 1)]));
        // Nothing new: no version.
        assert!(!report(&engine, 3, &[desc(1, "", "", 1, 1, 1)]));
        // An older leadership is ignored; a newer one is taken.
        assert!(!report(&engine, 3, &[desc(1, "", "", 1, 2, 0)]));
        assert!(report(&engine, 3, &[desc(1, "", "", 1, 2, 2)]));
        // A split: both halves in one version.
        assert!(report(&engine, 3, &[desc(1, "", "m", 2, 2, 2), desc(2, "m", "", 2, 0, 0)]));
        assert_eq!(version(db).unwrap(), 3);
        let Deltas::Batch(all) = deltas_after(db, 0, 10).unwrap() else { panic!("expected deltas") };
        assert_eq!(all.iter().map(|d| (d.previous_version, d.version)).collect::<Vec<_>>(), [(0, 1), (1, 2), (2, 3)]);
        assert_eq!(all[2].mutations.len(), 2);
        assert_eq!(deltas_after(db, 3, 10).unwrap(), Deltas::Batch(vec![]));
        assert_eq!(deltas_after(db, 4, 10).unwrap(), Deltas::FromTheFuture { version: 3 });
        // A fourth version pushes delta 1 out of a window of 3.
        assert!(report(&engine, 3, &[desc(2, "m", "", 2, 3, 1)]));
        assert_eq!(deltas_after(db, 0, 10).unwrap(), Deltas::TooOld);
        let Deltas::Batch(tail) = deltas_after(db, 1, 2).unwrap() else { panic!("expected deltas") };
        assert_eq!(tail.iter().map(|d| d.version).collect::<Vec<_>>(), [2, 3]);
        let (v, ranges) = snapshot(db).unwrap();
        assert_eq!(v, 4);
        assert_eq!(ranges.iter().map(|d| (d.range_id, d.leader_node_id)).collect::<Vec<_>>(), [(1, 2), (2, 3)]);
        // A hole inside the window is reported, not skipped.
        db.delete_cf(cf(db), numbered(DELTA_KIND, 3)).unwrap();
        assert_eq!(deltas_after(db, 1, 10).unwrap(), Deltas::Hole { missing: 3 });
    }

    #[test]
    fn allocated_ids_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let mut w = CatalogWriter::open(&engine, 8).unwrap();
            let mut batch = WriteBatch::default();
            seen.push(w.allocate(&mut batch));
            seen.push(w.allocate(&mut batch));
            engine.write_synced(batch).unwrap();
        }
        assert_eq!(seen, [2, 3, 4, 5, 6, 7]);
    }
}
