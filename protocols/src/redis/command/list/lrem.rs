//! LREM key count element: O(N) (reads the whole list), then rewrites the elements on one
//! side of the removed ones (the cheaper side).

use bytes::Bytes;

use super::store::ListState;
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, int_arg};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Rem {
    key: Bytes,
    /// > 0: the first `count` matches from the head; < 0: from the tail; 0: all.
    count: i64,
    element: Bytes,
}

impl Rem {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let count = int_arg(&arg(args, 2)?)?;
        Ok(Rem { key: arg(args, 1)?, count, element: arg(args, 3)? })
    }
}

impl Atomic for Rem {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(mut list) = ListState::load(kv, &self.key).await? else { return Ok(Reply::Integer(0)) };
        let old = list.read_all(kv).await?;
        let limit = if self.count == 0 { u64::MAX } else { self.count.unsigned_abs() };
        let mut remove = vec![false; old.len()];
        let mut removed = 0u64;
        let offsets: Box<dyn Iterator<Item = usize>> =
            if self.count < 0 { Box::new((0..old.len()).rev()) } else { Box::new(0..old.len()) };
        for offset in offsets {
            if removed == limit {
                break;
            }
            if old[offset] == self.element {
                remove[offset] = true;
                removed += 1;
            }
        }
        if removed == 0 {
            return Ok(Reply::Integer(0));
        }
        let new: Vec<Bytes> = old.iter().zip(&remove).filter(|(_, gone)| !**gone).map(|(v, _)| v.clone()).collect();
        list.rewrite(&old, &new)?;
        kv.write(Vec::new(), list.finish()).await?;
        Ok(Reply::Integer(i64::try_from(removed).unwrap_or(i64::MAX)))
    }
}
