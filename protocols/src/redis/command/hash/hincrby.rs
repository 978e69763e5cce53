//! HINCRBY key field increment / HINCRBYFLOAT key field increment

use bytes::Bytes;

use super::super::{arg, int_arg};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::collection::{load_or_create, save_meta, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::redis::long_double::LongDouble;
use crate::resp::{parse_i64, Reply};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Increment {
    Integer(i64),
    /// Kept as Redis's `long double` so results match digit for digit.
    Float(LongDouble),
}

#[derive(Clone, Debug, PartialEq)]
pub struct HIncrBy {
    key: Bytes,
    field: Bytes,
    increment: Increment,
}

impl HIncrBy {
    /// Redis checks the increment before it looks at the key.
    pub fn parse(args: &[Bytes], float: bool) -> Result<Self, RedisError> {
        let raw = arg(args, 3)?;
        let increment = if float {
            let increment = LongDouble::parse(&raw).ok_or(RedisError::NotFloat)?;
            if !increment.is_finite() {
                return Err(RedisError::ValueNanOrInfinity);
            }
            Increment::Float(increment)
        } else {
            Increment::Integer(int_arg(&raw)?)
        };
        Ok(HIncrBy { key: arg(args, 1)?, field: arg(args, 2)?, increment })
    }
}

impl Atomic for HIncrBy {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load_or_create(kv, &self.key, ValueType::Hash).await?;
        let mut meta = found.meta;
        let sub_key = meta.sub_key(SubKind::Field, &self.field);
        let current = if meta.size == 0 { None } else { kv.get(vec![sub_key.clone()]).await?.states.remove(0).value };
        let (text, reply) = match self.increment {
            Increment::Integer(increment) => {
                let old = match &current {
                    None => 0,
                    Some(value) => parse_i64(value).ok_or(RedisError::HashValueNotInteger)?,
                };
                let new = old.checked_add(increment).ok_or(RedisError::Overflow)?;
                (Bytes::from(new.to_string()), Reply::Integer(new))
            }
            Increment::Float(increment) => {
                let old = match &current {
                    None => LongDouble::parse(b"0"),
                    Some(value) => LongDouble::parse(value),
                }
                .ok_or(RedisError::HashValueNotFloat)?;
                let sum = old.add(increment);
                if !sum.is_finite() {
                    return Err(RedisError::NanOrInfinity);
                }
                let text = Bytes::from(sum.to_redis_string());
                (text.clone(), Reply::Bulk(text))
            }
        };
        if current.is_none() {
            meta.size += 1;
        }
        let put = Mutation::Put { key: sub_key, value: text, expiry: Expiry::Never };
        kv.write(Vec::new(), vec![put, save_meta(&self.key, &meta, found.expiry)]).await?;
        Ok(reply)
    }
}
