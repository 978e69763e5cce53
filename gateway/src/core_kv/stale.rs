//! Bounded-staleness reads: served by any replica at its closed timestamp, so reads spread
//! over followers and leaders do less work (docs/follower-reads.md).
//!
//! A client's `max_staleness` becomes a timestamp floor without comparing clocks: the oldest
//! oracle timestamp this gateway fetched no earlier than `max_staleness` ago. Every write
//! acknowledged before that fetch was sent commits below it, so a replica whose closed
//! timestamp is at or above the floor serves a read that misses no write acknowledged more
//! than `max_staleness` before the read began. While such reads happen, a sampler fetches one
//! timestamp every [`SAMPLE_EVERY`] so a floor is always at hand.
//!
//! A replica that cannot serve (no closed timestamp in its term, behind, or too stale) answers
//! a typed `StaleReplica` error and the gateway tries the next replica, then the leader with
//! an ordinary linearizable read, which satisfies any bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_proto::core as pb;
use strata_protocols::kv::{KvError, ReadSnapshot, ScannedKey};

use super::{key_state, CoreKv, LOCK_WAIT};
use crate::routing::Route;
use crate::txn::resolver::LockFate;

/// How often the sampler fetches an oracle timestamp while bounded-staleness reads happen.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The sampler stops after this long without a bounded-staleness read.
const SAMPLER_IDLE_STOP: Duration = Duration::from_secs(30);
/// Replicas tried before reading at the leader.
const REPLICAS_TRIED: usize = 2;
/// A replica that does not answer within this is skipped (a partitioned node would otherwise
/// hold the read for the whole core call timeout).
const REPLICA_TIMEOUT: Duration = Duration::from_millis(1_000);

/// State shared by the clones of one gateway's [`CoreKv`].
#[derive(Default)]
pub(crate) struct StaleReads {
    sampler_running: AtomicBool,
    /// Milliseconds since `epoch` of the last bounded-staleness read.
    last_use_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl StaleReads {
    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64
    }
}

impl CoreKv {
    /// The read timestamp floor for a read allowing `max_staleness`; `None` when this gateway
    /// has no oracle sample recent enough yet (the read then goes to the leader).
    fn stale_floor(&self, max_staleness: Duration) -> Option<u64> {
        let stale = &self.stale;
        stale.last_use_ms.store(stale.now_ms(), Ordering::Relaxed);
        if !stale.sampler_running.swap(true, Ordering::AcqRel) {
            tokio::spawn(sample_oracle(self.clone()));
        }
        self.oracle.floor_within(max_staleness)
    }

    /// Reads `keys` at a snapshot that misses no write acknowledged more than
    /// `max_staleness_ms` before the call, from whichever replica can serve it. Keys spread
    /// over several ranges are read linearizably (at the leaders), as [`CoreKv::get`] does.
    pub async fn get_stale(&self, keys: &[Bytes], max_staleness_ms: u64) -> Result<ReadSnapshot, KvError> {
        if max_staleness_ms == 0 || keys.is_empty() {
            return self.read(keys, 0).await;
        }
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut waits = 0;
        loop {
            let served = match self.stale_floor(Duration::from_millis(max_staleness_ms)) {
                Some(floor) => self.try_stale_get(keys, floor).await,
                None => None,
            };
            let Some(resp) = served else {
                self.metrics().stale_read_fallbacks.inc();
                return self.read(keys, 0).await;
            };
            if resp.states.len() != keys.len() {
                return Err(KvError::Internal(format!(
                    "core answered {} states for {} keys",
                    resp.states.len(),
                    keys.len()
                )));
            }
            let locks: Vec<pb::LockInfo> = resp.states.iter().filter_map(|s| s.lock.clone()).collect();
            if locks.is_empty() {
                let states = resp.states.into_iter().map(key_state).collect();
                return Ok(ReadSnapshot { states, now_ms: resp.now_ms });
            }
            // A snapshot read meeting a lock settles it and reads again, waiting for a
            // transaction still committing (it may commit at or below the read timestamp).
            let mut pending = false;
            for lock in &locks {
                pending |= self.resolve_lock(lock).await? == LockFate::Pending;
            }
            if pending {
                if tokio::time::Instant::now() >= deadline {
                    return Err(KvError::TryAgain(super::LOCKED_TOO_LONG.into()));
                }
                crate::txn::backoff(waits).await;
                waits += 1;
            }
        }
    }

    /// One bounded-staleness Get of keys of one range, tried on up to [`REPLICAS_TRIED`]
    /// replicas; `None` if none served it (or the keys do not share a range).
    async fn try_stale_get(&self, keys: &[Bytes], min_read_ts: u64) -> Option<pb::GetResponse> {
        let route = self.router.route_for(&keys[0])?;
        if !keys.iter().all(|k| route.contains(k)) {
            return None;
        }
        for addr in self.stale_candidates(&route) {
            let _load = self.router.stale_read_started(&addr);
            let req = pb::GetRequest {
                header: Some(route.header()),
                keys: keys.to_vec(),
                read_ts: 0,
                stale: Some(pb::BoundedStaleness { min_read_ts }),
            };
            let answer = tokio::time::timeout(REPLICA_TIMEOUT, self.router.batched_get(&addr, req)).await;
            match answer {
                Ok(Ok(resp)) if resp.range_error.is_none() => {
                    self.count_stale(&addr, "served");
                    return Some(resp);
                }
                Ok(Ok(_)) => self.count_stale(&addr, "refused"),
                Ok(Err(_)) | Err(_) => {
                    self.router.mark_failed(&addr);
                    self.count_stale(&addr, "error");
                }
            }
        }
        None
    }

    fn stale_candidates(&self, route: &Route) -> Vec<String> {
        let mut order = self.router.stale_read_order(route);
        order.truncate(REPLICAS_TRIED);
        order
    }

    fn count_stale(&self, addr: &str, outcome: &str) {
        self.metrics().stale_reads.with_label_values(&[addr, outcome]).inc();
    }

    /// Live keys in `[start, end)`, forward, at most `limit`, each range read at a snapshot
    /// that misses no write acknowledged more than `max_staleness_ms` before the call (ranges
    /// may be read at different timestamps, as RawKV scans read each range at its own newest
    /// state). Reverse scans and a zero bound are read at the leaders.
    pub async fn scan_stale(
        &self,
        start: Bytes,
        end: Bytes,
        limit: usize,
        reverse: bool,
        max_staleness_ms: u64,
    ) -> Result<Vec<ScannedKey>, KvError> {
        if max_staleness_ms == 0 || reverse {
            return self.scan_at(start, end, limit, 0, reverse).await;
        }
        self.ensure_routes().await?;
        let mut out = Vec::new();
        let mut from = start;
        while out.len() < limit {
            let (resp, served_end) = self.scan_range_stale(&from, &end, limit - out.len(), max_staleness_ms).await?;
            out.extend(resp.states.into_iter().map(|s| ScannedKey { key: s.key.clone(), state: key_state(s) }));
            match super::next_range_start(served_end, &end) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// One range's part of [`CoreKv::scan_stale`]: from a replica if one serves it (locks met
    /// are settled and the range scanned again), else from the leader.
    async fn scan_range_stale(
        &self,
        from: &Bytes,
        end: &Bytes,
        limit: usize,
        max_staleness_ms: u64,
    ) -> Result<(pb::ScanResponse, Bytes), KvError> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut waits = 0;
        loop {
            let served = match (self.stale_floor(Duration::from_millis(max_staleness_ms)), self.router.route_for(from))
            {
                (Some(floor), Some(route)) => self.try_stale_scan(&route, from, end, limit, floor).await,
                _ => None,
            };
            let Some((mut resp, served_end)) = served else {
                self.metrics().stale_read_fallbacks.inc();
                return self.scan_range_settled(from.clone(), end.clone(), limit, 0, false).await;
            };
            let Some(lock) = resp.lock.take() else { return Ok((resp, served_end)) };
            if self.resolve_lock(&lock).await? == LockFate::Pending {
                if tokio::time::Instant::now() >= deadline {
                    return Err(KvError::TryAgain(super::LOCKED_TOO_LONG.into()));
                }
                crate::txn::backoff(waits).await;
                waits += 1;
            }
        }
    }

    async fn try_stale_scan(
        &self,
        route: &Route,
        from: &Bytes,
        end: &Bytes,
        limit: usize,
        min_read_ts: u64,
    ) -> Option<(pb::ScanResponse, Bytes)> {
        for addr in self.stale_candidates(route) {
            let _load = self.router.stale_read_started(&addr);
            let req = pb::ScanRequest {
                header: Some(route.header()),
                start_key: from.clone(),
                end_key: end.clone(),
                limit: limit.min(u32::MAX as usize) as u32,
                stale: Some(pb::BoundedStaleness { min_read_ts }),
                ..Default::default()
            };
            let answer = match self.router.client(&addr) {
                Ok(mut client) => tokio::time::timeout(REPLICA_TIMEOUT * 10, client.scan(req)).await.ok(),
                Err(_) => None,
            };
            match answer {
                Some(Ok(resp)) if resp.get_ref().range_error.is_none() => {
                    self.count_stale(&addr, "served");
                    return Some((resp.into_inner(), route.descriptor.end_key.clone()));
                }
                Some(Ok(_)) => self.count_stale(&addr, "refused"),
                Some(Err(_)) | None => {
                    self.router.mark_failed(&addr);
                    self.count_stale(&addr, "error");
                }
            }
        }
        None
    }
}

/// Fetches an oracle timestamp every [`SAMPLE_EVERY`] while bounded-staleness reads happen,
/// so [`CoreKv::stale_floor`] finds one fetched at most a tick more than the bound ago.
async fn sample_oracle(kv: CoreKv) {
    let stale: Arc<StaleReads> = kv.stale.clone();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let idle_ms = stale.now_ms().saturating_sub(stale.last_use_ms.load(Ordering::Relaxed));
        if idle_ms > SAMPLER_IDLE_STOP.as_millis() as u64 {
            stale.sampler_running.store(false, Ordering::Release);
            return;
        }
        if let Err(e) = kv.fresh_ts().await {
            tracing::debug!(error = %e, "oracle sample for bounded-staleness reads failed");
        }
    }
}
