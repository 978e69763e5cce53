//! Leader-proxy circuit breaker: one per range, for one leadership (node id, address, term).
//!
//! When a range's leader dies, followers keep naming it as leader until an election ends,
//! so without a breaker every request would bounce between the dead leader and followers.
//! After `THRESHOLD` consecutive leadership or transport failures the breaker opens: other
//! requests for the range fail fast with a retryable error, and the request that tripped it
//! owns recovery — it waits out a backoff (100 ms doubling to 2 s) and sends exactly one
//! half-open probe. A success closes the breaker; any change of leader or term resets it at
//! once. Results from requests that were already in flight when it opened, and results for
//! an older leadership, are ignored; a cancelled probe neither counts nor clears.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, IntGaugeVec};

pub const THRESHOLD: u32 = 3;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// One leadership of one range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub node_id: u64,
    pub addr: String,
    pub term: u64,
}

/// How a request got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Normal,
    /// The single half-open probe.
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The leader answered (business errors included).
    Answered,
    /// Transport failure, timeout, or the node is not (or no longer) the leader.
    LeadershipFailure,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { retry_at: Instant, backoff: Duration, probing: bool },
}

#[derive(Debug)]
struct Breaker {
    leadership: Leadership,
    state: State,
}

impl Breaker {
    fn closed(leadership: &Leadership) -> Self {
        Self { leadership: leadership.clone(), state: State::Closed { failures: 0 } }
    }
}

pub struct Breakers {
    ranges: Mutex<HashMap<u64, Breaker>>,
    open: IntGaugeVec,
    trips: IntCounterVec,
}

impl Breakers {
    pub fn new(open: IntGaugeVec, trips: IntCounterVec) -> Self {
        Self { ranges: Mutex::default(), open, trips }
    }

    fn with<T>(&self, range: u64, who: &Leadership, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        let breaker = ranges.entry(range).or_insert_with(|| Breaker::closed(who));
        if breaker.leadership != *who {
            // A new leader or term: whatever we knew about the old one no longer applies.
            *breaker = Breaker::closed(who);
            self.open.with_label_values(&[&range.to_string()]).set(0);
        }
        f(breaker)
    }

    /// May a request go to `who`? `Err` carries how long until the next probe may go.
    pub fn admit(&self, range: u64, who: &Leadership) -> Result<Pass, Duration> {
        self.admit_at(range, who, Instant::now())
    }

    fn admit_at(&self, range: u64, who: &Leadership, now: Instant) -> Result<Pass, Duration> {
        self.with(range, who, |b| match &mut b.state {
            State::Closed { .. } => Ok(Pass::Normal),
            State::Open { retry_at, probing, .. } => {
                if now >= *retry_at && !*probing {
                    *probing = true;
                    Ok(Pass::Probe)
                } else {
                    Err(retry_at.saturating_duration_since(now).max(Duration::from_millis(1)))
                }
            }
        })
    }

    /// Records how a request to `who` ended. Returns true if this result tripped the breaker.
    pub fn record(&self, range: u64, who: &Leadership, pass: Pass, verdict: Verdict) -> bool {
        self.record_at(range, who, pass, verdict, Instant::now())
    }

    fn record_at(&self, range: u64, who: &Leadership, pass: Pass, verdict: Verdict, now: Instant) -> bool {
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        let b = ranges.entry(range).or_insert_with(|| Breaker::closed(who));
        if b.leadership != *who {
            return false; // a result about a leadership we no longer track
        }
        let label = range.to_string();
        match (&mut b.state, pass, verdict) {
            (State::Closed { failures }, _, Verdict::Answered) => *failures = 0,
            (State::Closed { failures }, _, Verdict::LeadershipFailure) => {
                *failures += 1;
                if *failures >= THRESHOLD {
                    b.state = State::Open { retry_at: now + INITIAL_BACKOFF, backoff: INITIAL_BACKOFF, probing: false };
                    self.open.with_label_values(&[&label]).set(1);
                    self.trips.with_label_values(&[&label]).inc();
                    return true;
                }
            }
            (State::Open { .. }, Pass::Probe, Verdict::Answered) => {
                b.state = State::Closed { failures: 0 };
                self.open.with_label_values(&[&label]).set(0);
            }
            (State::Open { retry_at, backoff, probing }, Pass::Probe, Verdict::LeadershipFailure) => {
                *backoff = (*backoff * 2).min(MAX_BACKOFF);
                *retry_at = now + *backoff;
                *probing = false;
            }
            // Late results of requests sent before the breaker opened.
            (State::Open { .. }, Pass::Normal, _) => {}
        }
        false
    }

    /// A probe that was cancelled before it finished: it neither counts nor clears, but the
    /// next request may probe.
    pub fn abandon_probe(&self, range: u64, who: &Leadership) {
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Breaker { state: State::Open { probing, .. }, leadership }) = ranges.get_mut(&range) {
            if leadership == who {
                *probing = false;
            }
        }
    }
}

/// Releases the probe slot if the request carrying it is dropped mid-flight.
pub struct ProbeGuard<'a> {
    breakers: &'a Breakers,
    range: u64,
    who: Leadership,
    armed: bool,
}

impl<'a> ProbeGuard<'a> {
    pub fn new(breakers: &'a Breakers, range: u64, who: &Leadership, pass: Pass) -> Self {
        Self { breakers, range, who: who.clone(), armed: pass == Pass::Probe }
    }

    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.breakers.abandon_probe(self.range, &self.who);
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Opts;

    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(
            IntGaugeVec::new(Opts::new("open", "o"), &["range"]).unwrap(),
            IntCounterVec::new(Opts::new("trips", "t"), &["range"]).unwrap(),
        )
    }

    fn leader(term: u64) -> Leadership {
        Leadership { node_id: 1, addr: "127.0.0.1:1".into(), term }
    }

    #[test]
    fn opens_after_consecutive_failures_and_fails_fast() {
        let b = breakers();
        let (l, t0) = (leader(1), Instant::now());
        assert_eq!(b.admit_at(1, &l, t0), Ok(Pass::Normal));
        assert!(!b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t0));
        // An answer in between resets the count: only consecutive failures trip it.
        assert!(!b.record_at(1, &l, Pass::Normal, Verdict::Answered, t0));
        assert!(!b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t0));
        assert!(!b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t0));
        assert!(b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t0), "third in a row trips");
        assert_eq!(b.admit_at(1, &l, t0), Err(INITIAL_BACKOFF));
        assert_eq!(b.trips.with_label_values(&["1"]).get(), 1);
        // Other ranges are unaffected.
        assert_eq!(b.admit_at(2, &l, t0), Ok(Pass::Normal));
    }

    #[test]
    fn exactly_one_probe_with_doubling_backoff() {
        let b = breakers();
        let (l, t0) = (leader(1), Instant::now());
        for _ in 0..THRESHOLD {
            b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t0);
        }
        let t1 = t0 + INITIAL_BACKOFF;
        assert_eq!(b.admit_at(1, &l, t1), Ok(Pass::Probe));
        assert!(b.admit_at(1, &l, t1).is_err(), "only one probe at a time");
        // A late failure from before the breaker opened changes nothing.
        b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t1);
        b.record_at(1, &l, Pass::Probe, Verdict::LeadershipFailure, t1);
        assert_eq!(b.admit_at(1, &l, t1), Err(INITIAL_BACKOFF * 2), "backoff doubles");
        let mut t = t1;
        let mut backoff = INITIAL_BACKOFF * 2;
        for _ in 0..6 {
            t += backoff;
            assert_eq!(b.admit_at(1, &l, t), Ok(Pass::Probe));
            b.record_at(1, &l, Pass::Probe, Verdict::LeadershipFailure, t);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        assert_eq!(b.admit_at(1, &l, t), Err(MAX_BACKOFF), "capped");
        t += MAX_BACKOFF;
        assert_eq!(b.admit_at(1, &l, t), Ok(Pass::Probe));
        b.record_at(1, &l, Pass::Probe, Verdict::Answered, t);
        assert_eq!(b.admit_at(1, &l, t), Ok(Pass::Normal), "a successful probe closes it");
    }

    #[test]
    fn a_new_leader_or_term_resets_and_old_results_are_ignored() {
        let b = breakers();
        let t0 = Instant::now();
        for _ in 0..THRESHOLD {
            b.record_at(1, &leader(1), Pass::Normal, Verdict::LeadershipFailure, t0);
        }
        assert!(b.admit_at(1, &leader(1), t0).is_err());
        assert_eq!(b.admit_at(1, &leader(2), t0), Ok(Pass::Normal), "new term: closed at once");
        assert_eq!(b.open.with_label_values(&["1"]).get(), 0);
        // Failures reported for the old term do not count against the new one.
        for _ in 0..THRESHOLD {
            b.record_at(1, &leader(1), Pass::Normal, Verdict::LeadershipFailure, t0);
        }
        assert_eq!(b.admit_at(1, &leader(2), t0), Ok(Pass::Normal));
    }

    #[test]
    fn a_cancelled_probe_frees_the_slot() {
        let b = breakers();
        let (l, t0) = (leader(1), Instant::now());
        for _ in 0..THRESHOLD {
            b.record_at(1, &l, Pass::Normal, Verdict::LeadershipFailure, t0);
        }
        let t1 = t0 + INITIAL_BACKOFF;
        let pass = b.admit_at(1, &l, t1).unwrap();
        drop(ProbeGuard::new(&b, 1, &l, pass));
        assert_eq!(b.admit_at(1, &l, t1), Ok(Pass::Probe), "no penalty, no success: just another probe");
    }
}
