//! ZSCORE key member / ZMSCORE key member [member ...]

use bytes::Bytes;

use super::store::scores_of;
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct ZScore {
    key: Bytes,
    members: Vec<Bytes>,
    /// ZMSCORE: an array of scores (nulls for non-members) instead of one score.
    many: bool,
}

impl ZScore {
    pub fn parse(args: &[Bytes], many: bool) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        Ok(ZScore { key, members: args.get(2..).unwrap_or_default().to_vec(), many })
    }
}

fn score_reply(score: Option<f64>) -> Reply {
    score.map_or(Reply::Null, Reply::Double)
}

impl Atomic for ZScore {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let scores = match load(kv, &self.key, ValueType::ZSet).await? {
            Some(found) => scores_of(kv, &found.meta, &self.members).await?,
            None => vec![None; self.members.len()],
        };
        Ok(if self.many {
            Reply::Array(scores.into_iter().map(score_reply).collect())
        } else {
            score_reply(scores.into_iter().next().flatten())
        })
    }
}
