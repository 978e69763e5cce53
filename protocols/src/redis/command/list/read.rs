//! LLEN key, LRANGE key start stop, LINDEX key index

use bytes::Bytes;

use super::store::{clamp_range, offset_of, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, int_arg};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Len {
    key: Bytes,
}

impl Len {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Len { key: arg(args, 1)? })
    }
}

impl Atomic for Len {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let len = ListState::load(kv, &self.key).await?.map_or(0, |list| list.len());
        Ok(Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX)))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    key: Bytes,
    start: i64,
    stop: i64,
}

impl Range {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let start = int_arg(&arg(args, 2)?)?;
        let stop = int_arg(&arg(args, 3)?)?;
        Ok(Range { key: arg(args, 1)?, start, stop })
    }
}

impl Atomic for Range {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(list) = ListState::load(kv, &self.key).await? else { return Ok(Reply::Array(Vec::new())) };
        let (from, to) = clamp_range(self.start, self.stop, list.len());
        let elements = list.read(kv, from, to, usize::MAX, false).await?;
        Ok(Reply::Array(elements.into_iter().map(|(_, value)| Reply::Bulk(value)).collect()))
    }
}

/// LINDEX; Redis looks the key up before it parses the index.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    key: Bytes,
    index: Bytes,
}

impl Index {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Index { key: arg(args, 1)?, index: arg(args, 2)? })
    }
}

impl Atomic for Index {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(list) = ListState::load(kv, &self.key).await? else { return Ok(Reply::Null) };
        let index = int_arg(&self.index)?;
        let Some(offset) = offset_of(index, list.len()) else { return Ok(Reply::Null) };
        Ok(list.get(kv, offset).await?.map_or(Reply::Null, Reply::Bulk))
    }
}
