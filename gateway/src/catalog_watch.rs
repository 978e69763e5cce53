//! Keeps the gateway's route table current from the meta leader's `WatchCatalog` stream.
//!
//! The table is swapped whole (`ArcSwap`), so the request path reads it without a lock and
//! always sees one catalog version: a delta batch or a reset becomes visible all at once or
//! not at all. The watcher resumes from the last version it applied whenever the stream
//! breaks; the server decides whether that takes deltas or a reset.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use strata_proto::core as pb;
use strata_proto::core::catalog_client::CatalogClient;
use tokio::sync::watch;
use tonic::transport::Endpoint;
use tonic::{Code, Status};

use crate::metrics::GatewayMetrics;
use crate::route_table::RouteTable;

/// Where a non-leader puts the meta leader's address in its UNAVAILABLE answer.
pub const LEADER_METADATA: &str = "strata-meta-leader";

const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Until the server answers the watch call (it first confirms meta leadership).
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// A watch stream is idle whenever the catalog does not change, so only HTTP/2 pings notice
/// a leader that died without closing its connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Hints followed back to back before backing off: stale hints during an election can
/// point nodes at each other.
const MAX_REDIRECTS_IN_A_ROW: u32 = 3;

pub struct CatalogWatcher {
    seeds: Vec<String>,
    /// Also try replica addresses named by the table once the seeds are exhausted.
    discover: bool,
    table: ArcSwap<RouteTable>,
    applied: watch::Sender<u64>,
    metrics: GatewayMetrics,
}

/// The running watch task; dropping it stops the task.
pub struct WatchTask(tokio::task::JoinHandle<()>);

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How one watch stream ended.
#[derive(Debug)]
enum Outcome {
    /// This node does not lead the meta range; it may have named the one that does.
    Redirected(Option<String>),
    /// The stream could not be opened, broke, ended, or sent something that does not follow
    /// on from our table: resume from the last applied version.
    Ended,
    /// Our cursor is not in the catalog's history (it was rebuilt, or lost deltas): start
    /// again from nothing.
    StartOver,
}

impl CatalogWatcher {
    pub fn new(seeds: Vec<String>, metrics: GatewayMetrics) -> Self {
        Self {
            seeds,
            discover: true,
            table: ArcSwap::from_pointee(RouteTable::empty()),
            applied: watch::channel(0).0,
            metrics,
        }
    }

    /// Only ever connect to the seeds, never to replica addresses learnt from the table.
    pub fn seeds_only(mut self) -> Self {
        self.discover = false;
        self
    }

    /// The table as of the last applied event.
    pub fn current(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// A cheap read of the current table for a lookup; do not hold it across an await.
    pub fn load(&self) -> arc_swap::Guard<Arc<RouteTable>> {
        self.table.load()
    }

    pub fn version(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The version of each table as it is swapped in.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Waits until the applied version is no longer `seen` — normally it moved past it; after
    /// a start-over it may move back — or `timeout` passes. Returns whether it moved.
    pub async fn wait_for_new_table(&self, seen: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        let moved = tokio::time::timeout(timeout, rx.wait_for(|v| *v != seen)).await;
        matches!(moved, Ok(Ok(_)))
    }

    pub fn spawn(self: &Arc<Self>) -> WatchTask {
        WatchTask(tokio::spawn(self.clone().run()))
    }

    /// Swaps `table` in; returns the table it replaced.
    pub(crate) fn publish(&self, table: Arc<RouteTable>) -> Arc<RouteTable> {
        let version = table.version();
        let old = self.table.swap(table);
        self.metrics.catalog_version.set(version as i64);
        self.applied.send_replace(version);
        old
    }

    /// Publishes `table`. A table it does not descend from (`fresh`) shares nothing with the
    /// old one, and freeing a million routes takes a while: not on a runtime thread. Readers
    /// hold a table only for a lookup, so the blocking task is almost always its last owner.
    fn install(&self, table: Arc<RouteTable>, fresh: bool) {
        let old = self.publish(table);
        if fresh && old.len() > 10_000 {
            drop(tokio::task::spawn_blocking(move || drop(old)));
        }
    }

    async fn run(self: Arc<Self>) {
        // What deltas apply to: the published table, or an empty one after a start-over
        // (the published table keeps serving until the new history arrives).
        let mut base = self.current();
        let mut backoff = INITIAL_BACKOFF;
        let mut next: Option<String> = None;
        let mut round: Vec<String> = Vec::new();
        let mut redirects = 0;
        let mut first = true;
        loop {
            let addr = match next.take() {
                Some(addr) => addr,
                None => {
                    if round.is_empty() {
                        round = self.candidates().await;
                        round.reverse();
                    }
                    match round.pop() {
                        Some(addr) => addr,
                        None => {
                            tracing::warn!("no core addresses to watch the catalog from");
                            tokio::time::sleep(MAX_BACKOFF).await;
                            continue;
                        }
                    }
                }
            };
            if !std::mem::take(&mut first) {
                self.metrics.catalog_reconnects.inc();
            }
            let from_version = base.version();
            let mut progressed = false;
            let outcome = self.follow(&addr, &mut base, &mut progressed).await;
            tracing::debug!(%addr, from_version, ?outcome, progressed, "catalog watch stream ended");
            if progressed {
                backoff = INITIAL_BACKOFF;
                redirects = 0;
            }
            match outcome {
                Outcome::Redirected(Some(leader)) if leader != addr && redirects < MAX_REDIRECTS_IN_A_ROW => {
                    redirects += 1;
                    next = Some(leader);
                    continue;
                }
                Outcome::Redirected(_) => redirects = 0,
                // The node was serving us: it most likely still leads the meta range.
                Outcome::Ended if progressed => next = Some(addr),
                Outcome::Ended => {}
                Outcome::StartOver => {
                    tracing::warn!(%addr, version = base.version(), "catalog cursor not in the catalog's history; resyncing");
                    base = Arc::new(RouteTable::empty());
                    next = Some(addr);
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Seeds first, then (if allowed) every other replica address the table names.
    pub(crate) async fn candidates(&self) -> Vec<String> {
        let mut addrs = self.seeds.clone();
        if self.discover {
            let table = self.current();
            // A full pass over a big table is too slow for a runtime thread.
            let seen = tokio::task::spawn_blocking(move || {
                let mut seen = HashSet::new();
                for d in table.iter() {
                    for r in &d.replicas {
                        if !seen.contains(r.addr.as_str()) {
                            seen.insert(r.addr.clone());
                        }
                    }
                }
                seen
            })
            .await
            .unwrap_or_default();
            let mut extra: Vec<String> = seen.into_iter().filter(|a| !addrs.contains(a)).collect();
            extra.sort();
            addrs.extend(extra);
        }
        addrs
    }

    /// Follows one watch stream from `addr` for as long as it lasts; `progressed` tells
    /// whether it applied anything.
    async fn follow(&self, addr: &str, base: &mut Arc<RouteTable>, progressed: &mut bool) -> Outcome {
        let mut stream = match self.open(addr, base.version()).await {
            Ok(stream) => stream,
            Err(status) => return outcome_of(addr, &status),
        };
        // A reset under construction: chunks accumulate here and are published at `last`.
        let mut pending: Option<RouteTable> = None;
        loop {
            let event = match stream.message().await {
                Ok(Some(event)) => event,
                Ok(None) => return Outcome::Ended,
                Err(status) => return outcome_of(addr, &status),
            };
            match event.kind {
                Some(pb::catalog_event::Kind::Deltas(batch)) => {
                    if pending.is_some() {
                        tracing::warn!(%addr, "catalog deltas arrived in the middle of a reset");
                        return Outcome::Ended;
                    }
                    if batch.deltas.is_empty() {
                        continue;
                    }
                    match base.apply(&batch.deltas) {
                        Ok(next) => {
                            // After a start-over the new history does not descend from the
                            // published table.
                            let fresh = !Arc::ptr_eq(&self.table.load(), base);
                            *base = Arc::new(next);
                            self.install(base.clone(), fresh);
                            self.metrics.catalog_deltas_applied.inc_by(batch.deltas.len() as u64);
                            *progressed = true;
                        }
                        Err(e) => {
                            // Resuming from our version makes the server send what we lack
                            // (or a reset).
                            tracing::warn!(%addr, error = %e, "catalog delta batch rejected");
                            return Outcome::Ended;
                        }
                    }
                }
                Some(pb::catalog_event::Kind::Reset(chunk)) => {
                    let mut building = pending.take().unwrap_or_else(|| RouteTable::from_reset(chunk.version, []));
                    if building.version() != chunk.version {
                        tracing::warn!(%addr, "catalog reset chunks disagree on the version");
                        return Outcome::Ended;
                    }
                    // Inserting 10,000 ranges is too much work for a runtime thread.
                    let Ok(built) = tokio::task::spawn_blocking(move || {
                        building.extend(chunk.ranges);
                        building
                    })
                    .await
                    else {
                        return Outcome::Ended;
                    };
                    if chunk.last {
                        tracing::info!(%addr, version = built.version(), routes = built.len(), "catalog reset applied");
                        *base = Arc::new(built);
                        self.install(base.clone(), true);
                        self.metrics.catalog_resets.inc();
                        *progressed = true;
                    } else {
                        pending = Some(built);
                    }
                }
                None => {}
            }
        }
    }

    async fn open(&self, addr: &str, from_version: u64) -> Result<tonic::Streaming<pb::CatalogEvent>, Status> {
        let dial = strata_proto::test_hooks::dial_address(addr);
        let endpoint = Endpoint::from_shared(format!("http://{dial}"))
            .map_err(|e| Status::invalid_argument(format!("bad core address {addr}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let open = async {
            let channel = endpoint.connect().await.map_err(|e| Status::unavailable(format!("{addr}: {e}")))?;
            let mut client = CatalogClient::new(channel).max_decoding_message_size(usize::MAX);
            let request = pb::WatchCatalogRequest { from_version, max_batch: 0 };
            Ok(client.watch_catalog(request).await?.into_inner())
        };
        tokio::time::timeout(OPEN_TIMEOUT, open).await.unwrap_or_else(|_| Err(Status::deadline_exceeded("timed out")))
    }
}

fn outcome_of(addr: &str, status: &Status) -> Outcome {
    match status.code() {
        Code::Unavailable => Outcome::Redirected(
            status.metadata().get(LEADER_METADATA).and_then(|v| v.to_str().ok()).map(str::to_string),
        ),
        Code::OutOfRange | Code::DataLoss => Outcome::StartOver,
        _ => {
            tracing::debug!(%addr, error = %status, "catalog watch failed");
            Outcome::Ended
        }
    }
}

#[cfg(test)]
mod tests;
