//! Test-only in-memory [`KvStore`] with a controllable clock, and a harness that runs
//! command lines through the same path the gateway uses (parse → Command::parse → execute).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};

use super::{execute, Command};
use crate::kv::{
    ClusterInfo, Condition, Expiry, KeyState, KvError, KvStore, Mutation, ReadSnapshot, ScannedKey, WriteOutcome,
};
use crate::redis::session::{ServerContext, Session};
use crate::resp::{parse_request, Limits, Reply};

#[derive(Clone, Debug)]
struct Record {
    version: u64,
    value: Option<Bytes>,
    expire_at_ms: Option<u64>,
}

#[derive(Debug)]
struct State {
    records: BTreeMap<Bytes, Record>,
    last_version: u64,
    now_ms: u64,
    /// Makes the next N conditional writes fail as if another client raced us.
    injected_conflicts: u32,
    writes: Vec<(Vec<Condition>, Vec<Mutation>)>,
    reads: usize,
}

/// MVCC-ish fake: every write gets a new version; deletes leave versioned tombstones.
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
        state.records.insert(
            Bytes::copy_from_slice(key),
            Record { version, value: Some(Bytes::copy_from_slice(value)), expire_at_ms: None },
        );
    }

    pub(crate) fn raw(&self, key: &[u8]) -> KeyState {
        let state = self.lock();
        Self::key_state(&state, key)
    }

    fn key_state(state: &State, key: &[u8]) -> KeyState {
        match state.records.get(key) {
            None => KeyState::default(),
            Some(record) => {
                let live = record.value.is_some() && record.expire_at_ms.is_none_or(|at| at > state.now_ms);
                KeyState {
                    version: record.version,
                    value: if live { record.value.clone() } else { None },
                    expire_at_ms: if live { record.expire_at_ms } else { None },
                }
            }
        }
    }

    fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
        key >= start && (end.is_empty() || key < end)
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
        for condition in &conditions {
            let current = state.records.get(&condition.key).map_or(0, |r| r.version);
            if current != condition.expected_version {
                return Ok(WriteOutcome::ConditionFailed);
            }
        }
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
                        Expiry::Keep => Self::key_state(&state, &key).expire_at_ms,
                    };
                    state.records.insert(key, Record { version, value: Some(value), expire_at_ms });
                }
                Mutation::Delete { key } => {
                    state.records.insert(key, Record { version, value: None, expire_at_ms: None });
                }
                Mutation::DeleteRange { start, end } => {
                    for (key, record) in state.records.iter_mut() {
                        if Self::in_range(key, &start, &end) {
                            *record = Record { version, value: None, expire_at_ms: None };
                        }
                    }
                }
            }
        }
        Ok(WriteOutcome::Committed { commit_ts: version })
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

/// One client connection against a fresh fake store.
pub(crate) struct Harness {
    pub kv: FakeKv,
    pub ctx: ServerContext,
    pub session: Session,
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
        Harness { kv: FakeKv::new(), ctx, session }
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
