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

/// The internal API between gateways (`strata.gateway.v1`): Redis Pub/Sub delivery and
/// subscription counts across gateways; see `proto/strata/gateway.proto`.
pub mod gateway {
    tonic::include_proto!("strata.gateway.v1");
}
