//! `CoreKv` over a router against an in-process fake of the core's `Kv` service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use strata_proto::core as pb;
use strata_proto::core::catalog_server::{Catalog, CatalogServer};
use strata_proto::core::kv_server::{Kv, KvServer};
use strata_protocols::kv::{Condition, Expiry, KvError, KvStore, Mutation, WriteOutcome};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use super::CoreKv;
use crate::catalog_watch::CatalogWatcher;
use crate::metrics::GatewayMetrics;
use crate::route_table::RouteTable;
use crate::routing::Router;

/// A one-node core. It judges requests against `truth`, which may be ahead of the catalog
/// the gateway watches: the first request it finds stale makes it publish `truth` to that
/// catalog, as the meta leader would after hearing of a split.
struct FakeCore {
    truth: Mutex<Arc<RouteTable>>,
    catalog: Arc<CatalogWatcher>,
    data: Mutex<BTreeMap<Bytes, (u64, Bytes)>>,
    clock: Mutex<u64>,
    /// (range id, keys) of every Get and Write the core served or refused.
    gets: Mutex<Vec<(u64, Vec<Bytes>)>>,
    writes: Mutex<Vec<(u64, Vec<Bytes>)>>,
    /// The `read_ts` of every Get, and the `min_commit_ts` of every plain write.
    read_timestamps: Mutex<Vec<u64>>,
    min_commit_timestamps: Mutex<Vec<u64>>,
    /// Transaction steps in arrival order: (step, range id).
    steps: Mutex<Vec<(&'static str, u64)>>,
    /// Prewritten mutations by (start ts, key).
    staged: Mutex<BTreeMap<(u64, Bytes), pb::Mutation>>,
}

impl FakeCore {
    /// A routing error for a request to `header` touching `keys`, if it is stale.
    fn check(&self, header: Option<pb::RequestHeader>, keys: &[Bytes]) -> Option<pb::RangeError> {
        use pb::range_error::Kind;
        let header = header.unwrap_or_default();
        let truth = self.truth.lock().unwrap().clone();
        let error = match truth.get(header.range_id) {
            None => Kind::RangeNotFound(pb::RangeNotFound { range_id: header.range_id }),
            Some(d) if d.epoch != header.epoch => {
                Kind::EpochNotMatch(pb::EpochNotMatch { current_ranges: vec![(*d).clone()] })
            }
            Some(d) => match keys.iter().find(|k| !crate::routing::range_contains(&d, k)) {
                Some(k) => Kind::KeyNotInRange(pb::KeyNotInRange { key: k.clone(), range: Some((*d).clone()) }),
                None => return None,
            },
        };
        if self.catalog.version() < truth.version() {
            self.catalog.publish(truth);
        }
        Some(pb::RangeError { kind: Some(error) })
    }

    fn get_one(&self, req: pb::GetRequest) -> pb::GetResponse {
        let range_id = req.header.unwrap_or_default().range_id;
        self.gets.lock().unwrap().push((range_id, req.keys.clone()));
        self.read_timestamps.lock().unwrap().push(req.read_ts);
        if let Some(e) = self.check(req.header, &req.keys) {
            return pb::GetResponse { range_error: Some(e), ..Default::default() };
        }
        let data = self.data.lock().unwrap();
        let states = req
            .keys
            .iter()
            .map(|k| match data.get(k) {
                Some((version, value)) => pb::KeyState {
                    key: k.clone(),
                    version: *version,
                    live: true,
                    value: value.clone(),
                    ..Default::default()
                },
                None => pb::KeyState { key: k.clone(), ..Default::default() },
            })
            .collect();
        pb::GetResponse { range_error: None, states, now_ms: 1_000 + range_id, read_ts: 0 }
    }

    fn write_one(&self, mut req: pb::WriteRequest) -> pb::WriteResponse {
        let range_id = req.header.unwrap_or_default().range_id;
        let mut keys: Vec<Bytes> = req.conditions.iter().map(|c| c.key.clone()).collect();
        for m in &req.mutations {
            keys.extend(mutation_key(m));
        }
        use pb::txn_request::Kind;
        let txn = req.txn.and_then(|t| t.kind);
        match &txn {
            Some(Kind::Commit(c)) => keys.extend(c.keys.iter().cloned()),
            Some(Kind::Rollback(r)) => keys.extend(r.keys.iter().cloned()),
            _ => {}
        }
        if txn.is_none() {
            self.writes.lock().unwrap().push((range_id, keys.clone()));
            self.min_commit_timestamps.lock().unwrap().push(req.min_commit_ts);
        }
        if let Some(e) = self.check(req.header, &keys) {
            return pb::WriteResponse { range_error: Some(e), ..Default::default() };
        }
        let mut data = self.data.lock().unwrap();
        let holds = |c: &pb::Condition| data.get(&c.key).map_or(0, |(v, _)| *v) == c.expected_version;
        if !req.conditions.iter().all(holds) {
            return pb::WriteResponse { condition_failed: true, ..Default::default() };
        }
        let mut clock = self.clock.lock().unwrap();
        let commit_ts = match txn {
            None => {
                *clock += 1;
                *clock
            }
            Some(Kind::Prewrite(p)) => {
                self.steps.lock().unwrap().push(("prewrite", range_id));
                let mut staged = self.staged.lock().unwrap();
                for m in req.mutations {
                    staged.insert((p.start_ts, mutation_key(&m).unwrap()), m);
                }
                return pb::WriteResponse::default();
            }
            Some(Kind::Commit(c)) => {
                self.steps.lock().unwrap().push(("commit", range_id));
                let mut staged = self.staged.lock().unwrap();
                let mine: Vec<_> = c.keys.iter().filter_map(|k| staged.remove(&(c.start_ts, k.clone()))).collect();
                req.mutations = mine;
                c.commit_ts
            }
            Some(Kind::Rollback(r)) => {
                self.steps.lock().unwrap().push(("rollback", range_id));
                self.staged.lock().unwrap().retain(|(ts, _), _| *ts != r.start_ts);
                return pb::WriteResponse { txn_state: pb::TxnState::RolledBack as i32, ..Default::default() };
            }
            Some(_) => return pb::WriteResponse { txn_state: pb::TxnState::Pending as i32, ..Default::default() },
        };
        for m in req.mutations {
            match m.op {
                Some(pb::mutation::Op::Put(p)) => {
                    data.insert(p.key, (commit_ts, p.value));
                }
                Some(pb::mutation::Op::Delete(d)) => {
                    data.remove(&d.key);
                }
                _ => {}
            }
        }
        pb::WriteResponse { commit_ts, ..Default::default() }
    }
}

fn mutation_key(m: &pb::Mutation) -> Option<Bytes> {
    match &m.op {
        Some(pb::mutation::Op::Put(p)) => Some(p.key.clone()),
        Some(pb::mutation::Op::Delete(d)) => Some(d.key.clone()),
        _ => None,
    }
}

struct Shared(Arc<FakeCore>);

/// The timestamp oracle: a counter well above the fake's own write clock.
struct Oracle(Mutex<u64>);

#[tonic::async_trait]
impl Catalog for Oracle {
    type WatchCatalogStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::CatalogEvent, Status>> + Send>>;

    async fn watch_catalog(
        &self,
        _: Request<pb::WatchCatalogRequest>,
    ) -> Result<Response<Self::WatchCatalogStream>, Status> {
        Err(Status::unimplemented("the test publishes the table itself"))
    }
    async fn get_catalog(&self, _: Request<pb::GetCatalogRequest>) -> Result<Response<pb::GetCatalogResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn allocate_range_id(
        &self,
        _: Request<pb::AllocateRangeIdRequest>,
    ) -> Result<Response<pb::AllocateRangeIdResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn report_ranges(
        &self,
        _: Request<pb::ReportRangesRequest>,
    ) -> Result<Response<pb::ReportRangesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn get_timestamps(
        &self,
        r: Request<pb::GetTimestampsRequest>,
    ) -> Result<Response<pb::GetTimestampsResponse>, Status> {
        let count = r.into_inner().count;
        let mut next = self.0.lock().unwrap();
        let first = *next;
        *next += u64::from(count);
        Ok(Response::new(pb::GetTimestampsResponse { first, count }))
    }
}

#[tonic::async_trait]
impl Kv for Shared {
    async fn get(&self, r: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        Ok(Response::new(self.0.get_one(r.into_inner())))
    }
    async fn scan(&self, _: Request<pb::ScanRequest>) -> Result<Response<pb::ScanResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn write(&self, r: Request<pb::WriteRequest>) -> Result<Response<pb::WriteResponse>, Status> {
        Ok(Response::new(self.0.write_one(r.into_inner())))
    }
    async fn batch_get(&self, r: Request<pb::BatchGetRequest>) -> Result<Response<pb::BatchGetResponse>, Status> {
        let responses = r.into_inner().requests.into_iter().map(|g| self.0.get_one(g)).collect();
        Ok(Response::new(pb::BatchGetResponse { responses }))
    }
    async fn batch_write(&self, r: Request<pb::BatchWriteRequest>) -> Result<Response<pb::BatchWriteResponse>, Status> {
        let responses = r.into_inner().requests.into_iter().map(|w| self.0.write_one(w)).collect();
        Ok(Response::new(pb::BatchWriteResponse { responses }))
    }
    async fn ranges(&self, _: Request<pb::RangesRequest>) -> Result<Response<pb::RangesResponse>, Status> {
        Err(Status::unimplemented("the gateway must not poll ranges"))
    }
    async fn node_status(&self, _: Request<pb::NodeStatusRequest>) -> Result<Response<pb::NodeStatusResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn split_range(&self, _: Request<pb::SplitRangeRequest>) -> Result<Response<pb::SplitRangeResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn scan_locks(&self, _: Request<pb::ScanLocksRequest>) -> Result<Response<pb::ScanLocksResponse>, Status> {
        Ok(Response::new(pb::ScanLocksResponse::default()))
    }
    async fn campaign(&self, _: Request<pb::CampaignRequest>) -> Result<Response<pb::CampaignResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

const ORACLE_START: u64 = 1_000_000;

struct Harness {
    kv: CoreKv,
    core: Arc<FakeCore>,
    addr: String,
    metrics: GatewayMetrics,
}

fn range(addr: &str, id: u64, start: &str, end: &str, epoch: u64) -> pb::RangeDescriptor {
    pb::RangeDescriptor {
        range_id: id,
        start_key: Bytes::from(start.to_string()),
        end_key: Bytes::from(end.to_string()),
        epoch: Some(pb::RangeEpoch { version: epoch, conf_version: 1 }),
        replicas: vec![pb::Replica { node_id: 1, addr: addr.to_string() }],
        leader_node_id: 1,
        leader_term: 1,
    }
}

/// A gateway whose catalog holds `gateway_sees` (version 1) while the core already has
/// `truth` (version 2, or the same ranges at version 1).
async fn harness(
    gateway_sees: impl Fn(&str) -> Vec<pb::RangeDescriptor>,
    truth: impl Fn(&str) -> Vec<pb::RangeDescriptor>,
) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let metrics = GatewayMetrics::new();
    // Seeded with the fake so the oracle finds it; the table is published by hand.
    let catalog = Arc::new(CatalogWatcher::new(vec![addr.clone()], metrics.clone()).seeds_only());
    let seen = gateway_sees(&addr);
    let real = truth(&addr);
    let truth_version = if real == seen { 1 } else { 2 };
    catalog.publish(Arc::new(RouteTable::from_reset(1, seen)));
    let core = Arc::new(FakeCore {
        truth: Mutex::new(Arc::new(RouteTable::from_reset(truth_version, real))),
        catalog: catalog.clone(),
        data: Mutex::default(),
        clock: Mutex::new(0),
        gets: Mutex::default(),
        writes: Mutex::default(),
        read_timestamps: Mutex::default(),
        min_commit_timestamps: Mutex::default(),
        steps: Mutex::default(),
        staged: Mutex::default(),
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(KvServer::new(Shared(core.clone())))
            .add_service(CatalogServer::new(Oracle(Mutex::new(ORACLE_START))))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let kv = CoreKv::new(Router::with_catalog(catalog, metrics.clone()));
    Harness { kv, core, addr, metrics }
}

fn two_ranges(addr: &str) -> Vec<pb::RangeDescriptor> {
    vec![range(addr, 1, "", "m", 2), range(addr, 2, "m", "", 2)]
}

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

fn put(key: &str, value: &str) -> Mutation {
    Mutation::Put { key: b(key), value: b(value), expiry: Expiry::Never }
}

fn values(states: &[strata_protocols::kv::KeyState]) -> Vec<Option<Bytes>> {
    states.iter().map(|s| s.value.clone()).collect()
}

#[tokio::test]
async fn a_multi_key_get_reads_each_range_once_at_one_timestamp_and_keeps_key_order() {
    let h = harness(two_ranges, two_ranges).await;
    let puts = vec![put("a", "1"), put("b", "2"), put("n", "3"), put("z", "4")];
    assert!(matches!(h.kv.write(vec![], puts).await, Ok(WriteOutcome::Committed { .. })));
    h.core.gets.lock().unwrap().clear();
    h.core.read_timestamps.lock().unwrap().clear();

    let snapshot = h.kv.get(vec![b("z"), b("a"), b("n"), b("q"), b("b"), b("z")]).await.unwrap();
    assert_eq!(values(&snapshot.states), [Some(b("4")), Some(b("1")), Some(b("3")), None, Some(b("2")), Some(b("4"))]);
    assert_eq!(snapshot.now_ms, 1_001, "the earliest of the ranges' clocks");
    let mut gets = h.core.gets.lock().unwrap().clone();
    gets.sort();
    assert_eq!(gets, [(1, vec![b("a"), b("b")]), (2, vec![b("z"), b("n"), b("q"), b("z")])]);
    let read_ts = h.core.read_timestamps.lock().unwrap().clone();
    assert_eq!(read_ts.len(), 2);
    assert!(read_ts[0] >= ORACLE_START && read_ts[0] == read_ts[1], "one snapshot timestamp: {read_ts:?}");

    // Keys of one range are read at the newest state, with no timestamp.
    h.kv.get(vec![b("a"), b("b")]).await.unwrap();
    assert_eq!(h.core.read_timestamps.lock().unwrap().last(), Some(&0));
}

#[tokio::test]
async fn mutations_across_ranges_commit_in_two_phases_primary_first() {
    let h = harness(two_ranges, two_ranges).await;
    let outcome = h.kv.write(vec![], vec![put("a", "1"), put("z", "2"), put("b", "3"), put("a", "4")]).await.unwrap();
    let WriteOutcome::Committed { commit_ts } = outcome else { panic!("not committed: {outcome:?}") };
    assert!(commit_ts > ORACLE_START, "the commit timestamp comes from the oracle");
    let steps = h.core.steps.lock().unwrap().clone();
    let (prewrites, commits) = steps.split_at(2);
    let mut prewrites = prewrites.to_vec();
    prewrites.sort();
    assert_eq!(prewrites, [("prewrite", 1), ("prewrite", 2)]);
    assert_eq!(commits, [("commit", 1), ("commit", 2)], "the primary's range (first written key) commits first");
    assert!(h.core.writes.lock().unwrap().is_empty(), "no plain writes");
    let data = h.core.data.lock().unwrap();
    assert_eq!(data.get(&b("a")).cloned(), Some((commit_ts, b("4"))), "the last write of a key wins");
    assert_eq!(data.get(&b("z")).cloned(), Some((commit_ts, b("2"))));
    assert_eq!(data.get(&b("b")).cloned(), Some((commit_ts, b("3"))));
}

#[tokio::test]
async fn a_failed_condition_in_one_range_rolls_back_every_prewrite() {
    let h = harness(two_ranges, two_ranges).await;
    let across = vec![Condition { key: b("a"), expected_version: 0 }, Condition { key: b("z"), expected_version: 7 }];
    let outcome = h.kv.write(across, vec![put("a", "1"), put("z", "1")]).await.unwrap();
    assert_eq!(outcome, WriteOutcome::ConditionFailed);
    let steps = h.core.steps.lock().unwrap().clone();
    assert_eq!(steps.iter().filter(|(s, _)| *s == "rollback").count(), 2, "{steps:?}");
    assert!(!steps.iter().any(|(s, _)| *s == "commit"));
    assert!(h.core.data.lock().unwrap().is_empty());
    assert!(h.core.staged.lock().unwrap().is_empty(), "no lock left behind");
}

#[tokio::test]
async fn writes_within_one_range_commit_in_one_phase_above_an_oracle_timestamp() {
    let h = harness(two_ranges, two_ranges).await;
    let mixed = vec![put("a", "1"), put("z", "1"), Mutation::DeleteRange { start: b("c"), end: b("d") }];
    assert!(matches!(h.kv.write(vec![], mixed).await, Err(KvError::Invalid(_))));
    assert!(h.core.writes.lock().unwrap().is_empty(), "nothing reached the core");

    let within = vec![Condition { key: b("a"), expected_version: 0 }];
    let outcome = h.kv.write(within, vec![put("a", "1"), put("b", "2")]).await.unwrap();
    assert_eq!(outcome, WriteOutcome::Committed { commit_ts: 1 });
    assert_eq!(h.core.writes.lock().unwrap().clone(), [(1, vec![b("a"), b("a"), b("b")])]);
    assert!(h.core.min_commit_timestamps.lock().unwrap()[0] >= ORACLE_START);
    assert!(h.core.steps.lock().unwrap().is_empty(), "no transaction steps");
}

#[tokio::test]
async fn a_split_known_only_to_the_catalog_is_waited_for_and_keys_regrouped() {
    let one_range = |addr: &str| vec![range(addr, 1, "", "", 1)];
    let h = harness(one_range, two_ranges).await;
    let snapshot = h.kv.get(vec![b("a"), b("z")]).await.unwrap();
    assert_eq!(snapshot.states.len(), 2);
    assert_eq!(h.kv.router().catalog().version(), 2);
    let gets = h.core.gets.lock().unwrap().clone();
    assert_eq!(gets[0], (1, vec![b("a"), b("z")]), "first sent on the stale route");
    let mut retried = gets[1..].to_vec();
    retried.sort();
    assert_eq!(retried, [(1, vec![b("a")]), (2, vec![b("z")])], "then regrouped by the new table");
    assert_eq!(h.metrics.route_refreshes.get(), 1, "one wait for the catalog");
    assert!(!h.addr.is_empty());
}
