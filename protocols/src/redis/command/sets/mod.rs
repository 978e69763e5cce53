//! Set commands. A set is a [`crate::redis::collection`] whose sub-keys (kind `m`) are its
//! members, with empty values.

mod combine;
mod sadd;
mod sismember;
mod smembers;
mod smove;
mod spop;
mod sscan;

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::collection::atomically;
use crate::redis::error::RedisError;
use crate::redis::session::ServerContext;
use crate::resp::{ProtocolVersion, Reply};

#[derive(Clone, Debug, PartialEq)]
pub enum Sets {
    Add(sadd::SAdd),
    IsMember(sismember::SIsMember),
    Members(smembers::SMembers),
    Pop(spop::SPop),
    Move(smove::SMove),
    Combine(combine::Combine),
    Scan(sscan::SScan),
}

impl Sets {
    /// `None` when `name` is not a set command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<Sets, RedisError>> {
        use combine::{Combine, Op};
        use sismember::Question;
        Some(match name {
            "sadd" => sadd::SAdd::parse(args, false).map(Sets::Add),
            "srem" => sadd::SAdd::parse(args, true).map(Sets::Add),
            "sismember" => sismember::SIsMember::parse(args, Question::IsMember).map(Sets::IsMember),
            "smismember" => sismember::SIsMember::parse(args, Question::AreMembers).map(Sets::IsMember),
            "scard" => sismember::SIsMember::parse(args, Question::Card).map(Sets::IsMember),
            "smembers" => smembers::SMembers::parse(args).map(Sets::Members),
            "spop" => spop::SPop::parse(args, true).map(Sets::Pop),
            "srandmember" => spop::SPop::parse(args, false).map(Sets::Pop),
            "smove" => smove::SMove::parse(args).map(Sets::Move),
            "sinter" => Combine::parse(args, Op::Inter, false).map(Sets::Combine),
            "sunion" => Combine::parse(args, Op::Union, false).map(Sets::Combine),
            "sdiff" => Combine::parse(args, Op::Diff, false).map(Sets::Combine),
            "sinterstore" => Combine::parse(args, Op::Inter, true).map(Sets::Combine),
            "sunionstore" => Combine::parse(args, Op::Union, true).map(Sets::Combine),
            "sdiffstore" => Combine::parse(args, Op::Diff, true).map(Sets::Combine),
            "sintercard" => Combine::parse_intercard(args).map(Sets::Combine),
            "sscan" => sscan::SScan::parse(args).map(Sets::Scan),
            _ => return None,
        })
    }

    pub async fn apply<K: KvStore>(
        self,
        kv: &K,
        _ctx: &ServerContext,
        _protocol: ProtocolVersion,
    ) -> Result<Reply, RedisError> {
        match self {
            Sets::Add(c) => atomically(kv, &c).await,
            Sets::IsMember(c) => atomically(kv, &c).await,
            Sets::Members(c) => atomically(kv, &c).await,
            Sets::Pop(c) => atomically(kv, &c).await,
            Sets::Move(c) => atomically(kv, &c).await,
            Sets::Combine(c) => atomically(kv, &c).await,
            Sets::Scan(c) => atomically(kv, &c).await,
        }
    }
}

#[cfg(test)]
mod tests;
