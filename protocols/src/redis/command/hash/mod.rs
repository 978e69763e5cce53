//! Hash commands. A hash is a [`crate::redis::collection`] whose sub-keys are its fields.

mod hget;
mod hgetall;
mod hset;

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::collection::atomically;
use crate::redis::error::RedisError;
use crate::redis::session::ServerContext;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Hash {
    Set(hset::HSet),
    Get(hget::HGet),
    GetAll(hgetall::HGetAll),
}

impl Hash {
    /// `None` when `name` is not a hash command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<Hash, RedisError>> {
        Some(match name {
            "hset" => hset::HSet::parse(args, false).map(Hash::Set),
            "hmset" => hset::HSet::parse(args, true).map(Hash::Set),
            "hget" => hget::HGet::parse(args).map(Hash::Get),
            "hgetall" => hgetall::HGetAll::parse(args).map(Hash::GetAll),
            _ => return None,
        })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, _ctx: &ServerContext) -> Result<Reply, RedisError> {
        match self {
            Hash::Set(c) => atomically(kv, &c).await,
            Hash::Get(c) => atomically(kv, &c).await,
            Hash::GetAll(c) => atomically(kv, &c).await,
        }
    }
}

#[cfg(test)]
mod tests;
