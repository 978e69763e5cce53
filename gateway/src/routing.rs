//! The gateway's view of the core: which range holds a key, who leads it, and how to retry
//! when that view is stale.
//!
//! Each request names the range and epoch it targets. The core answers typed errors — not
//! leader (with a hint), epoch mismatch (with the current descriptor), key not in range,
//! range not found, unavailable — and the router refreshes what it knows and retries within a
//! bounded budget (attempts and time), so a leader change or a stale route costs a retry, not
//! an error to the client.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use strata_proto::core as pb;
use strata_proto::core::kv_client::KvClient;
use tonic::transport::{Channel, Endpoint};

use crate::batcher::Batcher;
use crate::breaker::{Breakers, Leadership, Pass, ProbeGuard, Verdict};
use crate::metrics::GatewayMetrics;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("no core node reachable: {0}")]
    Unavailable(String),
    #[error("core rejected the request: {0}")]
    Rejected(String),
    #[error("{0}")]
    CircuitOpen(String),
}

/// A cached range: its descriptor and the leadership we last heard of.
#[derive(Debug, Clone)]
pub struct Route {
    pub descriptor: pb::RangeDescriptor,
    pub leader: Option<Leadership>,
}

impl Route {
    pub fn contains(&self, key: &[u8]) -> bool {
        let d = &self.descriptor;
        key >= &d.start_key[..] && (d.end_key.is_empty() || key < &d.end_key[..])
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
/// One batch per node and kind at a time: measured on the dev cluster, a second batch in
/// flight only made batches smaller (SET 11.7-12.5k/s with one, 8.9-11.8k/s with two).
const BATCHES_IN_FLIGHT: usize = 1;

pub struct Router {
    seeds: Vec<String>,
    channels: RwLock<HashMap<String, Channel>>,
    batchers: RwLock<HashMap<String, Arc<NodeBatchers>>>,
    /// Nodes whose last call failed in transport, and when: skipped while probing for a
    /// leader so a frozen node does not eat every retry.
    failed: RwLock<HashMap<String, Instant>>,
    /// Ranges sorted by start key.
    routes: RwLock<Vec<Route>>,
    budget: RetryBudget,
    breakers: Breakers,
    metrics: GatewayMetrics,
}

impl Router {
    pub fn new(seeds: Vec<String>, metrics: GatewayMetrics) -> Arc<Self> {
        Arc::new(Self {
            seeds,
            channels: RwLock::default(),
            batchers: RwLock::default(),
            failed: RwLock::default(),
            routes: RwLock::default(),
            budget: RetryBudget::default(),
            breakers: Breakers::new(metrics.breaker_open.clone(), metrics.breaker_trips.clone()),
            metrics,
        })
    }

    pub fn client(&self, addr: &str) -> Result<KvClient<Channel>, RouteError> {
        let cached = self.channels.read().unwrap_or_else(|e| e.into_inner()).get(addr).cloned();
        let ch = match cached {
            Some(ch) => ch,
            None => {
                let ch = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| RouteError::Unavailable(format!("bad core address {addr}: {e}")))?
                    .connect_timeout(Duration::from_millis(500))
                    .tcp_nodelay(true)
                    .connect_lazy();
                self.channels.write().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), ch.clone());
                ch
            }
        };
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

    /// Every core address we know: seeds plus replicas named by descriptors.
    fn known_addrs(&self) -> Vec<String> {
        let mut addrs = self.seeds.clone();
        for route in self.routes.read().unwrap_or_else(|e| e.into_inner()).iter() {
            for r in &route.descriptor.replicas {
                if !addrs.contains(&r.addr) {
                    addrs.push(r.addr.clone());
                }
            }
        }
        addrs
    }

    /// Reloads the route table from any reachable core node.
    pub async fn refresh(&self) -> Result<(), RouteError> {
        self.metrics.route_refreshes.inc();
        let mut last_err = String::from("no core addresses configured");
        for addr in self.known_addrs() {
            let mut client = self.client(&addr)?;
            let request = tonic::Request::new(pb::RangesRequest {});
            match tokio::time::timeout(Duration::from_secs(2), client.ranges(request)).await {
                Ok(Ok(resp)) => {
                    let mut ranges = resp.into_inner().ranges;
                    if ranges.is_empty() {
                        last_err = format!("{addr} hosts no ranges");
                        continue;
                    }
                    ranges.sort_by(|a, b| a.start_key.cmp(&b.start_key));
                    let routes = ranges
                        .into_iter()
                        .map(|d| {
                            let leader = leadership_of(&d);
                            Route { descriptor: d, leader }
                        })
                        .collect();
                    *self.routes.write().unwrap_or_else(|e| e.into_inner()) = routes;
                    return Ok(());
                }
                Ok(Err(status)) => last_err = format!("{addr}: {}", status.message()),
                Err(_) => last_err = format!("{addr}: timed out"),
            }
        }
        Err(RouteError::Unavailable(last_err))
    }

    pub fn routes(&self) -> Vec<Route> {
        self.routes.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The range holding `key`.
    pub fn route_for(&self, key: &[u8]) -> Option<Route> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let idx = routes.partition_point(|r| r.descriptor.start_key[..] <= *key);
        idx.checked_sub(1).and_then(|i| routes.get(i)).filter(|r| r.contains(key)).cloned()
    }

    fn set_leader(&self, range_id: u64, leader: Option<Leadership>) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(route) = routes.iter_mut().find(|r| r.descriptor.range_id == range_id) {
            route.leader = leader;
        }
    }

    /// Updates cached descriptors in place; returns false if one names a range we do not
    /// know (a split created it), in which case the caller reloads the table.
    fn replace_descriptors(&self, current: Vec<pb::RangeDescriptor>) -> bool {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let mut all_known = true;
        for d in current {
            match routes.iter_mut().find(|r| r.descriptor.range_id == d.range_id) {
                Some(route) => {
                    if let Some(leader) = leadership_of(&d) {
                        route.leader = Some(leader);
                    }
                    route.descriptor = d;
                }
                None => all_known = false,
            }
        }
        all_known
    }

    /// Runs `call` against the leader of the range holding `key`, following redirects and
    /// refreshing routes until it succeeds or the retry budget is spent.
    pub async fn with_leader<T, F, Fut>(&self, key: &[u8], method: &'static str, call: F) -> Result<T, RouteError>
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
        for attempt in 0..self.budget.attempts {
            if started.elapsed() > self.budget.time {
                break;
            }
            if attempt > 0 {
                self.metrics.retries.with_label_values(&[method]).inc();
                // Short exponential backoff: elections take a few hundred ms.
                let ms = (10u64 << attempt.min(5)).min(300);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            let route = match self.route_for(key) {
                Some(r) => r,
                None => {
                    if let Err(e) = self.refresh().await {
                        last_problem = e.to_string();
                    }
                    continue;
                }
            };
            let range_id = route.descriptor.range_id;
            let addr = match &route.leader {
                Some(l) => l.addr.clone(),
                None => {
                    // Leader unknown: probe the replicas in turn; a follower answers NotLeader
                    // with the hint we need.
                    let replicas = &route.descriptor.replicas;
                    if replicas.is_empty() {
                        last_problem = "range has no replicas".into();
                        let _ = self.refresh().await;
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
                    self.handle_range_error(&route, &addr, e).await;
                }
                Err(status) => {
                    last_problem = format!("{addr}: {}", status.message());
                    self.metrics.core_transport_errors.inc();
                    if is_retryable(&status) {
                        // Transport failure or timeout: forget this leader, try another replica.
                        self.set_leader(route.descriptor.range_id, None);
                        self.failed.write().unwrap_or_else(|e| e.into_inner()).insert(addr.clone(), Instant::now());
                    } else {
                        return Err(RouteError::Rejected(status.message().to_string()));
                    }
                }
            }
        }
        Err(RouteError::Unavailable(format!("retry budget spent: {last_problem}")))
    }

    async fn handle_range_error(&self, route: &Route, addr: &str, e: pb::RangeError) {
        use pb::range_error::Kind;
        let range_id = route.descriptor.range_id;
        match e.kind {
            Some(Kind::NotLeader(nl)) => {
                let hint = (!nl.leader_addr.is_empty() && nl.leader_addr != addr && nl.leader_node_id != 0)
                    .then_some(Leadership { node_id: nl.leader_node_id, addr: nl.leader_addr, term: nl.leader_term });
                self.set_leader(range_id, hint);
            }
            Some(Kind::EpochNotMatch(m)) => {
                if !self.replace_descriptors(m.current_ranges) {
                    let _ = self.refresh().await;
                }
            }
            Some(Kind::KeyNotInRange(_)) | Some(Kind::RangeNotFound(_)) => {
                let _ = self.refresh().await;
            }
            Some(Kind::Unavailable(_)) | None => self.set_leader(range_id, None),
        }
    }
}

/// Transport-level failures worth another attempt (possibly on another node). Anything else
/// is the core refusing the request itself, and retrying would only repeat the refusal.
fn is_retryable(status: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(status.code(), Unavailable | DeadlineExceeded | Cancelled | Unknown | Aborted | ResourceExhausted)
}

/// The leadership a descriptor names, if it names one.
fn leadership_of(d: &pb::RangeDescriptor) -> Option<Leadership> {
    let addr = d.replicas.iter().find(|r| r.node_id == d.leader_node_id && d.leader_node_id != 0)?.addr.clone();
    Some(Leadership { node_id: d.leader_node_id, addr, term: d.leader_term })
}
