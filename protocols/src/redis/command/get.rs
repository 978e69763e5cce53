//! GET key

use bytes::Bytes;

use super::arg;
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, read_string};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Get {
    key: Bytes,
}

impl Get {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Get { key: arg(args, 1)? })
    }

    /// `max_staleness_ms` above 0 allows a bounded-staleness read (READONLY connections).
    pub async fn apply<K: KvStore>(self, kv: &K, max_staleness_ms: u64) -> Result<Reply, RedisError> {
        let snapshot = kv.get_stale(vec![kv_key(&self.key)], max_staleness_ms).await?;
        let state = snapshot.states.first().cloned().unwrap_or_default();
        Ok(Reply::bulk_or_null(read_string(&state)?))
    }
}
