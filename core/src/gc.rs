//! Background cleanup of the MVCC data.
//!
//! - The expiry sweeper walks the local expiry index (values with a TTL, by expiry time), so
//!   its cost follows the number of expiring keys, not the size of the data. On a range
//!   leader it deletes expired values *through Raft* (conditioned on the version it saw),
//!   because whether a key has a value decides write conditions and must be identical on
//!   every replica.
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
use crate::storage::{keys, Engine, CF_DATA, CF_EXPIRY};

/// Most index entries looked at per sweep, so one sweep never monopolises a node.
const SWEEP_LIMIT: usize = 4096;

/// Walks the expiry index up to now. On a range leader, expired values are deleted through
/// Raft; on every node, index entries whose value is gone or was rewritten are dropped.
pub async fn expiry_sweeper(engine: Engine, replicas: Replicas, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&engine, &replicas).await {
            tracing::debug!(error = %e, "expiry sweep stopped early");
        }
    }
}

/// What to do with one entry of the expiry index.
enum Due {
    /// The value is still there and expired: delete it (if we lead its range).
    Expired { replica: Arc<Replica>, key: Bytes, version: u64 },
    /// The entry no longer describes a live value (deleted, rewritten, moved away).
    Stale,
}

async fn sweep(engine: &Engine, replicas: &Replicas) -> Result<(), String> {
    let now = hlc::wall_clock_ms();
    let db = engine.db().clone();
    let due: Vec<(Vec<u8>, u64, Bytes)> = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || {
            let cf = engine.cf(CF_EXPIRY);
            let mut opts = rocksdb::ReadOptions::default();
            opts.set_iterate_upper_bound(keys::expiry_entry(now.saturating_add(1), b""));
            let mut due = Vec::new();
            for item in db.iterator_cf_opt(cf, opts, IteratorMode::Start).take(SWEEP_LIMIT) {
                let (k, _) = item.map_err(|e| e.to_string())?;
                if let Some((at, key)) = keys::parse_expiry_entry(&k) {
                    due.push((k.to_vec(), at, Bytes::copy_from_slice(key)));
                }
            }
            Ok::<_, String>(due)
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let ranges = replicas.all();
    let mut stale = WriteBatch::default();
    let mut deletes = Vec::new();
    for (index_key, at, key) in due {
        let decision = match ranges.iter().find(|r| r.descriptor().contains(&key)) {
            None => Due::Stale,
            Some(replica) => match mvcc::read_latest(engine.db(), &key).map_err(|e| e.to_string())? {
                Some(latest) if matches!(latest.version, Version::Put { expire_at_ms: Some(x), .. } if x == at) => {
                    Due::Expired { replica: replica.clone(), key, version: latest.commit_ts }
                }
                _ => Due::Stale,
            },
        };
        match decision {
            Due::Stale => stale.delete_cf(engine.cf(CF_EXPIRY), &index_key),
            Due::Expired { replica, key, version } => {
                if replica.leader().map(|(id, _)| id) != Some(replica.node_id) {
                    continue; // the leader deletes it; we drop the entry once it is gone
                }
                // Conditioned on the version seen, so a key rewritten meanwhile survives.
                let command = WriteCommand {
                    conditions: vec![(key.clone(), version)],
                    ops: vec![Op::Delete { key }],
                    ..Default::default()
                };
                deletes.push(async move { replica.write(command, 0).await.map(|_| index_key) });
            }
        }
    }
    // Proposed together, the deletes share Raft entries instead of one round trip each.
    for done in futures::future::join_all(deletes).await {
        match done {
            Ok(index_key) => stale.delete_cf(engine.cf(CF_EXPIRY), &index_key),
            Err(e) => tracing::debug!(error = %e, "expiry delete not applied; retried next sweep"),
        }
    }
    engine.db().write(stale).map_err(|e| e.to_string())
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
    let cf = engine.cf(crate::storage::CF_DEDUP);
    let horizon = safe_ts.saturating_sub(hlc::pack(2 * crate::raft::state_machine::REQUEST_DEDUP_WINDOW_MS, 0));
    let mut batch = WriteBatch::default();
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (key, value) = item?;
        if let Ok(ts) = postcard::from_bytes::<u64>(&value) {
            if ts < horizon {
                batch.delete_cf(cf, &key);
            }
        }
        if batch.len() >= 1024 {
            db.write(std::mem::take(&mut batch))?;
        }
    }
    db.write(batch)?;
    Ok(())
}
