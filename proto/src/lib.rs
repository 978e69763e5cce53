//! Protobuf messages and gRPC services: the internal API between Strata's gateways and core
//! nodes ([`core`]) and the public key-value API the gateways serve ([`kv`]).

pub mod core {
    tonic::include_proto!("strata.core.v1");
}

/// The public RawKV / TxnKV API (`strata.kv.v1`), served by every gateway; see
/// `proto/strata/kv.proto` and `docs/grpc.md`.
pub mod kv {
    tonic::include_proto!("strata.kv.v1");
}

/// Test hooks shared by gateways and core nodes.
pub mod test_hooks {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    /// Test-only: `STRATA_TEST_DIAL_VIA="addr=proxy,addr=proxy"` makes a process reach `addr`
    /// through `proxy`. The fault-injection harness (`jepsen/`) gives every core node and every
    /// gateway its own proxy per core node, so it can cut any link in either direction.
    pub const DIAL_VIA_ENV: &str = "STRATA_TEST_DIAL_VIA";

    /// The address to dial to reach `addr`: itself unless [`DIAL_VIA_ENV`] redirects it.
    pub fn dial_address(addr: &str) -> &str {
        static MAP: OnceLock<HashMap<String, String>> = OnceLock::new();
        let map = MAP.get_or_init(|| {
            let raw = std::env::var(DIAL_VIA_ENV).unwrap_or_default();
            raw.split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(addr, proxy)| (addr.trim().to_string(), proxy.trim().to_string()))
                .collect()
        });
        map.get(addr).map(String::as_str).unwrap_or(addr)
    }
}

/// The internal API between gateways (`strata.gateway.v1`): Redis Pub/Sub delivery and
/// subscription counts across gateways; see `proto/strata/gateway.proto`.
pub mod gateway {
    tonic::include_proto!("strata.gateway.v1");
}
