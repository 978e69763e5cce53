//! Pub/Sub: what a connection is subscribed to ([`Subscriptions`], kept in its session), the
//! interface commands publish and query through ([`PubSub`]), and the in-process registry of
//! subscribers with their bounded mailboxes ([`Registry`]).
//!
//! Subscription commands only change the session; the changes they make are recorded in the
//! session and handed to [`PubSub::update`] by [`crate::redis::execute`] once the command has
//! run (for EXEC, once the transaction has committed), so a transaction that is retried or
//! discarded never leaves a half-registered subscription behind.
//!
//! A gateway wraps the registry in an implementation of [`PubSub`] that also forwards messages
//! to the other gateways; [`Registry`] alone is the single-process implementation.

mod registry;

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use indexmap::IndexSet;

pub use registry::{Inbox, OutputLimits, Registry};

use crate::resp::Reply;

/// Publishing and querying subscribers, wherever they are connected.
pub trait PubSub: std::fmt::Debug + Send + Sync {
    /// Applies one connection's subscription changes, in order.
    fn update(&self, client: u64, changes: &[SubscriptionChange]);

    /// Delivers `message` to every subscriber of `channel` and to every pattern subscriber
    /// whose pattern matches it; resolves to the number of receivers. The message is queued
    /// for delivery before this returns, so messages published by calls made one after
    /// another are delivered in that order.
    fn publish(&self, channel: Bytes, message: Bytes) -> BoxFuture<'static, u64>;

    /// Channels with at least one subscriber, optionally only those matching a glob pattern.
    fn channels(&self, pattern: Option<Bytes>) -> BoxFuture<'static, Vec<Bytes>>;

    /// The number of (non-pattern) subscribers of each channel, in order.
    fn numsub(&self, channels: Vec<Bytes>) -> BoxFuture<'static, Vec<u64>>;

    /// The number of distinct patterns subscribed to.
    fn numpat(&self) -> BoxFuture<'static, u64>;

    /// The receiving end of a subscribed connection's mailbox, once (`None` if it has no
    /// subscriptions or already took it). Dropping it unsubscribes the connection from
    /// everything, so the connection keeps it until it closes.
    fn take_inbox(&self, client: u64) -> Option<Inbox>;
}

/// One change of a connection's subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionChange {
    Subscribe(Bytes),
    Unsubscribe(Bytes),
    PSubscribe(Bytes),
    PUnsubscribe(Bytes),
}

/// A message on its way to one subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The pattern that matched, for pattern subscriptions (`pmessage`).
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub payload: Bytes,
}

impl Delivery {
    /// `message channel payload`, or `pmessage pattern channel payload`: a push in RESP3, an
    /// array in RESP2.
    pub fn to_reply(&self) -> Reply {
        let mut items = Vec::with_capacity(4);
        match &self.pattern {
            Some(pattern) => {
                items.push(Reply::bulk(Bytes::from_static(b"pmessage")));
                items.push(Reply::Bulk(pattern.clone()));
            }
            None => items.push(Reply::bulk(Bytes::from_static(b"message"))),
        }
        items.push(Reply::Bulk(self.channel.clone()));
        items.push(Reply::Bulk(self.payload.clone()));
        Reply::Push(items)
    }

    /// Roughly the bytes it takes in an output buffer (the payload plus framing), which is
    /// what the output-buffer limits count.
    pub fn size(&self) -> usize {
        const FRAMING: usize = 48;
        self.payload.len() + self.channel.len() + self.pattern.as_ref().map_or(0, Bytes::len) + FRAMING
    }
}

/// What one connection is subscribed to, in subscription order (UNSUBSCRIBE without
/// arguments answers in this order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscriptions {
    pub channels: IndexSet<Bytes>,
    pub patterns: IndexSet<Bytes>,
}

/// The Pub/Sub part of a session: its subscriptions (shared, because keyed commands run on
/// copies of the session) and the changes not yet handed to [`PubSub::update`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PubSubSession {
    pub(crate) subscriptions: Arc<Subscriptions>,
    pub(crate) pending: Vec<SubscriptionChange>,
}

impl PubSubSession {
    /// Channels plus patterns (Redis's `clientSubscriptionsCount`).
    pub(crate) fn count(&self) -> usize {
        self.subscriptions.channels.len() + self.subscriptions.patterns.len()
    }
}
