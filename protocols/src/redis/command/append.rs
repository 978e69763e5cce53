//! APPEND key value: creates the key if missing, keeps its TTL otherwise.

use bytes::{Bytes, BytesMut};

use super::arg;
use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::redis::session::ServerContext;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Append {
    key: Bytes,
    suffix: Bytes,
}

impl Append {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Append { key: arg(args, 1)?, suffix: arg(args, 2)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        let max_len = ctx.limits.proto_max_bulk_len;
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let current = read_string(&state)?.unwrap_or_default();
            let total = current.len() as u64 + self.suffix.len() as u64;
            if total > max_len {
                return Err(RedisError::StringTooLong);
            }
            let mut joined = BytesMut::with_capacity(total as usize);
            joined.extend_from_slice(&current);
            joined.extend_from_slice(&self.suffix);
            let put = Mutation::Put { key: key.clone(), value: encode_string(&joined), expiry: current_expiry(&state) };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::Integer(total as i64) })
        })
        .await
    }
}
