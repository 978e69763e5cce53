//! SELECT index: Strata has one database, so only 0 is accepted.

use bytes::Bytes;

use super::{arg, int_arg};
use crate::redis::error::RedisError;
use crate::redis::session::Session;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    index: i64,
}

impl Select {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Select { index: int_arg(&arg(args, 1)?)? })
    }

    pub fn apply(self, session: &mut Session) -> Result<Reply, RedisError> {
        if self.index != 0 {
            return Err(RedisError::DbIndexOutOfRange);
        }
        session.db = 0;
        Ok(Reply::ok())
    }
}
