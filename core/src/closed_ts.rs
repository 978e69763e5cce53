//! Closed timestamps: how followers serve bounded-staleness reads (docs/follower-reads.md).
//!
//! Every tick, each node takes one timestamp `T` from the oracle and, for every data range
//! it leads, *closes* `T`: it raises the range's [`TsGuard`](crate::txn::ts_guard::TsGuard)
//! read mark to `T` (so every later write of this leader commits above `T`), waits for the
//! writes already given a timestamp at or below `T` to apply, and — only while its read lease
//! holds, so no other leader can exist — records `(term, T, applied index L)`. Any replica
//! that has applied `L` while still in that term holds every write that will ever commit at
//! or below `T`, and may serve snapshot reads at `T`.
//!
//! The records travel on a side transport: one `PublishClosedTimestamps` call per peer node
//! per tick, carrying the records of every range the sender leads and the peer holds, so the
//! cost follows the number of nodes, not ranges. Idle and hibernating ranges keep closing:
//! their lease is renewed by a ReadIndex round (one empty append per peer, coalesced with
//! every other range's) when it runs out, which does not wake them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::core as pb;
use strata_proto::core::raft_transport_client::RaftTransportClient;

use crate::hlc;
use crate::node::Node;
use crate::raft::types::NodeId;
use crate::replica::Replica;

/// How long closing one range may take (waiting for its in-flight writes and, when the
/// lease ran out, a ReadIndex round) before this tick gives up on it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
const ORACLE_TIMEOUT: Duration = Duration::from_millis(500);

/// A leader's promise for one range: in `term`, nothing commits at or below `ts` after log
/// index `applied_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedRecord {
    pub term: u64,
    pub ts: u64,
    pub applied_index: u64,
}

/// Why a replica cannot serve a bounded-staleness read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaleReadRefusal {
    #[error("no closed timestamp for the current term yet")]
    NoClosedTimestamp,
    #[error("replica has applied index {applied}, closed timestamp needs {needed}")]
    NotCaughtUp { applied: u64, needed: u64 },
    #[error("closed timestamp {closed_ts} is below the read's bound {min_read_ts}")]
    TooStale { closed_ts: u64, min_read_ts: u64 },
}

impl StaleReadRefusal {
    pub fn closed_ts(&self) -> u64 {
        match self {
            StaleReadRefusal::TooStale { closed_ts, .. } => *closed_ts,
            _ => 0,
        }
    }
}

/// The newest closed timestamp a replica knows for its range.
#[derive(Default)]
pub struct ClosedState {
    record: Mutex<Option<ClosedRecord>>,
}

impl ClosedState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ClosedRecord>> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `record` if it is newer than what is known: a later term replaces an earlier
    /// one, and within a term timestamps only move up. Records from a term older than the
    /// replica's own are dropped (a deposed leader's promise says nothing about its
    /// successor's writes).
    pub fn offer(&self, record: ClosedRecord, current_term: u64) -> bool {
        if record.term < current_term {
            return false;
        }
        let mut known = self.lock();
        let newer = match *known {
            None => true,
            Some(k) => record.term > k.term || (record.term == k.term && record.ts > k.ts),
        };
        if newer {
            *known = Some(record);
        }
        newer
    }

    pub fn get(&self) -> Option<ClosedRecord> {
        *self.lock()
    }

    /// The timestamp a bounded-staleness read may be served at, given the replica's current
    /// term and applied index, if it is at least `min_read_ts`.
    pub fn readable_ts(
        &self,
        current_term: u64,
        applied_index: u64,
        min_read_ts: u64,
    ) -> Result<u64, StaleReadRefusal> {
        let record = self.get().filter(|r| r.term == current_term).ok_or(StaleReadRefusal::NoClosedTimestamp)?;
        if applied_index < record.applied_index {
            return Err(StaleReadRefusal::NotCaughtUp { applied: applied_index, needed: record.applied_index });
        }
        if record.ts < min_read_ts {
            return Err(StaleReadRefusal::TooStale { closed_ts: record.ts, min_read_ts });
        }
        Ok(record.ts)
    }
}

/// Every `interval`, closes a fresh oracle timestamp on every data range this node leads and
/// sends the records to the peers holding those ranges, one call per peer.
pub async fn publish_loop(node: Arc<Node>, interval: Duration) {
    let me = node.config.node_id;
    // Per peer address: whether a publish to it is still in flight.
    let mut sending: HashMap<String, Arc<AtomicBool>> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let leading: Vec<Arc<Replica>> = node
            .replicas
            .all()
            .into_iter()
            .filter(|r| !r.descriptor().is_meta() && r.raft.metrics().borrow().current_leader == Some(me))
            .collect();
        if leading.is_empty() {
            continue;
        }
        // One oracle timestamp per node per tick, shared by all its ranges: the oracle's
        // clock, never this node's, so a node whose clock runs ahead cannot close the future.
        // Bounded: a meta leader that froze (or is cut off) keeps the call open, and the next
        // tick's call goes to whichever meta leader this node knows of by then.
        let closed_ts = match tokio::time::timeout(ORACLE_TIMEOUT, node.meta_client.timestamp()).await {
            Ok(Ok(ts)) => ts,
            Ok(Err(e)) => {
                tracing::debug!(error = %e.message(), "closed timestamps: oracle unreachable");
                continue;
            }
            Err(_) => continue,
        };
        let closing = leading.iter().map(|replica| async move {
            let record = tokio::time::timeout(CLOSE_TIMEOUT, replica.close_timestamp(closed_ts)).await.ok()??;
            Some((replica.clone(), record))
        });
        let closed: Vec<(Arc<Replica>, ClosedRecord)> =
            futures::future::join_all(closing).await.into_iter().flatten().collect();
        let mut by_peer: HashMap<String, Vec<pb::ClosedTimestamp>> = HashMap::new();
        for (replica, record) in &closed {
            replica.closed.offer(*record, record.term);
            let desc = replica.descriptor();
            for (peer, addr) in &desc.replicas {
                if *peer != me {
                    by_peer.entry(addr.clone()).or_default().push(to_proto(desc.range_id, record));
                }
            }
        }
        for (addr, ranges) in by_peer {
            // Not awaited: a peer that does not answer (frozen, partitioned) must not slow the
            // ticks for the others. One send per peer at a time; a newer tick supersedes a
            // skipped one anyway.
            let busy = sending.entry(addr.clone()).or_insert_with(|| Arc::new(AtomicBool::new(false))).clone();
            if busy.swap(true, Ordering::AcqRel) {
                continue;
            }
            let Ok(channel) = node.channels().get(&addr) else {
                busy.store(false, Ordering::Release);
                continue;
            };
            tokio::spawn(async move {
                let mut client = RaftTransportClient::new(channel);
                let mut request = tonic::Request::new(pb::ClosedTimestamps { sender_node_id: me, ranges });
                request.set_timeout(PUBLISH_TIMEOUT);
                let _ = client.publish_closed_timestamps(request).await;
                busy.store(false, Ordering::Release);
            });
        }
    }
}

fn to_proto(range_id: u64, r: &ClosedRecord) -> pb::ClosedTimestamp {
    pb::ClosedTimestamp { range_id, term: r.term, closed_ts: r.ts, applied_index: r.applied_index }
}

/// Folds a peer's records into this node's replicas (ranges it does not hold are ignored)
/// and records how far behind the wall clock each arrived.
pub fn receive(node: &Node, message: pb::ClosedTimestamps) {
    let now = hlc::wall_clock_ms();
    for r in message.ranges {
        let Some(replica) = node.replicas.get(r.range_id) else { continue };
        let current_term = replica.raft.metrics().borrow().current_term;
        let record = ClosedRecord { term: r.term, ts: r.closed_ts, applied_index: r.applied_index };
        if replica.closed.offer(record, current_term) {
            let lag = now.saturating_sub(hlc::physical_ms(r.closed_ts));
            node.metrics.closed_ts_lag_ms.observe(lag as f64);
        }
    }
}

/// The applied index as the replica's state machine reports it.
pub fn applied_index(replica: &Replica) -> u64 {
    replica.applied.applied_index.load(Ordering::Acquire)
}

/// Whether `node` is the leader `replica` knows of.
pub fn is_leader(replica: &Replica, node: NodeId) -> bool {
    replica.raft.metrics().borrow().current_leader == Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(term: u64, physical_ms: u64, applied_index: u64) -> ClosedRecord {
        ClosedRecord { term, ts: hlc::pack(physical_ms, 0), applied_index }
    }

    #[test]
    fn newer_records_win_and_older_terms_are_dropped() {
        let state = ClosedState::default();
        assert!(state.offer(record(3, 1_000, 10), 3));
        assert!(!state.offer(record(3, 900, 12), 3), "timestamps only move up within a term");
        assert!(state.offer(record(3, 1_100, 12), 3));
        assert!(!state.offer(record(2, 5_000, 1), 3), "a deposed leader's promise is ignored");
        assert!(state.offer(record(4, 1_050, 20), 3), "a later term replaces the record");
        assert_eq!(state.get(), Some(record(4, 1_050, 20)));
    }

    #[test]
    fn reads_need_the_same_term_the_applied_index_and_a_fresh_enough_timestamp() {
        let state = ClosedState::default();
        let bound = hlc::pack(900, 0);
        assert_eq!(state.readable_ts(3, 100, bound), Err(StaleReadRefusal::NoClosedTimestamp));
        state.offer(record(3, 1_000, 10), 3);
        assert_eq!(state.readable_ts(3, 9, bound), Err(StaleReadRefusal::NotCaughtUp { applied: 9, needed: 10 }));
        assert_eq!(state.readable_ts(3, 10, bound), Ok(hlc::pack(1_000, 0)));
        assert_eq!(state.readable_ts(3, 10, hlc::pack(1_000, 0)), Ok(hlc::pack(1_000, 0)), "the bound is inclusive");
        let too_new = hlc::pack(1_000, 1);
        assert_eq!(
            state.readable_ts(3, 10, too_new),
            Err(StaleReadRefusal::TooStale { closed_ts: hlc::pack(1_000, 0), min_read_ts: too_new })
        );
        assert_eq!(state.readable_ts(4, 10, bound), Err(StaleReadRefusal::NoClosedTimestamp), "term moved on");
    }
}
