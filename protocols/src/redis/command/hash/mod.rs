//! Hash commands. A hash is a [`crate::redis::collection`] whose sub-keys are its fields.

mod hdel;
mod hfield;
mod hget;
mod hgetall;
mod hincrby;
mod hkeys;
mod hmget;
mod hrandfield;
mod hscan;
mod hset;
mod hsetnx;

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::collection::atomically;
use crate::redis::error::RedisError;
use crate::redis::session::ServerContext;
use crate::resp::{ProtocolVersion, Reply};

#[derive(Clone, Debug, PartialEq)]
pub enum Hash {
    Set(hset::HSet),
    SetNx(hsetnx::HSetNx),
    Get(hget::HGet),
    MGet(hmget::HMGet),
    GetAll(hgetall::HGetAll),
    Del(hdel::HDel),
    Field(hfield::HField),
    Keys(hkeys::HKeys),
    IncrBy(hincrby::HIncrBy),
    RandField(hrandfield::HRandField),
    Scan(hscan::HScan),
}

impl Hash {
    /// `None` when `name` is not a hash command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<Hash, RedisError>> {
        use hfield::Question;
        Some(match name {
            "hset" => hset::HSet::parse(args, false).map(Hash::Set),
            "hmset" => hset::HSet::parse(args, true).map(Hash::Set),
            "hsetnx" => hsetnx::HSetNx::parse(args).map(Hash::SetNx),
            "hget" => hget::HGet::parse(args).map(Hash::Get),
            "hmget" => hmget::HMGet::parse(args).map(Hash::MGet),
            "hgetall" => hgetall::HGetAll::parse(args).map(Hash::GetAll),
            "hdel" => hdel::HDel::parse(args).map(Hash::Del),
            "hexists" => hfield::HField::parse(args, Question::Exists).map(Hash::Field),
            "hstrlen" => hfield::HField::parse(args, Question::StrLen).map(Hash::Field),
            "hlen" => hfield::HField::parse(args, Question::Len).map(Hash::Field),
            "hkeys" => hkeys::HKeys::parse(args, false).map(Hash::Keys),
            "hvals" => hkeys::HKeys::parse(args, true).map(Hash::Keys),
            "hincrby" => hincrby::HIncrBy::parse(args, false).map(Hash::IncrBy),
            "hincrbyfloat" => hincrby::HIncrBy::parse(args, true).map(Hash::IncrBy),
            "hrandfield" => hrandfield::HRandField::parse(args).map(Hash::RandField),
            "hscan" => hscan::HScan::parse(args).map(Hash::Scan),
            _ => return None,
        })
    }

    /// `protocol` is the connection's: a few replies are shaped differently in RESP3.
    pub async fn apply<K: KvStore>(
        self,
        kv: &K,
        _ctx: &ServerContext,
        protocol: ProtocolVersion,
    ) -> Result<Reply, RedisError> {
        match self {
            Hash::Set(c) => atomically(kv, &c).await,
            Hash::SetNx(c) => atomically(kv, &c).await,
            Hash::Get(c) => atomically(kv, &c).await,
            Hash::MGet(c) => atomically(kv, &c).await,
            Hash::GetAll(c) => atomically(kv, &c).await,
            Hash::Del(c) => atomically(kv, &c).await,
            Hash::Field(c) => atomically(kv, &c).await,
            Hash::Keys(c) => atomically(kv, &c).await,
            Hash::IncrBy(c) => atomically(kv, &c).await,
            Hash::RandField(c) => atomically(kv, &c.for_protocol(protocol)).await,
            Hash::Scan(c) => atomically(kv, &c).await,
        }
    }
}

#[cfg(test)]
mod tests;
