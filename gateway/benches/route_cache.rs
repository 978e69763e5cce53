//! The gateway's route cache at a million ranges: lookup latency, memory per route, the cost
//! of applying delta batches (which must not depend on the catalog's size), and the time a
//! watcher takes to sync a full catalog from an in-process `Catalog` server.
//!
//! Run with `cargo bench -p strata-gateway --bench route_cache`.

use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use rand::Rng;
use strata_gateway::catalog_watch::CatalogWatcher;
use strata_gateway::metrics::GatewayMetrics;
use strata_gateway::route_table::RouteTable;
use strata_proto::core as pb;
use strata_proto::core::catalog_server::{Catalog, CatalogServer};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

const SMALL: u64 = 1_000;

/// The catalog size measured: 1M under `cargo bench`, a small smoke run under `cargo test`
/// (which runs bench targets without `--bench`), so the test suite stays quick.
fn catalog_size() -> u64 {
    static ROUTES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ROUTES.get_or_init(|| if std::env::args().any(|a| a == "--bench") { 1_000_000 } else { 20_000 })
}
const RESET_CHUNK: u64 = 10_000;

fn key(i: u64) -> Bytes {
    Bytes::from(format!("user:{i:08}"))
}

/// Range `i` of `n`: `[user:i, user:i+1)`, the first starting at the beginning of the
/// keyspace and the last running to its end. Ids start at 1.
fn range(i: u64, n: u64) -> pb::RangeDescriptor {
    pb::RangeDescriptor {
        range_id: i + 1,
        start_key: if i == 0 { Bytes::new() } else { key(i) },
        end_key: if i + 1 == n { Bytes::new() } else { key(i + 1) },
        epoch: Some(pb::RangeEpoch { version: 1, conf_version: 1 }),
        replicas: (1..=3).map(|n| pb::Replica { node_id: n, addr: format!("10.0.0.{n}:7001") }).collect(),
        leader_node_id: 1,
        leader_term: 1,
    }
}

fn table(n: u64) -> RouteTable {
    RouteTable::from_reset(1, (0..n).map(|i| range(i, n)))
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// One delta splitting range `i` of `n` (ids from 1) at `user:i` + "m", the new right half
/// taking id `new_id`.
fn split(i: u64, n: u64, new_id: u64, previous: u64) -> pb::CatalogDelta {
    let mut left = range(i, n);
    let mut right = range(i, n);
    let at = Bytes::from(format!("user:{i:08}m"));
    left.end_key = at.clone();
    left.epoch = Some(pb::RangeEpoch { version: 2, conf_version: 1 });
    right.range_id = new_id;
    right.start_key = at;
    right.epoch = left.epoch;
    let upsert = |d| pb::CatalogMutation { kind: Some(pb::catalog_mutation::Kind::Upsert(d)) };
    pb::CatalogDelta { previous_version: previous, version: previous + 1, mutations: vec![upsert(left), upsert(right)] }
}

/// Median time of `apply` of `deltas` on `base`, over `runs` runs (the new tables are freed
/// outside the timed part).
fn apply_cost(base: &RouteTable, deltas: &[pb::CatalogDelta], runs: usize) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let next = base.apply(deltas).expect("deltas follow on");
        times.push(started.elapsed());
        drop(black_box(next));
    }
    times.sort();
    times[runs / 2]
}

fn splits(n: u64, count: u64, base_version: u64) -> Vec<pb::CatalogDelta> {
    let mut rng = rand::rng();
    (0..count).map(|k| split(rng.random_range(0..n), n, n + 1 + k, base_version + k)).collect()
}

fn bench_table() {
    let routes = catalog_size();
    let before = rss_bytes();
    let started = Instant::now();
    let big = table(routes);
    let built_in = started.elapsed();
    let after = rss_bytes();
    println!("build: {routes} routes in {:.2} s", built_in.as_secs_f64());
    println!(
        "memory: {:.0} bytes per route (RSS {:.1} MiB -> {:.1} MiB)",
        (after - before) as f64 / routes as f64,
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );

    // Lookups of random keys, each timed on its own; the clock's own cost is measured and
    // reported so it can be subtracted by eye.
    let mut rng = rand::rng();
    let keys: Vec<Vec<u8>> =
        (0..1_000_000).map(|_| format!("user:{:08}x", rng.random_range(0..routes)).into_bytes()).collect();
    let mut clock = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let t = Instant::now();
        clock.push(black_box(t).elapsed().as_nanos() as u64);
    }
    clock.sort_unstable();
    let mut each = Vec::with_capacity(keys.len());
    let mut found = 0;
    for k in &keys {
        let t = Instant::now();
        let hit = black_box(big.lookup(black_box(k)));
        each.push(t.elapsed().as_nanos() as u64);
        found += usize::from(hit.is_some());
    }
    assert_eq!(found, keys.len());
    each.sort_unstable();
    let started = Instant::now();
    for k in &keys {
        black_box(big.lookup(black_box(k)));
    }
    let mean = started.elapsed().as_nanos() as f64 / keys.len() as f64;
    println!(
        "lookup (1M random keys, {routes} routes): p50 {} ns, p99 {} ns, p99.9 {} ns; mean {mean:.0} ns in a tight loop \
         (Instant::now + elapsed alone: p50 {} ns)",
        percentile(&each, 0.50),
        percentile(&each, 0.99),
        percentile(&each, 0.999),
        percentile(&clock, 0.50)
    );

    let small = table(SMALL);
    for (name, base, n) in [("all routes", &big, routes), ("1k routes", &small, SMALL)] {
        let one = apply_cost(base, &splits(n, 1, base.version()), 2_000);
        let many = apply_cost(base, &splits(n, 128, base.version()), 200);
        println!(
            "apply with {name}: 1-delta batch (one split) {:.1} us, 128-delta batch (128 splits) {:.1} us",
            one.as_secs_f64() * 1e6,
            many.as_secs_f64() * 1e6
        );
    }
}

/// Streams a reset of `routes` ranges in chunks, then keeps the stream open and silent.
struct ResetServer;

type Events = Pin<Box<dyn Stream<Item = Result<pb::CatalogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Catalog for ResetServer {
    type WatchCatalogStream = Events;

    async fn watch_catalog(&self, _: Request<pb::WatchCatalogRequest>) -> Result<Response<Events>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let routes = catalog_size();
        tokio::spawn(async move {
            for chunk in 0..routes / RESET_CHUNK {
                let first = chunk * RESET_CHUNK;
                let ranges = (first..first + RESET_CHUNK).map(|i| range(i, routes)).collect();
                let last = first + RESET_CHUNK == routes;
                let reset = pb::CatalogReset { version: 1, ranges, last };
                let event = pb::CatalogEvent { kind: Some(pb::catalog_event::Kind::Reset(reset)) };
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            tx.closed().await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_catalog(&self, _: Request<pb::GetCatalogRequest>) -> Result<Response<pb::GetCatalogResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }

    async fn allocate_range_id(
        &self,
        _: Request<pb::AllocateRangeIdRequest>,
    ) -> Result<Response<pb::AllocateRangeIdResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }

    async fn report_ranges(
        &self,
        _: Request<pb::ReportRangesRequest>,
    ) -> Result<Response<pb::ReportRangesResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }

    async fn get_timestamps(
        &self,
        _: Request<pb::GetTimestampsRequest>,
    ) -> Result<Response<pb::GetTimestampsResponse>, Status> {
        Err(Status::unimplemented("benchmark"))
    }
}

async fn bench_sync() {
    let routes = catalog_size();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound").to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CatalogServer::new(ResetServer).max_encoding_message_size(usize::MAX))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    // Seeds only: the synthetic replica addresses must never be dialled.
    let watcher = Arc::new(CatalogWatcher::new(vec![addr], GatewayMetrics::new()).seeds_only());
    let started = Instant::now();
    let task = watcher.spawn();
    let mut applied = watcher.subscribe();
    let synced = tokio::time::timeout(Duration::from_secs(300), applied.wait_for(|v| *v == 1)).await;
    let took = started.elapsed();
    assert!(synced.is_ok(), "the watcher did not sync within 300 s");
    assert_eq!(watcher.current().len() as u64, routes);
    println!(
        "sync: {routes} routes via WatchCatalog (reset in chunks of {RESET_CHUNK}) in {:.2} s",
        took.as_secs_f64()
    );
    drop(task);
    server.abort();
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    println!("route_cache benchmark ({} cores)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    bench_table();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(bench_sync());
}
