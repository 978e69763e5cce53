//! RESET: back to a fresh connection's state (Redis's `clearClientConnectionState`).

use super::pubsub::unsubscribe_all_silently;
use crate::redis::session::{ServerContext, Session};
use crate::resp::{ProtocolVersion, Reply};

/// Leaves MULTI and forgets WATCHed keys, drops every subscription (without confirmations),
/// selects database 0, switches back to RESP2, forgets the client name and, when a password is
/// configured, the authentication. The library name and version stay (they describe the
/// client, as in Redis 7.2).
pub fn apply(session: &mut Session, ctx: &ServerContext) -> Reply {
    session.transaction = Default::default();
    unsubscribe_all_silently(session);
    session.db = 0;
    session.protocol = ProtocolVersion::Resp2;
    session.name = None;
    session.authenticated = ctx.requirepass.is_none();
    Reply::simple("RESET")
}
