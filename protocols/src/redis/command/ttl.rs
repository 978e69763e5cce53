//! TTL / PTTL (remaining time) and EXPIRETIME / PEXPIRETIME (absolute time) of a key:
//! -2 when the key does not exist, -1 when it has no expiry. Seconds are rounded to nearest.

use bytes::Bytes;

use super::arg;
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::kv_key;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Ttl {
    key: Bytes,
    milliseconds: bool,
    absolute: bool,
}

impl Ttl {
    /// `name` is one of `ttl`, `pttl`, `expiretime`, `pexpiretime`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Ttl { key: arg(args, 1)?, milliseconds: name.starts_with('p'), absolute: name.ends_with("expiretime") })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let snapshot = kv.get(vec![kv_key(&self.key)]).await?;
        let state = snapshot.states.first().cloned().unwrap_or_default();
        if !state.is_live() {
            return Ok(Reply::Integer(-2));
        }
        let Some(expire_at) = state.expire_at_ms else {
            return Ok(Reply::Integer(-1));
        };
        let ms = if self.absolute { expire_at } else { expire_at.saturating_sub(snapshot.now_ms) };
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        Ok(Reply::Integer(if self.milliseconds { ms } else { ms.saturating_add(500) / 1000 }))
    }
}
