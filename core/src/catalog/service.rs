//! The `Catalog` gRPC service, served by the meta range's leader.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use prost::Message;
use strata_proto::core as pb;
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status};

use super::store::{self, Deltas};
use crate::raft::types::{CatalogCommand, Proposal, META_RANGE_ID};
use crate::replica::{Replica, ReplicaError};
use crate::service::Replicas;

const DEFAULT_BATCH: usize = 128;
const MAX_BATCH: usize = 1024;
/// Ranges per reset message, so a catalog of a million ranges streams in bounded messages.
const RESET_CHUNK: usize = 10_000;
pub const LEADER_METADATA: &str = "strata-meta-leader";
/// Most timestamps one oracle request may reserve.
const MAX_TIMESTAMPS: u32 = 65_536;

#[derive(Clone)]
pub struct CatalogService {
    pub node_id: u64,
    pub replicas: Replicas,
    /// The catalog version applied on this node.
    pub version: watch::Receiver<u64>,
}

/// UNAVAILABLE naming the meta leader, so callers go there next.
fn not_leader(leader: Option<(u64, String)>, what: &str) -> Status {
    let mut status = Status::unavailable(format!("{what}: this node is not the meta leader"));
    if let Some((_, addr)) = leader {
        if let Ok(value) = addr.parse() {
            status.metadata_mut().insert(LEADER_METADATA, value);
        }
    }
    status
}

fn replica_status(e: ReplicaError, what: &str) -> Status {
    match e {
        ReplicaError::NotLeader { leader_id, leader_addr } => not_leader(leader_id.zip(leader_addr), what),
        ReplicaError::Unavailable(reason) => Status::unavailable(format!("{what}: {reason}")),
    }
}

fn storage_status(e: crate::storage::StorageError) -> Status {
    Status::internal(format!("catalog storage: {e}"))
}

impl CatalogService {
    /// The meta replica, if this node leads it and a read here is linearizable.
    async fn leading_meta(&self, what: &str) -> Result<Arc<Replica>, Status> {
        let meta = self.replicas.get(META_RANGE_ID).ok_or_else(|| Status::unavailable("no meta replica here"))?;
        if meta.leader().map(|(id, _)| id) != Some(self.node_id) {
            return Err(not_leader(meta.leader(), what));
        }
        meta.read_barrier().await.map_err(|e| replica_status(e, what))?;
        Ok(meta)
    }

    async fn propose(&self, command: CatalogCommand, what: &str) -> Result<crate::raft::types::ProposalResult, Status> {
        let meta = self.leading_meta(what).await?;
        match meta.raft.client_write(Proposal::Catalog(command)).await {
            Ok(resp) => Ok(resp.data),
            Err(e) => Err(replica_status(crate::replica::write_error(e), what)),
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::CatalogEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::catalog_server::Catalog for CatalogService {
    type WatchCatalogStream = EventStream;

    async fn get_timestamps(
        &self,
        request: Request<pb::GetTimestampsRequest>,
    ) -> Result<Response<pb::GetTimestampsResponse>, Status> {
        let count = request.into_inner().count.clamp(1, MAX_TIMESTAMPS);
        // The lease (or a ReadIndex round) proves no newer meta leader exists, so nothing
        // issued here can fall below a timestamp a successor already handed out.
        let meta = self.leading_meta("timestamps").await?;
        let first = meta.issue_timestamps(u64::from(count)).await.map_err(|e| replica_status(e, "timestamps"))?;
        Ok(Response::new(pb::GetTimestampsResponse { first, count }))
    }

    async fn watch_catalog(
        &self,
        request: Request<pb::WatchCatalogRequest>,
    ) -> Result<Response<Self::WatchCatalogStream>, Status> {
        let req = request.into_inner();
        let meta = self.leading_meta("watch").await?;
        let batch = match req.max_batch as usize {
            0 => DEFAULT_BATCH,
            n => n.min(MAX_BATCH),
        };
        let db = meta.db().clone();
        if let Deltas::FromTheFuture { version } =
            store::deltas_after(&db, req.from_version, 0).map_err(storage_status)?
        {
            return Err(Status::out_of_range(format!(
                "from_version {} is ahead of the catalog (version {version})",
                req.from_version
            )));
        }
        let (tx, rx) = mpsc::channel(4);
        let term = meta.raft.metrics().borrow().current_term;
        tokio::spawn(stream_catalog(meta, self.node_id, term, self.version.clone(), req.from_version, batch, tx));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn get_catalog(
        &self,
        _request: Request<pb::GetCatalogRequest>,
    ) -> Result<Response<pb::GetCatalogResponse>, Status> {
        let meta = self.leading_meta("get catalog").await?;
        let db = meta.db().clone();
        let (version, ranges) = tokio::task::spawn_blocking(move || store::snapshot(&db))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(storage_status)?;
        Ok(Response::new(pb::GetCatalogResponse { version, ranges }))
    }

    async fn allocate_range_id(
        &self,
        _request: Request<pb::AllocateRangeIdRequest>,
    ) -> Result<Response<pb::AllocateRangeIdResponse>, Status> {
        let result = self.propose(CatalogCommand::AllocateRangeId, "allocate range id").await?;
        Ok(Response::new(pb::AllocateRangeIdResponse { range_id: result.allocated_range_id }))
    }

    async fn report_ranges(
        &self,
        request: Request<pb::ReportRangesRequest>,
    ) -> Result<Response<pb::ReportRangesResponse>, Status> {
        let reported = request.into_inner().ranges;
        // Only what would change the catalog is proposed; apply re-checks it in log order.
        let meta = self.leading_meta("report ranges").await?;
        let mut changed = Vec::new();
        for d in reported {
            let newer = match store::descriptor(meta.db(), d.range_id).map_err(storage_status)? {
                None => true,
                Some(old) => store::supersedes(&d, &old),
            };
            if newer {
                changed.push(Bytes::from(d.encode_to_vec()));
            }
        }
        if changed.is_empty() {
            let version = store::version(meta.db()).map_err(storage_status)?;
            return Ok(Response::new(pb::ReportRangesResponse { catalog_version: version }));
        }
        let result = self.propose(CatalogCommand::Report { descriptors: changed }, "report ranges").await?;
        Ok(Response::new(pb::ReportRangesResponse { catalog_version: result.catalog_version }))
    }
}

/// Streams the catalog after `cursor` to `tx` for as long as this node leads the meta range
/// in `term` and the watcher listens.
async fn stream_catalog(
    meta: Arc<Replica>,
    me: u64,
    term: u64,
    mut version: watch::Receiver<u64>,
    mut cursor: u64,
    batch: usize,
    tx: mpsc::Sender<Result<pb::CatalogEvent, Status>>,
) {
    let mut metrics = meta.raft.metrics();
    loop {
        let still_leading = {
            let m = metrics.borrow_and_update();
            m.current_term == term && m.current_leader == Some(me)
        };
        if !still_leading {
            let _ = tx.send(Err(Status::unavailable("meta leadership lost; reconnect from your last version"))).await;
            return;
        }
        version.borrow_and_update();
        let db = meta.db().clone();
        let next = tokio::task::spawn_blocking(move || next_events(&db, cursor, batch)).await;
        let events = match next {
            Ok(Ok(Some((version, events)))) => {
                cursor = version;
                Some(events)
            }
            Ok(Ok(None)) => None,
            Ok(Err(status)) => {
                let _ = tx.send(Err(status)).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                return;
            }
        };
        match events {
            Some(events) => {
                for event in events {
                    if tx.send(Ok(event)).await.is_err() {
                        return; // the watcher went away
                    }
                }
            }
            None => {
                tokio::select! {
                    changed = version.changed() => if changed.is_err() { return },
                    changed = metrics.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        }
    }
}

/// What to send a watcher at `cursor` next, with the version it brings it to; `None` when it
/// is current. An error ends the stream.
fn next_events(db: &rocksdb::DB, cursor: u64, batch: usize) -> Result<Option<(u64, Vec<pb::CatalogEvent>)>, Status> {
    match store::deltas_after(db, cursor, batch).map_err(storage_status)? {
        Deltas::Batch(deltas) => Ok(deltas.last().map(|d| d.version).map(|version| {
            let event =
                pb::CatalogEvent { kind: Some(pb::catalog_event::Kind::Deltas(pb::CatalogDeltaBatch { deltas })) };
            (version, vec![event])
        })),
        Deltas::TooOld => {
            let (version, ranges) = store::snapshot(db).map_err(storage_status)?;
            Ok(Some((version, reset_events(version, ranges))))
        }
        Deltas::FromTheFuture { version } => {
            Err(Status::out_of_range(format!("cursor {cursor} ahead of version {version}")))
        }
        Deltas::Hole { missing } => Err(Status::data_loss(format!("catalog delta {missing} is missing"))),
    }
}

fn reset_events(version: u64, ranges: Vec<pb::RangeDescriptor>) -> Vec<pb::CatalogEvent> {
    let chunks: Vec<Vec<pb::RangeDescriptor>> =
        if ranges.is_empty() { vec![Vec::new()] } else { ranges.chunks(RESET_CHUNK).map(|c| c.to_vec()).collect() };
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, ranges)| pb::CatalogEvent {
            kind: Some(pb::catalog_event::Kind::Reset(pb::CatalogReset { version, ranges, last: i + 1 == n })),
        })
        .collect()
}
