//! How a sorted set sits in its sub-keys, and the argument parsing every sorted-set command
//! shares (scores, score ranges, lex ranges).
//!
//! Each member has two sub-keys, always written and removed together:
//!
//! ```text
//! r<version>m<member>               → encode_score(score)   (member lookups: ZSCORE, ZADD)
//! r<version>s<encode_score(score)><member> → empty          (the score index: ranges, ranks)
//! ```
//!
//! The index sorts by score, then by member bytes, exactly Redis's order. Ranks are found by
//! counting index entries (O(N) in the rank; there is no order-statistics tree).

use bytes::{BufMut, Bytes, BytesMut};

use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{decode_score, encode_score, scan_sub, sub_key, sub_key_rest, Meta, SubKind};
use crate::redis::error::RedisError;
use crate::resp::Reply;

/// One member with its score.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub member: Bytes,
    pub score: f64,
}

/// The score index key of `member` at `score`.
pub fn index_key(meta: &Meta, member: &[u8], score: f64) -> Bytes {
    let mut rest = BytesMut::with_capacity(8 + member.len());
    rest.put_slice(&encode_score(score));
    rest.put_slice(member);
    meta.sub_key(SubKind::Score, &rest)
}

fn decode_entry(key: &Bytes) -> Option<Entry> {
    let rest = sub_key_rest(key);
    let score = decode_score(&rest)?;
    Some(Entry { member: rest.slice(8..), score })
}

/// The current score of each of `members` (`None`: not a member).
pub async fn scores_of<K: KvStore>(kv: &K, meta: &Meta, members: &[Bytes]) -> Result<Vec<Option<f64>>, RedisError> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let keys = members.iter().map(|m| meta.sub_key(SubKind::Member, m)).collect();
    let read = kv.get(keys).await?;
    Ok(read.states.into_iter().map(|s| s.value.and_then(|v| decode_score(&v))).collect())
}

/// Buffers the mutations that set `member`'s score (moving its index entry from `old`).
pub fn put_member(meta: &Meta, member: &Bytes, score: f64, old: Option<f64>, out: &mut Vec<Mutation>) {
    if let Some(old) = old {
        out.push(Mutation::Delete { key: index_key(meta, member, old) });
    }
    let value = Bytes::copy_from_slice(&encode_score(score));
    out.push(Mutation::Put { key: meta.sub_key(SubKind::Member, member), value, expiry: Expiry::Never });
    out.push(Mutation::Put { key: index_key(meta, member, score), value: Bytes::new(), expiry: Expiry::Never });
}

/// Buffers the mutations that remove `member` (currently at `score`).
pub fn remove_member(meta: &Meta, member: &Bytes, score: f64, out: &mut Vec<Mutation>) {
    out.push(Mutation::Delete { key: meta.sub_key(SubKind::Member, member) });
    out.push(Mutation::Delete { key: index_key(meta, member, score) });
}

/// Index entries whose encoded score+member lies in `[start, end)` (sub-key rests), in score
/// order or reversed, at most `limit`.
pub async fn scan_index<K: KvStore>(
    kv: &K,
    meta: &Meta,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    limit: usize,
    reverse: bool,
) -> Result<Vec<Entry>, RedisError> {
    let (all_start, all_end) = meta.sub_range(SubKind::Score);
    let start = start.map_or(all_start, |rest| sub_key(meta.version, SubKind::Score, rest));
    let end = end.map_or(all_end, |rest| sub_key(meta.version, SubKind::Score, rest));
    if start >= end || limit == 0 {
        return Ok(Vec::new());
    }
    let found = scan_sub(kv, start, end, limit, reverse).await?;
    Ok(found.iter().filter_map(|(key, _)| decode_entry(key)).collect())
}

/// Every member in score order (or reversed), at most `limit`.
pub async fn all_entries<K: KvStore>(
    kv: &K,
    meta: &Meta,
    limit: usize,
    reverse: bool,
) -> Result<Vec<Entry>, RedisError> {
    scan_index(kv, meta, None, None, limit, reverse).await
}

/// Parses a score like Redis's `getDoubleFromObject`: C `strtod` over the whole argument, no
/// leading space, no NaN, no overflow, no underflow to zero (a subnormal result is kept,
/// although `strtod` reports ERANGE for it too).
pub fn parse_score(arg: &[u8]) -> Result<f64, RedisError> {
    if arg.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return Err(RedisError::NotFloat);
    }
    match strtod(arg) {
        Some((value, out_of_range)) if !value.is_nan() && !(out_of_range && (value.is_infinite() || value == 0.0)) => {
            Ok(value)
        }
        _ => Err(RedisError::NotFloat),
    }
}

/// C `strtod` demanding that it consume the whole text: the value and whether it was out of
/// range (ERANGE). Leading whitespace is skipped, as `strtod` does. `None`: not a number.
fn strtod(text: &[u8]) -> Option<(f64, bool)> {
    let text = std::str::from_utf8(text).ok()?.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return None;
    }
    let (negative, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let value = if lower == "inf" || lower == "infinity" {
        return Some((if negative { f64::NEG_INFINITY } else { f64::INFINITY }, false));
    } else if lower == "nan" {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex)?
    } else {
        // Rust accepts exactly the decimal forms strtod does (digits, '.', exponent), and
        // also words that are handled above.
        if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    let has_nonzero_digit = body
        .bytes()
        .take_while(|b| !matches!(b, b'e' | b'E' | b'p' | b'P'))
        .any(|b| b.is_ascii_hexdigit() && b != b'0' && !(lower.starts_with("0x") && b == b'x'));
    let out_of_range = value.is_infinite() || (value.abs() < f64::MIN_POSITIVE && has_nonzero_digit);
    Some((if negative { -value } else { value }, out_of_range))
}

/// `strtod`'s hexadecimal form after `0x`: hex digits with an optional point, then an optional
/// binary exponent `p[+-]digits`.
fn parse_hex_float(hex: &str) -> Option<f64> {
    let (digits, exponent) = match hex.split_once('p') {
        Some((digits, exp)) => (digits, exp.parse::<i32>().ok()?),
        None => (hex, 0),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let shift = exponent.saturating_sub(4 * frac_part.len() as i32);
    Some(value * 2f64.powi(shift))
}

/// A score range bound as ZRANGEBYSCORE takes it (`1.5`, `(1.5`, `-inf`, `+inf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// Redis's `zslParseRange`; `ERR min or max is not a float` on failure.
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, RedisError> {
        let bound = |arg: &[u8]| -> Option<(f64, bool)> {
            let (text, exclusive) = match arg.split_first() {
                Some((b'(', rest)) => (rest, true),
                _ => (arg, false),
            };
            // strtod of an empty string is 0 with nothing left over, which Redis accepts.
            let value = if text.is_empty() { 0.0 } else { strtod(text)?.0 };
            (!value.is_nan()).then_some((value, exclusive))
        };
        let err = || RedisError::Custom("ERR min or max is not a float");
        let (min, min_exclusive) = bound(min).ok_or_else(err)?;
        let (max, max_exclusive) = bound(max).ok_or_else(err)?;
        Ok(ScoreRange { min, max, min_exclusive, max_exclusive })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }

    #[cfg(test)]
    pub fn contains(&self, score: f64) -> bool {
        let above = if self.min_exclusive { score > self.min } else { score >= self.min };
        let below = if self.max_exclusive { score < self.max } else { score <= self.max };
        above && below
    }

    /// The index sub-key rests `[start, end)` covering this range.
    fn index_bounds(&self) -> (Option<[u8; 8]>, Option<[u8; 8]>) {
        let encoded = |score: f64| u64::from_be_bytes(encode_score(score));
        let start = if self.min_exclusive { encoded(self.min).checked_add(1) } else { Some(encoded(self.min)) };
        let end = if self.max_exclusive { Some(encoded(self.max)) } else { encoded(self.max).checked_add(1) };
        (start.map(u64::to_be_bytes), end.map(u64::to_be_bytes))
    }

    /// Members in this range in score order (or reversed), at most `limit`.
    pub async fn entries<K: KvStore>(
        &self,
        kv: &K,
        meta: &Meta,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<Entry>, RedisError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let (start, end) = self.index_bounds();
        let Some(start) = start else { return Ok(Vec::new()) };
        scan_index(kv, meta, Some(&start), end.as_ref().map(|e| &e[..]), limit, reverse).await
    }
}

/// One end of a lex range.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

/// A lex range as ZRANGEBYLEX takes it (`[a`, `(a`, `-`, `+`).
#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// Redis's `zslParseLexRange`; `ERR min or max not valid string range item` on failure.
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, RedisError> {
        let bound = |arg: &Bytes| -> Option<LexBound> {
            match arg.first()? {
                b'+' if arg.len() == 1 => Some(LexBound::Max),
                b'-' if arg.len() == 1 => Some(LexBound::Min),
                b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
                b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
                _ => None,
            }
        };
        let err = || RedisError::Custom("ERR min or max not valid string range item");
        Ok(LexRange { min: bound(min).ok_or_else(err)?, max: bound(max).ok_or_else(err)? })
    }

    fn above_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(m) => member >= &m[..],
            LexBound::Exclusive(m) => member > &m[..],
        }
    }

    fn below_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Max => true,
            LexBound::Min => false,
            LexBound::Inclusive(m) => member <= &m[..],
            LexBound::Exclusive(m) => member < &m[..],
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.above_min(member) && self.below_max(member)
    }

    /// Redis's `zslIsInLexRange` emptiness test.
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (Max, _) | (_, Min) => true,
            (Min, _) | (_, Max) => false,
            (Inclusive(a), Inclusive(b)) => a > b,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => a >= b,
        }
    }

    /// Members in this range in index order (or reversed), at most `limit`. Like Redis, this
    /// assumes every member has the same score: then the range is one contiguous run of the
    /// index, sought directly. With mixed scores it walks the index and returns the first
    /// contiguous run of members inside the range, as Redis's skiplist walk does.
    pub async fn entries<K: KvStore>(
        &self,
        kv: &K,
        meta: &Meta,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<Entry>, RedisError> {
        if self.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let first = all_entries(kv, meta, 1, false).await?;
        let last = all_entries(kv, meta, 1, true).await?;
        let (Some(first), Some(last)) = (first.first(), last.first()) else { return Ok(Vec::new()) };
        if first.score == last.score {
            let score = encode_score(first.score);
            let with = |member: &[u8], after: bool| {
                let mut rest = score.to_vec();
                rest.extend_from_slice(member);
                if after {
                    rest.push(0);
                }
                rest
            };
            let start = match &self.min {
                LexBound::Inclusive(m) => with(m, false),
                LexBound::Exclusive(m) => with(m, true),
                _ => score.to_vec(),
            };
            let end = match &self.max {
                LexBound::Inclusive(m) => Some(with(m, true)),
                LexBound::Exclusive(m) => Some(with(m, false)),
                _ => None,
            };
            return scan_index(kv, meta, Some(&start), end.as_deref(), limit, reverse).await;
        }
        let all = all_entries(kv, meta, usize::MAX, reverse).await?;
        Ok(all
            .into_iter()
            .skip_while(|e| !self.contains(&e.member))
            .take_while(|e| self.contains(&e.member))
            .take(limit)
            .collect())
    }
}

/// `LIMIT offset count` applied to a range result, as Redis does: a negative offset gives
/// nothing, a negative count means all.
pub fn apply_limit(entries: Vec<Entry>, offset: i64, count: i64) -> Vec<Entry> {
    if offset < 0 {
        return Vec::new();
    }
    let take = if count < 0 { usize::MAX } else { count as usize };
    entries.into_iter().skip(offset as usize).take(take).collect()
}

/// How many entries a range scan needs for `LIMIT offset count`.
pub fn scan_limit(offset: i64, count: i64) -> usize {
    if offset < 0 {
        0
    } else if count < 0 {
        usize::MAX
    } else {
        (offset as usize).saturating_add(count as usize)
    }
}

/// Members and scores: pairs with WITHSCORES (nested in RESP3, flat in RESP2), else members.
pub fn entries_reply(entries: Vec<Entry>, with_scores: bool) -> Reply {
    if with_scores {
        Reply::Pairs(entries.into_iter().map(|e| (Reply::Bulk(e.member), Reply::Double(e.score))).collect())
    } else {
        Reply::Array(entries.into_iter().map(|e| Reply::Bulk(e.member)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(parse_score(b"1.5"), Ok(1.5));
        assert_eq!(parse_score(b"-inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Ok(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Ok(16.0));
        assert_eq!(parse_score(b"1e3"), Ok(1000.0));
        assert_eq!(parse_score(b".5"), Ok(0.5));
        // Subnormal: strtod says ERANGE, Redis keeps the value.
        // 20 times the smallest subnormal.
        assert_eq!(parse_score(b"9.8813129168249309e-323"), Ok(f64::from_bits(20)));
        for bad in [&b"nan"[..], b"", b" 1", b"1 ", b"abc", b"1e400", b"1e-400", b"1e", b"--1"] {
            assert_eq!(parse_score(bad), Err(RedisError::NotFloat), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn score_ranges_parse_and_bound_the_index() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.min_exclusive && !r.max_exclusive && r.max == f64::INFINITY);
        assert!(!r.contains(1.0) && r.contains(1.5));
        assert!(ScoreRange::parse(b"(1", b"(1").unwrap().is_empty());
        assert!(ScoreRange::parse(b"x", b"1").is_err());
        assert!(ScoreRange::parse(b"(nan", b"1").is_err());
        assert_eq!(ScoreRange::parse(b"1e400", b"").unwrap().min, f64::INFINITY);
    }

    #[test]
    fn lex_ranges_parse_like_redis() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert!(LexRange::parse(&b("a"), &b("+")).is_err());
        assert!(LexRange::parse(&b("-x"), &b("+")).is_err());
        assert!(LexRange::parse(&b("+"), &b("-")).unwrap().is_empty());
        assert!(LexRange::parse(&b("(a"), &b("[a")).unwrap().is_empty());
        assert!(!LexRange::parse(&b("[a"), &b("[a")).unwrap().is_empty());
        assert!(LexRange::parse(&b("[a"), &b("(b")).unwrap().contains(b"ab"));
    }
}
