//! ZRANK key member / ZREVRANK key member

use bytes::Bytes;

use super::store::{index_key, scan_index, scores_of};
use crate::kv::KvStore;
use crate::redis::collection::{load, sub_key_rest, Atomic};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct ZRank {
    key: Bytes,
    member: Bytes,
    reverse: bool,
}

impl ZRank {
    pub fn parse(args: &[Bytes], reverse: bool) -> Result<Self, RedisError> {
        Ok(ZRank { key: super::super::arg(args, 1)?, member: super::super::arg(args, 2)?, reverse })
    }
}

impl Atomic for ZRank {
    type Output = Reply;

    /// The rank is the number of index entries before the member's (after it, for ZREVRANK):
    /// counted by scanning them, O(rank).
    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::ZSet).await? else { return Ok(Reply::Null) };
        let meta = &found.meta;
        let Some(score) = scores_of(kv, meta, std::slice::from_ref(&self.member)).await?.pop().flatten() else {
            return Ok(Reply::Null);
        };
        let own = sub_key_rest(&index_key(meta, &self.member, score));
        let before = if self.reverse {
            let mut after = own.to_vec();
            after.push(0);
            scan_index(kv, meta, Some(&after), None, usize::MAX, false).await?
        } else {
            scan_index(kv, meta, None, Some(&own), usize::MAX, false).await?
        };
        Ok(Reply::Integer(before.len() as i64))
    }
}
