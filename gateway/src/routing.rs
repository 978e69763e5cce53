//! The gateway's view of the core: which range holds a key, who leads it, and how to retry
//! when that view is stale.
//!
//! Each request names the range and epoch it targets. The core answers typed errors — not
//! leader (with a hint), epoch mismatch (with the current descriptor), key not in range,
//! range not found, unavailable — and the router retries within a bounded budget (attempts
//! and time), so a leader change or a stale route costs a retry, not an error to the client.
//!
//! Descriptors come only from the catalog watch ([`CatalogWatcher`]): after a routing error
//! the router waits (briefly) for the catalog to move past the version it used. Leadership
//! moves faster than the catalog hears of it, so the router keeps its own overlay of leaders
//! learnt from the core's answers; whichever of the two names the later term wins.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_proto::core as pb;
use strata_proto::core::kv_client::KvClient;
use tonic::transport::{Channel, Endpoint};

use crate::batcher::Batcher;
use crate::breaker::{Breakers, Leadership, Pass, ProbeGuard, Verdict};
use crate::catalog_watch::CatalogWatcher;
use crate::metrics::GatewayMetrics;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("no core node reachable: {0}")]
    Unavailable(String),
    #[error("core rejected the request: {0}")]
    Rejected(String),
    #[error("{0}")]
    CircuitOpen(String),
    /// Keys that were to go to one range no longer do (the range split): the caller regroups
    /// them against the current table.
    #[error("the keys no longer fall in one range")]
    SpansRanges,
}

/// A range from the catalog and the leadership we believe it has.
#[derive(Debug, Clone)]
pub struct Route {
    pub descriptor: Arc<pb::RangeDescriptor>,
    pub leader: Option<Leadership>,
}

pub fn range_contains(d: &pb::RangeDescriptor, key: &[u8]) -> bool {
    key >= &d.start_key[..] && (d.end_key.is_empty() || key < &d.end_key[..])
}

impl Route {
    pub fn contains(&self, key: &[u8]) -> bool {
        range_contains(&self.descriptor, key)
    }

    pub fn leader_addr(&self) -> Option<&str> {
        self.leader.as_ref().map(|l| l.addr.as_str())
    }

    pub fn header(&self) -> pb::RequestHeader {
        pb::RequestHeader { range_id: self.descriptor.range_id, epoch: self.descriptor.epoch }
    }
}

/// What a core call returned, stripped of the routing outcome.
pub enum Attempt<T> {
    Done(T),
    RangeError(pb::RangeError),
}

impl<T> Attempt<T> {
    /// A response whose `range_error` is set is a routing failure, not a result.
    pub fn from_response(range_error: Option<pb::RangeError>, response: T) -> Self {
        match range_error {
            Some(e) => Attempt::RangeError(e),
            None => Attempt::Done(response),
        }
    }
}

pub struct RetryBudget {
    pub attempts: usize,
    pub time: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self { attempts: 60, time: Duration::from_secs(15) }
    }
}

/// Per core node: batchers for the hot unary calls.
struct NodeBatchers {
    get: Batcher<pb::GetRequest, pb::GetResponse>,
    write: Batcher<pb::WriteRequest, pb::WriteResponse>,
}

const MAX_BATCH: usize = 256;
/// How long one batch may wait for a core node. A frozen or partitioned leader keeps the TCP
/// connection open but never answers; after this the router tries another replica (retrying
/// is safe: writes carry request ids).
pub const CORE_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a node that failed in transport is skipped while probing for a leader.
const SUSPECT_FOR: Duration = Duration::from_secs(5);
/// How long a request waits for the catalog to move after a routing error before it retries
/// anyway.
const ROUTE_WAIT: Duration = Duration::from_secs(1);
/// Overlay entries worth a sweep for ones the catalog has caught up with.
const OVERLAY_SWEEP_AT: usize = 4096;
/// One batch per node and kind at a time: measured on the dev cluster, a second batch in
/// flight only made batches smaller (SET 11.7-12.5k/s with one, 8.9-11.8k/s with two).
const BATCHES_IN_FLIGHT: usize = 1;

/// Leadership of one range learnt from the core's answers. `leader: None` means "not known,
/// and whatever was known up to `term` is wrong" (its node failed or disowned it).
#[derive(Debug, Clone)]
struct LeaderNote {
    term: u64,
    leader: Option<Leadership>,
}

pub struct Router {
    channels: RwLock<HashMap<String, Channel>>,
    batchers: RwLock<HashMap<String, Arc<NodeBatchers>>>,
    /// Nodes whose last call failed in transport, and when: skipped while probing for a
    /// leader so a frozen node does not eat every retry.
    failed: RwLock<HashMap<String, Instant>>,
    catalog: Arc<CatalogWatcher>,
    /// Per range id; see [`LeaderNote`].
    leaders: RwLock<HashMap<u64, LeaderNote>>,
    budget: RetryBudget,
    breakers: Breakers,
    metrics: GatewayMetrics,
    /// Bounded-staleness reads in flight per core node, to spread them over replicas.
    stale_in_flight: std::sync::Mutex<HashMap<String, usize>>,
    /// Rotates the choice among equally loaded replicas.
    stale_turn: std::sync::atomic::AtomicUsize,
}

/// Counts one bounded-staleness read in flight on a node until dropped.
pub struct InFlight<'r> {
    router: &'r Router,
    addr: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut loads = self.router.stale_in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = loads.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Router {
    pub fn new(seeds: Vec<String>, metrics: GatewayMetrics) -> Arc<Self> {
        let catalog = Arc::new(CatalogWatcher::new(seeds, metrics.clone()));
        Self::with_catalog(catalog, metrics)
    }

    /// A router fed by `catalog`, which the caller starts.
    pub fn with_catalog(catalog: Arc<CatalogWatcher>, metrics: GatewayMetrics) -> Arc<Self> {
        Arc::new(Self {
            channels: RwLock::default(),
            batchers: RwLock::default(),
            failed: RwLock::default(),
            catalog,
            leaders: RwLock::default(),
            budget: RetryBudget::default(),
            breakers: Breakers::new(metrics.breaker_open.clone(), metrics.breaker_trips.clone()),
            metrics,
            stale_in_flight: Default::default(),
            stale_turn: Default::default(),
        })
    }

    /// The (lazily connected, shared) channel to a core node.
    pub fn channel(&self, addr: &str) -> Result<Channel, RouteError> {
        let cached = self.channels.read().unwrap_or_else(|e| e.into_inner()).get(addr).cloned();
        Ok(match cached {
            Some(ch) => ch,
            None => {
                let dial = strata_proto::test_hooks::dial_address(addr);
                let ch = Endpoint::from_shared(format!("http://{dial}"))
                    .map_err(|e| RouteError::Unavailable(format!("bad core address {addr}: {e}")))?
                    .connect_timeout(Duration::from_millis(500))
                    .tcp_nodelay(true)
                    .connect_lazy();
                self.channels.write().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), ch.clone());
                ch
            }
        })
    }

    pub fn client(&self, addr: &str) -> Result<KvClient<Channel>, RouteError> {
        let ch = self.channel(addr)?;
        Ok(KvClient::new(ch).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX))
    }

    fn batchers(&self, addr: &str) -> Result<Arc<NodeBatchers>, RouteError> {
        if let Some(b) = self.batchers.read().unwrap_or_else(|e| e.into_inner()).get(addr) {
            return Ok(b.clone());
        }
        let client = self.client(addr)?;
        let get_client = client.clone();
        let rpcs = self.metrics.core_rpcs.with_label_values(&[addr]);
        let get_rpcs = rpcs.clone();
        let get = Batcher::start(
            move |requests| {
                let mut client = get_client.clone();
                get_rpcs.inc();
                async move {
                    let mut request = tonic::Request::new(pb::BatchGetRequest { requests });
                    request.set_timeout(CORE_CALL_TIMEOUT);
                    Ok(client.batch_get(request).await?.into_inner().responses)
                }
            },
            MAX_BATCH,
            BATCHES_IN_FLIGHT,
        );
        let write = Batcher::start(
            move |requests| {
                let mut client = client.clone();
                rpcs.inc();
                async move {
                    let mut request = tonic::Request::new(pb::BatchWriteRequest { requests });
                    request.set_timeout(CORE_CALL_TIMEOUT);
                    Ok(client.batch_write(request).await?.into_inner().responses)
                }
            },
            MAX_BATCH,
            BATCHES_IN_FLIGHT,
        );
        let batchers = Arc::new(NodeBatchers { get, write });
        let mut all = self.batchers.write().unwrap_or_else(|e| e.into_inner());
        Ok(all.entry(addr.to_string()).or_insert(batchers).clone())
    }

    /// A Get sent to `addr` in the next batch.
    pub async fn batched_get(&self, addr: &str, request: pb::GetRequest) -> Result<pb::GetResponse, tonic::Status> {
        let batchers = self.batchers(addr).map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        batchers.get.call(request).await
    }

    /// A Write sent to `addr` in the next batch.
    pub async fn batched_write(
        &self,
        addr: &str,
        request: pb::WriteRequest,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let batchers = self.batchers(addr).map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        batchers.write.call(request).await
    }

    pub fn metrics(&self) -> &GatewayMetrics {
        &self.metrics
    }

    pub fn catalog(&self) -> &Arc<CatalogWatcher> {
        &self.catalog
    }

    /// Every range of the current table, in key order.
    pub fn routes(&self) -> Vec<Route> {
        let table = self.catalog.current();
        let leaders = self.leaders.read().unwrap_or_else(|e| e.into_inner());
        table.iter().map(|d| Route { descriptor: d.clone(), leader: effective_leader(d, &leaders) }).collect()
    }

    /// The range holding `key`.
    pub fn route_for(&self, key: &[u8]) -> Option<Route> {
        let descriptor = self.catalog.load().lookup(key)?;
        Some(self.route(descriptor))
    }

    fn route(&self, descriptor: Arc<pb::RangeDescriptor>) -> Route {
        let leaders = self.leaders.read().unwrap_or_else(|e| e.into_inner());
        Route { leader: effective_leader(&descriptor, &leaders), descriptor }
    }

    /// The replicas of `route` in the order a bounded-staleness read should try them: nodes
    /// that failed recently last, then the fewest reads in flight first, ties rotated so
    /// that an idle gateway still spreads its reads over every replica.
    pub fn stale_read_order(&self, route: &Route) -> Vec<String> {
        let replicas = &route.descriptor.replicas;
        if replicas.is_empty() {
            return Vec::new();
        }
        let turn = self.stale_turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let failed = self.failed.read().unwrap_or_else(|e| e.into_inner());
        let loads = self.stale_in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let mut order: Vec<(bool, usize, usize, String)> = replicas
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let suspect = failed.get(&r.addr).is_some_and(|t| t.elapsed() <= SUSPECT_FOR);
                let load = loads.get(&r.addr).copied().unwrap_or(0);
                let rotation = (i + replicas.len() - turn % replicas.len()) % replicas.len();
                (suspect, load, rotation, r.addr.clone())
            })
            .collect();
        order.sort();
        order.into_iter().map(|(_, _, _, addr)| addr).collect()
    }

    /// Marks a bounded-staleness read in flight on `addr` until the guard drops.
    pub fn stale_read_started(&self, addr: &str) -> InFlight<'_> {
        *self.stale_in_flight.lock().unwrap_or_else(|e| e.into_inner()).entry(addr.to_string()).or_default() += 1;
        InFlight { router: self, addr: addr.to_string() }
    }

    /// Remembers that `addr` failed in transport, so reads avoid it for a while.
    pub fn mark_failed(&self, addr: &str) {
        self.metrics.core_transport_errors.inc();
        self.failed.write().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), Instant::now());
    }

    /// Records what the core told us about a range's leader, unless we already know of a
    /// later term.
    fn note_leader(&self, range_id: u64, term: u64, leader: Option<Leadership>) {
        let mut leaders = self.leaders.write().unwrap_or_else(|e| e.into_inner());
        if leaders.get(&range_id).is_some_and(|n| n.term > term) {
            return;
        }
        leaders.insert(range_id, LeaderNote { term, leader });
        // Notes the catalog has caught up with only cost memory. Sweeping at powers of two
        // keeps the cost amortised.
        if leaders.len() >= OVERLAY_SWEEP_AT && leaders.len().is_power_of_two() {
            let table = self.catalog.load();
            leaders.retain(|id, note| table.get(*id).is_some_and(|d| note.term >= d.leader_term));
        }
    }

    /// Gives up on the leadership `route` was sent to: unknown from `term` (at least that
    /// leadership's term) until someone names a leader.
    fn forget_leader(&self, route: &Route, term: u64) {
        let used = route.leader.as_ref().map_or(route.descriptor.leader_term, |l| l.term);
        self.note_leader(route.descriptor.range_id, term.max(used), None);
    }

    /// Waits for the catalog to move past `seen`, within the request's time budget.
    async fn wait_for_table(&self, seen: u64, started: Instant) -> bool {
        self.metrics.route_refreshes.inc();
        let left = self.budget.time.saturating_sub(started.elapsed());
        self.catalog.wait_for_new_table(seen, ROUTE_WAIT.min(left)).await
    }

    /// Runs `call` against the leader of the range holding `key`, following redirects and
    /// waiting for newer routes until it succeeds or the retry budget is spent.
    pub async fn with_leader<T, F, Fut>(&self, key: &[u8], method: &'static str, call: F) -> Result<T, RouteError>
    where
        F: Fn(String, Route) -> Fut,
        Fut: std::future::Future<Output = Result<Attempt<T>, tonic::Status>>,
    {
        self.with_range(key, &[], method, call).await
    }

    /// Like [`Router::with_leader`] for a request that also carries `together`: if the range
    /// holding `key` no longer holds all of them, fails with [`RouteError::SpansRanges`]
    /// before calling the core.
    pub async fn with_range<T, F, Fut>(
        &self,
        key: &[u8],
        together: &[Bytes],
        method: &'static str,
        call: F,
    ) -> Result<T, RouteError>
    where
        F: Fn(String, Route) -> Fut,
        Fut: std::future::Future<Output = Result<Attempt<T>, tonic::Status>>,
    {
        let started = Instant::now();
        let mut last_problem = String::new();
        let mut tried: usize = 0;
        // Set once this request tripped a range's breaker: it then owns recovery (waits out
        // the backoff and probes) while other requests fail fast.
        let mut owns_recovery = false;
        // Set when the table moved since the last attempt: the retry has news, no need to pause.
        let mut table_moved = false;
        for attempt in 0..self.budget.attempts {
            if started.elapsed() > self.budget.time {
                break;
            }
            if attempt > 0 {
                self.metrics.retries.with_label_values(&[method]).inc();
                if !std::mem::take(&mut table_moved) {
                    // Short exponential backoff: elections take a few hundred ms.
                    let ms = (10u64 << attempt.min(5)).min(300);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            // The table is read once per attempt and not held across the call.
            let (version, descriptor) = {
                let table = self.catalog.load();
                (table.version(), table.lookup(key))
            };
            let Some(descriptor) = descriptor else {
                last_problem = format!("no route for the key in catalog version {version}");
                table_moved = self.wait_for_table(version, started).await;
                continue;
            };
            if together.iter().any(|k| !range_contains(&descriptor, k)) {
                return Err(RouteError::SpansRanges);
            }
            let route = self.route(descriptor);
            let range_id = route.descriptor.range_id;
            let addr = match &route.leader {
                Some(l) => l.addr.clone(),
                None => {
                    // Leader unknown: probe the replicas in turn; a follower answers NotLeader
                    // with the hint we need.
                    let replicas = &route.descriptor.replicas;
                    if replicas.is_empty() {
                        last_problem = "range has no replicas".into();
                        table_moved = self.wait_for_table(version, started).await;
                        continue;
                    }
                    let failed = self.failed.read().unwrap_or_else(|e| e.into_inner());
                    let healthy: Vec<&String> = replicas
                        .iter()
                        .map(|r| &r.addr)
                        .filter(|a| failed.get(*a).is_none_or(|t| t.elapsed() > SUSPECT_FOR))
                        .collect();
                    tried += 1;
                    match healthy.is_empty() {
                        true => replicas[tried % replicas.len()].addr.clone(),
                        false => healthy[tried % healthy.len()].clone(),
                    }
                }
            };
            let leadership = route.leader.clone();
            let pass = match &leadership {
                None => Pass::Normal,
                Some(l) => match self.breakers.admit(range_id, l) {
                    Ok(pass) => pass,
                    Err(wait) if owns_recovery => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(wait) => {
                        self.metrics.breaker_rejections.inc();
                        return Err(RouteError::CircuitOpen(format!(
                            "leader {} of range {range_id} (term {}) is failing; circuit open, retry in {} ms",
                            l.addr,
                            l.term,
                            wait.as_millis()
                        )));
                    }
                },
            };
            if pass == Pass::Probe {
                owns_recovery = true;
            }
            let mut probe = leadership.as_ref().map(|l| ProbeGuard::new(&self.breakers, range_id, l, pass));
            let result = call(addr.clone(), route.clone()).await;
            if let (Some(l), Some(guard)) = (&leadership, probe.as_mut()) {
                guard.disarm();
                let verdict = match &result {
                    Ok(Attempt::Done(_)) => Verdict::Answered,
                    Ok(Attempt::RangeError(e)) => match e.kind {
                        Some(pb::range_error::Kind::NotLeader(_)) | Some(pb::range_error::Kind::Unavailable(_)) => {
                            Verdict::LeadershipFailure
                        }
                        _ => Verdict::Answered,
                    },
                    Err(status) if is_retryable(status) => Verdict::LeadershipFailure,
                    Err(_) => Verdict::Answered,
                };
                if self.breakers.record(range_id, l, pass, verdict) {
                    owns_recovery = true;
                }
            }
            match result {
                Ok(Attempt::Done(v)) => {
                    self.failed.write().unwrap_or_else(|e| e.into_inner()).remove(&addr);
                    return Ok(v);
                }
                Ok(Attempt::RangeError(e)) => {
                    last_problem = format!("{e:?}");
                    if self.handle_range_error(&route, &addr, e) {
                        table_moved = self.wait_for_table(version, started).await;
                    }
                }
                Err(status) => {
                    last_problem = format!("{addr}: {}", status.message());
                    self.metrics.core_transport_errors.inc();
                    if is_retryable(&status) {
                        // Transport failure or timeout: forget this leader, try another replica.
                        self.forget_leader(&route, 0);
                        self.failed.write().unwrap_or_else(|e| e.into_inner()).insert(addr.clone(), Instant::now());
                    } else {
                        return Err(RouteError::Rejected(status.message().to_string()));
                    }
                }
            }
        }
        Err(RouteError::Unavailable(format!("retry budget spent: {last_problem}")))
    }

    /// Learns what a routing error teaches; returns whether the route itself is stale, so
    /// the retry should wait for a newer catalog.
    fn handle_range_error(&self, route: &Route, addr: &str, e: pb::RangeError) -> bool {
        use pb::range_error::Kind;
        match e.kind {
            Some(Kind::NotLeader(nl)) => {
                if !nl.leader_addr.is_empty() && nl.leader_addr != addr && nl.leader_node_id != 0 {
                    let leader = Leadership { node_id: nl.leader_node_id, addr: nl.leader_addr, term: nl.leader_term };
                    self.note_leader(route.descriptor.range_id, leader.term, Some(leader));
                } else {
                    self.forget_leader(route, nl.leader_term);
                }
                false
            }
            Some(Kind::EpochNotMatch(m)) => {
                // Descriptors come from the catalog only, but their leaders are fresh news.
                for d in &m.current_ranges {
                    if let Some(leader) = leadership_of(d) {
                        self.note_leader(d.range_id, leader.term, Some(leader));
                    }
                }
                true
            }
            Some(Kind::KeyNotInRange(_)) | Some(Kind::RangeNotFound(_)) => true,
            Some(Kind::Unavailable(_)) | None => {
                self.forget_leader(route, 0);
                false
            }
            // Only bounded-staleness reads get it, and they never go through this loop.
            Some(Kind::StaleReplica(_)) => false,
        }
    }
}

/// Transport-level failures worth another attempt (possibly on another node). Anything else
/// is the core refusing the request itself, and retrying would only repeat the refusal.
fn is_retryable(status: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(status.code(), Unavailable | DeadlineExceeded | Cancelled | Unknown | Aborted | ResourceExhausted)
}

/// The leader of `d`: the catalog's or the overlay's, whichever names the later term (the
/// overlay on a tie, as it heard from the core directly).
fn effective_leader(d: &pb::RangeDescriptor, leaders: &HashMap<u64, LeaderNote>) -> Option<Leadership> {
    let catalog = leadership_of(d);
    match leaders.get(&d.range_id) {
        Some(note) if note.term >= catalog.as_ref().map_or(0, |l| l.term) => note.leader.clone(),
        _ => catalog,
    }
}

/// The leadership a descriptor names, if it names one.
fn leadership_of(d: &pb::RangeDescriptor) -> Option<Leadership> {
    let addr = d.replicas.iter().find(|r| r.node_id == d.leader_node_id && d.leader_node_id != 0)?.addr.clone();
    Some(Leadership { node_id: d.leader_node_id, addr, term: d.leader_term })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::route_table::RouteTable;

    fn range(id: u64, start: &str, end: &str, leader_term: u64) -> pb::RangeDescriptor {
        pb::RangeDescriptor {
            range_id: id,
            start_key: Bytes::from(start.to_string()),
            end_key: Bytes::from(end.to_string()),
            epoch: Some(pb::RangeEpoch { version: 1, conf_version: 1 }),
            replicas: vec![pb::Replica { node_id: 1, addr: "127.0.0.1:1".into() }],
            leader_node_id: 1,
            leader_term,
        }
    }

    fn leader_of(router: &Router, key: &str) -> Option<(u64, u64)> {
        router.route_for(key.as_bytes()).unwrap().leader.map(|l| (l.node_id, l.term))
    }

    #[test]
    fn the_later_term_wins_between_catalog_and_overlay() {
        let metrics = GatewayMetrics::new();
        let catalog = Arc::new(CatalogWatcher::new(vec![], metrics.clone()));
        let router = Router::with_catalog(catalog.clone(), metrics);
        catalog.publish(Arc::new(RouteTable::from_reset(1, [range(1, "", "m", 1), range(2, "m", "", 1)])));
        assert_eq!(leader_of(&router, "a"), Some((1, 1)), "the catalog's leader");

        let newer = Leadership { node_id: 2, addr: "127.0.0.1:2".into(), term: 3 };
        router.note_leader(1, 3, Some(newer));
        assert_eq!(leader_of(&router, "a"), Some((2, 3)), "the core named a newer leader");
        assert_eq!(leader_of(&router, "z"), Some((1, 1)), "other ranges are untouched");
        router.note_leader(1, 2, None);
        assert_eq!(leader_of(&router, "a"), Some((2, 3)), "a stale note changes nothing");

        catalog.publish(Arc::new(RouteTable::from_reset(2, [range(1, "", "m", 4), range(2, "m", "", 1)])));
        assert_eq!(leader_of(&router, "a"), Some((1, 4)), "the catalog caught up with a later term");

        let route = router.route_for(b"a").unwrap();
        router.forget_leader(&route, 0);
        assert_eq!(leader_of(&router, "a"), None, "a failed leadership is forgotten until someone names one");
        let same_term = Leadership { node_id: 3, addr: "127.0.0.1:3".into(), term: 4 };
        router.note_leader(1, 4, Some(same_term));
        assert_eq!(leader_of(&router, "a"), Some((3, 4)), "the overlay wins a tie");
        assert_eq!(router.routes().iter().map(|r| r.descriptor.range_id).collect::<Vec<_>>(), [1, 2]);
    }
}
