//! PERSIST key: removes the expiry; 1 if there was one, 0 otherwise.

use bytes::Bytes;

use super::arg;
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::kv_key;
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Persist {
    key: Bytes,
}

impl Persist {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Persist { key: arg(args, 1)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            match (state.value, state.expire_at_ms) {
                (Some(value), Some(_)) => Ok(Plan::Write {
                    mutations: vec![Mutation::Put { key: key.clone(), value, expiry: Expiry::Never }],
                    reply: Reply::Integer(1),
                }),
                _ => Ok(Plan::Done(Reply::Integer(0))),
            }
        })
        .await
    }
}
