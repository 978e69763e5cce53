//! SCRIPT LOAD script | EXISTS sha1 [sha1 ...] | FLUSH [ASYNC|SYNC] | KILL | HELP
//!
//! Bodies live in the store under [`crate::redis::scripting::SCRIPT_PREFIX`], so LOAD and
//! FLUSH act on every gateway; each gateway also keeps a cache (FLUSH clears this gateway's).

use bytes::Bytes;

use super::eval::{normalize_sha, store_script};
use super::{arg, is_option};
use crate::kv::{KvError, KvStore, Mutation};
use crate::redis::error::RedisError;
use crate::redis::scripting::vm::check_compiles;
use crate::redis::scripting::{script_key, script_range, sha1_hex};
use crate::redis::session::ServerContext;
use crate::resp::Reply;

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

#[derive(Clone, Debug, PartialEq)]
pub enum Script {
    Load(Bytes),
    Exists(Vec<Bytes>),
    Flush,
    Kill,
    Help,
}

impl Script {
    /// `name` is the table's `script|<sub>`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(match name {
            "script|load" => Script::Load(arg(args, 2)?),
            "script|exists" => Script::Exists(args.get(2..).unwrap_or_default().to_vec()),
            "script|flush" => {
                let mode_ok = match args.get(2..).unwrap_or_default() {
                    [] => true,
                    [mode] => is_option(mode, "async") || is_option(mode, "sync"),
                    _ => false,
                };
                if !mode_ok {
                    return Err(RedisError::Kv(KvError::Invalid("SCRIPT FLUSH only support SYNC|ASYNC option".into())));
                }
                Script::Flush
            }
            "script|kill" => Script::Kill,
            _ => Script::Help,
        })
    }

    pub async fn apply<K: KvStore>(self, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        match self {
            Script::Load(body) => {
                if let Err(reply) = check_compiles(&body) {
                    return Ok(reply);
                }
                let sha = sha1_hex(&body);
                store_script(&sha, body.clone(), kv).await?;
                ctx.scripts.remember(sha.clone(), body);
                Ok(Reply::bulk(sha))
            }
            Script::Exists(shas) => {
                let lookups: Vec<Option<String>> = shas.iter().map(|sha| normalize_sha(sha)).collect();
                let keys: Vec<Bytes> = lookups.iter().flatten().map(|sha| script_key(sha)).collect();
                let mut found = if keys.is_empty() { Vec::new() } else { kv.get(keys).await?.states }.into_iter();
                let answers = lookups
                    .iter()
                    .map(|lookup| {
                        let exists = lookup.is_some() && found.next().is_some_and(|state| state.value.is_some());
                        Reply::Integer(i64::from(exists))
                    })
                    .collect();
                Ok(Reply::Array(answers))
            }
            Script::Flush => {
                let (start, end) = script_range();
                kv.write(Vec::new(), vec![Mutation::DeleteRange { start, end }]).await?;
                ctx.scripts.forget_all();
                Ok(Reply::ok())
            }
            // A script never blocks other clients here (see docs/redis.md), so none is "busy".
            Script::Kill => Ok(Reply::error("NOTBUSY No scripts in execution right now.")),
            Script::Help => Ok(Reply::Array(HELP.iter().map(|line| Reply::simple(line)).collect())),
        }
    }
}
