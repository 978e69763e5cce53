//! How list commands read and change a list's elements.
//!
//! Elements live at consecutive u64 indices `head..tail` (so `size == tail - head`); the
//! element at *offset* `i` (0-based from the head, as Redis counts) is at index `head + i`.
//! Pushes and pops move `head` / `tail`; point reads compute the index directly.

use bytes::Bytes;

use crate::kv::{Expiry, KvError, KvStore, Mutation};
use crate::redis::collection::{load, save_meta, scan_sub, sub_key_rest, Found, Meta};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` / `RIGHT` in any case; a syntax error otherwise (Redis's
    /// `getListPositionFromObjectOrReply`).
    pub fn parse(arg: &[u8]) -> Result<End, RedisError> {
        if arg.eq_ignore_ascii_case(b"left") {
            Ok(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Ok(End::Right)
        } else {
            Err(RedisError::Syntax)
        }
    }
}

/// Elements read per scan page when a command walks a list.
pub const PAGE: usize = 1024;

fn exhausted() -> RedisError {
    RedisError::Kv(KvError::Internal("list index space exhausted".into()))
}

/// A list loaded by a command, changed in memory and saved with [`ListState::finish`].
#[derive(Clone, Debug)]
pub struct ListState {
    pub key: Bytes,
    pub meta: Meta,
    pub expiry: Expiry,
    /// Element writes and deletes so far.
    pub mutations: Vec<Mutation>,
}

impl ListState {
    /// The list at `key` (WRONGTYPE if something else is there), `None` if there is none.
    pub async fn load<K: KvStore>(kv: &K, key: &Bytes) -> Result<Option<ListState>, RedisError> {
        Ok(load(kv, key, ValueType::List).await?.map(|found| ListState::from_found(key, found)))
    }

    /// The list at `key`, or a new empty one.
    pub async fn load_or_create<K: KvStore>(kv: &K, key: &Bytes) -> Result<ListState, RedisError> {
        match Self::load(kv, key).await? {
            Some(list) => Ok(list),
            None => {
                let meta = Meta::new(ValueType::List, kv.timestamp().await?);
                Ok(ListState { key: key.clone(), meta, expiry: Expiry::Never, mutations: Vec::new() })
            }
        }
    }

    fn from_found(key: &Bytes, found: Found) -> ListState {
        ListState { key: key.clone(), meta: found.meta, expiry: found.expiry, mutations: Vec::new() }
    }

    pub fn len(&self) -> u64 {
        self.meta.size
    }

    /// The element at `offset` (which must be `< len`).
    pub async fn get<K: KvStore>(&self, kv: &K, offset: u64) -> Result<Option<Bytes>, RedisError> {
        let index = self.meta.head.checked_add(offset).ok_or_else(exhausted)?;
        let read = kv.get(vec![self.meta.element_key(index)]).await?;
        Ok(read.states.into_iter().next().and_then(|s| s.value))
    }

    /// The elements at offsets `from..to` (clamped to the list), head to tail or, with
    /// `reverse`, tail to head; at most `limit`. Each comes with its offset.
    pub async fn read<K: KvStore>(
        &self,
        kv: &K,
        from: u64,
        to: u64,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(u64, Bytes)>, RedisError> {
        let to = to.min(self.len());
        if from >= to || limit == 0 {
            return Ok(Vec::new());
        }
        let start = self.meta.element_key(self.meta.head + from);
        let end = self.meta.element_key(self.meta.head + to);
        let head = self.meta.head;
        let elements = scan_sub(kv, start, end, limit, reverse).await?;
        Ok(elements
            .into_iter()
            .filter_map(|(key, value)| {
                let rest = sub_key_rest(&key);
                let index = u64::from_be_bytes(rest.as_ref().try_into().ok()?);
                Some((index.checked_sub(head)?, value))
            })
            .collect())
    }

    /// Every element, head to tail.
    pub async fn read_all<K: KvStore>(&self, kv: &K) -> Result<Vec<Bytes>, RedisError> {
        Ok(self.read(kv, 0, self.len(), usize::MAX, false).await?.into_iter().map(|(_, value)| value).collect())
    }

    fn put(&mut self, index: u64, value: Bytes) {
        self.mutations.push(Mutation::Put { key: self.meta.element_key(index), value, expiry: Expiry::Never });
    }

    fn delete(&mut self, index: u64) {
        self.mutations.push(Mutation::Delete { key: self.meta.element_key(index) });
    }

    /// Pushes `elements` one by one at `end` (LPUSH a b c leaves c first).
    pub fn push(&mut self, end: End, elements: &[Bytes]) -> Result<(), RedisError> {
        for element in elements {
            match end {
                End::Left => {
                    self.meta.head = self.meta.head.checked_sub(1).ok_or_else(exhausted)?;
                    self.put(self.meta.head, element.clone());
                }
                End::Right => {
                    let index = self.meta.tail;
                    self.meta.tail = index.checked_add(1).ok_or_else(exhausted)?;
                    self.put(index, element.clone());
                }
            }
            self.meta.size += 1;
        }
        Ok(())
    }

    /// Pops up to `count` elements from `end`, in pop order.
    pub async fn pop<K: KvStore>(&mut self, kv: &K, end: End, count: u64) -> Result<Vec<Bytes>, RedisError> {
        let count = count.min(self.len());
        let popped: Vec<Bytes> = if count == 1 {
            // The common case is one point read.
            let offset = if end == End::Left { 0 } else { self.len() - 1 };
            self.get(kv, offset).await?.into_iter().collect()
        } else {
            let (from, to) = if end == End::Left { (0, count) } else { (self.len() - count, self.len()) };
            let limit = usize::try_from(count).unwrap_or(usize::MAX);
            self.read(kv, from, to, limit, end == End::Right).await?.into_iter().map(|(_, value)| value).collect()
        };
        if popped.len() as u64 != count {
            return Err(RedisError::Kv(KvError::Internal("list elements missing".into())));
        }
        for _ in 0..count {
            match end {
                End::Left => {
                    self.delete(self.meta.head);
                    self.meta.head += 1;
                }
                End::Right => {
                    self.meta.tail -= 1;
                    self.delete(self.meta.tail);
                }
            }
        }
        self.meta.size -= count;
        Ok(popped)
    }

    /// Overwrites the element at `offset` (< len).
    pub fn set(&mut self, offset: u64, value: Bytes) {
        self.put(self.meta.head + offset, value);
    }

    /// Rewrites the list as `new` (its current content being `old`, head to tail), moving
    /// only one side: either the elements before the first change keep their indices and
    /// everything after it is rewritten, or the elements after the last change keep theirs
    /// and the head side is rewritten, whichever writes less.
    pub fn rewrite(&mut self, old: &[Bytes], new: &[Bytes]) -> Result<(), RedisError> {
        let common_prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        let most = old.len().min(new.len()) - common_prefix;
        let common_suffix = old.iter().rev().zip(new.iter().rev()).take_while(|(a, b)| a == b).count().min(most);
        let head = self.meta.head;
        let tail = self.meta.tail;
        let new_len = new.len() as u64;
        // Writes when the head side stays put, and when the tail side does.
        let rewrite_tail_side = new.len() - common_prefix;
        let rewrite_head_side = new.len() - common_suffix;
        if rewrite_tail_side <= rewrite_head_side {
            let new_tail = head.checked_add(new_len).ok_or_else(exhausted)?;
            for (offset, value) in new.iter().enumerate().skip(common_prefix) {
                self.put(head + offset as u64, value.clone());
            }
            for index in new_tail..tail {
                self.delete(index);
            }
            self.meta.tail = new_tail;
        } else {
            let new_head = tail.checked_sub(new_len).ok_or_else(exhausted)?;
            for (offset, value) in new.iter().enumerate().take(new.len() - common_suffix) {
                self.put(new_head + offset as u64, value.clone());
            }
            for index in head..new_head {
                self.delete(index);
            }
            self.meta.head = new_head;
        }
        self.meta.size = new_len;
        Ok(())
    }

    /// Inserts `element` before offset `at` (`at == len` appends), moving the shorter side
    /// of the list by one index: O(min(at, len - at)) reads and writes.
    pub async fn insert<K: KvStore>(&mut self, kv: &K, at: u64, element: Bytes) -> Result<(), RedisError> {
        let len = self.len();
        if at <= len - at {
            let moved = self.read(kv, 0, at, usize::MAX, false).await?;
            let new_head = self.meta.head.checked_sub(1).ok_or_else(exhausted)?;
            for (offset, value) in moved {
                self.put(new_head + offset, value);
            }
            self.put(new_head + at, element);
            self.meta.head = new_head;
        } else {
            let moved = self.read(kv, at, len, usize::MAX, false).await?;
            let new_tail = self.meta.tail.checked_add(1).ok_or_else(exhausted)?;
            for (offset, value) in moved {
                self.put(self.meta.head + offset + 1, value);
            }
            self.put(self.meta.head + at, element);
            self.meta.tail = new_tail;
        }
        self.meta.size += 1;
        Ok(())
    }

    /// Keeps only offsets `from..to` (deleting the others without reading them).
    pub fn trim(&mut self, from: u64, to: u64) {
        let (head, tail) = (self.meta.head, self.meta.tail);
        let (keep_from, keep_to) = if from >= to { (tail, tail) } else { (head + from, head + to) };
        for index in (head..keep_from).chain(keep_to..tail) {
            self.delete(index);
        }
        self.meta.head = keep_from;
        self.meta.tail = keep_to;
        self.meta.size = keep_to - keep_from;
    }

    /// The element writes plus the metadata record (deleted when the list became empty).
    pub fn finish(self) -> Vec<Mutation> {
        let mut mutations = self.mutations;
        mutations.push(save_meta(&self.key, &self.meta, self.expiry));
        mutations
    }
}

/// Redis's list index: negative counts from the tail. `None` when out of range.
pub fn offset_of(index: i64, len: u64) -> Option<u64> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 { index.checked_add(len)? } else { index };
    (0..len).contains(&index).then_some(index as u64)
}

/// LRANGE / LTRIM's clamping of `start..=stop` to offsets `from..to`, empty when out of range.
pub fn clamp_range(start: i64, stop: i64, len: u64) -> (u64, u64) {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 { start.saturating_add(len) } else { start };
    let mut stop = if stop < 0 { stop.saturating_add(len) } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return (0, 0);
    }
    if stop >= len {
        stop = len - 1;
    }
    (start as u64, stop as u64 + 1)
}
