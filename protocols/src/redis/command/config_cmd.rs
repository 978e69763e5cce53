//! CONFIG GET pattern... | SET name value... | RESETSTAT | REWRITE | HELP
//!
//! Parameters live in the gateway's [`crate::redis::config::ConfigStore`]: every Redis 7.0
//! parameter reads as its default until CONFIG SET changes it on this gateway.

use bytes::Bytes;

use super::client::help_reply;
use crate::redis::error::RedisError;
use crate::redis::session::ServerContext;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Config {
    Get(Vec<Bytes>),
    Set(Vec<Bytes>),
    ResetStat,
    Rewrite,
    Help,
}

impl Config {
    /// `name` is the resolved table entry, e.g. `config|get`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let rest = args.get(2..).unwrap_or_default().to_vec();
        Ok(match name {
            "config|get" => Config::Get(rest),
            // Name / value pairs; an odd count is a syntax error in Redis 7.0.
            "config|set" if rest.len() % 2 == 0 => Config::Set(rest),
            "config|set" => return Err(RedisError::Syntax),
            "config|resetstat" => Config::ResetStat,
            "config|rewrite" => Config::Rewrite,
            _ => Config::Help,
        })
    }

    pub fn apply(self, ctx: &ServerContext) -> Result<Reply, RedisError> {
        Ok(match self {
            Config::Get(patterns) => Reply::Map(
                ctx.config
                    .get(&patterns, &ctx.live_config())
                    .into_iter()
                    .map(|(name, value)| (Reply::bulk(Bytes::from(name)), Reply::bulk(Bytes::from(value))))
                    .collect(),
            ),
            Config::Set(pairs) => {
                ctx.config.set(&pairs)?;
                Reply::ok()
            }
            Config::ResetStat => {
                ctx.stats.reset();
                ctx.total_commands_processed.store(0, std::sync::atomic::Ordering::Relaxed);
                ctx.total_connections_received.store(0, std::sync::atomic::Ordering::Relaxed);
                Reply::ok()
            }
            // Strata is configured by flags and its own TOML file, never by redis.conf.
            Config::Rewrite => return Err(RedisError::NoConfigFile),
            Config::Help => help_reply(&[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Print this help.",
            ]),
        })
    }
}
