//! Keyspace commands: SCAN, KEYS, RANDOMKEY, TOUCH, OBJECT.
//!
//! Every Redis key is one record in `[b"R", b"S")` of the KV space (collections included:
//! their metadata record), in byte order, so walking the keyspace is a range scan. SCAN's
//! cursor is a position in that order ([`cursor`]), which stays meaningful when ranges split.
//! Like DBSIZE, these read the current state of the store even inside MULTI.

mod cursor;
mod object;
mod scan;

use bytes::{BufMut, Bytes, BytesMut};

pub use self::cursor::ScanCursors;
use super::exists::Exists;
use crate::kv::KvStore;
use crate::redis::collection::random::{random_below, random_u64};
use crate::redis::error::RedisError;
use crate::redis::glob;
use crate::redis::keyspace::{keyspace_range, kv_key, KEY_PREFIX};
use crate::redis::session::ServerContext;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Keyspace {
    Scan(scan::Scan),
    Keys(Bytes),
    RandomKey,
    Touch(Exists),
    Object(object::Object),
}

impl Keyspace {
    /// `None` when `name` is not a keyspace command.
    pub fn parse(name: &str, args: &[Bytes]) -> Option<Result<Keyspace, RedisError>> {
        Some(match name {
            "scan" => scan::Scan::parse(args).map(Keyspace::Scan),
            "keys" => super::arg(args, 1).map(Keyspace::Keys),
            "randomkey" => Ok(Keyspace::RandomKey),
            "touch" => Ok(Keyspace::Touch(Exists::parse(args))),
            n if n.starts_with("object|") => object::Object::parse(n, args).map(Keyspace::Object),
            _ => return None,
        })
    }

    /// SCAN, KEYS and RANDOMKEY read the whole keyspace: in a pipeline they wait for
    /// everything sent before them, like FLUSHDB and DBSIZE.
    pub fn is_keyspace_wide(&self) -> bool {
        matches!(self, Keyspace::Scan(_) | Keyspace::Keys(_) | Keyspace::RandomKey)
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        match self {
            Keyspace::Scan(c) => c.apply(kv, &ctx.scan_cursors).await,
            Keyspace::Keys(pattern) => keys(kv, &pattern).await,
            Keyspace::RandomKey => random_key(kv).await,
            Keyspace::Touch(c) => c.apply(kv).await,
            Keyspace::Object(c) => c.apply(kv).await,
        }
    }
}

/// Keys scanned per page by KEYS.
const KEYS_PAGE: usize = 1024;

/// The KV range `[start, end)` holding every Redis key that starts with `prefix`.
pub(crate) fn prefix_range(prefix: &[u8]) -> (Bytes, Bytes) {
    let start = kv_key(prefix);
    let mut end = start.to_vec();
    // The successor of the prefix: bump the last byte that can be bumped.
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return (start, Bytes::from(end));
        }
    }
    (start, keyspace_range().1)
}

/// The smallest KV key after `key`.
pub(crate) fn after(key: &[u8]) -> Bytes {
    let mut next = BytesMut::with_capacity(key.len() + 1);
    next.put_slice(key);
    next.put_u8(0);
    next.freeze()
}

/// The Redis key of a KV key in the keyspace.
pub(crate) fn redis_key(kv_key: &Bytes) -> Bytes {
    debug_assert_eq!(kv_key.first(), Some(&KEY_PREFIX));
    kv_key.slice(1.min(kv_key.len())..)
}

/// KEYS pattern: a streamed scan of the keys that can match (only those starting with the
/// pattern's literal prefix), filtered with Redis's glob.
async fn keys<K: KvStore>(kv: &K, pattern: &[u8]) -> Result<Reply, RedisError> {
    let (mut from, end) = prefix_range(&glob::literal_prefix(pattern));
    let match_all = pattern == b"*";
    let mut out = Vec::new();
    loop {
        let page = kv.scan(from.clone(), end.clone(), KEYS_PAGE).await?;
        for scanned in &page {
            let key = redis_key(&scanned.key);
            if match_all || glob::matches(pattern, &key, false) {
                out.push(Reply::Bulk(key));
            }
        }
        match page.last() {
            Some(last) if page.len() == KEYS_PAGE => from = after(&last.key),
            _ => return Ok(Reply::Array(out)),
        }
    }
}

/// How many consecutive keys RANDOMKEY chooses among.
const RANDOM_WINDOW: usize = 64;

/// RANDOMKEY: a random point of the key order, then a uniform choice among the
/// [`RANDOM_WINDOW`] keys at or after it (wrapping to the first key). Two range reads at
/// most, never a full scan. A keyspace of at most that many keys is sampled uniformly; in a
/// larger one, keys after large gaps in the key order come up somewhat more often than others
/// (the window spreads a gap's weight over the keys that follow it).
async fn random_key<K: KvStore>(kv: &K) -> Result<Reply, RedisError> {
    let (start, end) = keyspace_range();
    let mut probe = BytesMut::with_capacity(9);
    probe.put_u8(KEY_PREFIX);
    probe.put_u64(random_u64());
    let probe = probe.freeze();
    let mut window = kv.scan(probe.clone(), end, RANDOM_WINDOW).await?;
    if window.len() < RANDOM_WINDOW {
        window.extend(kv.scan(start, probe, RANDOM_WINDOW - window.len()).await?);
    }
    if window.is_empty() {
        return Ok(Reply::Null);
    }
    let pick = random_below(window.len() as u64) as usize;
    Ok(window.get(pick).map_or(Reply::Null, |found| Reply::Bulk(redis_key(&found.key))))
}

#[cfg(test)]
mod tests;
