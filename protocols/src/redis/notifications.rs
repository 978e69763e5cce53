//! Keyspace notifications (`notify-keyspace-events`): after a write command succeeded, the
//! gateway publishes `__keyspace@0__:<key> <event>` and / or `__keyevent@0__:<event> <key>`
//! through Pub/Sub, for the event classes enabled, as Redis's `notifyKeyspaceEvent` does.
//!
//! Strata derives the events from the command, its keys and its reply ([`EVENTS`]) instead of
//! raising them deep inside each command, so they cover the commands listed there and are
//! raised on the gateway that ran the command. Not raised: `expired` and `evicted` (the core
//! expires keys, nothing is evicted), `new`, `del` for a collection emptied by a pop or
//! removal, events of commands run inside MULTI / EXEC or scripts, of DEL with several keys
//! of which only some existed, and of the stream and module classes.

use bytes::Bytes;

use super::session::ServerContext;
use crate::resp::Reply;

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
const GENERIC: u32 = 1 << 2;
const STRING: u32 = 1 << 3;
const LIST: u32 = 1 << 4;
const SET: u32 = 1 << 5;
const HASH: u32 = 1 << 6;
const ZSET: u32 = 1 << 7;
const EXPIRED: u32 = 1 << 8;
const EVICTED: u32 = 1 << 9;
const STREAM: u32 = 1 << 10;
const KEY_MISS: u32 = 1 << 11;
const MODULE: u32 = 1 << 13;
const NEW: u32 = 1 << 14;
/// `A`: every class but key-miss and new.
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Redis's `keyspaceEventsStringToFlags`; `None` for an unknown class character.
pub fn parse_flags(classes: &str) -> Option<u32> {
    classes.chars().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// Redis's `keyspaceEventsFlagsToString` (CONFIG GET shows this normalised form).
pub fn flags_to_string(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    } else {
        for (flag, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & flag != 0 {
                text.push(c);
            }
        }
    }
    for (flag, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & flag != 0 {
            text.push(c);
        }
    }
    text
}

/// Which of the command's keys an event is about.
#[derive(Clone, Copy, Debug)]
enum Keys {
    All,
    First,
    Second,
}

/// When a reply means the command changed something worth an event.
#[derive(Clone, Copy, Debug)]
enum When {
    /// Any reply but an error.
    Succeeded,
    /// Not an error, a null, or the integer 0 (nothing added / removed / set).
    Changed,
    /// DEL / UNLINK: the reply counts the keys removed; only when it is all of them or none
    /// is it known which keys the events are for.
    AllRemoved,
}

struct Event {
    command: &'static str,
    class: u32,
    name: &'static str,
    keys: Keys,
    when: When,
}

const fn event(command: &'static str, class: u32, name: &'static str, keys: Keys, when: When) -> Event {
    Event { command, class, name, keys, when }
}

/// The events of each command, in the order Redis raises them; names as in Redis 7.0.
const EVENTS: &[Event] = &[
    event("del", GENERIC, "del", Keys::All, When::AllRemoved),
    event("unlink", GENERIC, "del", Keys::All, When::AllRemoved),
    event("expire", GENERIC, "expire", Keys::First, When::Changed),
    event("pexpire", GENERIC, "expire", Keys::First, When::Changed),
    event("expireat", GENERIC, "expire", Keys::First, When::Changed),
    event("pexpireat", GENERIC, "expire", Keys::First, When::Changed),
    event("persist", GENERIC, "persist", Keys::First, When::Changed),
    event("rename", GENERIC, "rename_from", Keys::First, When::Succeeded),
    event("rename", GENERIC, "rename_to", Keys::Second, When::Succeeded),
    event("renamenx", GENERIC, "rename_from", Keys::First, When::Changed),
    event("renamenx", GENERIC, "rename_to", Keys::Second, When::Changed),
    event("copy", GENERIC, "copy_to", Keys::Second, When::Changed),
    event("set", STRING, "set", Keys::First, When::Changed),
    event("setnx", STRING, "set", Keys::First, When::Changed),
    event("setex", STRING, "set", Keys::First, When::Succeeded),
    event("setex", GENERIC, "expire", Keys::First, When::Succeeded),
    event("psetex", STRING, "set", Keys::First, When::Succeeded),
    event("psetex", GENERIC, "expire", Keys::First, When::Succeeded),
    event("getset", STRING, "set", Keys::First, When::Succeeded),
    event("mset", STRING, "set", Keys::All, When::Succeeded),
    event("msetnx", STRING, "set", Keys::All, When::Changed),
    event("append", STRING, "append", Keys::First, When::Succeeded),
    event("incr", STRING, "incrby", Keys::First, When::Succeeded),
    event("decr", STRING, "decrby", Keys::First, When::Succeeded),
    event("incrby", STRING, "incrby", Keys::First, When::Succeeded),
    event("decrby", STRING, "decrby", Keys::First, When::Succeeded),
    event("incrbyfloat", STRING, "incrbyfloat", Keys::First, When::Succeeded),
    event("setrange", STRING, "setrange", Keys::First, When::Succeeded),
    event("getdel", GENERIC, "del", Keys::First, When::Changed),
    event("lpush", LIST, "lpush", Keys::First, When::Changed),
    event("lpushx", LIST, "lpush", Keys::First, When::Changed),
    event("rpush", LIST, "rpush", Keys::First, When::Changed),
    event("rpushx", LIST, "rpush", Keys::First, When::Changed),
    event("lpop", LIST, "lpop", Keys::First, When::Changed),
    event("rpop", LIST, "rpop", Keys::First, When::Changed),
    event("linsert", LIST, "linsert", Keys::First, When::Changed),
    event("lset", LIST, "lset", Keys::First, When::Succeeded),
    event("ltrim", LIST, "ltrim", Keys::First, When::Succeeded),
    event("lrem", LIST, "lrem", Keys::First, When::Changed),
    event("rpoplpush", LIST, "rpop", Keys::First, When::Changed),
    event("rpoplpush", LIST, "lpush", Keys::Second, When::Changed),
    event("sadd", SET, "sadd", Keys::First, When::Changed),
    event("srem", SET, "srem", Keys::First, When::Changed),
    event("spop", SET, "spop", Keys::First, When::Changed),
    event("hset", HASH, "hset", Keys::First, When::Succeeded),
    event("hmset", HASH, "hset", Keys::First, When::Succeeded),
    event("hsetnx", HASH, "hset", Keys::First, When::Changed),
    event("hincrby", HASH, "hincrby", Keys::First, When::Succeeded),
    event("hincrbyfloat", HASH, "hincrbyfloat", Keys::First, When::Succeeded),
    event("hdel", HASH, "hdel", Keys::First, When::Changed),
    event("zadd", ZSET, "zadd", Keys::First, When::Changed),
    event("zincrby", ZSET, "zincr", Keys::First, When::Succeeded),
    event("zrem", ZSET, "zrem", Keys::First, When::Changed),
];

fn applies(when: When, reply: &Reply, keys: usize) -> bool {
    match (when, reply) {
        (_, Reply::Error(_)) => false,
        (When::Succeeded, _) => true,
        (When::Changed, Reply::Null | Reply::NullArray | Reply::Integer(0)) => false,
        (When::Changed, _) => true,
        (When::AllRemoved, Reply::Integer(n)) => usize::try_from(*n).is_ok_and(|n| n > 0 && n == keys),
        (When::AllRemoved, _) => false,
    }
}

/// Publishes the keyspace events of command `command` (its full table name) on `keys`, which
/// answered `reply`, for the classes `ctx` has enabled.
pub(crate) fn after_command(command: &str, keys: &[Bytes], reply: &Reply, ctx: &ServerContext) {
    let flags = ctx.config.keyspace_events();
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    for spec in EVENTS.iter().filter(|e| e.command == command && flags & e.class != 0) {
        if !applies(spec.when, reply, keys.len()) {
            continue;
        }
        let chosen = match spec.keys {
            Keys::All => keys,
            Keys::First => keys.get(..1).unwrap_or_default(),
            Keys::Second => keys.get(1..2).unwrap_or_default(),
        };
        for key in chosen {
            notify(flags, spec.name, key, ctx);
        }
    }
}

/// Redis's `notifyKeyspaceEvent` for database 0 (Strata has one database).
fn notify(flags: u32, event: &str, key: &Bytes, ctx: &ServerContext) {
    // The message is queued when `publish` returns; the receiver count is not needed.
    if flags & KEYSPACE != 0 {
        let mut channel = b"__keyspace@0__:".to_vec();
        channel.extend_from_slice(key);
        drop(ctx.pubsub.publish(Bytes::from(channel), Bytes::copy_from_slice(event.as_bytes())));
    }
    if flags & KEYEVENT != 0 {
        let channel = format!("__keyevent@0__:{event}");
        drop(ctx.pubsub.publish(Bytes::from(channel), key.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_like_redis() {
        assert_eq!(parse_flags("gKE").map(flags_to_string).as_deref(), Some("gKE"));
        assert_eq!(parse_flags("$lshzxeKE").map(flags_to_string).as_deref(), Some("$lshzxeKE"));
        assert_eq!(parse_flags("KA").map(flags_to_string).as_deref(), Some("AK"));
        assert_eq!(parse_flags("EA").map(flags_to_string).as_deref(), Some("AE"));
        assert_eq!(parse_flags("").map(flags_to_string).as_deref(), Some(""));
        assert_eq!(parse_flags("Kq"), None);
    }

    #[test]
    fn events_follow_the_reply() {
        assert!(applies(When::Changed, &Reply::Integer(2), 1));
        assert!(!applies(When::Changed, &Reply::Integer(0), 1));
        assert!(!applies(When::Changed, &Reply::Null, 1));
        assert!(!applies(When::Succeeded, &Reply::error("ERR x"), 1));
        assert!(applies(When::AllRemoved, &Reply::Integer(2), 2));
        assert!(!applies(When::AllRemoved, &Reply::Integer(1), 2), "which key went is unknown");
    }
}
