//! LASTSAVE: Strata has no snapshots to wait for (every acknowledged write is already fsynced on
//! a quorum), so it reports the gateway's start time, like a Redis that never saved since boot.

use crate::redis::session::ServerContext;
use crate::resp::Reply;

pub fn apply(ctx: &ServerContext) -> Reply {
    Reply::Integer(i64::try_from(ctx.started_unix).unwrap_or(i64::MAX))
}
