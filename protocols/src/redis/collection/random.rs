//! Random picks from a collection (SPOP, SRANDMEMBER, HRANDFIELD) without reading all of it.
//!
//! Small collections (at most [`FULL_READ_LIMIT`] entries, or when most of the collection is
//! wanted anyway) are read whole and sampled exactly like Redis: uniformly, without
//! repetition for a positive count. Larger ones are sampled by *probing*: a random key is
//! drawn between the collection's first and last sub-key (byte by byte from the bytes its
//! members use, see [`Prober`], so members like `user:000123` spread evenly), and a short run
//! of entries is read from there (wrapping to the start). This costs a few small scans instead of reading
//! millions of entries; the price is that the distribution follows the key space rather than
//! being exactly uniform (entries after a wide gap between neighbours are likelier, and
//! neighbours within one run come together). docs/redis.md describes it.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use bytes::{BufMut, Bytes, BytesMut};

use super::{scan_sub, sub_key_rest, Meta, SubKind};
use crate::kv::KvStore;
use crate::redis::error::RedisError;

/// Collections up to this size are read whole for random picks.
pub const FULL_READ_LIMIT: u64 = 1024;
/// Probes per request for large collections: a request for N entries reads runs of about
/// N / PROBES consecutive entries from this many random places.
const PROBES: u64 = 32;
/// Probing rounds before giving up on probes and reading everything (only reachable with
/// pathological key distributions, since probing is used only when at most half is wanted).
const MAX_ROUNDS: usize = 256;

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        // RandomState is seeded from the OS once per thread: a cheap unpredictable seed.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        hasher.finish() | 1
    });
}

/// A uniformly random u64 (SplitMix64 over a per-thread random seed; not cryptographic).
pub fn random_u64() -> u64 {
    RNG.with(|state| {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A random number in `0..bound` (`bound` > 0).
pub fn random_below(bound: u64) -> u64 {
    // Lemire's multiply-shift: uniform enough for sampling, no division.
    ((u128::from(random_u64()) * u128::from(bound)) >> 64) as u64
}

/// Shuffles `items` in place (Fisher–Yates).
pub fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, random_below(i as u64 + 1) as usize);
    }
}

/// `count` distinct random entries (sub-key, value) of one family; all of them, in key order,
/// when `count` is at least the collection's size. Must run inside a transaction.
pub async fn pick_distinct<K: KvStore>(
    kv: &K,
    meta: &Meta,
    kind: SubKind,
    count: u64,
) -> Result<Vec<(Bytes, Bytes)>, RedisError> {
    let (start, end) = meta.sub_range(kind);
    if count >= meta.size {
        return scan_sub(kv, start, end, usize::MAX, false).await;
    }
    if meta.size <= FULL_READ_LIMIT || count.saturating_mul(2) >= meta.size {
        let mut all = scan_sub(kv, start, end, usize::MAX, false).await?;
        // Partial Fisher–Yates: the first `count` slots end up a uniform sample.
        let count = count as usize;
        for i in 0..count.min(all.len()) {
            let j = i + random_below((all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(count);
        return Ok(all);
    }
    let prober = Prober::new(kv, meta, kind).await?;
    let mut seen = HashSet::new();
    let mut picked = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let missing = count - picked.len() as u64;
        if missing == 0 {
            return Ok(picked);
        }
        for entry in prober.run(kv, missing.div_ceil(PROBES).max(1)).await? {
            if (picked.len() as u64) < count && seen.insert(entry.0.clone()) {
                picked.push(entry);
            }
        }
    }
    // Probing kept hitting the same entries: fall back to the exact method.
    let mut all = scan_sub(kv, start, end, usize::MAX, false).await?;
    all.retain(|entry| !seen.contains(&entry.0));
    shuffle(&mut all);
    picked.extend(all.into_iter().take((count as usize).saturating_sub(picked.len())));
    Ok(picked)
}

/// `count` random entries, possibly repeated, in random order (the collection is not empty).
pub async fn pick_with_repetition<K: KvStore>(
    kv: &K,
    meta: &Meta,
    kind: SubKind,
    count: u64,
) -> Result<Vec<(Bytes, Bytes)>, RedisError> {
    if meta.size <= FULL_READ_LIMIT {
        let (start, end) = meta.sub_range(kind);
        let all = scan_sub(kv, start, end, usize::MAX, false).await?;
        if all.is_empty() {
            return Ok(Vec::new());
        }
        return Ok((0..count).map(|_| all[random_below(all.len() as u64) as usize].clone()).collect());
    }
    let prober = Prober::new(kv, meta, kind).await?;
    let mut picked = Vec::new();
    while (picked.len() as u64) < count {
        let missing = count - picked.len() as u64;
        let run = prober.run(kv, missing.div_ceil(PROBES).max(1).min(missing)).await?;
        if run.is_empty() {
            break;
        }
        picked.extend(run);
    }
    picked.truncate(count as usize);
    shuffle(&mut picked);
    Ok(picked)
}

/// Entries read from each end of the collection to learn which bytes its members use.
const SAMPLE: usize = 64;
/// Bytes of a probe after the members' common prefix.
const PROBE_LEN: usize = 8;

/// Draws random positions between a collection's first and last entry.
///
/// Members usually share structure (`user:000123`, UUIDs, numbers), and only some bytes occur
/// at each position. A probe keeps the common prefix of the first and last member, then draws
/// each following byte uniformly from the range seen at that position in a sample of entries
/// from both ends; so digits are drawn among digits, hex among hex, and probes spread across
/// the members instead of piling onto the first member after an unused byte range.
struct Prober {
    start: Bytes,
    end: Bytes,
    prefix: Bytes,
    /// Per position after the prefix: the smallest and largest byte seen there.
    ranges: Vec<(u8, u8)>,
    kind: SubKind,
    meta: Meta,
}

impl Prober {
    async fn new<K: KvStore>(kv: &K, meta: &Meta, kind: SubKind) -> Result<Prober, RedisError> {
        let (start, end) = meta.sub_range(kind);
        let head = scan_sub(kv, start.clone(), end.clone(), SAMPLE, false).await?;
        let tail = scan_sub(kv, start.clone(), end.clone(), SAMPLE, true).await?;
        let first = head.first().map(|(key, _)| sub_key_rest(key)).unwrap_or_default();
        let last = tail.first().map(|(key, _)| sub_key_rest(key)).unwrap_or_default();
        let shared = first.iter().zip(last.iter()).take_while(|(a, b)| a == b).count();
        let mut ranges: Vec<(u8, u8)> = Vec::with_capacity(PROBE_LEN);
        for position in shared..shared + PROBE_LEN {
            let seen = head.iter().chain(&tail).filter_map(|(key, _)| sub_key_rest(key).get(position).copied());
            let Some(range) = seen.fold(None, |acc: Option<(u8, u8)>, byte| match acc {
                None => Some((byte, byte)),
                Some((low, high)) => Some((low.min(byte), high.max(byte))),
            }) else {
                break;
            };
            ranges.push(range);
        }
        Ok(Prober { start, end, prefix: first.slice(..shared), ranges, kind, meta: *meta })
    }

    /// Up to `len` consecutive entries from a random position, wrapping to the start.
    async fn run<K: KvStore>(&self, kv: &K, len: u64) -> Result<Vec<(Bytes, Bytes)>, RedisError> {
        let mut probe = BytesMut::from(&self.prefix[..]);
        for &(low, high) in &self.ranges {
            probe.put_u8(low + random_below(u64::from(high - low) + 1) as u8);
        }
        let from = self.meta.sub_key(self.kind, &probe);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let mut run = scan_sub(kv, from, self.end.clone(), len, false).await?;
        if run.len() < len {
            let wrapped = scan_sub(kv, self.start.clone(), self.end.clone(), len - run.len(), false).await?;
            let seen: HashSet<Bytes> = run.iter().map(|(key, _)| key.clone()).collect();
            run.extend(wrapped.into_iter().filter(|(key, _)| !seen.contains(key)));
        }
        Ok(run)
    }
}
