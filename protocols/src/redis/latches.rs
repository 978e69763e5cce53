//! Per-key write latches inside one gateway.
//!
//! Writes are optimistic: a command reads, decides, and commits only if nothing it read
//! changed meanwhile, else it starts over. Many clients hammering one hot key (INCR on a
//! counter, HSET / LPUSH on one collection) through the same gateway would then mostly
//! conflict with each other and burn their retries. Latching the keys of each write command
//! for the duration of its read-decide-commit makes those writers queue instead, so one
//! gateway never races itself; conflicts remain possible only between gateways, where the
//! optimistic retry still settles them. Reads never latch.
//!
//! Keys are latched in sorted order, so commands latching overlapping key sets cannot
//! deadlock. Blocking commands (BLPOP...) are never latched: they wait for other writers.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OwnedMutexGuard;

const SHARDS: usize = 64;

type Latch = Arc<tokio::sync::Mutex<()>>;

/// The latch table; see the module documentation.
pub struct KeyLatches {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<Bytes, Latch>>>,
}

/// Holds the latches of one command; releases them when dropped.
pub struct LatchGuard<'a> {
    latches: &'a KeyLatches,
    held: Vec<(Bytes, Latch, OwnedMutexGuard<()>)>,
}

impl std::fmt::Debug for KeyLatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLatches").field("keys", &self.len()).finish()
    }
}

impl Default for KeyLatches {
    fn default() -> Self {
        KeyLatches { hasher: RandomState::new(), shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl KeyLatches {
    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Bytes, Latch>> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[index]
    }

    /// Waits until this caller holds every key in `keys`.
    pub async fn acquire(&self, keys: &[Bytes]) -> LatchGuard<'_> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let mut held = Vec::with_capacity(keys.len());
        for key in keys {
            let latch = {
                let mut shard = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
                shard.entry(key.clone()).or_default().clone()
            };
            let guard = latch.clone().lock_owned().await;
            held.push((key, latch, guard));
        }
        LatchGuard { latches: self, held }
    }

    /// Keys with a latch entry (held or awaited).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for LatchGuard<'_> {
    fn drop(&mut self) {
        for (key, latch, guard) in self.held.drain(..).rev() {
            drop(guard);
            let mut shard = self.latches.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
            // The table and our clone are the only references: nobody waits, drop the entry.
            // New waiters clone under the shard lock we hold, so this cannot race them.
            if Arc::strong_count(&latch) == 2 {
                shard.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<Bytes> {
        names.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect()
    }

    #[tokio::test]
    async fn a_second_writer_of_a_key_waits_for_the_first() {
        let latches = KeyLatches::default();
        let first = latches.acquire(&keys(&["a", "b"])).await;
        let other_keys = latches.acquire(&keys(&["c"])).await;
        let wanted = keys(&["b", "a"]);
        let mut second = Box::pin(latches.acquire(&wanted));
        assert!(futures_poll_once(&mut second).await.is_none(), "overlapping keys must wait");
        drop(first);
        let second = second.await;
        assert_eq!(second.held.len(), 2);
        drop(second);
        drop(other_keys);
        assert!(latches.is_empty(), "released latches leave no entries behind");
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(fut).poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
    }
}
