//! LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]: walks the list in pages
//! from the head (or the tail for a negative rank) and stops as soon as it can, O(N) at worst.

use bytes::Bytes;

use super::pop::positive;
use super::store::{ListState, PAGE};
use crate::kv::KvStore;
use crate::redis::collection::Atomic;
use crate::redis::command::{arg, int_arg, is_option};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Pos {
    key: Bytes,
    element: Bytes,
    rank: i64,
    /// `None` answers one position (or nil); `Some(0)` means all matches.
    count: Option<u64>,
    /// 0: no limit.
    maxlen: u64,
}

impl Pos {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let mut pos = Pos { key: arg(args, 1)?, element: arg(args, 2)?, rank: 1, count: None, maxlen: 0 };
        let mut i = 3;
        while let Some(option) = args.get(i) {
            let value = args.get(i + 1).ok_or(RedisError::Syntax)?;
            if is_option(option, "rank") {
                pos.rank = int_arg(value)?;
                if pos.rank == 0 {
                    return Err(RedisError::RankZero);
                }
            } else if is_option(option, "count") {
                pos.count = Some(positive(value, "COUNT can't be negative")?);
            } else if is_option(option, "maxlen") {
                pos.maxlen = positive(value, "MAXLEN can't be negative")?;
            } else {
                return Err(RedisError::Syntax);
            }
            i += 2;
        }
        Ok(pos)
    }
}

impl Atomic for Pos {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(list) = ListState::load(kv, &self.key).await? else {
            return Ok(if self.count.is_some() { Reply::Array(Vec::new()) } else { Reply::Null });
        };
        // Like Redis, `-rank` wraps for i64::MIN (and then every match qualifies).
        let from_tail = self.rank < 0;
        let rank = if from_tail { self.rank.wrapping_neg() } else { self.rank };
        let len = list.len();
        let scan_len = if self.maxlen == 0 { len } else { self.maxlen.min(len) };
        let (mut from, mut to) = if from_tail { (len - scan_len, len) } else { (0, scan_len) };
        let mut matches: i64 = 0;
        let mut found = Vec::new();
        'scan: while from < to {
            let page = list.read(kv, from, to, PAGE, from_tail).await?;
            let Some(&(last, _)) = page.last() else { break };
            for (offset, value) in &page {
                if *value != self.element {
                    continue;
                }
                matches += 1;
                if matches >= rank {
                    found.push(*offset);
                    match self.count {
                        None => break 'scan,
                        Some(count) if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) as u64 >= count => {
                            break 'scan
                        }
                        Some(_) => {}
                    }
                }
            }
            if page.len() < PAGE {
                break;
            }
            if from_tail {
                to = last;
            } else {
                from = last + 1;
            }
        }
        let int = |offset: u64| Reply::Integer(i64::try_from(offset).unwrap_or(i64::MAX));
        Ok(match self.count {
            None => found.first().map_or(Reply::Null, |&offset| int(offset)),
            Some(_) => Reply::Array(found.into_iter().map(int).collect()),
        })
    }
}
