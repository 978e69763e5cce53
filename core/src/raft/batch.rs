//! Coalesces AppendEntries (heartbeats included) of every range bound for one peer into
//! `AppendEntriesBatch` calls: while a batch is in flight, new messages queue and leave
//! together, so the RPC count follows the number of peers, not peers × ranges.
//!
//! Small messages (heartbeats, small writes) travel in a lane of their own: behind a batch of
//! megabyte S3 chunks they would wait for its transfer and fsync, and a ReadIndex round or
//! a timestamp request that waits that long on a loaded node times out as "not enough for a
//! quorum". Bulk batches are also capped in bytes, so no one RPC grows without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::core::raft_transport_client::RaftTransportClient;
use strata_proto::core::{RaftBatch, RaftMessage};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::transport::Channel;
use tonic::Status;

const MAX_BATCH: usize = 256;
/// A bulk batch stops growing once it carries this many payload bytes.
const MAX_BATCH_BYTES: usize = 8 << 20;
/// Messages up to this size take the light lane.
const LIGHT_MESSAGE_BYTES: usize = 64 << 10;
const BATCHES_IN_FLIGHT: usize = 2;
/// A batch may carry entries for many ranges; only a dead peer should hit this.
const BATCH_TIMEOUT: Duration = Duration::from_secs(5);

type Pending = (RaftMessage, oneshot::Sender<Result<RaftMessage, Status>>);

/// One queue per peer address, shared by every range on this node.
#[derive(Clone, Default)]
pub struct AppendBatchers {
    queues: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Pending>>>>,
}

impl AppendBatchers {
    pub async fn send(&self, addr: &str, channel: Channel, message: RaftMessage) -> Result<RaftMessage, Status> {
        let lane = if message.payload.len() <= LIGHT_MESSAGE_BYTES { "light" } else { "bulk" };
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues
                .entry(format!("{addr}#{lane}"))
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tokio::spawn(send_loop(channel, rx));
                    tx
                })
                .clone()
        };
        let (reply, rx) = oneshot::channel();
        queue.send((message, reply)).map_err(|_| Status::unavailable("raft batcher stopped"))?;
        rx.await.map_err(|_| Status::unavailable("raft batch dropped"))?
    }
}

async fn send_loop(channel: Channel, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut bytes = first.0.payload.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                // The sender gave up waiting (openraft timed the append out and will send it
                // again): do not ship the stale copy, nor hold its megabytes.
                Ok(p) if p.1.is_closed() => continue,
                Ok(p) => {
                    bytes += p.0.payload.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let mut client = RaftTransportClient::new(channel.clone()).max_decoding_message_size(usize::MAX);
        tokio::spawn(async move {
            let _permit = permit;
            let (messages, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let mut request = tonic::Request::new(RaftBatch { messages });
            request.set_timeout(BATCH_TIMEOUT);
            match client.append_entries_batch(request).await {
                Ok(resp) => {
                    let responses = resp.into_inner().messages;
                    if responses.len() != replies.len() {
                        for reply in replies {
                            let _ = reply.send(Err(Status::internal("raft batch answered out of shape")));
                        }
                        return;
                    }
                    for (reply, msg) in replies.into_iter().zip(responses) {
                        let result = if msg.error.is_empty() { Ok(msg) } else { Err(Status::not_found(msg.error)) };
                        let _ = reply.send(result);
                    }
                }
                Err(status) => {
                    for reply in replies {
                        let _ = reply.send(Err(status.clone()));
                    }
                }
            }
        });
    }
}
