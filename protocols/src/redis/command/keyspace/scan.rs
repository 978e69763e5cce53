//! SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
//!
//! Each call examines up to COUNT keys (default 10) from the cursor's position in key order
//! and answers those that pass MATCH and TYPE, plus the cursor to continue from (0 once the
//! end is reached). With a MATCH pattern that starts with literal bytes, only the slice of the
//! key order holding keys with that prefix is walked. A key present for the whole iteration
//! is returned at least once whatever splits or merges happen meanwhile, because the cursor
//! names a key, not a range.

use bytes::Bytes;

use super::cursor::{parse_cursor, ScanCursors};
use super::{after, prefix_range, redis_key};
use crate::kv::KvStore;
use crate::redis::command::{arg, int_arg, is_option};
use crate::redis::error::RedisError;
use crate::redis::glob;
use crate::redis::keyspace::{kv_key, value_type};
use crate::resp::Reply;

const DEFAULT_COUNT: usize = 10;
/// Keys examined per call at most, whatever COUNT says: bounds one reply's work.
const MAX_COUNT: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    cursor: u64,
    pattern: Option<Bytes>,
    count: usize,
    type_name: Option<Bytes>,
}

impl Scan {
    /// Options as Redis's `scanGenericCommand` checks them, left to right.
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let cursor = parse_cursor(&arg(args, 1)?)?;
        let mut scan = Scan { cursor, pattern: None, count: DEFAULT_COUNT, type_name: None };
        let mut i = 2;
        while let Some(option) = args.get(i) {
            let value = args.get(i + 1);
            match value {
                Some(count) if is_option(option, "count") => {
                    let count = int_arg(count)?;
                    if count < 1 {
                        return Err(RedisError::Syntax);
                    }
                    scan.count = usize::try_from(count).unwrap_or(usize::MAX).min(MAX_COUNT);
                }
                Some(pattern) if is_option(option, "match") => scan.pattern = Some(pattern.clone()),
                Some(type_name) if is_option(option, "type") => scan.type_name = Some(type_name.clone()),
                _ => return Err(RedisError::Syntax),
            }
            i += 2;
        }
        Ok(scan)
    }

    pub async fn apply<K: KvStore>(self, kv: &K, cursors: &ScanCursors) -> Result<Reply, RedisError> {
        let pattern = self.pattern.as_deref().filter(|p| *p != b"*");
        let (range_start, end) = prefix_range(&pattern.map(glob::literal_prefix).unwrap_or_default());
        let start = match cursors.resolve(self.cursor)? {
            None => range_start,
            Some(last) => after(&kv_key(&last)).max(range_start),
        };
        let page = if start < end { kv.scan(start, end, self.count).await? } else { Vec::new() };
        let mut keys = Vec::new();
        for scanned in &page {
            let key = redis_key(&scanned.key);
            if pattern.is_some_and(|pattern| !glob::matches(pattern, &key, false)) {
                continue;
            }
            if let (Some(wanted), Some(raw)) = (&self.type_name, &scanned.state.value) {
                if !value_type(raw)?.name().as_bytes().eq_ignore_ascii_case(wanted) {
                    continue;
                }
            }
            keys.push(Reply::Bulk(key));
        }
        let next = match page.last() {
            Some(last) if page.len() == self.count => cursors.issue(redis_key(&last.key)),
            _ => 0,
        };
        Ok(Reply::Array(vec![Reply::Bulk(Bytes::from(next.to_string())), Reply::Array(keys)]))
    }
}
