//! HEXISTS key field / HSTRLEN key field / HLEN key: one number about a hash.

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::{load, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    /// HEXISTS: 1 when the field exists.
    Exists,
    /// HSTRLEN: the value's length, 0 when absent.
    StrLen,
    /// HLEN: the number of fields.
    Len,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HField {
    key: Bytes,
    field: Bytes,
    question: Question,
}

impl HField {
    pub fn parse(args: &[Bytes], question: Question) -> Result<Self, RedisError> {
        let field = if question == Question::Len { Bytes::new() } else { arg(args, 2)? };
        Ok(HField { key: arg(args, 1)?, field, question })
    }
}

impl Atomic for HField {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else { return Ok(Reply::Integer(0)) };
        if self.question == Question::Len {
            return Ok(Reply::Integer(found.meta.size as i64));
        }
        let read = kv.get(vec![found.meta.sub_key(SubKind::Field, &self.field)]).await?;
        let value = read.states.into_iter().next().and_then(|s| s.value);
        Ok(Reply::Integer(match (self.question, value) {
            (_, None) => 0,
            (Question::StrLen, Some(value)) => value.len() as i64,
            _ => 1,
        }))
    }
}
