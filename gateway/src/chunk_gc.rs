//! The background task that removes S3 chunks no object manifest or uploaded part names any
//! more (see `strata_protocols::s3::store::gc`). Every gateway serving S3 runs it; overlapping
//! passes are harmless.

use std::time::Duration;

use strata_protocols::s3::store::gc::collect_chunks;

use crate::collection_gc::PassTicks;
use crate::core_kv::CoreKv;

/// Default pause between two passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default age below which written data is never collected.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(strata_protocols::s3::store::gc::GRACE_MS);

/// Runs a pass every `interval`, forever, sparing data younger than `grace`.
pub async fn run(kv: CoreKv, interval: Duration, grace: Duration) {
    let mut ticks = PassTicks::new(interval);
    loop {
        ticks.next(&kv).await;
        match collect_chunks(&kv, grace.as_millis() as u64).await {
            Ok(pass) if pass.collected_data > 0 => {
                tracing::debug!(collected = pass.collected_data, live = pass.live_data, "chunk gc pass");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "chunk gc pass stopped early"),
        }
    }
}
