//! SMOVE source destination member

use bytes::Bytes;

use super::super::arg;
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{load, save_meta, Atomic, Meta, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct SMove {
    source: Bytes,
    destination: Bytes,
    member: Bytes,
}

impl SMove {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(SMove { source: arg(args, 1)?, destination: arg(args, 2)?, member: arg(args, 3)? })
    }
}

impl Atomic for SMove {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        // Redis answers 0 for a missing source before it checks the destination's type.
        let Some(source) = load(kv, &self.source, ValueType::Set).await? else { return Ok(Reply::Integer(0)) };
        let destination = load(kv, &self.destination, ValueType::Set).await?;
        let member_key = source.meta.sub_key(SubKind::Member, &self.member);
        let in_source = kv.get(vec![member_key.clone()]).await?.states.iter().any(|s| s.is_live());
        if self.source == self.destination || !in_source {
            return Ok(Reply::Integer(i64::from(in_source)));
        }
        let mut source_meta = source.meta;
        source_meta.size -= 1;
        let mut mutations =
            vec![Mutation::Delete { key: member_key }, save_meta(&self.source, &source_meta, source.expiry)];
        let (mut dest_meta, dest_expiry) = match destination {
            Some(found) => (found.meta, found.expiry),
            None => (Meta::new(ValueType::Set, kv.timestamp().await?), Expiry::Never),
        };
        let dest_member = dest_meta.sub_key(SubKind::Member, &self.member);
        let in_destination =
            dest_meta.size > 0 && kv.get(vec![dest_member.clone()]).await?.states.iter().any(|s| s.is_live());
        if !in_destination {
            dest_meta.size += 1;
            mutations.push(Mutation::Put { key: dest_member, value: Bytes::new(), expiry: Expiry::Never });
            mutations.push(save_meta(&self.destination, &dest_meta, dest_expiry));
        }
        kv.write(Vec::new(), mutations).await?;
        Ok(Reply::Integer(1))
    }
}
