//! End-to-end tests: real `strata` processes on loopback, real clients (the `redis` crate,
//! redis-cli, raw RESP), and a real redis-server as the reference for byte-level answers.

mod aws_cli;
mod catalog;
mod cluster;
mod compat;
mod dev;
mod durability;
mod expiry;
mod follower_reads;
mod grpc_api;
mod hashset;
mod hot_keys;
mod introspection;
mod keyspace;
mod lists;
mod protocol;
mod pubsub;
mod raw;
mod routing;
mod s3;
mod scripting;
mod split;
mod transactions;
mod zset;
