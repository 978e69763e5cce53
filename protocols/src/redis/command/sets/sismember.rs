//! SISMEMBER key member / SMISMEMBER key member [member ...] / SCARD key

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    /// SISMEMBER: 1 or 0.
    IsMember,
    /// SMISMEMBER: an array of 1 or 0.
    AreMembers,
    /// SCARD: the number of members.
    Card,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SIsMember {
    key: Bytes,
    members: Vec<Bytes>,
    question: Question,
}

impl SIsMember {
    pub fn parse(args: &[Bytes], question: Question) -> Result<Self, RedisError> {
        Ok(SIsMember { key: arg(args, 1)?, members: args.get(2..).unwrap_or_default().to_vec(), question })
    }
}

impl Atomic for SIsMember {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load(kv, &self.key, ValueType::Set).await?;
        let present: Vec<bool> = match (&found, self.question) {
            (Some(found), Question::Card) => return Ok(Reply::Integer(found.meta.size as i64)),
            (None, Question::Card) => return Ok(Reply::Integer(0)),
            (None, _) => vec![false; self.members.len()],
            (Some(found), _) => {
                let keys = self.members.iter().map(|m| found.meta.sub_key(SubKind::Member, m)).collect();
                kv.get(keys).await?.states.iter().map(|state| state.is_live()).collect()
            }
        };
        let mut answers = present.into_iter().map(|present| Reply::Integer(i64::from(present)));
        Ok(match self.question {
            Question::AreMembers => Reply::Array(answers.collect()),
            _ => answers.next().unwrap_or(Reply::Integer(0)),
        })
    }
}
