//! HRANDFIELD key [count [WITHVALUES]]

use bytes::Bytes;

use super::super::{arg, int_arg, is_option};
use crate::kv::KvStore;
use crate::redis::collection::random::{pick_distinct, pick_with_repetition, shuffle};
use crate::redis::collection::{load, sub_key_rest, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::{ProtocolVersion, Reply};

#[derive(Clone, Debug, PartialEq)]
pub struct HRandField {
    key: Bytes,
    /// `None`: one field as a bulk string; negative: with repetition.
    count: Option<i64>,
    with_values: bool,
    protocol: ProtocolVersion,
}

impl HRandField {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let key = arg(args, 1)?;
        let Some(count) = args.get(2) else {
            return Ok(HRandField { key, count: None, with_values: false, protocol: ProtocolVersion::Resp2 });
        };
        let count = int_arg(count)?;
        if count == i64::MIN {
            return Err(RedisError::ValueOutOfRange { min: -i64::MAX, max: i64::MAX });
        }
        let with_values = match args.get(3..).unwrap_or_default() {
            [] => false,
            [option] if is_option(option, "withvalues") => true,
            _ => return Err(RedisError::Syntax),
        };
        // The reply of count*2 elements must not overflow.
        if with_values && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
            return Err(RedisError::OutOfRange);
        }
        Ok(HRandField { key, count: Some(count), with_values, protocol: ProtocolVersion::Resp2 })
    }

    /// WITHVALUES replies are flat in RESP2 and [field, value] pairs in RESP3.
    pub fn for_protocol(mut self, protocol: ProtocolVersion) -> Self {
        self.protocol = protocol;
        self
    }
}

impl Atomic for HRandField {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let found = load(kv, &self.key, ValueType::Hash).await?;
        let Some(count) = self.count else {
            let Some(found) = found else { return Ok(Reply::Null) };
            let picked = pick_distinct(kv, &found.meta, SubKind::Field, 1).await?;
            return Ok(picked.first().map_or(Reply::Null, |(key, _)| Reply::Bulk(sub_key_rest(key))));
        };
        let Some(found) = found else { return Ok(Reply::Array(Vec::new())) };
        if count == 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let mut picked = if count > 0 {
            pick_distinct(kv, &found.meta, SubKind::Field, count.unsigned_abs()).await?
        } else {
            pick_with_repetition(kv, &found.meta, SubKind::Field, count.unsigned_abs()).await?
        };
        if count > 0 && picked.len() as u64 != found.meta.size {
            // A sample of part of the hash comes in random order, as in Redis.
            shuffle(&mut picked);
        }
        let mut items = Vec::with_capacity(picked.len() * if self.with_values { 2 } else { 1 });
        for (key, value) in picked {
            let field = Reply::Bulk(sub_key_rest(&key));
            match (self.with_values, self.protocol) {
                (false, _) => items.push(field),
                (true, ProtocolVersion::Resp3) => items.push(Reply::Array(vec![field, Reply::Bulk(value)])),
                (true, ProtocolVersion::Resp2) => items.extend([field, Reply::Bulk(value)]),
            }
        }
        Ok(Reply::Array(items))
    }
}
