//! SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms-ts | KEEPTTL],
//! and its older siblings SETNX, SETEX, PSETEX and GETSET, which are SET with fixed options
//! and their own reply shapes.
//!
//! A SET without NX / XX / GET needs no read: it is one blind write (KEEPTTL included, via
//! [`Expiry::Keep`]). The conditional and GET forms read the key and write conditioned on the
//! version they saw.

use bytes::Bytes;

use super::expiry_arg::{parse_expiry, Base, Unit};
use super::{arg, is_option};
use crate::kv::{Expiry, KvStore, Mutation, WriteOutcome};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{current_expiry, encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Existence {
    /// NX: only if the key does not exist.
    Absent,
    /// XX: only if the key exists.
    Present,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TtlChange {
    /// Plain SET clears any previous TTL.
    Clear,
    /// KEEPTTL.
    Keep,
    Set(Expiry),
}

/// How the command answers, which is all that differs between SET and its siblings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyShape {
    /// SET, SETEX, PSETEX: +OK, or null when NX / XX prevented the write.
    Ok,
    /// SETNX: 1 when set, 0 when not.
    Flag,
    /// SET ... GET and GETSET: the previous value (or null).
    Previous,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    key: Bytes,
    value: Bytes,
    only_if: Option<Existence>,
    ttl: TtlChange,
    shape: ReplyShape,
}

impl Set {
    pub fn parse_set(args: &[Bytes]) -> Result<Self, RedisError> {
        let mut only_if = None;
        let mut get = false;
        let mut keep_ttl = false;
        // (unit, base, raw argument) of EX / PX / EXAT / PXAT.
        let mut expire: Option<(Unit, Base, Bytes)> = None;
        let mut i = 3;
        while let Some(option) = args.get(i) {
            let next = args.get(i + 1);
            // A given expire option may repeat (the last one wins) but not mix with another.
            let expire_allowed = |unit, base| {
                !keep_ttl && next.is_some() && expire.as_ref().is_none_or(|(u, b, _)| (*u, *b) == (unit, base))
            };
            let expire_kind = if is_option(option, "ex") {
                Some((Unit::Seconds, Base::Relative))
            } else if is_option(option, "px") {
                Some((Unit::Milliseconds, Base::Relative))
            } else if is_option(option, "exat") {
                Some((Unit::Seconds, Base::Absolute))
            } else if is_option(option, "pxat") {
                Some((Unit::Milliseconds, Base::Absolute))
            } else {
                None
            };
            if is_option(option, "nx") && only_if != Some(Existence::Present) {
                only_if = Some(Existence::Absent);
            } else if is_option(option, "xx") && only_if != Some(Existence::Absent) {
                only_if = Some(Existence::Present);
            } else if is_option(option, "get") {
                get = true;
            } else if is_option(option, "keepttl") && expire.is_none() {
                keep_ttl = true;
            } else if let Some((unit, base)) = expire_kind.filter(|&(u, b)| expire_allowed(u, b)) {
                expire = Some((unit, base, arg(args, i + 1)?));
                i += 1;
            } else {
                return Err(RedisError::Syntax);
            }
            i += 1;
        }
        // Redis validates the expire value only after all options parsed cleanly.
        let ttl = match expire {
            Some((unit, base, raw)) => TtlChange::Set(parse_expiry(&raw, unit, base, "set")?),
            None if keep_ttl => TtlChange::Keep,
            None => TtlChange::Clear,
        };
        Ok(Set {
            key: arg(args, 1)?,
            value: arg(args, 2)?,
            only_if,
            ttl,
            shape: if get { ReplyShape::Previous } else { ReplyShape::Ok },
        })
    }

    /// SETNX key value
    pub fn parse_setnx(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Set {
            key: arg(args, 1)?,
            value: arg(args, 2)?,
            only_if: Some(Existence::Absent),
            ttl: TtlChange::Clear,
            shape: ReplyShape::Flag,
        })
    }

    /// SETEX key seconds value / PSETEX key milliseconds value
    pub fn parse_setex(args: &[Bytes], unit: Unit, command: &'static str) -> Result<Self, RedisError> {
        let expiry = parse_expiry(&arg(args, 2)?, unit, Base::Relative, command)?;
        Ok(Set {
            key: arg(args, 1)?,
            value: arg(args, 3)?,
            only_if: None,
            ttl: TtlChange::Set(expiry),
            shape: ReplyShape::Ok,
        })
    }

    /// GETSET key value
    pub fn parse_getset(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Set {
            key: arg(args, 1)?,
            value: arg(args, 2)?,
            only_if: None,
            ttl: TtlChange::Clear,
            shape: ReplyShape::Previous,
        })
    }

    fn success_reply(&self, previous: Option<Bytes>) -> Reply {
        match self.shape {
            ReplyShape::Ok => Reply::ok(),
            ReplyShape::Flag => Reply::Integer(1),
            ReplyShape::Previous => Reply::bulk_or_null(previous),
        }
    }

    fn skipped_reply(&self, previous: Option<Bytes>) -> Reply {
        match self.shape {
            ReplyShape::Ok => Reply::Null,
            ReplyShape::Flag => Reply::Integer(0),
            ReplyShape::Previous => Reply::bulk_or_null(previous),
        }
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        let value = encode_string(&self.value);
        if self.only_if.is_none() && self.shape != ReplyShape::Previous {
            let expiry = match self.ttl {
                TtlChange::Clear => Expiry::Never,
                TtlChange::Keep => Expiry::Keep,
                TtlChange::Set(expiry) => expiry,
            };
            return match kv.write(Vec::new(), vec![Mutation::Put { key, value, expiry }]).await? {
                WriteOutcome::Committed { .. } => Ok(self.success_reply(None)),
                // An unconditional write cannot fail its (absent) conditions.
                WriteOutcome::ConditionFailed => Ok(self.success_reply(None)),
            };
        }
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            // GET answers WRONGTYPE for a non-string before anything is written.
            let previous = if self.shape == ReplyShape::Previous { read_string(&state)? } else { None };
            let exists = state.is_live();
            let blocked = match self.only_if {
                Some(Existence::Absent) => exists,
                Some(Existence::Present) => !exists,
                None => false,
            };
            if blocked {
                return Ok(Plan::Done(self.skipped_reply(previous)));
            }
            let expiry = match self.ttl {
                TtlChange::Clear => Expiry::Never,
                TtlChange::Keep => current_expiry(&state),
                TtlChange::Set(expiry) => expiry,
            };
            let put = Mutation::Put { key: key.clone(), value: value.clone(), expiry };
            Ok(Plan::Write { mutations: vec![put], reply: self.success_reply(previous) })
        })
        .await
    }
}
