//! The route catalog: which ranges exist, their bounds, epochs, replicas and last known
//! leaders. The meta range owns it (`store`), serves it to gateways as a stream of deltas
//! (`service`), and learns about splits and leader changes from range leaders (`reporter`,
//! which calls the meta leader through `client`).

pub mod client;
pub mod reporter;
pub mod service;
pub mod store;
