//! The gateway's view of Redis configuration parameters (CONFIG GET / SET).
//!
//! Strata has no redis.conf: every parameter Redis 7.0 knows is reported with its default
//! ([`super::config_params::PARAMS`]), and CONFIG SET remembers new values per gateway (not
//! cluster-wide, not persisted). Values are checked like Redis checks them for booleans,
//! integers and memory sizes; other values are accepted as given. Few of them change what the
//! gateway does; clients and test suites mostly set them and read them back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::config_params::{Param, ParamKind, PARAMS};
use super::error::RedisError;
use super::notifications;

const KEYSPACE_EVENTS: &str = "notify-keyspace-events";

/// Parameters remembered by CONFIG SET, by canonical name.
#[derive(Debug, Default)]
pub struct ConfigStore {
    values: Mutex<HashMap<&'static str, String>>,
    /// `notify-keyspace-events` as flags, read after every write command.
    keyspace_events: AtomicU32,
    /// `maxmemory` in bytes (0: no limit), kept apart because every command consults it.
    maxmemory: AtomicU64,
}

/// Values the gateway itself knows (port, password, working directory).
pub(crate) struct LiveValues<'a> {
    pub(crate) port: u16,
    pub(crate) requirepass: Option<&'a str>,
}

/// Parameters CONFIG SET refuses although Redis accepts them: the gateway cannot move its
/// listener.
const FIXED_IN_STRATA: [&str; 3] = ["port", "bind", "requirepass"];

impl ConfigStore {
    /// The enabled keyspace notification classes ([`super::notifications`]).
    pub(crate) fn keyspace_events(&self) -> u32 {
        self.keyspace_events.load(Ordering::Relaxed)
    }

    /// The current value of a parameter by canonical name or alias.
    pub(crate) fn value(&self, name: &str, live: &LiveValues<'_>) -> Option<String> {
        let param = lookup(name)?;
        Some(self.value_of(param, live))
    }

    fn value_of(&self, param: &Param, live: &LiveValues<'_>) -> String {
        if let Some(value) = self.values.lock().unwrap_or_else(|e| e.into_inner()).get(param.name) {
            return value.clone();
        }
        match param.name {
            "port" => live.port.to_string(),
            "requirepass" => live.requirepass.unwrap_or_default().to_string(),
            "dir" => std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            _ => param.default.unwrap_or_default().to_string(),
        }
    }

    /// CONFIG GET pattern...: name / value pairs of every parameter (or alias) matching one of
    /// the glob patterns, each once, in table order.
    pub(crate) fn get(&self, patterns: &[Bytes], live: &LiveValues<'_>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for pattern in patterns {
            for param in PARAMS {
                for name in std::iter::once(param.name).chain(param.alias) {
                    let exact = pattern.eq_ignore_ascii_case(name.as_bytes());
                    if (exact || glob_match(pattern, name.as_bytes())) && !out.iter().any(|(n, _)| n == name) {
                        out.push((name.to_string(), self.value_of(param, live)));
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET name value [name value ...]: all or nothing, with Redis's errors.
    pub(crate) fn set(&self, pairs: &[Bytes]) -> Result<(), RedisError> {
        let mut updates: Vec<(&'static Param, String)> = Vec::new();
        // Redis first resolves every name (an unknown one wins over other errors)...
        let mut resolved = Vec::new();
        for pair in pairs.chunks(2) {
            let [name, value] = pair else { return Err(RedisError::Syntax) };
            let name_text = String::from_utf8_lossy(name).into_owned();
            let Some(param) = lookup(&name_text) else {
                return Err(RedisError::ConfigUnknownOption(name_text));
            };
            resolved.push((param, name_text, value));
        }
        // ...then refuses immutable and duplicate parameters...
        for (i, (param, name, _)) in resolved.iter().enumerate() {
            if param.immutable || FIXED_IN_STRATA.contains(&param.name) {
                return Err(RedisError::ConfigSetFailed { name: name.clone(), reason: "can't set immutable config" });
            }
            if resolved.iter().take(i).any(|(earlier, _, _)| std::ptr::eq(*earlier, *param)) {
                return Err(RedisError::ConfigSetFailed { name: name.clone(), reason: "duplicate parameter" });
            }
        }
        // ...then checks the values, reporting the canonical name.
        for (param, _, value) in resolved {
            let value = String::from_utf8_lossy(value).into_owned();
            check_value(param, &value)?;
            let value = match param.kind {
                ParamKind::Bool => value.to_ascii_lowercase(),
                ParamKind::Memory => parse_memory(&value).map_or(value, |n| n.to_string()),
                _ if param.name == KEYSPACE_EVENTS => {
                    let flags = notifications::parse_flags(&value).ok_or_else(|| RedisError::ConfigSetFailed {
                        name: param.name.to_string(),
                        reason: "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                    })?;
                    notifications::flags_to_string(flags)
                }
                _ => value,
            };
            updates.push((param, value));
        }
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        for (param, value) in updates {
            if param.name == KEYSPACE_EVENTS {
                let flags = notifications::parse_flags(&value).unwrap_or_default();
                self.keyspace_events.store(flags, Ordering::Relaxed);
            }
            if param.name == "maxmemory" {
                self.maxmemory.store(value.parse().unwrap_or(0), Ordering::Relaxed);
            }
            values.insert(param.name, value);
        }
        Ok(())
    }

    /// The `maxmemory` limit in bytes; 0 means none.
    pub(crate) fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }
}

fn lookup(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name)))
}

fn check_value(param: &Param, value: &str) -> Result<(), RedisError> {
    let reason = match param.kind {
        ParamKind::Bool if !value.eq_ignore_ascii_case("yes") && !value.eq_ignore_ascii_case("no") => {
            "argument must be 'yes' or 'no'"
        }
        ParamKind::Integer if value.parse::<i64>().is_err() => "argument couldn't be parsed into an integer",
        ParamKind::Memory if parse_memory(value).is_none() => "argument must be a memory value",
        _ => return Ok(()),
    };
    Err(RedisError::ConfigSetFailed { name: param.name.to_string(), reason })
}

/// Redis's `memtoull`: a number with an optional unit (b, k, kb, m, mb, g, gb; case-insensitive).
pub(crate) fn parse_memory(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// Redis's case-insensitive glob match (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes).
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let lower = |b: u8| b.to_ascii_lowercase();
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_match(rest, text.get(skip..).unwrap_or_default())),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, text.get(1..).unwrap_or_default()),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else { return false };
            let (negate, mut class) = match rest.split_first() {
                Some((b'^', after)) => (true, after),
                _ => (false, rest),
            };
            let mut matched = false;
            loop {
                match class {
                    [] => break,
                    [b']', after @ ..] => {
                        class = after;
                        break;
                    }
                    [b'\\', escaped, after @ ..] => {
                        matched |= *escaped == c;
                        class = after;
                    }
                    [start, b'-', end, after @ ..] if *end != b']' || after.is_empty() => {
                        let (lo, hi) = if start <= end { (*start, *end) } else { (*end, *start) };
                        matched |= (lower(lo)..=lower(hi)).contains(&lower(c));
                        class = after;
                    }
                    [single, after @ ..] => {
                        matched |= lower(*single) == lower(c);
                        class = after;
                    }
                }
            }
            matched != negate && glob_match(class, text_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => match (rest.split_first(), text.split_first()) {
            (Some((p, prest)), Some((t, trest))) => lower(*p) == lower(*t) && glob_match(prest, trest),
            _ => false,
        },
        Some((p, rest)) => match text.split_first() {
            Some((t, trest)) => lower(*p) == lower(*t) && glob_match(rest, trest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"maxmemory"));
        assert!(glob_match(b"max*", b"maxmemory-policy"));
        assert!(glob_match(b"MAXMEMORY", b"maxmemory"));
        assert!(glob_match(b"maxmemory-?olicy", b"maxmemory-policy"));
        assert!(glob_match(b"[a-m]axmemory", b"maxmemory"));
        assert!(!glob_match(b"[^m]axmemory", b"maxmemory"));
        assert!(glob_match(b"a\\*b", b"a*b"));
        assert!(!glob_match(b"a\\*b", b"axb"));
        assert!(!glob_match(b"max", b"maxmemory"));
    }

    #[test]
    fn memory_values_parse_with_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("abc"), None);
        assert_eq!(parse_memory("1xb"), None);
    }
}
