//! SETRANGE key offset value: overwrites from `offset`, zero-padding as needed; keeps the TTL.

use bytes::{Bytes, BytesMut};

use super::{arg, int_arg};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::redis::session::ServerContext;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct SetRange {
    key: Bytes,
    offset: u64,
    value: Bytes,
}

impl SetRange {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let offset = int_arg(&arg(args, 2)?)?;
        let offset = u64::try_from(offset).map_err(|_| RedisError::OffsetOutOfRange)?;
        Ok(SetRange { key: arg(args, 1)?, offset, value: arg(args, 3)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        let max_len = ctx.limits.proto_max_bulk_len;
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let current = read_string(&state)?;
            // Writing nothing changes nothing: answer the current length (0 if missing).
            if self.value.is_empty() {
                return Ok(Plan::Done(Reply::Integer(current.map_or(0, |c| c.len() as i64))));
            }
            let end = self.offset.checked_add(self.value.len() as u64).filter(|&end| end <= max_len);
            let end = end.ok_or(RedisError::StringTooLong)? as usize;
            let current = current.unwrap_or_default();
            let mut updated = BytesMut::from(&current[..]);
            if updated.len() < end {
                updated.resize(end, 0);
            }
            let offset = self.offset as usize;
            if let Some(target) = updated.get_mut(offset..end) {
                target.copy_from_slice(&self.value);
            }
            let expiry = if state.is_live() { current_expiry(&state) } else { Expiry::Never };
            let length = updated.len() as i64;
            let put = Mutation::Put { key: key.clone(), value: encode_string(&updated), expiry };
            Ok(Plan::Write { mutations: vec![put], reply: Reply::Integer(length) })
        })
        .await
    }
}
