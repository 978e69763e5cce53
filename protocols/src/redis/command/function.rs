//! FUNCTION FLUSH [ASYNC|SYNC] | HELP — Strata has no scripting yet, so there are never
//! functions to flush. Redis's Tcl test suite calls FUNCTION FLUSH before every test group in
//! external-server mode.

use bytes::Bytes;

use super::client::help_reply;
use super::is_option;
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Function {
    Flush,
    Help,
}

impl Function {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(match name {
            "function|flush" => {
                match args.get(2) {
                    None => {}
                    Some(mode) if is_option(mode, "async") || is_option(mode, "sync") => {}
                    Some(_) => return Err(RedisError::FunctionFlushMode),
                }
                Function::Flush
            }
            _ => Function::Help,
        })
    }

    pub fn apply(self) -> Reply {
        match self {
            Function::Flush => Reply::ok(),
            Function::Help => help_reply(&[
                "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the libraries.",
                "    * SYNC: Synchronously flush the libraries.",
                "HELP",
                "    Print this help.",
            ]),
        }
    }
}
