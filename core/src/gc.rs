//! Background cleanup of the MVCC data.
//!
//! - The expiry sweeper runs on each range leader and deletes expired values *through Raft*
//!   (conditioned on the version it saw), because whether a key has a value decides write
//!   conditions and must be identical on every replica.
//! - Version GC runs on every node locally: it removes versions older than the retention
//!   window that are hidden behind a newer version, and tombstones older than the window.
//!   A tombstone and "no record" are indistinguishable to readers and to write conditions,
//!   so replicas may do this at different moments without diverging.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rocksdb::{IteratorMode, WriteBatch};

use crate::hlc;
use crate::metrics::CoreMetrics;
use crate::mvcc::{self, Version};
use crate::raft::types::{Op, WriteCommand};
use crate::replica::Replica;
use crate::service::Replicas;
use crate::storage::{Engine, CF_DATA};

const SWEEP_BATCH: usize = 256;

/// Deletes expired values of the ranges this node leads.
pub async fn expiry_sweeper(replicas: Replicas, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        for replica in replicas.all() {
            if replica.leader().map(|(id, _)| id) != Some(replica.node_id) {
                continue;
            }
            if let Err(e) = sweep_range(&replica).await {
                tracing::debug!(error = %e, range = replica.range_id(), "expiry sweep stopped");
            }
        }
    }
}

async fn sweep_range(replica: &Arc<Replica>) -> Result<(), String> {
    let desc = replica.descriptor();
    let db = replica.db().clone();
    let now = hlc::wall_clock_ms();
    let expired = tokio::task::spawn_blocking(move || {
        let mut expired = Vec::new();
        mvcc::scan_latest(&db, &desc.start_key, &desc.end_key, |key, latest| {
            if let Version::Put { expire_at_ms: Some(at), .. } = latest.version {
                if at <= now {
                    expired.push((Bytes::from(key), latest.commit_ts));
                }
            }
            Ok(true)
        })
        .map(|()| expired)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    for chunk in expired.chunks(SWEEP_BATCH) {
        for (key, version) in chunk {
            // One command per key so a rewritten key only fails its own condition.
            let command = WriteCommand { request_id: 0, conditions: vec![(key.clone(), *version)], ops: vec![Op::Delete { key: key.clone() }] };
            replica.write(command).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Removes MVCC versions no reader can see any more.
pub async fn version_gc(engine: Engine, metrics: CoreMetrics, interval: Duration, retention: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let engine = engine.clone();
        let safe_ms = hlc::wall_clock_ms().saturating_sub(retention.as_millis() as u64);
        let removed = tokio::task::spawn_blocking(move || collect_garbage(&engine, hlc::pack(safe_ms, 0))).await;
        match removed {
            Ok(Ok(n)) => metrics.gc_removed_versions.inc_by(n),
            Ok(Err(e)) => tracing::warn!(error = %e, "version GC failed"),
            Err(e) => tracing::warn!(error = %e, "version GC task failed"),
        }
    }
}

/// Deletes, below `safe_ts`, every version shadowed by a newer one and every tombstone.
pub fn collect_garbage(engine: &Engine, safe_ts: u64) -> Result<u64, crate::storage::StorageError> {
    let db = engine.db();
    let cf = engine.cf(CF_DATA);
    let mut batch = WriteBatch::default();
    let mut removed = 0u64;
    let mut current_key: Option<Vec<u8>> = None;
    // Whether a version of the current key at or below `safe_ts` has been kept already.
    let mut kept_below_safe = false;
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (raw_key, raw_value) = item?;
        let Some((user_key, ts)) = mvcc::decode_version_key(&raw_key) else { continue };
        if current_key.as_deref() != Some(&user_key[..]) {
            current_key = Some(user_key);
            kept_below_safe = false;
        }
        if ts >= safe_ts {
            continue;
        }
        let remove = kept_below_safe || matches!(Version::decode(&raw_value)?, Version::Tombstone);
        kept_below_safe = true;
        if remove {
            batch.delete_cf(cf, &raw_key);
            removed += 1;
        }
        if batch.len() >= 1024 {
            db.write(std::mem::take(&mut batch))?;
        }
    }
    db.write(batch)?;
    forget_old_requests(engine, safe_ts)?;
    Ok(removed)
}

/// Drops retry-dedup records well past the window in which apply still honours them.
fn forget_old_requests(engine: &Engine, safe_ts: u64) -> Result<(), crate::storage::StorageError> {
    let db = engine.db();
    let cf = engine.cf(crate::storage::CF_RANGE_META);
    let horizon = safe_ts.saturating_sub(hlc::pack(2 * crate::raft::state_machine::REQUEST_DEDUP_WINDOW_MS, 0));
    let mut batch = WriteBatch::default();
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (key, value) = item?;
        let is_request = key.len() == 8 + 3 + 16 && &key[8..11] == crate::storage::keys::REQUEST_PREFIX.as_bytes();
        if !is_request {
            continue;
        }
        if let Ok(ts) = postcard::from_bytes::<u64>(&value) {
            if ts < horizon {
                batch.delete_cf(cf, &key);
            }
        }
    }
    db.write(batch)?;
    Ok(())
}
