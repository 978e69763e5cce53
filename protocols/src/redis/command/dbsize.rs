//! DBSIZE: the number of live Redis keys.

use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::keyspace_range;
use crate::resp::Reply;

pub async fn apply<K: KvStore>(kv: &K) -> Result<Reply, RedisError> {
    let (start, end) = keyspace_range();
    let count = kv.count(start, end).await?;
    Ok(Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX)))
}
