//! BLPOP / BRPOP key [key ...] timeout, BLMOVE source destination LEFT|RIGHT LEFT|RIGHT
//! timeout, BRPOPLPUSH source destination timeout, BLMPOP timeout numkeys key [key ...]
//! LEFT|RIGHT [COUNT count].
//!
//! Each try is the non-blocking command run atomically (pop + reply in one transaction).
//! Between tries the client waits as [`crate::redis::blocking`] describes: woken at once by
//! pushes on this gateway, by polling (10 ms doubling to 100 ms) for pushes through others.
//! Inside MULTI (or a script) the command tries once and answers the timeout reply, as Redis
//! does.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::lmove::{self, Move};
use super::mpop::MultiPop;
use super::store::{End, ListState};
use crate::kv::KvStore;
use crate::redis::blocking::Handoff;
use crate::redis::clients::{BlockedGuard, UnblockMode};
use crate::redis::collection::atomically;
use crate::redis::command::arg;
use crate::redis::error::RedisError;
use crate::redis::session::{ServerContext, Session};
use crate::resp::Reply;

const FIRST_POLL: Duration = Duration::from_millis(10);
const LAST_POLL: Duration = Duration::from_millis(100);

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Pop(MultiPop),
    Move(Move),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Blocking {
    op: Op,
    /// `None`: wait forever.
    timeout: Option<Duration>,
}

impl Blocking {
    pub fn parse_bpop(args: &[Bytes], end: End) -> Result<Self, RedisError> {
        let last = args.len().checked_sub(1).filter(|&i| i >= 2).ok_or(RedisError::Syntax)?;
        let timeout = parse_timeout(&arg(args, last)?)?;
        let keys = args.get(1..last).ok_or(RedisError::Syntax)?;
        Ok(Blocking { op: Op::Pop(MultiPop::single(keys, end)), timeout })
    }

    pub fn parse_blmove(args: &[Bytes]) -> Result<Self, RedisError> {
        let op = Move::parse_lmove(args)?;
        Ok(Blocking { op: Op::Move(op), timeout: parse_timeout(&arg(args, 5)?)? })
    }

    pub fn parse_brpoplpush(args: &[Bytes]) -> Result<Self, RedisError> {
        let timeout = parse_timeout(&arg(args, 3)?)?;
        Ok(Blocking { op: Op::Move(Move::parse_rpoplpush(args)?), timeout })
    }

    pub fn parse_blmpop(args: &[Bytes]) -> Result<Self, RedisError> {
        let timeout = parse_timeout(&arg(args, 1)?)?;
        Ok(Blocking { op: Op::Pop(MultiPop::parse_lmpop(args, 2)?), timeout })
    }

    /// The keys this command waits on.
    fn keys(&self) -> Vec<Bytes> {
        match &self.op {
            Op::Pop(pop) => pop.keys.clone(),
            Op::Move(op) => vec![op.source.clone()],
        }
    }

    /// One try: the reply, or `None` when there was nothing to pop. `handoff`: the wake-up
    /// this try acts on, which clients woken by a move join.
    async fn try_once<K: KvStore>(
        &self,
        kv: &K,
        ctx: &ServerContext,
        handoff: Option<&Handoff>,
    ) -> Result<Option<Reply>, RedisError> {
        match &self.op {
            Op::Pop(pop) => atomically(kv, pop).await,
            Op::Move(op) => {
                let moved = atomically(kv, op).await?;
                if moved.is_some() && !kv.in_transaction() {
                    match handoff {
                        Some(handoff) => ctx.key_waiters.signal_within(&op.destination, 1, Some(handoff)),
                        None => ctx.key_waiters.signal(&op.destination, 1).served().await,
                    }
                }
                Ok(moved.map(|element| lmove::reply(Some(element))))
            }
        }
    }

    /// The key a successful try popped from: the source of a move, the key named first in a
    /// pop's reply.
    fn popped_key(&self, reply: &Reply) -> Option<Bytes> {
        match (&self.op, reply) {
            (Op::Move(op), _) => Some(op.source.clone()),
            (Op::Pop(_), Reply::Array(items)) => match items.first() {
                Some(Reply::Bulk(key)) => Some(key.clone()),
                _ => None,
            },
            (Op::Pop(_), _) => None,
        }
    }

    /// Whether a WRONGTYPE came from a key waited on (rather than a move's destination).
    async fn source_has_wrong_type<K: KvStore>(&self, kv: &K) -> bool {
        match &self.op {
            Op::Pop(_) => true,
            Op::Move(op) => matches!(ListState::load(kv, &op.source).await, Err(RedisError::WrongType)),
        }
    }

    /// What a blocked client gets when its timeout passes: the null array, for every blocking
    /// list command (Redis's `replyToBlockedClientTimedOut`).
    fn timeout_reply(&self) -> Reply {
        Reply::NullArray
    }

    /// What the command answers inside MULTI when there is nothing to pop: BLMOVE and
    /// BRPOPLPUSH answer like LMOVE (the null bulk string), the others the null array.
    fn empty_reply(&self) -> Reply {
        match &self.op {
            Op::Pop(pop) => pop.empty_reply(),
            Op::Move(_) => Reply::Null,
        }
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext, session: &Session) -> Result<Reply, RedisError> {
        if kv.in_transaction() {
            return Ok(self.try_once(kv, ctx, None).await?.unwrap_or_else(|| self.empty_reply()));
        }
        let keys = self.keys();
        // Registered before the first try, so that a push committed between the try and the
        // wait still wakes this client.
        let registration = ctx.key_waiters.register(&keys);
        // CLIENT UNBLOCK finds this connection blocked until the command ends.
        let blocked = session.conn.as_ref().map(|conn| conn.0.enter_blocked());
        let deadline = self.timeout.map(|timeout| Instant::now() + timeout);
        let mut poll = FIRST_POLL;
        let mut try_now = true;
        let mut first_try = true;
        loop {
            if session.hangup.is_closed() {
                // Nobody would receive the element: pop nothing.
                return Ok(self.timeout_reply());
            }
            if try_now {
                let wake = registration.acting();
                let handoff = wake.as_ref().and_then(|wake| wake.handoff.as_ref());
                let attempt = match self.try_once(kv, ctx, handoff).await {
                    // Like Redis, a key waited on that turned into another type while the
                    // client waits is passed over; only the first try reports WRONGTYPE. A
                    // destination of the wrong type is reported (Redis serves the error).
                    Err(RedisError::WrongType) if !first_try && self.source_has_wrong_type(kv).await => None,
                    result => result?,
                };
                first_try = false;
                if let Some(reply) = attempt {
                    // The list popped from may hold more than this client took: the next
                    // waiter of that key looks (within the same wake-up, so the pusher waits
                    // for it too), and so does the next waiter of the key whose signal woke
                    // this client, if it popped elsewhere. One at a time, as Redis serves.
                    let popped = self.popped_key(&reply);
                    let woken_for = wake.as_ref().map(|wake| &wake.key).filter(|key| Some(*key) != popped.as_ref());
                    for key in popped.iter().chain(woken_for) {
                        match handoff {
                            Some(handoff) => ctx.key_waiters.signal_within(key, 1, Some(handoff)),
                            None => drop(ctx.key_waiters.signal(key, 1)),
                        }
                    }
                    drop(registration);
                    return Ok(reply);
                }
                // Done acting: whoever woke this client need not wait for it any longer.
                drop(wake);
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Ok(self.timeout_reply());
            }
            let wake = deadline.map_or(now + poll, |deadline| deadline.min(now + poll));
            tokio::select! {
                _ = registration.signalled() => {
                    poll = FIRST_POLL;
                    try_now = true;
                }
                _ = tokio::time::sleep_until(wake) => {
                    poll = (poll * 2).min(LAST_POLL);
                    // Polls serve pushes through other gateways; only the oldest waiter of a
                    // key polls, so that waiters on this gateway are served in order.
                    try_now = registration.is_first();
                }
                _ = session.hangup.closed() => {}
                mode = unblocked(blocked.as_ref()) => {
                    return match mode {
                        UnblockMode::Timeout => Ok(self.timeout_reply()),
                        UnblockMode::Error => Err(RedisError::Unblocked),
                    };
                }
            }
        }
    }
}

/// Resolves when CLIENT UNBLOCK targets this blocked connection (never without one).
async fn unblocked(blocked: Option<&BlockedGuard>) -> UnblockMode {
    match blocked {
        Some(blocked) => blocked.unblocked().await,
        None => std::future::pending().await,
    }
}

/// Redis's `getTimeoutFromObjectOrReply` in seconds: a float (`strtold`), converted to whole
/// milliseconds the way C converts (values out of `long long` range turn negative).
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, RedisError> {
    let text = std::str::from_utf8(arg).map_err(|_| RedisError::TimeoutNotFloat)?;
    // Rust's float syntax is close to strtold's; strtold also refuses leading spaces here
    // (Redis checks), and NaN.
    let starts_ok = text.bytes().next().is_some_and(|b| !b.is_ascii_whitespace());
    let seconds: f64 =
        text.parse().ok().filter(|s: &f64| !s.is_nan() && starts_ok).ok_or(RedisError::TimeoutNotFloat)?;
    let millis = seconds * 1000.0;
    // x86's conversion yields i64::MIN for anything out of range (including infinities).
    if !(millis > -9.223_372_036_854_776e18 && millis < 9.223_372_036_854_776e18) || millis <= -1.0 {
        return Err(RedisError::NegativeTimeout);
    }
    let millis = millis as i64;
    if millis < 0 {
        return Err(RedisError::NegativeTimeout);
    }
    Ok((millis > 0).then(|| Duration::from_millis(millis as u64)))
}
