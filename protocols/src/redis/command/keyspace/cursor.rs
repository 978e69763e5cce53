//! SCAN cursors: a position in the key order, so a cursor stays valid when ranges split or
//! merge between calls (a range id would not).
//!
//! A Redis cursor is an unsigned 64-bit decimal and 0 means "start" / "done". The position
//! to resume from is the last Redis key examined (the next call starts right after it):
//!
//! - A key of at most 7 bytes is encoded in the cursor itself: bit 63 set, the length in
//!   bits 56..59, the bytes left-aligned in bits 0..56. Such cursors work on any gateway and
//!   never expire.
//! - A longer key is kept in this gateway's cursor table under a random 63-bit id (bit 63
//!   clear), for [`CURSOR_IDLE`] after its last use and at most [`MAX_CURSORS`] at once
//!   (the least recently used is dropped first). An id this gateway does not know (another
//!   gateway issued it, the gateway restarted, it expired) answers `-ERR invalid cursor`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::redis::collection::random::random_u64;
use crate::redis::error::RedisError;

const INLINE_FLAG: u64 = 1 << 63;
const INLINE_MAX: usize = 7;
/// A stored cursor unused for this long is forgotten.
pub const CURSOR_IDLE: Duration = Duration::from_secs(3600);
/// Stored cursors kept per gateway.
pub const MAX_CURSORS: usize = 100_000;

/// The per-gateway table of cursors whose resume key is too long to encode inline.
#[derive(Debug, Default)]
pub struct ScanCursors {
    entries: Mutex<HashMap<u64, Stored>>,
}

#[derive(Debug)]
struct Stored {
    /// The last Redis key examined (without the KV prefix).
    after: Bytes,
    used: Instant,
}

impl ScanCursors {
    /// The cursor that resumes after Redis key `after`.
    pub fn issue(&self, after: Bytes) -> u64 {
        if after.len() <= INLINE_MAX {
            let mut word = INLINE_FLAG | (after.len() as u64) << 56;
            for (i, byte) in after.iter().enumerate() {
                word |= u64::from(*byte) << (48 - 8 * i);
            }
            return word;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        // Pruning is O(table) and only needed when the table is full.
        if entries.len() >= MAX_CURSORS {
            entries.retain(|_, stored| now.duration_since(stored.used) < CURSOR_IDLE);
        }
        if entries.len() >= MAX_CURSORS {
            if let Some(oldest) = entries.iter().min_by_key(|(_, stored)| stored.used).map(|(id, _)| *id) {
                entries.remove(&oldest);
            }
        }
        loop {
            let id = random_u64() & !INLINE_FLAG;
            if id != 0 && !entries.contains_key(&id) {
                entries.insert(id, Stored { after, used: now });
                return id;
            }
        }
    }

    /// Where `cursor` resumes: `None` for the start of the keyspace, else the Redis key to
    /// continue after. A stored cursor is consumed (each call issues the next one).
    pub fn resolve(&self, cursor: u64) -> Result<Option<Bytes>, RedisError> {
        if cursor == 0 {
            return Ok(None);
        }
        if cursor & INLINE_FLAG != 0 {
            let len = ((cursor >> 56) & 0x7f) as usize;
            if len > INLINE_MAX || cursor & ((1u64 << (56 - 8 * len)) - 1) != 0 {
                return Err(RedisError::InvalidCursor);
            }
            let key: Vec<u8> = (0..len).map(|i| (cursor >> (48 - 8 * i)) as u8).collect();
            return Ok(Some(Bytes::from(key)));
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match entries.get_mut(&cursor) {
            Some(stored) if stored.used.elapsed() < CURSOR_IDLE => {
                // Kept (not removed) so a client retrying the same call after a lost reply
                // can resume; idle expiry and the size cap bound the table.
                stored.used = Instant::now();
                Ok(Some(stored.after.clone()))
            }
            _ => Err(RedisError::InvalidCursor),
        }
    }
}

/// Parses a cursor argument like Redis's `parseScanCursorOrReply` (a decimal u64).
pub fn parse_cursor(arg: &[u8]) -> Result<u64, RedisError> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or(RedisError::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_round_trip_inline_and_long_ones_through_the_table() {
        let cursors = ScanCursors::default();
        for key in [&b""[..], b"a", b"abc", b"\xff\x00\xff", b"1234567"] {
            let cursor = cursors.issue(Bytes::copy_from_slice(key));
            assert_ne!(cursor, 0);
            assert!(cursor & INLINE_FLAG != 0);
            assert_eq!(cursors.resolve(cursor), Ok(Some(Bytes::copy_from_slice(key))), "{key:?}");
        }
        let long = Bytes::from_static(b"a key longer than seven bytes");
        let cursor = cursors.issue(long.clone());
        assert_eq!(cursor & INLINE_FLAG, 0);
        assert_eq!(cursors.resolve(cursor), Ok(Some(long)));
        assert_eq!(cursors.resolve(0), Ok(None));
        let other = ScanCursors::default();
        assert_eq!(other.resolve(cursor), Err(RedisError::InvalidCursor), "another gateway's id is unknown");
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let cursors = ScanCursors::default();
        assert_eq!(cursors.resolve(INLINE_FLAG | 9 << 56), Err(RedisError::InvalidCursor));
        assert_eq!(cursors.resolve(INLINE_FLAG | 1 << 56 | 1), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b"12"), Ok(12));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b"-1"), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b" 1"), Err(RedisError::InvalidCursor));
        assert_eq!(parse_cursor(b""), Err(RedisError::InvalidCursor));
    }
}
