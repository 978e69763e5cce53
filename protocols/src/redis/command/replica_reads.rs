//! READONLY | READWRITE | CLIENT STALENESS [ms]: bounded-staleness reads for a connection
//! (docs/follower-reads.md).
//!
//! As in Redis Cluster, READONLY lets the connection's reads be served by replicas; here a
//! replica read is a bounded-staleness read: GET and MGET may miss writes acknowledged less
//! than the connection's bound before the read, never older ones. READWRITE goes back to
//! linearizable reads. CLIENT STALENESS sets the bound (0 = linearizable) and answers it when
//! given no argument. New connections start with the gateway's default
//! (`--redis-max-staleness-ms`, replica reads on when it is above 0). Reads inside MULTI/EXEC
//! and scripts stay snapshot reads of their transaction.

use bytes::Bytes;

use super::arg;
use crate::redis::error::RedisError;
use crate::redis::session::{ServerContext, Session};
use crate::resp::{parse_i64, Reply};

/// The bound READONLY uses when neither the connection nor the gateway set one.
pub const READONLY_DEFAULT_STALENESS_MS: u64 = 1_000;

#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaReads {
    ReadOnly,
    ReadWrite,
    SetStaleness(u64),
    GetStaleness,
}

impl ReplicaReads {
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        Ok(match name {
            "readonly" => ReplicaReads::ReadOnly,
            "readwrite" => ReplicaReads::ReadWrite,
            _ if args.len() < 3 => ReplicaReads::GetStaleness,
            _ => {
                let ms = parse_i64(&arg(args, 2)?).and_then(|ms| u64::try_from(ms).ok());
                ReplicaReads::SetStaleness(ms.ok_or(RedisError::NotInteger)?)
            }
        })
    }

    pub fn apply(self, session: &mut Session, ctx: &ServerContext) -> Reply {
        let mode = &mut session.replica_reads;
        match self {
            ReplicaReads::ReadOnly => {
                mode.allowed = true;
                if mode.max_staleness_ms == 0 {
                    mode.max_staleness_ms = match ctx.default_max_staleness_ms {
                        0 => READONLY_DEFAULT_STALENESS_MS,
                        ms => ms,
                    };
                }
                Reply::ok()
            }
            ReplicaReads::ReadWrite => {
                mode.allowed = false;
                Reply::ok()
            }
            ReplicaReads::SetStaleness(ms) => {
                mode.max_staleness_ms = ms;
                mode.allowed = ms > 0;
                Reply::ok()
            }
            ReplicaReads::GetStaleness => Reply::Integer(session.read_staleness_ms() as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn readonly_staleness_and_readwrite_set_the_connection_bound() {
        let ctx = ServerContext::new(6379, None);
        let mut session = Session::new(1, &ctx);
        assert_eq!(session.read_staleness_ms(), 0, "linearizable by default");
        ReplicaReads::ReadOnly.apply(&mut session, &ctx);
        assert_eq!(session.read_staleness_ms(), READONLY_DEFAULT_STALENESS_MS);
        let set = ReplicaReads::parse("client|staleness", &args(&["CLIENT", "STALENESS", "250"])).unwrap();
        set.apply(&mut session, &ctx);
        assert_eq!(session.read_staleness_ms(), 250);
        ReplicaReads::ReadWrite.apply(&mut session, &ctx);
        assert_eq!(session.read_staleness_ms(), 0);
        ReplicaReads::ReadOnly.apply(&mut session, &ctx);
        assert_eq!(session.read_staleness_ms(), 250, "READONLY keeps the connection's bound");
        let get = ReplicaReads::parse("client|staleness", &args(&["CLIENT", "STALENESS"])).unwrap();
        assert_eq!(get.apply(&mut session, &ctx), Reply::Integer(250));
        let bad = ReplicaReads::parse("client|staleness", &args(&["CLIENT", "STALENESS", "-1"]));
        assert_eq!(bad, Err(RedisError::NotInteger));
    }

    #[test]
    fn the_gateway_default_turns_replica_reads_on_for_new_connections() {
        let ctx = ServerContext::new(6379, None).with_default_staleness(500);
        let session = Session::new(1, &ctx);
        assert_eq!(session.read_staleness_ms(), 500);
    }
}
