//! SADD key member [member ...] / SREM key member [member ...]

use std::collections::BTreeSet;

use bytes::Bytes;

use super::super::arg;
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{load, load_or_create, save_meta, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct SAdd {
    key: Bytes,
    members: Vec<Bytes>,
    /// SREM: remove instead of add.
    remove: bool,
}

impl SAdd {
    pub fn parse(args: &[Bytes], remove: bool) -> Result<Self, RedisError> {
        Ok(SAdd { key: arg(args, 1)?, members: args.get(2..).unwrap_or_default().to_vec(), remove })
    }
}

impl Atomic for SAdd {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = if self.remove {
            match load(kv, &self.key, ValueType::Set).await? {
                Some(found) => found,
                None => return Ok(Reply::Integer(0)),
            }
        } else {
            load_or_create(kv, &self.key, ValueType::Set).await?
        };
        let mut meta = found.meta;
        // A member named twice counts once.
        let keys: Vec<Bytes> = self
            .members
            .iter()
            .map(|member| meta.sub_key(SubKind::Member, member))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let present: Vec<bool> = if meta.size == 0 {
            vec![false; keys.len()]
        } else {
            kv.get(keys.clone()).await?.states.iter().map(|state| state.is_live()).collect()
        };
        let mut mutations: Vec<Mutation> = keys
            .into_iter()
            .zip(present)
            .filter(|(_, present)| *present == self.remove)
            .map(|(key, _)| match self.remove {
                true => Mutation::Delete { key },
                false => Mutation::Put { key, value: Bytes::new(), expiry: Expiry::Never },
            })
            .collect();
        let changed = mutations.len() as u64;
        if changed == 0 {
            return Ok(Reply::Integer(0));
        }
        meta.size = if self.remove { meta.size.saturating_sub(changed) } else { meta.size + changed };
        mutations.push(save_meta(&self.key, &meta, found.expiry));
        kv.write(Vec::new(), mutations).await?;
        Ok(Reply::Integer(changed as i64))
    }
}
