//! The gateway's side of the timestamp oracle (served by the meta range's leader).
//!
//! Concurrent requests for a timestamp leave together: one `GetTimestamps` call reserves a
//! block of consecutive timestamps, one per waiting request. Every request waited for its
//! block, so each timestamp is still above everything committed before its request began;
//! nothing is handed out from a block fetched earlier.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_proto::core as pb;
use strata_proto::core::catalog_client::CatalogClient;
use tonic::{Code, Status};

use crate::batcher::Batcher;
use crate::catalog_watch::LEADER_METADATA;
use crate::routing::{Router, CORE_CALL_TIMEOUT};

/// Most timestamps asked for in one call.
const MAX_BLOCK: usize = 4096;
const ATTEMPTS: usize = 30;
/// Fetches remembered for bounded-staleness reads: how many, and for how long.
const MAX_SAMPLES: usize = 4096;
const SAMPLE_AGE: Duration = Duration::from_secs(120);

pub struct Oracle {
    batcher: Batcher<(), u64>,
    /// Recent fetches, oldest first: the first timestamp of each block and when the call
    /// that fetched it was sent (for bounded-staleness reads).
    samples: Arc<Mutex<VecDeque<(u64, Instant)>>>,
}

struct Locator {
    router: Arc<Router>,
    /// The meta leader as last seen.
    leader: Mutex<Option<String>>,
}

impl Oracle {
    pub fn new(router: Arc<Router>) -> Self {
        let locator = Arc::new(Locator { router, leader: Mutex::new(None) });
        let samples: Arc<Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
        let seen = samples.clone();
        let batcher = Batcher::start(
            move |waiting: Vec<()>| {
                let locator = locator.clone();
                let seen = seen.clone();
                async move {
                    let count = waiting.len() as u32;
                    let sent = Instant::now();
                    let first = locator.fetch(count).await?;
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    // Calls may finish out of order; keep both columns increasing.
                    if seen.back().is_none_or(|(ts, at)| *ts < first && *at <= sent) {
                        seen.push_back((first, sent));
                        while seen.len() > MAX_SAMPLES || seen.front().is_some_and(|(_, at)| at.elapsed() > SAMPLE_AGE)
                        {
                            seen.pop_front();
                        }
                    }
                    Ok((0..u64::from(count)).map(|i| first + i).collect())
                }
            },
            MAX_BLOCK,
            1,
        );
        Self { batcher, samples }
    }

    /// The oldest timestamp this gateway fetched no earlier than `within` ago: every write
    /// acknowledged before that fetch was sent commits below it, so a read at or above it
    /// misses nothing older than `within`. `None` if no fetch was recent enough.
    pub fn floor_within(&self, within: Duration) -> Option<u64> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().find(|(_, sent)| sent.elapsed() <= within).map(|(ts, _)| *ts)
    }

    /// Whether the newest fetch was sent less than `within` ago.
    pub fn sampled_within(&self, within: Duration) -> bool {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.back().is_some_and(|(_, sent)| sent.elapsed() <= within)
    }

    /// A fresh timestamp.
    pub async fn timestamp(&self) -> Result<u64, Status> {
        self.batcher.call(()).await
    }
}

impl Locator {
    /// Asks the meta leader for `count` timestamps, following leader hints.
    async fn fetch(&self, count: u32) -> Result<u64, Status> {
        let mut last = Status::unavailable("no core node known for the timestamp oracle");
        let mut hint = self.leader.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for attempt in 0..ATTEMPTS {
            let addr = match hint.take() {
                Some(addr) => addr,
                None => {
                    let candidates = self.router.catalog().candidates().await;
                    if candidates.is_empty() {
                        return Err(last);
                    }
                    candidates[attempt % candidates.len()].clone()
                }
            };
            let channel = self.router.channel(&addr).map_err(|e| Status::unavailable(e.to_string()))?;
            let mut request = tonic::Request::new(pb::GetTimestampsRequest { count });
            request.set_timeout(CORE_CALL_TIMEOUT);
            match CatalogClient::new(channel).get_timestamps(request).await {
                Ok(resp) => {
                    *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
                    return Ok(resp.into_inner().first);
                }
                Err(status) => {
                    hint = status.metadata().get(LEADER_METADATA).and_then(|v| v.to_str().ok()).map(String::from);
                    if status.code() != Code::Unavailable && status.code() != Code::DeadlineExceeded {
                        tracing::debug!(%addr, error = %status, "timestamp oracle call failed");
                    }
                    last = status;
                    if hint.is_none() {
                        tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
                    }
                }
            }
        }
        Err(last)
    }
}
