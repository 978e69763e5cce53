//! RENAME key newkey and RENAMENX key newkey: move the value and its expiry (the same absolute
//! instant) to `newkey` and delete `key`, in one write conditioned on the versions of both
//! keys — atomic wherever they live (one phase within a range, a two-phase commit across
//! ranges).
//!
//! The stored bytes (type tag and payload) move as they are: renaming works on any type.

use bytes::Bytes;

use super::arg;
use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, kv_key};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Rename {
    key: Bytes,
    new_key: Bytes,
    /// RENAMENX: rename only if `new_key` does not exist; answers 1 / 0 instead of OK.
    only_if_new: bool,
}

impl Rename {
    pub fn parse(args: &[Bytes], only_if_new: bool) -> Result<Self, RedisError> {
        Ok(Rename { key: arg(args, 1)?, new_key: arg(args, 2)?, only_if_new })
    }

    fn renamed(&self) -> Reply {
        if self.only_if_new {
            Reply::Integer(1)
        } else {
            Reply::ok()
        }
    }

    fn not_renamed(&self) -> Reply {
        if self.only_if_new {
            Reply::Integer(0)
        } else {
            Reply::ok()
        }
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let from = kv_key(&self.key);
        let to = kv_key(&self.new_key);
        let same_key = from == to;
        let keys = if same_key { vec![from.clone()] } else { vec![from.clone(), to.clone()] };
        read_modify_write(kv, keys, |snapshot| {
            let source = snapshot.states.first().cloned().unwrap_or_default();
            // As in Redis, a missing key is an error even when both names are the same.
            let Some(value) = source.value.clone() else {
                return Err(RedisError::NoSuchKey);
            };
            if same_key {
                // RENAME answers OK, RENAMENX 0; nothing changes (the TTL stays).
                return Ok(Plan::Done(self.not_renamed()));
            }
            let target_exists = snapshot.states.get(1).is_some_and(|state| state.is_live());
            if self.only_if_new && target_exists {
                return Ok(Plan::Done(Reply::Integer(0)));
            }
            // The put replaces whatever `to` held, its expiry included.
            let mutations = vec![
                Mutation::Put { key: to.clone(), value, expiry: current_expiry(&source) },
                Mutation::Delete { key: from.clone() },
            ];
            Ok(Plan::Write { mutations, reply: self.renamed() })
        })
        .await
    }
}
