//! TYPE key: answered from the stored value's type tag.

use bytes::Bytes;

use super::arg;
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, value_type};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    key: Bytes,
}

impl Type {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Type { key: arg(args, 1)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let snapshot = kv.get(vec![kv_key(&self.key)]).await?;
        let name = match snapshot.states.first().and_then(|s| s.value.as_ref()) {
            None => "none",
            Some(raw) => value_type(raw)?.name(),
        };
        Ok(Reply::simple(name))
    }
}
