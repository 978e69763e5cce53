//! ZREM key member [member ...] and ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX
//! key min max.

use bytes::Bytes;

use super::store::{remove_member, scores_of, LexRange, ScoreRange};
use super::zrange::{select, By};
use crate::kv::KvStore;
use crate::redis::collection::{load, save_meta, Atomic};
use crate::redis::command::int_arg;
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Removed {
    Members(Vec<Bytes>),
    Range(By),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZRem {
    key: Bytes,
    removed: Removed,
}

impl ZRem {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let key = super::super::arg(args, 1)?;
        let arg = |i: usize| super::super::arg(args, i);
        let removed = match name {
            "zremrangebyrank" => Removed::Range(By::Rank(int_arg(&arg(2)?)?, int_arg(&arg(3)?)?)),
            "zremrangebyscore" => Removed::Range(By::Score(ScoreRange::parse(&arg(2)?, &arg(3)?)?)),
            "zremrangebylex" => Removed::Range(By::Lex(LexRange::parse(&arg(2)?, &arg(3)?)?)),
            _ => Removed::Members(args.get(2..).unwrap_or_default().to_vec()),
        };
        Ok(ZRem { key, removed })
    }
}

impl Atomic for ZRem {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::ZSet).await? else { return Ok(Reply::Integer(0)) };
        let mut meta = found.meta;
        let mut mutations = Vec::new();
        let mut removed = 0u64;
        match &self.removed {
            Removed::Members(members) => {
                let scores = scores_of(kv, &meta, members).await?;
                let mut seen = std::collections::HashSet::new();
                for (member, score) in members.iter().zip(scores) {
                    if let Some(score) = score {
                        if seen.insert(member.clone()) {
                            remove_member(&meta, member, score, &mut mutations);
                            removed += 1;
                        }
                    }
                }
            }
            Removed::Range(by) => {
                for entry in select(kv, &meta, by, false, 0, -1).await? {
                    remove_member(&meta, &entry.member, entry.score, &mut mutations);
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            meta.size = meta.size.saturating_sub(removed);
            mutations.push(save_meta(&self.key, &meta, found.expiry));
            kv.write(Vec::new(), mutations).await?;
        }
        Ok(Reply::Integer(removed as i64))
    }
}
