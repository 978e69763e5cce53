//! HSET key field value [field value ...] / HMSET (same, answers OK)

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::collection::{load_or_create, save_meta, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HSet {
    key: Bytes,
    pairs: Vec<(Bytes, Bytes)>,
    /// HMSET: answer OK instead of the number of new fields.
    answer_ok: bool,
}

impl HSet {
    pub fn parse(args: &[Bytes], answer_ok: bool) -> Result<Self, RedisError> {
        let name = if answer_ok { "hmset" } else { "hset" };
        let (Some(key), Some(rest)) = (args.get(1), args.get(2..)) else {
            return Err(RedisError::WrongArity(name.into()));
        };
        if rest.is_empty() || rest.len() % 2 != 0 {
            return Err(RedisError::WrongArity(name.into()));
        }
        let pairs = rest.chunks_exact(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
        Ok(HSet { key: key.clone(), pairs, answer_ok })
    }
}

impl Atomic for HSet {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load_or_create(kv, &self.key, ValueType::Hash).await?;
        let mut meta = found.meta;
        let fields: Vec<Bytes> = self.pairs.iter().map(|(field, _)| meta.sub_key(SubKind::Field, field)).collect();
        let existing = if meta.size == 0 { None } else { Some(kv.get(fields.clone()).await?) };
        let mut added = std::collections::HashSet::new();
        let mut mutations = Vec::with_capacity(fields.len() + 1);
        for (i, (sub_key, (_, value))) in fields.into_iter().zip(&self.pairs).enumerate() {
            let existed = existing.as_ref().is_some_and(|read| read.states[i].is_live());
            if !existed && added.insert(sub_key.clone()) {
                meta.size += 1;
            }
            mutations.push(crate::kv::Mutation::Put {
                key: sub_key,
                value: value.clone(),
                expiry: crate::kv::Expiry::Never,
            });
        }
        let new_fields = added.len() as i64;
        mutations.push(save_meta(&self.key, &meta, found.expiry));
        kv.write(Vec::new(), mutations).await?;
        Ok(if self.answer_ok { Reply::ok() } else { Reply::Integer(new_fields) })
    }
}
