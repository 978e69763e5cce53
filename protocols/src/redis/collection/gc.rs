//! Background collection of sub-keys orphaned by DEL, expiry, overwrite or FLUSHDB.
//!
//! A sub-key is garbage when no live metadata record names its version. One pass reads, at a
//! single snapshot timestamp, the versions of every live collection and then the sub-key space,
//! jumping over each live version's sub-keys with one seek; every other version's sub-keys are
//! removed with one range delete. That is safe: versions are never reused, and a version
//! without a live metadata record at the snapshot can never gain one later (a writer that read
//! the record before it was deleted conflicts with the delete).

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::{subkey_range, Meta, SUBKEY_PREFIX};
use crate::kv::{KvError, KvStore, Mutation};
use crate::redis::keyspace::{keyspace_range, value_type, ValueType};

const PAGE: usize = 1024;
/// Orphaned versions found before they are deleted.
const ORPHANS_PER_BATCH: usize = 64;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcPass {
    pub live_collections: u64,
    pub orphaned_versions: u64,
}

/// One garbage-collection pass over every collection's sub-keys.
pub async fn collect_garbage<K: KvStore>(kv: &K) -> Result<GcPass, KvError> {
    let ts = kv.timestamp().await?;
    let live = live_versions(kv, ts).await?;
    let (mut from, end) = subkey_range();
    let mut orphans = Vec::new();
    let mut pass = GcPass { live_collections: live.len() as u64, ..GcPass::default() };
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), 1, false, ts).await?;
        let Some(first) = page.first() else { break };
        let Some(version) = version_of(&first.key) else {
            // Not a well-formed sub-key: skip just this key.
            from = after(&first.key);
            continue;
        };
        if !live.contains(&version) {
            orphans.push(version);
        }
        match version.checked_add(1) {
            Some(next) => from = version_prefix(next),
            None => break,
        }
        if orphans.len() >= ORPHANS_PER_BATCH {
            pass.orphaned_versions += delete_versions(kv, &mut orphans).await?;
        }
    }
    pass.orphaned_versions += delete_versions(kv, &mut orphans).await?;
    Ok(pass)
}

/// The version of every live collection at `ts`.
async fn live_versions<K: KvStore>(kv: &K, ts: u64) -> Result<HashSet<u64>, KvError> {
    let (mut from, end) = keyspace_range();
    let mut live = HashSet::new();
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), PAGE, false, ts).await?;
        for scanned in &page {
            let Some(raw) = &scanned.state.value else { continue };
            if matches!(value_type(raw), Ok(kind) if kind != ValueType::String) {
                if let Ok(meta) = Meta::decode(raw) {
                    live.insert(meta.version);
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => from = after(&last.key),
            _ => return Ok(live),
        }
    }
}

/// Deletes the sub-keys of each version, one range delete per write: the store applies a
/// range delete only on its own (range by range), never combined with other mutations.
async fn delete_versions<K: KvStore>(kv: &K, versions: &mut Vec<u64>) -> Result<u64, KvError> {
    let mut done = 0;
    for &v in versions.iter() {
        let start = version_prefix(v);
        let end = v.checked_add(1).map_or_else(|| subkey_range().1, version_prefix);
        kv.write(Vec::new(), vec![Mutation::DeleteRange { start, end }]).await?;
        done += 1;
    }
    versions.clear();
    Ok(done)
}

fn version_of(key: &[u8]) -> Option<u64> {
    if key.first() != Some(&SUBKEY_PREFIX) {
        return None;
    }
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

fn version_prefix(version: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(9);
    out.put_u8(SUBKEY_PREFIX);
    out.put_u64(version);
    out.freeze()
}

/// The smallest key after `key`.
fn after(key: &[u8]) -> Bytes {
    let mut next = BytesMut::from(key);
    next.put_u8(0);
    next.freeze()
}
