//! The subscribers connected to this process, and their mailboxes.
//!
//! Each subscribed connection has a mailbox: an unbounded queue of [`Delivery`]s plus a count
//! of the bytes waiting in it. The connection's task drains it through its [`Inbox`] and
//! writes the messages to the socket between command replies. A subscriber that reads too
//! slowly makes its mailbox grow; like Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`
//! it is disconnected when the mailbox passes the hard limit, or stays above the soft limit
//! for longer than the soft duration ([`OutputLimits`]). Publishing never waits for a
//! subscriber.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, Notify};

use super::{Delivery, PubSub, SubscriptionChange};
use crate::redis::glob;

/// Bounds on the messages queued for one subscriber (Redis's `client-output-buffer-limit`
/// for the pubsub class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    /// Disconnect at once when more than this many bytes are queued.
    pub hard_bytes: usize,
    /// Disconnect when more than this many bytes stay queued for longer than `soft_duration`.
    pub soft_bytes: usize,
    pub soft_duration: Duration,
}

impl Default for OutputLimits {
    /// Redis's default: `client-output-buffer-limit pubsub 32mb 8mb 60`.
    fn default() -> Self {
        OutputLimits { hard_bytes: 32 << 20, soft_bytes: 8 << 20, soft_duration: Duration::from_secs(60) }
    }
}

/// Subscribers of this process, by channel and by pattern. Cheap to clone (shared state).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: RwLock<State>,
    limits: OutputLimits,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<u64, ClientEntry>,
    /// Subscribers of each channel, in subscription order (Redis delivers in this order).
    channels: HashMap<Bytes, Vec<Arc<Mailbox>>>,
    patterns: HashMap<Bytes, Vec<Arc<Mailbox>>>,
}

#[derive(Debug)]
struct ClientEntry {
    mailbox: Arc<Mailbox>,
    /// The receiving end, until the connection takes it ([`Registry::take_inbox`]).
    receiver: Option<mpsc::UnboundedReceiver<Delivery>>,
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
}

#[derive(Debug)]
struct Mailbox {
    client: u64,
    sender: mpsc::UnboundedSender<Delivery>,
    queued_bytes: AtomicUsize,
    /// When the queue last went above the soft limit without coming back under it.
    over_soft_since: Mutex<Option<Instant>>,
    over_soft: AtomicBool,
    /// Past a limit: the connection must close; nothing more is queued.
    killed: AtomicBool,
    kill: Notify,
}

enum Enqueued {
    Yes,
    /// The subscriber is gone or was disconnected for falling behind.
    No,
    /// This message pushed the subscriber past its limits: disconnect it.
    Overflow,
}

impl Mailbox {
    fn enqueue(&self, delivery: Delivery, limits: &OutputLimits) -> Enqueued {
        if self.killed.load(Ordering::Acquire) {
            return Enqueued::No;
        }
        let size = delivery.size();
        let queued = self.queued_bytes.fetch_add(size, Ordering::AcqRel) + size;
        if queued > limits.hard_bytes || self.soft_limit_expired(queued, limits) {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            self.kill();
            return Enqueued::Overflow;
        }
        if self.sender.send(delivery).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Enqueued::No;
        }
        Enqueued::Yes
    }

    /// Redis's soft limit: over it continuously for longer than the soft duration.
    fn soft_limit_expired(&self, queued: usize, limits: &OutputLimits) -> bool {
        let over = queued > limits.soft_bytes;
        if !over && !self.over_soft.load(Ordering::Acquire) {
            return false;
        }
        let mut since = self.over_soft_since.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !over {
            *since = None;
            self.over_soft.store(false, Ordering::Release);
            return false;
        }
        self.over_soft.store(true, Ordering::Release);
        match *since {
            None => {
                *since = Some(Instant::now());
                false
            }
            Some(at) => at.elapsed() > limits.soft_duration,
        }
    }

    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_waiters();
    }
}

/// A subscribed connection's end of its mailbox. Dropping it (the connection closed) removes
/// every subscription of the connection.
#[derive(Debug)]
pub struct Inbox {
    receiver: mpsc::UnboundedReceiver<Delivery>,
    mailbox: Arc<Mailbox>,
    registry: Registry,
}

impl Inbox {
    /// The next message; `None` never happens while the inbox exists (the registry keeps the
    /// sending end), so callers can treat it as "closed".
    pub async fn recv(&mut self) -> Option<Delivery> {
        let delivery = self.receiver.recv().await?;
        self.mailbox.queued_bytes.fetch_sub(delivery.size(), Ordering::AcqRel);
        Some(delivery)
    }

    /// A message already waiting, if any.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        let delivery = self.receiver.try_recv().ok()?;
        self.mailbox.queued_bytes.fetch_sub(delivery.size(), Ordering::AcqRel);
        Some(delivery)
    }

    /// Whether the subscriber fell too far behind and must be disconnected.
    pub fn is_killed(&self) -> bool {
        self.mailbox.killed.load(Ordering::Acquire)
    }

    /// Resolves once the subscriber fell too far behind and must be disconnected. The future
    /// does not borrow the inbox, so it can be awaited next to [`Inbox::recv`].
    pub fn killed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mailbox = self.mailbox.clone();
        async move {
            loop {
                let notified = mailbox.kill.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if mailbox.killed.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        }
    }

    /// Bytes of messages waiting.
    pub fn queued_bytes(&self) -> usize {
        self.mailbox.queued_bytes.load(Ordering::Acquire)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.registry.disconnect(self.mailbox.client);
    }
}

impl Registry {
    pub fn new(limits: OutputLimits) -> Self {
        Registry { shared: Arc::new(Shared { state: RwLock::default(), limits }) }
    }

    pub fn limits(&self) -> OutputLimits {
        self.shared.limits
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.shared.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies a connection's subscription changes. The connection gets a mailbox with its
    /// first subscription; take it with [`Registry::take_inbox`].
    pub fn apply(&self, client: u64, changes: &[SubscriptionChange]) {
        if changes.is_empty() {
            return;
        }
        let mut guard = self.write();
        let state = &mut *guard;
        for change in changes {
            match change {
                SubscriptionChange::Subscribe(name) | SubscriptionChange::PSubscribe(name) => {
                    let pattern = matches!(change, SubscriptionChange::PSubscribe(_));
                    let entry = state.clients.entry(client).or_insert_with(|| {
                        let (sender, receiver) = mpsc::unbounded_channel();
                        ClientEntry {
                            mailbox: Arc::new(Mailbox {
                                client,
                                sender,
                                queued_bytes: AtomicUsize::new(0),
                                over_soft_since: Mutex::new(None),
                                over_soft: AtomicBool::new(false),
                                killed: AtomicBool::new(false),
                                kill: Notify::new(),
                            }),
                            receiver: Some(receiver),
                            channels: HashSet::new(),
                            patterns: HashSet::new(),
                        }
                    });
                    if entry.mailbox.killed.load(Ordering::Acquire) {
                        continue;
                    }
                    let (mine, index) = if pattern {
                        (&mut entry.patterns, &mut state.patterns)
                    } else {
                        (&mut entry.channels, &mut state.channels)
                    };
                    if mine.insert(name.clone()) {
                        index.entry(name.clone()).or_default().push(entry.mailbox.clone());
                    }
                }
                SubscriptionChange::Unsubscribe(name) | SubscriptionChange::PUnsubscribe(name) => {
                    let pattern = matches!(change, SubscriptionChange::PUnsubscribe(_));
                    let Some(entry) = state.clients.get_mut(&client) else { continue };
                    let (mine, index) = if pattern {
                        (&mut entry.patterns, &mut state.patterns)
                    } else {
                        (&mut entry.channels, &mut state.channels)
                    };
                    if mine.remove(name) {
                        remove_subscriber(index, name, client);
                    }
                }
            }
        }
        // A connection that unsubscribed from everything before taking its inbox (SUBSCRIBE
        // and UNSUBSCRIBE in one pipeline) will never take it: forget the mailbox.
        if let Some(entry) = state.clients.get(&client) {
            if entry.channels.is_empty() && entry.patterns.is_empty() && entry.receiver.is_some() {
                state.clients.remove(&client);
            }
        }
    }

    /// The receiving end of a subscribed connection's mailbox (once; `None` if the connection
    /// has no mailbox or already took it). Dropping it unsubscribes the connection from
    /// everything.
    pub fn take_inbox(&self, client: u64) -> Option<Inbox> {
        let mut state = self.write();
        let entry = state.clients.get_mut(&client)?;
        let receiver = entry.receiver.take()?;
        Some(Inbox { receiver, mailbox: entry.mailbox.clone(), registry: self.clone() })
    }

    /// Forgets a connection and all its subscriptions.
    pub fn disconnect(&self, client: u64) {
        let mut guard = self.write();
        let state = &mut *guard;
        let Some(entry) = state.clients.remove(&client) else { return };
        for channel in &entry.channels {
            remove_subscriber(&mut state.channels, channel, client);
        }
        for pattern in &entry.patterns {
            remove_subscriber(&mut state.patterns, pattern, client);
        }
    }

    /// Queues `payload` for this process's subscribers of `channel` (channel subscribers
    /// first, then matching patterns, as Redis does); returns how many received it.
    pub fn deliver(&self, channel: &Bytes, payload: &Bytes) -> u64 {
        let mut receivers = 0u64;
        let mut overflowed = Vec::new();
        {
            let state = self.read();
            let mut push = |mailbox: &Arc<Mailbox>, pattern: Option<&Bytes>| {
                let delivery =
                    Delivery { pattern: pattern.cloned(), channel: channel.clone(), payload: payload.clone() };
                match mailbox.enqueue(delivery, &self.shared.limits) {
                    Enqueued::Yes => receivers += 1,
                    Enqueued::No => {}
                    Enqueued::Overflow => overflowed.push(mailbox.client),
                }
            };
            if let Some(subscribers) = state.channels.get(channel) {
                for mailbox in subscribers {
                    push(mailbox, None);
                }
            }
            for (pattern, subscribers) in &state.patterns {
                if glob::matches(pattern, channel, false) {
                    for mailbox in subscribers {
                        push(mailbox, Some(pattern));
                    }
                }
            }
        }
        for client in overflowed {
            tracing::warn!(client, "pub/sub subscriber disconnected: output buffer limit reached");
            self.unsubscribe_all(client);
        }
        receivers
    }

    /// Drops a killed connection's subscriptions but keeps its entry, so that the connection
    /// still finds its (killed) inbox and closes.
    fn unsubscribe_all(&self, client: u64) {
        let mut guard = self.write();
        let state = &mut *guard;
        let Some(entry) = state.clients.get_mut(&client) else { return };
        for channel in entry.channels.drain() {
            remove_subscriber(&mut state.channels, &channel, client);
        }
        for pattern in entry.patterns.drain() {
            remove_subscriber(&mut state.patterns, &pattern, client);
        }
    }

    /// Channels with subscribers here, optionally only those matching `pattern`.
    pub fn local_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let state = self.read();
        state
            .channels
            .keys()
            .filter(|channel| pattern.is_none_or(|p| glob::matches(p, channel, false)))
            .cloned()
            .collect()
    }

    /// Subscribers here of each channel.
    pub fn local_numsub(&self, channels: &[Bytes]) -> Vec<u64> {
        let state = self.read();
        channels.iter().map(|c| state.channels.get(c).map_or(0, |s| s.len() as u64)).collect()
    }

    /// The distinct patterns subscribed to here.
    pub fn local_patterns(&self) -> Vec<Bytes> {
        self.read().patterns.keys().cloned().collect()
    }
}

fn remove_subscriber(index: &mut HashMap<Bytes, Vec<Arc<Mailbox>>>, name: &Bytes, client: u64) {
    if let Some(subscribers) = index.get_mut(name) {
        subscribers.retain(|m| m.client != client);
        if subscribers.is_empty() {
            index.remove(name);
        }
    }
}

/// The registry alone: Pub/Sub within one process.
impl PubSub for Registry {
    fn update(&self, client: u64, changes: &[SubscriptionChange]) {
        self.apply(client, changes);
    }

    fn publish(&self, channel: Bytes, message: Bytes) -> BoxFuture<'static, u64> {
        let receivers = self.deliver(&channel, &message);
        Box::pin(async move { receivers })
    }

    fn channels(&self, pattern: Option<Bytes>) -> BoxFuture<'static, Vec<Bytes>> {
        let channels = self.local_channels(pattern.as_deref());
        Box::pin(async move { channels })
    }

    fn numsub(&self, channels: Vec<Bytes>) -> BoxFuture<'static, Vec<u64>> {
        let counts = self.local_numsub(&channels);
        Box::pin(async move { counts })
    }

    fn numpat(&self) -> BoxFuture<'static, u64> {
        let count = self.local_patterns().len() as u64;
        Box::pin(async move { count })
    }

    fn take_inbox(&self, client: u64) -> Option<Inbox> {
        Registry::take_inbox(self, client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn sub(c: &str) -> SubscriptionChange {
        SubscriptionChange::Subscribe(b(c))
    }

    fn psub(p: &str) -> SubscriptionChange {
        SubscriptionChange::PSubscribe(b(p))
    }

    fn drain(inbox: &mut Inbox) -> Vec<(Option<String>, String, String)> {
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        std::iter::from_fn(|| inbox.try_recv())
            .map(|d| (d.pattern.as_ref().map(text), text(&d.channel), text(&d.payload)))
            .collect()
    }

    #[test]
    fn channel_and_pattern_subscribers_receive_in_order() {
        let registry = Registry::default();
        registry.apply(1, &[sub("news"), psub("n*")]);
        registry.apply(2, &[sub("news")]);
        let mut one = registry.take_inbox(1).unwrap();
        let mut two = registry.take_inbox(2).unwrap();
        assert!(registry.take_inbox(1).is_none(), "an inbox is taken once");
        assert_eq!(registry.deliver(&b("news"), &b("a")), 3, "two channel subscribers and one pattern");
        assert_eq!(registry.deliver(&b("nope"), &b("b")), 1);
        assert_eq!(registry.deliver(&b("other"), &b("c")), 0);
        assert_eq!(
            drain(&mut one),
            vec![
                (None, "news".into(), "a".into()),
                (Some("n*".into()), "news".into(), "a".into()),
                (Some("n*".into()), "nope".into(), "b".into()),
            ]
        );
        assert_eq!(drain(&mut two), vec![(None, "news".into(), "a".into())]);
        assert_eq!(one.queued_bytes(), 0, "draining releases the buffer");
    }

    #[test]
    fn counts_and_listings() {
        let registry = Registry::default();
        registry.apply(1, &[sub("a"), sub("b"), psub("x*"), psub("y*")]);
        registry.apply(2, &[sub("a"), psub("x*")]);
        let mut channels = registry.local_channels(None);
        channels.sort();
        assert_eq!(channels, vec![b("a"), b("b")]);
        assert_eq!(registry.local_channels(Some(b"b*")), vec![b("b")]);
        assert_eq!(registry.local_numsub(&[b("a"), b("b"), b("c")]), vec![2, 1, 0]);
        assert_eq!(registry.local_patterns().len(), 2, "distinct patterns");
        registry.apply(1, &[SubscriptionChange::Unsubscribe(b("a")), SubscriptionChange::PUnsubscribe(b("y*"))]);
        assert_eq!(registry.local_numsub(&[b("a")]), vec![1]);
        assert_eq!(registry.local_patterns(), vec![b("x*")]);
    }

    #[test]
    fn dropping_the_inbox_unsubscribes_everything() {
        let registry = Registry::default();
        registry.apply(7, &[sub("a"), psub("*")]);
        let inbox = registry.take_inbox(7).unwrap();
        drop(inbox);
        assert_eq!(registry.deliver(&b("a"), &b("m")), 0);
        assert!(registry.local_channels(None).is_empty());
        assert!(registry.local_patterns().is_empty());
    }

    #[test]
    fn a_mailbox_never_taken_is_forgotten_once_empty() {
        let registry = Registry::default();
        registry.apply(3, &[sub("a"), SubscriptionChange::Unsubscribe(b("a"))]);
        assert!(registry.take_inbox(3).is_none());
        assert!(registry.read().clients.is_empty());
    }

    #[test]
    fn messages_wait_in_the_mailbox_until_the_inbox_is_taken() {
        let registry = Registry::default();
        registry.apply(4, &[sub("a")]);
        assert_eq!(registry.deliver(&b("a"), &b("early")), 1);
        let mut inbox = registry.take_inbox(4).unwrap();
        assert_eq!(drain(&mut inbox), vec![(None, "a".into(), "early".into())]);
    }

    #[tokio::test]
    async fn a_subscriber_past_the_hard_limit_is_disconnected() {
        let limits = OutputLimits { hard_bytes: 1000, soft_bytes: 1000, soft_duration: Duration::from_secs(60) };
        let registry = Registry::new(limits);
        registry.apply(1, &[sub("a")]);
        registry.apply(2, &[sub("a")]);
        let slow = registry.take_inbox(1).unwrap();
        let mut fast = registry.take_inbox(2).unwrap();
        let payload = Bytes::from(vec![b'x'; 200]);
        let mut delivered_to_slow = 0;
        for _ in 0..10 {
            let receivers = registry.deliver(&b("a"), &payload);
            // The fast subscriber keeps up; the slow one never reads.
            assert_eq!(drain(&mut fast).len(), 1);
            if receivers == 2 {
                delivered_to_slow += 1;
            }
        }
        assert_eq!(delivered_to_slow, 1000 / payload.len().saturating_add(48 + 1), "until the hard limit");
        assert!(slow.is_killed());
        tokio::time::timeout(Duration::from_secs(1), slow.killed()).await.expect("the kill is signalled");
        assert_eq!(registry.local_numsub(&[b("a")]), vec![1], "the slow subscriber is unsubscribed");
    }

    #[test]
    fn a_subscriber_over_the_soft_limit_for_too_long_is_disconnected() {
        let limits = OutputLimits { hard_bytes: 1 << 20, soft_bytes: 100, soft_duration: Duration::from_millis(30) };
        let registry = Registry::new(limits);
        registry.apply(1, &[sub("a")]);
        let slow = registry.take_inbox(1).unwrap();
        let payload = Bytes::from(vec![b'x'; 100]);
        assert_eq!(registry.deliver(&b("a"), &payload), 1, "over the soft limit: the clock starts");
        assert_eq!(registry.deliver(&b("a"), &payload), 1, "still within the soft duration");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(registry.deliver(&b("a"), &payload), 0, "over the soft limit for too long");
        assert!(slow.is_killed());
    }

    #[test]
    fn a_subscriber_back_under_the_soft_limit_resets_its_clock() {
        let limits = OutputLimits { hard_bytes: 1 << 20, soft_bytes: 200, soft_duration: Duration::from_millis(30) };
        let registry = Registry::new(limits);
        registry.apply(1, &[sub("a")]);
        let mut inbox = registry.take_inbox(1).unwrap();
        let payload = Bytes::from(vec![b'x'; 200]);
        assert_eq!(registry.deliver(&b("a"), &payload), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(drain(&mut inbox).len(), 1);
        assert_eq!(registry.deliver(&b("a"), &Bytes::from_static(b"small")), 1, "under the limit: clock reset");
        assert_eq!(registry.deliver(&b("a"), &payload), 1, "over again, but the clock just restarted");
        assert!(!inbox.is_killed());
    }
}
