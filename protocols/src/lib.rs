//! Strata's protocol layer: the RESP wire format ([`resp`]) and Redis command semantics
//! ([`redis`]) written against the abstract [`kv::KvStore`] API, and the keyspace of the
//! public gRPC key-value API ([`grpc_kv`]) and of the gateways' membership leases ([`gateways`]).
//!
//! Nothing here does I/O: the gateway owns sockets and hands bytes in and replies out.

pub mod gateways;
pub mod grpc_kv;
pub mod kv;
pub mod redis;
pub mod resp;
pub mod s3;
