//! Clients blocked in BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP.
//!
//! A blocked client holds nothing while it waits (no transaction, no lock, no admission
//! permit): it registers in this gateway's [`KeyWaiters`] under each key it waits for and
//! sleeps until one of three things happens:
//!
//! - a command on this gateway that may have made one of its keys non-empty (LPUSH, RPUSH,
//!   LINSERT, LMOVE... or an EXEC containing one) calls [`KeyWaiters::signal`] after its
//!   commit: the client retries at once;
//! - its poll interval passes (10 ms doubling up to 100 ms, reset by every signal): the
//!   client retries, which is how pushes through *other* gateways reach it;
//! - its connection closes ([`Hangup`]): it gives up without popping anything.
//!
//! Each retry is one ordinary atomic pop (pop + reply decided in one transaction), so an
//! element is delivered at most once and never lost between clients.
//!
//! Wake before reply: like Redis, which serves blocked clients before it answers the next
//! command, a command that wakes waiters on this gateway awaits [`Wakeups::served`] before it
//! replies: it resolves once every client it woke (and every client those woke in turn, e.g.
//! a BLMOVE into a list another client waits on) has made its try and committed its pop. So a
//! client that pushes and then reads sees the blocked clients' pops, as with Redis.
//!
//! Fairness: waiters on a key are kept in arrival order. A push wakes the oldest waiter not
//! already woken, a client that was served passes the signal on to the next waiter of its key
//! (so several pushed elements reach several waiters one after the other, in order), and a
//! waiter retries on its poll timer only while it is the oldest waiter of one of its keys, so
//! on one gateway clients are served first come, first served. Across gateways there is no
//! global order: whichever gateway's waiter retries first wins.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

/// Longest a waking command waits for the clients it woke (see [`Wakeups::served`]): a safety
/// net only, a woken client tries at once.
const SERVED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// This gateway's blocked clients, by Redis key.
#[derive(Default)]
pub struct KeyWaiters {
    queues: Mutex<HashMap<Bytes, VecDeque<Arc<Waiter>>>>,
    next_id: AtomicU64,
    /// Registrations alive (INFO `blocked_clients`).
    blocked: AtomicUsize,
}

impl fmt::Debug for KeyWaiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyWaiters").field("keys", &self.lock().len()).finish()
    }
}

struct Waiter {
    id: u64,
    notify: Notify,
    /// Woken by a signal it has not acted on yet: later signals skip it and wake the next
    /// waiter instead, and if it leaves without acting the signal is passed on.
    woken: AtomicBool,
    /// The wake-up not acted on yet: which key it was for, and its [`Handoff`].
    wake: Mutex<Option<Wake>>,
}

/// Why a waiter was woken: `key` may have gained elements; `handoff` (if any) ties it to the
/// command that is waiting for it.
#[derive(Debug)]
pub struct Wake {
    pub key: Bytes,
    pub handoff: Option<Handoff>,
}

/// Held by a woken waiter until its try is done; the command that woke it awaits the drop of
/// every copy ([`Wakeups::served`]).
#[derive(Clone, Debug)]
pub struct Handoff(#[allow(dead_code)] mpsc::Sender<()>);

/// The waiters one signal woke; see [`Wakeups::served`].
#[must_use = "await `served` before replying, so that the woken clients are served first"]
pub struct Wakeups {
    all_served: mpsc::Receiver<()>,
}

impl Wakeups {
    /// Resolves once every waiter this signal woke (directly or through the clients they
    /// served) has made its try.
    pub async fn served(mut self) {
        // Nothing is ever sent: `recv` returns `None` once every `Handoff` copy is dropped.
        let _ = tokio::time::timeout(SERVED_WAIT, self.all_served.recv()).await;
    }
}

fn lock_wake(slot: &Mutex<Option<Wake>>) -> MutexGuard<'_, Option<Wake>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl KeyWaiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<Bytes, VecDeque<Arc<Waiter>>>> {
        // A panic while holding the lock cannot leave the queues inconsistent (each change is
        // one push or one retain), so a poisoned lock is still usable.
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a waiter on `keys`, at the back of each key's queue.
    pub fn register(&self, keys: &[Bytes]) -> Registration<'_> {
        let waiter = Arc::new(Waiter {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            notify: Notify::new(),
            woken: AtomicBool::new(false),
            wake: Mutex::new(None),
        });
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(key) {
                unique.push(key.clone());
            }
        }
        self.blocked.fetch_add(1, Ordering::Relaxed);
        let mut queues = self.lock();
        for key in &unique {
            queues.entry(key.clone()).or_default().push_back(waiter.clone());
        }
        Registration { waiters: self, waiter, keys: unique }
    }

    /// Key `key` may have gained `count` elements (committed): wakes up to `count` of its
    /// waiters, oldest first. Await [`Wakeups::served`] before replying.
    pub fn signal(&self, key: &[u8], count: usize) -> Wakeups {
        let (sender, all_served) = mpsc::channel(1);
        self.signal_within(key, count, Some(&Handoff(sender)));
        Wakeups { all_served }
    }

    /// Like [`Self::signal`], as part of an earlier wake-up (`handoff`): a served client passing
    /// the signal on, or moving an element into another waited-on list.
    pub fn signal_within(&self, key: &[u8], count: usize, handoff: Option<&Handoff>) {
        let queues = self.lock();
        let Some(queue) = queues.get(key) else { return };
        let mut left = count;
        for waiter in queue {
            if left == 0 {
                break;
            }
            if !waiter.woken.swap(true, Ordering::AcqRel) {
                *lock_wake(&waiter.wake) = Some(Wake { key: Bytes::copy_from_slice(key), handoff: handoff.cloned() });
                waiter.notify.notify_one();
                left -= 1;
            }
        }
    }

    /// Number of clients waiting on `key`.
    pub fn waiting_on(&self, key: &[u8]) -> usize {
        self.lock().get(key).map_or(0, VecDeque::len)
    }

    /// Number of clients blocked on this gateway (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }
}

/// One blocked client's place in the queues; leaves them when dropped.
pub struct Registration<'a> {
    waiters: &'a KeyWaiters,
    waiter: Arc<Waiter>,
    keys: Vec<Bytes>,
}

impl Registration<'_> {
    /// Waits for a signal (returns at once if one arrived since the last [`Self::acting`]).
    pub async fn signalled(&self) {
        self.waiter.notify.notified().await;
    }

    /// Call before each attempt to pop: the waiter is acting on whatever woke it (`None`
    /// when it tries on its poll timer). Keep the returned wake-up until the attempt is done
    /// (and pass its handoff to the signals it makes).
    pub fn acting(&self) -> Option<Wake> {
        let wake = lock_wake(&self.waiter.wake).take();
        self.waiter.woken.store(false, Ordering::Release);
        wake
    }

    /// Whether this waiter is the oldest waiter of at least one of its keys.
    pub fn is_first(&self) -> bool {
        let queues = self.waiters.lock();
        self.keys.iter().any(|key| queues.get(key).and_then(|q| q.front()).is_some_and(|w| w.id == self.waiter.id))
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.waiters.blocked.fetch_sub(1, Ordering::Relaxed);
        let unacted = self.waiter.woken.load(Ordering::Acquire);
        {
            let mut queues = self.waiters.lock();
            for key in &self.keys {
                if let Some(queue) = queues.get_mut(key) {
                    queue.retain(|w| w.id != self.waiter.id);
                    if queue.is_empty() {
                        queues.remove(key);
                    }
                }
            }
        }
        // A signal this waiter received but never acted on (it timed out or its client left
        // meanwhile) belongs to the next waiter.
        let wake = lock_wake(&self.waiter.wake).take();
        if let Some(wake) = wake.filter(|_| unacted) {
            self.waiters.signal_within(&wake.key, 1, wake.handoff.as_ref());
        }
    }
}

/// Set by the gateway when a blocked client's connection closes, so that the blocked command
/// stops waiting instead of popping an element nobody would receive.
#[derive(Clone, Default)]
pub struct Hangup(Arc<HangupState>);

#[derive(Default)]
struct HangupState {
    closed: AtomicBool,
    notify: Notify,
}

impl Hangup {
    /// The connection is gone.
    pub fn signal(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// Resolves once [`Self::signal`] was called.
    pub async fn closed(&self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }
}

impl fmt::Debug for Hangup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Hangup").field(&self.is_closed()).finish()
    }
}

/// Sessions compare equal whatever their hangup handles.
impl PartialEq for Hangup {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Hangup {}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Bytes {
        Bytes::copy_from_slice(k.as_bytes())
    }

    #[tokio::test]
    async fn signals_wake_waiters_oldest_first_and_unacted_signals_pass_on() {
        let waiters = KeyWaiters::default();
        let first = waiters.register(&[key("a"), key("b")]);
        let second = waiters.register(&[key("a")]);
        assert!(first.is_first() && !second.is_first());
        assert_eq!(waiters.waiting_on(b"a"), 2);
        assert_eq!(waiters.blocked_clients(), 2);

        let _wakeups = waiters.signal(b"a", 1);
        first.signalled().await;
        assert!(!second.waiter.woken.load(Ordering::Acquire), "one element wakes one waiter");

        // The first waiter leaves without acting: its signal goes to the second.
        drop(first);
        second.signalled().await;
        assert!(second.is_first());
        second.acting();
        drop(second);
        assert_eq!(waiters.waiting_on(b"a"), 0);
        assert_eq!(waiters.waiting_on(b"b"), 0);
        assert_eq!(waiters.blocked_clients(), 0);
    }

    #[tokio::test]
    async fn a_signal_for_several_elements_wakes_several_waiters() {
        let waiters = KeyWaiters::default();
        let all: Vec<_> = (0..3).map(|_| waiters.register(&[key("k")])).collect();
        let _wakeups = waiters.signal(b"k", 2);
        let woken: Vec<bool> = all.iter().map(|r| r.waiter.woken.load(Ordering::Acquire)).collect();
        assert_eq!(woken, vec![true, true, false]);
    }

    /// Whether `served` has resolved, polling it once.
    fn is_done(served: &mut std::pin::Pin<Box<impl std::future::Future<Output = ()>>>) -> bool {
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        served.as_mut().poll(&mut cx).is_ready()
    }

    #[tokio::test]
    async fn served_waits_until_every_woken_waiter_and_the_ones_it_woke_have_acted() {
        let waiters = KeyWaiters::default();
        let source = waiters.register(&[key("list1")]);
        let target = waiters.register(&[key("list2")]);
        let mut served = Box::pin(waiters.signal(b"list1", 1).served());
        assert!(!is_done(&mut served), "the woken waiter has not acted yet");

        source.signalled().await;
        let wake = source.acting().expect("woken by the signal");
        assert_eq!(wake.key, key("list1"));
        // It moves its element into list2, within the same wake-up, then is done.
        waiters.signal_within(b"list2", 1, wake.handoff.as_ref());
        drop(wake);
        assert!(!is_done(&mut served), "the client it woke has not acted yet");

        target.signalled().await;
        let wake = target.acting();
        assert!(!is_done(&mut served));
        drop(wake);
        served.await;
    }

    #[tokio::test]
    async fn served_resolves_at_once_without_waiters_and_when_a_woken_waiter_leaves() {
        let waiters = KeyWaiters::default();
        waiters.signal(b"nobody", 1).served().await;

        let leaving = waiters.register(&[key("k")]);
        let mut served = Box::pin(waiters.signal(b"k", 1).served());
        assert!(!is_done(&mut served));
        drop(leaving);
        served.await;
    }

    #[tokio::test]
    async fn hangup_resolves_once_signalled() {
        let hangup = Hangup::default();
        let waiting = tokio::spawn({
            let hangup = hangup.clone();
            async move { hangup.closed().await }
        });
        hangup.signal();
        waiting.await.unwrap();
        hangup.closed().await;
        assert!(hangup.is_closed());
    }
}
