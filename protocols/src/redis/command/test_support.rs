//! Test-only in-memory [`KvStore`] with a controllable clock and real MVCC (snapshot reads,
//! transactions with conflict detection), and a harness that runs command lines through the
//! same path the gateway uses (parse → Command::parse → execute).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

use super::{execute, Command};
use crate::kv::{
    ClusterInfo, Condition, Expiry, KeyState, KvError, KvStore, Mutation, ReadSnapshot, ScannedKey, TxnCommit,
    TxnOutcome, WriteOutcome,
};
use crate::redis::session::{ServerContext, Session};
use crate::resp::{parse_request, Limits, Reply};

#[derive(Clone, Debug)]
struct Record {
    version: u64,
    /// `None` is a tombstone (a delete).
    value: Option<Bytes>,
    expire_at_ms: Option<u64>,
}

#[derive(Debug)]
struct State {
    /// Every version of every key, oldest first.
    records: BTreeMap<Bytes, Vec<Record>>,
    /// The newest version or timestamp handed out; the next write gets `last_version + 1`.
    last_version: u64,
    now_ms: u64,
    /// Makes the next N conditional writes fail as if another client raced us.
    injected_conflicts: u32,
    writes: Vec<(Vec<Condition>, Vec<Mutation>)>,
    reads: usize,
    /// Writes applied as if by another client right before the next commits (one per commit),
    /// i.e. between a transaction's start timestamp and its commit.
    before_commit: VecDeque<Vec<Mutation>>,
    commits: Vec<TxnCommit>,
    /// `timestamp` fails as if the oracle were unreachable.
    fail_timestamps: bool,
}

/// MVCC fake: every write gets a new version and keeps the older ones, so snapshot reads
/// ([`KvStore::get_at`]) see the newest version at or below their timestamp. As in the core,
/// a deleted key reads as version 0 (a tombstone and "no record" look the same).
#[derive(Debug)]
pub(crate) struct FakeKv {
    state: Mutex<State>,
}

/// A fixed "now" far from the epoch so relative arithmetic has room.
pub(crate) const START_MS: u64 = 1_700_000_000_000;

impl FakeKv {
    pub(crate) fn new() -> Self {
        FakeKv {
            state: Mutex::new(State {
                records: BTreeMap::new(),
                last_version: 0,
                now_ms: START_MS,
                injected_conflicts: 0,
                writes: Vec::new(),
                reads: 0,
                before_commit: VecDeque::new(),
                commits: Vec::new(),
                fail_timestamps: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.lock().now_ms
    }

    pub(crate) fn advance_ms(&self, ms: u64) {
        self.lock().now_ms += ms;
    }

    pub(crate) fn inject_conflicts(&self, count: u32) {
        self.lock().injected_conflicts = count;
    }

    /// Applies `mutations` as another client's write at the start of the next `commit` call:
    /// after the transaction took its start timestamp, before it is validated. Queue several
    /// to race several commits.
    pub(crate) fn write_before_next_commit(&self, mutations: Vec<Mutation>) {
        self.lock().before_commit.push_back(mutations);
    }

    /// Makes `timestamp` fail (`Unavailable`) until called with `false`.
    pub(crate) fn fail_timestamps(&self, fail: bool) {
        self.lock().fail_timestamps = fail;
    }

    /// Every transaction passed to `commit`, in order.
    pub(crate) fn commits(&self) -> Vec<TxnCommit> {
        self.lock().commits.clone()
    }

    /// Number of `write` calls, committed or not.
    pub(crate) fn write_count(&self) -> usize {
        self.lock().writes.len()
    }

    pub(crate) fn read_count(&self) -> usize {
        self.lock().reads
    }

    pub(crate) fn last_write(&self) -> Option<(Vec<Condition>, Vec<Mutation>)> {
        self.lock().writes.last().cloned()
    }

    /// Stores a raw value (tag byte included), e.g. to plant a non-string type.
    pub(crate) fn put_raw(&self, key: &[u8], value: &[u8]) {
        let mut state = self.lock();
        state.last_version += 1;
        let version = state.last_version;
        let record = Record { version, value: Some(Bytes::copy_from_slice(value)), expire_at_ms: None };
        state.records.entry(Bytes::copy_from_slice(key)).or_default().push(record);
    }

    pub(crate) fn raw(&self, key: &[u8]) -> KeyState {
        let state = self.lock();
        Self::key_state_at(&state, key, u64::MAX)
    }

    /// The key as of timestamp `ts`: its newest version at or below `ts`.
    fn key_state_at(state: &State, key: &[u8], ts: u64) -> KeyState {
        let newest = state.records.get(key).and_then(|versions| versions.iter().rev().find(|r| r.version <= ts));
        match newest {
            Some(Record { version, value: Some(value), expire_at_ms }) => {
                let live = expire_at_ms.is_none_or(|at| at > state.now_ms);
                KeyState {
                    version: *version,
                    value: live.then(|| value.clone()),
                    expire_at_ms: if live { *expire_at_ms } else { None },
                }
            }
            // Never written, or deleted.
            _ => KeyState::default(),
        }
    }

    fn key_state(state: &State, key: &[u8]) -> KeyState {
        Self::key_state_at(state, key, u64::MAX)
    }

    /// The newest write of any kind (deletes included): what transaction conflicts look at.
    fn last_written(state: &State, key: &[u8]) -> u64 {
        state.records.get(key).and_then(|versions| versions.last()).map_or(0, |r| r.version)
    }

    fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
        key >= start && (end.is_empty() || key < end)
    }

    fn conditions_hold(state: &State, conditions: &[Condition]) -> bool {
        conditions.iter().all(|c| Self::key_state(state, &c.key).version == c.expected_version)
    }

    /// Applies `mutations` at one new version and returns it.
    fn apply(state: &mut State, mutations: Vec<Mutation>) -> u64 {
        state.last_version += 1;
        let version = state.last_version;
        let now = state.now_ms;
        for mutation in mutations {
            match mutation {
                Mutation::Put { key, value, expiry } => {
                    let expire_at_ms = match expiry {
                        Expiry::Never => None,
                        Expiry::AtUnixMs(at) => Some(at),
                        Expiry::AfterMs(ms) => Some(now + ms),
                        Expiry::Keep => Self::key_state(state, &key).expire_at_ms,
                    };
                    let record = Record { version, value: Some(value), expire_at_ms };
                    state.records.entry(key).or_default().push(record);
                }
                Mutation::Delete { key } => {
                    let tombstone = Record { version, value: None, expire_at_ms: None };
                    state.records.entry(key).or_default().push(tombstone);
                }
                Mutation::DeleteRange { start, end } => {
                    for (key, versions) in state.records.iter_mut() {
                        let has_value = versions.last().is_some_and(|r| r.value.is_some());
                        if Self::in_range(key, &start, &end) && has_value {
                            versions.push(Record { version, value: None, expire_at_ms: None });
                        }
                    }
                }
            }
        }
        version
    }
}

impl KvStore for FakeKv {
    async fn get(&self, keys: Vec<Bytes>) -> Result<ReadSnapshot, KvError> {
        let mut state = self.lock();
        state.reads += 1;
        let states = keys.iter().map(|k| Self::key_state(&state, k)).collect();
        Ok(ReadSnapshot { states, now_ms: state.now_ms })
    }

    async fn write(&self, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Result<WriteOutcome, KvError> {
        let mut state = self.lock();
        state.writes.push((conditions.clone(), mutations.clone()));
        if !conditions.is_empty() && state.injected_conflicts > 0 {
            state.injected_conflicts -= 1;
            return Ok(WriteOutcome::ConditionFailed);
        }
        if !Self::conditions_hold(&state, &conditions) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        let commit_ts = Self::apply(&mut state, mutations);
        Ok(WriteOutcome::Committed { commit_ts })
    }

    async fn timestamp(&self) -> Result<u64, KvError> {
        let mut state = self.lock();
        if state.fail_timestamps {
            return Err(KvError::Unavailable("no timestamp oracle".into()));
        }
        state.last_version += 1;
        Ok(state.last_version)
    }

    async fn get_at(&self, keys: Vec<Bytes>, ts: u64) -> Result<ReadSnapshot, KvError> {
        let mut state = self.lock();
        state.reads += 1;
        let states = keys.iter().map(|k| Self::key_state_at(&state, k, ts)).collect();
        Ok(ReadSnapshot { states, now_ms: state.now_ms })
    }

    async fn commit(&self, txn: TxnCommit) -> Result<TxnOutcome, KvError> {
        let mut state = self.lock();
        state.commits.push(txn.clone());
        if let Some(racing) = state.before_commit.pop_front() {
            Self::apply(&mut state, racing);
        }
        if txn.mutations.iter().any(|m| matches!(m, Mutation::DeleteRange { .. })) {
            return Err(KvError::Invalid("transactions take Put and Delete mutations only".into()));
        }
        if !Self::conditions_hold(&state, &txn.conditions) {
            return Ok(TxnOutcome::ConditionFailed);
        }
        let mutated = txn.mutations.iter().filter_map(|m| match m {
            Mutation::Put { key, .. } | Mutation::Delete { key } => Some(key),
            Mutation::DeleteRange { .. } => None,
        });
        if txn.read_keys.iter().chain(mutated).any(|key| Self::last_written(&state, key) > txn.start_ts) {
            return Ok(TxnOutcome::Conflict);
        }
        if txn.mutations.is_empty() {
            return Ok(TxnOutcome::Committed { commit_ts: txn.start_ts });
        }
        let commit_ts = Self::apply(&mut state, txn.mutations);
        Ok(TxnOutcome::Committed { commit_ts })
    }

    async fn scan(&self, start: Bytes, end: Bytes, limit: usize) -> Result<Vec<ScannedKey>, KvError> {
        let state = self.lock();
        Ok(state
            .records
            .keys()
            .filter(|k| Self::in_range(k, &start, &end))
            .map(|k| ScannedKey { key: k.clone(), state: Self::key_state(&state, k) })
            .filter(|s| s.state.is_live())
            .take(limit)
            .collect())
    }

    async fn scan_at(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        reverse: bool,
        ts: u64,
    ) -> Result<Vec<ScannedKey>, KvError> {
        let mut state = self.lock();
        state.reads += 1;
        let keys: Vec<&Bytes> = state.records.keys().filter(|k| Self::in_range(k, &start, &end)).collect();
        let ordered: Box<dyn Iterator<Item = &&Bytes>> =
            if reverse { Box::new(keys.iter().rev()) } else { Box::new(keys.iter()) };
        Ok(ordered
            .map(|k| ScannedKey { key: (*k).clone(), state: Self::key_state_at(&state, k, ts) })
            .filter(|s| s.state.is_live())
            .take(limit)
            .collect())
    }

    async fn count(&self, start: Bytes, end: Bytes) -> Result<u64, KvError> {
        let state = self.lock();
        Ok(state
            .records
            .keys()
            .filter(|k| Self::in_range(k, &start, &end) && Self::key_state(&state, k).is_live())
            .count() as u64)
    }

    async fn cluster_info(&self) -> Result<ClusterInfo, KvError> {
        Ok(ClusterInfo { fields: vec![("strata_raft_leader".into(), "1".into())] })
    }
}

/// One client connection against a fresh fake store (plus a second one, `other`, for tests
/// that need another client).
pub(crate) struct Harness {
    pub kv: FakeKv,
    pub ctx: ServerContext,
    pub session: Session,
    pub other: Session,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_context(ServerContext::new(6379, None))
    }

    pub(crate) fn with_password(password: &str) -> Self {
        Self::with_context(ServerContext::new(6379, Some(password.to_string())))
    }

    pub(crate) fn with_context(ctx: ServerContext) -> Self {
        let session = Session::new(7, &ctx);
        let other = Session::new(8, &ctx);
        Harness { kv: FakeKv::new(), ctx, session, other }
    }

    /// Runs one command line on the second connection.
    pub(crate) async fn run_other(&mut self, line: &str) -> Reply {
        std::mem::swap(&mut self.session, &mut self.other);
        let reply = self.run(line).await;
        std::mem::swap(&mut self.session, &mut self.other);
        reply
    }

    /// Runs one inline command line (Redis quoting rules) and returns the reply.
    pub(crate) async fn run(&mut self, line: &str) -> Reply {
        let mut buf = BytesMut::from(format!("{line}\r\n").as_bytes());
        let args = match parse_request(&mut buf, &Limits::default()) {
            Ok(Some(args)) => args,
            other => panic!("test line {line:?} did not parse: {other:?}"),
        };
        self.run_args(args).await
    }

    pub(crate) async fn run_args(&mut self, args: Vec<Bytes>) -> Reply {
        match Command::parse(args, &self.session, &self.ctx) {
            Ok(cmd) => execute(cmd, &mut self.session, &self.kv, &self.ctx).await.reply,
            Err(reply) => reply,
        }
    }
}

pub(crate) fn ok() -> Reply {
    Reply::ok()
}

pub(crate) fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

pub(crate) fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

pub(crate) fn err(text: &str) -> Reply {
    Reply::error(text)
}
