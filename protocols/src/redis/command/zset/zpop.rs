//! ZPOPMIN / ZPOPMAX key [count], ZMPOP numkeys key [key ...] MIN|MAX [COUNT count], and their
//! blocking forms BZPOPMIN / BZPOPMAX key [key ...] timeout and BZMPOP timeout numkeys ....
//!
//! Blocking forms wait like BLPOP & co. ([`crate::redis::blocking`]): the client registers
//! as blocked on its keys, each try is one atomic pop, and it tries again when a write on
//! this gateway signals one of its keys (ZADD, ZINCRBY, a *STORE, an EXEC) or on a poll timer
//! (10 ms doubling to 100 ms, for writes through other gateways). Inside MULTI/EXEC they do
//! not block, like Redis: an empty result answers at once.

use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;

use super::store::{all_entries, parse_score, remove_member, Entry};
use crate::kv::KvStore;
use crate::redis::collection::{atomically, load, save_meta, Atomic};
use crate::redis::command::{int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::redis::session::{ServerContext, Session};
use crate::resp::Reply;

const FIRST_POLL: Duration = Duration::from_millis(10);
const LAST_POLL: Duration = Duration::from_millis(100);

/// Reply shapes of the pop commands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// ZPOPMIN without count: `[member, score]`.
    Single,
    /// ZPOPMIN with count: pairs (nested in RESP3).
    Counted,
    /// BZPOPMIN: `[key, member, score]`, null array when nothing.
    Keyed,
    /// ZMPOP: `[key, [[member, score], ...]]`, null array when nothing.
    Multi,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZPop {
    keys: Vec<Bytes>,
    max: bool,
    count: usize,
    shape: Shape,
    /// Blocking forms: how long to wait (`None`: forever).
    timeout: Option<Option<Duration>>,
}

fn positive_count(arg: &[u8]) -> Result<usize, RedisError> {
    // Redis's getPositiveLongFromObjectOrReply: one message for non-numbers and negatives.
    let positive = || RedisError::Custom("ERR value is out of range, must be positive");
    usize::try_from(int_arg(arg).map_err(|_| positive())?).map_err(|_| positive())
}

fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, RedisError> {
    let seconds = parse_score(arg).map_err(|_| RedisError::Custom("ERR timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(RedisError::Custom("ERR timeout is negative"));
    }
    if seconds == 0.0 {
        return Ok(None);
    }
    // Redis converts to whole milliseconds in a long long: past that it wraps negative.
    if seconds * 1000.0 >= i64::MAX as f64 {
        return Err(RedisError::Custom("ERR timeout is negative"));
    }
    let timeout = Duration::from_secs_f64(seconds);
    Ok(Some(timeout))
}

impl ZPop {
    /// ZPOPMIN / ZPOPMAX.
    pub fn parse_pop(args: &[Bytes], max: bool) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        if args.len() > 3 {
            return Err(RedisError::Syntax);
        }
        let (count, shape) = match args.get(2) {
            Some(count) => (positive_count(count)?, Shape::Counted),
            None => (1, Shape::Single),
        };
        Ok(ZPop { keys: vec![key], max, count, shape, timeout: None })
    }

    /// BZPOPMIN / BZPOPMAX.
    pub fn parse_blocking_pop(args: &[Bytes], max: bool) -> Result<Self, RedisError> {
        let (Some(timeout), Some(keys)) = (args.last(), args.get(1..args.len().saturating_sub(1))) else {
            return Err(RedisError::Syntax);
        };
        let timeout = parse_timeout(timeout)?;
        Ok(ZPop { keys: keys.to_vec(), max, count: 1, shape: Shape::Keyed, timeout: Some(timeout) })
    }

    /// ZMPOP (`first` = 1) / BZMPOP (`first` = 2, after the timeout).
    pub fn parse_mpop(args: &[Bytes], blocking: bool) -> Result<Self, RedisError> {
        let first = if blocking { 2 } else { 1 };
        let timeout = if blocking { Some(parse_timeout(&super::super::arg(args, 1)?)?) } else { None };
        let numkeys = int_arg(&super::super::arg(args, first)?)
            .ok()
            .filter(|n| *n > 0 && *n <= i32::MAX as i64)
            .ok_or(RedisError::Custom("ERR numkeys should be greater than 0"))? as usize;
        let keys = args.get(first + 1..first + 1 + numkeys).ok_or(RedisError::Syntax)?.to_vec();
        let mut rest = args.get(first + 1 + numkeys..).unwrap_or_default().iter();
        let max = match rest.next() {
            Some(w) if is_option(w, "min") => false,
            Some(w) if is_option(w, "max") => true,
            _ => return Err(RedisError::Syntax),
        };
        let mut count = None;
        while let Some(option) = rest.next() {
            match rest.next() {
                Some(n) if count.is_none() && is_option(option, "count") => {
                    let n = int_arg(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(RedisError::Custom("ERR count should be greater than 0"))?;
                    count = Some(n as usize);
                }
                _ => return Err(RedisError::Syntax),
            }
        }
        Ok(ZPop { keys, max, count: count.unwrap_or(1), shape: Shape::Multi, timeout })
    }

    fn nothing(&self) -> Reply {
        match self.shape {
            Shape::Keyed | Shape::Multi => Reply::NullArray,
            Shape::Single | Shape::Counted => Reply::Array(Vec::new()),
        }
    }

    fn reply(&self, key: Bytes, entries: Vec<Entry>) -> Reply {
        let pair = |e: Entry| Reply::Array(vec![Reply::Bulk(e.member), Reply::Double(e.score)]);
        match self.shape {
            Shape::Single => Reply::Array(
                entries.into_iter().flat_map(|e| [Reply::Bulk(e.member), Reply::Double(e.score)]).collect(),
            ),
            Shape::Counted => super::store::entries_reply(entries, true),
            Shape::Keyed => {
                let mut out = vec![Reply::Bulk(key)];
                out.extend(entries.into_iter().flat_map(|e| [Reply::Bulk(e.member), Reply::Double(e.score)]));
                Reply::Array(out)
            }
            Shape::Multi => Reply::Array(vec![Reply::Bulk(key), Reply::Array(entries.into_iter().map(pair).collect())]),
        }
    }

    /// BZPOPMIN / BZPOPMAX / BZMPOP: the connection runs them alone and without an admission
    /// permit while they wait.
    pub fn blocks(&self) -> bool {
        self.timeout.is_some()
    }

    /// Runs the command, waiting for the blocking forms.
    pub async fn apply<K: KvStore>(&self, kv: &K, ctx: &ServerContext, session: &Session) -> Result<Reply, RedisError> {
        let Some(timeout) = self.timeout else { return atomically(kv, self).await };
        if kv.in_transaction() {
            return atomically(kv, self).await;
        }
        // Registered before the first try, so that a write committed between the try and the
        // wait still wakes this client.
        let registration = ctx.key_waiters.register(&self.keys);
        // A deadline past what `Instant` can hold is as good as forever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut poll = FIRST_POLL;
        let mut try_now = true;
        let mut first_try = true;
        loop {
            if session.hangup.is_closed() {
                // Nobody would receive the element: pop nothing.
                return Ok(Reply::NullArray);
            }
            if try_now {
                registration.acting();
                let reply = match atomically(kv, self).await {
                    // Like Redis, a key that turned into another type while the client waits
                    // is passed over; only the first try reports WRONGTYPE.
                    Err(RedisError::WrongType) if !first_try => Reply::NullArray,
                    result => result?,
                };
                first_try = false;
                if reply != Reply::NullArray {
                    // The set may hold more than this client took: let the next one look.
                    for key in &self.keys {
                        drop(ctx.key_waiters.signal(key, 1));
                    }
                    return Ok(reply);
                }
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Ok(Reply::NullArray);
            }
            let wake = deadline.map_or(now + poll, |deadline| deadline.min(now + poll));
            tokio::select! {
                _ = registration.signalled() => {
                    poll = FIRST_POLL;
                    // Redis serves the clients blocked on a key in the order they blocked: a
                    // waiter behind an older one on every key lets that one go first (the
                    // older one passes the signal on once served).
                    try_now = registration.is_first();
                    if !try_now {
                        registration.acting();
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    poll = (poll * 2).min(LAST_POLL);
                    // Polls serve writes through other gateways; only the oldest waiter of a
                    // key polls, so that waiters on this gateway are served in order.
                    try_now = registration.is_first();
                }
                _ = session.hangup.closed() => {}
            }
        }
    }
}

impl Atomic for ZPop {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        if self.count == 0 {
            // ZPOPMIN key 0 still checks the key's type.
            for key in &self.keys {
                load(kv, key, ValueType::ZSet).await?;
            }
            return Ok(self.nothing());
        }
        for key in &self.keys {
            let Some(found) = load(kv, key, ValueType::ZSet).await? else { continue };
            let mut meta = found.meta;
            let entries = all_entries(kv, &meta, self.count, self.max).await?;
            let mut mutations = Vec::with_capacity(2 * entries.len() + 1);
            for entry in &entries {
                remove_member(&meta, &entry.member, entry.score, &mut mutations);
            }
            meta.size = meta.size.saturating_sub(entries.len() as u64);
            mutations.push(save_meta(key, &meta, found.expiry));
            kv.write(Vec::new(), mutations).await?;
            return Ok(self.reply(key.clone(), entries));
        }
        Ok(self.nothing())
    }
}
