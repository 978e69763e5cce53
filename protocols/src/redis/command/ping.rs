//! PING [message]

use bytes::Bytes;

use crate::redis::error::RedisError;
use crate::redis::session::Session;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Ping {
    message: Option<Bytes>,
}

impl Ping {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        // The table allows any count; PING itself takes at most one message.
        if args.len() > 2 {
            return Err(RedisError::WrongArity("ping".into()));
        }
        Ok(Ping { message: args.get(1).cloned() })
    }

    pub fn apply(self, session: &Session) -> Reply {
        if let Some(reply) = super::pubsub::subscribed_ping(session, self.message.clone()) {
            return reply;
        }
        match self.message {
            None => Reply::simple("PONG"),
            Some(message) => Reply::Bulk(message),
        }
    }
}
