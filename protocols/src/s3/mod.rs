//! S3 semantics over the [`crate::kv::KvStore`] API, served through the `s3s` crate: the
//! [`service::StrataS3`] implementation of its `S3` trait dispatches each operation to a module
//! of [`op`]; [`store`] holds the storage layer (bucket records, object manifests, chunked
//! data, listing, chunk GC); [`error`] the typed errors mapped once to S3 error codes;
//! [`access`] the keys and the anonymous-access policy; [`host`] virtual-host addressing.

pub mod access;
pub mod acl;
pub mod checksum;
pub mod error;
pub mod host;
pub mod op;
pub mod request_id;
pub mod service;
pub mod store;
pub mod tags;

/// The region every bucket is in.
pub const REGION: &str = "us-east-1";
