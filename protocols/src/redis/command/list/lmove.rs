//! LMOVE source destination LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH source destination: O(1).

use bytes::Bytes;

use super::store::{End, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::arg;
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    pub(super) source: Bytes,
    pub(super) destination: Bytes,
    from: End,
    to: End,
}

impl Move {
    pub fn parse_lmove(args: &[Bytes]) -> Result<Self, RedisError> {
        let from = End::parse(&arg(args, 3)?)?;
        let to = End::parse(&arg(args, 4)?)?;
        Ok(Move { source: arg(args, 1)?, destination: arg(args, 2)?, from, to })
    }

    pub fn parse_rpoplpush(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Move { source: arg(args, 1)?, destination: arg(args, 2)?, from: End::Right, to: End::Left })
    }

    /// The moved element, or `None` when the source is missing.
    pub(super) async fn try_move<K: KvStore>(&self, kv: &K) -> Result<Option<Bytes>, RedisError> {
        let Some(mut source) = ListState::load(kv, &self.source).await? else { return Ok(None) };
        if self.source == self.destination {
            let popped = source.pop(kv, self.from, 1).await?;
            source.push(self.to, &popped)?;
            kv.write(Vec::new(), source.finish()).await?;
            return Ok(popped.into_iter().next());
        }
        // Like Redis, the destination's type is checked only once the source is known.
        let mut destination = ListState::load_or_create(kv, &self.destination).await?;
        let popped = source.pop(kv, self.from, 1).await?;
        destination.push(self.to, &popped)?;
        let mut mutations = source.finish();
        mutations.extend(destination.finish());
        kv.write(Vec::new(), mutations).await?;
        Ok(popped.into_iter().next())
    }
}

impl Atomic for Move {
    type Output = Option<Bytes>;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Option<Bytes>, RedisError> {
        self.try_move(kv).await
    }
}

/// The reply of LMOVE / BLMOVE for a moved element (or nil).
pub(super) fn reply(moved: Option<Bytes>) -> Reply {
    moved.map_or(Reply::Null, Reply::Bulk)
}
