//! How Redis keys and values are laid out in Strata's flat KV space.
//!
//! Redis key `K` is stored under the KV key `b"R" + K`, so every Redis key lives in
//! `[b"R", b"S")` and DBSIZE / FLUSHDB are a count / range delete over that span.
//!
//! A stored value is one type-tag byte followed by the payload. Strings store their bytes as
//! the payload. Composite types (hash, list, set, zset) will follow the Kvrocks layout: the
//! `R` record holds small metadata (tag, version, element count) and the elements live under
//! a different prefix keyed by that version, so that the `R` span still holds exactly one
//! record per Redis key and TYPE / EXISTS / DEL / EXPIRE keep working on the `R` record alone.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::RedisError;
use crate::kv::{Expiry, KeyState, KvError};

/// First byte of every Redis key in the KV space.
pub const KEY_PREFIX: u8 = b'R';

/// The KV range holding every Redis key: `[start, end)`.
pub fn keyspace_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"R"), Bytes::from_static(b"S"))
}

/// The KV key of a Redis key.
pub fn kv_key(key: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(key.len() + 1);
    out.put_u8(KEY_PREFIX);
    out.put_slice(key);
    out.freeze()
}

/// The type tag stored as the first byte of every value. Numbering follows Kvrocks'
/// `RedisType` so a reader familiar with it is not surprised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    String = 1,
    Hash = 2,
    List = 3,
    Set = 4,
    ZSet = 5,
    Stream = 8,
}

impl ValueType {
    pub fn from_tag(tag: u8) -> Option<ValueType> {
        Some(match tag {
            1 => ValueType::String,
            2 => ValueType::Hash,
            3 => ValueType::List,
            4 => ValueType::Set,
            5 => ValueType::ZSet,
            8 => ValueType::Stream,
            _ => return None,
        })
    }

    /// The name TYPE answers.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }
}

/// The type of a stored value.
pub fn value_type(raw: &[u8]) -> Result<ValueType, RedisError> {
    raw.first()
        .copied()
        .and_then(ValueType::from_tag)
        .ok_or_else(|| RedisError::Kv(KvError::Internal("stored value has an unknown type tag".into())))
}

/// Encodes a string value for storage.
pub fn encode_string(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 1);
    out.put_u8(ValueType::String as u8);
    out.put_slice(payload);
    out.freeze()
}

/// The string payload of a key: `None` when the key is absent (or expired), WRONGTYPE when
/// it holds another type.
pub fn read_string(state: &KeyState) -> Result<Option<Bytes>, RedisError> {
    match &state.value {
        None => Ok(None),
        Some(raw) => match value_type(raw)? {
            ValueType::String => Ok(Some(raw.slice(1..))),
            _ => Err(RedisError::WrongType),
        },
    }
}

/// The expiry to write back when a read-modify-write changes a value but must keep its TTL
/// (APPEND, INCR, SETRANGE...). Stated explicitly rather than as [`Expiry::Keep`] because the
/// write is conditioned on the version we read, so the expiry we read is the current one.
pub fn current_expiry(state: &KeyState) -> Expiry {
    match state.expire_at_ms {
        Some(at) if state.is_live() => Expiry::AtUnixMs(at),
        _ => Expiry::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_r_prefix() {
        assert_eq!(&kv_key(b"foo")[..], b"Rfoo");
        let (start, end) = keyspace_range();
        assert!(kv_key(b"").as_ref() >= start.as_ref());
        assert!(kv_key(&[0xff; 8]).as_ref() < end.as_ref());
    }

    #[test]
    fn strings_round_trip_and_other_types_are_wrongtype() {
        let live = |value: Bytes| KeyState { version: 1, value: Some(value), expire_at_ms: None };
        assert_eq!(read_string(&live(encode_string(b"hi"))), Ok(Some(Bytes::from_static(b"hi"))));
        assert_eq!(read_string(&KeyState::default()), Ok(None));
        assert_eq!(read_string(&live(Bytes::from_static(&[ValueType::Hash as u8]))), Err(RedisError::WrongType));
        assert!(matches!(read_string(&live(Bytes::new())), Err(RedisError::Kv(KvError::Internal(_)))));
    }
}
