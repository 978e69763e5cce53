//! GETRANGE key start end: inclusive byte range, negative indexes count from the end.

use bytes::Bytes;

use super::{arg, int_arg};
use crate::kv::KvStore;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, read_string};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct GetRange {
    key: Bytes,
    start: i64,
    end: i64,
}

impl GetRange {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(GetRange { key: arg(args, 1)?, start: int_arg(&arg(args, 2)?)?, end: int_arg(&arg(args, 3)?)? })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let snapshot = kv.get(vec![kv_key(&self.key)]).await?;
        let state = snapshot.states.first().cloned().unwrap_or_default();
        let value = read_string(&state)?.unwrap_or_default();
        Ok(Reply::Bulk(byte_range(&value, self.start, self.end)))
    }
}

/// Redis's GETRANGE index arithmetic (an empty string when the range is empty).
fn byte_range(value: &Bytes, start: i64, end: i64) -> Bytes {
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let start = if start < 0 { len.saturating_add(start) } else { start }.max(0);
    let end = if end < 0 { len.saturating_add(end) } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return Bytes::new();
    }
    value.slice(start as usize..=end as usize)
}

#[cfg(test)]
mod tests {
    use super::byte_range;
    use bytes::Bytes;

    #[test]
    fn ranges_follow_redis() {
        let v = Bytes::from_static(b"This is a string");
        assert_eq!(byte_range(&v, 0, 3), "This");
        assert_eq!(byte_range(&v, -3, -1), "ing");
        assert_eq!(byte_range(&v, 0, -1), "This is a string");
        assert_eq!(byte_range(&v, 10, 100), "string");
        assert_eq!(byte_range(&v, 5, 3), "");
        assert_eq!(byte_range(&v, -1, -5), "");
        assert_eq!(byte_range(&v, -100, 2), "Thi");
        assert_eq!(byte_range(&v, i64::MIN, i64::MAX), "This is a string");
        assert_eq!(byte_range(&Bytes::new(), 0, -1), "");
    }
}
