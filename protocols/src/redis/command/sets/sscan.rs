//! SSCAN key cursor [MATCH pattern] [COUNT count]. See
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
pub struct SScan {
    key: Bytes,
    cursor: u64,
    /// Options are checked only once the key exists and is a set, as in Redis.
    options: Vec<Bytes>,
}

impl SScan {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let cursor = parse_cursor(&arg(args, 2)?)?;
        Ok(SScan { key: arg(args, 1)?, cursor, options: args.get(3..).unwrap_or_default().to_vec() })
    }
}

impl Atomic for SScan {
    type Output = Reply;

    async fn run<K: KvStore>(&self, kv: &K) -> Result<Reply, RedisError> {
        let Some(found) = load(kv, &self.key, ValueType::Set).await? else { return Ok(empty_scan_reply()) };
        let options = ScanOptions::parse(&self.options)?;
        let (next, entries) = scan_page(kv, &found.meta, SubKind::Member, self.cursor, &options).await?;
        Ok(scan_reply(next, entries.into_iter().map(|(member, _)| Reply::Bulk(member)).collect()))
    }
}
