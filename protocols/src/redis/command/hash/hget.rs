//! HGET key field

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HGet {
    key: Bytes,
    field: Bytes,
}

impl HGet {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(HGet { key: arg(args, 1)?, field: arg(args, 2)? })
    }
}

impl Atomic for HGet {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else { return Ok(Reply::Null) };
        let read = kv.get(vec![found.meta.sub_key(SubKind::Field, &self.field)]).await?;
        Ok(read.states.into_iter().next().and_then(|s| s.value).map_or(Reply::Null, Reply::Bulk))
    }
}
