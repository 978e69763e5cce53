//! Each node tells the meta leader about the ranges it leads: their descriptors (bounds and
//! epoch change on split) and leadership. The catalog keeps whatever is newer, so reports may
//! repeat, arrive late or come from a deposed leader without harm.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use strata_proto::core as pb;
use tokio::sync::Notify;

use super::client::MetaClient;
use crate::service::{describe, Replicas};

/// What the catalog needs to hear about again when it changes.
type Signature = (Option<pb::RangeEpoch>, u64, u64, bytes::Bytes);

fn signature(d: &pb::RangeDescriptor) -> Signature {
    (d.epoch, d.leader_node_id, d.leader_term, d.end_key.clone())
}

pub async fn report_loop(node_id: u64, replicas: Replicas, client: MetaClient, wake: Arc<Notify>, interval: Duration) {
    let mut reported: HashMap<u64, Signature> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
        }
        let led: Vec<pb::RangeDescriptor> = replicas
            .all()
            .iter()
            .filter(|r| !r.descriptor().is_meta() && r.leader().map(|(id, _)| id) == Some(node_id))
            .map(|r| describe(r))
            .filter(|d| reported.get(&d.range_id) != Some(&signature(d)))
            .collect();
        if led.is_empty() {
            continue;
        }
        match client.report(led.clone()).await {
            Ok(_) => {
                for d in &led {
                    reported.insert(d.range_id, signature(d));
                }
            }
            Err(e) => tracing::debug!(error = %e, "range report not delivered; retried next round"),
        }
    }
}
