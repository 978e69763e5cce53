//! The Raft type configuration and the commands replicated through each range's log.

use std::io::Cursor;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Strata's Raft types: entries carry [`Proposal`]s, snapshots are SST files in memory.
    pub TypeConfig:
        D = Proposal,
        R = ProposalResult,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;

/// When a put's value expires. Relative expiries are resolved by the leader before proposing,
/// so applying an entry is deterministic on every replica.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireAt {
    Never,
    UnixMs(u64),
    /// Keep the expiry of the key's current live value (none if it has none).
    Keep,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: Bytes,
        value: Bytes,
        expire: ExpireAt,
    },
    Delete {
        key: Bytes,
    },
    /// Tombstones every live key in `[start, end)`; empty `end` = end of the range.
    DeleteRange {
        start: Bytes,
        end: Bytes,
    },
}

/// One client write: applied atomically iff every `(key, expected_version)` holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct WriteCommand {
    /// Sender-chosen id reused across retries (0 = none); see `state_machine` dedup.
    pub request_id: u128,
    /// The range epoch `(version, conf_version)` the sender routed by; `None` for the core's
    /// own writes. Apply refuses a command whose epoch is no longer the range's.
    pub epoch: Option<(u64, u64)>,
    pub conditions: Vec<(Bytes, u64)>,
    pub ops: Vec<Op>,
    /// The commit timestamp the leader chose (see `crate::txn::ts_guard`); 0 for the core's
    /// own writes, which commit just above the newest version of their keys.
    pub commit_ts: u64,
    /// One-phase transaction check: no key in `read_keys` or `ops` may have a version newer
    /// than this (0 = no check).
    pub unchanged_since: u64,
    pub read_keys: Vec<Bytes>,
    /// A two-phase-commit step; `conditions` and `ops` then belong to its prewrite.
    pub txn: Option<TxnCommand>,
}

/// The steps of a Percolator transaction that spans ranges (see `crate::txn`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TxnCommand {
    Prewrite { start_ts: u64, primary: Bytes, ttl_ms: u64, read_keys: Vec<Bytes> },
    Commit { start_ts: u64, commit_ts: u64, keys: Vec<Bytes> },
    Rollback { start_ts: u64, primary: Bytes, keys: Vec<Bytes> },
    CheckStatus { primary: Bytes, start_ts: u64, caller_ts: u64 },
    Heartbeat { primary: Bytes, start_ts: u64, ttl_ms: u64 },
}

impl TxnCommand {
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            TxnCommand::Prewrite { read_keys, .. } => read_keys.iter().collect(),
            TxnCommand::Commit { keys, .. } | TxnCommand::Rollback { keys, .. } => keys.iter().collect(),
            TxnCommand::CheckStatus { primary, .. } | TxnCommand::Heartbeat { primary, .. } => vec![primary],
        }
    }
}

impl WriteCommand {
    /// The key its dedup record is filed under: the first key it names, or for a range
    /// delete its start clipped to the range. Retries carry the same content, so the same key.
    pub fn anchor_key<'a>(&'a self, range: &'a RangeDescriptor) -> &'a [u8] {
        if let Some(key) = self.txn.as_ref().and_then(|t| t.keys().first().copied()) {
            return key;
        }
        if let Some((key, _)) = self.conditions.first() {
            return key;
        }
        match self.ops.first() {
            Some(Op::Put { key, .. }) | Some(Op::Delete { key }) => key,
            Some(Op::DeleteRange { start, .. }) => start.max(&range.start_key),
            None => &range.start_key,
        }
    }

    /// Every single key it reads or writes (range deletes are clipped to the range instead).
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.conditions
            .iter()
            .map(|(k, _)| k)
            .chain(self.ops.iter().filter_map(|op| match op {
                Op::Put { key, .. } | Op::Delete { key } => Some(key),
                Op::DeleteRange { .. } => None,
            }))
            .chain(self.read_keys.iter())
            .chain(self.txn.iter().flat_map(|t| t.keys()))
    }
}

/// The payload of a normal Raft entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Proposal {
    /// Client writes batched by the leader (group commit), each at its own commit timestamp.
    Writes { commands: Vec<WriteCommand> },
    /// The leader may issue timestamps below `ceiling` once this entry is applied.
    ClockCeiling { ceiling: u64 },
    /// Cut the range at `split_key`: this range keeps `[start, split_key)`, a new range
    /// `child_id` with the same replicas takes `[split_key, end)`. Refused unless the range's
    /// epoch is still `epoch`.
    Split { split_key: Bytes, child_id: u64, epoch: (u64, u64) },
    /// A change to the route catalog (meta range only).
    Catalog(CatalogCommand),
}

/// Commands of the meta range.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum CatalogCommand {
    /// Hand out a fresh range id.
    AllocateRangeId,
    /// Descriptors as their leaders (or a splitting leader) saw them, protobuf-encoded. Apply
    /// keeps only what is newer than the catalog: a higher epoch, or the same epoch with a
    /// newer leadership.
    Report { descriptors: Vec<Bytes> },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Applied (for transaction steps other than a commit, `commit_ts` is 0).
    Committed {
        commit_ts: u64,
    },
    ConditionFailed,
    /// The range changed (split, merge, membership) after the sender routed the command, or
    /// it names a key the range no longer holds.
    EpochNotMatch,
    /// A key is locked by another transaction; nothing was applied.
    Locked(LockInfo),
    /// A key has a version newer than the transaction's start; nothing was applied.
    WriteConflict,
    /// The chosen commit timestamp is not above a key's newest version; nothing was applied.
    TsTooOld,
    /// The state of a transaction, for `CheckStatus`, `Heartbeat`, and for a prewrite or
    /// commit that found its transaction rolled back.
    TxnState(TxnState),
}

/// A lock as readers and writers that meet it are told about it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    pub key: Bytes,
    pub primary: Bytes,
    pub start_ts: u64,
    pub ttl_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnState {
    Pending,
    Committed { commit_ts: u64 },
    RolledBack,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ProposalResult {
    pub outcomes: Vec<CommandOutcome>,
    /// For a `Split`: the two halves, or `None` if the epoch or key no longer fitted.
    pub split: Option<(RangeDescriptor, RangeDescriptor)>,
    /// For a catalog command: the catalog version after it, and an allocated range id.
    pub catalog_version: u64,
    pub allocated_range_id: u64,
}

/// A range as the core persists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RangeDescriptor {
    pub range_id: u64,
    pub start_key: Bytes,
    /// Empty = unbounded.
    pub end_key: Bytes,
    pub epoch_version: u64,
    pub conf_version: u64,
    pub replicas: Vec<(NodeId, String)>,
}

/// The meta range: it owns the route catalog and holds no user keys.
pub const META_RANGE_ID: u64 = 0;

impl RangeDescriptor {
    pub fn contains(&self, key: &[u8]) -> bool {
        self.range_id != META_RANGE_ID
            && key >= self.start_key.as_ref()
            && (self.end_key.is_empty() || key < self.end_key.as_ref())
    }

    pub fn epoch(&self) -> (u64, u64) {
        (self.epoch_version, self.conf_version)
    }

    pub fn is_meta(&self) -> bool {
        self.range_id == META_RANGE_ID
    }

    /// Whether `[start, end)` (empty end = unbounded) shares a key with this range.
    pub fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        let starts_before_end = end.is_empty() || self.start_key.as_ref() < end;
        let ends_after_start = self.end_key.is_empty() || self.end_key.as_ref() > start;
        !self.is_meta() && starts_before_end && ends_after_start
    }
}
