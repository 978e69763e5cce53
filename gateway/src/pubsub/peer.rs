//! One peer gateway: a bounded queue of messages for it and the task that sends them.
//!
//! The task takes whatever is queued (up to [`MAX_BATCH`] messages / [`MAX_BATCH_BYTES`]),
//! sends it in one `Deliver` call and waits for the answer before sending the next batch, so
//! the peer delivers messages in the order they were queued. A call that fails or takes longer
//! than [`DELIVER_TIMEOUT`] is not retried (at most once); its messages count zero receivers.
//! While the peer is failing, PUBLISH stops waiting for its counts (messages are still sent),
//! so one dead gateway does not slow every PUBLISH down until its lease expires.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_proto::gateway::pub_sub_client::PubSubClient;
use strata_proto::gateway::{DeliverRequest, PubSubMessage, StatsRequest, StatsResponse};
use tokio::sync::{mpsc, oneshot};
use tonic::transport::{Channel, Endpoint};

use super::PubSubMetrics;

/// Messages waiting for one peer at most; more are dropped.
const MAX_QUEUED_MESSAGES: usize = 100_000;
/// Bytes waiting for one peer at most; more are dropped.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Messages per Deliver call at most.
const MAX_BATCH: usize = 1024;
/// Payload bytes per Deliver call at most (one larger message still goes alone).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Longest a Deliver call may take.
pub(super) const DELIVER_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest gRPC message between gateways: a maximum-size Redis value plus framing.
const MAX_MESSAGE_BYTES: usize = (1 << 30) + (1 << 20);

struct Outgoing {
    message: PubSubMessage,
    /// Where to report the peer's receiver count, if the publisher waits for it.
    count: Option<oneshot::Sender<u64>>,
}

fn size_of(message: &PubSubMessage) -> usize {
    message.channel.len() + message.payload.len() + 16
}

pub(super) struct Peer {
    pub(super) id: String,
    pub(super) addr: String,
    queue: mpsc::Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
    client: PubSubClient<Channel>,
    metrics: PubSubMetrics,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    /// Connects lazily to `addr` and starts the sending task.
    pub(super) fn start(own_id: String, id: String, addr: String, metrics: PubSubMetrics) -> anyhow::Result<Peer> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .connect_lazy();
        let client = PubSubClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (queue, receiver) = mpsc::channel(MAX_QUEUED_MESSAGES);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let healthy = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(send_loop(
            own_id,
            id.clone(),
            client.clone(),
            receiver,
            queued_bytes.clone(),
            healthy.clone(),
            metrics.clone(),
        ));
        Ok(Peer { id, addr, queue, queued_bytes, healthy, client, metrics, task })
    }

    /// Queues a message; returns where its receiver count will arrive when the peer is
    /// healthy (and the message was not dropped).
    pub(super) fn send(&self, channel: Bytes, payload: Bytes) -> Option<oneshot::Receiver<u64>> {
        let message = PubSubMessage { channel, payload };
        let size = size_of(&message);
        if self.queued_bytes.fetch_add(size, Ordering::AcqRel) + size > MAX_QUEUED_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            self.metrics.messages.with_label_values(&["dropped_queue_full"]).inc();
            return None;
        }
        let (count, receiver) = if self.healthy.load(Ordering::Acquire) {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        if self.queue.try_send(Outgoing { message, count }).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            self.metrics.messages.with_label_values(&["dropped_queue_full"]).inc();
            return None;
        }
        receiver
    }

    /// The peer's local statistics, or `None` if it does not answer in time.
    pub(super) async fn stats(&self, request: StatsRequest, wait: Duration) -> Option<StatsResponse> {
        let mut client = self.client.clone();
        match tokio::time::timeout(wait, client.stats(request)).await {
            Ok(Ok(response)) => Some(response.into_inner()),
            Ok(Err(status)) => {
                tracing::debug!(peer = %self.id, error = %status, "pub/sub stats from a peer failed");
                None
            }
            Err(_) => None,
        }
    }
}

async fn send_loop(
    own_id: String,
    peer_id: String,
    mut client: PubSubClient<Channel>,
    mut receiver: mpsc::Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
    metrics: PubSubMetrics,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch_bytes = size_of(&first.message);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && batch_bytes < MAX_BATCH_BYTES {
            match receiver.try_recv() {
                Ok(next) => {
                    batch_bytes += size_of(&next.message);
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        queued_bytes.fetch_sub(batch_bytes, Ordering::AcqRel);
        let (messages, counts): (Vec<_>, Vec<_>) = batch.into_iter().map(|o| (o.message, o.count)).unzip();
        let sent = messages.len() as u64;
        let request = DeliverRequest { sender: own_id.clone(), messages };
        match tokio::time::timeout(DELIVER_TIMEOUT, client.deliver(request)).await {
            Ok(Ok(response)) => {
                if !healthy.swap(true, Ordering::AcqRel) {
                    tracing::info!(peer = %peer_id, "pub/sub peer reachable again");
                }
                metrics.messages.with_label_values(&["sent"]).inc_by(sent);
                let receivers = response.into_inner().receivers;
                for (count, n) in counts.into_iter().zip(receivers.into_iter().chain(std::iter::repeat(0))) {
                    if let Some(count) = count {
                        let _ = count.send(n);
                    }
                }
            }
            failure => {
                if healthy.swap(false, Ordering::AcqRel) {
                    let error = match failure {
                        Ok(Err(status)) => status.to_string(),
                        _ => "timed out".to_string(),
                    };
                    tracing::warn!(peer = %peer_id, %error, "pub/sub delivery to a peer gateway failed");
                }
                metrics.messages.with_label_values(&["failed"]).inc_by(sent);
                // The counts' senders drop here: those publishers count zero for this peer.
            }
        }
    }
}
