//! Finding the other gateways: each gateway keeps a lease in the KV store (`G` + its id → the
//! address of its gRPC listener, see `strata_protocols::gateways`) with a [`LEASE_TTL`] and
//! renews it every [`REFRESH_INTERVAL`]; at the same pace it scans the leases and hands the
//! list to [`Hub::set_peers`]. A gateway that stops renewing drops out of the others' lists
//! once its lease expires. If the scan fails (core unreachable), the last list is kept.

use std::sync::Arc;
use std::time::Duration;

use strata_protocols::gateways;
use strata_protocols::kv::{Expiry, KvStore, Mutation};

use super::{Hub, PeerAddr};

/// How long a lease lives without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the lease is renewed and the peer list refreshed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(3);
/// Most gateways one scan lists.
const MAX_GATEWAYS: usize = 10_000;

/// Renews this gateway's lease and refreshes the peer list until the task is aborted.
pub async fn run<K: KvStore>(hub: Arc<Hub>, kv: K, advertise: String) {
    let mut tick = tokio::time::interval(REFRESH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (renewed, scanned) = tokio::join!(renew(&hub, &kv, &advertise), scan(&kv));
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "could not renew this gateway's pub/sub lease");
        }
        match scanned {
            Ok(peers) => hub.set_peers(peers),
            Err(e) => tracing::warn!(error = %e, "could not list the other gateways; keeping the last list"),
        }
    }
}

async fn renew<K: KvStore>(hub: &Hub, kv: &K, advertise: &str) -> Result<(), strata_protocols::kv::KvError> {
    let lease = Mutation::Put {
        key: gateways::lease_key(hub.id()),
        value: bytes::Bytes::copy_from_slice(advertise.as_bytes()),
        expiry: Expiry::AfterMs(LEASE_TTL.as_millis() as u64),
    };
    kv.write(Vec::new(), vec![lease]).await.map(|_| ())
}

/// The gateways with a live lease (this one included; [`Hub::set_peers`] skips it).
pub async fn scan<K: KvStore>(kv: &K) -> Result<Vec<PeerAddr>, strata_protocols::kv::KvError> {
    let (start, end) = gateways::lease_range();
    let leases = kv.scan(start, end, MAX_GATEWAYS).await?;
    Ok(leases
        .into_iter()
        .filter_map(|lease| {
            let id = gateways::gateway_id(&lease.key)?.to_string();
            let addr = String::from_utf8(lease.state.value?.to_vec()).ok()?;
            Some(PeerAddr { id, addr })
        })
        .collect())
}

/// Removes this gateway's lease (on shutdown), so the others stop sending at once instead of
/// when the lease expires.
pub async fn withdraw<K: KvStore>(hub: &Hub, kv: &K) {
    let delete = Mutation::Delete { key: gateways::lease_key(hub.id()) };
    match tokio::time::timeout(Duration::from_secs(2), kv.write(Vec::new(), vec![delete])).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not withdraw the pub/sub lease"),
        Err(_) => tracing::debug!("withdrawing the pub/sub lease timed out"),
    }
}
