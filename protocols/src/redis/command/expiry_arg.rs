//! Expiry arguments shared by SET, SETEX, PSETEX and GETEX (Redis's
//! `getExpireMillisecondsOrReply`).

use bytes::Bytes;

use super::int_arg;
use crate::kv::Expiry;
use crate::redis::error::RedisError;
use crate::redis::session::gateway_now_ms;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Milliseconds,
}

/// Whether an expiry argument is a duration (EX, PX) or a unix time (EXAT, PXAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    Relative,
    Absolute,
}

/// Parses an expiry argument into a KV [`Expiry`], rejecting what Redis rejects:
/// non-integers, values `<= 0`, and values that overflow once converted to absolute
/// milliseconds (`invalid expire time in '<command>' command`).
///
/// Relative expiries stay relative (the core's leader resolves them), but the overflow check
/// needs an absolute time, so it uses this gateway's clock as Redis uses its own.
pub fn parse_expiry(raw: &Bytes, unit: Unit, base: Base, command: &'static str) -> Result<Expiry, RedisError> {
    let value = int_arg(raw)?;
    let invalid = || RedisError::InvalidExpire(command);
    if value <= 0 {
        return Err(invalid());
    }
    let millis = match unit {
        Unit::Seconds => value.checked_mul(1000).ok_or_else(invalid)?,
        Unit::Milliseconds => value,
    };
    match base {
        Base::Relative => {
            millis.checked_add(gateway_now_ms()).ok_or_else(invalid)?;
            Ok(Expiry::AfterMs(millis as u64))
        }
        Base::Absolute => Ok(Expiry::AtUnixMs(millis as u64)),
    }
}
