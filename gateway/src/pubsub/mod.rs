//! Redis Pub/Sub across gateways: a mesh in which every gateway knows every other.
//!
//! Each gateway has its local subscribers in a [`Registry`] (with bounded per-connection
//! mailboxes). [`Hub`] is the gateway's [`PubSub`]: a PUBLISH delivers to the local
//! subscribers and queues the message for every peer gateway; one task per peer sends its
//! queue in batches with the internal `strata.gateway.v1.PubSub/Deliver` RPC, one call in
//! flight at a time, so messages from one publisher reach every gateway in publish order
//! ([`peer`]). PUBLISH answers local receivers plus what the peers report within
//! [`COUNT_WAIT`]. PUBSUB CHANNELS / NUMSUB / NUMPAT ask every peer with the `Stats` RPC and
//! merge the answers. Peers are found through leases in the KV store ([`membership`]).
//!
//! Delivery is at most once, like Redis's: a message is never retried (a timed-out Deliver
//! may or may not have been delivered), and a peer that cannot be reached misses it.

pub mod membership;
mod peer;
pub mod service;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures::future::BoxFuture;
use prometheus::{IntCounterVec, IntGauge, Opts};
use strata_proto::gateway::stats_request::Query;
use strata_proto::gateway::{ChannelsQuery, NumPatQuery, NumSubQuery, StatsRequest, StatsResponse};
use strata_protocols::redis::pubsub::{Inbox, OutputLimits, PubSub, Registry, SubscriptionChange};

use self::peer::Peer;
use crate::metrics::GatewayMetrics;

/// How long PUBLISH waits for peers to report their receiver counts, and PUBSUB for their
/// statistics. A peer that answers later still delivers; it is just not counted.
pub const COUNT_WAIT: Duration = Duration::from_secs(1);

/// Pub/Sub metrics, registered in the gateway's registry.
#[derive(Clone)]
pub struct PubSubMetrics {
    pub peers: IntGauge,
    /// Messages by path: `published` (PUBLISH on this gateway), `sent` / `received` (to and
    /// from peers), `dropped_queue_full`, `failed` (a Deliver that failed or timed out).
    pub messages: IntCounterVec,
    pub slow_subscribers_disconnected: prometheus::IntCounter,
}

impl PubSubMetrics {
    pub fn register(metrics: &GatewayMetrics) -> Self {
        let peers = IntGauge::new("pubsub_peers", "Other gateways this gateway forwards Pub/Sub messages to")
            .expect("valid metric");
        let messages = IntCounterVec::new(Opts::new("pubsub_messages_total", "Pub/Sub messages by path"), &["path"])
            .expect("valid metric");
        let slow_subscribers_disconnected = prometheus::IntCounter::new(
            "pubsub_slow_subscribers_disconnected_total",
            "Subscribers disconnected for passing the output buffer limit",
        )
        .expect("valid metric");
        // Registering twice (several gateways in one process share nothing, but tests may
        // build hubs on one registry) is harmless: the metric then just is not exported.
        let _ = metrics.registry.register(Box::new(peers.clone()));
        let _ = metrics.registry.register(Box::new(messages.clone()));
        let _ = metrics.registry.register(Box::new(slow_subscribers_disconnected.clone()));
        PubSubMetrics { peers, messages, slow_subscribers_disconnected }
    }
}

/// This gateway's side of the Pub/Sub mesh.
pub struct Hub {
    id: String,
    local: Registry,
    peers: ArcSwap<HashMap<String, Arc<Peer>>>,
    metrics: PubSubMetrics,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("id", &self.id).field("peers", &self.peers.load().len()).finish()
    }
}

/// A peer gateway as its lease names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    pub id: String,
    pub addr: String,
}

impl Hub {
    /// `id` identifies this gateway in the mesh (its lease key).
    pub fn new(id: String, limits: OutputLimits, metrics: PubSubMetrics) -> Arc<Self> {
        Arc::new(Hub { id, local: Registry::new(limits), peers: ArcSwap::from_pointee(HashMap::new()), metrics })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn local(&self) -> &Registry {
        &self.local
    }

    pub fn metrics(&self) -> &PubSubMetrics {
        &self.metrics
    }

    /// The peers currently in the mesh (gateway id → address).
    pub fn peers(&self) -> Vec<PeerAddr> {
        self.peers.load().values().map(|p| PeerAddr { id: p.id.clone(), addr: p.addr.clone() }).collect()
    }

    /// Replaces the peer list (this gateway's own id is ignored). Peers whose id and address
    /// are unchanged keep their queue and connection; removed ones stop.
    pub fn set_peers(&self, wanted: Vec<PeerAddr>) {
        let current = self.peers.load();
        let mut next = HashMap::with_capacity(wanted.len());
        for PeerAddr { id, addr } in wanted {
            if id == self.id {
                continue;
            }
            match current.get(&id) {
                Some(peer) if peer.addr == addr => {
                    next.insert(id, peer.clone());
                }
                _ => match Peer::start(self.id.clone(), id.clone(), addr.clone(), self.metrics.clone()) {
                    Ok(peer) => {
                        tracing::info!(peer = %id, %addr, "pub/sub peer gateway joined");
                        next.insert(id, Arc::new(peer));
                    }
                    Err(e) => tracing::warn!(peer = %id, %addr, error = %e, "pub/sub peer has an unusable address"),
                },
            }
        }
        for id in current.keys().filter(|id| !next.contains_key(*id)) {
            tracing::info!(peer = %id, "pub/sub peer gateway left");
        }
        self.metrics.peers.set(next.len() as i64);
        self.peers.store(Arc::new(next));
    }

    /// Asks every peer in parallel; answers that fail or come later than [`COUNT_WAIT`] are
    /// left out.
    async fn ask_peers(peers: Vec<Arc<Peer>>, query: Query) -> Vec<StatsResponse> {
        let asks = peers.into_iter().map(|peer| {
            let request = StatsRequest { query: Some(query.clone()) };
            async move { peer.stats(request, COUNT_WAIT).await }
        });
        futures::future::join_all(asks).await.into_iter().flatten().collect()
    }

    fn peer_list(&self) -> Vec<Arc<Peer>> {
        self.peers.load().values().cloned().collect()
    }
}

impl PubSub for Hub {
    fn update(&self, client: u64, changes: &[SubscriptionChange]) {
        self.local.apply(client, changes);
    }

    fn publish(&self, channel: Bytes, message: Bytes) -> BoxFuture<'static, u64> {
        self.metrics.messages.with_label_values(&["published"]).inc();
        let local = self.local.deliver(&channel, &message);
        // Queued now, in call order; only the counts are awaited.
        let counts: Vec<_> =
            self.peers.load().values().filter_map(|peer| peer.send(channel.clone(), message.clone())).collect();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + COUNT_WAIT;
            let remote = futures::future::join_all(
                counts.into_iter().map(|count| async move { tokio::time::timeout_at(deadline, count).await }),
            )
            .await;
            local + remote.into_iter().filter_map(|r| r.ok()?.ok()).sum::<u64>()
        })
    }

    fn channels(&self, pattern: Option<Bytes>) -> BoxFuture<'static, Vec<Bytes>> {
        let mut channels = self.local.local_channels(pattern.as_deref());
        let peers = self.peer_list();
        Box::pin(async move {
            let query = Query::Channels(ChannelsQuery { pattern });
            let mut seen: HashSet<Bytes> = channels.iter().cloned().collect();
            for answer in Self::ask_peers(peers, query).await {
                for name in answer.names {
                    if seen.insert(name.clone()) {
                        channels.push(name);
                    }
                }
            }
            channels
        })
    }

    fn numsub(&self, channels: Vec<Bytes>) -> BoxFuture<'static, Vec<u64>> {
        let mut counts = self.local.local_numsub(&channels);
        let peers = self.peer_list();
        Box::pin(async move {
            let query = Query::Numsub(NumSubQuery { channels });
            for answer in Self::ask_peers(peers, query).await {
                for (total, remote) in counts.iter_mut().zip(answer.counts) {
                    *total += remote;
                }
            }
            counts
        })
    }

    fn numpat(&self) -> BoxFuture<'static, u64> {
        let mut patterns: HashSet<Bytes> = self.local.local_patterns().into_iter().collect();
        let peers = self.peer_list();
        Box::pin(async move {
            // Redis counts distinct patterns: the same pattern on two gateways counts once.
            for answer in Self::ask_peers(peers, Query::Numpat(NumPatQuery {})).await {
                patterns.extend(answer.names);
            }
            patterns.len() as u64
        })
    }

    fn take_inbox(&self, client: u64) -> Option<Inbox> {
        self.local.take_inbox(client)
    }
}

#[cfg(test)]
mod tests;
