//! Where the public gRPC key-value API (`strata.kv.v1` RawKV / TxnKV) keeps its keys in
//! Strata's flat KV space.
//!
//! Each protocol owns a one-byte prefix, so no protocol can see or clobber another's data:
//!
//! | prefix | owner |
//! | --- | --- |
//! | `K` ([`KEY_PREFIX`]) | gRPC RawKV / TxnKV: API key `k` is KV key `b"K" + k` |
//! | `R` ([`crate::redis::keyspace::KEY_PREFIX`]) | Redis |
//! | `G` ([`crate::gateways::LEASE_PREFIX`]) | gateway membership leases (Redis Pub/Sub across gateways) |
//! | `L` ([`crate::redis::scripting::SCRIPT_PREFIX`]) | Redis Lua script bodies: `b"L"` + lowercase SHA1 hex |
//!
//! (S3 will get its own prefix.) The API's keyspace is `[b"K", b"L")`: its scans and range
//! deletes are clamped to it, and the prefix is stripped from every key returned.

use bytes::{BufMut, Bytes, BytesMut};

/// First byte of every gRPC API key in the KV space.
pub const KEY_PREFIX: u8 = b'K';

/// The KV range holding every gRPC API key: `[start, end)`.
pub fn keyspace_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"K"), Bytes::from_static(b"L"))
}

/// The KV key of an API key.
pub fn kv_key(key: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(key.len() + 1);
    out.put_u8(KEY_PREFIX);
    out.put_slice(key);
    out.freeze()
}

/// The API key of a KV key, `None` if the KV key lies outside the API's keyspace.
pub fn api_key(kv_key: &Bytes) -> Option<Bytes> {
    (kv_key.first() == Some(&KEY_PREFIX)).then(|| kv_key.slice(1..))
}

/// The KV interval of the API interval `[start, end)` (empty `end` = unbounded): always a
/// bounded interval inside [`keyspace_range`].
pub fn kv_range(start: &[u8], end: &[u8]) -> (Bytes, Bytes) {
    let end = if end.is_empty() { keyspace_range().1 } else { kv_key(end) };
    (kv_key(start), end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_k_prefix_apart_from_redis() {
        assert_eq!(&kv_key(b"foo")[..], b"Kfoo");
        assert_eq!(api_key(&kv_key(b"foo")), Some(Bytes::from_static(b"foo")));
        assert_eq!(api_key(&crate::redis::keyspace::kv_key(b"foo")), None);
        let (start, end) = keyspace_range();
        let (redis_start, redis_end) = crate::redis::keyspace::keyspace_range();
        assert!(end <= redis_start || start >= redis_end, "the two keyspaces do not overlap");
        assert!(kv_key(b"").as_ref() >= start.as_ref());
        assert!(kv_key(&[0xff; 8]).as_ref() < end.as_ref());
    }

    #[test]
    fn api_intervals_stay_inside_the_keyspace() {
        assert_eq!(kv_range(b"", b""), keyspace_range());
        assert_eq!(kv_range(b"a", b"b"), (Bytes::from_static(b"Ka"), Bytes::from_static(b"Kb")));
        assert_eq!(kv_range(&[0xff], b""), (Bytes::from_static(b"K\xff"), Bytes::from_static(b"L")));
    }
}
