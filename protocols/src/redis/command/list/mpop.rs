//! Pops from the first non-empty of several lists: LMPOP numkeys key [key ...] LEFT|RIGHT
//! [COUNT count], and the one-attempt form of BLPOP / BRPOP / BLMPOP.

use bytes::Bytes;

use super::store::{End, ListState};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, is_option};
use crate::redis::error::RedisError;
use crate::resp::{parse_i64, Reply};

#[derive(Clone, Debug, PartialEq)]
pub struct MultiPop {
    pub(super) keys: Vec<Bytes>,
    end: End,
    count: u64,
    /// BLPOP / BRPOP answer `[key, element]`; LMPOP / BLMPOP `[key, [elements...]]`.
    nested: bool,
}

impl MultiPop {
    /// BLPOP / BRPOP keys (the arguments between the command name and the timeout).
    pub fn single(keys: &[Bytes], end: End) -> Self {
        MultiPop { keys: keys.to_vec(), end, count: 1, nested: false }
    }

    /// LMPOP's arguments starting at `numkeys` (`args[at]`), like Redis's
    /// `lmpopGenericCommand`.
    pub fn parse_lmpop(args: &[Bytes], at: usize) -> Result<Self, RedisError> {
        let numkeys_error = RedisError::BadArgument("numkeys should be greater than 0");
        let numkeys = parse_i64(&arg(args, at)?).filter(|n| *n >= 1).ok_or(numkeys_error)?;
        let where_at = usize::try_from(numkeys).ok().and_then(|n| n.checked_add(at + 1)).ok_or(RedisError::Syntax)?;
        let end = End::parse(args.get(where_at).ok_or(RedisError::Syntax)?)?;
        let keys = args.get(at + 1..where_at).ok_or(RedisError::Syntax)?.to_vec();
        let mut count = None;
        let mut i = where_at + 1;
        while let Some(option) = args.get(i) {
            match args.get(i + 1) {
                Some(value) if count.is_none() && is_option(option, "count") => {
                    let positive = parse_i64(value).filter(|n| *n >= 1);
                    count = Some(positive.ok_or(RedisError::BadArgument("count should be greater than 0"))? as u64);
                }
                _ => return Err(RedisError::Syntax),
            }
            i += 2;
        }
        Ok(MultiPop { keys, end, count: count.unwrap_or(1), nested: true })
    }

    /// The reply when nothing could be popped.
    pub fn empty_reply(&self) -> Reply {
        Reply::NullArray
    }
}

impl Atomic for MultiPop {
    /// The key popped from and the popped elements; `None` when every list is empty.
    type Output = Option<Reply>;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Option<Reply>, RedisError> {
        for key in &self.keys {
            let Some(mut list) = ListState::load(kv, key).await? else { continue };
            let popped = list.pop(kv, self.end, self.count).await?;
            kv.write(Vec::new(), list.finish()).await?;
            let elements = popped.into_iter().map(Reply::Bulk);
            let key = Reply::Bulk(key.clone());
            return Ok(Some(if self.nested {
                Reply::Array(vec![key, Reply::Array(elements.collect())])
            } else {
                Reply::Array(std::iter::once(key).chain(elements).collect())
            }));
        }
        Ok(None)
    }
}
