//! DEL / UNLINK key [key ...]: deletes the live keys among those given and answers how many
//! there were, atomically wherever the keys live (one conditional write: one-phase within a
//! range, a two-phase commit across ranges).

use bytes::Bytes;

use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::kv_key;
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Del {
    keys: Vec<Bytes>,
}

impl Del {
    pub fn parse(args: &[Bytes]) -> Self {
        // A key named twice is deleted (and counted) once, as in Redis.
        let mut keys: Vec<Bytes> = Vec::new();
        for key in args.get(1..).unwrap_or_default() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        Del { keys }
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        delete_live(kv, self.keys.iter().map(|k| kv_key(k)).collect()).await
    }
}

/// Deletes the live keys among `keys` in one conditional write.
async fn delete_live<K: KvStore>(kv: &K, keys: Vec<Bytes>) -> Result<Reply, RedisError> {
    read_modify_write(kv, keys.clone(), |snapshot| {
        let deletes: Vec<Mutation> = keys
            .iter()
            .zip(&snapshot.states)
            .filter(|(_, state)| state.is_live())
            .map(|(key, _)| Mutation::Delete { key: key.clone() })
            .collect();
        let count = Reply::Integer(deletes.len() as i64);
        if deletes.is_empty() {
            Ok(Plan::Done(count))
        } else {
            Ok(Plan::Write { mutations: deletes, reply: count })
        }
    })
    .await
}
