//! The route catalog's watch stream, from a raw tonic client: contiguous deltas, resume from
//! a cursor after a cut, a reset for a cursor older than the delta window, errors for a
//! cursor from the future and from nodes that do not lead the meta range.

use std::collections::BTreeMap;
use std::time::Duration;

use strata_proto::core::catalog_client::CatalogClient;
use strata_proto::core::{catalog_event, catalog_mutation, CatalogEvent, RangeDescriptor, WatchCatalogRequest};
use tonic::Streaming;

use crate::cluster::{eventually, Cluster};

/// A watcher's table, checked as it applies events.
#[derive(Default)]
struct Table {
    version: u64,
    ranges: BTreeMap<u64, RangeDescriptor>,
    resets: usize,
    pending_reset: Vec<RangeDescriptor>,
}

impl Table {
    fn apply(&mut self, event: CatalogEvent) {
        match event.kind.expect("event kind") {
            catalog_event::Kind::Deltas(batch) => {
                assert!(!batch.deltas.is_empty(), "empty delta batch");
                for d in batch.deltas {
                    assert_eq!(d.previous_version, self.version, "deltas must be contiguous");
                    assert_eq!(d.version, d.previous_version + 1);
                    for m in d.mutations {
                        match m.kind.expect("mutation kind") {
                            catalog_mutation::Kind::Upsert(r) => {
                                self.ranges.insert(r.range_id, r);
                            }
                            catalog_mutation::Kind::DeleteRangeId(id) => {
                                self.ranges.remove(&id);
                            }
                        }
                    }
                    self.version = d.version;
                }
            }
            catalog_event::Kind::Reset(chunk) => {
                self.pending_reset.extend(chunk.ranges);
                if chunk.last {
                    self.ranges = self.pending_reset.drain(..).map(|r| (r.range_id, r)).collect();
                    self.version = chunk.version;
                    self.resets += 1;
                }
            }
        }
    }

    /// Reads events until the table reaches at least `version`.
    async fn follow(&mut self, stream: &mut Streaming<CatalogEvent>, version: u64) {
        while self.version < version {
            let event = tokio::time::timeout(Duration::from_secs(20), stream.message())
                .await
                .expect("catalog event in time")
                .expect("stream healthy")
                .expect("stream open");
            self.apply(event);
        }
    }

    fn bounds(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut b: Vec<_> = self.ranges.values().map(|r| (r.start_key.to_vec(), r.end_key.to_vec())).collect();
        b.sort();
        b
    }
}

/// The address of the node leading the meta range, found the way clients find it: any node
/// refuses with UNAVAILABLE and points at the leader.
async fn meta_leader(cluster: &Cluster) -> String {
    eventually(Duration::from_secs(30), "the meta leader", || async {
        for core in &cluster.cores {
            let mut client = CatalogClient::connect(format!("http://{}", core.addr)).await.ok()?;
            match client.watch_catalog(WatchCatalogRequest { from_version: 0, max_batch: 0 }).await {
                Ok(_) => return Some(core.addr.clone()),
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    if let Some(hint) = status.metadata().get("strata-meta-leader") {
                        return Some(hint.to_str().ok()?.to_string());
                    }
                }
            }
        }
        None
    })
    .await
}

async fn watch(addr: &str, from_version: u64) -> Streaming<CatalogEvent> {
    let mut client = CatalogClient::connect(format!("http://{addr}")).await.unwrap();
    client.watch_catalog(WatchCatalogRequest { from_version, max_batch: 2 }).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watch_stream_resumes_after_a_cut_and_resets_when_too_far_behind() {
    let cluster = Cluster::start_with(&["--catalog-delta-window", "4"], &[]).await;
    let (v1, _) = cluster.wait_for_catalog(1).await;
    let leader = meta_leader(&cluster).await;

    let mut table = Table::default();
    let mut stream = watch(&leader, 0).await;
    table.follow(&mut stream, v1).await;
    assert_eq!(table.resets, 0, "a young catalog is streamed as deltas from version 0");

    // A split arrives on the open stream as new deltas.
    cluster.split(b"g").await;
    let (v2, ranges) = cluster.wait_for_catalog(2).await;
    table.follow(&mut stream, v2).await;
    assert_eq!(table.ranges.len(), ranges.len());

    // Cut the stream, change the catalog, resume from the last applied version: nothing is
    // missed (`follow` asserts every delta continues the one before).
    drop(stream);
    let cursor = table.version;
    cluster.split(b"p").await;
    let (v3, _) = cluster.wait_for_catalog(3).await;
    let mut stream = watch(&leader, cursor).await;
    table.follow(&mut stream, v3).await;
    assert_eq!(table.resets, 0);
    drop(stream);

    // Fall further behind than the window of 4 deltas: the stream starts with a reset.
    let cursor = table.version;
    for key in ["b", "d", "k", "m", "s", "w"] {
        cluster.split(key.as_bytes()).await;
    }
    let (v4, ranges) = cluster.wait_for_catalog(9).await;
    assert!(v4 > cursor + 4, "the catalog moved past the window");
    let mut stream = watch(&leader, cursor).await;
    table.follow(&mut stream, v4).await;
    assert_eq!(table.resets, 1, "a cursor older than the window gets a reset");
    let mut expected: Vec<_> = ranges.iter().map(|r| (r.start_key.to_vec(), r.end_key.to_vec())).collect();
    expected.sort();
    assert_eq!(table.bounds(), expected);
    // ... and deltas follow the reset.
    cluster.split(b"y").await;
    let (v5, _) = cluster.wait_for_catalog(10).await;
    table.follow(&mut stream, v5).await;
    assert_eq!(table.resets, 1);
    assert_eq!(table.ranges.len(), 10);

    // A cursor from the future is an error, not an empty stream.
    let mut client = CatalogClient::connect(format!("http://{leader}")).await.unwrap();
    let status = client.watch_catalog(WatchCatalogRequest { from_version: v5 + 100, max_batch: 0 }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_stream_ends_retryably_when_its_node_loses_meta_leadership() {
    let mut cluster = Cluster::start().await;
    cluster.wait_for_catalog(1).await;
    let leader = meta_leader(&cluster).await;
    let mut stream = watch(&leader, 0).await;
    let mut table = Table::default();
    let (v1, _) = cluster.wait_for_catalog(1).await;
    table.follow(&mut stream, v1).await;
    // Freeze the leader long enough for the others to elect a new meta leader, then let it
    // run again: it learns it was deposed and ends the stream.
    let id = cluster.cores.iter().find(|c| c.addr == leader).unwrap().id;
    cluster.pause(id, true);
    let new_leader = eventually(Duration::from_secs(30), "a new meta leader", || async {
        let addr = meta_leader_among(&cluster, &leader).await?;
        (addr != leader).then_some(addr)
    })
    .await;
    cluster.pause(id, false);
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.message().await {
                Ok(Some(event)) => table.apply(event),
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ends");
    let status = end.expect_err("ends with an error status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    // The watcher reconnects to the new leader from its cursor and carries on.
    let mut stream = watch(&new_leader, table.version).await;
    cluster.split(b"k").await;
    let (v2, _) = cluster.wait_for_catalog(2).await;
    table.follow(&mut stream, v2).await;
    assert_eq!(table.ranges.len(), 2);
    cluster.kill(id);
}

/// The meta leader as the nodes other than `excluded` see it.
async fn meta_leader_among(cluster: &Cluster, excluded: &str) -> Option<String> {
    for core in cluster.cores.iter().filter(|c| c.addr != excluded) {
        let Ok(mut client) = CatalogClient::connect(format!("http://{}", core.addr)).await else { continue };
        let call = client.watch_catalog(WatchCatalogRequest { from_version: 0, max_batch: 0 });
        match tokio::time::timeout(Duration::from_secs(2), call).await {
            Ok(Ok(_)) => return Some(core.addr.clone()),
            Ok(Err(status)) => {
                if let Some(hint) = status.metadata().get("strata-meta-leader").and_then(|h| h.to_str().ok()) {
                    if hint != excluded {
                        return Some(hint.to_string());
                    }
                }
            }
            Err(_) => {}
        }
    }
    None
}
