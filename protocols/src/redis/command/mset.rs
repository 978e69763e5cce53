//! MSET key value [key value ...] and MSETNX: all pairs in one atomic write.

use bytes::Bytes;

use crate::kv::{Expiry, KvStore, Mutation, WriteOutcome};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{encode_string, kv_key};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct MSet {
    pairs: Vec<(Bytes, Bytes)>,
    /// MSETNX: set nothing if any key exists.
    only_if_none_exist: bool,
}

impl MSet {
    pub fn parse(args: &[Bytes], only_if_none_exist: bool) -> Result<Self, RedisError> {
        let rest = args.get(1..).unwrap_or_default();
        if rest.len() % 2 != 0 {
            let name = if only_if_none_exist { "msetnx" } else { "mset" };
            return Err(RedisError::WrongArity(name.into()));
        }
        let pairs = rest.chunks_exact(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
        Ok(MSet { pairs, only_if_none_exist })
    }

    fn puts(&self) -> Vec<Mutation> {
        self.pairs
            .iter()
            .map(|(key, value)| Mutation::Put { key: kv_key(key), value: encode_string(value), expiry: Expiry::Never })
            .collect()
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        if !self.only_if_none_exist {
            return match kv.write(Vec::new(), self.puts()).await? {
                WriteOutcome::Committed { .. } | WriteOutcome::ConditionFailed => Ok(Reply::ok()),
            };
        }
        let keys = self.pairs.iter().map(|(key, _)| kv_key(key)).collect();
        read_modify_write(kv, keys, |snapshot| {
            if snapshot.states.iter().any(|state| state.is_live()) {
                return Ok(Plan::Done(Reply::Integer(0)));
            }
            Ok(Plan::Write { mutations: self.puts(), reply: Reply::Integer(1) })
        })
        .await
    }
}
