//! [`Transaction`]: the [`KvStore`] that commands queued by MULTI run against at EXEC.
//!
//! It reads a snapshot of the underlying store at one start timestamp and buffers every write
//! instead of sending it; [`Transaction::finish`] then hands back one [`TxnCommit`] that the
//! store applies atomically — or refuses if anything the transaction read or writes changed
//! since its start timestamp. Because *every* key read is listed in
//! [`TxnCommit::read_keys`], a transaction that commits behaves as if it had run alone at its
//! commit timestamp (serializable, like Redis's single-threaded EXEC), not merely on a
//! snapshot.
//!
//! The commands themselves are unchanged: a read-modify-write command reads (`get`), decides,
//! and writes with version conditions (`write`). Here `get` answers from the transaction's own
//! buffered writes first and from the snapshot otherwise, and `write` checks the conditions
//! against that same view and buffers the mutations. Versions of keys the transaction wrote
//! itself are made up (they only need to be consistent within the transaction, so that the
//! commands' own conditions hold).
//!
//! Limits, documented in docs/redis.md:
//! - [`Mutation::DeleteRange`] (FLUSHDB / FLUSHALL) is refused with a run-time error: a
//!   transaction cannot lock the whole keyspace.
//! - `scan`, `count` and `cluster_info` (DBSIZE, INFO) go straight to the underlying store:
//!   they are not snapshot reads and do not see the transaction's own writes.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::kv::{
    ClusterInfo, Condition, Expiry, KeyState, KvError, KvStore, Mutation, ReadSnapshot, ScannedKey, TxnCommit,
    TxnOutcome, WriteOutcome,
};

/// The error text of FLUSHDB / FLUSHALL inside MULTI (an `ERR` reply).
pub const FLUSH_IN_TRANSACTION: &str = "FLUSHDB and FLUSHALL are not supported inside MULTI";

/// First made-up version for keys the transaction wrote itself; far above real timestamps.
const FIRST_OWN_VERSION: u64 = 1 << 62;

/// A buffered write.
#[derive(Clone, Debug)]
enum Buffered {
    Put {
        value: Bytes,
        /// Never [`Expiry::Keep`]: that is resolved when the write is buffered.
        expiry: Expiry,
        version: u64,
        /// For [`Expiry::AfterMs`]: the absolute expiry shown to readers, fixed at the first
        /// read. A later write of exactly this time (INCR, APPEND... keep the TTL they read)
        /// keeps the relative expiry, which the core resolves at commit.
        shown_at: Option<u64>,
    },
    Delete,
}

#[derive(Debug, Default)]
struct State {
    /// Snapshot states read so far (at the start timestamp, so they never change).
    snapshot: HashMap<Bytes, KeyState>,
    /// Every key read, in first-read order, without duplicates.
    read_keys: Vec<Bytes>,
    read_set: HashSet<Bytes>,
    /// The newest write of each key written, and the order keys were first written in.
    writes: HashMap<Bytes, Buffered>,
    write_order: Vec<Bytes>,
    next_version: u64,
    /// The core's clock at the latest snapshot read.
    now_ms: Option<u64>,
}

impl State {
    fn record_read(&mut self, key: &Bytes) {
        if self.read_set.insert(key.clone()) {
            self.read_keys.push(key.clone());
        }
    }

    /// The version the transaction sees for `key` (which must be buffered or in `snapshot`).
    fn version(&self, key: &[u8]) -> u64 {
        match self.writes.get(key) {
            Some(Buffered::Put { version, .. }) => *version,
            Some(Buffered::Delete) => 0,
            None => self.snapshot.get(key).map_or(0, |state| state.version),
        }
    }

    /// The transaction's view of `key`: its own write if any, else the snapshot.
    fn view(&mut self, key: &[u8], now_ms: u64) -> KeyState {
        match self.writes.get_mut(key) {
            Some(Buffered::Put { value, expiry, version, shown_at }) => {
                let expire_at_ms = match *expiry {
                    Expiry::AtUnixMs(at) => Some(at),
                    Expiry::AfterMs(ms) => Some(*shown_at.get_or_insert(now_ms.saturating_add(ms))),
                    Expiry::Never | Expiry::Keep => None,
                };
                let live = expire_at_ms.is_none_or(|at| at > now_ms);
                KeyState {
                    version: *version,
                    value: live.then(|| value.clone()),
                    expire_at_ms: if live { expire_at_ms } else { None },
                }
            }
            Some(Buffered::Delete) => KeyState::default(),
            None => self.snapshot.get(key).cloned().unwrap_or_default(),
        }
    }

    fn buffer(&mut self, key: Bytes, write: Buffered) {
        if self.writes.insert(key.clone(), write).is_none() {
            self.write_order.push(key);
        }
    }

    fn own_version(&mut self) -> u64 {
        self.next_version += 1;
        FIRST_OWN_VERSION + self.next_version
    }

    /// Buffers a put, resolving [`Expiry::Keep`] against the transaction's view. `key` must be
    /// buffered or in `snapshot` when the expiry is `Keep`.
    fn buffer_put(&mut self, key: Bytes, value: Bytes, expiry: Expiry) {
        let version = self.own_version();
        let previous = self.writes.get(&key).cloned();
        let (expiry, shown_at) = match (expiry, previous) {
            // KEEPTTL after our own write: keep whatever that write set, relative or not.
            (Expiry::Keep, Some(Buffered::Put { expiry, shown_at, .. })) => (expiry, shown_at),
            (Expiry::Keep, Some(Buffered::Delete)) => (Expiry::Never, None),
            // KEEPTTL of a snapshot value: its absolute expiry, if it is live.
            (Expiry::Keep, None) => match self.snapshot.get(&key) {
                Some(KeyState { value: Some(_), expire_at_ms: Some(at), .. }) => (Expiry::AtUnixMs(*at), None),
                _ => (Expiry::Never, None),
            },
            // A command wrote back the expiry it read from our relative one: stay relative.
            (Expiry::AtUnixMs(at), Some(Buffered::Put { expiry: Expiry::AfterMs(ms), shown_at: Some(shown), .. }))
                if at == shown =>
            {
                (Expiry::AfterMs(ms), Some(shown))
            }
            (expiry, _) => (expiry, None),
        };
        self.buffer(key, Buffered::Put { value, expiry, version, shown_at });
    }
}

/// A MULTI/EXEC transaction over `kv`: snapshot reads at one start timestamp, buffered writes.
/// See the module documentation.
pub struct Transaction<'a, K> {
    kv: &'a K,
    /// Taken from [`KvStore::timestamp`] at the first read (or at [`Transaction::finish`]),
    /// so a transaction that never touches a key asks the oracle nothing.
    start_ts: OnceCell<u64>,
    state: Mutex<State>,
}

impl<'a, K: KvStore> Transaction<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Transaction { kv, start_ts: OnceCell::new(), state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The snapshot timestamp, fetched from the store's oracle on first use.
    pub async fn start_ts(&self) -> Result<u64, KvError> {
        self.start_ts.get_or_try_init(|| self.kv.timestamp()).await.copied()
    }

    /// Reads into `snapshot` the keys among `keys` that are neither buffered nor read yet.
    /// With `need_clock`, reads even when nothing is missing if the core's clock is unknown.
    async fn fill_snapshot(&self, keys: &[Bytes], need_clock: bool) -> Result<(), KvError> {
        let missing: Vec<Bytes> = {
            let state = self.lock();
            let mut seen = HashSet::new();
            let missing: Vec<Bytes> = keys
                .iter()
                .filter(|k| !state.writes.contains_key(*k) && !state.snapshot.contains_key(*k) && seen.insert(*k))
                .cloned()
                .collect();
            if missing.is_empty() && need_clock && state.now_ms.is_none() {
                keys.to_vec()
            } else {
                missing
            }
        };
        if missing.is_empty() {
            return Ok(());
        }
        let ts = self.start_ts().await?;
        let read = self.kv.get_at(missing.clone(), ts).await?;
        if read.states.len() != missing.len() {
            return Err(KvError::Internal("snapshot read returned the wrong number of keys".into()));
        }
        let mut state = self.lock();
        state.now_ms = Some(state.now_ms.map_or(read.now_ms, |known| known.max(read.now_ms)));
        for (key, key_state) in missing.into_iter().zip(read.states) {
            state.snapshot.entry(key).or_insert(key_state);
        }
        Ok(())
    }

    /// Reads `keys` from the snapshot in one round trip, ahead of the commands that will ask
    /// for them one by one (they are recorded as read only when a command reads them).
    pub async fn prefetch(&self, keys: &[Bytes]) -> Result<(), KvError> {
        self.fill_snapshot(keys, false).await
    }

    /// The commit for everything done so far, with `conditions` (WATCH) to check on top:
    /// `None` when there is nothing to write and nothing to check (a read-only transaction
    /// without WATCH needs no commit: its reads were one consistent snapshot).
    pub async fn finish(self, conditions: Vec<Condition>) -> Result<Option<TxnCommit>, KvError> {
        let has_writes = !self.lock().write_order.is_empty();
        if !has_writes && conditions.is_empty() {
            return Ok(None);
        }
        let start_ts = self.start_ts().await?;
        let state = self.state.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        let State { read_keys, mut writes, write_order, .. } = state;
        let mutations = write_order
            .into_iter()
            .filter_map(|key| match writes.remove(&key)? {
                Buffered::Put { value, expiry, .. } => Some(Mutation::Put { key, value, expiry }),
                Buffered::Delete => Some(Mutation::Delete { key }),
            })
            .collect();
        Ok(Some(TxnCommit { start_ts, read_keys, conditions, mutations }))
    }
}

impl<K: KvStore> KvStore for Transaction<'_, K> {
    /// The transaction's own writes overlaid on the snapshot at the start timestamp; every key
    /// asked for joins the read set.
    async fn get(&self, keys: Vec<Bytes>) -> Result<ReadSnapshot, KvError> {
        {
            let mut state = self.lock();
            for key in &keys {
                state.record_read(key);
            }
        }
        self.fill_snapshot(&keys, true).await?;
        let mut state = self.lock();
        let now_ms = state.now_ms.unwrap_or_default();
        let states = keys.iter().map(|key| state.view(key, now_ms)).collect();
        Ok(ReadSnapshot { states, now_ms })
    }

    /// Checks `conditions` against the transaction's view and buffers `mutations`.
    async fn write(&self, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Result<WriteOutcome, KvError> {
        if mutations.iter().any(|m| matches!(m, Mutation::DeleteRange { .. })) {
            return Err(KvError::Invalid(FLUSH_IN_TRANSACTION.into()));
        }
        // Condition keys are reads; KEEPTTL needs the expiry the key has in our view.
        let mut needed: Vec<Bytes> = conditions.iter().map(|c| c.key.clone()).collect();
        needed.extend(mutations.iter().filter_map(|m| match m {
            Mutation::Put { key, expiry: Expiry::Keep, .. } => Some(key.clone()),
            _ => None,
        }));
        if !needed.is_empty() {
            {
                let mut state = self.lock();
                for key in &needed {
                    state.record_read(key);
                }
            }
            self.fill_snapshot(&needed, false).await?;
        }
        let mut state = self.lock();
        if conditions.iter().any(|c| state.version(&c.key) != c.expected_version) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        for mutation in mutations {
            match mutation {
                Mutation::Put { key, value, expiry } => state.buffer_put(key, value, expiry),
                Mutation::Delete { key } => state.buffer(key, Buffered::Delete),
                Mutation::DeleteRange { .. } => {}
            }
        }
        let commit_ts = state.own_version();
        Ok(WriteOutcome::Committed { commit_ts })
    }

    async fn timestamp(&self) -> Result<u64, KvError> {
        self.kv.timestamp().await
    }

    /// Straight to the underlying store: no overlay of the transaction's writes.
    async fn get_at(&self, keys: Vec<Bytes>, ts: u64) -> Result<ReadSnapshot, KvError> {
        self.kv.get_at(keys, ts).await
    }

    async fn commit(&self, _txn: TxnCommit) -> Result<TxnOutcome, KvError> {
        Err(KvError::Invalid("transactions cannot be nested".into()))
    }

    /// A scan of the snapshot at the *start timestamp* (`ts` is ignored: every read of a
    /// transaction is at its start) overlaid with the transaction's own writes. The keys
    /// scanned do not join the read set: the collection commands that scan always read the
    /// collection's metadata key too, and every change to a collection rewrites that key, so
    /// a conflict on it covers everything scanned under it.
    async fn scan_at(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        reverse: bool,
        _ts: u64,
    ) -> Result<Vec<ScannedKey>, KvError> {
        let in_range = |key: &[u8]| key >= start.as_ref() && (end.is_empty() || key < end.as_ref());
        let buffered: Vec<Bytes> = self.lock().write_order.iter().filter(|k| in_range(k)).cloned().collect();
        // Each buffered key can hide at most one stored key, so this many stored keys still
        // leave `limit` survivors whenever that many exist.
        let fetch = limit.saturating_add(buffered.len());
        let ts = self.start_ts().await?;
        let stored = self.kv.scan_at(start.clone(), end.clone(), fetch, reverse, ts).await?;
        let mut state = self.lock();
        let now_ms = state.now_ms.unwrap_or_default();
        let mut merged: std::collections::BTreeMap<Bytes, KeyState> =
            stored.into_iter().filter(|s| !state.writes.contains_key(&s.key)).map(|s| (s.key, s.state)).collect();
        for key in buffered {
            let view = state.view(&key, now_ms);
            if view.is_live() {
                merged.insert(key, view);
            }
        }
        let entries = merged.into_iter().map(|(key, state)| ScannedKey { key, state });
        Ok(if reverse { entries.rev().take(limit).collect() } else { entries.take(limit).collect() })
    }

    fn in_transaction(&self) -> bool {
        true
    }

    /// Not a snapshot read, and blind to the transaction's own writes.
    async fn scan(&self, start: Bytes, end: Bytes, limit: usize) -> Result<Vec<ScannedKey>, KvError> {
        self.kv.scan(start, end, limit).await
    }

    /// Not a snapshot read, and blind to the transaction's own writes.
    async fn count(&self, start: Bytes, end: Bytes) -> Result<u64, KvError> {
        self.kv.count(start, end).await
    }

    async fn cluster_info(&self) -> Result<ClusterInfo, KvError> {
        self.kv.cluster_info().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::command::test_support::{FakeKv, START_MS};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn put(key: &str, value: &str, expiry: Expiry) -> Mutation {
        Mutation::Put { key: b(key), value: b(value), expiry }
    }

    #[tokio::test]
    async fn reads_a_snapshot_overlaid_with_its_own_writes() {
        let kv = FakeKv::new();
        kv.write(vec![], vec![put("a", "1", Expiry::Never), put("b", "1", Expiry::Never)]).await.unwrap();
        let txn = Transaction::new(&kv);
        let first = txn.get(vec![b("a")]).await.unwrap();
        assert_eq!(first.states[0].value, Some(b("1")));
        // Written by someone else after the snapshot: invisible, even for a key not read yet.
        kv.write(vec![], vec![put("a", "2", Expiry::Never), put("b", "2", Expiry::Never)]).await.unwrap();
        let later = txn.get(vec![b("a"), b("b"), b("c")]).await.unwrap();
        let values: Vec<_> = later.states.iter().map(|s| s.value.clone()).collect();
        assert_eq!(values, vec![Some(b("1")), Some(b("1")), None]);
        assert_eq!(later.now_ms, START_MS);

        // Own writes win, and their versions satisfy conditions taken from our own reads.
        let seen = later.states[0].version;
        let outcome =
            txn.write(vec![Condition { key: b("a"), expected_version: seen }], vec![put("a", "x", Expiry::Never)]);
        assert!(matches!(outcome.await.unwrap(), WriteOutcome::Committed { .. }));
        let own = txn.get(vec![b("a")]).await.unwrap().states.remove(0);
        assert_eq!(own.value, Some(b("x")));
        assert_ne!(own.version, seen);
        let stale = txn.write(vec![Condition { key: b("a"), expected_version: seen }], vec![]).await.unwrap();
        assert_eq!(stale, WriteOutcome::ConditionFailed);
        let fresh = txn.write(vec![Condition { key: b("a"), expected_version: own.version }], vec![]).await.unwrap();
        assert!(matches!(fresh, WriteOutcome::Committed { .. }));
        // A delete reads as "no record" (version 0), like the core.
        txn.write(vec![], vec![Mutation::Delete { key: b("a") }]).await.unwrap();
        assert_eq!(txn.get(vec![b("a")]).await.unwrap().states[0], KeyState::default());

        let commit = txn.finish(vec![]).await.unwrap().unwrap();
        assert_eq!(commit.read_keys, vec![b("a"), b("b"), b("c")]);
        assert_eq!(commit.mutations, vec![Mutation::Delete { key: b("a") }]);
        // Nothing reached the store: it still has the other client's values.
        assert_eq!(kv.raw(b"a").value, Some(b("2")));
    }

    #[tokio::test]
    async fn refuses_range_deletes_and_leaves_nothing_buffered() {
        let kv = FakeKv::new();
        let txn = Transaction::new(&kv);
        let flush = vec![put("a", "1", Expiry::Never), Mutation::DeleteRange { start: b("R"), end: b("S") }];
        assert_eq!(txn.write(vec![], flush).await, Err(KvError::Invalid(FLUSH_IN_TRANSACTION.into())));
        assert_eq!(txn.finish(vec![]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_only_work_needs_no_commit_unless_conditions_are_given() {
        let kv = FakeKv::new();
        let txn = Transaction::new(&kv);
        txn.get(vec![b("a")]).await.unwrap();
        assert_eq!(txn.finish(vec![]).await.unwrap(), None);
        let txn = Transaction::new(&kv);
        let watch = vec![Condition { key: b("a"), expected_version: 0 }];
        let commit = txn.finish(watch.clone()).await.unwrap().unwrap();
        assert_eq!(commit.conditions, watch);
        assert!(commit.mutations.is_empty() && commit.read_keys.is_empty() && commit.start_ts > 0);
    }

    #[tokio::test]
    async fn keep_resolves_against_the_view_and_relative_expiries_stay_relative() {
        let kv = FakeKv::new();
        kv.write(vec![], vec![put("old", "v", Expiry::AtUnixMs(START_MS + 5_000))]).await.unwrap();
        let txn = Transaction::new(&kv);
        txn.write(vec![], vec![put("old", "w", Expiry::Keep)]).await.unwrap();
        txn.write(vec![], vec![put("rel", "1", Expiry::AfterMs(10_000))]).await.unwrap();
        let shown = txn.get(vec![b("rel")]).await.unwrap();
        assert_eq!(shown.states[0].expire_at_ms, Some(shown.now_ms + 10_000));
        // A read-modify-write writing back the expiry it saw, then KEEPTTL: still relative.
        let at = shown.states[0].expire_at_ms.unwrap();
        txn.write(vec![], vec![put("rel", "2", Expiry::AtUnixMs(at))]).await.unwrap();
        txn.write(vec![], vec![put("rel", "3", Expiry::Keep)]).await.unwrap();
        txn.write(vec![], vec![put("none", "1", Expiry::Keep)]).await.unwrap();
        let commit = txn.finish(vec![]).await.unwrap().unwrap();
        assert_eq!(
            commit.mutations,
            vec![
                put("old", "w", Expiry::AtUnixMs(START_MS + 5_000)),
                put("rel", "3", Expiry::AfterMs(10_000)),
                put("none", "1", Expiry::Never),
            ]
        );
        // KEEPTTL depends on the key's expiry: it is a read.
        assert_eq!(commit.read_keys, vec![b("old"), b("rel"), b("none")]);
    }
}
