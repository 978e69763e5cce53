//! LPUSH / RPUSH key element [element ...], LPUSHX / RPUSHX (only onto an existing list).

use bytes::Bytes;

use super::store::{End, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    pub(super) key: Bytes,
    pub(super) elements: Vec<Bytes>,
    end: End,
    only_if_exists: bool,
}

impl Push {
    pub fn parse(args: &[Bytes], end: End, only_if_exists: bool) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        let elements = args.get(2..).unwrap_or_default().to_vec();
        Ok(Push { key, elements, end, only_if_exists })
    }
}

impl Atomic for Push {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let mut list = if self.only_if_exists {
            match ListState::load(kv, &self.key).await? {
                Some(list) => list,
                None => return Ok(Reply::Integer(0)),
            }
        } else {
            ListState::load_or_create(kv, &self.key).await?
        };
        list.push(self.end, &self.elements)?;
        let len = list.len();
        kv.write(Vec::new(), list.finish()).await?;
        Ok(Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX)))
    }
}
