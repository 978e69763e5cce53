//! EXISTS key [key ...]: counts live keys; a key named twice counts twice, as in Redis.

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::kv_key;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Exists {
    keys: Vec<Bytes>,
}

impl Exists {
    pub fn parse(args: &[Bytes]) -> Self {
        Exists { keys: args.get(1..).unwrap_or_default().to_vec() }
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let snapshot = kv.get(self.keys.iter().map(|k| kv_key(k)).collect()).await?;
        Ok(Reply::Integer(snapshot.states.iter().filter(|s| s.is_live()).count() as i64))
    }
}
