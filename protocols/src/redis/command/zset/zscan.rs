//! ZSCAN key cursor [MATCH pattern] [COUNT count]
//!
//! Members come in score order (the index order). The cursor is the number of members
//! already returned. Sets of at most
//! 128 members answer in one call with cursor 0, as Redis does for its compact encoding.
//! Members added or removed between calls may shift the cursor, so a member present
//! throughout can be returned twice or skipped after concurrent removals; Redis guarantees
//! no skips, so this is weaker (documented in docs/redis.md).

use bytes::Bytes;

use super::store::all_entries;
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic};
use crate::redis::command::{int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::{format_double, Reply};

/// Redis's compact-encoding limit (`zset-max-listpack-entries`).
const ONE_SHOT_SIZE: u64 = 128;

#[derive(Clone, Debug, PartialEq)]
pub struct ZScan {
    key: Bytes,
    cursor: u64,
    pattern: Option<Bytes>,
    count: usize,
}

impl ZScan {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        let cursor = std::str::from_utf8(&super::super::arg(args, 2)?)
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or(RedisError::Custom("ERR invalid cursor"))?;
        let (mut pattern, mut count) = (None, 10usize);
        let mut at = 3;
        while let Some(option) = args.get(at) {
            let value = args.get(at + 1).ok_or(RedisError::Syntax)?;
            if is_option(option, "count") {
                let n = int_arg(value)?;
                if n < 1 {
                    return Err(RedisError::Syntax);
                }
                count = n as usize;
            } else if is_option(option, "match") {
                pattern = Some(value.clone());
            } else {
                return Err(RedisError::Syntax);
            }
            at += 2;
        }
        Ok(ZScan { key, cursor, pattern, count })
    }
}

impl Atomic for ZScan {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let reply = |cursor: u64, items: Vec<Reply>| {
            Reply::Array(vec![Reply::Bulk(Bytes::from(cursor.to_string())), Reply::Array(items)])
        };
        let Some(found) = load(kv, &self.key, ValueType::ZSet).await? else { return Ok(reply(0, Vec::new())) };
        let meta = found.meta;
        let (skip, take) =
            if meta.size <= ONE_SHOT_SIZE { (0, usize::MAX) } else { (self.cursor as usize, self.count) };
        let members = all_entries(kv, &meta, skip.saturating_add(take), false).await?;
        let returned = members.len();
        let next = if meta.size <= ONE_SHOT_SIZE || returned < skip.saturating_add(take) { 0 } else { returned as u64 };
        let mut items = Vec::new();
        for entry in members.into_iter().skip(skip) {
            if self.pattern.as_ref().is_some_and(|p| !glob_match(p, &entry.member)) {
                continue;
            }
            items.push(Reply::Bulk(entry.member));
            items.push(Reply::Bulk(Bytes::from(score_text(entry.score))));
        }
        Ok(reply(next, items))
    }
}

/// A score as Redis 7.0's `d2string` writes it (ZSCAN returns the stored text): integers
/// within ±2^62 without a fraction or exponent, anything else `%.17g`.
fn score_text(score: f64) -> String {
    const INTEGER_LIMIT: f64 = (i64::MAX / 2) as f64;
    if score.fract() == 0.0 && (-INTEGER_LIMIT..=INTEGER_LIMIT).contains(&score) {
        (score as i64).to_string()
    } else {
        format_double(score)
    }
}

/// Redis's `stringmatchlen` glob: `*`, `?`, `[...]` (with `^` negation and `a-z` ranges) and
/// `\` escapes, case-sensitive.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            let rest = {
                let stars = rest.iter().take_while(|&&b| b == b'*').count();
                &rest[stars..]
            };
            if rest.is_empty() {
                return true;
            }
            (0..=text.len()).any(|i| glob_match(rest, &text[i..]))
        }
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else { return false };
            let (negate, mut body) = match rest.split_first() {
                Some((b'^', body)) => (true, body),
                _ => (false, rest),
            };
            let mut matched = false;
            loop {
                match body {
                    [] => break,
                    [b']', tail @ ..] => {
                        body = tail;
                        break;
                    }
                    [b'\\', escaped, tail @ ..] => {
                        matched |= *escaped == c;
                        body = tail;
                    }
                    [lo, b'-', hi, tail @ ..] if *hi != b']' => {
                        let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                        matched |= (lo..=hi).contains(&c);
                        body = tail;
                    }
                    [x, tail @ ..] => {
                        matched |= *x == c;
                        body = tail;
                    }
                }
            }
            matched != negate && glob_match(body, text_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => text.first() == rest.first() && glob_match(&rest[1..], &text[1..]),
        Some((&p, rest)) => text.first() == Some(&p) && glob_match(rest, &text[1..]),
    }
}
