//! Strata's core tier: ranges replicated with Raft (openraft) over RocksDB, MVCC versions
//! stamped by a timestamp oracle, transactions, and the gRPC services gateways and peers talk to.

// openraft's storage traits fix the (large) error type; boxing it would only add conversions.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod closed_ts;
pub mod gc;
pub mod hibernate;
pub mod hlc;
pub mod metrics;
pub mod mvcc;
pub mod node;
pub mod raft;
pub mod replica;
pub mod service;
pub mod split;
pub mod storage;
pub mod txn;

pub use node::{Node, NodeConfig, RaftTiming};
