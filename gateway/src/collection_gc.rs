//! The background task that removes collection sub-keys orphaned by DEL, expiry, overwrite,
//! RENAME onto a collection or FLUSHDB (see `strata_protocols::redis::collection::gc`).
//!
//! Every gateway runs it; passes of several gateways may overlap. That is harmless: a pass
//! only deletes sub-keys of versions that no live metadata record names at its snapshot, such
//! a version can never become live again, and deleting them twice is a no-op.

use std::time::Duration;

use strata_protocols::redis::collection::gc::collect_garbage;

use crate::core_kv::CoreKv;
use crate::metrics::GatewayMetrics;

/// Default pause between two passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Runs a pass every `interval`, forever.
pub async fn run(kv: CoreKv, interval: Duration, metrics: GatewayMetrics) {
    let mut ticks = PassTicks::new(interval);
    loop {
        ticks.next(&kv).await;
        match collect_garbage(&kv).await {
            Ok(pass) => {
                metrics.collection_gc_passes.with_label_values(&["ok"]).inc();
                metrics.collection_gc_orphaned_versions.inc_by(pass.orphaned_versions);
                if pass.orphaned_versions > 0 {
                    tracing::debug!(
                        orphaned = pass.orphaned_versions,
                        live = pass.live_collections,
                        "collection gc pass"
                    );
                }
            }
            Err(e) => {
                metrics.collection_gc_passes.with_label_values(&["error"]).inc();
                tracing::debug!(error = %e, "collection gc pass stopped early");
            }
        }
    }
}

/// The schedule of a background pass: every `interval` (a late pass delays the next rather than
/// bunching), and only once the gateway knows the catalog, since a pass scans ranges.
pub(crate) struct PassTicks(tokio::time::Interval);

impl PassTicks {
    pub(crate) fn new(interval: Duration) -> Self {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(tick)
    }

    /// Waits for the next pass's turn.
    pub(crate) async fn next(&mut self, kv: &CoreKv) {
        loop {
            self.0.tick().await;
            if kv.router().catalog().version() != 0 {
                return;
            }
        }
    }
}
