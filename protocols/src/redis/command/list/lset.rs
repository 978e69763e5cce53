//! LSET key index element: O(1), one point write (plus the metadata record, rewritten so that
//! concurrent changes to the list conflict).

use bytes::Bytes;

use super::store::{offset_of, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, int_arg};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    key: Bytes,
    index: Bytes,
    element: Bytes,
}

impl Set {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Set { key: arg(args, 1)?, index: arg(args, 2)?, element: arg(args, 3)? })
    }
}

impl Atomic for Set {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        // Redis checks the key before the index.
        let Some(mut list) = ListState::load(kv, &self.key).await? else { return Err(RedisError::NoSuchKey) };
        let index = int_arg(&self.index)?;
        let offset = offset_of(index, list.len()).ok_or(RedisError::IndexOutOfRange)?;
        list.set(offset, self.element.clone());
        kv.write(Vec::new(), list.finish()).await?;
        Ok(Reply::ok())
    }
}
