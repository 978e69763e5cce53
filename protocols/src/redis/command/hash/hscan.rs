//! HSCAN key cursor [MATCH pattern] [COUNT count]. See
//! [`crate::redis::collection::cursor`] for what the cursor holds.

use bytes::Bytes;

use super::super::arg;
use crate::kv::KvStore;
use crate::redis::collection::cursor::{empty_scan_reply, parse_cursor, scan_page, scan_reply, ScanOptions};
use crate::redis::collection::{load, Atomic, SubKind};
use crate::redis::error::RedisError;
use crate::redis::keyspace::ValueType;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct HScan {
    key: Bytes,
    cursor: u64,
    /// Options are checked only once the key exists and is a hash, as in Redis.
    options: Vec<Bytes>,
}

impl HScan {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let cursor = parse_cursor(&arg(args, 2)?)?;
        Ok(HScan { key: arg(args, 1)?, cursor, options: args.get(3..).unwrap_or_default().to_vec() })
    }
}

impl Atomic for HScan {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Hash).await? else { return Ok(empty_scan_reply()) };
        let options = ScanOptions::parse(&self.options)?;
        let (next, entries) = scan_page(kv, &found.meta, SubKind::Field, self.cursor, &options).await?;
        let items = entries.into_iter().flat_map(|(field, value)| [Reply::Bulk(field), Reply::Bulk(value)]).collect();
        Ok(scan_reply(next, items))
    }
}
