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
}

/// The payload of a normal Raft entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Proposal {
    /// Client writes batched by the leader (group commit). Command `i` commits at
    /// `max(base_ts + i, previous commit ts + 1)`.
    Writes { base_ts: u64, commands: Vec<WriteCommand> },
    /// The leader may issue timestamps below `ceiling` once this entry is applied.
    ClockCeiling { ceiling: u64 },
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    Committed {
        commit_ts: u64,
    },
    ConditionFailed,
    /// The range changed (split, merge, membership) after the sender routed the command.
    EpochNotMatch,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ProposalResult {
    pub outcomes: Vec<CommandOutcome>,
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

impl RangeDescriptor {
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start_key.as_ref() && (self.end_key.is_empty() || key < self.end_key.as_ref())
    }
}
