//! PFADD, PFCOUNT, PFMERGE over [`super::hll`] values.

use bytes::Bytes;

use super::hll::{cached_count, HllError, Registers};
use crate::kv::{Condition, Expiry, KeyState, KvStore, Mutation};
use crate::redis::command::arg;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

/// The HLL stored at a key: `None` when missing; WRONGTYPE for other types, Redis's HLL
/// errors for strings that are not (valid) HLLs.
fn load(state: &KeyState) -> Result<Option<(Bytes, Registers)>, RedisError> {
    let Some(value) = read_string(state)? else { return Ok(None) };
    match Registers::decode(&value) {
        Ok(registers) => Ok(Some((value, registers))),
        Err(HllError::NotHll) => Err(RedisError::NotHyperLogLog),
        Err(HllError::Corrupt) => Err(RedisError::CorruptHyperLogLog),
    }
}

fn expiry_of(state: &KeyState) -> Expiry {
    if state.is_live() {
        current_expiry(state)
    } else {
        Expiry::Never
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PfAdd {
    key: Bytes,
    elements: Vec<Bytes>,
}

impl PfAdd {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(PfAdd { key: arg(args, 1)?, elements: args.get(2..).unwrap_or_default().to_vec() })
    }

    /// Answers 1 when the key was created or a register grew, as Redis does.
    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let (mut registers, mut updated) = match load(&state)? {
                Some((_, registers)) => (registers, false),
                None => (Registers::default(), true),
            };
            for element in &self.elements {
                updated |= registers.add(element);
            }
            if !updated {
                return Ok(Plan::Done(Reply::Integer(0)));
            }
            let value = encode_string(&registers.encode_dense(None));
            let put = Mutation::Put { key: key.clone(), value, expiry: expiry_of(&state) };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::Integer(1) })
        })
        .await
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PfCount {
    keys: Vec<Bytes>,
}

impl PfCount {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(PfCount { keys: args.get(1..).unwrap_or_default().to_vec() })
    }

    /// One key: its cached count when valid, else the estimate, cached in the header as Redis
    /// does. Several keys: the estimate of their union, read at one instant.
    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let snapshot = kv.get(self.keys.iter().map(|k| kv_key(k)).collect()).await?;
        if let [state] = snapshot.states.as_slice() {
            let Some((value, registers)) = load(state)? else { return Ok(Reply::Integer(0)) };
            if let Some(cached) = cached_count(&value) {
                return Ok(Reply::Integer(cached as i64));
            }
            let count = registers.count();
            // Like Redis, store the count in the header for the next PFCOUNT. Only if the key
            // is unchanged since the read; losing that race just skips the caching.
            let mut cached = value.to_vec();
            if let Some(card) = cached.get_mut(8..16) {
                card.copy_from_slice(&count.to_le_bytes());
                let condition = Condition { key: kv_key(&self.keys[0]), expected_version: state.version };
                let put = Mutation::Put {
                    key: condition.key.clone(),
                    value: encode_string(&cached),
                    expiry: expiry_of(state),
                };
                kv.write(vec![condition], vec![put]).await?;
            }
            return Ok(Reply::Integer(count as i64));
        }
        let mut union = Registers::default();
        for state in &snapshot.states {
            if let Some((_, registers)) = load(state)? {
                union.merge(&registers);
            }
        }
        Ok(Reply::Integer(union.count() as i64))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PfMerge {
    destination: Bytes,
    sources: Vec<Bytes>,
}

impl PfMerge {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(PfMerge { destination: arg(args, 1)?, sources: args.get(2..).unwrap_or_default().to_vec() })
    }

    /// The destination (if it exists) and every source merged into the destination, written
    /// conditioned on every key's version; the destination keeps its TTL.
    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let destination = kv_key(&self.destination);
        let mut keys: Vec<Bytes> = self.sources.iter().map(|k| kv_key(k)).collect();
        keys.push(destination.clone());
        read_modify_write(kv, keys, |snapshot| {
            let mut union = Registers::default();
            for state in &snapshot.states {
                if let Some((_, registers)) = load(state)? {
                    union.merge(&registers);
                }
            }
            let dest = snapshot.states.last().cloned().unwrap_or_default();
            let value = encode_string(&union.encode_dense(None));
            let put = Mutation::Put { key: destination.clone(), value, expiry: expiry_of(&dest) };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::ok() })
        })
        .await
    }
}
