//! HSCAN / SSCAN (and ZSCAN) cursors.
//!
//! A scan walks a collection's sub-keys in key order. Between calls the only state is *where
//! to resume*: the next member not yet returned. Resuming there on a later snapshot returns
//! every member at or after it that exists then, and every member before it that was present
//! since the iteration began was returned by an earlier call, so Redis's guarantee holds
//! (every element present for the whole iteration is returned at least once) however the
//! collection changes meanwhile; unlike Redis, an element is never returned twice by one
//! uninterrupted iteration.
//!
//! Redis cursors are unsigned 64-bit decimal strings and some clients parse them as integers,
//! so the resume member is turned into a number below 2^63:
//! - a member of at most 7 bytes is encoded in the cursor itself (top byte = length + 1, then
//!   the bytes): such cursors work on any gateway and never expire;
//! - a longer member is kept in a bounded, process-wide table under a random id (top byte
//!   0x10..=0x7F). The table forgets its oldest entries beyond [`MAX_CURSORS`] or
//!   [`MAX_CURSOR_BYTES`].
//!
//! A cursor the gateway does not know (forgotten, made up, or issued by another gateway)
//! restarts the iteration from the beginning: that can only return elements again, never
//! skip one, so the guarantee still holds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

use super::random::random_u64;
use super::{scan_sub, sub_key_rest, Meta, SubKind};
use crate::kv::KvStore;
use crate::redis::command::{int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::glob;
use crate::resp::Reply;

/// Most cursors remembered at once.
pub const MAX_CURSORS: usize = 65_536;
/// Most bytes of resume members remembered at once.
pub const MAX_CURSOR_BYTES: usize = 64 << 20;
/// Members up to this long travel inside the cursor.
const INLINE_MAX: usize = 7;
/// Table ids have a top byte in this range; inline cursors use 1..=8.
const TABLE_TOP_MIN: u64 = 0x10;
const TABLE_TOP_MAX: u64 = 0x7F;

#[derive(Default)]
struct Table {
    members: HashMap<u64, Bytes>,
    order: VecDeque<u64>,
    bytes: usize,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(Table::default()))
}

/// Parses a cursor argument like Redis's `strtoul` check: decimal, no leading space, no
/// trailing bytes, no overflow (`-N` wraps, as in C).
pub fn parse_cursor(arg: &[u8]) -> Result<u64, RedisError> {
    let invalid = || RedisError::InvalidCursor;
    let (negative, digits) = match arg.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, arg),
    };
    if arg.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return Err(invalid());
    }
    if digits.is_empty() {
        // strtoul consumed nothing: the cursor is 0 only when the argument was empty.
        return if arg.is_empty() { Ok(0) } else { Err(invalid()) };
    }
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return Err(invalid());
        }
        value = value.checked_mul(10).and_then(|v| v.checked_add(u64::from(byte - b'0'))).ok_or_else(invalid)?;
    }
    Ok(if negative { value.wrapping_neg() } else { value })
}

/// The member a cursor resumes at (`None`: from the beginning).
pub fn resume_member(cursor: u64) -> Option<Bytes> {
    let top = cursor >> 56;
    if (1..=INLINE_MAX as u64 + 1).contains(&top) {
        let len = (top - 1) as usize;
        let bytes = cursor.to_be_bytes();
        return Some(Bytes::copy_from_slice(&bytes[1..1 + len]));
    }
    let table = table().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    table.members.get(&cursor).cloned()
}

/// A cursor that resumes at `member`.
pub fn cursor_for(member: &Bytes) -> u64 {
    if member.len() <= INLINE_MAX {
        let mut bytes = [0u8; 8];
        bytes[0] = member.len() as u8 + 1;
        bytes[1..1 + member.len()].copy_from_slice(member);
        return u64::from_be_bytes(bytes);
    }
    let mut table = table().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let id = loop {
        let top = TABLE_TOP_MIN + random_u64() % (TABLE_TOP_MAX - TABLE_TOP_MIN + 1);
        let id = (top << 56) | (random_u64() >> 8);
        if !table.members.contains_key(&id) {
            break id;
        }
    };
    table.bytes += member.len();
    table.members.insert(id, member.clone());
    table.order.push_back(id);
    while table.order.len() > MAX_CURSORS || table.bytes > MAX_CURSOR_BYTES {
        let Some(oldest) = table.order.pop_front() else { break };
        if let Some(gone) = table.members.remove(&oldest) {
            table.bytes -= gone.len();
        }
    }
    id
}

/// The MATCH and COUNT options of a collection scan.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanOptions {
    pub pattern: Option<Bytes>,
    pub count: usize,
}

impl ScanOptions {
    /// Parses the options after `KEY CURSOR` like Redis's `scanGenericCommand`.
    pub fn parse(options: &[Bytes]) -> Result<ScanOptions, RedisError> {
        let mut parsed = ScanOptions { pattern: None, count: 10 };
        let mut i = 0;
        while i < options.len() {
            let has_value = i + 1 < options.len();
            if is_option(&options[i], "count") && has_value {
                let count = int_arg(&options[i + 1])?;
                if count < 1 {
                    return Err(RedisError::Syntax);
                }
                parsed.count = usize::try_from(count).unwrap_or(usize::MAX);
            } else if is_option(&options[i], "match") && has_value {
                let pattern = options[i + 1].clone();
                // "*" matches everything: Redis skips matching for it.
                parsed.pattern = (&pattern[..] != b"*").then_some(pattern);
            } else {
                return Err(RedisError::Syntax);
            }
            i += 2;
        }
        Ok(parsed)
    }
}

/// One page of a scan over `kind` sub-keys: the entries (member, value) matching the pattern
/// among the next `count` from the cursor, and the cursor to continue with (0 when done).
pub async fn scan_page<K: KvStore>(
    kv: &K,
    meta: &Meta,
    kind: SubKind,
    cursor: u64,
    options: &ScanOptions,
) -> Result<(u64, Vec<(Bytes, Bytes)>), RedisError> {
    let (range_start, end) = meta.sub_range(kind);
    let start = match cursor {
        0 => range_start,
        cursor => resume_member(cursor).map_or(range_start, |member| meta.sub_key(kind, &member)),
    };
    // One extra entry tells where the next page starts, so the last page answers cursor 0.
    let mut page = scan_sub(kv, start, end, options.count.saturating_add(1), false).await?;
    let next = if page.len() > options.count {
        page.truncate(options.count + 1);
        page.pop().map_or(0, |(key, _)| cursor_for(&sub_key_rest(&key)))
    } else {
        0
    };
    let entries = page
        .into_iter()
        .map(|(key, value)| (sub_key_rest(&key), value))
        .filter(|(member, _)| options.pattern.as_ref().is_none_or(|pattern| glob::matches(pattern, member, false)))
        .collect();
    Ok((next, entries))
}

/// The reply of a collection scan: `[cursor, [items...]]`, an array in both protocols.
pub fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk(Bytes::from(cursor.to_string())), Reply::Array(items)])
}

/// The empty scan reply for a missing key.
pub fn empty_scan_reply() -> Reply {
    scan_reply(0, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b"1x"), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b" 1"), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b"-"), Err(RedisError::InvalidCursor));
    }

    #[test]
    fn cursors_round_trip_inline_and_through_the_table() {
        for member in [&b""[..], b"a", b"1234567", b"12345678", b"a much longer member name"] {
            let member = Bytes::copy_from_slice(member);
            let cursor = cursor_for(&member);
            assert_ne!(cursor, 0);
            assert!(cursor < 1 << 63, "cursors fit an i64 for clients that parse them so");
            assert_eq!(resume_member(cursor), Some(member));
        }
        assert_eq!(resume_member(0x7F00_0000_0000_0001), None, "unknown cursors restart");
    }
}
