//! MVCC encoding of user keys in the `data` column family.
//!
//! Each write of a user key creates a version keyed by `escape(user_key) ++ !commit_ts`:
//! the escaping keeps the byte order of user keys and makes encodings prefix-free, and the
//! inverted timestamp puts the newest version of a key first, so "read latest" is one seek.
//! Deletes write a tombstone version; old versions are removed by [`crate::gc`].

use bytes::Bytes;
use rocksdb::{Direction, IteratorMode, ReadOptions, DB};

use crate::storage::{StorageError, CF_DATA};

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

/// Order-preserving, prefix-free encoding of a user key (without timestamp).
pub fn encode_user_key(key: &[u8], out: &mut Vec<u8>) {
    out.reserve(key.len() + 2 + 8);
    for &b in key {
        if b == ESCAPE {
            out.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[ESCAPE, TERMINATOR]);
}

pub fn user_key_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_user_key(key, &mut out);
    out
}

pub fn version_key(key: &[u8], commit_ts: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_user_key(key, &mut out);
    out.extend_from_slice(&(!commit_ts).to_be_bytes());
    out
}

/// Splits a version key into the user key and its commit timestamp.
pub fn decode_version_key(encoded: &[u8]) -> Option<(Vec<u8>, u64)> {
    let mut key = Vec::with_capacity(encoded.len());
    let mut i = 0;
    loop {
        let b = *encoded.get(i)?;
        if b == ESCAPE {
            match *encoded.get(i + 1)? {
                ESCAPED_ZERO => key.push(0),
                TERMINATOR => {
                    let ts: [u8; 8] = encoded.get(i + 2..i + 10)?.try_into().ok()?;
                    return Some((key, !u64::from_be_bytes(ts)));
                }
                _ => return None,
            }
            i += 2;
        } else {
            key.push(b);
            i += 1;
        }
    }
}

/// Encoded lower bound of all versions of keys `>= key`.
pub fn range_bound(key: &[u8]) -> Vec<u8> {
    // The escaped key without terminator sorts before every version of `key` and after
    // every version of any smaller key.
    let mut out = Vec::new();
    for &b in key {
        if b == ESCAPE {
            out.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
        } else {
            out.push(b);
        }
    }
    out
}

const KIND_PUT: u8 = 1;
const KIND_TOMBSTONE: u8 = 2;

/// One stored version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    Put { value: Bytes, expire_at_ms: Option<u64> },
    Tombstone,
}

impl Version {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Version::Put { value, expire_at_ms } => {
                let mut out = Vec::with_capacity(1 + 8 + value.len());
                out.push(KIND_PUT);
                out.extend_from_slice(&expire_at_ms.unwrap_or(0).to_be_bytes());
                out.extend_from_slice(value);
                out
            }
            Version::Tombstone => vec![KIND_TOMBSTONE],
        }
    }

    pub fn decode(raw: &[u8]) -> Result<Self, StorageError> {
        match raw.first() {
            Some(&KIND_PUT) => {
                let expire: [u8; 8] = raw
                    .get(1..9)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| StorageError::Corrupt { what: "mvcc value", detail: "short put".into() })?;
                let expire = u64::from_be_bytes(expire);
                Ok(Version::Put {
                    value: Bytes::copy_from_slice(&raw[9..]),
                    expire_at_ms: (expire != 0).then_some(expire),
                })
            }
            Some(&KIND_TOMBSTONE) => Ok(Version::Tombstone),
            _ => Err(StorageError::Corrupt { what: "mvcc value", detail: format!("kind {:?}", raw.first()) }),
        }
    }

    /// The value if it is visible at wall-clock `now_ms`.
    pub fn live_value(&self, now_ms: u64) -> Option<(&Bytes, Option<u64>)> {
        match self {
            Version::Put { value, expire_at_ms } => match expire_at_ms {
                Some(at) if *at <= now_ms => None,
                _ => Some((value, *expire_at_ms)),
            },
            Version::Tombstone => None,
        }
    }
}

/// The newest version of a key: its commit timestamp and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    pub commit_ts: u64,
    pub version: Version,
}

/// Reads the newest version of `key`, if any.
pub fn read_latest(db: &DB, key: &[u8]) -> Result<Option<Latest>, StorageError> {
    read_in(db, key, u64::MAX, None)
}

/// Reads the newest version of `key` committed at or below `ts`, if any.
pub fn read_at(db: &DB, key: &[u8], ts: u64) -> Result<Option<Latest>, StorageError> {
    read_in(db, key, ts, None)
}

/// [`read_at`] through a RocksDB snapshot, so several reads see one state.
pub fn read_in(
    db: &DB,
    key: &[u8],
    ts: u64,
    snapshot: Option<&rocksdb::SnapshotWithThreadMode<'_, DB>>,
) -> Result<Option<Latest>, StorageError> {
    let cf = db.cf_handle(CF_DATA).expect("data column family");
    let prefix = user_key_prefix(key);
    let mut opts = ReadOptions::default();
    if let Some(snapshot) = snapshot {
        opts.set_snapshot(snapshot);
    }
    let mut upper = prefix.clone();
    upper.extend_from_slice(&[0xFF; 9]);
    opts.set_iterate_upper_bound(upper);
    // Versions sort newest first (inverted timestamps), so the first one at or after
    // `version_key(key, ts)` is the newest at or below `ts`.
    let from = version_key(key, ts);
    let mut iter = db.iterator_cf_opt(cf, opts, IteratorMode::From(&from, Direction::Forward));
    match iter.next() {
        Some(item) => {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || k.len() != prefix.len() + 8 {
                return Ok(None);
            }
            let ts: [u8; 8] = k[prefix.len()..]
                .try_into()
                .map_err(|_| StorageError::Corrupt { what: "mvcc key", detail: "bad timestamp".into() })?;
            Ok(Some(Latest { commit_ts: !u64::from_be_bytes(ts), version: Version::decode(&v)? }))
        }
        None => Ok(None),
    }
}

/// Visits, for every key in `[start, end)` (empty `end` = unbounded), its newest version
/// committed at or below `ts`, in key order or (`reverse`) backwards, until `visit` returns
/// false. Keys with no version at or below `ts` are skipped.
pub fn scan_at(
    db: &DB,
    start: &[u8],
    end: &[u8],
    ts: u64,
    reverse: bool,
    mut visit: impl FnMut(Vec<u8>, Latest) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    if !reverse {
        return scan_forward(db, start, end, ts, visit);
    }
    let cf = db.cf_handle(CF_DATA).expect("data column family");
    let mut opts = ReadOptions::default();
    opts.set_iterate_lower_bound(range_bound(start));
    if !end.is_empty() {
        opts.set_iterate_upper_bound(range_bound(end));
    }
    // Backwards, a key's versions come oldest first: the last one at or below `ts` before the
    // key changes is the one to visit.
    let mut candidate: Option<(Vec<u8>, Option<Latest>)> = None;
    for item in db.iterator_cf_opt(cf, opts, IteratorMode::End) {
        let (k, v) = item?;
        let Some((user_key, commit_ts)) = decode_version_key(&k) else {
            return Err(StorageError::Corrupt { what: "mvcc key", detail: format!("{k:?}") });
        };
        if candidate.as_ref().is_some_and(|(key, _)| *key != user_key) {
            if let Some((key, Some(latest))) = candidate.take() {
                if !visit(key, latest)? {
                    return Ok(());
                }
            }
        }
        let slot = candidate.get_or_insert_with(|| (user_key, None));
        if commit_ts <= ts {
            slot.1 = Some(Latest { commit_ts, version: Version::decode(&v)? });
        }
    }
    if let Some((key, Some(latest))) = candidate {
        visit(key, latest)?;
    }
    Ok(())
}

/// [`scan_at`] in key order: a key's versions come newest first, so the first one at or
/// below `ts` is the one to visit and the rest are skipped without decoding.
fn scan_forward(
    db: &DB,
    start: &[u8],
    end: &[u8],
    ts: u64,
    mut visit: impl FnMut(Vec<u8>, Latest) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    let cf = db.cf_handle(CF_DATA).expect("data column family");
    let lower = range_bound(start);
    let mut opts = ReadOptions::default();
    if !end.is_empty() {
        opts.set_iterate_upper_bound(range_bound(end));
    }
    let mut last_key: Option<Vec<u8>> = None;
    for item in db.iterator_cf_opt(cf, opts, IteratorMode::From(&lower, Direction::Forward)) {
        let (k, v) = item?;
        let Some((user_key, commit_ts)) = decode_version_key(&k) else {
            return Err(StorageError::Corrupt { what: "mvcc key", detail: format!("{k:?}") });
        };
        if commit_ts > ts || last_key.as_deref() == Some(user_key.as_slice()) {
            continue;
        }
        last_key = Some(user_key.clone());
        if !visit(user_key, Latest { commit_ts, version: Version::decode(&v)? })? {
            break;
        }
    }
    Ok(())
}

/// Visits the newest version of every key in `[start, end)` (empty `end` = unbounded) in key
/// order until `visit` returns false. Older versions of a key are skipped.
pub fn scan_latest(
    db: &DB,
    start: &[u8],
    end: &[u8],
    visit: impl FnMut(Vec<u8>, Latest) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    scan_forward(db, start, end, u64::MAX, visit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_sort_by_user_key_then_newest_first() {
        let mut keys = [
            version_key(b"a", 5),
            version_key(b"a", 9),
            version_key(b"a\x00", 1),
            version_key(b"", 3),
            version_key(b"ab", 2),
            version_key(b"a\x00\x00", 2),
        ];
        keys.sort();
        let decoded: Vec<_> = keys.iter().map(|k| decode_version_key(k).unwrap()).collect();
        assert_eq!(
            decoded,
            vec![
                (b"".to_vec(), 3),
                (b"a".to_vec(), 9),
                (b"a".to_vec(), 5),
                (b"a\x00".to_vec(), 1),
                (b"a\x00\x00".to_vec(), 2),
                (b"ab".to_vec(), 2),
            ]
        );
    }

    #[test]
    fn range_bounds_split_between_keys() {
        assert!(range_bound(b"b").as_slice() > version_key(b"a\xff", 1).as_slice());
        assert!(range_bound(b"b").as_slice() <= version_key(b"b", u64::MAX).as_slice());
        assert!(range_bound(b"a\x00").as_slice() > version_key(b"a", 0).as_slice());
    }

    #[test]
    fn reads_at_a_timestamp_see_the_newest_version_at_or_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::storage::Engine::open(dir.path()).unwrap();
        let cf = engine.cf(CF_DATA);
        for (key, ts, value) in [("a", 10, "a10"), ("a", 20, "a20"), ("b", 5, "b5")] {
            let v = Version::Put { value: Bytes::from(value), expire_at_ms: None };
            engine.db().put_cf(cf, version_key(key.as_bytes(), ts), v.encode()).unwrap();
        }
        let at = |key: &str, ts| read_at(engine.db(), key.as_bytes(), ts).unwrap().map(|l| l.commit_ts);
        assert_eq!(at("a", 9), None);
        assert_eq!(at("a", 10), Some(10));
        assert_eq!(at("a", 19), Some(10));
        assert_eq!(at("a", u64::MAX), Some(20));
        assert_eq!(at("b", 100), Some(5));
        assert_eq!(at("ab", 100), None);
    }

    #[test]
    fn scans_at_a_timestamp_go_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::storage::Engine::open(dir.path()).unwrap();
        let cf = engine.cf(CF_DATA);
        for (key, ts) in [("a", 10), ("a", 20), ("b", 5), ("c", 30), ("d", 1), ("d", 2)] {
            let v = Version::Put { value: Bytes::from(format!("{key}{ts}")), expire_at_ms: None };
            engine.db().put_cf(cf, version_key(key.as_bytes(), ts), v.encode()).unwrap();
        }
        let scan = |start: &str, end: &str, ts, reverse| {
            let mut out = Vec::new();
            scan_at(engine.db(), start.as_bytes(), end.as_bytes(), ts, reverse, |k, l| {
                out.push((String::from_utf8(k).unwrap(), l.commit_ts));
                Ok(true)
            })
            .unwrap();
            out
        };
        let s = |v: &[(&str, u64)]| v.iter().map(|(k, t)| (k.to_string(), *t)).collect::<Vec<_>>();
        assert_eq!(scan("", "", 15, false), s(&[("a", 10), ("b", 5), ("d", 2)]));
        assert_eq!(scan("", "", 15, true), s(&[("d", 2), ("b", 5), ("a", 10)]));
        assert_eq!(scan("a", "d", u64::MAX, true), s(&[("c", 30), ("b", 5), ("a", 20)]));
        assert_eq!(scan("b", "", 1, false), s(&[("d", 1)]));
        assert_eq!(scan("b", "", 1, true), s(&[("d", 1)]));
    }

    #[test]
    fn values_round_trip_and_expire() {
        let v = Version::Put { value: Bytes::from_static(b"hi"), expire_at_ms: Some(100) };
        let back = Version::decode(&v.encode()).unwrap();
        assert_eq!(back, v);
        assert!(back.live_value(99).is_some());
        assert!(back.live_value(100).is_none());
        assert_eq!(Version::decode(&Version::Tombstone.encode()).unwrap(), Version::Tombstone);
        assert!(Version::decode(&[9]).is_err());
    }
}
