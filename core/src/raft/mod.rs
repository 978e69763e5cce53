//! openraft plumbing for one range: types, log storage, state machine, snapshots, network.

pub mod batch;
pub mod log_store;
pub mod network;
pub mod pending;
pub mod snapshot;
pub mod state_machine;
pub mod types;
