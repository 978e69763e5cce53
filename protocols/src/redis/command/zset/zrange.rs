//! ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
//! ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
//! and the older forms ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
//! ZREVRANGEBYLEX, parsed by one routine as Redis's `zrangeGenericCommand` does.

use bytes::Bytes;

use super::store::{all_entries, apply_limit, entries_reply, put_member, scan_limit, Entry, LexRange, ScoreRange};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{load, save_meta, Atomic, Meta};
use crate::redis::command::{int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, ValueType};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum By {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZRange {
    key: Bytes,
    /// ZRANGESTORE's destination.
    dest: Option<Bytes>,
    by: By,
    reverse: bool,
    offset: i64,
    /// -1: no limit.
    count: i64,
    with_scores: bool,
}

impl ZRange {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let (mut range_type, mut reverse) = match name {
            "zrevrange" => (RangeType::Rank, Some(true)),
            "zrangebyscore" => (RangeType::Score, Some(false)),
            "zrevrangebyscore" => (RangeType::Score, Some(true)),
            "zrangebylex" => (RangeType::Lex, Some(false)),
            "zrevrangebylex" => (RangeType::Lex, Some(true)),
            _ => (RangeType::Auto, None),
        };
        let store = name == "zrangestore";
        let first = if store { 2 } else { 1 };
        let arg = |i: usize| super::super::arg(args, i);
        let key = arg(first)?;
        let (mut min_at, mut max_at) = (first + 1, first + 2);
        let (mut offset, mut count, mut with_scores) = (0, -1, false);
        let mut at = first + 3;
        while let Some(option) = args.get(at) {
            let left = args.len() - at - 1;
            if !store && is_option(option, "withscores") {
                with_scores = true;
            } else if is_option(option, "limit") && left >= 2 {
                offset = int_arg(&arg(at + 1)?)?;
                count = int_arg(&arg(at + 2)?)?;
                at += 2;
            } else if reverse.is_none() && is_option(option, "rev") {
                reverse = Some(true);
            } else if range_type == RangeType::Auto && is_option(option, "bylex") {
                range_type = RangeType::Lex;
            } else if range_type == RangeType::Auto && is_option(option, "byscore") {
                range_type = RangeType::Score;
            } else {
                return Err(RedisError::Syntax);
            }
            at += 1;
        }
        let reverse = reverse.unwrap_or(false);
        if range_type == RangeType::Auto {
            range_type = RangeType::Rank;
        }
        if count != -1 && range_type == RangeType::Rank {
            return Err(RedisError::Custom(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if with_scores && range_type == RangeType::Lex {
            return Err(RedisError::Custom("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
        }
        if reverse && range_type != RangeType::Rank {
            // Reversed score and lex ranges are given as max, min.
            std::mem::swap(&mut min_at, &mut max_at);
        }
        let by = match range_type {
            RangeType::Score => By::Score(ScoreRange::parse(&arg(min_at)?, &arg(max_at)?)?),
            RangeType::Lex => By::Lex(LexRange::parse(&arg(min_at)?, &arg(max_at)?)?),
            _ => By::Rank(int_arg(&arg(min_at)?)?, int_arg(&arg(max_at)?)?),
        };
        let dest = if store { Some(arg(1)?) } else { None };
        Ok(ZRange { key, dest, by, reverse, offset, count, with_scores })
    }
}

/// The members of `meta` selected by `by`, in order.
pub async fn select<K: KvStore>(
    kv: &K,
    meta: &Meta,
    by: &By,
    reverse: bool,
    offset: i64,
    count: i64,
) -> Result<Vec<Entry>, RedisError> {
    Ok(match by {
        By::Rank(start, end) => {
            let Some((start, end)) = rank_span(*start, *end, meta.size) else { return Ok(Vec::new()) };
            let entries = all_entries(kv, meta, end + 1, reverse).await?;
            entries.into_iter().skip(start).collect()
        }
        By::Score(range) => {
            apply_limit(range.entries(kv, meta, scan_limit(offset, count), reverse).await?, offset, count)
        }
        By::Lex(range) => {
            apply_limit(range.entries(kv, meta, scan_limit(offset, count), reverse).await?, offset, count)
        }
    })
}

/// Normalises Redis rank arguments (negative from the end) into an inclusive span, or `None`
/// when it selects nothing.
pub fn rank_span(start: i64, end: i64, size: u64) -> Option<(usize, usize)> {
    let size = size as i64;
    let start = if start < 0 { (start + size).max(0) } else { start };
    let end = if end < 0 { end + size } else { end.min(size - 1) };
    if start > end || start >= size || end < 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

/// Replaces whatever `dest` holds with a sorted set of `entries` (deletes it when empty), as
/// the *STORE commands do. The new set gets a fresh version; the old one's sub-keys become
/// garbage for the collector.
pub async fn store_entries<K: KvStore>(kv: &K, dest: &Bytes, entries: &[Entry]) -> Result<(), RedisError> {
    if entries.is_empty() {
        // Read it so that a concurrent creation conflicts, then drop it.
        let exists = kv.get(vec![kv_key(dest)]).await?.states.first().is_some_and(|s| s.is_live());
        if exists {
            kv.write(Vec::new(), vec![Mutation::Delete { key: kv_key(dest) }]).await?;
        }
        return Ok(());
    }
    let mut meta = Meta::new(ValueType::ZSet, kv.timestamp().await?);
    let mut mutations = Vec::with_capacity(2 * entries.len() + 1);
    for entry in entries {
        put_member(&meta, &entry.member, entry.score, None, &mut mutations);
    }
    meta.size = entries.len() as u64;
    mutations.push(save_meta(dest, &meta, Expiry::Never));
    kv.write(Vec::new(), mutations).await?;
    Ok(())
}

impl ZRange {
    /// ZRANGESTORE's destination.
    pub(super) fn destination(&self) -> Option<&Bytes> {
        self.dest.as_ref()
    }
}

impl Atomic for ZRange {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let entries = match load(kv, &self.key, ValueType::ZSet).await? {
            Some(found) => select(kv, &found.meta, &self.by, self.reverse, self.offset, self.count).await?,
            None => Vec::new(),
        };
        match &self.dest {
            Some(dest) => {
                store_entries(kv, dest, &entries).await?;
                Ok(Reply::Integer(entries.len() as i64))
            }
            None => Ok(entries_reply(entries, self.with_scores)),
        }
    }
}
