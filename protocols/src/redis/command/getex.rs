//! GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]

use bytes::Bytes;

use super::expiry_arg::{parse_expiry, Base, Unit};
use super::{arg, is_option};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::keyspace::{encode_string, kv_key, read_string};
use crate::redis::retry::{read_modify_write, Plan};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq, Eq)]
enum TtlChange {
    Unchanged,
    Persist,
    /// The raw expire argument: Redis validates it only after finding the key, so GETEX on a
    /// missing key answers null even with an invalid time.
    Set(Unit, Base, Bytes),
}

#[derive(Clone, Debug, PartialEq)]
pub struct GetEx {
    key: Bytes,
    ttl: TtlChange,
}

impl GetEx {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let mut persist = false;
        let mut expire: Option<(Unit, Base, Bytes)> = None;
        let mut i = 2;
        while let Some(option) = args.get(i) {
            let next = args.get(i + 1);
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
            // As in SET: one kind of expire option (repeatable), exclusive with PERSIST.
            let expire_allowed = |kind: (Unit, Base)| {
                !persist && next.is_some() && expire.as_ref().is_none_or(|(u, b, _)| (*u, *b) == kind)
            };
            if is_option(option, "persist") && expire.is_none() {
                persist = true;
            } else if let Some((unit, base)) = expire_kind.filter(|&kind| expire_allowed(kind)) {
                expire = Some((unit, base, arg(args, i + 1)?));
                i += 1;
            } else {
                return Err(RedisError::Syntax);
            }
            i += 1;
        }
        let ttl = match expire {
            Some((unit, base, raw)) => TtlChange::Set(unit, base, raw),
            None if persist => TtlChange::Persist,
            None => TtlChange::Unchanged,
        };
        Ok(GetEx { key: arg(args, 1)?, ttl })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = kv_key(&self.key);
        read_modify_write(kv, vec![key.clone()], |snapshot| {
            let state = snapshot.states.first().cloned().unwrap_or_default();
            let Some(value) = read_string(&state)? else {
                return Ok(Plan::Done(Reply::Null));
            };
            let reply = Reply::Bulk(value.clone());
            let rewrite = |expiry| Mutation::Put { key: key.clone(), value: encode_string(&value), expiry };
            let mutation = match &self.ttl {
                TtlChange::Unchanged => return Ok(Plan::Done(reply)),
                TtlChange::Persist if state.expire_at_ms.is_none() => return Ok(Plan::Done(reply)),
                TtlChange::Persist => rewrite(Expiry::Never),
                TtlChange::Set(unit, base, raw) => {
                    match parse_expiry(raw, *unit, *base, "getex")? {
                        // An absolute time already past deletes the key, as in Redis.
                        Expiry::AtUnixMs(at) if at <= snapshot.now_ms => Mutation::Delete { key: key.clone() },
                        expiry => rewrite(expiry),
                    }
                }
            };
            Ok(Plan::Write { mutations: vec![mutation], reply })
        })
        .await
    }
}
