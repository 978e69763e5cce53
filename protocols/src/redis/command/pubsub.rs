//! SUBSCRIBE / UNSUBSCRIBE / PSUBSCRIBE / PUNSUBSCRIBE, PUBLISH, and PUBSUB CHANNELS / NUMSUB /
//! NUMPAT / SHARDCHANNELS / SHARDNUMSUB / HELP, with Redis 7.0's replies.
//!
//! Subscription commands change only the session (and record the changes for
//! [`crate::redis::pubsub::PubSub::update`]); each channel or pattern named gets its own
//! confirmation `[kind, name, subscriptions now]`, a push in RESP3. Sharded Pub/Sub
//! (SSUBSCRIBE...) is not implemented, so the SHARD* queries always find nothing.

use std::sync::Arc;

use bytes::Bytes;

use super::arg;
use crate::redis::error::RedisError;
use crate::redis::pubsub::SubscriptionChange;
use crate::redis::session::{ServerContext, Session};
use crate::resp::{ProtocolVersion, Reply};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Subscribe => "subscribe",
            Op::Unsubscribe => "unsubscribe",
            Op::PSubscribe => "psubscribe",
            Op::PUnsubscribe => "punsubscribe",
        }
    }

    fn is_pattern(self) -> bool {
        matches!(self, Op::PSubscribe | Op::PUnsubscribe)
    }
}

/// One of the four subscription commands with its channels or patterns.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    op: Op,
    names: Vec<Bytes>,
}

impl Subscription {
    pub fn parse(name: &str, args: &[Bytes]) -> Self {
        let op = match name {
            "subscribe" => Op::Subscribe,
            "unsubscribe" => Op::Unsubscribe,
            "psubscribe" => Op::PSubscribe,
            _ => Op::PUnsubscribe,
        };
        Subscription { op, names: args.get(1..).unwrap_or_default().to_vec() }
    }

    pub fn apply(self, session: &mut Session) -> Reply {
        let op = self.op;
        let names = if self.names.is_empty() && matches!(op, Op::Unsubscribe | Op::PUnsubscribe) {
            // Without arguments: everything of that kind, in subscription order.
            let subscriptions = &session.pubsub.subscriptions;
            let all = if op.is_pattern() { &subscriptions.patterns } else { &subscriptions.channels };
            if all.is_empty() {
                // Redis still confirms, with a nil name.
                return confirmation(op, Reply::Null, session.pubsub.count());
            }
            all.iter().cloned().collect()
        } else {
            self.names
        };
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            let subscriptions = Arc::make_mut(&mut session.pubsub.subscriptions);
            let changed = match op {
                Op::Subscribe => subscriptions.channels.insert(name.clone()),
                Op::PSubscribe => subscriptions.patterns.insert(name.clone()),
                Op::Unsubscribe => subscriptions.channels.shift_remove(&name),
                Op::PUnsubscribe => subscriptions.patterns.shift_remove(&name),
            };
            if changed {
                session.pubsub.pending.push(match op {
                    Op::Subscribe => SubscriptionChange::Subscribe(name.clone()),
                    Op::PSubscribe => SubscriptionChange::PSubscribe(name.clone()),
                    Op::Unsubscribe => SubscriptionChange::Unsubscribe(name.clone()),
                    Op::PUnsubscribe => SubscriptionChange::PUnsubscribe(name.clone()),
                });
            }
            replies.push(confirmation(op, Reply::Bulk(name), session.pubsub.count()));
        }
        if replies.len() == 1 {
            replies.pop().unwrap_or(Reply::Null)
        } else {
            Reply::Sequence(replies)
        }
    }
}

fn confirmation(op: Op, name: Reply, count: usize) -> Reply {
    Reply::Push(vec![Reply::bulk(Bytes::from_static(op.name().as_bytes())), name, Reply::Integer(count as i64)])
}

/// Drops every subscription of the session without confirmations (RESET).
pub(crate) fn unsubscribe_all_silently(session: &mut Session) {
    let subscriptions = std::mem::take(&mut session.pubsub.subscriptions);
    for channel in &subscriptions.channels {
        session.pubsub.pending.push(SubscriptionChange::Unsubscribe(channel.clone()));
    }
    for pattern in &subscriptions.patterns {
        session.pubsub.pending.push(SubscriptionChange::PUnsubscribe(pattern.clone()));
    }
}

/// PING's answer while subscribed in RESP2: `["pong", message or ""]`.
pub(crate) fn subscribed_ping(session: &Session, message: Option<Bytes>) -> Option<Reply> {
    (session.is_subscribed() && session.protocol == ProtocolVersion::Resp2)
        .then(|| Reply::Array(vec![Reply::bulk(Bytes::from_static(b"pong")), Reply::Bulk(message.unwrap_or_default())]))
}

/// Whether a command may run while a RESP2 connection is subscribed (Redis 7.0's
/// `processCommand`).
pub(crate) fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    channel: Bytes,
    message: Bytes,
}

impl Publish {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Publish { channel: arg(args, 1)?, message: arg(args, 2)? })
    }

    /// Queues the message at once (before the first await), so that PUBLISHes issued in order
    /// are delivered in order even when a pipeline runs them concurrently.
    pub async fn apply(self, ctx: &ServerContext) -> Reply {
        let receivers = ctx.pubsub.publish(self.channel, self.message);
        Reply::Integer(i64::try_from(receivers.await).unwrap_or(i64::MAX))
    }
}

/// PUBSUB subcommands.
#[derive(Clone, Debug, PartialEq)]
pub enum PubsubQuery {
    Channels(Option<Bytes>),
    NumSub(Vec<Bytes>),
    NumPat,
    ShardChannels,
    ShardNumSub(Vec<Bytes>),
    Help,
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

impl PubsubQuery {
    /// `name` is the resolved table entry, e.g. `pubsub|numsub`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let rest = args.get(2..).unwrap_or_default();
        Ok(match name {
            "pubsub|channels" | "pubsub|shardchannels" => {
                if rest.len() > 1 {
                    return Err(RedisError::SubcommandSyntax { name: arg(args, 1)?, container: "PUBSUB".into() });
                }
                if name == "pubsub|channels" {
                    PubsubQuery::Channels(rest.first().cloned())
                } else {
                    PubsubQuery::ShardChannels
                }
            }
            "pubsub|numsub" => PubsubQuery::NumSub(rest.to_vec()),
            "pubsub|shardnumsub" => PubsubQuery::ShardNumSub(rest.to_vec()),
            "pubsub|numpat" => PubsubQuery::NumPat,
            _ => PubsubQuery::Help,
        })
    }

    pub async fn apply(self, ctx: &ServerContext) -> Reply {
        match self {
            PubsubQuery::Channels(pattern) => {
                Reply::Array(ctx.pubsub.channels(pattern).await.into_iter().map(Reply::Bulk).collect())
            }
            PubsubQuery::NumSub(channels) => {
                let counts = ctx.pubsub.numsub(channels.clone()).await;
                let mut items = Vec::with_capacity(channels.len() * 2);
                for (i, channel) in channels.into_iter().enumerate() {
                    let count = counts.get(i).copied().unwrap_or(0);
                    items.push(Reply::Bulk(channel));
                    items.push(Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX)));
                }
                Reply::Array(items)
            }
            PubsubQuery::NumPat => Reply::Integer(i64::try_from(ctx.pubsub.numpat().await).unwrap_or(i64::MAX)),
            PubsubQuery::ShardChannels => Reply::Array(Vec::new()),
            PubsubQuery::ShardNumSub(channels) => Reply::Array(
                channels.into_iter().flat_map(|channel| [Reply::Bulk(channel), Reply::Integer(0)]).collect(),
            ),
            PubsubQuery::Help => Reply::Array(HELP.iter().map(|line| Reply::simple(line)).collect()),
        }
    }
}
