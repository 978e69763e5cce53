//! SMEMBERS key

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, scan_sub, sub_key_rest, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct SMembers {
    key: Bytes,
}

impl SMembers {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(SMembers { key: arg(args, 1)? })
    }
}

impl Atomic for SMembers {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Set).await? else { return Ok(Reply::Set(Vec::new())) };
        let (start, end) = found.meta.sub_range(SubKind::Member);
        let members = scan_sub(kv, start, end, usize::MAX, false).await?;
        Ok(Reply::Set(members.into_iter().map(|(key, _)| Reply::Bulk(sub_key_rest(&key))).collect()))
    }
}
