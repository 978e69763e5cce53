//! INCRBYFLOAT key increment, computed in emulated 80-bit `long double` like Redis so that
//! results match digit for digit (see [`crate::redis::long_double`]).

use bytes::Bytes;

use super::arg;
use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::long_double::LongDouble;
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct IncrByFloat {
    key: Bytes,
    /// Kept raw: Redis checks the key's type and current value before the increment.
    increment: Bytes,
}

impl IncrByFloat {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(IncrByFloat { key: arg(args, 1)?, increment: arg(args, 2)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let current = match read_string(&state)? {
                None => LongDouble::parse(b"0"),
                Some(text) => LongDouble::parse(&text),
            }
            .ok_or(RedisError::NotFloat)?;
            let increment = LongDouble::parse(&self.increment).ok_or(RedisError::NotFloat)?;
            let sum = current.add(increment);
            if !sum.is_finite() {
                return Err(RedisError::NanOrInfinity);
            }
            let text = sum.to_redis_string();
            let put = Mutation::Put {
                key: key.clone(),
                value: encode_string(text.as_bytes()),
                expiry: current_expiry(&state),
            };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::bulk(text) })
        })
        .await
    }
}
