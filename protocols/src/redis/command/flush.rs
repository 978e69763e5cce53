//! FLUSHDB / FLUSHALL [ASYNC | SYNC]: one range delete over the Redis keyspace. With a single
//! database both are the same; the core deletes the range atomically, so ASYNC and SYNC
//! behave alike.

use bytes::Bytes;

use super::is_option;
use crate::kv::{KvStore, Mutation, WriteOutcome};
use crate::redis::error::RedisError;
use crate::redis::keyspace::keyspace_range;
use crate::resp::Reply;

pub fn parse(args: &[Bytes]) -> Result<(), RedisError> {
    match args {
        [_] => Ok(()),
        [_, mode] if is_option(mode, "async") || is_option(mode, "sync") => Ok(()),
        _ => Err(RedisError::Syntax),
    }
}

pub async fn apply<K: KvStore>(kv: &K) -> Result<Reply, RedisError> {
    let (start, end) = keyspace_range();
    match kv.write(Vec::new(), vec![Mutation::DeleteRange { start, end }]).await? {
        // No conditions were given, so the core cannot refuse the write; treat it as done.
        WriteOutcome::Committed { .. } | WriteOutcome::ConditionFailed => Ok(Reply::ok()),
    }
}
