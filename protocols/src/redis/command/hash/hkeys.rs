//! HKEYS key / HVALS key

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, scan_sub, sub_key_rest, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HKeys {
    key: Bytes,
    /// HVALS: the values instead of the fields.
    values: bool,
}

impl HKeys {
    pub fn parse(args: &[Bytes], values: bool) -> Result<Self, RedisError> {
        Ok(HKeys { key: arg(args, 1)?, values })
    }
}

impl Atomic for HKeys {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else { return Ok(Reply::Array(Vec::new())) };
        let (start, end) = found.meta.sub_range(SubKind::Field);
        let fields = scan_sub(kv, start, end, usize::MAX, false).await?;
        Ok(Reply::Array(
            fields
                .into_iter()
                .map(|(key, value)| Reply::Bulk(if self.values { value } else { sub_key_rest(&key) }))
                .collect(),
        ))
    }
}
