//! STRLEN key

use bytes::Bytes;

use super::arg;
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, read_string};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Strlen {
    key: Bytes,
}

impl Strlen {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Strlen { key: arg(args, 1)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let snapshot = kv.get(vec![kv_key(&self.key)]).await?;
        let state = snapshot.states.first().cloned().unwrap_or_default();
        Ok(Reply::Integer(read_string(&state)?.map_or(0, |v| v.len() as i64)))
    }
}
