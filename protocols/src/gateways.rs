//! Where gateways keep their membership leases in Strata's flat KV space.
//!
//! Gateways are stateless, but Redis Pub/Sub needs each gateway to know the others: every
//! gateway writes a lease `G` ([`LEASE_PREFIX`]) + its gateway id → the address its internal
//! gRPC service (`strata.gateway.v1.PubSub`) is reached at, with a short TTL that it keeps
//! renewing, and scans `[G, H)` to find its peers. A gateway that stops renewing (crashed,
//! partitioned from the core) drops out when its lease expires.
//!
//! | prefix | owner |
//! | --- | --- |
//! | `G` ([`LEASE_PREFIX`]) | gateway membership leases |
//! | `K` ([`crate::grpc_kv::KEY_PREFIX`]) | gRPC RawKV / TxnKV |
//! | `R` ([`crate::redis::keyspace::KEY_PREFIX`]) | Redis |

use bytes::{BufMut, Bytes, BytesMut};

/// First byte of every gateway lease key.
pub const LEASE_PREFIX: u8 = b'G';

/// The KV range holding every lease: `[start, end)`.
pub fn lease_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"G"), Bytes::from_static(b"H"))
}

/// The lease key of a gateway.
pub fn lease_key(gateway_id: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(gateway_id.len() + 1);
    out.put_u8(LEASE_PREFIX);
    out.put_slice(gateway_id.as_bytes());
    out.freeze()
}

/// The gateway id of a lease key, `None` outside the lease range or if not UTF-8.
pub fn gateway_id(kv_key: &[u8]) -> Option<&str> {
    let id = kv_key.strip_prefix(&[LEASE_PREFIX])?;
    std::str::from_utf8(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_live_apart_from_every_protocol() {
        let (start, end) = lease_range();
        for (other_start, other_end) in [crate::grpc_kv::keyspace_range(), crate::redis::keyspace::keyspace_range()] {
            assert!(end <= other_start || start >= other_end, "the keyspaces do not overlap");
        }
        let key = lease_key("00ff");
        assert!(key >= start && key < end);
        assert_eq!(gateway_id(&key), Some("00ff"));
        assert_eq!(gateway_id(b"Rfoo"), None);
    }
}
