//! LTRIM key start stop: deletes the elements outside the range without reading them,
//! O(removed).

use bytes::Bytes;

use super::store::{clamp_range, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, int_arg};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Trim {
    key: Bytes,
    start: i64,
    stop: i64,
}

impl Trim {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let start = int_arg(&arg(args, 2)?)?;
        let stop = int_arg(&arg(args, 3)?)?;
        Ok(Trim { key: arg(args, 1)?, start, stop })
    }
}

impl Atomic for Trim {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(mut list) = ListState::load(kv, &self.key).await? else { return Ok(Reply::ok()) };
        let (from, to) = clamp_range(self.start, self.stop, list.len());
        if (from, to) == (0, list.len()) {
            return Ok(Reply::ok());
        }
        list.trim(from, to);
        kv.write(Vec::new(), list.finish()).await?;
        Ok(Reply::ok())
    }
}
