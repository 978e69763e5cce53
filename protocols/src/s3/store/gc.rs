//! Background collection of chunks that no manifest or part names any more (left behind by
//! overwrites, deletes, aborted uploads and uploads whose gateway died).
//!
//! One pass reads, at one snapshot timestamp, every data id named by an object manifest or an
//! uploaded part, plus the data ids of writes still in progress (pending records), then walks
//! the chunk space one data id at a time — one scan call finds the next id — and range-deletes
//! the chunks of every id nobody names. It is safe to run on several gateways at once: data ids
//! are never reused; a write in progress is protected by its pending record, which it writes
//! before its first chunk, and ids younger than the grace period ([`GRACE_MS`] unless
//! configured) are left alone in case the record
//! is not visible at the pass's snapshot yet; a commit re-checks its pending record inside its
//! transaction, so a pass that removed an abandoned upload's record makes that commit fail
//! rather than name deleted chunks.

use std::collections::HashSet;

use bytes::Bytes;

use super::keys::{chunk_range, chunks_of, data_id_of, object_range_all, part_range_all, pending_key, pending_range};
use super::records::{decode, ObjectManifest, PartRecord};
use super::ts_to_ms;
use crate::kv::{KvError, KvStore, Mutation};

/// Chunks of data ids younger than this are never collected (the default grace period; tests
/// shorten it, and it must stay well above the time a pending record takes to commit).
pub const GRACE_MS: u64 = 60_000;
/// A pending write older than this is considered abandoned (its gateway died).
pub const ABANDONED_AFTER_MS: u64 = 24 * 3600 * 1000;
const PAGE: usize = 256;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkGcPass {
    pub live_data: u64,
    pub collected_data: u64,
}

/// One pass, sparing data ids younger than `grace_ms`; see the module documentation.
pub async fn collect_chunks<K: KvStore>(kv: &K, grace_ms: u64) -> Result<ChunkGcPass, KvError> {
    let ts = kv.timestamp().await?;
    let now_ms = ts_to_ms(ts);
    let mut live = HashSet::new();
    let (start, end) = object_range_all();
    scan_all(kv, start, end, ts, |_, value| {
        if let Ok(manifest) = decode::<ObjectManifest>(value) {
            live.extend(manifest.data_ids());
        }
    })
    .await?;
    let (start, end) = part_range_all();
    scan_all(kv, start, end, ts, |_, value| {
        if let Ok(part) = decode::<PartRecord>(value) {
            live.insert(part.segment.data_id);
        }
    })
    .await?;
    let mut abandoned = Vec::new();
    let (start, end) = pending_range();
    scan_all(kv, start, end, ts, |key, _| {
        if let Some(id) = data_id_of(key) {
            if ts_to_ms(id) + ABANDONED_AFTER_MS < now_ms {
                abandoned.push(id);
            } else {
                live.insert(id);
            }
        }
    })
    .await?;
    if !abandoned.is_empty() {
        let deletes = abandoned.iter().map(|id| Mutation::Delete { key: pending_key(*id) }).collect();
        kv.write(Vec::new(), deletes).await?;
    }

    let mut pass = ChunkGcPass { live_data: live.len() as u64, ..ChunkGcPass::default() };
    let (mut from, end) = chunk_range();
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), 1, false, ts).await?;
        let Some(first) = page.first() else { break };
        let Some(id) = data_id_of(&first.key) else { break };
        let (chunks_start, chunks_end) = chunks_of(id);
        if !live.contains(&id) && ts_to_ms(id) + grace_ms < now_ms {
            kv.write(Vec::new(), vec![Mutation::DeleteRange { start: chunks_start, end: chunks_end.clone() }]).await?;
            pass.collected_data += 1;
        }
        from = chunks_end;
    }
    Ok(pass)
}

async fn scan_all<K: KvStore>(
    kv: &K,
    mut from: Bytes,
    end: Bytes,
    ts: u64,
    mut visit: impl FnMut(&[u8], &[u8]),
) -> Result<(), KvError> {
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), PAGE, false, ts).await?;
        for scanned in &page {
            if let Some(value) = &scanned.state.value {
                visit(&scanned.key, value);
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => {
                let mut next = last.key.to_vec();
                next.push(0);
                from = Bytes::from(next);
            }
            _ => return Ok(()),
        }
    }
}
