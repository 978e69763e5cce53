//! LINSERT key BEFORE|AFTER pivot element: O(P) to find the pivot at offset P, then moves the
//! shorter side of the list by one index (O(min(P, N - P)) writes).

use bytes::Bytes;

use super::store::{ListState, PAGE};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, is_option};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    pub(super) key: Bytes,
    after: bool,
    pivot: Bytes,
    element: Bytes,
}

impl Insert {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let position = arg(args, 2)?;
        let after = if is_option(&position, "after") {
            true
        } else if is_option(&position, "before") {
            false
        } else {
            return Err(RedisError::Syntax);
        };
        Ok(Insert { key: arg(args, 1)?, after, pivot: arg(args, 3)?, element: arg(args, 4)? })
    }
}

impl Atomic for Insert {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(mut list) = ListState::load(kv, &self.key).await? else { return Ok(Reply::Integer(0)) };
        let mut from = 0;
        let pivot = loop {
            let page = list.read(kv, from, list.len(), PAGE, false).await?;
            if let Some((offset, _)) = page.iter().find(|(_, value)| *value == self.pivot) {
                break Some(*offset);
            }
            match page.last() {
                Some((offset, _)) if page.len() == PAGE => from = offset + 1,
                _ => break None,
            }
        };
        let Some(pivot) = pivot else { return Ok(Reply::Integer(-1)) };
        list.insert(kv, if self.after { pivot + 1 } else { pivot }, self.element.clone()).await?;
        let len = list.len();
        kv.write(Vec::new(), list.finish()).await?;
        Ok(Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX)))
    }
}
