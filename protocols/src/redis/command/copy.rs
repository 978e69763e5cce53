//! COPY source destination [DB destination-db] [REPLACE]: writes `source`'s value and expiry
//! (the same absolute instant) to `destination`, in one write conditioned on the versions of
//! both keys — atomic wherever they live.
//!
//! Strata has one database, so `DB 0` is the only index accepted; any other answers
//! `-ERR DB index is out of range`, as SELECT does (what a redis-server started with
//! `--databases 1` answers).
//!
//! The stored bytes (type tag and payload) are copied as they are. That is a complete copy
//! for strings; composite types, whose elements will live outside the key's record (see
//! [`crate::redis::keyspace`]), will need their elements copied too when they land.

use bytes::Bytes;

use super::{arg, int_arg, is_option};
use crate::kv::{KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, kv_key};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct CopyKey {
    source: Bytes,
    destination: Bytes,
    /// Overwrite an existing destination instead of answering 0.
    replace: bool,
}

impl CopyKey {
    /// Options are checked left to right and the first bad one answers, as in Redis's
    /// `copyCommand`; then copying a key onto itself is refused, before any key is read.
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let source = arg(args, 1)?;
        let destination = arg(args, 2)?;
        let mut replace = false;
        let mut i = 3;
        while let Some(option) = args.get(i) {
            if is_option(option, "replace") {
                replace = true;
            } else if let (true, Some(db)) = (is_option(option, "db"), args.get(i + 1)) {
                check_db(db)?;
                i += 1;
            } else {
                return Err(RedisError::Syntax);
            }
            i += 1;
        }
        if source == destination {
            return Err(RedisError::SameObject);
        }
        Ok(CopyKey { source, destination, replace })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let from = kv_key(&self.source);
        let to = kv_key(&self.destination);
        read_modify_write(kv, vec![from, to.clone()], |snapshot| {
            let source = snapshot.states.first().cloned().unwrap_or_default();
            let Some(value) = source.value.clone() else {
                return Ok(Plan::Done(Reply::Integer(0)));
            };
            let target_exists = snapshot.states.get(1).is_some_and(|state| state.is_live());
            if target_exists && !self.replace {
                return Ok(Plan::Done(Reply::Integer(0)));
            }
            // The put replaces whatever the destination held, its expiry included.
            let mutations = vec![Mutation::Put { key: to.clone(), value, expiry: current_expiry(&source) }];
            Ok(Plan::Write { mutations, reply: Reply::Integer(1) })
        })
        .await
    }
}

/// The `DB` argument: an integer that fits a C `int` (Redis's `getIntFromObjectOrReply`), and
/// then a database that exists — only 0 here.
fn check_db(db: &[u8]) -> Result<(), RedisError> {
    let index = int_arg(db)?;
    if i32::try_from(index).is_err() {
        return Err(RedisError::ValueOutOfRange { min: i32::MIN.into(), max: i32::MAX.into() });
    }
    if index != 0 {
        return Err(RedisError::DbIndexOutOfRange);
    }
    Ok(())
}
