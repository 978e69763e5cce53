//! LPOP / RPOP key [count]

use bytes::Bytes;

use super::store::{End, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::error::RedisError;
use crate::resp::{parse_i64, Reply};

#[derive(Clone, Debug, PartialEq)]
pub struct Pop {
    key: Bytes,
    end: End,
    /// `None`: pop one and answer it as a bulk string; `Some`: answer an array.
    count: Option<u64>,
}

impl Pop {
    pub fn parse(args: &[Bytes], end: End) -> Result<Self, RedisError> {
        let name = if end == End::Left { "lpop" } else { "rpop" };
        if args.len() > 3 {
            return Err(RedisError::WrongArity(name.into()));
        }
        let count = match args.get(2) {
            None => None,
            Some(arg) => Some(positive(arg, "value is out of range, must be positive")?),
        };
        Ok(Pop { key: super::super::arg(args, 1)?, end, count })
    }
}

/// Redis's `getPositiveLongFromObjectOrReply` with a custom message: a non-integer and a
/// negative number get the same error.
pub(super) fn positive(arg: &[u8], message: &'static str) -> Result<u64, RedisError> {
    parse_i64(arg).and_then(|n| u64::try_from(n).ok()).ok_or(RedisError::BadArgument(message))
}

impl Atomic for Pop {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(mut list) = ListState::load(kv, &self.key).await? else {
            return Ok(if self.count.is_some() { Reply::NullArray } else { Reply::Null });
        };
        match self.count {
            Some(0) => Ok(Reply::Array(Vec::new())),
            Some(count) => {
                let popped = list.pop(kv, self.end, count).await?;
                kv.write(Vec::new(), list.finish()).await?;
                Ok(Reply::Array(popped.into_iter().map(Reply::Bulk).collect()))
            }
            None => {
                let popped = list.pop(kv, self.end, 1).await?;
                kv.write(Vec::new(), list.finish()).await?;
                Ok(popped.into_iter().next().map_or(Reply::Null, Reply::Bulk))
            }
        }
    }
}
