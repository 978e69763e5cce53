//! HDEL key field [field ...]

use std::collections::BTreeSet;

use bytes::Bytes;

use super::super::arg;
use crate::kv::{KvStore, Mutation};
use crate::redis::collection::{load, save_meta, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HDel {
    key: Bytes,
    fields: Vec<Bytes>,
}

impl HDel {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(HDel { key: arg(args, 1)?, fields: args.get(2..).unwrap_or_default().to_vec() })
    }
}

impl Atomic for HDel {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else { return Ok(Reply::Integer(0)) };
        let mut meta = found.meta;
        // A field named twice is removed once.
        let keys: Vec<Bytes> = self
            .fields
            .iter()
            .map(|field| meta.sub_key(SubKind::Field, field))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let read = kv.get(keys.clone()).await?;
        let mut mutations: Vec<Mutation> = keys
            .into_iter()
            .zip(&read.states)
            .filter(|(_, state)| state.is_live())
            .map(|(key, _)| Mutation::Delete { key })
            .collect();
        let removed = mutations.len() as u64;
        if removed == 0 {
            return Ok(Reply::Integer(0));
        }
        meta.size = meta.size.saturating_sub(removed);
        mutations.push(save_meta(&self.key, &meta, found.expiry));
        kv.write(Vec::new(), mutations).await?;
        Ok(Reply::Integer(removed as i64))
    }
}
