//! `CoreKv` over a router against an in-process fake of the core's `Kv` service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use strata_proto::core as pb;
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
                    expire_at_ms: 0,
                },
                None => pb::KeyState { key: k.clone(), ..Default::default() },
            })
            .collect();
        pb::GetResponse { range_error: None, states, now_ms: 1_000 + range_id }
    }

    fn write_one(&self, req: pb::WriteRequest) -> pb::WriteResponse {
        let range_id = req.header.unwrap_or_default().range_id;
        let mut keys: Vec<Bytes> = req.conditions.iter().map(|c| c.key.clone()).collect();
        for m in &req.mutations {
            match &m.op {
                Some(pb::mutation::Op::Put(p)) => keys.push(p.key.clone()),
                Some(pb::mutation::Op::Delete(d)) => keys.push(d.key.clone()),
                _ => {}
            }
        }
        self.writes.lock().unwrap().push((range_id, keys.clone()));
        if let Some(e) = self.check(req.header, &keys) {
            return pb::WriteResponse { range_error: Some(e), ..Default::default() };
        }
        let mut data = self.data.lock().unwrap();
        let holds = |c: &pb::Condition| data.get(&c.key).map_or(0, |(v, _)| *v) == c.expected_version;
        if !req.conditions.iter().all(holds) {
            return pb::WriteResponse { condition_failed: true, ..Default::default() };
        }
        let mut clock = self.clock.lock().unwrap();
        *clock += 1;
        for m in req.mutations {
            match m.op {
                Some(pb::mutation::Op::Put(p)) => {
                    data.insert(p.key, (*clock, p.value));
                }
                Some(pb::mutation::Op::Delete(d)) => {
                    data.remove(&d.key);
                }
                _ => {}
            }
        }
        pb::WriteResponse { range_error: None, condition_failed: false, commit_ts: *clock }
    }
}

struct Shared(Arc<FakeCore>);

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
}

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
    let catalog = Arc::new(CatalogWatcher::new(vec![], metrics.clone()).seeds_only());
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
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(KvServer::new(Shared(core.clone())))
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
async fn a_multi_key_get_reads_each_range_once_and_keeps_key_order() {
    let h = harness(two_ranges, two_ranges).await;
    let puts = vec![put("a", "1"), put("b", "2"), put("n", "3"), put("z", "4")];
    assert!(matches!(h.kv.write(vec![], puts).await, Ok(WriteOutcome::Committed { .. })));
    h.core.gets.lock().unwrap().clear();

    let snapshot = h.kv.get(vec![b("z"), b("a"), b("n"), b("q"), b("b"), b("z")]).await.unwrap();
    assert_eq!(values(&snapshot.states), [Some(b("4")), Some(b("1")), Some(b("3")), None, Some(b("2")), Some(b("4"))]);
    assert_eq!(snapshot.now_ms, 1_001, "the earliest of the ranges' clocks");
    let mut gets = h.core.gets.lock().unwrap().clone();
    gets.sort();
    assert_eq!(gets, [(1, vec![b("a"), b("b")]), (2, vec![b("z"), b("n"), b("q"), b("z")])]);
}

#[tokio::test]
async fn unconditional_mutations_across_ranges_split_into_one_write_per_range() {
    let h = harness(two_ranges, two_ranges).await;
    let outcome = h.kv.write(vec![], vec![put("a", "1"), put("z", "2"), put("b", "3"), put("a", "4")]).await.unwrap();
    let mut writes = h.core.writes.lock().unwrap().clone();
    writes.sort();
    assert_eq!(writes, [(1, vec![b("a"), b("b"), b("a")]), (2, vec![b("z")])]);
    assert_eq!(outcome, WriteOutcome::Committed { commit_ts: 2 }, "the later of the two commits");
    let data = h.core.data.lock().unwrap();
    assert_eq!(data.get(&b("a")).map(|(_, v)| v.clone()), Some(b("4")), "order within a range is kept");
    assert!(data.contains_key(&b("z")));
}

#[tokio::test]
async fn conditional_writes_across_ranges_are_refused_and_within_one_range_are_atomic() {
    let h = harness(two_ranges, two_ranges).await;
    let across = vec![Condition { key: b("a"), expected_version: 0 }, Condition { key: b("z"), expected_version: 0 }];
    assert_eq!(h.kv.write(across, vec![put("a", "1"), put("z", "1")]).await, Err(KvError::CrossRange));
    let unconditioned_but_with_a_range_delete =
        vec![put("a", "1"), put("z", "1"), Mutation::DeleteRange { start: b("c"), end: b("d") }];
    assert_eq!(h.kv.write(vec![], unconditioned_but_with_a_range_delete).await, Err(KvError::CrossRange));
    assert!(h.core.writes.lock().unwrap().is_empty(), "nothing reached the core");

    let within = vec![Condition { key: b("a"), expected_version: 0 }];
    let outcome = h.kv.write(within, vec![put("a", "1"), put("b", "2")]).await.unwrap();
    assert_eq!(outcome, WriteOutcome::Committed { commit_ts: 1 });
    assert_eq!(h.core.writes.lock().unwrap().clone(), [(1, vec![b("a"), b("a"), b("b")])]);
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
