//! Redis command semantics on top of [`crate::kv::KvStore`].
//!
//! # Gateway entry API
//!
//! For each connection the gateway keeps a [`Session`] (created with [`Session::new`]) and
//! shares one [`ServerContext`] behind an `Arc`. Then, for every request:
//!
//! 1. **Parse bytes.** [`crate::resp::parse_request`]`(&mut buf, &session.request_limits(&ctx))`
//!    → `Ok(None)`: read more; `Ok(Some(args))`: one command; `Err(e)`: write
//!    `e.to_reply()` and close the connection.
//! 2. **Parse the command.** [`Command::parse`]`(args, &session, &ctx)` → `Err(reply)` is the
//!    error to send (unknown command, arity, NOAUTH, syntax); nothing else happens.
//! 3. **Schedule.** [`Command::access`] → [`Access::Keys`]: may run concurrently with other
//!    pipelined commands whose key sets are disjoint (replies still go out in request order);
//!    [`Access::Barrier`]: wait for everything before it, run alone, then continue. MULTI,
//!    EXEC, DISCARD, WATCH, UNWATCH, every command queued inside MULTI and every command
//!    parsed while keys are WATCHed are barriers, so parse each request only after the
//!    barriers before it have run (the session's transaction state decides how it parses).
//!    A command refused before running (admission control) must be answered with
//!    [`Command::reject`], which updates the transaction state like Redis does.
//! 4. **Execute.** [`execute`]`(cmd, &mut session, &kv, &ctx).await` → [`Outcome`]. Barrier
//!    commands get the real session; keyed commands never modify it, so a clone is fine.
//!    Encode `outcome.reply` with `session.protocol` as it is *after* execution (HELLO 3
//!    answers in RESP3), and close the connection after writing it if `outcome.close`.
//!
//! The gateway also maintains `ctx.connected_clients` and `ctx.total_connections_received`.
//!
//! Pub/Sub: PUBLISH, PUBSUB and subscription changes go through `ctx.pubsub` ([`pubsub::PubSub`]).
//! Once a session [`Session::is_subscribed`], the gateway takes the connection's
//! [`pubsub::Inbox`] from its registry and writes the deliveries it receives
//! ([`pubsub::Delivery::to_reply`], encoded with the session's protocol) between replies.

pub mod blocking;
pub mod clients;
pub mod collection;
pub(crate) mod command;
pub mod config;
mod config_params;
pub mod error;
pub mod glob;
pub mod keyspace;
pub mod latches;
mod long_double;
pub mod notifications;
pub mod pubsub;
mod retry;
pub mod scripting;
pub mod session;
mod stats;
pub mod transaction;

pub use command::{execute, Access, Command, Outcome};
pub use error::RedisError;
pub use session::{ServerContext, Session, REDIS_VERSION};
