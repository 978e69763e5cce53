//! ZRANDMEMBER key [count [WITHSCORES]]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;

use super::store::{all_entries, entries_reply};
use crate::kv::KvStore;
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

/// A small xorshift generator seeded from the standard library's per-process random keys: no
/// cryptographic needs here, just Redis's "random".
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x9e37_79b9_7f4a_7c15);
        Rng(hasher.finish() | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

impl Atomic for ZRandMember {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load(kv, &self.key, ValueType::ZSet).await?;
        let Some(count) = self.count else {
            let Some(found) = found else { return Ok(Reply::Null) };
            let entries = all_entries(kv, &found.meta, usize::MAX, false).await?;
            let pick = Rng::new().below(entries.len().max(1));
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
        let mut rng = Rng::new();
        let picked = if count < 0 {
            let n = count.unsigned_abs() as usize;
            if n > MAX_REPEATED {
                return Err(RedisError::ValueOutOfRange { min: -(MAX_REPEATED as i64), max: i64::MAX });
            }
            (0..n).map(|_| entries[rng.below(entries.len())].clone()).collect()
        } else {
            // Distinct members: a partial Fisher-Yates shuffle.
            let n = (count as usize).min(entries.len());
            for i in 0..n {
                let j = i + rng.below(entries.len() - i);
                entries.swap(i, j);
            }
            entries.truncate(n);
            entries
        };
        Ok(entries_reply(picked, self.with_scores))
    }
}
