//! MGET key [key ...]: one read of all keys at a single point in time.

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, read_string};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct MGet {
    keys: Vec<Bytes>,
}

impl MGet {
    pub fn parse(args: &[Bytes]) -> Self {
        MGet { keys: args.get(1..).unwrap_or_default().to_vec() }
    }

    /// `max_staleness_ms` above 0 allows a bounded-staleness read (READONLY connections).
    pub async fn apply<K: KvStore>(self, kv: &K, max_staleness_ms: u64) -> Result<Reply, RedisError> {
        let snapshot = kv.get_stale(self.keys.iter().map(|k| kv_key(k)).collect(), max_staleness_ms).await?;
        // Keys of another type read as null rather than failing the whole command.
        let values = snapshot.states.iter().map(|state| Reply::bulk_or_null(read_string(state).ok().flatten()));
        Ok(Reply::Array(values.collect()))
    }
}
