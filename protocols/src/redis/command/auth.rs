//! AUTH [username] password — only the `default` user exists, guarded by `requirepass`.

use bytes::Bytes;

use super::arg;
use crate::redis::error::RedisError;
use crate::redis::session::{ServerContext, Session};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    username: Option<Bytes>,
    password: Bytes,
}

impl Auth {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        match args.len() {
            2 => Ok(Auth { username: None, password: arg(args, 1)? }),
            3 => Ok(Auth { username: Some(arg(args, 1)?), password: arg(args, 2)? }),
            _ => Err(RedisError::Syntax),
        }
    }

    pub fn apply(self, session: &mut Session, ctx: &ServerContext) -> Result<Reply, RedisError> {
        // The one-argument form is the legacy requirepass AUTH, which Redis refuses when no
        // password is configured (the default user then accepts any password via AUTH user pass).
        if self.username.is_none() && ctx.requirepass.is_none() {
            return Err(RedisError::AuthNotConfigured);
        }
        let username = self.username.unwrap_or_else(|| Bytes::from_static(b"default"));
        check_credentials(&username, &self.password, ctx)?;
        session.authenticated = true;
        Ok(Reply::ok())
    }
}

/// The `default` user with `requirepass` (or no password at all). A failed attempt leaves the
/// session's authentication state unchanged, as in Redis.
pub(crate) fn check_credentials(username: &[u8], password: &[u8], ctx: &ServerContext) -> Result<(), RedisError> {
    if username != b"default" {
        return Err(RedisError::WrongPass);
    }
    match &ctx.requirepass {
        None => Ok(()),
        Some(expected) if constant_time_eq(expected.as_bytes(), password) => Ok(()),
        Some(_) => Err(RedisError::WrongPass),
    }
}

/// Compares without an early exit so response timing does not leak the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
