//! TIME: the gateway's wall clock as `[seconds, microseconds]`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::resp::Reply;

pub fn apply() -> Reply {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(Bytes::from(now.as_secs().to_string())),
        Reply::bulk(Bytes::from(now.subsec_micros().to_string())),
    ])
}
