//! `KvStore` over the core's gRPC API: the product path between protocol semantics and Raft.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_proto::core as pb;
use strata_protocols::kv::{
    ClusterInfo, Condition, Expiry, KeyState, KvError, KvStore, Mutation, ReadSnapshot, ScannedKey, WriteOutcome,
};

use crate::route_table::RouteTable;
use crate::routing::{Attempt, RouteError, Router};

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
}

impl CoreKv {
    pub fn new(router: Arc<Router>) -> Self {
        Self { router }
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }
}

fn kv_error(e: RouteError) -> KvError {
    match e {
        RouteError::Unavailable(m) => KvError::Unavailable(m),
        RouteError::Rejected(m) => KvError::Internal(m),
        RouteError::CircuitOpen(m) => KvError::Unavailable(m),
        RouteError::SpansRanges => KvError::Unavailable(ROUTES_KEPT_CHANGING.into()),
    }
}

const ROUTES_KEPT_CHANGING: &str = "the ranges of the keys kept changing under the request; retry";

/// Positions of keys grouped by the range that holds each, in order of first appearance
/// (and each group in position order); `Err` with the table's version if a key has no route.
fn group_by_range<'a>(
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

fn key_state(s: pb::KeyState) -> KeyState {
    KeyState {
        version: s.version,
        value: s.live.then_some(s.value),
        expire_at_ms: (s.live && s.expire_at_ms != 0).then_some(s.expire_at_ms),
    }
}

fn mutation(m: Mutation) -> pb::Mutation {
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

fn mutation_key(m: &Mutation) -> Option<&Bytes> {
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
    async fn group<'a>(&self, keys: impl IntoIterator<Item = (usize, &'a [u8])>) -> Option<Vec<Vec<usize>>> {
        let grouped = group_by_range(&self.router.catalog().load(), keys);
        match grouped {
            Ok(groups) => Some(groups),
            Err(version) => {
                self.router.catalog().wait_for_new_table(version, ROUTE_WAIT).await;
                None
            }
        }
    }

    /// One Get for keys that all live in one range.
    async fn get_in_range(&self, keys: Vec<Bytes>) -> Result<pb::GetResponse, RouteError> {
        let Some((first, rest)) = keys.split_first() else { return Ok(pb::GetResponse::default()) };
        self.router
            .with_range(first, rest, "get", |addr, route| {
                let req = pb::GetRequest { header: Some(route.header()), keys: keys.clone() };
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
            last = self.write_in_range(&from, &[], vec![], m).await.map_err(kv_error)?;
        }
        Ok(last)
    }

    async fn scan_range(
        &self,
        from: Bytes,
        end: Bytes,
        limit: usize,
        count_only: bool,
    ) -> Result<pb::ScanResponse, KvError> {
        self.router
            .with_leader(&from, "scan", |addr, route| {
                let client = self.router.client(&addr);
                let req = pb::ScanRequest {
                    header: Some(route.header()),
                    start_key: from.clone(),
                    end_key: end.clone(),
                    limit: limit.min(u32::MAX as usize) as u32,
                    count_only,
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
            .map_err(kv_error)
    }
}

impl KvStore for CoreKv {
    /// One Get per range, concurrently. Each range's keys are read at one point in time, but
    /// keys in different ranges are not read at the same instant.
    async fn get(&self, keys: Vec<Bytes>) -> Result<ReadSnapshot, KvError> {
        if keys.is_empty() {
            return Ok(ReadSnapshot::default());
        }
        let mut states: Vec<Option<KeyState>> = vec![None; keys.len()];
        // The earliest of the ranges' clocks: every key reported live was live at its own
        // (later or equal) clock, so no TTL computed against this one comes out negative.
        let mut now_ms = u64::MAX;
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        for _ in 0..MAX_ROUNDS {
            let Some(groups) = self.group(pending.iter().map(|&i| (i, &keys[i][..]))).await else { continue };
            let reads = groups.iter().map(|g| self.get_in_range(g.iter().map(|&i| keys[i].clone()).collect()));
            let results = futures::future::join_all(reads).await;
            pending.clear();
            for (group, result) in groups.into_iter().zip(results) {
                match result {
                    Ok(resp) if resp.states.len() == group.len() => {
                        now_ms = now_ms.min(resp.now_ms);
                        for (position, state) in group.into_iter().zip(resp.states) {
                            states[position] = Some(key_state(state));
                        }
                    }
                    Ok(resp) => {
                        return Err(KvError::Internal(format!(
                            "core answered {} states for {} keys",
                            resp.states.len(),
                            group.len()
                        )))
                    }
                    Err(RouteError::SpansRanges) => pending.extend(group),
                    Err(e) => return Err(kv_error(e)),
                }
            }
            if pending.is_empty() {
                let states = states.into_iter().map(Option::unwrap_or_default).collect();
                return Ok(ReadSnapshot { states, now_ms });
            }
        }
        Err(KvError::Unavailable(ROUTES_KEPT_CHANGING.into()))
    }

    /// Atomic when every key (conditions and mutations) lives in one range. Unconditional
    /// mutations spanning ranges are split into one write per range, sent concurrently:
    /// that is **not atomic** — some ranges may commit while another fails, and readers may
    /// see some ranges' mutations before others'. A conditional write (or one with a range
    /// delete among other mutations) spanning ranges is refused with
    /// [`KvError::CrossRange`] until cross-range transactions exist.
    async fn write(&self, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Result<WriteOutcome, KvError> {
        if let [Mutation::DeleteRange { start, end }] = mutations.as_slice() {
            if conditions.is_empty() {
                self.ensure_routes().await?;
                return self.delete_range(start, end).await;
            }
        }
        let conditions: Vec<pb::Condition> = conditions
            .into_iter()
            .map(|c| pb::Condition { key: c.key, expected_version: c.expected_version })
            .collect();
        let keys: Vec<Option<Bytes>> = mutations.iter().map(|m| mutation_key(m).cloned()).collect();
        let splittable = conditions.is_empty() && keys.iter().all(Option::is_some);
        let mutations: Vec<pb::Mutation> = mutations.into_iter().map(mutation).collect();
        // Mutations (by position) not yet committed, and the latest commit of those that were.
        let mut pending: Vec<usize> = (0..mutations.len()).collect();
        let mut commit_ts = 0;
        for _ in 0..MAX_ROUNDS {
            // Conditions have no position among the mutations; they only matter when all
            // keys share one range.
            let keyed = pending.iter().filter_map(|&i| Some((i, keys[i].as_deref()?)));
            let Some(groups) = self.group(conditions.iter().map(|c| (usize::MAX, &c.key[..])).chain(keyed)).await
            else {
                continue;
            };
            if groups.len() <= 1 {
                let together: Vec<Bytes> = conditions
                    .iter()
                    .map(|c| c.key.clone())
                    .chain(pending.iter().filter_map(|&i| keys[i].clone()))
                    .collect();
                let route_key = together.first().cloned().unwrap_or_default();
                let batch = pending.iter().map(|&i| mutations[i].clone()).collect();
                match self.write_in_range(&route_key, &together, conditions.clone(), batch).await {
                    Ok(WriteOutcome::Committed { commit_ts: ts }) => {
                        return Ok(WriteOutcome::Committed { commit_ts: ts.max(commit_ts) })
                    }
                    Ok(WriteOutcome::ConditionFailed) => return Ok(WriteOutcome::ConditionFailed),
                    Err(RouteError::SpansRanges) => continue,
                    Err(e) => return Err(kv_error(e)),
                }
            }
            if !splittable {
                return Err(KvError::CrossRange);
            }
            let writes = groups.iter().map(|group| {
                let together: Vec<Bytes> = group.iter().filter_map(|&i| keys[i].clone()).collect();
                let batch = group.iter().map(|&i| mutations[i].clone()).collect();
                async move { self.write_in_range(&together[0], &together, vec![], batch).await }
            });
            let results = futures::future::join_all(writes).await;
            pending.clear();
            for (group, result) in groups.into_iter().zip(results) {
                match result {
                    Ok(WriteOutcome::Committed { commit_ts: ts }) => commit_ts = commit_ts.max(ts),
                    Ok(WriteOutcome::ConditionFailed) => {
                        return Err(KvError::Internal("an unconditional write failed a condition".into()))
                    }
                    Err(RouteError::SpansRanges) => pending.extend(group),
                    Err(e) => return Err(kv_error(e)),
                }
            }
            if pending.is_empty() {
                return Ok(WriteOutcome::Committed { commit_ts });
            }
            pending.sort_unstable();
        }
        Err(KvError::Unavailable(ROUTES_KEPT_CHANGING.into()))
    }

    async fn scan(&self, start: Bytes, end: Bytes, limit: usize) -> Result<Vec<ScannedKey>, KvError> {
        self.ensure_routes().await?;
        let mut out = Vec::new();
        for from in self.overlapping_starts(&start, &end) {
            if out.len() >= limit {
                break;
            }
            let resp = self.scan_range(from, end.clone(), limit - out.len(), false).await?;
            out.extend(resp.states.into_iter().map(|s| ScannedKey { key: s.key.clone(), state: key_state(s) }));
        }
        Ok(out)
    }

    async fn count(&self, start: Bytes, end: Bytes) -> Result<u64, KvError> {
        self.ensure_routes().await?;
        let mut total = 0;
        for from in self.overlapping_starts(&start, &end) {
            total += self.scan_range(from, end.clone(), 0, true).await?.count;
        }
        Ok(total)
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
    /// One write to the range holding `route_key`, which must also hold every key in
    /// `together`.
    async fn write_in_range(
        &self,
        route_key: &[u8],
        together: &[Bytes],
        conditions: Vec<pb::Condition>,
        mutations: Vec<pb::Mutation>,
    ) -> Result<WriteOutcome, RouteError> {
        // One id for every retry of this write: the core deduplicates on it.
        let request_id: u128 = rand::random::<u128>() | 1;
        let resp = self
            .router
            .with_range(route_key, together, "write", |addr, route| {
                let req = pb::WriteRequest {
                    header: Some(route.header()),
                    conditions: conditions.clone(),
                    mutations: mutations.clone(),
                    request_id_hi: (request_id >> 64) as u64,
                    request_id_lo: request_id as u64,
                };
                async move {
                    let mut resp = self.router.batched_write(&addr, req).await?;
                    Ok(Attempt::from_response(resp.range_error.take(), resp))
                }
            })
            .await?;
        Ok(if resp.condition_failed {
            WriteOutcome::ConditionFailed
        } else {
            WriteOutcome::Committed { commit_ts: resp.commit_ts }
        })
    }
}

#[cfg(test)]
mod tests;
