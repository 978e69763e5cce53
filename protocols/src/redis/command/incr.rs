//! INCR / DECR / INCRBY / DECRBY key [delta]: 64-bit signed arithmetic on a string holding a
//! decimal integer, keeping the key's TTL.

use bytes::Bytes;

use super::{arg, int_arg};
use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::{parse_i64, Reply};

#[derive(Clone, Debug, PartialEq)]
pub struct Incr {
    key: Bytes,
    delta: i64,
}

impl Incr {
    /// `name` is one of `incr`, `decr`, `incrby`, `decrby`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let delta = match name {
            "incr" => 1,
            "decr" => -1,
            "incrby" => int_arg(&arg(args, 2)?)?,
            _ => {
                let decrement = int_arg(&arg(args, 2)?)?;
                // -i64::MIN does not exist.
                decrement.checked_neg().ok_or(RedisError::DecrementOverflow)?
            }
        };
        Ok(Incr { key: arg(args, 1)?, delta })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let current = match read_string(&state)? {
                None => 0,
                Some(text) => parse_i64(&text).ok_or(RedisError::NotInteger)?,
            };
            let updated = current.checked_add(self.delta).ok_or(RedisError::Overflow)?;
            let put = Mutation::Put {
                key: key.clone(),
                value: encode_string(updated.to_string().as_bytes()),
                expiry: current_expiry(&state),
            };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::Integer(updated) })
        })
        .await
    }
}
