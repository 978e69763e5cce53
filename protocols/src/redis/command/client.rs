//! CLIENT ID | GETNAME | SETNAME name | SETINFO LIB-NAME|LIB-VER value | LIST [TYPE t | ID id...]
//! | INFO | KILL addr | KILL filter value... | NO-EVICT ON|OFF | REPLY ON|OFF|SKIP
//! | UNBLOCK id [TIMEOUT|ERROR] | HELP
//!
//! LIST, INFO and KILL work on the gateway's [`crate::redis::clients::ClientRegistry`]: they
//! see the connections of this gateway only (other gateways of the cluster have their own).

use bytes::Bytes;

use super::{arg, is_option};
use crate::redis::clients::{ClientHandle, ClientType, UnblockMode};
use crate::redis::error::RedisError;
use crate::redis::session::{ReplyMode, ServerContext, Session};
use crate::resp::{parse_i64, Reply};

#[derive(Clone, Debug, PartialEq)]
pub enum Client {
    Id,
    GetName,
    SetName(Bytes),
    SetInfo {
        attribute: LibAttribute,
        value: Bytes,
    },
    List(ListFilter),
    Info,
    Kill(KillFilter),
    NoEvict(bool),
    Reply(ReplyChoice),
    /// A client id that does not fit any connection (negative) unblocks nothing.
    Unblock {
        id: Option<u64>,
        mode: UnblockMode,
    },
    Help,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ListFilter {
    All,
    Type(ClientType),
    Ids(Vec<u64>),
}

/// CLIENT KILL's filters; the old form `CLIENT KILL addr` is `old_form` with only `addr`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KillFilter {
    old_form: bool,
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    client_type: Option<ClientType>,
    skip_me: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyChoice {
    On,
    Off,
    Skip,
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
            "client|list" => Client::List(parse_list(args)?),
            "client|info" => Client::Info,
            "client|kill" => Client::Kill(parse_kill(args)?),
            "client|no-evict" => {
                let choice = arg(args, 2)?;
                if is_option(&choice, "on") {
                    Client::NoEvict(true)
                } else if is_option(&choice, "off") {
                    Client::NoEvict(false)
                } else {
                    return Err(RedisError::Syntax);
                }
            }
            "client|reply" => {
                let choice = arg(args, 2)?;
                Client::Reply(if is_option(&choice, "on") {
                    ReplyChoice::On
                } else if is_option(&choice, "off") {
                    ReplyChoice::Off
                } else if is_option(&choice, "skip") {
                    ReplyChoice::Skip
                } else {
                    return Err(RedisError::Syntax);
                })
            }
            "client|unblock" => parse_unblock(args)?,
            _ => Client::Help,
        })
    }

    pub fn apply(self, session: &mut Session, ctx: &ServerContext) -> Result<Reply, RedisError> {
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
            Client::List(filter) => {
                if let Some(conn) = &session.conn {
                    // Redis shows this very command as the caller's last one.
                    conn.0.record("client|list", session);
                }
                let clients = match filter {
                    ListFilter::All => ctx.clients.list(),
                    ListFilter::Type(t) => ctx.clients.list().into_iter().filter(|c| c.is_type(t)).collect(),
                    ListFilter::Ids(ids) => ids.iter().filter_map(|id| ctx.clients.get(*id)).collect(),
                };
                let mut text = String::new();
                for client in clients {
                    text.push_str(&client.info_line());
                    text.push('\n');
                }
                Reply::Verbatim { format: *b"txt", text: Bytes::from(text) }
            }
            Client::Info => {
                let line = match &session.conn {
                    Some(conn) => {
                        // The registry entry is updated after each command; show this one.
                        conn.0.record("client|info", session);
                        conn.0.info_line()
                    }
                    None => ClientHandle::new(session.client_id, String::new(), String::new(), -1).info_line(),
                };
                Reply::Verbatim { format: *b"txt", text: Bytes::from(line + "\n") }
            }
            Client::Kill(filter) => kill(&filter, session, ctx)?,
            Client::NoEvict(on) => {
                session.no_evict = on;
                Reply::ok()
            }
            Client::Reply(choice) => {
                session.reply_mode = match (choice, session.reply_mode) {
                    (ReplyChoice::On, _) => ReplyMode::On,
                    (ReplyChoice::Off, _) => ReplyMode::Off,
                    // SKIP is ignored while replies are OFF.
                    (ReplyChoice::Skip, ReplyMode::Off) => ReplyMode::Off,
                    // Its own (empty) reply and the next command's are dropped.
                    (ReplyChoice::Skip, _) => ReplyMode::Skip(2),
                };
                Reply::ok()
            }
            Client::Unblock { id, mode } => {
                let unblocked = id.and_then(|id| ctx.clients.get(id)).is_some_and(|client| client.unblock(mode));
                Reply::Integer(i64::from(unblocked))
            }
            Client::Help => help_reply(&[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETINFO <option> <value>",
                "    Set client meta attr. Options are:",
                "    * LIB-NAME: the client lib name.",
                "    * LIB-VER: the client lib version.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "HELP",
                "    Print this help.",
            ]),
        })
    }
}

fn parse_list(args: &[Bytes]) -> Result<ListFilter, RedisError> {
    match args.get(2..).unwrap_or_default() {
        [] => Ok(ListFilter::All),
        [option, name] if is_option(option, "type") => ClientType::parse(name)
            .map(ListFilter::Type)
            .ok_or_else(|| RedisError::UnknownClientType(String::from_utf8_lossy(name).into_owned())),
        [option, ids @ ..] if is_option(option, "id") && !ids.is_empty() => ids
            .iter()
            .map(|id| parse_i64(id).and_then(|id| u64::try_from(id).ok()).ok_or(RedisError::InvalidClientId))
            .collect::<Result<Vec<_>, _>>()
            .map(ListFilter::Ids),
        _ => Err(RedisError::Syntax),
    }
}

fn parse_kill(args: &[Bytes]) -> Result<KillFilter, RedisError> {
    let options = args.get(2..).unwrap_or_default();
    if let [addr] = options {
        return Ok(KillFilter { old_form: true, addr: Some(addr.clone()), ..KillFilter::default() });
    }
    let mut filter = KillFilter { skip_me: true, ..KillFilter::default() };
    for pair in options.chunks(2) {
        let [option, value] = pair else { return Err(RedisError::Syntax) };
        if is_option(option, "id") {
            let id = parse_i64(value).filter(|id| *id >= 1).ok_or(RedisError::ClientIdNotPositive)?;
            filter.id = u64::try_from(id).ok();
        } else if is_option(option, "type") {
            filter.client_type = Some(
                ClientType::parse(value)
                    .ok_or_else(|| RedisError::UnknownClientType(String::from_utf8_lossy(value).into_owned()))?,
            );
        } else if is_option(option, "addr") {
            filter.addr = Some(value.clone());
        } else if is_option(option, "laddr") {
            filter.laddr = Some(value.clone());
        } else if is_option(option, "user") {
            // Only the default user exists (no ACLs).
            if value.as_ref() != b"default" {
                return Err(RedisError::NoSuchUser(String::from_utf8_lossy(value).into_owned()));
            }
        } else if is_option(option, "skipme") {
            filter.skip_me = if is_option(value, "yes") {
                true
            } else if is_option(value, "no") {
                false
            } else {
                return Err(RedisError::Syntax);
            };
        } else {
            return Err(RedisError::Syntax);
        }
    }
    Ok(filter)
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`; like Redis, the reason is checked before the id.
fn parse_unblock(args: &[Bytes]) -> Result<Client, RedisError> {
    if args.len() > 4 {
        return Err(RedisError::Syntax);
    }
    let mode = match args.get(3) {
        None => UnblockMode::Timeout,
        Some(reason) if is_option(reason, "timeout") => UnblockMode::Timeout,
        Some(reason) if is_option(reason, "error") => UnblockMode::Error,
        Some(_) => return Err(RedisError::UnblockReason),
    };
    let id = parse_i64(&arg(args, 2)?).ok_or(RedisError::NotInteger)?;
    Ok(Client::Unblock { id: u64::try_from(id).ok(), mode })
}

fn kill(filter: &KillFilter, session: &Session, ctx: &ServerContext) -> Result<Reply, RedisError> {
    let own_id = session.conn.as_ref().map_or(session.client_id, |conn| conn.0.id);
    let mut killed = 0;
    for client in ctx.clients.list() {
        let matches = filter.addr.as_ref().is_none_or(|addr| addr.as_ref() == client.addr.as_bytes())
            && filter.laddr.as_ref().is_none_or(|laddr| laddr.as_ref() == client.laddr.as_bytes())
            && filter.id.is_none_or(|id| id == client.id)
            && filter.client_type.is_none_or(|t| client.is_type(t))
            && !(filter.skip_me && client.id == own_id);
        if matches {
            // The connection closes itself; killing this one closes it after this reply.
            client.kill();
            killed += 1;
        }
    }
    if filter.old_form {
        if killed == 0 {
            Err(RedisError::NoSuchClient)
        } else {
            Ok(Reply::ok())
        }
    } else {
        Ok(Reply::Integer(killed))
    }
}

pub(crate) fn help_reply(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::simple(line)).collect())
}
