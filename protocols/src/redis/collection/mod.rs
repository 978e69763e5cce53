//! Redis collections (hash, list, set, sorted set) over the flat KV, in the Kvrocks layout.
//!
//! # Layout
//!
//! A collection is one *metadata record* at the Redis key's KV key (`b"R" + key`, the same
//! place a string lives, so TYPE, EXISTS, DEL, EXPIRE, PERSIST, RENAME and DBSIZE work on it
//! unchanged) plus one *sub-key* per field, member or element:
//!
//! ```text
//! R<key>                         → [type tag][version: u64 BE][size: u64 BE]            (+ list: [head][tail])
//! r<version: u64 BE><kind><rest> → the field's value / member's score / list element
//! ```
//!
//! - The metadata's KV expiry is the collection's expiry, so EXPIRE is O(1).
//! - `version` is a fresh oracle timestamp taken when the collection is created, unique across
//!   the cluster. Sub-keys carry only the version, not the Redis key: DEL and expiry drop the
//!   metadata record alone (O(1)); RENAME moves it and the sub-keys follow for free. Sub-keys
//!   whose version no live metadata record names are garbage, removed in the background by
//!   [`gc`].
//! - Every change to a collection rewrites its metadata record (the size, at least), so a
//!   reader that read the metadata in a transaction conflicts with any concurrent change to
//!   the collection: that is what makes scans over sub-keys safe without tracking each one.
//! - Sub-keys of one collection are contiguous, so a large collection splits cleanly across
//!   ranges and scans stream in key order.
//!
//! `kind` separates the sub-key families of one version: `f` hash field → value, `m` set
//! member → empty / sorted-set member → score, `s` sorted-set score index (encoded score +
//! member → empty), `i` list element at a u64 index → element.
//!
//! # Running commands
//!
//! Collection commands implement [`Atomic`] and run through [`atomically`]: inside a fresh
//! [`Transaction`] (snapshot reads at one oracle timestamp, buffered writes, one commit,
//! rerun on conflict), or inside the caller's transaction when they are part of MULTI/EXEC or
//! a script. A command decides everything before it buffers its first write, so an error
//! reply (WRONGTYPE, a bad argument found late) never leaves half a change behind.

pub mod cursor;
pub mod gc;
pub mod random;
mod score;

use std::future::Future;

use bytes::{BufMut, Bytes, BytesMut};

pub use self::score::{decode_score, encode_score};
use super::error::RedisError;
use super::keyspace::{current_expiry, kv_key, value_type, ValueType};
use super::retry::{backoff, MAX_ATTEMPTS};
use super::transaction::Transaction;
use crate::kv::{Expiry, KeyState, KvError, KvStore, Mutation, TxnOutcome};

/// First byte of every collection sub-key.
pub const SUBKEY_PREFIX: u8 = b'r';

/// The KV range holding every sub-key: `[start, end)`.
pub fn subkey_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"r"), Bytes::from_static(b"s"))
}

/// The first list index: lists grow both ways from the middle of the u64 space.
pub const LIST_MIDDLE: u64 = 1 << 63;

/// Which family of sub-keys under a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SubKind {
    /// Hash field → value.
    Field = b'f',
    /// Set member → empty; sorted-set member → 8-byte encoded score.
    Member = b'm',
    /// Sorted-set score index: encoded score + member → empty.
    Score = b's',
    /// List element: u64 BE index → element.
    Element = b'i',
}

/// The metadata record of a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: ValueType,
    /// Names the sub-keys; see the module documentation.
    pub version: u64,
    /// Number of fields / members / elements. A collection never exists empty: the last
    /// removal deletes the metadata record.
    pub size: u64,
    /// Lists only: index of the first element.
    pub head: u64,
    /// Lists only: one past the index of the last element.
    pub tail: u64,
}

const META_LEN: usize = 1 + 8 + 8;
const LIST_META_LEN: usize = META_LEN + 16;

impl Meta {
    /// A new, empty collection (callers add elements before saving it).
    pub fn new(kind: ValueType, version: u64) -> Meta {
        Meta { kind, version, size: 0, head: LIST_MIDDLE, tail: LIST_MIDDLE }
    }

    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(LIST_META_LEN);
        out.put_u8(self.kind as u8);
        out.put_u64(self.version);
        out.put_u64(self.size);
        if self.kind == ValueType::List {
            out.put_u64(self.head);
            out.put_u64(self.tail);
        }
        out.freeze()
    }

    /// Decodes a stored value that [`value_type`] says is a collection.
    pub fn decode(raw: &[u8]) -> Result<Meta, RedisError> {
        let kind = value_type(raw)?;
        let corrupt = || RedisError::Kv(KvError::Internal("corrupt collection metadata".into()));
        let want = if kind == ValueType::List { LIST_META_LEN } else { META_LEN };
        if kind == ValueType::String || raw.len() != want {
            return Err(corrupt());
        }
        let word = |at: usize| -> Result<u64, RedisError> {
            let bytes: [u8; 8] = raw.get(at..at + 8).and_then(|s| s.try_into().ok()).ok_or_else(corrupt)?;
            Ok(u64::from_be_bytes(bytes))
        };
        let mut meta = Meta::new(kind, word(1)?);
        meta.size = word(9)?;
        if kind == ValueType::List {
            meta.head = word(17)?;
            meta.tail = word(25)?;
        }
        Ok(meta)
    }

    /// The KV key of one sub-key of this collection.
    pub fn sub_key(&self, kind: SubKind, rest: &[u8]) -> Bytes {
        sub_key(self.version, kind, rest)
    }

    /// The KV range `[start, end)` holding every sub-key of one family of this collection.
    pub fn sub_range(&self, kind: SubKind) -> (Bytes, Bytes) {
        let start = sub_key(self.version, kind, b"");
        let end = sub_key(self.version, kind, b"");
        let mut end = BytesMut::from(&end[..]);
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        (start, end.freeze())
    }

    /// The KV key of list element `index`.
    pub fn element_key(&self, index: u64) -> Bytes {
        self.sub_key(SubKind::Element, &index.to_be_bytes())
    }
}

/// The KV key of a sub-key.
pub fn sub_key(version: u64, kind: SubKind, rest: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + 8 + 1 + rest.len());
    out.put_u8(SUBKEY_PREFIX);
    out.put_u64(version);
    out.put_u8(kind as u8);
    out.put_slice(rest);
    out.freeze()
}

/// The part of a sub-key after its kind byte (the field, member, score+member or index).
pub fn sub_key_rest(key: &Bytes) -> Bytes {
    key.slice(key.len().min(10)..)
}

/// A collection as a command found it.
#[derive(Clone, Debug)]
pub struct Found {
    pub meta: Meta,
    /// The metadata record's expiry, to write back unchanged.
    pub expiry: Expiry,
}

/// Reads the collection at Redis key `key`: `None` when the key does not exist (or expired),
/// WRONGTYPE when it holds anything but a `kind`.
pub async fn load<K: KvStore>(kv: &K, key: &[u8], kind: ValueType) -> Result<Option<Found>, RedisError> {
    let snapshot = kv.get(vec![kv_key(key)]).await?;
    let state = snapshot.states.into_iter().next().unwrap_or_default();
    found(&state, kind)
}

/// [`load`] on a state already read.
pub fn found(state: &KeyState, kind: ValueType) -> Result<Option<Found>, RedisError> {
    let Some(raw) = &state.value else { return Ok(None) };
    if value_type(raw)? != kind {
        return Err(RedisError::WrongType);
    }
    Ok(Some(Found { meta: Meta::decode(raw)?, expiry: current_expiry(state) }))
}

/// The collection at `key`, or a new empty one (with a fresh, unique version) if none exists.
pub async fn load_or_create<K: KvStore>(kv: &K, key: &[u8], kind: ValueType) -> Result<Found, RedisError> {
    match load(kv, key, kind).await? {
        Some(found) => Ok(found),
        None => Ok(Found { meta: Meta::new(kind, kv.timestamp().await?), expiry: Expiry::Never }),
    }
}

/// The mutation that saves `meta` at `key` with `expiry` (or deletes the record when the
/// collection became empty: Redis never keeps an empty collection).
pub fn save_meta(key: &[u8], meta: &Meta, expiry: Expiry) -> Mutation {
    if meta.size == 0 {
        Mutation::Delete { key: kv_key(key) }
    } else {
        Mutation::Put { key: kv_key(key), value: meta.encode(), expiry }
    }
}

/// Every sub-key of one family in `[start, end)` as the transaction sees it, in key order (or
/// reversed), at most `limit`; read in pages so huge collections stream. Must run inside a
/// transaction (see [`atomically`]): the transaction supplies the snapshot timestamp.
pub async fn scan_sub<K: KvStore>(
    kv: &K,
    start: Bytes,
    end: Bytes,
    limit: usize,
    reverse: bool,
) -> Result<Vec<(Bytes, Bytes)>, RedisError> {
    debug_assert!(kv.in_transaction(), "sub-key scans must run inside a transaction");
    const PAGE: usize = 1024;
    let (mut from, mut to) = (start, end);
    let mut out = Vec::new();
    while out.len() < limit {
        let want = PAGE.min(limit - out.len());
        let page = kv.scan_at(from.clone(), to.clone(), want, reverse, 0).await?;
        let done = page.len() < want;
        if let Some(last) = page.last() {
            if reverse {
                to = last.key.clone();
            } else {
                let mut next = BytesMut::from(&last.key[..]);
                next.put_u8(0);
                from = next.freeze();
            }
        }
        out.extend(page.into_iter().filter_map(|s| Some((s.key, s.state.value?))));
        if done {
            break;
        }
    }
    Ok(out)
}

/// A command that must see one snapshot and commit all its writes at once.
pub trait Atomic: Send + Sync {
    type Output: Send;

    /// Reads through `kv` and buffers writes into it. `kv` is always a transaction (it may run
    /// several times: once per attempt). It must not buffer a write before it knows it will
    /// succeed.
    fn run<K: KvStore>(&self, kv: &K) -> impl Future<Output = Result<Self::Output, RedisError>> + Send;
}

/// Runs `cmd` atomically: inside `kv` when that is already a transaction (MULTI/EXEC, a
/// script), else in a fresh transaction committed at the end and rerun on conflicts.
pub async fn atomically<K: KvStore, C: Atomic>(kv: &K, cmd: &C) -> Result<C::Output, RedisError> {
    if kv.in_transaction() {
        return cmd.run(kv).await;
    }
    for attempt in 0..MAX_ATTEMPTS {
        let txn = Transaction::new(kv);
        let output = cmd.run(&txn).await?;
        let Some(commit) = txn.finish(Vec::new()).await? else { return Ok(output) };
        match kv.commit(commit).await? {
            TxnOutcome::Committed { .. } => return Ok(output),
            TxnOutcome::Conflict | TxnOutcome::ConditionFailed => backoff(attempt).await,
        }
    }
    Err(RedisError::Kv(KvError::TryAgain("too many concurrent modifications of the same key, retry".into())))
}

#[cfg(test)]
mod tests;
