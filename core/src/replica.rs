//! One replica of one range: its Raft group plus the two batchers that make it fast.
//!
//! - Writes go through a proposer queue: everything waiting when the proposer wakes becomes
//!   one Raft entry (group commit), so one fsync on each replica covers many client writes.
//!   A few entries may be in flight at once to keep the pipeline full.
//! - Linearizable reads use ReadIndex (openraft's `ensure_linearizable`: a heartbeat round
//!   that confirms leadership, then wait until the read index is applied). All reads waiting
//!   when a round starts share it. A successful round also starts a short leader lease
//!   ([`ReadLease`]) during which reads skip the round: within the lease no other leader can
//!   exist, and this leader acknowledges a write only after applying it, so its state machine
//!   already holds every write acknowledged before the read began.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::BasicNode;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};

use crate::catalog::client::MetaClient;
use crate::closed_ts::{ClosedRecord, ClosedState};
use crate::hlc::{self, ClockError, HybridClock};
use crate::metrics::CoreMetrics;
use crate::raft::state_machine::AppliedState;
use crate::raft::types::{CommandOutcome, NodeId, Proposal, Raft, RangeDescriptor, WriteCommand};
use crate::storage::Engine;
use crate::txn::ts_guard::TsGuard;

/// How far ahead of the wall clock a leader's committed timestamp ceiling reaches.
const CEILING_WINDOW_MS: u64 = 3_000;
/// Renew the ceiling when less than this much of the window is left.
const CEILING_RENEW_BELOW_MS: u64 = 2_000;
const MAX_COMMANDS_PER_ENTRY: usize = 512;
const MAX_ENTRIES_IN_FLIGHT: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    #[error("not leader (leader hint {leader_id:?})")]
    NotLeader { leader_id: Option<NodeId>, leader_addr: Option<String> },
    #[error("range unavailable: {0}")]
    Unavailable(String),
}

fn from_forward(leader_id: Option<NodeId>, node: Option<BasicNode>) -> ReplicaError {
    ReplicaError::NotLeader { leader_id, leader_addr: node.map(|n| n.addr) }
}

fn read_error(e: RaftError<NodeId, CheckIsLeaderError<NodeId, BasicNode>>) -> ReplicaError {
    match e {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => from_forward(f.leader_id, f.leader_node),
        RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => ReplicaError::Unavailable(q.to_string()),
        RaftError::Fatal(f) => ReplicaError::Unavailable(f.to_string()),
    }
}

pub fn write_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> ReplicaError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => from_forward(f.leader_id, f.leader_node),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => ReplicaError::Unavailable(c.to_string()),
        RaftError::Fatal(f) => ReplicaError::Unavailable(f.to_string()),
    }
}

struct PendingWrite {
    command: WriteCommand,
    /// From the oracle when the request began; 0 for commands with no timestamp to choose.
    min_commit_ts: u64,
    reply: oneshot::Sender<Result<CommandOutcome, ReplicaError>>,
}

type ReadWaiter = oneshot::Sender<Result<(), ReplicaError>>;

pub struct Replica {
    pub node_id: NodeId,
    engine: Engine,
    pub raft: Raft,
    pub applied: Arc<AppliedState>,
    clock: Arc<HybridClock>,
    clock_setup: Mutex<()>,
    ts_guard: TsGuard,
    oracle: MetaClient,
    writes: mpsc::Sender<PendingWrite>,
    reads: mpsc::UnboundedSender<ReadWaiter>,
    lease: Arc<ReadLease>,
    metrics: CoreMetrics,
    pub quiet: Quiet,
    /// The newest closed timestamp known for this range (see `crate::closed_ts`).
    pub closed: ClosedState,
}

/// Monotonic milliseconds since the process started.
pub fn mono_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// Hibernation state of an idle range (see `crate::hibernate`).
#[derive(Default)]
pub struct Quiet {
    /// This replica leads the range and has turned its heartbeats off.
    pub hibernating: std::sync::atomic::AtomicBool,
    /// Last client write or read here ([`mono_ms`]).
    pub last_activity_ms: AtomicU64,
    /// Last AppendEntries received from a leader ([`mono_ms`]).
    pub last_append_ms: AtomicU64,
}

/// Subtracted from the minimum election timeout to get the read lease: room for scheduling
/// delays and clock-rate differences between nodes.
pub const LEASE_SAFETY_MARGIN: Duration = Duration::from_millis(300);

/// The leader-lease fast path of the read barrier: for a while after a quorum confirmed
/// leadership (measured from when the confirming round *started*) the leader serves reads
/// without another round. Followers refuse to vote for anyone else for
/// `election_timeout_max` after hearing from the leader, and no follower starts an election
/// before `election_timeout_min` has passed without a heartbeat, so no other leader can exist
/// while the lease (`election_timeout_min - LEASE_SAFETY_MARGIN`) runs.
#[derive(Default)]
pub struct ReadLease {
    duration: Duration,
    /// (round start, term) of the last successful ReadIndex round.
    confirmed: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

impl ReadLease {
    fn is_valid(&self, raft: &Raft, me: NodeId) -> bool {
        let Some((start, term)) = *self.confirmed.lock().unwrap_or_else(|e| e.into_inner()) else { return false };
        if start.elapsed() >= self.duration {
            return false;
        }
        // Any sign of a leadership change drops the lease at once.
        let m = raft.metrics();
        let m = m.borrow();
        m.current_term == term && m.current_leader == Some(me)
    }

    fn confirm(&self, start: std::time::Instant, term: u64) {
        *self.confirmed.lock().unwrap_or_else(|e| e.into_inner()) = Some((start, term));
    }
}

impl Replica {
    pub fn start(
        node_id: NodeId,
        engine: Engine,
        raft: Raft,
        applied: Arc<AppliedState>,
        metrics: CoreMetrics,
        election_timeout_min: Duration,
        oracle: MetaClient,
    ) -> Arc<Self> {
        let (writes, write_rx) = mpsc::channel(16_384);
        let (reads, read_rx) = mpsc::unbounded_channel();
        let replica = Arc::new(Self {
            node_id,
            engine,
            raft,
            applied,
            clock: Arc::new(HybridClock::default()),
            clock_setup: Mutex::new(()),
            ts_guard: TsGuard::default(),
            oracle,
            writes,
            reads,
            lease: Arc::new(ReadLease {
                duration: election_timeout_min.saturating_sub(LEASE_SAFETY_MARGIN),
                confirmed: Default::default(),
            }),
            metrics,
            quiet: Quiet::default(),
            closed: ClosedState::default(),
        });
        replica.quiet.last_activity_ms.store(mono_ms(), Ordering::Relaxed);
        tokio::spawn(propose_loop(Arc::downgrade(&replica), write_rx));
        tokio::spawn(read_barrier_loop(replica.raft.clone(), replica.lease.clone(), replica.metrics.clone(), read_rx));
        tokio::spawn(clock_keeper(Arc::downgrade(&replica)));
        replica
    }

    /// The node's database; reads go straight to it after a read barrier.
    pub fn db(&self) -> &Arc<rocksdb::DB> {
        self.engine.db()
    }

    pub fn descriptor(&self) -> RangeDescriptor {
        self.applied.descriptor()
    }

    pub fn range_id(&self) -> u64 {
        self.descriptor().range_id
    }

    /// Marks client activity, waking the group if it hibernates: heartbeats resume before
    /// anything is proposed or read.
    pub fn wake(&self) {
        self.quiet.last_activity_ms.store(mono_ms(), Ordering::Relaxed);
        if self.quiet.hibernating.swap(false, Ordering::AcqRel) {
            self.raft.runtime_config().heartbeat(true);
        }
    }

    /// Replicates `command` through Raft and returns once it is committed on a quorum and
    /// applied here. A write with `min_commit_ts` gets its commit timestamp from the
    /// [`TsGuard`]; transaction steps and the core's own writes pass 0.
    pub async fn write(&self, command: WriteCommand, min_commit_ts: u64) -> Result<CommandOutcome, ReplicaError> {
        self.wake();
        let (reply, rx) = oneshot::channel();
        self.writes
            .send(PendingWrite { command, min_commit_ts, reply })
            .await
            .map_err(|_| ReplicaError::Unavailable("replica shutting down".into()))?;
        rx.await.map_err(|_| ReplicaError::Unavailable("replica shutting down".into()))?
    }

    /// Waits until a read on this replica's state machine is linearizable.
    pub async fn read_barrier(&self) -> Result<(), ReplicaError> {
        self.wake();
        if self.lease.is_valid(&self.raft, self.node_id) {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.reads.send(tx).map_err(|_| ReplicaError::Unavailable("replica shutting down".into()))?;
        rx.await.map_err(|_| ReplicaError::Unavailable("replica shutting down".into()))?
    }

    /// Waits until a snapshot read at `read_ts` on this replica's state machine is repeatable:
    /// linearizable, and no write can still commit here at or below `read_ts`.
    pub async fn snapshot_barrier(&self, read_ts: u64) -> Result<(), ReplicaError> {
        self.read_barrier().await?;
        self.ts_guard.observe_read(read_ts).await;
        Ok(())
    }

    /// Closes `ts` on this leader (see `crate::closed_ts`): later writes commit above it, and
    /// the returned record names the applied index that holds every write at or below it.
    /// `ts` must come from the oracle *before* this call: the record is only made while the
    /// read lease holds, so no other leader exists then, and any later leader floors its
    /// commit timestamps at an oracle timestamp fetched afterwards, above `ts`.
    ///
    /// Does not wake a hibernating range: an expired lease is renewed with one ReadIndex
    /// round, which sends an empty append per follower and no Raft entry.
    pub async fn close_timestamp(&self, ts: u64) -> Option<ClosedRecord> {
        let term = self.raft.metrics().borrow().current_term;
        self.ts_guard.observe_read(ts).await;
        if !self.lease.is_valid(&self.raft, self.node_id) {
            let (tx, rx) = oneshot::channel();
            self.reads.send(tx).ok()?;
            rx.await.ok()?.ok()?;
        }
        // Read after the lease was confirmed in `term`: the round (this one or an earlier one
        // of the term) applied every entry of earlier terms, and the guard wait above applied
        // every write of this term given a timestamp at or below `ts`.
        let applied_index = self.applied.applied_index.load(Ordering::Acquire);
        let m = self.raft.metrics().borrow().clone();
        let still_leading = m.current_term == term && m.current_leader == Some(self.node_id);
        (still_leading && self.lease.is_valid(&self.raft, self.node_id)).then_some(ClosedRecord {
            term,
            ts,
            applied_index,
        })
    }

    /// Chooses commit timestamps for the batch's writes that need one (see [`TsGuard`]),
    /// fetching the oracle floor first in a new term. Returns the timestamps to release.
    async fn assign_commit_timestamps(&self, batch: &mut [PendingWrite]) -> Result<Vec<u64>, ReplicaError> {
        if batch.iter().all(|w| w.min_commit_ts == 0) {
            return Ok(Vec::new());
        }
        let term = self.raft.metrics().borrow().current_term;
        if self.ts_guard.needs_floor(term) {
            let floor = self
                .oracle
                .timestamp()
                .await
                .map_err(|e| ReplicaError::Unavailable(format!("timestamp oracle unreachable: {}", e.message())))?;
            self.ts_guard.set_floor(term, floor);
        }
        Ok(batch
            .iter_mut()
            .filter(|w| w.min_commit_ts != 0)
            .map(|w| {
                w.command.commit_ts = self.ts_guard.assign(w.min_commit_ts);
                w.command.commit_ts
            })
            .collect())
    }

    /// The current leader as this replica knows it.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader?;
        let addr = metrics.membership_config.membership().get_node(&leader).map(|n| n.addr.clone())?;
        Some((leader, addr))
    }

    /// Issues `count` timestamps, establishing a committed ceiling first if needed (the meta
    /// range's leader is the cluster's timestamp oracle).
    pub async fn issue_timestamps(&self, count: u64) -> Result<u64, ReplicaError> {
        for _ in 0..3 {
            match self.clock.issue(count) {
                Ok(ts) => return Ok(ts),
                Err(ClockError::CeilingReached) => self.renew_ceiling().await?,
            }
        }
        Err(ReplicaError::Unavailable("timestamp ceiling could not be renewed".into()))
    }

    /// Commits a new clock ceiling through Raft. A new leader first applies everything its
    /// predecessors committed (ReadIndex), so it starts above their highest ceiling.
    async fn renew_ceiling(&self) -> Result<(), ReplicaError> {
        let _guard = self.clock_setup.lock().await;
        let now = hlc::wall_clock_ms();
        if self.clock.ceiling() > hlc::pack(now + CEILING_RENEW_BELOW_MS, 0) {
            return Ok(()); // someone renewed while we waited
        }
        if self.clock.ceiling() == 0 {
            self.raft.ensure_linearizable().await.map_err(read_error)?;
            self.clock.observe(self.applied.clock_ceiling.load(Ordering::Acquire));
            self.clock.observe(self.applied.last_commit_ts.load(Ordering::Acquire));
        }
        let floor = self.clock.last_issued().max(self.applied.clock_ceiling.load(Ordering::Acquire));
        let ceiling = hlc::pack(now + CEILING_WINDOW_MS, 0).max(floor + hlc::pack(CEILING_WINDOW_MS, 0));
        self.raft.client_write(Proposal::ClockCeiling { ceiling }).await.map_err(write_error)?;
        self.clock.set_ceiling(ceiling);
        Ok(())
    }
}

async fn propose_loop(replica: std::sync::Weak<Replica>, mut rx: mpsc::Receiver<PendingWrite>) {
    let in_flight = Arc::new(Semaphore::new(MAX_ENTRIES_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS_PER_ENTRY {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let Some(replica) = replica.upgrade() else { return };
        tokio::spawn(async move {
            let _permit = permit;
            replica.metrics.entry_commands.observe(batch.len() as f64);
            let mut batch = batch;
            let assigned = replica.assign_commit_timestamps(&mut batch).await;
            let (commands, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.command, w.reply)).unzip();
            let result = match &assigned {
                Ok(_) => replica.raft.client_write(Proposal::Writes { commands }).await.map_err(write_error),
                Err(e) => Err(e.clone()),
            };
            // Applied (or failed): snapshot reads waiting on these timestamps may go on.
            for ts in assigned.unwrap_or_default() {
                replica.ts_guard.release(ts);
            }
            match result {
                Ok(resp) => {
                    for (reply, outcome) in replies.into_iter().zip(resp.data.outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(err) => {
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        });
    }
}

async fn read_barrier_loop(
    raft: Raft,
    lease: Arc<ReadLease>,
    metrics: CoreMetrics,
    mut rx: mpsc::UnboundedReceiver<ReadWaiter>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        metrics.read_barrier_waiters.observe(waiters.len() as f64);
        let started = std::time::Instant::now();
        let term = raft.metrics().borrow().current_term;
        let result = raft.ensure_linearizable().await.map(|_| ()).map_err(read_error);
        if result.is_ok() {
            // The round confirmed leadership in `term` (or a later term, in which case the
            // term check in `is_valid` fails and the lease is simply not used).
            lease.confirm(started, term);
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// Keeps the leader's clock ceiling ahead of the wall clock, and drops it the moment this
/// replica stops being leader (or the term changes), so a deposed leader issues nothing.
async fn clock_keeper(replica: std::sync::Weak<Replica>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut led_term = None;
    loop {
        tick.tick().await;
        let Some(replica) = replica.upgrade() else { return };
        let m = replica.raft.metrics().borrow().clone();
        let leading = m.current_leader == Some(replica.node_id);
        if !leading || led_term.is_some_and(|t| t != m.current_term) {
            replica.clock.revoke();
            led_term = None;
        }
        // Only the meta range issues timestamps (it is the oracle); data ranges commit at
        // oracle-derived timestamps and keep no clock of their own.
        if leading && replica.descriptor().is_meta() {
            led_term = Some(m.current_term);
            let now = hlc::wall_clock_ms();
            // A hibernating range renews on demand when it next issues timestamps.
            let hibernating = replica.quiet.hibernating.load(Ordering::Acquire);
            if !hibernating && replica.clock.ceiling() < hlc::pack(now + CEILING_RENEW_BELOW_MS, 0) {
                if let Err(e) = replica.renew_ceiling().await {
                    tracing::debug!(error = %e, "clock ceiling renewal failed");
                }
            }
        }
    }
}

/// Initial membership for a brand-new range: every listed node is a voter.
pub fn initial_members(replicas: &[(NodeId, String)]) -> BTreeMap<NodeId, BasicNode> {
    replicas.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect()
}
