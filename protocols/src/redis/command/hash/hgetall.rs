//! HGETALL key

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, scan_sub, sub_key_rest, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HGetAll {
    key: Bytes,
}

impl HGetAll {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(HGetAll { key: arg(args, 1)? })
    }
}

impl Atomic for HGetAll {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else { return Ok(Reply::Map(Vec::new())) };
        let (start, end) = found.meta.sub_range(SubKind::Field);
        let fields = scan_sub(kv, start, end, usize::MAX, false).await?;
        Ok(Reply::Map(
            fields.into_iter().map(|(key, value)| (Reply::Bulk(sub_key_rest(&key)), Reply::Bulk(value))).collect(),
        ))
    }
}
