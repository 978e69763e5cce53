//! GETDEL key

use bytes::Bytes;

use super::arg;
use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct GetDel {
    key: Bytes,
}

impl GetDel {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(GetDel { key: arg(args, 1)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            Ok(match read_string(&state)? {
                None => Plan::Done(Reply::Null),
                Some(value) => {
                    Plan::Write { mutations: vec![Mutation::Delete { key: key.clone() }], reply: Reply::Bulk(value) }
                }
            })
        })
        .await
    }
}
