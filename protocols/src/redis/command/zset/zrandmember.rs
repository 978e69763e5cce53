//! ZRANDMEMBER key [count [WITHSCORES]]

use bytes::Bytes;

use super::store::{all_entries, entries_reply};
use crate::kv::KvStore;
use crate::redis::collection::random::random_below;
use crate::redis::collection::{load, Atomic};
use crate::redis::command::{int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct ZRandMember {
    key: Bytes,
    /// `None`: one member as a bulk string. Negative: that many, repetitions allowed.
    count: Option<i64>,
    with_scores: bool,
}

impl ZRandMember {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        let count = args.get(2).map(|c| int_arg(c)).transpose()?;
        let with_scores = match args.get(3) {
            None => false,
            Some(option) if args.len() == 4 && is_option(option, "withscores") => true,
            Some(_) => return Err(RedisError::Syntax),
        };
        if count.is_some_and(|c| c == i64::MIN || (with_scores && c.unsigned_abs() > (i64::MAX / 2) as u64)) {
            return Err(RedisError::ValueOutOfRange { min: -i64::MAX, max: i64::MAX });
        }
        Ok(ZRandMember { key, count, with_scores })
    }
}

/// The most members a negative count may ask for. Redis streams any number; a gateway builds
/// the reply in memory, so an absurd count is refused instead of exhausting memory.
const MAX_REPEATED: usize = 10_000_000;

impl Atomic for ZRandMember {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load(kv, &self.key, ValueType::ZSet).await?;
        let Some(count) = self.count else {
            let Some(found) = found else { return Ok(Reply::Null) };
            let entries = all_entries(kv, &found.meta, usize::MAX, false).await?;
            let pick = random_below(entries.len().max(1) as u64) as usize;
            return Ok(entries.into_iter().nth(pick).map_or(Reply::Null, |e| Reply::Bulk(e.member)));
        };
        let Some(found) = found else { return Ok(Reply::Array(Vec::new())) };
        if count == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let mut entries = all_entries(kv, &found.meta, usize::MAX, false).await?;
        if entries.is_empty() {
            return Ok(Reply::Array(Vec::new()));
        }
        let picked = if count < 0 {
            let n = count.unsigned_abs() as usize;
            if n > MAX_REPEATED {
                return Err(RedisError::ValueOutOfRange { min: -(MAX_REPEATED as i64), max: i64::MAX });
            }
            (0..n).map(|_| entries[random_below(entries.len() as u64) as usize].clone()).collect()
        } else {
            // Distinct members: a partial Fisher-Yates shuffle.
            let n = (count as usize).min(entries.len());
            for i in 0..n {
                let j = i + random_below((entries.len() - i) as u64) as usize;
                entries.swap(i, j);
            }
            entries.truncate(n);
            entries
        };
        Ok(entries_reply(picked, self.with_scores))
    }
}
