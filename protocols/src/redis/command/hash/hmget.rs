//! HMGET key field [field ...]

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HMGet {
    key: Bytes,
    fields: Vec<Bytes>,
}

impl HMGet {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(HMGet { key: arg(args, 1)?, fields: args.get(2..).unwrap_or_default().to_vec() })
    }
}

impl Atomic for HMGet {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else {
            return Ok(Reply::Array(vec![Reply::Null; self.fields.len()]));
        };
        let keys = self.fields.iter().map(|field| found.meta.sub_key(SubKind::Field, field)).collect();
        let read = kv.get(keys).await?;
        Ok(Reply::Array(read.states.into_iter().map(|s| Reply::bulk_or_null(s.value)).collect()))
    }
}
