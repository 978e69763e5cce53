//! HELLO [protover [AUTH username password] [SETNAME clientname]]

use bytes::Bytes;

use super::{arg, auth::check_credentials, client::validate_client_name};
use crate::redis::error::RedisError;
use crate::redis::session::{ServerContext, Session};
use crate::resp::{parse_i64, ProtocolVersion, Reply};

#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    protocol: Option<ProtocolVersion>,
    credentials: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
}

impl Hello {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        let protocol = match args.get(1) {
            None => None,
            Some(raw) => match parse_i64(raw) {
                None => return Err(RedisError::ProtocolVersionNotInteger),
                Some(2) => Some(ProtocolVersion::Resp2),
                Some(3) => Some(ProtocolVersion::Resp3),
                Some(_) => return Err(RedisError::NoProto),
            },
        };
        let mut hello = Hello { protocol, credentials: None, name: None };
        let mut i = 2;
        while let Some(option) = args.get(i) {
            let remaining = args.len() - 1 - i;
            if option.eq_ignore_ascii_case(b"AUTH") && remaining >= 2 {
                hello.credentials = Some((arg(args, i + 1)?, arg(args, i + 2)?));
                i += 3;
            } else if option.eq_ignore_ascii_case(b"SETNAME") && remaining >= 1 {
                let name = arg(args, i + 1)?;
                validate_client_name(&name)?;
                hello.name = Some(name);
                i += 2;
            } else {
                return Err(RedisError::HelloSyntax(String::from_utf8_lossy(option).into_owned()));
            }
        }
        Ok(hello)
    }

    pub fn apply(self, session: &mut Session, ctx: &ServerContext) -> Result<Reply, RedisError> {
        if let Some((username, password)) = &self.credentials {
            check_credentials(username, password, ctx)?;
            session.authenticated = true;
        }
        if session.needs_auth(ctx) {
            return Err(RedisError::HelloNoAuth);
        }
        if let Some(name) = self.name {
            session.name = (!name.is_empty()).then_some(name);
        }
        if let Some(protocol) = self.protocol {
            session.protocol = protocol;
        }
        let field = |name: &'static str| Reply::bulk(Bytes::from_static(name.as_bytes()));
        Ok(Reply::Map(vec![
            (field("server"), field("redis")),
            (field("version"), field(ctx.redis_version)),
            (field("proto"), Reply::Integer(session.protocol.number())),
            (field("id"), Reply::Integer(i64::try_from(session.client_id).unwrap_or(i64::MAX))),
            (field("mode"), field("standalone")),
            (field("role"), field("master")),
            (field("modules"), Reply::Array(Vec::new())),
        ]))
    }
}
