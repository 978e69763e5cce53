//! Sorted-set commands. A sorted set is a [`crate::redis::collection`] with two sub-keys per
//! member, the member → score record and a score-index entry; see [`store`].

mod setop;
mod store;
mod zadd;
mod zcard;
mod zpop;
mod zrandmember;
mod zrange;
mod zrank;
mod zrem;
mod zscan;
mod zscore;

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::collection::atomically;
use crate::redis::error::RedisError;
use crate::redis::session::{ServerContext, Session};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum ZSet {
    Add(zadd::ZAdd),
    Rem(zrem::ZRem),
    Score(zscore::ZScore),
    Count(zcard::ZCount),
    Rank(zrank::ZRank),
    Range(zrange::ZRange),
    Pop(zpop::ZPop),
    RandMember(zrandmember::ZRandMember),
    SetOp(setop::ZSetOp),
    Scan(zscan::ZScan),
}

impl ZSet {
    /// `None` when `name` is not a sorted-set command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<ZSet, RedisError>> {
        Some(match name {
            "zadd" => zadd::ZAdd::parse(args).map(ZSet::Add),
            "zincrby" => zadd::ZAdd::parse_zincrby(args).map(ZSet::Add),
            "zrem" | "zremrangebyrank" | "zremrangebyscore" | "zremrangebylex" => {
                zrem::ZRem::parse(name, args).map(ZSet::Rem)
            }
            "zscore" => zscore::ZScore::parse(args, false).map(ZSet::Score),
            "zmscore" => zscore::ZScore::parse(args, true).map(ZSet::Score),
            "zcard" | "zcount" | "zlexcount" => zcard::ZCount::parse(name, args).map(ZSet::Count),
            "zrank" => zrank::ZRank::parse(args, false).map(ZSet::Rank),
            "zrevrank" => zrank::ZRank::parse(args, true).map(ZSet::Rank),
            "zrange" | "zrangestore" | "zrevrange" | "zrangebyscore" | "zrevrangebyscore" | "zrangebylex"
            | "zrevrangebylex" => zrange::ZRange::parse(name, args).map(ZSet::Range),
            "zpopmin" => zpop::ZPop::parse_pop(args, false).map(ZSet::Pop),
            "zpopmax" => zpop::ZPop::parse_pop(args, true).map(ZSet::Pop),
            "bzpopmin" => zpop::ZPop::parse_blocking_pop(args, false).map(ZSet::Pop),
            "bzpopmax" => zpop::ZPop::parse_blocking_pop(args, true).map(ZSet::Pop),
            "zmpop" => zpop::ZPop::parse_mpop(args, false).map(ZSet::Pop),
            "bzmpop" => zpop::ZPop::parse_mpop(args, true).map(ZSet::Pop),
            "zrandmember" => zrandmember::ZRandMember::parse(args).map(ZSet::RandMember),
            "zunionstore" | "zinterstore" | "zdiffstore" | "zunion" | "zinter" | "zdiff" | "zintercard" => {
                setop::ZSetOp::parse(name, args).map(ZSet::SetOp)
            }
            "zscan" => zscan::ZScan::parse(args).map(ZSet::Scan),
            _ => return None,
        })
    }

    /// BZPOPMIN / BZPOPMAX / BZMPOP may wait (see [`zpop`]).
    pub fn blocks(&self) -> bool {
        matches!(self, ZSet::Pop(pop) if pop.blocks())
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext, session: &Session) -> Result<Reply, RedisError> {
        // The key a write may have filled, for clients blocked in BZPOPMIN & co. They are
        // woken only once the write is visible: after the commit. Inside MULTI the commit
        // comes later; EXEC signals the keys of its commands.
        let filled = match &self {
            ZSet::Add(c) => Some(c.key().clone()),
            ZSet::SetOp(c) => c.destination().cloned(),
            ZSet::Range(c) => c.destination().cloned(),
            _ => None,
        };
        let reply = match self {
            ZSet::Add(c) => atomically(kv, &c).await,
            ZSet::Rem(c) => atomically(kv, &c).await,
            ZSet::Score(c) => atomically(kv, &c).await,
            ZSet::Count(c) => atomically(kv, &c).await,
            ZSet::Rank(c) => atomically(kv, &c).await,
            ZSet::Range(c) => atomically(kv, &c).await,
            ZSet::Pop(c) => c.apply(kv, ctx, session).await,
            ZSet::RandMember(c) => atomically(kv, &c).await,
            ZSet::SetOp(c) => atomically(kv, &c).await,
            ZSet::Scan(c) => atomically(kv, &c).await,
        }?;
        if let Some(key) = filled.filter(|_| !kv.in_transaction()) {
            // A spurious wake-up costs the waiter one empty try. Like a list push, the woken
            // clients are served before this command replies.
            ctx.key_waiters.signal(&key, 1).served().await;
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests;
