//! EXPIRE / PEXPIRE key duration and EXPIREAT / PEXPIREAT key time, each with NX | XX | GT | LT.
//!
//! Relative times are based on the core's clock (`ReadSnapshot::now_ms`) because the key must
//! be read anyway to compare against its current expiry. A time at or before now deletes the
//! key, as in Redis.

use bytes::Bytes;

use super::expiry_arg::{Base, Unit};
use super::{arg, int_arg, is_option};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::kv_key;
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Flags {
    /// Whether the condition flags allow replacing `current` (None = no expiry) by `when`.
    fn allow(self, current: Option<i64>, when: i64) -> bool {
        match current {
            // No expiry counts as an infinite one: never "greater", always "less".
            None => !self.xx && !self.gt,
            Some(current) => {
                let refused = self.nx || (self.gt && when <= current) || (self.lt && when >= current);
                !refused
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expire {
    key: Bytes,
    time: i64,
    unit: Unit,
    base: Base,
    flags: Flags,
    command: &'static str,
}

impl Expire {
    /// `name` is one of `expire`, `pexpire`, `expireat`, `pexpireat`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let (unit, base, command) = match name {
            "expire" => (Unit::Seconds, Base::Relative, "expire"),
            "pexpire" => (Unit::Milliseconds, Base::Relative, "pexpire"),
            "expireat" => (Unit::Seconds, Base::Absolute, "expireat"),
            _ => (Unit::Milliseconds, Base::Absolute, "pexpireat"),
        };
        let mut flags = Flags::default();
        for option in args.get(3..).unwrap_or_default() {
            if is_option(option, "nx") {
                flags.nx = true;
            } else if is_option(option, "xx") {
                flags.xx = true;
            } else if is_option(option, "gt") {
                flags.gt = true;
            } else if is_option(option, "lt") {
                flags.lt = true;
            } else {
                return Err(RedisError::UnsupportedOption(String::from_utf8_lossy(option).into_owned()));
            }
        }
        if flags.nx && (flags.xx || flags.gt || flags.lt) {
            return Err(RedisError::ExpireNxConflict);
        }
        if flags.gt && flags.lt {
            return Err(RedisError::ExpireGtLtConflict);
        }
        let time = int_arg(&arg(args, 2)?)?;
        Ok(Expire { key: arg(args, 1)?, time, unit, base, flags, command })
    }

    /// The absolute expiry in unix ms, or the invalid-expire error when it overflows.
    fn absolute_ms(&self, now_ms: i64) -> Result<i64, RedisError> {
        let invalid = || RedisError::InvalidExpire(self.command);
        let millis = match self.unit {
            Unit::Seconds => self.time.checked_mul(1000).ok_or_else(invalid)?,
            Unit::Milliseconds => self.time,
        };
        match self.base {
            Base::Relative => millis.checked_add(now_ms).ok_or_else(invalid),
            Base::Absolute => Ok(millis),
        }
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let now_ms = i64::try_from(snapshot.now_ms).unwrap_or(i64::MAX);
            // Overflow is reported even when the key does not exist, as in Redis.
            let when = self.absolute_ms(now_ms)?;
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let Some(value) = state.value.clone() else {
                return Ok(Plan::Done(Reply::Integer(0)));
            };
            let current = state.expire_at_ms.map(|at| i64::try_from(at).unwrap_or(i64::MAX));
            if !self.flags.allow(current, when) {
                return Ok(Plan::Done(Reply::Integer(0)));
            }
            let mutation = if when <= now_ms {
                Mutation::Delete { key: key.clone() }
            } else {
                Mutation::Put { key: key.clone(), value, expiry: Expiry::AtUnixMs(when as u64) }
            };
            Ok(Plan::Write { mutations: vec![mutation], reply: Reply::Integer(1) })
        })
        .await
    }
}
