//! Optimistic read-modify-write: read keys, decide, write conditioned on the versions read,
//! and start over when another writer got there first.
//!
//! This is what keeps INCR, SET NX, MSETNX... atomic without locks in the gateway: the core
//! applies a write only if no condition's key changed since our read.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use bytes::Bytes;

use super::error::RedisError;
use crate::kv::{Condition, KvError, KvStore, Mutation, ReadSnapshot, WriteOutcome};

/// How often a conflicting read-modify-write is retried before giving up with TRYAGAIN.
pub(crate) const MAX_ATTEMPTS: u32 = 100;

/// What a command decided after looking at the keys it read.
pub(crate) enum Plan<T> {
    /// Nothing to write (e.g. SET NX on an existing key); answer right away.
    Done(T),
    /// Apply these mutations, then answer `reply` — unless a key read has changed meanwhile.
    Write { mutations: Vec<Mutation>, reply: T },
}

/// Runs `decide` against a fresh read of `keys` (KV keys) until its write commits.
///
/// `decide` must be a pure function of the snapshot: it may run several times.
pub(crate) async fn read_modify_write<K, T, F>(kv: &K, keys: Vec<Bytes>, mut decide: F) -> Result<T, RedisError>
where
    K: KvStore,
    F: FnMut(&ReadSnapshot) -> Result<Plan<T>, RedisError>,
{
    for attempt in 0..MAX_ATTEMPTS {
        let snapshot = kv.get(keys.clone()).await?;
        let (mutations, reply) = match decide(&snapshot)? {
            Plan::Done(reply) => return Ok(reply),
            Plan::Write { mutations, reply } => (mutations, reply),
        };
        let conditions = conditions_for(&keys, &snapshot);
        match kv.write(conditions, mutations).await? {
            WriteOutcome::Committed { .. } => return Ok(reply),
            WriteOutcome::ConditionFailed => backoff(attempt).await,
        }
    }
    Err(RedisError::Kv(KvError::TryAgain("too many concurrent modifications of the same key, retry".into())))
}

/// One condition per distinct key read, on the version we saw.
fn conditions_for(keys: &[Bytes], snapshot: &ReadSnapshot) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = Vec::with_capacity(keys.len());
    for (key, state) in keys.iter().zip(&snapshot.states) {
        if conditions.iter().any(|c| c.key == key) {
            continue;
        }
        conditions.push(Condition { key: key.clone(), expected_version: state.version });
    }
    conditions
}

/// A short randomized pause so that conflicting writers do not retry in lockstep.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling_us = 50 * u64::from(attempt.min(20) + 1);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let pause_us = hasher.finish() % ceiling_us;
    tokio::time::sleep(Duration::from_micros(pause_us)).await;
}
