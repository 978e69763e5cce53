//! ZCARD key / ZCOUNT key min max / ZLEXCOUNT key min max

use bytes::Bytes;

use super::store::{LexRange, ScoreRange};
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Counted {
    All,
    Score(ScoreRange),
    Lex(LexRange),
}

/// Counts members, all of them or those in a range. Range counts scan the score index
/// (O(members in range)).
#[derive(Clone, Debug, PartialEq)]
pub struct ZCount {
    key: Bytes,
    counted: Counted,
}

impl ZCount {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        let counted = match name {
            "zcount" => Counted::Score(ScoreRange::parse(&super::super::arg(args, 2)?, &super::super::arg(args, 3)?)?),
            "zlexcount" => Counted::Lex(LexRange::parse(&super::super::arg(args, 2)?, &super::super::arg(args, 3)?)?),
            _ => Counted::All,
        };
        Ok(ZCount { key, counted })
    }
}

impl Atomic for ZCount {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::ZSet).await? else { return Ok(Reply::Integer(0)) };
        let meta = &found.meta;
        let count = match &self.counted {
            Counted::All => meta.size as usize,
            Counted::Score(range) => range.entries(kv, meta, usize::MAX, false).await?.len(),
            Counted::Lex(range) => range.entries(kv, meta, usize::MAX, false).await?.len(),
        };
        Ok(Reply::Integer(count as i64))
    }
}
