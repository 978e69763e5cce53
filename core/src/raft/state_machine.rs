//! A range's state machine: applies committed [`Proposal`]s to the MVCC data in RocksDB.
//!
//! All entries handed to one `apply` call are written in a single RocksDB batch together
//! with the applied log id, so after a crash the data and the applied index always agree.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, Membership, RaftSnapshotBuilder, Snapshot, StorageIOError};
use rocksdb::WriteBatch;
use tokio::sync::{mpsc, watch};

use super::log_store::{decode, encode};
use super::pending::PendingWrites;
pub use super::pending::REQUEST_DEDUP_WINDOW_MS;
use super::snapshot;
use super::types::{
    CatalogCommand, CommandOutcome, Entry, LogId, NodeId, Proposal, ProposalResult, RangeDescriptor, SnapshotMeta,
    StorageError, StoredMembership, TypeConfig,
};
use crate::catalog::store::CatalogWriter;
use crate::storage::{keys, Engine, CF_RAFT_STATE, CF_RANGE_META};
use crate::txn::apply::apply_command;

/// Something the node must act on after an apply.
#[derive(Debug, Clone)]
pub enum RangeEvent {
    /// A split was applied: start the child's Raft group on this node.
    Split { parent: RangeDescriptor, child: RangeDescriptor },
}

/// What every state machine on a node shares with the node.
#[derive(Clone)]
pub struct NodeHooks {
    pub events: mpsc::UnboundedSender<RangeEvent>,
    /// How many catalog deltas the meta range keeps.
    pub catalog_window: u64,
    /// The catalog version applied on this node (meta range only).
    pub catalog_version: Arc<watch::Sender<u64>>,
}

impl NodeHooks {
    /// Hooks whose events go nowhere (tests of a lone state machine).
    pub fn detached() -> Self {
        let (events, _) = mpsc::unbounded_channel();
        Self { events, catalog_window: 1024, catalog_version: Arc::new(watch::channel(0).0) }
    }
}

/// The log id a range created by a split starts from on every replica: what openraft's
/// `initialize` would write, already applied and purged, so all replicas begin identical and
/// any of them may campaign. A replica that missed the split gets a snapshot instead.
pub fn split_origin() -> LogId {
    LogId::new(CommittedLeaderId::new(0, 0), 0)
}

/// State shared between the state machine and the rest of the replica (read path, leader
/// clock, status reporting).
#[derive(Debug, Default)]
pub struct AppliedState {
    pub descriptor: RwLock<RangeDescriptor>,
    /// Highest committed clock ceiling.
    pub clock_ceiling: AtomicU64,
    /// Commit timestamp of the newest applied write.
    pub last_commit_ts: AtomicU64,
    pub applied_index: AtomicU64,
    /// Snapshots installed on this replica since it started.
    pub snapshots_installed: AtomicU64,
}

impl AppliedState {
    pub fn descriptor(&self) -> RangeDescriptor {
        self.descriptor.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct StateMachine {
    engine: Engine,
    range_id: u64,
    shared: Arc<AppliedState>,
    current_snapshot: snapshot::CurrentSnapshot,
    snapshot_dir: PathBuf,
    hooks: NodeHooks,
}

impl StateMachine {
    /// Opens the state machine of `initial.range_id` from what is on disk. With nothing on
    /// disk it starts from `initial`, persisted if `persist_initial` (a founding range) and
    /// kept in memory only otherwise (an empty replica waiting for its first snapshot).
    pub fn open(
        engine: Engine,
        initial: RangeDescriptor,
        persist_initial: bool,
        snapshot_dir: PathBuf,
        hooks: NodeHooks,
    ) -> Result<Self, crate::storage::StorageError> {
        let range_id = initial.range_id;
        let meta = |name| engine.get_cf(CF_RANGE_META, &keys::range_record(range_id, name));
        let descriptor = match meta(keys::DESCRIPTOR)? {
            Some(raw) => decode(&raw).map_err(corrupt("descriptor"))?,
            None if persist_initial => {
                let mut batch = WriteBatch::default();
                let raw = encode(&initial).map_err(corrupt("descriptor"))?;
                batch.put_cf(engine.cf(CF_RANGE_META), keys::range_record(range_id, keys::DESCRIPTOR), raw);
                engine.write_synced(batch)?;
                initial
            }
            None => initial,
        };
        let read_u64 = |name| -> Result<u64, crate::storage::StorageError> {
            Ok(meta(name)?.map(|raw| decode::<u64>(&raw)).transpose().map_err(corrupt(name))?.unwrap_or(0))
        };
        let shared = AppliedState {
            descriptor: RwLock::new(descriptor),
            clock_ceiling: AtomicU64::new(read_u64(keys::HLC_CEILING)?),
            last_commit_ts: AtomicU64::new(read_u64(keys::LAST_COMMIT_TS)?),
            applied_index: AtomicU64::new(0),
            snapshots_installed: AtomicU64::new(0),
        };
        let sm = Self {
            engine,
            range_id,
            shared: Arc::new(shared),
            current_snapshot: Default::default(),
            snapshot_dir,
            hooks,
        };
        if let Some(applied) = sm.read_meta::<Option<LogId>>(keys::APPLIED).ok().flatten().flatten() {
            sm.shared.applied_index.store(applied.index, Ordering::Release);
        }
        Ok(sm)
    }

    pub fn shared(&self) -> Arc<AppliedState> {
        self.shared.clone()
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StorageError> {
        let raw = self
            .engine
            .get_cf(CF_RANGE_META, &keys::range_record(self.range_id, name))
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        raw.map(|r| decode(&r).map_err(|e| StorageIOError::read_state_machine(&e).into())).transpose()
    }

    fn put_meta<T: serde::Serialize>(&self, batch: &mut WriteBatch, name: &str, value: &T) -> Result<(), StorageError> {
        let raw = encode(value).map_err(|e| StorageIOError::write_state_machine(&e))?;
        batch.put_cf(self.engine.cf(CF_RANGE_META), keys::range_record(self.range_id, name), raw);
        Ok(())
    }
}

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> crate::storage::StorageError {
    move |e| crate::storage::StorageError::Corrupt { what, detail: e.to_string() }
}

/// The two halves of `parent` cut at `split_key`, if the split still applies.
fn split_halves(
    parent: &RangeDescriptor,
    split_key: &Bytes,
    child_id: u64,
    epoch: (u64, u64),
) -> Option<(RangeDescriptor, RangeDescriptor)> {
    if parent.is_meta() || parent.epoch() != epoch || !parent.contains(split_key) || *split_key == parent.start_key {
        return None;
    }
    let epoch_version = parent.epoch_version + 1;
    let left = RangeDescriptor { end_key: split_key.clone(), epoch_version, ..parent.clone() };
    let right = RangeDescriptor {
        range_id: child_id,
        start_key: split_key.clone(),
        end_key: parent.end_key.clone(),
        epoch_version,
        conf_version: parent.conf_version,
        replicas: parent.replicas.clone(),
    };
    Some((left, right))
}

/// Writes the starting state of a range created by a split (see [`split_origin`]). The
/// child's keys are already in the data column family: ranges share it, so nothing moves.
/// Its clock state continues the parent's so its timestamps keep increasing.
fn seed_child(
    engine: &Engine,
    batch: &mut WriteBatch,
    child: &RangeDescriptor,
    membership: &Membership<NodeId, openraft::BasicNode>,
    clock_ceiling: u64,
    last_commit_ts: u64,
) -> Result<(), StorageError> {
    let record = |name| keys::range_record(child.range_id, name);
    let exists = engine.get_cf(CF_RANGE_META, &record(keys::DESCRIPTOR)).map_err(|e| StorageIOError::write(&e))?;
    if exists.is_some() {
        return Ok(()); // replaying the split after a crash: the child already runs
    }
    let origin = split_origin();
    let meta = engine.cf(CF_RANGE_META);
    let put = |batch: &mut WriteBatch,
               cf: &rocksdb::ColumnFamily,
               name,
               raw: Result<Vec<u8>, postcard::Error>|
     -> Result<(), StorageError> {
        batch.put_cf(cf, record(name), raw.map_err(|e| StorageIOError::write_state_machine(&e))?);
        Ok(())
    };
    put(batch, meta, keys::DESCRIPTOR, encode(child))?;
    put(batch, meta, keys::APPLIED, encode(&Some(origin)))?;
    put(batch, meta, keys::MEMBERSHIP, encode(&StoredMembership::new(Some(origin), membership.clone())))?;
    put(batch, meta, keys::HLC_CEILING, encode(&clock_ceiling))?;
    put(batch, meta, keys::LAST_COMMIT_TS, encode(&last_commit_ts))?;
    put(batch, engine.cf(CF_RAFT_STATE), keys::LAST_PURGED, encode(&Some(origin)))?;
    Ok(())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = snapshot::Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.read_meta::<Option<LogId>>(keys::APPLIED)?.flatten();
        let membership = self.read_meta::<StoredMembership>(keys::MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ProposalResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut descriptor = self.shared.descriptor();
        let mut last_commit_ts = self.shared.last_commit_ts.load(Ordering::Acquire);
        let mut ceiling = self.shared.clock_ceiling.load(Ordering::Acquire);
        let mut pending = PendingWrites::new(&self.engine);
        let mut catalog: Option<CatalogWriter> = None;
        let mut results = Vec::new();
        let mut last_applied = None;
        let mut membership = None;
        let mut splits = Vec::new();
        for entry in entries {
            last_applied = Some(entry.log_id);
            let mut result = ProposalResult::default();
            match &entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => membership = Some(StoredMembership::new(Some(entry.log_id), m.clone())),
                EntryPayload::Normal(Proposal::ClockCeiling { ceiling: c }) => ceiling = ceiling.max(*c),
                EntryPayload::Normal(Proposal::Split { split_key, child_id, epoch }) => {
                    if let Some((left, right)) = split_halves(&descriptor, split_key, *child_id, *epoch) {
                        let current_membership = match &membership {
                            Some(m) => m.clone(),
                            None => self.read_meta::<StoredMembership>(keys::MEMBERSHIP)?.unwrap_or_default(),
                        };
                        seed_child(
                            &self.engine,
                            &mut pending.batch,
                            &right,
                            current_membership.membership(),
                            ceiling,
                            last_commit_ts,
                        )?;
                        self.put_meta(&mut pending.batch, keys::DESCRIPTOR, &left)?;
                        descriptor = left.clone();
                        splits.push((left.clone(), right.clone()));
                        result.split = Some((left, right));
                    }
                }
                EntryPayload::Normal(Proposal::Catalog(command)) => {
                    if catalog.is_none() {
                        let writer = CatalogWriter::open(&self.engine, self.hooks.catalog_window)
                            .map_err(|e| StorageIOError::read_state_machine(&e))?;
                        catalog = Some(writer);
                    }
                    let writer = catalog.as_mut().expect("opened above");
                    match command {
                        CatalogCommand::AllocateRangeId => {
                            result.allocated_range_id = writer.allocate(&mut pending.batch)
                        }
                        CatalogCommand::Report { descriptors } => {
                            writer
                                .report(&mut pending.batch, descriptors)
                                .map_err(|e| StorageIOError::write_state_machine(&e))?;
                        }
                    }
                    result.catalog_version = writer.version;
                }
                EntryPayload::Normal(Proposal::Writes { commands }) => {
                    for command in commands {
                        let outcome = apply_command(&mut pending, &descriptor, command)?;
                        if let CommandOutcome::Committed { commit_ts } = outcome {
                            last_commit_ts = last_commit_ts.max(commit_ts);
                        }
                        result.outcomes.push(outcome);
                    }
                }
            }
            results.push(result);
        }
        let mut batch = std::mem::take(&mut pending.batch);
        drop(pending);
        self.put_meta(&mut batch, keys::APPLIED, &last_applied)?;
        self.put_meta(&mut batch, keys::LAST_COMMIT_TS, &last_commit_ts)?;
        self.put_meta(&mut batch, keys::HLC_CEILING, &ceiling)?;
        if let Some(m) = &membership {
            self.put_meta(&mut batch, keys::MEMBERSHIP, m)?;
        }
        // Not fsynced on its own: every entry applied here is already durable in the log,
        // and the WAL is one ordered stream, so after a crash the data and applied index are
        // at worst an older consistent pair and the log replays the rest.
        self.engine.write_unsynced(batch).map_err(|e| StorageIOError::write_state_machine(&e))?;
        // Narrowed only after the child's state is in the database: a Raft message for the
        // child that finds no overlapping range here then finds the child's state instead.
        if !splits.is_empty() {
            *self.shared.descriptor.write().unwrap_or_else(|e| e.into_inner()) = descriptor;
        }
        for (parent, child) in splits {
            let _ = self.hooks.events.send(RangeEvent::Split { parent, child });
        }
        if let Some(writer) = catalog {
            self.hooks.catalog_version.send_replace(writer.version);
        }
        self.shared.last_commit_ts.store(last_commit_ts, Ordering::Release);
        self.shared.clock_ceiling.store(ceiling, Ordering::Release);
        if let Some(applied) = last_applied {
            self.shared.applied_index.store(applied.index, Ordering::Release);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        snapshot::Builder::new(
            self.engine.clone(),
            self.range_id,
            self.shared.descriptor(),
            self.current_snapshot.clone(),
            self.snapshot_dir.clone(),
        )
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, data: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let bytes = data.into_inner();
        let engine = self.engine.clone();
        let range_id = self.range_id;
        let dir = self.snapshot_dir.clone();
        let installed = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || snapshot::install(&engine, range_id, &bytes, &dir))
                .await
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?
        };
        if installed.descriptor.is_meta() {
            let version = crate::catalog::store::version(self.engine.db())
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            self.hooks.catalog_version.send_replace(version);
        }
        *self.shared.descriptor.write().unwrap_or_else(|e| e.into_inner()) = installed.descriptor;
        self.shared.clock_ceiling.store(installed.clock_ceiling, Ordering::Release);
        self.shared.last_commit_ts.store(installed.last_commit_ts, Ordering::Release);
        if let Some(applied) = installed.applied {
            self.shared.applied_index.store(applied.index, Ordering::Release);
        }
        *self.current_snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some((meta.clone(), bytes));
        self.shared.snapshots_installed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        {
            let current = self.current_snapshot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((meta, bytes)) = current.as_ref() {
                return Ok(Some(Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(bytes.clone())) }));
            }
        }
        // A range born from a split has no log before its origin, so a follower that missed
        // the split can only catch up from a snapshot; openraft treats "none" as a storage
        // failure, so build one now.
        let mut builder = self.get_snapshot_builder().await;
        Ok(Some(builder.build().await?))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for snapshot::Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        self.build().await
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload, RaftSnapshotBuilder};

    use super::*;
    use crate::mvcc::{self, Latest, Version};
    use crate::raft::types::{Entry, ExpireAt, Op, TxnCommand, WriteCommand};

    fn open(dir: &std::path::Path) -> (Engine, StateMachine) {
        let engine = Engine::open(&dir.join("db")).unwrap();
        let desc = RangeDescriptor { range_id: 1, epoch_version: 1, conf_version: 1, ..Default::default() };
        let sm = StateMachine::open(engine.clone(), desc, true, dir.join("snapshots"), NodeHooks::detached()).unwrap();
        (engine, sm)
    }

    fn entry(index: u64, proposal: Proposal) -> Entry {
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Normal(proposal) }
    }

    fn put(key: &str, value: &str, expire: ExpireAt) -> Op {
        Op::Put { key: Bytes::from(key.to_string()), value: Bytes::from(value.to_string()), expire }
    }

    fn write(request_id: u128, conditions: Vec<(&str, u64)>, ops: Vec<Op>) -> WriteCommand {
        WriteCommand {
            request_id,
            epoch: None,
            conditions: conditions.into_iter().map(|(k, v)| (Bytes::from(k.to_string()), v)).collect(),
            ops,
            ..Default::default()
        }
    }

    /// The leader's job: command `i` commits at `base_ts + i`.
    fn writes(base_ts: u64, commands: Vec<WriteCommand>) -> Proposal {
        let commands = commands
            .into_iter()
            .enumerate()
            .map(|(i, c)| WriteCommand { commit_ts: base_ts + i as u64, ..c })
            .collect();
        Proposal::Writes { commands }
    }

    fn latest(engine: &Engine, key: &str) -> Option<Latest> {
        mvcc::read_latest(engine.db(), key.as_bytes()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn conditions_see_earlier_writes_of_the_same_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut sm) = open(dir.path());
        let commands = vec![
            write(0, vec![("k", 0)], vec![put("k", "a", ExpireAt::Never)]),
            // Stale condition: "k" now has a version, so this must fail.
            write(0, vec![("k", 0)], vec![put("k", "b", ExpireAt::Never)]),
        ];
        let results = sm.apply(vec![entry(1, writes(100, commands))]).await.unwrap();
        assert_eq!(
            results[0].outcomes,
            vec![CommandOutcome::Committed { commit_ts: 100 }, CommandOutcome::ConditionFailed]
        );
        let l = latest(&engine, "k").unwrap();
        assert_eq!(l.commit_ts, 100);
        assert_eq!(l.version, Version::Put { value: Bytes::from_static(b"a"), expire_at_ms: None });
        // A condition naming the real version passes.
        let results = sm
            .apply(vec![entry(2, writes(50, vec![write(0, vec![("k", 100)], vec![put("k", "c", ExpireAt::Never)])]))])
            .await
            .unwrap();
        // A version below the key's newest is refused: the sender retries with a fresh
        // timestamp.
        assert_eq!(results[0].outcomes, vec![CommandOutcome::TsTooOld]);
        let results = sm
            .apply(vec![entry(3, writes(150, vec![write(0, vec![("k", 100)], vec![put("k", "c", ExpireAt::Never)])]))])
            .await
            .unwrap();
        assert_eq!(results[0].outcomes, vec![CommandOutcome::Committed { commit_ts: 150 }]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn commands_routed_with_a_stale_epoch_are_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut sm) = open(dir.path());
        let mut stale = write(0, vec![], vec![put("k", "stale", ExpireAt::Never)]);
        stale.epoch = Some((0, 1));
        let mut current = write(0, vec![], vec![put("k", "current", ExpireAt::Never)]);
        current.epoch = Some((1, 1));
        let results = sm.apply(vec![entry(1, writes(10, vec![stale, current]))]).await.unwrap();
        assert_eq!(
            results[0].outcomes,
            vec![CommandOutcome::EpochNotMatch, CommandOutcome::Committed { commit_ts: 11 }]
        );
        assert_eq!(
            latest(&engine, "k").unwrap().version,
            Version::Put { value: Bytes::from_static(b"current"), expire_at_ms: None }
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retried_request_ids_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut sm) = open(dir.path());
        let cmd = write(42, vec![("n", 0)], vec![put("n", "1", ExpireAt::Never)]);
        let first = sm.apply(vec![entry(1, writes(10, vec![cmd.clone()]))]).await.unwrap();
        let retry = sm.apply(vec![entry(2, writes(20, vec![cmd]))]).await.unwrap();
        assert_eq!(first[0].outcomes, retry[0].outcomes, "the retry reports the original commit");
        assert_eq!(latest(&engine, "n").unwrap().commit_ts, 10);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn keep_ttl_delete_and_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut sm) = open(dir.path());
        let commands = vec![
            write(0, vec![], vec![put("a", "1", ExpireAt::UnixMs(5_000))]),
            write(0, vec![], vec![put("a", "2", ExpireAt::Keep)]),
            write(0, vec![], vec![put("b", "1", ExpireAt::Never), put("c", "1", ExpireAt::Never)]),
            write(0, vec![], vec![Op::Delete { key: Bytes::from_static(b"b") }]),
            write(0, vec![], vec![Op::DeleteRange { start: Bytes::from_static(b"c"), end: Bytes::new() }]),
        ];
        sm.apply(vec![entry(1, writes(10, commands))]).await.unwrap();
        assert_eq!(
            latest(&engine, "a").unwrap().version,
            Version::Put { value: Bytes::from_static(b"2"), expire_at_ms: Some(5_000) }
        );
        assert_eq!(latest(&engine, "b").unwrap().version, Version::Tombstone);
        assert_eq!(latest(&engine, "c").unwrap().version, Version::Tombstone);
        // GC drops shadowed versions and old tombstones, keeping the newest value.
        let removed = crate::gc::collect_garbage(&engine, u64::MAX).unwrap();
        assert_eq!(removed, 5, "a@10, b@12, b@13, c@12, c@14");
        assert!(latest(&engine, "b").is_none());
        assert_eq!(latest(&engine, "a").unwrap().commit_ts, 11);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn snapshots_round_trip_through_sst_ingestion() {
        let src_dir = tempfile::tempdir().unwrap();
        let (_src_engine, mut src) = open(src_dir.path());
        let mut commands: Vec<WriteCommand> = (0..100)
            .map(|i| write(0, vec![], vec![put(&format!("key{i:03}"), &format!("v{i}"), ExpireAt::Never)]))
            .collect();
        // A write with a request id: its dedup record must travel with the snapshot.
        let retried = write(77, vec![("counter", 0)], vec![put("counter", "1", ExpireAt::Never)]);
        commands.push(retried.clone());
        src.apply(vec![entry(1, writes(1_000, commands)), entry(2, Proposal::ClockCeiling { ceiling: 9_999 })])
            .await
            .unwrap();
        let snapshot = src.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(2));

        let dst_dir = tempfile::tempdir().unwrap();
        let (dst_engine, mut dst) = open(dst_dir.path());
        // Data the snapshot must replace.
        dst.apply(vec![entry(1, writes(5, vec![write(0, vec![], vec![put("stale", "x", ExpireAt::Never)])]))])
            .await
            .unwrap();
        dst.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();
        assert!(latest(&dst_engine, "stale").is_none());
        assert_eq!(
            latest(&dst_engine, "key042").unwrap().version,
            Version::Put { value: Bytes::from_static(b"v42"), expire_at_ms: None }
        );
        let (applied, _) = dst.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(2));
        assert_eq!(dst.shared().clock_ceiling.load(Ordering::Acquire), 9_999);
        assert_eq!(dst.shared().last_commit_ts.load(Ordering::Acquire), 1_100);
        // The retry of request 77 is recognised on the new replica as on the old one.
        let on_src = src.apply(vec![entry(3, writes(2_000, vec![retried.clone()]))]).await.unwrap();
        let on_dst = dst.apply(vec![entry(3, writes(2_000, vec![retried]))]).await.unwrap();
        assert_eq!(on_src[0].outcomes, vec![CommandOutcome::Committed { commit_ts: 1_100 }]);
        assert_eq!(on_dst[0].outcomes, on_src[0].outcomes);
    }

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn step(txn: TxnCommand, conditions: Vec<(&str, u64)>, ops: Vec<Op>) -> WriteCommand {
        WriteCommand { txn: Some(txn), ..write(0, conditions, ops) }
    }

    async fn run(sm: &mut StateMachine, index: u64, command: WriteCommand) -> CommandOutcome {
        let mut results = sm.apply(vec![entry(index, Proposal::Writes { commands: vec![command] })]).await.unwrap();
        results.remove(0).outcomes.remove(0)
    }

    fn prewrite(start_ts: u64, primary: &str, read_keys: &[&str]) -> TxnCommand {
        TxnCommand::Prewrite {
            start_ts,
            primary: b(primary),
            ttl_ms: crate::txn::DEFAULT_LOCK_TTL_MS,
            read_keys: read_keys.iter().map(|k| b(k)).collect(),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_phase_commit_locks_then_commits_at_the_commit_timestamp() {
        use crate::raft::types::TxnState;
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut sm) = open(dir.path());
        let ops = vec![put("p", "1", ExpireAt::Never), put("s", "2", ExpireAt::Never)];
        assert_eq!(
            run(&mut sm, 1, step(prewrite(100, "p", &["r"]), vec![], ops)).await,
            CommandOutcome::Committed { commit_ts: 0 }
        );
        // Locked keys: invisible as values, and writers are turned away with the lock.
        assert!(latest(&engine, "p").is_none());
        let plain = WriteCommand { commit_ts: 150, ..write(0, vec![], vec![put("r", "x", ExpireAt::Never)]) };
        let blocked = run(&mut sm, 2, plain).await;
        assert!(matches!(blocked, CommandOutcome::Locked(ref l) if l.primary == b("p") && l.start_ts == 100));
        // Another transaction meeting the lock cannot prewrite either.
        let other = run(&mut sm, 3, step(prewrite(120, "s", &[]), vec![], vec![put("s", "x", ExpireAt::Never)])).await;
        assert!(matches!(other, CommandOutcome::Locked(_)));
        // Commit the primary (the commit point), then the rest.
        let commit = |keys: &[&str]| TxnCommand::Commit {
            start_ts: 100,
            commit_ts: 130,
            keys: keys.iter().map(|k| b(k)).collect(),
        };
        assert_eq!(
            run(&mut sm, 4, step(commit(&["p"]), vec![], vec![])).await,
            CommandOutcome::Committed { commit_ts: 130 }
        );
        assert_eq!(
            run(
                &mut sm,
                5,
                step(TxnCommand::CheckStatus { primary: b("p"), start_ts: 100, caller_ts: 131 }, vec![], vec![])
            )
            .await,
            CommandOutcome::TxnState(TxnState::Committed { commit_ts: 130 })
        );
        assert_eq!(
            run(&mut sm, 6, step(commit(&["s", "r"]), vec![], vec![])).await,
            CommandOutcome::Committed { commit_ts: 130 }
        );
        assert_eq!(latest(&engine, "p").unwrap().commit_ts, 130);
        assert_eq!(latest(&engine, "s").unwrap().commit_ts, 130);
        assert!(latest(&engine, "r").is_none(), "a read lock commits to nothing");
        // A commit retried after the fact is harmless; a rollback after commit is refused.
        assert_eq!(
            run(&mut sm, 7, step(commit(&["p"]), vec![], vec![])).await,
            CommandOutcome::Committed { commit_ts: 130 }
        );
        let late_rollback = TxnCommand::Rollback { start_ts: 100, primary: b("p"), keys: vec![b("p")] };
        assert_eq!(
            run(&mut sm, 8, step(late_rollback, vec![], vec![])).await,
            CommandOutcome::TxnState(TxnState::Committed { commit_ts: 130 })
        );
        // A transaction that started before that commit conflicts on those keys.
        let stale = run(&mut sm, 9, step(prewrite(125, "s", &[]), vec![], vec![put("s", "y", ExpireAt::Never)])).await;
        assert_eq!(stale, CommandOutcome::WriteConflict);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn expired_primaries_roll_back_and_late_prewrites_fail() {
        use crate::raft::types::TxnState;
        let dir = tempfile::tempdir().unwrap();
        let (engine, mut sm) = open(dir.path());
        let start = crate::hlc::pack(10_000, 0);
        let ops = vec![put("p", "1", ExpireAt::Never)];
        run(&mut sm, 1, step(prewrite(start, "p", &[]), vec![], ops.clone())).await;
        let check = |caller_ms| TxnCommand::CheckStatus {
            primary: b("p"),
            start_ts: start,
            caller_ts: crate::hlc::pack(caller_ms, 0),
        };
        assert_eq!(
            run(&mut sm, 2, step(check(11_000), vec![], vec![])).await,
            CommandOutcome::TxnState(TxnState::Pending)
        );
        // Past its TTL the owner is presumed gone: rolled back, lock removed.
        assert_eq!(
            run(&mut sm, 3, step(check(10_000 + crate::txn::DEFAULT_LOCK_TTL_MS), vec![], vec![])).await,
            CommandOutcome::TxnState(TxnState::RolledBack)
        );
        assert!(records_lock(&engine, "p").is_none());
        // The owner's commit now fails, and so does a retried prewrite.
        let commit = TxnCommand::Commit { start_ts: start, commit_ts: start + 5, keys: vec![b("p")] };
        assert_eq!(run(&mut sm, 4, step(commit, vec![], vec![])).await, CommandOutcome::TxnState(TxnState::RolledBack));
        assert_eq!(
            run(&mut sm, 5, step(prewrite(start, "p", &[]), vec![], ops)).await,
            CommandOutcome::TxnState(TxnState::RolledBack)
        );
        assert!(latest(&engine, "p").is_none());
    }

    fn records_lock(engine: &Engine, key: &str) -> Option<crate::txn::records::Lock> {
        crate::txn::records::read_lock(engine.db(), key.as_bytes()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_phase_transactions_fail_on_newer_versions() {
        let dir = tempfile::tempdir().unwrap();
        let (_engine, mut sm) = open(dir.path());
        sm.apply(vec![entry(1, writes(100, vec![write(0, vec![], vec![put("a", "1", ExpireAt::Never)])]))])
            .await
            .unwrap();
        let txn = |unchanged_since| WriteCommand {
            commit_ts: 200,
            unchanged_since,
            read_keys: vec![b("a")],
            ..write(0, vec![], vec![put("b", "1", ExpireAt::Never)])
        };
        assert_eq!(run(&mut sm, 2, txn(99)).await, CommandOutcome::WriteConflict, "a read key changed after 99");
        assert_eq!(run(&mut sm, 3, txn(100)).await, CommandOutcome::Committed { commit_ts: 200 });
    }
}
