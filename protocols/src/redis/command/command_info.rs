//! COMMAND [COUNT | LIST | INFO [name...] | DOCS [name...] | HELP], answered from the table.
//!
//! Key specs, tips and argument docs are left empty: clients (redis-cli, redis-py) only need
//! names, arities, flags and key positions.

use bytes::Bytes;

use super::client::help_reply;
use super::table::{self, CommandSpec};
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum CommandInfo {
    /// Plain COMMAND: INFO for every command.
    All,
    Count,
    List,
    Info(Vec<Bytes>),
    Docs(Vec<Bytes>),
    /// COMMAND GETKEYS command arg...: the keys among the arguments.
    GetKeys(Vec<Bytes>),
    Help,
}

impl CommandInfo {
    /// `name` is the resolved table entry, e.g. `command|info`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let rest = || args.get(2..).unwrap_or_default().to_vec();
        Ok(match name {
            "command|count" => CommandInfo::Count,
            // FILTERBY is not supported; Redis answers a syntax error for malformed filters.
            "command|list" if args.len() == 2 => CommandInfo::List,
            "command|list" => return Err(RedisError::Syntax),
            "command|info" => CommandInfo::Info(rest()),
            "command|docs" => CommandInfo::Docs(rest()),
            "command|getkeys" => CommandInfo::GetKeys(rest()),
            _ => CommandInfo::Help,
        })
    }

    pub fn apply(self) -> Result<Reply, RedisError> {
        Ok(match self {
            CommandInfo::GetKeys(command) => {
                let spec = table::lookup(&command).map_err(|err| match err {
                    RedisError::WrongArity(_) => RedisError::GetKeysWrongArity,
                    _ => RedisError::GetKeysInvalidCommand,
                })?;
                let keys = spec.keys(&command);
                if spec.first_key <= 0 {
                    return Err(RedisError::GetKeysNoKeys);
                }
                Reply::Array(keys.into_iter().map(Reply::bulk).collect())
            }
            CommandInfo::All => Reply::Array(table::all().map(info_reply).collect()),
            CommandInfo::Count => Reply::Integer(table::all().count() as i64),
            CommandInfo::List => Reply::Array(
                table::all()
                    .flat_map(|spec| std::iter::once(spec).chain(spec.subcommands))
                    .map(|spec| name_reply(spec.name))
                    .collect(),
            ),
            CommandInfo::Info(names) if names.is_empty() => return CommandInfo::All.apply(),
            CommandInfo::Info(names) => {
                Reply::Array(names.iter().map(|name| table::find(name).map_or(Reply::Null, info_reply)).collect())
            }
            CommandInfo::Docs(names) if names.is_empty() => {
                Reply::Map(table::all().map(|spec| (name_reply(spec.name), docs_reply(spec))).collect())
            }
            CommandInfo::Docs(names) => Reply::Map(
                names
                    .iter()
                    .filter_map(|name| table::find(name))
                    .map(|spec| (name_reply(spec.name), docs_reply(spec)))
                    .collect(),
            ),
            CommandInfo::Help => help_reply(&[
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "HELP",
                "    Print this help.",
            ]),
        })
    }
}

fn name_reply(name: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(name.as_bytes()))
}

fn simple_set(items: &[&'static str]) -> Reply {
    Reply::Set(items.iter().map(|item| Reply::simple(item)).collect())
}

/// The 10-element COMMAND INFO entry of Redis 7.
fn info_reply(spec: &CommandSpec) -> Reply {
    Reply::Array(vec![
        name_reply(spec.name),
        Reply::Integer(i64::from(spec.arity)),
        simple_set(spec.flags),
        Reply::Integer(i64::from(spec.first_key)),
        Reply::Integer(i64::from(spec.last_key)),
        Reply::Integer(i64::from(spec.step)),
        simple_set(spec.acl_categories),
        Reply::Set(Vec::new()),
        Reply::Set(Vec::new()),
        Reply::Set(spec.subcommands.iter().map(info_reply).collect()),
    ])
}

fn docs_reply(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (name_reply("summary"), name_reply(spec.summary)),
        (name_reply("since"), name_reply(spec.since)),
        (name_reply("group"), name_reply(spec.group)),
        (name_reply("complexity"), name_reply(spec.complexity)),
    ];
    if !spec.subcommands.is_empty() {
        let subcommands = spec.subcommands.iter().map(|sub| (name_reply(sub.name), docs_reply(sub))).collect();
        fields.push((name_reply("subcommands"), Reply::Map(subcommands)));
    }
    Reply::Map(fields)
}
