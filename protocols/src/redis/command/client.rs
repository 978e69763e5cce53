//! CLIENT ID | GETNAME | SETNAME name | SETINFO LIB-NAME|LIB-VER value | HELP

use bytes::Bytes;

use super::arg;
use crate::redis::error::RedisError;
use crate::redis::session::Session;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub enum Client {
    Id,
    GetName,
    SetName(Bytes),
    SetInfo { attribute: LibAttribute, value: Bytes },
    Help,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibAttribute {
    Name,
    Version,
}

/// Names and library info are shown in CLIENT LIST-style output, so Redis only allows
/// printable ASCII without spaces.
fn is_printable_token(value: &[u8]) -> bool {
    value.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

pub(crate) fn validate_client_name(name: &[u8]) -> Result<(), RedisError> {
    if is_printable_token(name) {
        Ok(())
    } else {
        Err(RedisError::InvalidClientName)
    }
}

impl Client {
    /// `name` is the resolved table entry, e.g. `client|setname`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(match name {
            "client|id" => Client::Id,
            "client|getname" => Client::GetName,
            "client|setname" => {
                let name = arg(args, 2)?;
                validate_client_name(&name)?;
                Client::SetName(name)
            }
            "client|setinfo" => {
                let raw_attribute = arg(args, 2)?;
                let attribute = if raw_attribute.eq_ignore_ascii_case(b"lib-name") {
                    LibAttribute::Name
                } else if raw_attribute.eq_ignore_ascii_case(b"lib-ver") {
                    LibAttribute::Version
                } else {
                    return Err(RedisError::UnrecognizedOption(String::from_utf8_lossy(&raw_attribute).into_owned()));
                };
                let value = arg(args, 3)?;
                if !is_printable_token(&value) {
                    return Err(RedisError::InvalidClientInfo(String::from_utf8_lossy(&raw_attribute).into_owned()));
                }
                Client::SetInfo { attribute, value }
            }
            _ => Client::Help,
        })
    }

    pub fn apply(self, session: &mut Session) -> Result<Reply, RedisError> {
        Ok(match self {
            Client::Id => Reply::Integer(i64::try_from(session.client_id).unwrap_or(i64::MAX)),
            Client::GetName => Reply::bulk_or_null(session.name.clone()),
            Client::SetName(name) => {
                session.name = (!name.is_empty()).then_some(name);
                Reply::ok()
            }
            Client::SetInfo { attribute, value } => {
                let value = (!value.is_empty()).then_some(value);
                match attribute {
                    LibAttribute::Name => session.lib_name = value,
                    LibAttribute::Version => session.lib_ver = value,
                }
                Reply::ok()
            }
            Client::Help => help_reply(&[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "SETINFO <option> <value>",
                "    Set client meta attr. Options are:",
                "    * LIB-NAME: the client lib name.",
                "    * LIB-VER: the client lib version.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "HELP",
                "    Print this help.",
            ]),
        })
    }
}

pub(crate) fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::simple(line)).collect())
}
