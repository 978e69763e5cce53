//! Range split: on request (`strata ctl split --key K`) or when a range grows past a size or
//! key-count threshold.
//!
//! The leader gets a fresh range id from the meta range, then proposes `Proposal::Split` on
//! the parent's log. Every replica applies it at the same log position: the parent narrows to
//! `[start, key)` with a bumped epoch, and the child `[key, end)` is seeded with the same
//! replicas and starts as its own Raft group. Data does not move (ranges share the node's
//! data column family), and a write routed with the old epoch is refused at apply, so nothing
//! acknowledged is lost or applied twice while writes continue.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rocksdb::{IteratorMode, ReadOptions};

use crate::mvcc;
use crate::node::Node;
use crate::raft::types::{Proposal, RangeDescriptor};
use crate::replica::{write_error, Replica, ReplicaError};
use crate::service::describe;
use crate::storage::{Engine, CF_DATA};

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("no range on this node holds the key")]
    NoRange,
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("the split key must lie strictly inside the range")]
    AtBoundary,
    #[error("the range changed while splitting; retry")]
    EpochChanged,
    #[error("meta range: {0}")]
    Meta(String),
}

impl Node {
    /// Splits the range holding `split_key` at that key. Must run on the range's leader.
    pub async fn split(&self, split_key: Bytes) -> Result<(RangeDescriptor, RangeDescriptor), SplitError> {
        let replica = self.replicas.data_range_for(&split_key).ok_or(SplitError::NoRange)?;
        split_replica(self, &replica, split_key).await
    }
}

async fn split_replica(
    node: &Node,
    replica: &Arc<Replica>,
    split_key: Bytes,
) -> Result<(RangeDescriptor, RangeDescriptor), SplitError> {
    let leader = replica.leader();
    if leader.as_ref().map(|(id, _)| *id) != Some(node.config.node_id) {
        let (leader_id, leader_addr) = leader.unzip();
        return Err(ReplicaError::NotLeader { leader_id, leader_addr }.into());
    }
    let desc = replica.descriptor();
    if !desc.contains(&split_key) || split_key == desc.start_key {
        return Err(SplitError::AtBoundary);
    }
    let child_id = node.meta_client.allocate_range_id().await.map_err(|s| SplitError::Meta(s.message().to_string()))?;
    let proposal = Proposal::Split { split_key, child_id, epoch: desc.epoch() };
    let result = replica.raft.client_write(proposal).await.map_err(|e| SplitError::Replica(write_error(e)))?;
    let (left, right) = result.data.split.ok_or(SplitError::EpochChanged)?;
    tracing::info!(parent = left.range_id, child = right.range_id, key = ?right.start_key, "range split");
    // Both halves in one catalog version. If this report is lost, the parent's and child's
    // leaders report them on their next round.
    // The split is applied here before `client_write` returns, so this is the narrowed parent.
    let left_pb = describe(replica);
    let right_pb = crate::service::descriptor_to_proto(&right, None);
    if let Err(e) = node.meta_client.report(vec![left_pb, right_pb]).await {
        tracing::warn!(error = %e, "split not reported to the catalog yet");
    }
    Ok((left, right))
}

/// Thresholds for automatic splits.
#[derive(Debug, Clone)]
pub struct SplitPolicy {
    /// Split a range whose data passes this many bytes (0 = never by size).
    pub max_bytes: u64,
    /// Split a range holding more than this many keys (0 = never by count).
    pub max_keys: u64,
    pub check_interval: Duration,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        // TiKV's region-split-size.
        Self { max_bytes: 96 << 20, max_keys: 0, check_interval: Duration::from_secs(10) }
    }
}

/// Periodically splits ranges this node leads that outgrew the policy.
pub async fn auto_split(node: Arc<Node>, policy: SplitPolicy) {
    let mut tick = tokio::time::interval(policy.check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Applied index at the last check that found nothing to split: a range nothing was applied
    // to since cannot have grown, so it is not scanned again.
    let mut checked_at: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    loop {
        tick.tick().await;
        for replica in node.replicas.all() {
            let desc = replica.descriptor();
            if desc.is_meta() || replica.leader().map(|(id, _)| id) != Some(node.config.node_id) {
                continue;
            }
            let applied = replica.applied.applied_index.load(std::sync::atomic::Ordering::Acquire);
            if checked_at.get(&desc.range_id) == Some(&applied) {
                continue;
            }
            let desc_id = desc.range_id;
            let engine = node.engine.clone();
            let policy = policy.clone();
            let key = tokio::task::spawn_blocking(move || split_point(&engine, &desc, &policy)).await;
            let key = match key {
                Ok(Ok(Some(key))) => key,
                Ok(Ok(None)) => {
                    checked_at.insert(desc_id, applied);
                    continue;
                }
                _ => continue,
            };
            if let Err(e) = split_replica(&node, &replica, key).await {
                tracing::debug!(error = %e, "automatic split did not happen");
            }
        }
    }
}

/// Approximate bytes of the range's data on disk (memtables not included).
pub fn approximate_size(engine: &Engine, desc: &RangeDescriptor) -> u64 {
    let start = mvcc::range_bound(&desc.start_key);
    let end = if desc.end_key.is_empty() { vec![0xFF; 16] } else { mvcc::range_bound(&desc.end_key) };
    let range = rocksdb::Range::new(&start, &end);
    engine.db().get_approximate_sizes_cf(engine.cf(CF_DATA), &[range]).first().copied().unwrap_or(0)
}

/// Where to cut a range that outgrew `policy`: the key in the middle of its keys (or bytes).
fn split_point(
    engine: &Engine,
    desc: &RangeDescriptor,
    policy: &SplitPolicy,
) -> Result<Option<Bytes>, crate::storage::StorageError> {
    let by_size = policy.max_bytes > 0 && approximate_size(engine, desc) > policy.max_bytes;
    if !by_size && policy.max_keys == 0 {
        return Ok(None);
    }
    // Every user key with the bytes of all its versions: one pass over the range.
    let mut keys: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut opts = ReadOptions::default();
    if !desc.end_key.is_empty() {
        opts.set_iterate_upper_bound(mvcc::range_bound(&desc.end_key));
    }
    let lower = mvcc::range_bound(&desc.start_key);
    let mut total = 0u64;
    for item in
        engine.db().iterator_cf_opt(engine.cf(CF_DATA), opts, IteratorMode::From(&lower, rocksdb::Direction::Forward))
    {
        let (k, v) = item?;
        let Some((user_key, _)) = mvcc::decode_version_key(&k) else { continue };
        total += (k.len() + v.len()) as u64;
        match keys.last_mut() {
            Some((last, bytes)) if *last == user_key => *bytes = total,
            _ => keys.push((user_key, total)),
        }
    }
    let too_many = policy.max_keys > 0 && keys.len() as u64 > policy.max_keys;
    if !(by_size || too_many) || keys.len() < 2 {
        return Ok(None);
    }
    let middle = if too_many { keys.len() / 2 } else { keys.partition_point(|(_, cum)| *cum < total / 2).max(1) };
    let key = &keys[middle.min(keys.len() - 1)].0;
    Ok((key.as_slice() != desc.start_key.as_ref()).then(|| Bytes::copy_from_slice(key)))
}
