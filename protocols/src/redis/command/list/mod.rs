//! List commands. A list is a [`crate::redis::collection`] whose sub-keys are its elements at
//! consecutive u64 indices `head..tail` (see [`store`]): pushes and pops at either end, LINDEX
//! and LSET are O(1); LRANGE is one range scan; LINSERT and LREM move the elements on one
//! side of the change (the shorter side for LINSERT).
//!
//! Commands that may make a list non-empty signal this gateway's blocked clients after they
//! commit ([`crate::redis::blocking`]).

mod blocking;
mod linsert;
mod lmove;
mod lpos;
mod lrem;
mod lset;
mod ltrim;
mod mpop;
mod pop;
mod push;
mod read;
mod store;

use bytes::Bytes;

use self::store::End;
use crate::kv::KvStore;
use crate::redis::collection::atomically;
use crate::redis::error::RedisError;
use crate::redis::session::{ServerContext, Session};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum List {
    Push(push::Push),
    Pop(pop::Pop),
    Len(read::Len),
    Range(read::Range),
    Index(read::Index),
    Set(lset::Set),
    Insert(linsert::Insert),
    Rem(lrem::Rem),
    Trim(ltrim::Trim),
    Pos(lpos::Pos),
    Move(lmove::Move),
    MultiPop(mpop::MultiPop),
    Blocking(blocking::Blocking),
}

impl List {
    /// `None` when `name` is not a list command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<List, RedisError>> {
        Some(match name {
            "lpush" => push::Push::parse(args, End::Left, false).map(List::Push),
            "rpush" => push::Push::parse(args, End::Right, false).map(List::Push),
            "lpushx" => push::Push::parse(args, End::Left, true).map(List::Push),
            "rpushx" => push::Push::parse(args, End::Right, true).map(List::Push),
            "lpop" => pop::Pop::parse(args, End::Left).map(List::Pop),
            "rpop" => pop::Pop::parse(args, End::Right).map(List::Pop),
            "llen" => read::Len::parse(args).map(List::Len),
            "lrange" => read::Range::parse(args).map(List::Range),
            "lindex" => read::Index::parse(args).map(List::Index),
            "lset" => lset::Set::parse(args).map(List::Set),
            "linsert" => linsert::Insert::parse(args).map(List::Insert),
            "lrem" => lrem::Rem::parse(args).map(List::Rem),
            "ltrim" => ltrim::Trim::parse(args).map(List::Trim),
            "lpos" => lpos::Pos::parse(args).map(List::Pos),
            "lmove" => lmove::Move::parse_lmove(args).map(List::Move),
            "rpoplpush" => lmove::Move::parse_rpoplpush(args).map(List::Move),
            "lmpop" => mpop::MultiPop::parse_lmpop(args, 1).map(List::MultiPop),
            "blpop" => blocking::Blocking::parse_bpop(args, End::Left).map(List::Blocking),
            "brpop" => blocking::Blocking::parse_bpop(args, End::Right).map(List::Blocking),
            "blmove" => blocking::Blocking::parse_blmove(args).map(List::Blocking),
            "brpoplpush" => blocking::Blocking::parse_brpoplpush(args).map(List::Blocking),
            "blmpop" => blocking::Blocking::parse_blmpop(args).map(List::Blocking),
            _ => return None,
        })
    }

    /// BLPOP & co. may wait: the connection runs them alone (later pipelined commands wait,
    /// as in Redis) and without holding an admission permit.
    pub fn blocks(&self) -> bool {
        matches!(self, List::Blocking(_))
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext, session: &Session) -> Result<Reply, RedisError> {
        // Blocked clients are woken only once a push is visible to them: after the commit,
        // and served before this command replies (as in Redis). Inside MULTI the commit comes
        // later; EXEC signals the keys of its commands.
        let signal = |key: &Bytes, count: usize| {
            let wakeups = (!kv.in_transaction()).then(|| ctx.key_waiters.signal(key, count));
            async move {
                if let Some(wakeups) = wakeups {
                    wakeups.served().await;
                }
            }
        };
        match self {
            List::Push(c) => {
                let reply = atomically(kv, &c).await?;
                if matches!(reply, Reply::Integer(n) if n > 0) {
                    // One wake-up, however many elements: each served client passes it on, so
                    // waiters are served strictly in arrival order (Redis's order).
                    signal(&c.key, 1).await;
                }
                Ok(reply)
            }
            List::Pop(c) => atomically(kv, &c).await,
            List::Len(c) => atomically(kv, &c).await,
            List::Range(c) => atomically(kv, &c).await,
            List::Index(c) => atomically(kv, &c).await,
            List::Set(c) => atomically(kv, &c).await,
            List::Insert(c) => {
                let reply = atomically(kv, &c).await?;
                if matches!(reply, Reply::Integer(n) if n > 0) {
                    signal(&c.key, 1).await;
                }
                Ok(reply)
            }
            List::Rem(c) => atomically(kv, &c).await,
            List::Trim(c) => atomically(kv, &c).await,
            List::Pos(c) => atomically(kv, &c).await,
            List::Move(c) => {
                let moved = atomically(kv, &c).await?;
                if moved.is_some() {
                    signal(&c.destination, 1).await;
                }
                Ok(lmove::reply(moved))
            }
            List::MultiPop(c) => Ok(atomically(kv, &c).await?.unwrap_or_else(|| c.empty_reply())),
            List::Blocking(c) => c.apply(kv, ctx, session).await,
        }
    }
}

#[cfg(test)]
mod tests;
