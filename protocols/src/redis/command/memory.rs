//! MEMORY USAGE key [SAMPLES count] and MEMORY HELP.
//!
//! Strata keeps no per-key allocation to report, so USAGE answers an estimate in the spirit of
//! Redis's (object header + key + payload; per element for collections, from the metadata's
//! size), enough for tools and tests that only compare or sanity-check it.

use bytes::Bytes;

use super::{arg, int_arg, is_option};
use crate::kv::KvStore;
use crate::redis::collection::Meta;
use crate::redis::error::RedisError;
use crate::redis::keyspace::{kv_key, value_type, ValueType};
use crate::resp::Reply;

/// Bytes charged per key (dict entry + object header), and per collection element.
const KEY_OVERHEAD: u64 = 48;
const ELEMENT_OVERHEAD: u64 = 48;

#[derive(Clone, Debug, PartialEq)]
pub enum Memory {
    Usage { key: Bytes },
    Help,
}

impl Memory {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        if name == "memory|help" {
            return Ok(Memory::Help);
        }
        let key = arg(args, 2)?;
        let mut rest = args.get(3..).unwrap_or_default().iter();
        while let Some(option) = rest.next() {
            match rest.next() {
                Some(count) if is_option(option, "samples") => {
                    int_arg(count)?;
                }
                _ => return Err(RedisError::Syntax),
            }
        }
        Ok(Memory::Usage { key })
    }

    pub async fn apply<K: KvStore>(self, kv: &K) -> Result<Reply, RedisError> {
        let key = match self {
            Memory::Help => return Ok(help()),
            Memory::Usage { key } => key,
        };
        let read = kv.get(vec![kv_key(&key)]).await?;
        let Some(raw) = read.states.into_iter().next().and_then(|s| s.value) else { return Ok(Reply::Null) };
        let base = KEY_OVERHEAD + key.len() as u64;
        let estimate = match value_type(&raw)? {
            ValueType::String => base + raw.len() as u64,
            _ => base + Meta::decode(&raw)?.size * ELEMENT_OVERHEAD,
        };
        Ok(Reply::Integer(i64::try_from(estimate).unwrap_or(i64::MAX)))
    }
}

fn help() -> Reply {
    let lines = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::Simple(Bytes::from_static(l.as_bytes()))).collect())
}

#[cfg(test)]
mod tests {
    use crate::redis::command::test_support::{err, int, Harness};
    use crate::resp::Reply;

    #[tokio::test]
    async fn usage_estimates_existing_keys_and_answers_nil_for_missing_ones() {
        let mut h = Harness::new();
        h.run("SET foo bar").await;
        let Reply::Integer(small) = h.run("MEMORY USAGE foo").await else { panic!("not an integer") };
        h.run("SET foo barbarbarbarbarbarbarbarbarbarbar").await;
        let Reply::Integer(large) = h.run("MEMORY USAGE foo SAMPLES 5").await else { panic!("not an integer") };
        assert!(small > 0 && large > small, "{small} {large}");
        assert_eq!(h.run("HSET h a 1 b 2").await, int(2));
        assert!(matches!(h.run("MEMORY USAGE h").await, Reply::Integer(n) if n > 0));
        assert_eq!(h.run("MEMORY USAGE nokey").await, Reply::Null);
        assert_eq!(h.run("MEMORY USAGE foo samples x").await, err("ERR value is not an integer or out of range"));
        assert_eq!(h.run("MEMORY USAGE foo bogus 1").await, err("ERR syntax error"));
        assert!(matches!(h.run("MEMORY HELP").await, Reply::Array(lines) if lines.len() == 6));
    }
}
