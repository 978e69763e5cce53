//! ECHO message

use bytes::Bytes;

use super::arg;
use crate::redis::error::RedisError;
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq)]
pub struct Echo {
    message: Bytes,
}

impl Echo {
    pub fn parse(args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(Echo { message: arg(args, 1)? })
    }

    pub fn apply(self) -> Reply {
        Reply::Bulk(self.message)
    }
}
