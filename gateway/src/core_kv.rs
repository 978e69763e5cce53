//! `KvStore` over the core's gRPC API: the product path between protocol semantics and Raft.
//!
//! Reads and writes of one range go to that range directly (a write commits in one phase at
//! a timestamp derived from the oracle). Anything spanning ranges is a transaction: reads
//! at one oracle timestamp, writes through two-phase commit (`crate::txn`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_proto::core as pb;
use strata_protocols::kv::{
    ClusterInfo, Condition, Expiry, KeyState, KvError, KvStore, Mutation, ReadSnapshot, ScannedKey, TxnCommit,
    TxnOutcome, WriteOutcome,
};

use crate::metrics::GatewayMetrics;
use crate::oracle::Oracle;
use crate::route_table::RouteTable;
use crate::routing::{Attempt, RouteError, Router};
use crate::txn::resolver::LockFate;

/// Rounds of grouping keys by range before a multi-key command gives up. A round ends early
/// only when the table moved under it (a split) or a key had no route yet.
const MAX_ROUNDS: usize = 16;
/// How long a command waits for a route its key lacks, per round.
const ROUTE_WAIT: Duration = Duration::from_secs(1);
/// How long a range-wide command waits for the first catalog after the gateway starts.
const FIRST_CATALOG_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct CoreKv {
    router: Arc<Router>,
    oracle: Arc<Oracle>,
    stale: Arc<stale::StaleReads>,
}

impl CoreKv {
    pub fn new(router: Arc<Router>) -> Self {
        let oracle = Arc::new(Oracle::new(router.clone()));
        Self { router, oracle, stale: Default::default() }
    }

    pub fn metrics(&self) -> &GatewayMetrics {
        self.router.metrics()
    }

    /// A fresh timestamp from the oracle.
    pub async fn fresh_ts(&self) -> Result<u64, KvError> {
        self.oracle.timestamp().await.map_err(|s| KvError::Unavailable(format!("timestamp oracle: {}", s.message())))
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }
}

pub(crate) fn kv_error(e: RouteError) -> KvError {
    match e {
        RouteError::Unavailable(m) => KvError::Unavailable(m),
        RouteError::Rejected(m) => KvError::Internal(m),
        RouteError::CircuitOpen(m) => KvError::Unavailable(m),
        RouteError::SpansRanges => KvError::Unavailable(ROUTES_KEPT_CHANGING.into()),
    }
}

pub(crate) const ROUTES_KEPT_CHANGING: &str = "the ranges of the keys kept changing under the request; retry";

/// Positions of keys grouped by the range that holds each, in order of first appearance
/// (and each group in position order); `Err` with the table's version if a key has no route.
pub(crate) fn group_by_range<'a>(
    table: &RouteTable,
    keys: impl IntoIterator<Item = (usize, &'a [u8])>,
) -> Result<Vec<Vec<usize>>, u64> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_range: HashMap<u64, usize> = HashMap::new();
    for (position, key) in keys {
        let range_id = table.lookup(key).ok_or(table.version())?.range_id;
        let group = *by_range.entry(range_id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(position);
    }
    Ok(groups)
}

pub(crate) fn key_state(s: pb::KeyState) -> KeyState {
    KeyState {
        version: s.version,
        value: s.live.then_some(s.value),
        expire_at_ms: (s.live && s.expire_at_ms != 0).then_some(s.expire_at_ms),
    }
}

pub(crate) fn mutation(m: Mutation) -> pb::Mutation {
    use pb::expiry::Kind;
    let op = match m {
        Mutation::Put { key, value, expiry } => {
            let kind = match expiry {
                Expiry::Never => Kind::Never(true),
                Expiry::AtUnixMs(at) => Kind::AtUnixMs(at),
                Expiry::AfterMs(ms) => Kind::AfterMs(ms),
                Expiry::Keep => Kind::Keep(true),
            };
            pb::mutation::Op::Put(pb::Put { key, value, expiry: Some(pb::Expiry { kind: Some(kind) }) })
        }
        Mutation::Delete { key } => pb::mutation::Op::Delete(pb::Delete { key }),
        Mutation::DeleteRange { start, end } => {
            pb::mutation::Op::DeleteRange(pb::DeleteRange { start_key: start, end_key: end })
        }
    };
    pb::Mutation { op: Some(op) }
}

pub(crate) fn mutation_key(m: &Mutation) -> Option<&Bytes> {
    match m {
        Mutation::Put { key, .. } | Mutation::Delete { key } => Some(key),
        Mutation::DeleteRange { .. } => None,
    }
}

impl CoreKv {
    /// Range-wide operations (scan, count, range delete) visit every range overlapping
    /// `[start, end)` in key order.
    fn overlapping_starts(&self, start: &[u8], end: &[u8]) -> Vec<Bytes> {
        let table = self.router.catalog().current();
        table.overlapping(start, end).map(|d| d.start_key.clone().max(Bytes::copy_from_slice(start))).collect()
    }

    /// Range-wide commands over an empty table would silently see nothing.
    async fn ensure_routes(&self) -> Result<(), KvError> {
        let catalog = self.router.catalog();
        if catalog.version() == 0 && !catalog.wait_for_new_table(0, FIRST_CATALOG_WAIT).await {
            return Err(KvError::Unavailable("no route catalog from the core yet".into()));
        }
        Ok(())
    }

    /// [`group_by_range`] against the current table; `None` (after waiting briefly for the
    /// catalog to move) when a key has no route yet.
    pub(crate) async fn group<'a>(&self, keys: impl IntoIterator<Item = (usize, &'a [u8])>) -> Option<Vec<Vec<usize>>> {
        let grouped = group_by_range(&self.router.catalog().load(), keys);
        match grouped {
            Ok(groups) => Some(groups),
            Err(version) => {
                self.router.catalog().wait_for_new_table(version, ROUTE_WAIT).await;
                None
            }
        }
    }

    /// One Get for keys that all live in one range (`read_ts` 0 = newest).
    async fn get_in_range(&self, keys: Vec<Bytes>, read_ts: u64) -> Result<pb::GetResponse, RouteError> {
        let Some((first, rest)) = keys.split_first() else { return Ok(pb::GetResponse::default()) };
        self.router
            .with_range(first, rest, "get", |addr, route| {
                let req = pb::GetRequest { header: Some(route.header()), keys: keys.clone(), read_ts, stale: None };
                async move {
                    let mut resp = self.router.batched_get(&addr, req).await?;
                    Ok(Attempt::from_response(resp.range_error.take(), resp))
                }
            })
            .await
    }

    /// Deletes `[start, end)` range by range.
    async fn delete_range(&self, start: &Bytes, end: &Bytes) -> Result<WriteOutcome, KvError> {
        let mut last = WriteOutcome::Committed { commit_ts: 0 };
        for from in self.overlapping_starts(start, end) {
            let m = vec![mutation(Mutation::DeleteRange { start: from.clone(), end: end.clone() })];
            last = self.one_phase(&from, &[], vec![], m).await?;
        }
        Ok(last)
    }

    /// Live keys in `[start, end)` (empty `end` = unbounded) as of `read_ts` (0 = newest),
    /// in key order or, with `reverse`, from the end backwards; at most `limit`. A snapshot
    /// scan settles the transaction locks it meets (waiting for ones still committing).
    pub async fn scan_at(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        read_ts: u64,
        reverse: bool,
    ) -> Result<Vec<ScannedKey>, KvError> {
        self.ensure_routes().await?;
        if !reverse {
            return self.scan_forward(start, end, limit, read_ts).await;
        }
        let mut out = Vec::new();
        let mut starts = self.overlapping_starts(&start, &end);
        starts.reverse();
        for from in starts {
            if out.len() >= limit {
                break;
            }
            let (resp, _) = self.scan_range_settled(from, end.clone(), limit - out.len(), read_ts, reverse).await?;
            out.extend(resp.states.into_iter().map(|s| ScannedKey { key: s.key.clone(), state: key_state(s) }));
        }
        Ok(out)
    }

    /// A forward scan that walks range by range from the end of the range that actually
    /// served the previous step (not from a list of starts computed up front): a range that
    /// splits while the scan runs is then never skipped, and no key is returned twice.
    async fn scan_forward(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        read_ts: u64,
    ) -> Result<Vec<ScannedKey>, KvError> {
        let mut out = Vec::new();
        let mut from = start;
        while out.len() < limit {
            let (resp, served_end) =
                self.scan_range_settled(from, end.clone(), limit - out.len(), read_ts, false).await?;
            out.extend(resp.states.into_iter().map(|s| ScannedKey { key: s.key.clone(), state: key_state(s) }));
            match next_range_start(served_end, &end) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// [`CoreKv::scan_range_served`] that settles the locks of transactions still committing at or
    /// below `read_ts` and scans again; also answers the end key of the range that served it.
    async fn scan_range_settled(
        &self,
        from: Bytes,
        end: Bytes,
        limit: usize,
        read_ts: u64,
        reverse: bool,
    ) -> Result<(pb::ScanResponse, Bytes), KvError> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut waits = 0;
        loop {
            let (mut resp, served_end) =
                self.scan_range_served(from.clone(), end.clone(), limit, false, read_ts, reverse).await?;
            let Some(lock) = resp.lock.take() else { return Ok((resp, served_end)) };
            if self.resolve_lock(&lock).await? == LockFate::Pending {
                if tokio::time::Instant::now() >= deadline {
                    return Err(KvError::TryAgain("a key is locked by a transaction that is still committing".into()));
                }
                crate::txn::backoff(waits).await;
                waits += 1;
            }
        }
    }

    /// One scan of the range holding `from` (clipped to that range by the core), and the end key
    /// of the range that answered it (empty for the last range).
    async fn scan_range_served(
        &self,
        from: Bytes,
        end: Bytes,
        limit: usize,
        count_only: bool,
        read_ts: u64,
        reverse: bool,
    ) -> Result<(pb::ScanResponse, Bytes), KvError> {
        let served_end = std::sync::Mutex::new(Bytes::new());
        let resp = self
            .router
            .with_leader(&from, "scan", |addr, route| {
                // Each attempt overwrites it: the last one is the one that answered.
                *served_end.lock().unwrap_or_else(|p| p.into_inner()) = route.descriptor.end_key.clone();
                let client = self.router.client(&addr);
                let req = pb::ScanRequest {
                    header: Some(route.header()),
                    start_key: from.clone(),
                    end_key: end.clone(),
                    limit: limit.min(u32::MAX as usize) as u32,
                    count_only,
                    read_ts,
                    reverse,
                    stale: None,
                };
                async move {
                    let mut client = client.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                    let mut request = tonic::Request::new(req);
                    // Scans may legitimately take long; only a dead node should hit this.
                    request.set_timeout(crate::routing::CORE_CALL_TIMEOUT * 20);
                    let mut resp = client.scan(request).await?.into_inner();
                    Ok(Attempt::from_response(resp.range_error.take(), resp))
                }
            })
            .await
            .map_err(kv_error)?;
        let served_end = served_end.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok((resp, served_end))
    }
}

/// Where a forward walk continues after a range ending at `served_end`: `None` when that was
/// the last range or it reaches past `end` (empty = unbounded).
fn next_range_start(served_end: Bytes, end: &[u8]) -> Option<Bytes> {
    if served_end.is_empty() || (!end.is_empty() && served_end.as_ref() >= end) {
        None
    } else {
        Some(served_end)
    }
}

/// How long a read waits for a transaction that holds a lock on its keys to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Attempts of a write that spans ranges before it gives up on conflicts.
const MAX_TXN_ATTEMPTS: usize = 64;

impl CoreKv {
    /// Reads `keys` (grouped by range, one Get per range, concurrently) at `read_ts` (0 =
    /// newest). A lock met on the way is settled by its primary: a committed transaction is
    /// rolled forward and the key read again; a pending one is waited for by snapshot reads,
    /// while a newest-state read keeps the last committed value (the transaction has not
    /// reached its commit point, so that value is still the current one).
    ///
    /// A newest-state read whose keys turn out to span ranges starts over as a snapshot read
    /// at a fresh oracle timestamp, so it still sees one instant.
    async fn read(&self, keys: &[Bytes], mut read_ts: u64) -> Result<ReadSnapshot, KvError> {
        if keys.is_empty() {
            return Ok(ReadSnapshot::default());
        }
        let mut states: Vec<Option<KeyState>> = vec![None; keys.len()];
        // The earliest of the ranges' clocks: every key reported live was live at its own
        // (later or equal) clock, so no TTL computed against this one comes out negative.
        let mut now_ms = u64::MAX;
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut rounds = 0;
        let mut waits = 0u32;
        while !pending.is_empty() {
            rounds += 1;
            if rounds > MAX_ROUNDS * 8 {
                return Err(KvError::Unavailable(ROUTES_KEPT_CHANGING.into()));
            }
            let Some(groups) = self.group(pending.iter().map(|&i| (i, &keys[i][..]))).await else { continue };
            // Newest-state reads are one instant only as one Get: keys spread over ranges, or a
            // second round for some of them, make it a snapshot read from the start.
            if read_ts == 0 && (groups.len() > 1 || states.iter().any(Option::is_some)) {
                read_ts = self.fresh_ts().await?;
                states = vec![None; keys.len()];
                now_ms = u64::MAX;
                pending = (0..keys.len()).collect();
                continue;
            }
            let reads = groups.iter().map(|g| self.get_in_range(g.iter().map(|&i| keys[i].clone()).collect(), read_ts));
            let results = futures::future::join_all(reads).await;
            let mut again = Vec::new();
            let mut wait = false;
            for (group, result) in groups.into_iter().zip(results) {
                match result {
                    Ok(resp) if resp.states.len() == group.len() => {
                        now_ms = now_ms.min(resp.now_ms);
                        for (position, mut state) in group.into_iter().zip(resp.states) {
                            let Some(lock) = state.lock.take() else {
                                states[position] = Some(key_state(state));
                                continue;
                            };
                            match self.resolve_lock(&lock).await? {
                                LockFate::Settled => again.push(position),
                                LockFate::Pending if read_ts == 0 => states[position] = Some(key_state(state)),
                                LockFate::Pending => {
                                    again.push(position);
                                    wait = true;
                                }
                            }
                        }
                    }
                    Ok(resp) => {
                        return Err(KvError::Internal(format!(
                            "core answered {} states for {} keys",
                            resp.states.len(),
                            group.len()
                        )))
                    }
                    Err(RouteError::SpansRanges) => again.extend(group),
                    Err(e) => return Err(kv_error(e)),
                }
            }
            pending = again;
            if wait {
                if tokio::time::Instant::now() >= deadline {
                    return Err(KvError::TryAgain(LOCKED_TOO_LONG.into()));
                }
                crate::txn::backoff(waits).await;
                waits += 1;
            }
        }
        let states = states.into_iter().map(Option::unwrap_or_default).collect();
        Ok(ReadSnapshot { states, now_ms })
    }

    /// Whether every key lives in one range right now (a hint: the write path re-checks).
    async fn one_range(&self, keys: &[&[u8]]) -> Option<bool> {
        let groups = self.group(keys.iter().enumerate().map(|(i, k)| (i, *k))).await?;
        Some(groups.len() <= 1)
    }
}

impl KvStore for CoreKv {
    /// Keys of one range are read at the newest state; keys spread over ranges are read at
    /// one oracle timestamp, so the result is one consistent snapshot either way.
    async fn get(&self, keys: Vec<Bytes>) -> Result<ReadSnapshot, KvError> {
        // `read` turns itself into a snapshot read once it finds the keys span ranges.
        self.read(&keys, 0).await
    }

    /// Atomic wherever the keys live: one-phase within a range, two-phase across ranges
    /// (retried from a fresh start timestamp on write conflicts, which cannot change the
    /// outcome of a write whose conditions still hold). A lone range delete (FLUSHALL) is
    /// applied range by range and is not atomic across ranges.
    async fn write(&self, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Result<WriteOutcome, KvError> {
        if let [Mutation::DeleteRange { start, end }] = mutations.as_slice() {
            if conditions.is_empty() {
                self.ensure_routes().await?;
                return self.delete_range(start, end).await;
            }
        }
        if mutations.iter().any(|m| matches!(m, Mutation::DeleteRange { .. })) {
            return Err(KvError::Invalid("a range delete cannot be combined with other writes".into()));
        }
        let keys: Vec<&[u8]> = conditions
            .iter()
            .map(|c| &c.key[..])
            .chain(mutations.iter().filter_map(|m| Some(&mutation_key(m)?[..])))
            .collect();
        if self.one_range(&keys).await == Some(true) {
            let route_key = keys.first().map(|k| Bytes::copy_from_slice(k)).unwrap_or_default();
            let together: Vec<Bytes> = keys.iter().map(|k| Bytes::copy_from_slice(k)).collect();
            let conditions =
                conditions.iter().map(|c| pb::Condition { key: c.key.clone(), expected_version: c.expected_version });
            let mutations = mutations.iter().cloned().map(mutation).collect();
            match self.one_phase(&route_key, &together, conditions.collect(), mutations).await {
                Err(KvError::CrossRange) => {} // split meanwhile: commit as a transaction
                other => return other,
            }
        }
        for attempt in 0..MAX_TXN_ATTEMPTS {
            let start_ts = self.fresh_ts().await?;
            let txn =
                TxnCommit { start_ts, read_keys: vec![], conditions: conditions.clone(), mutations: mutations.clone() };
            match self.commit(txn).await? {
                TxnOutcome::Committed { commit_ts } => return Ok(WriteOutcome::Committed { commit_ts }),
                TxnOutcome::ConditionFailed => return Ok(WriteOutcome::ConditionFailed),
                TxnOutcome::Conflict => crate::txn::backoff(attempt as u32).await,
            }
        }
        Err(KvError::TryAgain("too many conflicting transactions on these keys, retry".into()))
    }

    async fn timestamp(&self) -> Result<u64, KvError> {
        self.fresh_ts().await
    }

    async fn get_stale(&self, keys: Vec<Bytes>, max_staleness_ms: u64) -> Result<ReadSnapshot, KvError> {
        CoreKv::get_stale(self, &keys, max_staleness_ms).await
    }

    async fn get_at(&self, keys: Vec<Bytes>, ts: u64) -> Result<ReadSnapshot, KvError> {
        if ts == 0 {
            return Err(KvError::Invalid("a snapshot read needs a timestamp".into()));
        }
        self.read(&keys, ts).await
    }

    async fn commit(&self, txn: TxnCommit) -> Result<TxnOutcome, KvError> {
        crate::txn::commit::commit(self, txn).await
    }

    async fn scan_at(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        reverse: bool,
        ts: u64,
    ) -> Result<Vec<ScannedKey>, KvError> {
        CoreKv::scan_at(self, start, end, limit, ts, reverse).await
    }

    async fn scan(&self, start: Bytes, end: Bytes, limit: usize) -> Result<Vec<ScannedKey>, KvError> {
        self.ensure_routes().await?;
        self.scan_forward(start, end, limit, 0).await
    }

    async fn count(&self, start: Bytes, end: Bytes) -> Result<u64, KvError> {
        self.ensure_routes().await?;
        let mut total = 0;
        let mut from = start;
        loop {
            let (resp, served_end) = self.scan_range_served(from, end.clone(), 0, true, 0, false).await?;
            total += resp.count;
            match next_range_start(served_end, &end) {
                Some(next) => from = next,
                None => return Ok(total),
            }
        }
    }

    async fn cluster_info(&self) -> Result<ClusterInfo, KvError> {
        self.ensure_routes().await?;
        let mut fields = Vec::new();
        let routes = self.router.routes();
        fields.push(("strata_catalog_version".to_string(), self.router.catalog().version().to_string()));
        fields.push(("strata_ranges".to_string(), routes.len().to_string()));
        for route in routes {
            let d = &route.descriptor;
            let leader = route.leader_addr().unwrap_or("unknown").to_string();
            let replicas: Vec<_> = d.replicas.iter().map(|r| format!("{}@{}", r.node_id, r.addr)).collect();
            let epoch = d.epoch.unwrap_or_default();
            fields.push((
                format!("strata_range{}", d.range_id),
                format!(
                    "leader={leader},replicas={},epoch={}.{}",
                    replicas.join("|"),
                    epoch.version,
                    epoch.conf_version
                ),
            ));
        }
        Ok(ClusterInfo { fields })
    }
}

impl CoreKv {
    /// Sends `request` (its header filled in per attempt) to the range holding `route_key`,
    /// which must also hold every key in `together`, following routing errors.
    pub(crate) async fn send_write(
        &self,
        route_key: &[u8],
        together: &[Bytes],
        mut request: pb::WriteRequest,
    ) -> Result<pb::WriteResponse, RouteError> {
        if request.txn.is_none() && request.request_id_hi == 0 && request.request_id_lo == 0 {
            // One id for every retry of this write: the core deduplicates on it.
            let request_id: u128 = rand::random::<u128>() | 1;
            request.request_id_hi = (request_id >> 64) as u64;
            request.request_id_lo = request_id as u64;
        }
        self.router
            .with_range(route_key, together, "write", |addr, route| {
                let req = pb::WriteRequest { header: Some(route.header()), ..request.clone() };
                async move {
                    let mut resp = self.router.batched_write(&addr, req).await?;
                    Ok(Attempt::from_response(resp.range_error.take(), resp))
                }
            })
            .await
    }

    /// A plain write of keys in one range, committed at a timestamp at or above a fresh
    /// oracle timestamp. Locks of transactions in the way are waited for (a plain write holds
    /// no locks, so waiting cannot deadlock). `CrossRange` if the keys no longer share a range.
    pub(crate) async fn one_phase(
        &self,
        route_key: &[u8],
        together: &[Bytes],
        conditions: Vec<pb::Condition>,
        mutations: Vec<pb::Mutation>,
    ) -> Result<WriteOutcome, KvError> {
        let request = pb::WriteRequest { conditions, mutations, ..Default::default() };
        let resp = self
            .send_one_phase(route_key, together, request, PendingLock::Wait)
            .await?
            .ok_or_else(|| KvError::TryAgain(LOCKED_TOO_LONG.into()))?;
        let outcome = if resp.condition_failed { "condition_failed" } else { "committed" };
        self.metrics().txns.with_label_values(&["1pc", outcome]).inc();
        Ok(if resp.condition_failed {
            WriteOutcome::ConditionFailed
        } else {
            WriteOutcome::Committed { commit_ts: resp.commit_ts }
        })
    }

    /// Sends a one-phase write (plain, or a transaction's with `unchanged_since`) to the range
    /// holding `route_key`, which must also hold every key in `together`, until the range
    /// decides it: locks in its way are settled first, and a write whose timestamp fell behind
    /// a newer write of one of its keys is sent again with a fresh one. `Ok(None)` when it
    /// gave up on a lock still being committed; `CrossRange` if the keys no longer share a
    /// range.
    pub(crate) async fn send_one_phase(
        &self,
        route_key: &[u8],
        together: &[Bytes],
        mut request: pb::WriteRequest,
        on_pending: PendingLock,
    ) -> Result<Option<pb::WriteResponse>, KvError> {
        request.min_commit_ts = self.fresh_ts().await?;
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = match self.send_write(route_key, together, request.clone()).await {
                Ok(resp) => resp,
                Err(RouteError::SpansRanges) => return Err(KvError::CrossRange),
                Err(e) => return Err(kv_error(e)),
            };
            if let Some(lock) = resp.locked {
                if self.resolve_lock(&lock).await? == LockFate::Pending {
                    if on_pending == PendingLock::GiveUp || tokio::time::Instant::now() >= deadline {
                        return Ok(None);
                    }
                    crate::txn::backoff(attempt).await;
                }
                continue;
            }
            if resp.ts_too_old {
                // It raced a newer write of the same key; a later timestamp orders it after.
                request.min_commit_ts = self.fresh_ts().await?;
                continue;
            }
            return Ok(Some(resp));
        }
    }
}

/// What a one-phase write does about a lock whose transaction is still committing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingLock {
    /// Wait for it (up to [`LOCK_WAIT`]): right for a write that holds no locks itself.
    Wait,
    /// Give up at once: a transaction that met one would most likely conflict anyway.
    GiveUp,
}

const LOCKED_TOO_LONG: &str = "a key is locked by a transaction that is still committing";

mod stale;
#[cfg(test)]
mod tests;
