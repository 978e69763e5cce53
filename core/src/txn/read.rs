//! Reading a key as a transaction-aware reader must: its lock, then its version.

use rocksdb::DB;

use crate::mvcc::{self, Latest};
use crate::storage::StorageError;
use crate::txn::records::{self, Lock};

/// What a read found for one key: its version, and the lock that makes it uncertain.
pub type KeyRead = (Option<Latest>, Option<Lock>);

/// The newest version of each key at or below `read_ts` (0 = newest of all), and the lock
/// that makes it uncertain, if any: one that blocks readers and (for a snapshot read)
/// started at or below `read_ts`.
///
/// Every key is read from one RocksDB snapshot. Read one by one from the live database, a
/// multi-key read could straddle an apply (some keys before a write, some after) and a
/// key's version and lock could straddle a commit (the version read before it, the lock
/// after it was removed). `strata-jepsen`'s bank workload found both: transfers half seen.
pub fn read_keys<'k>(
    db: &DB,
    keys: impl IntoIterator<Item = &'k [u8]>,
    read_ts: u64,
) -> Result<Vec<KeyRead>, StorageError> {
    let snapshot = db.snapshot();
    let ts = if read_ts == 0 { u64::MAX } else { read_ts };
    keys.into_iter()
        .map(|key| {
            let lock = records::read_lock_in(db, key, Some(&snapshot))?
                .filter(|l| l.blocks_readers() && (read_ts == 0 || l.start_ts <= read_ts));
            Ok((mvcc::read_in(db, key, ts, Some(&snapshot))?, lock))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::mvcc::Version;
    use crate::raft::types::ExpireAt;
    use crate::storage::{Engine, CF_DATA, CF_LOCKS};
    use crate::txn::records::LockKind;

    #[test]
    fn a_lock_is_reported_with_the_version_under_it_and_only_if_it_can_matter() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let db = engine.db();
        let put = |value: &str| Version::Put { value: Bytes::from(value.to_string()), expire_at_ms: None };
        db.put_cf(engine.cf(CF_DATA), mvcc::version_key(b"k", 10), put("old").encode()).unwrap();
        let lock = |kind| Lock { start_ts: 20, primary: Bytes::from_static(b"p"), ttl_ms: 1000, kind };
        let write_lock = lock(LockKind::Put { value: Bytes::from_static(b"new"), expire: ExpireAt::Never });
        db.put_cf(engine.cf(CF_LOCKS), records::lock_key(b"k"), records::encode_lock(&write_lock)).unwrap();

        let read_key = |key: &[u8], ts| read_keys(db, [key], ts).map(|mut v| v.remove(0));
        let (version, found) = read_key(b"k", 0).unwrap();
        assert_eq!(version.map(|v| v.commit_ts), Some(10));
        assert_eq!(found, Some(write_lock.clone()), "a newest-state read must settle the lock");
        assert_eq!(read_key(b"k", 25).unwrap().1, Some(write_lock), "it may commit below 25");
        assert_eq!(read_key(b"k", 15).unwrap().1, None, "it commits above 20: no concern at 15");
        let read_lock = lock(LockKind::Read);
        db.put_cf(engine.cf(CF_LOCKS), records::lock_key(b"k"), records::encode_lock(&read_lock)).unwrap();
        assert_eq!(read_key(b"k", 0).unwrap().1, None, "read locks never block readers");
    }

    /// Regression test for a bug `strata-jepsen` found: the keys of one read were read one
    /// by one from the live database, so a read racing an apply saw half of a write.
    #[test]
    fn a_multi_key_read_never_sees_half_of_a_write() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let db = engine.db().clone();
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let reader = {
            let (db, done) = (db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) || reads == 0 {
                    let found = read_keys(&db, [&b"a"[..], &b"z"[..]], 0).unwrap();
                    let ts: Vec<u64> =
                        found.iter().map(|(v, _)| v.as_ref().map(|v| v.commit_ts).unwrap_or(0)).collect();
                    assert_eq!(ts[0], ts[1], "a read saw half of a write");
                    reads += 1;
                }
                reads
            })
        };
        for ts in 1..20_000u64 {
            let mut batch = rocksdb::WriteBatch::default();
            for key in [&b"a"[..], &b"z"[..]] {
                let v = Version::Put { value: Bytes::from(ts.to_string()), expire_at_ms: None };
                batch.put_cf(engine.cf(CF_DATA), mvcc::version_key(key, ts), v.encode());
            }
            db.write(batch).unwrap();
        }
        done.store(true, Ordering::Release);
        assert!(reader.join().unwrap() > 0);
    }
}
