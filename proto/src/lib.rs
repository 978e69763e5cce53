//! Protobuf messages and gRPC services shared by Strata's gateway and core.

pub mod core {
    tonic::include_proto!("strata.core.v1");
}
