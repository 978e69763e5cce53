//! `KvStore` over the core's gRPC API: the product path between protocol semantics and Raft.

use std::sync::Arc;

use bytes::Bytes;
use strata_proto::core as pb;
use strata_protocols::kv::{
    ClusterInfo, Condition, Expiry, KeyState, KvError, KvStore, Mutation, ReadSnapshot, ScannedKey, WriteOutcome,
};

use crate::routing::{Attempt, RouteError, Router};

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
    }
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
        self.router
            .routes()
            .into_iter()
            .filter(|r| {
                let d = &r.descriptor;
                let after_start = d.end_key.is_empty() || &d.end_key[..] > start;
                let before_end = end.is_empty() || &d.start_key[..] < end;
                after_start && before_end
            })
            .map(|r| r.descriptor.start_key.clone().max(Bytes::copy_from_slice(start)))
            .collect()
    }

    async fn ensure_routes(&self) -> Result<(), KvError> {
        if self.router.routes().is_empty() {
            self.router.refresh().await.map_err(kv_error)?;
        }
        Ok(())
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
    async fn get(&self, keys: Vec<Bytes>) -> Result<ReadSnapshot, KvError> {
        let Some(first) = keys.first().cloned() else {
            return Ok(ReadSnapshot::default());
        };
        let resp = self
            .router
            .with_leader(&first, "get", |addr, route| {
                let req = pb::GetRequest { header: Some(route.header()), keys: keys.clone() };
                async move {
                    let mut resp = self.router.batched_get(&addr, req).await?;
                    Ok(Attempt::from_response(resp.range_error.take(), resp))
                }
            })
            .await
            .map_err(kv_error)?;
        Ok(ReadSnapshot { states: resp.states.into_iter().map(key_state).collect(), now_ms: resp.now_ms })
    }

    async fn write(&self, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Result<WriteOutcome, KvError> {
        self.ensure_routes().await?;
        // A range delete is split per range; anything else must live in one range until
        // cross-range transactions exist.
        if let [Mutation::DeleteRange { start, end }] = mutations.as_slice() {
            if conditions.is_empty() {
                let mut last = WriteOutcome::Committed { commit_ts: 0 };
                for from in self.overlapping_starts(start, end) {
                    let m = vec![mutation(Mutation::DeleteRange { start: from.clone(), end: end.clone() })];
                    last = self.write_in_range(&from, vec![], m).await?;
                }
                return Ok(last);
            }
        }
        let route_key = conditions
            .first()
            .map(|c| c.key.clone())
            .or_else(|| mutations.iter().find_map(mutation_key).cloned())
            .unwrap_or_default();
        let conditions = conditions
            .into_iter()
            .map(|c| pb::Condition { key: c.key, expected_version: c.expected_version })
            .collect();
        let mutations = mutations.into_iter().map(mutation).collect();
        self.write_in_range(&route_key, conditions, mutations).await
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
    async fn write_in_range(
        &self,
        route_key: &[u8],
        conditions: Vec<pb::Condition>,
        mutations: Vec<pb::Mutation>,
    ) -> Result<WriteOutcome, KvError> {
        // One id for every retry of this write: the core deduplicates on it.
        let request_id: u128 = rand::random::<u128>() | 1;
        let resp = self
            .router
            .with_leader(route_key, "write", |addr, route| {
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
            .await
            .map_err(kv_error)?;
        Ok(if resp.condition_failed {
            WriteOutcome::ConditionFailed
        } else {
            WriteOutcome::Committed { commit_ts: resp.commit_ts }
        })
    }
}
