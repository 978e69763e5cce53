//! OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ | HELP
//!
//! Strata does not store Redis's in-memory encodings; it answers what Redis 7.0 would report
//! for a value of this shape under the default thresholds: strings are `int` (a canonical
//! 64-bit integer of at most 20 characters), `embstr` (up to 44 bytes) or `raw`; hashes and
//! sorted sets are `listpack` up to 128 entries with every field / member (and hash value) at
//! most 64 bytes, else `hashtable` / `skiplist`; sets are `intset` up to 512 integer members,
//! else `hashtable`; lists are `quicklist`. (Redis never converts back when a collection
//! shrinks; Strata judges the current contents.) No access times are tracked: IDLETIME is 0,
//! and FREQ answers the error Redis gives under its default (LRU) eviction policy.

use bytes::Bytes;

use crate::kv::KvStore;
use crate::redis::collection::{atomically, found, scan_sub, Atomic, Meta, SubKind};
use crate::redis::command::arg;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, value_type, ValueType};
use crate::resp::{parse_i64, Reply};

const HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Redis shares the integers 0..OBJ_SHARED_INTEGERS and reports them as immortal.
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
const LISTPACK_MAX_ENTRIES: u64 = 128;
const LISTPACK_MAX_VALUE: usize = 64;
const INTSET_MAX_ENTRIES: u64 = 512;

#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Help,
    Encoding(Bytes),
    RefCount(Bytes),
    IdleTime(Bytes),
    Freq(Bytes),
}

impl Object {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Object, RedisError> {
        Ok(match name {
            "object|help" => Object::Help,
            "object|encoding" => Object::Encoding(arg(args, 2)?),
            "object|refcount" => Object::RefCount(arg(args, 2)?),
            "object|idletime" => Object::IdleTime(arg(args, 2)?),
            _ => Object::Freq(arg(args, 2)?),
        })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = match &self {
            Object::Help => {
                return Ok(Reply::Array(
                    HELP.iter().map(|line| Reply::Simple(Bytes::from_static(line.as_bytes()))).collect(),
                ))
            }
            Object::Encoding(key) | Object::RefCount(key) | Object::IdleTime(key) | Object::Freq(key) => key,
        };
        let snapshot = kv.get(vec![kv_key(key)]).await?;
        let Some(raw) = snapshot.states.into_iter().next().and_then(|state| state.value) else {
            return Ok(Reply::Null);
        };
        match self {
            Object::Encoding(key) => Ok(Reply::Bulk(Bytes::from_static(encoding(kv, &key, &raw).await?.as_bytes()))),
            Object::RefCount(_) => {
                let shared = value_type(&raw)? == ValueType::String
                    && is_int_encoded(&raw[1..])
                    && parse_i64(&raw[1..]).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n));
                Ok(Reply::Integer(if shared { SHARED_REFCOUNT } else { 1 }))
            }
            Object::IdleTime(_) => Ok(Reply::Integer(0)),
            _ => Err(RedisError::LfuNotSelected),
        }
    }
}

/// Redis's `tryObjectEncoding` accepts a string as an integer when `string2l` does: at most
/// 20 characters, canonical (no sign on 0, no leading zeros or spaces), fits an i64.
fn is_int_encoded(payload: &[u8]) -> bool {
    payload.len() <= 20 && parse_i64(payload).is_some_and(|n| n.to_string().as_bytes() == payload)
}

async fn encoding<K: KvStore>(kv: &K, key: &[u8], raw: &[u8]) -> Result<&'static str, RedisError> {
    let kind = value_type(raw)?;
    if kind == ValueType::String {
        let payload = &raw[1..];
        return Ok(if is_int_encoded(payload) {
            "int"
        } else if payload.len() <= 44 {
            "embstr"
        } else {
            "raw"
        });
    }
    let meta = Meta::decode(raw)?;
    Ok(match kind {
        ValueType::List => "quicklist",
        ValueType::Stream => "stream",
        ValueType::Set if meta.size > INTSET_MAX_ENTRIES => "hashtable",
        ValueType::Set => {
            let members =
                atomically(kv, &SmallMembers { key: Bytes::copy_from_slice(key), kind, sub: SubKind::Member }).await?;
            if members.iter().all(|(member, _)| is_int_encoded(member)) {
                "intset"
            } else {
                "hashtable"
            }
        }
        ValueType::Hash | ValueType::ZSet => {
            let compact = meta.size <= LISTPACK_MAX_ENTRIES && {
                let sub = if kind == ValueType::Hash { SubKind::Field } else { SubKind::Member };
                let entries = atomically(kv, &SmallMembers { key: Bytes::copy_from_slice(key), kind, sub }).await?;
                // A sorted set's member → score sub-key holds the 8-byte score, not a value.
                entries.iter().all(|(name, value)| {
                    name.len() <= LISTPACK_MAX_VALUE && (kind == ValueType::ZSet || value.len() <= LISTPACK_MAX_VALUE)
                })
            };
            match (kind, compact) {
                (_, true) => "listpack",
                (ValueType::Hash, false) => "hashtable",
                _ => "skiplist",
            }
        }
        ValueType::String => "embstr",
    })
}

/// Every `sub` entry (name after the kind byte, value) of a small collection, read at one
/// snapshot together with its metadata.
struct SmallMembers {
    key: Bytes,
    kind: ValueType,
    sub: SubKind,
}

impl Atomic for SmallMembers {
    type Output = Vec<(Bytes, Bytes)>;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Self::Output, RedisError> {
        let snapshot = kv.get(vec![kv_key(&self.key)]).await?;
        let state = snapshot.states.into_iter().next().unwrap_or_default();
        let Some(found) = found(&state, self.kind)? else { return Ok(Vec::new()) };
        let (start, end) = found.meta.sub_range(self.sub);
        let limit = usize::try_from(INTSET_MAX_ENTRIES.max(LISTPACK_MAX_ENTRIES) + 1).unwrap_or(usize::MAX);
        let entries = scan_sub(kv, start, end, limit, false).await?;
        Ok(entries.into_iter().map(|(key, value)| (crate::redis::collection::sub_key_rest(&key), value)).collect())
    }
}
