//! The watcher against an in-process fake of the core's `Catalog` service.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use strata_proto::core as pb;
use strata_proto::core::catalog_server::{Catalog, CatalogServer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use super::{CatalogWatcher, LEADER_METADATA};
use crate::metrics::GatewayMetrics;
use crate::route_table::tests::{delta, desc, upsert};

/// What the fake answers to one `WatchCatalog` call.
enum Script {
    Refuse(Status),
    /// Sends these, then ends the stream or (`hold`) keeps it open until the watcher leaves.
    Stream {
        events: Vec<Result<pb::CatalogEvent, Status>>,
        hold: bool,
    },
}

#[derive(Clone, Default)]
struct FakeCatalog {
    scripts: Arc<Mutex<VecDeque<Script>>>,
    /// `from_version` of every watch call received.
    requests: Arc<Mutex<Vec<u64>>>,
}

impl FakeCatalog {
    fn new(scripts: Vec<Script>) -> Self {
        Self { scripts: Arc::new(Mutex::new(scripts.into())), requests: Arc::default() }
    }

    fn requests(&self) -> Vec<u64> {
        self.requests.lock().unwrap().clone()
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<pb::CatalogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Catalog for FakeCatalog {
    type WatchCatalogStream = Events;

    async fn watch_catalog(&self, request: Request<pb::WatchCatalogRequest>) -> Result<Response<Events>, Status> {
        self.requests.lock().unwrap().push(request.into_inner().from_version);
        let script = self.scripts.lock().unwrap().pop_front();
        // Past the script there is nothing more to say: an idle, open stream.
        let (events, hold) = match script {
            Some(Script::Refuse(status)) => return Err(status),
            Some(Script::Stream { events, hold }) => (events, hold),
            None => (Vec::new(), true),
        };
        let (tx, rx) = mpsc::channel(events.len().max(1));
        tokio::spawn(async move {
            for event in events {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            if hold {
                tx.closed().await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
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
        _: Request<pb::GetTimestampsRequest>,
    ) -> Result<Response<pb::GetTimestampsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

/// Serves `fake` on an OS-chosen loopback port until the test's runtime ends.
async fn serve(fake: FakeCatalog) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CatalogServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

fn reset(version: u64, ranges: Vec<pb::RangeDescriptor>, last: bool) -> Result<pb::CatalogEvent, Status> {
    Ok(pb::CatalogEvent { kind: Some(pb::catalog_event::Kind::Reset(pb::CatalogReset { version, ranges, last })) })
}

fn deltas(deltas: Vec<pb::CatalogDelta>) -> Result<pb::CatalogEvent, Status> {
    Ok(pb::CatalogEvent { kind: Some(pb::catalog_event::Kind::Deltas(pb::CatalogDeltaBatch { deltas })) })
}

fn watcher(seeds: Vec<String>) -> (Arc<CatalogWatcher>, GatewayMetrics) {
    let metrics = GatewayMetrics::new();
    (Arc::new(CatalogWatcher::new(seeds, metrics.clone()).seeds_only()), metrics)
}

const PATIENCE: Duration = Duration::from_secs(10);

async fn until_version(w: &CatalogWatcher, version: u64) {
    let mut rx = w.subscribe();
    let reached = tokio::time::timeout(PATIENCE, rx.wait_for(|v| *v == version)).await;
    assert!(reached.is_ok(), "version {version} not reached; at {}", w.version());
}

/// Polls `cond` until it holds; the pause only paces the polling.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn id_at(w: &CatalogWatcher, key: &str) -> Option<u64> {
    w.current().lookup(key.as_bytes()).map(|d| d.range_id)
}

#[tokio::test]
async fn reset_in_chunks_then_deltas_converge() {
    let split = delta(10, vec![upsert(desc(2, "g", "k", 2)), upsert(desc(4, "k", "p", 2))]);
    let mut led = desc(3, "p", "", 1);
    (led.leader_node_id, led.leader_term) = (1, 7);
    let fake = FakeCatalog::new(vec![Script::Stream {
        events: vec![
            reset(10, vec![desc(1, "", "g", 1), desc(2, "g", "p", 1)], false),
            reset(10, vec![desc(3, "p", "", 1)], true),
            deltas(vec![split, delta(11, vec![upsert(led)])]),
        ],
        hold: true,
    }]);
    let (w, metrics) = watcher(vec![serve(fake.clone()).await]);
    assert_eq!(w.version(), 0);
    let _task = w.spawn();
    assert!(w.wait_for_new_table(0, PATIENCE).await, "the first table arrives");
    until_version(&w, 12).await;
    let table = w.current();
    assert_eq!(table.len(), 4);
    assert_eq!(table.iter().map(|d| d.range_id).collect::<Vec<_>>(), [1, 2, 4, 3]);
    assert_eq!(id_at(&w, "k"), Some(4));
    assert_eq!(table.get(3).unwrap().leader_term, 7);
    assert_eq!(fake.requests(), [0]);
    assert_eq!(metrics.catalog_resets.get(), 1);
    assert_eq!(metrics.catalog_deltas_applied.get(), 2);
    assert_eq!(metrics.catalog_version.get(), 12);
    assert_eq!(metrics.catalog_reconnects.get(), 0);
}

#[tokio::test]
async fn a_cut_stream_resumes_from_the_last_applied_version() {
    let fake = FakeCatalog::new(vec![
        Script::Stream {
            events: vec![
                reset(5, vec![desc(1, "", "", 1)], true),
                deltas(vec![delta(5, vec![upsert(desc(1, "", "m", 2)), upsert(desc(2, "m", "", 2))])]),
                deltas(vec![delta(6, vec![upsert(desc(2, "m", "t", 3)), upsert(desc(3, "t", "", 3))])]),
            ],
            hold: false,
        },
        Script::Stream {
            events: vec![
                deltas(vec![delta(7, vec![upsert(desc(3, "t", "w", 4)), upsert(desc(4, "w", "", 4))])]),
                Err(Status::internal("connection reset")),
            ],
            hold: false,
        },
        Script::Stream { events: vec![deltas(vec![delta(8, vec![upsert(desc(1, "", "m", 5))])])], hold: true },
    ]);
    let (w, metrics) = watcher(vec![serve(fake.clone()).await]);
    let _task = w.spawn();
    until_version(&w, 9).await;
    assert_eq!(fake.requests(), [0, 7, 8], "each reconnect resumes from the last applied version");
    let table = w.current();
    assert_eq!(table.iter().map(|d| d.range_id).collect::<Vec<_>>(), [1, 2, 3, 4], "no delta was missed");
    assert_eq!(table.get(1).unwrap().epoch.unwrap().version, 5);
    assert_eq!(metrics.catalog_reconnects.get(), 2);
    assert_eq!(metrics.catalog_resets.get(), 1);
    assert_eq!(metrics.catalog_deltas_applied.get(), 4);
}

#[tokio::test]
async fn a_reset_cut_before_its_last_chunk_is_discarded() {
    let fake = FakeCatalog::new(vec![
        Script::Stream { events: vec![reset(4, vec![desc(1, "", "m", 1)], false)], hold: false },
        Script::Stream {
            events: vec![reset(4, vec![desc(1, "", "m", 1)], false), reset(4, vec![desc(2, "m", "", 1)], true)],
            hold: true,
        },
    ]);
    let (w, _metrics) = watcher(vec![serve(fake.clone()).await]);
    let _task = w.spawn();
    until("the second watch call", || fake.requests().len() == 2).await;
    until_version(&w, 4).await;
    assert_eq!(fake.requests(), [0, 0], "half a reset is never applied");
    assert_eq!(w.current().len(), 2);
}

#[tokio::test]
async fn a_follower_redirects_to_the_meta_leader() {
    let leader =
        FakeCatalog::new(vec![Script::Stream { events: vec![reset(3, vec![desc(1, "", "", 1)], true)], hold: true }]);
    let leader_addr = serve(leader.clone()).await;
    let mut refusal = Status::unavailable("watch: this node is not the meta leader");
    refusal.metadata_mut().insert(LEADER_METADATA, leader_addr.parse().unwrap());
    let follower = FakeCatalog::new(vec![Script::Refuse(refusal)]);
    let (w, metrics) = watcher(vec![serve(follower.clone()).await]);
    let _task = w.spawn();
    until_version(&w, 3).await;
    assert_eq!(follower.requests(), [0]);
    assert_eq!(leader.requests(), [0]);
    assert_eq!(id_at(&w, "anything"), Some(1));
    assert_eq!(metrics.catalog_reconnects.get(), 1);
}

#[tokio::test]
async fn a_batch_with_a_gap_is_rejected_and_the_watch_resumes() {
    let fake = FakeCatalog::new(vec![
        Script::Stream {
            events: vec![
                reset(5, vec![desc(1, "", "", 1)], true),
                deltas(vec![delta(5, vec![upsert(desc(1, "", "m", 2)), upsert(desc(2, "m", "", 2))])]),
                // 6 -> 7 is missing; the batch must be refused whole.
                deltas(vec![delta(7, vec![upsert(desc(9, "z", "", 9))]), delta(8, vec![])]),
            ],
            // The server keeps the stream open: the watcher must walk away itself.
            hold: true,
        },
        Script::Stream {
            events: vec![deltas(vec![
                delta(6, vec![upsert(desc(2, "m", "t", 3)), upsert(desc(3, "t", "", 3))]),
                delta(7, vec![]),
            ])],
            hold: true,
        },
    ]);
    let (w, metrics) = watcher(vec![serve(fake.clone()).await]);
    let _task = w.spawn();
    until_version(&w, 8).await;
    assert_eq!(fake.requests(), [0, 6]);
    let table = w.current();
    assert!(table.get(9).is_none(), "nothing of the rejected batch was applied");
    assert_eq!(table.iter().map(|d| d.range_id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(metrics.catalog_deltas_applied.get(), 3);
}

#[tokio::test]
async fn a_cursor_from_the_future_starts_over_from_nothing() {
    let fake = FakeCatalog::new(vec![
        Script::Stream { events: vec![reset(9, vec![desc(1, "", "", 1)], true)], hold: false },
        Script::Refuse(Status::out_of_range("from_version 9 is ahead of the catalog (version 2)")),
        Script::Stream { events: vec![reset(2, vec![desc(7, "", "", 1)], true)], hold: true },
    ]);
    let (w, metrics) = watcher(vec![serve(fake.clone()).await]);
    let _task = w.spawn();
    until("the rebuilt catalog", || id_at(&w, "a") == Some(7)).await;
    assert_eq!(fake.requests(), [0, 9, 0]);
    assert_eq!(w.version(), 2);
    assert_eq!(metrics.catalog_resets.get(), 2);
}
