//! HSETNX key field value

use bytes::Bytes;

use super::super::arg;
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{load_or_create, save_meta, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HSetNx {
    key: Bytes,
    field: Bytes,
    value: Bytes,
}

impl HSetNx {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(HSetNx { key: arg(args, 1)?, field: arg(args, 2)?, value: arg(args, 3)? })
    }
}

impl Atomic for HSetNx {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load_or_create(kv, &self.key, ValueType::Hash).await?;
        let mut meta = found.meta;
        let sub_key = meta.sub_key(SubKind::Field, &self.field);
        if meta.size > 0 && kv.get(vec![sub_key.clone()]).await?.states.iter().any(|s| s.is_live()) {
            return Ok(Reply::Integer(0));
        }
        meta.size += 1;
        let put = Mutation::Put { key: sub_key, value: self.value.clone(), expiry: Expiry::Never };
        kv.write(Vec::new(), vec![put, save_meta(&self.key, &meta, found.expiry)]).await?;
        Ok(Reply::Integer(1))
    }
}
