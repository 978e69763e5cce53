//! gRPC services of a core node: the KV API for gateways and the Raft transport for peers.
//! Routing checks (range exists, epoch current, keys inside) happen here, before anything
//! touches Raft, and come back as typed `RangeError`s the gateway acts on.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use strata_proto::core as pb;
use tonic::{Request, Response, Status};

use crate::closed_ts::{self, StaleReadRefusal};
use crate::hlc;
use crate::mvcc;
use crate::node::Node;
use crate::raft::log_store::{decode, encode};
use crate::raft::types::{
    CommandOutcome, ExpireAt, LockInfo, NodeId, Op, RangeDescriptor, TxnCommand, TxnState, WriteCommand,
};
use crate::replica::{Replica, ReplicaError};
use crate::txn::records;

/// The ranges this node holds a replica of.
#[derive(Clone, Default)]
pub struct Replicas {
    inner: Arc<RwLock<HashMap<u64, Arc<Replica>>>>,
}

impl Replicas {
    pub fn insert(&self, range_id: u64, replica: Arc<Replica>) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).insert(range_id, replica);
    }

    /// The data range on this node whose bounds hold `key`.
    pub fn data_range_for(&self, key: &[u8]) -> Option<Arc<Replica>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).values().find(|r| r.descriptor().contains(key)).cloned()
    }

    pub fn get(&self, range_id: u64) -> Option<Arc<Replica>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).get(&range_id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Replica>> {
        let mut all: Vec<_> = self.inner.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        all.sort_by_key(|r| r.range_id());
        all
    }
}

/// The descriptor as the wire carries it, with the leader this replica knows of and its term.
pub fn describe(replica: &Replica) -> pb::RangeDescriptor {
    let m = replica.raft.metrics().borrow().clone();
    let mut d = descriptor_to_proto(&replica.descriptor(), m.current_leader);
    d.leader_term = m.current_term;
    d
}

pub fn descriptor_to_proto(d: &RangeDescriptor, leader: Option<NodeId>) -> pb::RangeDescriptor {
    pb::RangeDescriptor {
        range_id: d.range_id,
        start_key: d.start_key.clone(),
        end_key: d.end_key.clone(),
        epoch: Some(pb::RangeEpoch { version: d.epoch_version, conf_version: d.conf_version }),
        replicas: d.replicas.iter().map(|(id, addr)| pb::Replica { node_id: *id, addr: addr.clone() }).collect(),
        leader_node_id: leader.unwrap_or(0),
        leader_term: 0,
    }
}

fn range_error(kind: pb::range_error::Kind) -> Option<pb::RangeError> {
    Some(pb::RangeError { kind: Some(kind) })
}

fn replica_error(replica: &Replica, e: ReplicaError) -> Option<pb::RangeError> {
    match e {
        ReplicaError::NotLeader { leader_id, leader_addr } => {
            range_error(pb::range_error::Kind::NotLeader(pb::NotLeader {
                range_id: replica.range_id(),
                leader_node_id: leader_id.unwrap_or(0),
                leader_addr: leader_addr.unwrap_or_default(),
                leader_term: replica.raft.metrics().borrow().current_term,
            }))
        }
        ReplicaError::Unavailable(reason) => {
            range_error(pb::range_error::Kind::Unavailable(pb::RangeUnavailable { reason }))
        }
    }
}

#[derive(Clone)]
pub struct KvService {
    pub node: Arc<Node>,
}

impl KvService {
    /// Finds the replica a request targets and checks the sender's view of it is current.
    fn route<'k>(
        &self,
        header: Option<&pb::RequestHeader>,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Result<Arc<Replica>, Option<pb::RangeError>> {
        let header = header.cloned().unwrap_or_default();
        // The meta range holds no user keys.
        let found = self.node.replicas.get(header.range_id).filter(|r| !r.descriptor().is_meta());
        let Some(replica) = found else {
            return Err(range_error(pb::range_error::Kind::RangeNotFound(pb::RangeNotFound {
                range_id: header.range_id,
            })));
        };
        let desc = replica.descriptor();
        let epoch = header.epoch.unwrap_or_default();
        if epoch.version != desc.epoch_version || epoch.conf_version != desc.conf_version {
            let current = describe(&replica);
            return Err(range_error(pb::range_error::Kind::EpochNotMatch(pb::EpochNotMatch {
                current_ranges: vec![current],
            })));
        }
        for key in keys {
            if !desc.contains(key) {
                return Err(range_error(pb::range_error::Kind::KeyNotInRange(pb::KeyNotInRange {
                    key: Bytes::copy_from_slice(key),
                    range: Some(descriptor_to_proto(&desc, None)),
                })));
            }
        }
        Ok(replica)
    }

    async fn get_one(&self, req: pb::GetRequest) -> Result<pb::GetResponse, Status> {
        let replica = match self.route(req.header.as_ref(), req.keys.iter().map(|k| &k[..])) {
            Ok(r) => r,
            Err(range_error) => {
                self.count("get", false);
                return Ok(pb::GetResponse { range_error, ..Default::default() });
            }
        };
        let (read_ts, now_ms) = match &req.stale {
            // Bounded staleness: any replica, at its closed timestamp, with no barrier. Expiry
            // is judged at the read timestamp's physical time, as a snapshot of that instant.
            Some(stale) => match self.stale_read_ts(&replica, stale) {
                Ok(ts) => (ts, hlc::physical_ms(ts)),
                Err(range_error) => {
                    self.count("get", false);
                    return Ok(pb::GetResponse { range_error, ..Default::default() });
                }
            },
            None => {
                let read_ts = req.read_ts;
                let now_ms = hlc::wall_clock_ms();
                if read_ts != 0 && hlc::physical_ms(read_ts).saturating_add(self.retention_ms()) < now_ms {
                    // Versions below the GC horizon may be gone: such a snapshot cannot be served.
                    return Err(Status::failed_precondition(
                        "snapshot too old: read timestamp is below the GC horizon",
                    ));
                }
                let barrier =
                    if read_ts == 0 { replica.read_barrier().await } else { replica.snapshot_barrier(read_ts).await };
                if let Err(e) = barrier {
                    self.count("get", false);
                    return Ok(pb::GetResponse { range_error: replica_error(&replica, e), ..Default::default() });
                }
                (read_ts, now_ms)
            }
        };
        // One consistent view of all the keys. A lock of a transaction that may commit below
        // the read's timestamp makes what was read uncertain: the reader settles it (see the
        // gateway's lock resolver).
        let found = crate::txn::read::read_keys(replica.db(), req.keys.iter().map(|k| &k[..]), read_ts)
            .map_err(storage_status)?;
        let mut states = Vec::with_capacity(req.keys.len());
        for (key, (version, lock)) in req.keys.into_iter().zip(found) {
            let mut state = key_state(key, version, now_ms);
            state.lock = lock.map(|l| lock_to_proto(l.info(&state.key)));
            states.push(state);
        }
        self.count("get", true);
        self.count_read(&replica);
        let served_at = if req.stale.is_some() { read_ts } else { 0 };
        Ok(pb::GetResponse { range_error: None, states, now_ms, read_ts: served_at })
    }

    /// The closed timestamp a bounded-staleness read is served at on this replica, or the
    /// typed refusal the gateway answers by reading elsewhere.
    fn stale_read_ts(&self, replica: &Replica, stale: &pb::BoundedStaleness) -> Result<u64, Option<pb::RangeError>> {
        let term = replica.raft.metrics().borrow().current_term;
        let applied = closed_ts::applied_index(replica);
        replica.closed.readable_ts(term, applied, stale.min_read_ts).map_err(|refusal| {
            let reason = match refusal {
                StaleReadRefusal::NoClosedTimestamp => "no_closed_ts",
                StaleReadRefusal::NotCaughtUp { .. } => "not_caught_up",
                StaleReadRefusal::TooStale { .. } => "too_stale",
            };
            self.node.metrics.stale_reads_refused.with_label_values(&[reason]).inc();
            range_error(pb::range_error::Kind::StaleReplica(pb::StaleReplica {
                closed_ts: refusal.closed_ts(),
                reason: refusal.to_string(),
            }))
        })
    }

    /// Counts a read served here, by the role this replica has now.
    fn count_read(&self, replica: &Replica) {
        let leading = closed_ts::is_leader(replica, self.node.config.node_id);
        let role = if leading { "leader" } else { "follower" };
        self.node.metrics.reads.with_label_values(&[&replica.range_id().to_string(), role]).inc();
    }

    /// `CheckTxnStatus` answered from a linearizable read when it needs no rollback.
    async fn check_status_read_only(
        &self,
        replica: &Replica,
        primary: &Bytes,
        start_ts: u64,
        caller_ts: u64,
    ) -> Result<Option<pb::WriteResponse>, Status> {
        use crate::txn::apply::{decide_status, StatusDecision};
        if let Err(e) = replica.read_barrier().await {
            return Ok(Some(pb::WriteResponse { range_error: replica_error(replica, e), ..Default::default() }));
        }
        let db = replica.db();
        let recorded = records::read_status(db, primary, start_ts).map_err(storage_status)?;
        let lock = records::read_lock(db, primary).map_err(storage_status)?;
        Ok(match decide_status(recorded, lock.as_ref(), start_ts, caller_ts) {
            StatusDecision::Answer(state) => {
                self.count("write", true);
                Some(txn_state_response(state))
            }
            StatusDecision::RollBack => None,
        })
    }

    fn retention_ms(&self) -> u64 {
        self.node.config.gc_retention.as_millis() as u64
    }

    async fn write_one(&self, req: pb::WriteRequest) -> Result<pb::WriteResponse, Status> {
        let txn = req.txn.clone().map(to_txn_command).transpose()?;
        let txn_keys: Vec<Bytes> = txn.iter().flat_map(|t| t.keys()).cloned().collect();
        let keys = req
            .conditions
            .iter()
            .map(|c| &c.key[..])
            .chain(req.mutations.iter().flat_map(mutation_keys))
            .chain(req.read_keys.iter().map(|k| &k[..]))
            .chain(txn_keys.iter().map(|k| &k[..]));
        let replica = match self.route(req.header.as_ref(), keys) {
            Ok(r) => r,
            Err(range_error) => {
                self.count("write", false);
                return Ok(pb::WriteResponse { range_error, ..Default::default() });
            }
        };
        if let Some(TxnCommand::CheckStatus { primary, start_ts, caller_ts }) = &txn {
            // Most checks only read (a final state, or a primary still alive): answer them
            // after a read barrier, without a Raft write. Only a rollback goes through Raft.
            if let Some(resp) = self.check_status_read_only(&replica, primary, *start_ts, *caller_ts).await? {
                return Ok(resp);
            }
        }
        let now_ms = hlc::wall_clock_ms();
        let ops = req.mutations.into_iter().map(|m| to_op(m, now_ms)).collect::<Result<Vec<_>, _>>()?;
        let conditions = req.conditions.into_iter().map(|c| (c.key, c.expected_version)).collect();
        if txn.is_some() && ops.iter().any(|op| matches!(op, Op::DeleteRange { .. })) {
            return Err(Status::invalid_argument("a transaction cannot delete a range"));
        }
        let request_id = (u128::from(req.request_id_hi) << 64) | u128::from(req.request_id_lo);
        let epoch = req.header.as_ref().and_then(|h| h.epoch).map(|e| (e.version, e.conf_version));
        // Only plain writes get a commit timestamp chosen here; a two-phase commit brings its
        // own, and the other steps write no versions.
        let min_commit_ts = if txn.is_none() { req.min_commit_ts.max(1) } else { 0 };
        let command = WriteCommand {
            request_id,
            epoch,
            conditions,
            ops,
            commit_ts: 0,
            unchanged_since: req.unchanged_since,
            read_keys: req.read_keys,
            txn,
        };
        let answered = |resp: pb::WriteResponse| {
            self.count("write", true);
            Ok(resp)
        };
        match replica.write(command, min_commit_ts).await {
            Ok(CommandOutcome::Committed { commit_ts }) => {
                answered(pb::WriteResponse { commit_ts, ..Default::default() })
            }
            Ok(CommandOutcome::Locked(lock)) => {
                answered(pb::WriteResponse { locked: Some(lock_to_proto(lock)), ..Default::default() })
            }
            Ok(CommandOutcome::WriteConflict) => {
                answered(pb::WriteResponse { write_conflict: true, ..Default::default() })
            }
            Ok(CommandOutcome::TsTooOld) => answered(pb::WriteResponse { ts_too_old: true, ..Default::default() }),
            Ok(CommandOutcome::TxnState(state)) => answered(txn_state_response(state)),
            Ok(CommandOutcome::EpochNotMatch) => {
                self.count("write", false);
                let current = describe(&replica);
                Ok(pb::WriteResponse {
                    range_error: range_error(pb::range_error::Kind::EpochNotMatch(pb::EpochNotMatch {
                        current_ranges: vec![current],
                    })),
                    ..Default::default()
                })
            }
            Ok(CommandOutcome::ConditionFailed) => {
                answered(pb::WriteResponse { condition_failed: true, ..Default::default() })
            }
            Err(e) => {
                self.count("write", false);
                Ok(pb::WriteResponse { range_error: replica_error(&replica, e), ..Default::default() })
            }
        }
    }

    fn count(&self, method: &str, ok: bool) {
        self.node.metrics.requests.with_label_values(&[method, if ok { "ok" } else { "range_error" }]).inc();
    }
}

fn key_state(key: Bytes, latest: Option<mvcc::Latest>, now_ms: u64) -> pb::KeyState {
    let mut state = pb::KeyState { key, ..Default::default() };
    if let Some(latest) = latest {
        if matches!(latest.version, mvcc::Version::Put { .. }) {
            state.version = latest.commit_ts;
        }
        if let Some((value, expire)) = latest.version.live_value(now_ms) {
            state.live = true;
            state.value = value.clone();
            state.expire_at_ms = expire.unwrap_or(0);
        }
    }
    state
}

fn txn_state_response(state: TxnState) -> pb::WriteResponse {
    let (txn_state, commit_ts) = match state {
        TxnState::Pending => (pb::TxnState::Pending, 0),
        TxnState::Committed { commit_ts } => (pb::TxnState::Committed, commit_ts),
        TxnState::RolledBack => (pb::TxnState::RolledBack, 0),
    };
    pb::WriteResponse { txn_state: txn_state as i32, commit_ts, ..Default::default() }
}

fn lock_to_proto(l: LockInfo) -> pb::LockInfo {
    pb::LockInfo { key: l.key, primary: l.primary, start_ts: l.start_ts, ttl_ms: l.ttl_ms }
}

fn to_txn_command(t: pb::TxnRequest) -> Result<TxnCommand, Status> {
    use pb::txn_request::Kind;
    Ok(match t.kind.ok_or_else(|| Status::invalid_argument("transaction step without kind"))? {
        Kind::Prewrite(p) => {
            TxnCommand::Prewrite { start_ts: p.start_ts, primary: p.primary, ttl_ms: p.ttl_ms, read_keys: p.read_keys }
        }
        Kind::Commit(c) => {
            if c.commit_ts <= c.start_ts {
                return Err(Status::invalid_argument("commit timestamp must be above the start timestamp"));
            }
            TxnCommand::Commit { start_ts: c.start_ts, commit_ts: c.commit_ts, keys: c.keys }
        }
        Kind::Rollback(r) => TxnCommand::Rollback { start_ts: r.start_ts, primary: r.primary, keys: r.keys },
        Kind::CheckStatus(c) => {
            TxnCommand::CheckStatus { primary: c.primary, start_ts: c.start_ts, caller_ts: c.caller_ts }
        }
        Kind::Heartbeat(h) => TxnCommand::Heartbeat { primary: h.primary, start_ts: h.start_ts, ttl_ms: h.ttl_ms },
    })
}

fn storage_status(e: crate::storage::StorageError) -> Status {
    Status::internal(format!("storage: {e}"))
}

fn to_op(m: pb::Mutation, now_ms: u64) -> Result<Op, Status> {
    use pb::expiry::Kind;
    match m.op {
        Some(pb::mutation::Op::Put(p)) => {
            let expire = match p.expiry.and_then(|e| e.kind) {
                None | Some(Kind::Never(_)) => ExpireAt::Never,
                Some(Kind::AtUnixMs(at)) => ExpireAt::UnixMs(at),
                Some(Kind::AfterMs(after)) => ExpireAt::UnixMs(now_ms.saturating_add(after)),
                Some(Kind::Keep(_)) => ExpireAt::Keep,
            };
            Ok(Op::Put { key: p.key, value: p.value, expire })
        }
        Some(pb::mutation::Op::Delete(d)) => Ok(Op::Delete { key: d.key }),
        Some(pb::mutation::Op::DeleteRange(r)) => Ok(Op::DeleteRange { start: r.start_key, end: r.end_key }),
        None => Err(Status::invalid_argument("mutation without op")),
    }
}

fn mutation_keys(m: &pb::Mutation) -> Vec<&[u8]> {
    match &m.op {
        Some(pb::mutation::Op::Put(p)) => vec![&p.key[..]],
        Some(pb::mutation::Op::Delete(d)) => vec![&d.key[..]],
        // A range delete is clipped to the range when applied.
        Some(pb::mutation::Op::DeleteRange(_)) | None => vec![],
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for KvService {
    async fn get(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        self.get_one(request.into_inner()).await.map(Response::new)
    }

    async fn batch_get(&self, request: Request<pb::BatchGetRequest>) -> Result<Response<pb::BatchGetResponse>, Status> {
        // Concurrently: the reads share the replica's ReadIndex rounds.
        let requests = request.into_inner().requests;
        let responses = futures::future::try_join_all(requests.into_iter().map(|r| self.get_one(r))).await?;
        Ok(Response::new(pb::BatchGetResponse { responses }))
    }

    async fn scan(&self, request: Request<pb::ScanRequest>) -> Result<Response<pb::ScanResponse>, Status> {
        let req = request.into_inner();
        let replica = match self.route(req.header.as_ref(), []) {
            Ok(r) => r,
            Err(range_error) => {
                self.count("scan", false);
                return Ok(Response::new(pb::ScanResponse { range_error, ..Default::default() }));
            }
        };
        let (read_ts, now_ms) = match &req.stale {
            Some(stale) => match self.stale_read_ts(&replica, stale) {
                Ok(ts) => (ts, hlc::physical_ms(ts)),
                Err(range_error) => {
                    self.count("scan", false);
                    return Ok(Response::new(pb::ScanResponse { range_error, ..Default::default() }));
                }
            },
            None => {
                let read_ts = req.read_ts;
                if read_ts != 0 && hlc::physical_ms(read_ts).saturating_add(self.retention_ms()) < hlc::wall_clock_ms()
                {
                    return Err(Status::failed_precondition(
                        "snapshot too old: read timestamp is below the GC horizon",
                    ));
                }
                let barrier =
                    if read_ts == 0 { replica.read_barrier().await } else { replica.snapshot_barrier(read_ts).await };
                if let Err(e) = barrier {
                    self.count("scan", false);
                    return Ok(Response::new(pb::ScanResponse {
                        range_error: replica_error(&replica, e),
                        ..Default::default()
                    }));
                }
                (read_ts, hlc::wall_clock_ms())
            }
        };
        let desc = replica.descriptor();
        let start = req.start_key.clone().max(desc.start_key.clone());
        let end = match (req.end_key.is_empty(), desc.end_key.is_empty()) {
            (true, _) => desc.end_key.clone(),
            (false, true) => req.end_key.clone(),
            (false, false) => req.end_key.clone().min(desc.end_key.clone()),
        };
        let limit = if req.limit == 0 { usize::MAX } else { req.limit as usize };
        let count_only = req.count_only;
        let db = replica.db().clone();
        let reverse = req.reverse;
        let result = tokio::task::spawn_blocking(move || {
            let mut states = Vec::new();
            let mut count = 0u64;
            let mut resume_key = Bytes::new();
            if read_ts != 0 {
                // A lock of a transaction that may still commit at or below the snapshot
                // makes the interval uncertain: the caller settles it and scans again.
                let locks = records::scan_locks(&db, &start, &end, usize::MAX)?;
                let blocking = locks.into_iter().find(|(_, l)| l.start_ts <= read_ts && l.blocks_readers());
                if let Some((key, lock)) = blocking {
                    return Ok((Vec::new(), 0, Bytes::new(), Some(lock.info(&key))));
                }
            }
            let ts = if read_ts == 0 { u64::MAX } else { read_ts };
            mvcc::scan_at(&db, &start, &end, ts, reverse, |key, latest| {
                if latest.version.live_value(now_ms).is_none() {
                    return Ok(true);
                }
                if count as usize >= limit {
                    resume_key = Bytes::from(key);
                    return Ok(false);
                }
                count += 1;
                if !count_only {
                    states.push(key_state(Bytes::from(key), Some(latest), now_ms));
                }
                Ok(true)
            })
            .map(|()| (states, count, resume_key, None))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(storage_status)?;
        self.count("scan", true);
        self.count_read(&replica);
        let (states, count, resume_key, lock) = result;
        let lock = lock.map(lock_to_proto);
        let served_at = if req.stale.is_some() { read_ts } else { 0 };
        Ok(Response::new(pb::ScanResponse {
            range_error: None,
            states,
            count,
            resume_key,
            now_ms,
            lock,
            read_ts: served_at,
        }))
    }

    async fn write(&self, request: Request<pb::WriteRequest>) -> Result<Response<pb::WriteResponse>, Status> {
        self.write_one(request.into_inner()).await.map(Response::new)
    }

    async fn batch_write(
        &self,
        request: Request<pb::BatchWriteRequest>,
    ) -> Result<Response<pb::BatchWriteResponse>, Status> {
        // Concurrently: the writes meet in the proposer queue and share Raft entries.
        let requests = request.into_inner().requests;
        let responses = futures::future::try_join_all(requests.into_iter().map(|r| self.write_one(r))).await?;
        Ok(Response::new(pb::BatchWriteResponse { responses }))
    }

    async fn scan_locks(
        &self,
        request: Request<pb::ScanLocksRequest>,
    ) -> Result<Response<pb::ScanLocksResponse>, Status> {
        let req = request.into_inner();
        let replica = match self.route(req.header.as_ref(), []) {
            Ok(r) => r,
            Err(range_error) => return Ok(Response::new(pb::ScanLocksResponse { range_error, locks: vec![] })),
        };
        // No read barrier: the sweepers' periodic scans must not wake hibernating ranges,
        // and a stale list is harmless (each lock is settled through its primary's range).
        let desc = replica.descriptor();
        let limit = if req.limit == 0 { 1024 } else { req.limit as usize };
        let locks = records::scan_locks(replica.db(), &desc.start_key, &desc.end_key, limit).map_err(storage_status)?;
        Ok(Response::new(pb::ScanLocksResponse {
            range_error: None,
            locks: locks.into_iter().map(|(key, lock)| lock_to_proto(lock.info(&key))).collect(),
        }))
    }

    async fn campaign(&self, request: Request<pb::CampaignRequest>) -> Result<Response<pb::CampaignResponse>, Status> {
        let key = request.into_inner().key;
        let Some(replica) = self.node.replicas.data_range_for(&key) else {
            return Ok(Response::new(pb::CampaignResponse { range_id: 0 }));
        };
        replica.wake();
        replica.raft.trigger().elect().await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::CampaignResponse { range_id: replica.range_id() }))
    }

    async fn ranges(&self, _request: Request<pb::RangesRequest>) -> Result<Response<pb::RangesResponse>, Status> {
        let ranges =
            self.node.replicas.all().iter().filter(|r| !r.descriptor().is_meta()).map(|r| describe(r)).collect();
        Ok(Response::new(pb::RangesResponse { ranges }))
    }

    async fn node_status(
        &self,
        _request: Request<pb::NodeStatusRequest>,
    ) -> Result<Response<pb::NodeStatusResponse>, Status> {
        let ranges = self
            .node
            .replicas
            .all()
            .iter()
            .map(|r| {
                let m = r.raft.metrics().borrow().clone();
                let desc = r.descriptor();
                pb::RangeStatus {
                    descriptor: Some(describe(r)),
                    term: m.current_term,
                    last_log_index: m.last_log_index.unwrap_or(0),
                    applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
                    role: format!("{:?}", m.state).to_lowercase(),
                    approximate_size_bytes: if desc.is_meta() {
                        0
                    } else {
                        crate::split::approximate_size(&self.node.engine, &desc)
                    },
                }
            })
            .collect();
        let (node_id, addr) = (self.node.config.node_id, self.node.config.advertise.clone());
        Ok(Response::new(pb::NodeStatusResponse { node_id, addr, ranges }))
    }

    async fn split_range(
        &self,
        request: Request<pb::SplitRangeRequest>,
    ) -> Result<Response<pb::SplitRangeResponse>, Status> {
        use crate::split::SplitError;
        let key = request.into_inner().split_key;
        let error =
            |kind| Ok(Response::new(pb::SplitRangeResponse { range_error: range_error(kind), ..Default::default() }));
        match self.node.split(key.clone()).await {
            Ok((left, right)) => Ok(Response::new(pb::SplitRangeResponse {
                range_error: None,
                left: Some(descriptor_to_proto(&left, None)),
                right: Some(descriptor_to_proto(&right, None)),
            })),
            Err(SplitError::NoRange) => {
                error(pb::range_error::Kind::KeyNotInRange(pb::KeyNotInRange { key, range: None }))
            }
            Err(SplitError::Replica(ReplicaError::NotLeader { leader_id, leader_addr })) => {
                let range_id = self.node.replicas.data_range_for(&key).map(|r| r.range_id()).unwrap_or(0);
                error(pb::range_error::Kind::NotLeader(pb::NotLeader {
                    range_id,
                    leader_node_id: leader_id.unwrap_or(0),
                    leader_addr: leader_addr.unwrap_or_default(),
                    leader_term: 0,
                }))
            }
            Err(SplitError::Replica(ReplicaError::Unavailable(reason))) | Err(SplitError::Meta(reason)) => {
                error(pb::range_error::Kind::Unavailable(pb::RangeUnavailable { reason }))
            }
            Err(e @ (SplitError::AtBoundary | SplitError::EpochChanged)) => {
                Err(Status::failed_precondition(e.to_string()))
            }
        }
    }
}

#[derive(Clone)]
pub struct RaftService {
    pub node: Arc<Node>,
}

impl RaftService {
    async fn replica(&self, msg: &pb::RaftMessage) -> Result<Arc<Replica>, Status> {
        self.node
            .replica_for_message(msg.range_id, &msg.start_key, &msg.end_key)
            .await
            .ok_or_else(|| Status::not_found(format!("range {} not on this node (yet)", msg.range_id)))
    }
}

fn payload<T: serde::de::DeserializeOwned>(msg: &pb::RaftMessage) -> Result<T, Status> {
    decode(&msg.payload).map_err(|e| Status::invalid_argument(format!("bad raft payload: {e}")))
}

fn reply<T: serde::Serialize>(range_id: u64, value: &T) -> Result<Response<pb::RaftMessage>, Status> {
    let payload = encode(value).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(pb::RaftMessage { range_id, payload: payload.into(), ..Default::default() }))
}

#[tonic::async_trait]
impl pb::raft_transport_server::RaftTransport for RaftService {
    async fn publish_closed_timestamps(
        &self,
        request: Request<pb::ClosedTimestamps>,
    ) -> Result<Response<pb::ClosedTimestampsAck>, Status> {
        closed_ts::receive(&self.node, request.into_inner());
        Ok(Response::new(pb::ClosedTimestampsAck {}))
    }

    async fn append_entries_batch(&self, request: Request<pb::RaftBatch>) -> Result<Response<pb::RaftBatch>, Status> {
        // Concurrently: each group's append is independent; they share the WAL fsync.
        let messages = request.into_inner().messages.into_iter().map(|msg| async move {
            let range_id = msg.range_id;
            let result = async {
                let replica = self.replica(&msg).await?;
                replica.quiet.last_append_ms.store(crate::replica::mono_ms(), std::sync::atomic::Ordering::Relaxed);
                let result = replica.raft.append_entries(payload(&msg)?).await;
                reply(range_id, &result).map(Response::into_inner)
            };
            result.await.unwrap_or_else(|status| pb::RaftMessage {
                range_id,
                error: status.message().to_string(),
                ..Default::default()
            })
        });
        Ok(Response::new(pb::RaftBatch { messages: futures::future::join_all(messages).await }))
    }

    async fn append_entries(&self, request: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let msg = request.into_inner();
        let replica = self.replica(&msg).await?;
        replica.quiet.last_append_ms.store(crate::replica::mono_ms(), std::sync::atomic::Ordering::Relaxed);
        let result = replica.raft.append_entries(payload(&msg)?).await;
        reply(msg.range_id, &result)
    }

    async fn vote(&self, request: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let msg = request.into_inner();
        let replica = self.replica(&msg).await?;
        let result = replica.raft.vote(payload(&msg)?).await;
        reply(msg.range_id, &result)
    }

    async fn install_snapshot(&self, request: Request<pb::RaftMessage>) -> Result<Response<pb::RaftMessage>, Status> {
        let msg = request.into_inner();
        let replica = self.replica(&msg).await?;
        let result = replica.raft.install_snapshot(payload(&msg)?).await;
        reply(msg.range_id, &result)
    }
}
