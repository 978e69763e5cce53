//! MULTI, EXEC, DISCARD, WATCH key [key ...] and UNWATCH, with Redis 7.0's replies.
//!
//! Between MULTI and EXEC the connection's commands are only checked the way Redis checks
//! them before queueing (unknown command, arity, NOAUTH) and queued as argument vectors;
//! EXEC parses and runs them in order against a [`Transaction`] (snapshot reads at one start
//! timestamp, buffered writes), collects each reply (a run-time error, syntax errors
//! included, is one element of the array and the other commands still apply), and commits
//! everything at once. If another client wrote a key the transaction read or writes meanwhile,
//! the store answers `Conflict` and EXEC runs the whole queue again from a fresh timestamp;
//! the client only sees the replies of the run that committed. WATCHed keys become exact
//! version conditions of the commit: if one changed, EXEC answers a null array and nothing
//! is applied.

use bytes::Bytes;

use super::{run, table, Action};
use crate::kv::{Condition, KvError, KvStore, TxnOutcome};
use crate::redis::error::RedisError;
use crate::redis::keyspace::kv_key;
use crate::redis::retry::backoff;
use crate::redis::session::{ServerContext, Session, WatchedKey};
use crate::redis::transaction::Transaction;
use crate::resp::{ProtocolVersion, Reply};

/// How often EXEC re-runs a transaction that lost a conflict before answering TRYAGAIN.
pub(crate) const MAX_EXEC_ATTEMPTS: u32 = 50;

const EXEC_ABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// The commands that run at once inside MULTI instead of being queued (Redis 7.0's
/// `processCommand`).
pub(crate) fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

pub(super) fn multi(session: &mut Session) -> Reply {
    if session.in_multi() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    session.transaction.queued = Some(Vec::new());
    session.transaction.dirty = false;
    Reply::ok()
}

pub(super) fn discard(session: &mut Session) -> Reply {
    if !session.in_multi() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    discard_transaction(session);
    Reply::ok()
}

/// Redis's `discardTransaction`: leaves MULTI and forgets the watched keys.
fn discard_transaction(session: &mut Session) {
    session.transaction = Default::default();
}

pub(super) fn unwatch(session: &mut Session) -> Reply {
    session.transaction.watched.clear();
    Reply::ok()
}

pub(super) fn queue(args: Vec<Bytes>, session: &mut Session) -> Reply {
    match &mut session.transaction.queued {
        Some(queued) => {
            queued.push(args);
            Reply::simple("QUEUED")
        }
        // Parsing only queues while MULTI is open, and nothing closes it in between.
        None => Reply::error("ERR EXEC without MULTI"),
    }
}

/// A command refused before running (Redis's `rejectCommand`): inside MULTI the transaction
/// is flagged so that EXEC answers EXECABORT; a refused EXEC discards the transaction at once.
pub(super) fn reject(error: Reply, exec: bool, session: &mut Session) -> Reply {
    if session.in_multi() {
        session.transaction.dirty = true;
    }
    if !exec {
        return error;
    }
    discard_transaction(session);
    let text = match &error {
        Reply::Error(text) => text.clone(),
        _ => Bytes::new(),
    };
    // Redis builds these errors without their `ERR ` code and prints them after the colon.
    let text = text.strip_prefix(b"ERR ").unwrap_or(&text);
    let mut out = b"EXECABORT Transaction discarded because of: ".to_vec();
    out.extend_from_slice(text);
    Reply::Error(Bytes::from(out))
}

pub(super) async fn watch<K: KvStore>(keys: &[Bytes], session: &mut Session, kv: &K) -> Result<Reply, RedisError> {
    if session.in_multi() {
        return Ok(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    // A key watched twice keeps what the first WATCH saw, as in Redis.
    let mut new_keys: Vec<Bytes> = Vec::new();
    for key in keys.iter().map(|k| kv_key(k)) {
        if !new_keys.contains(&key) && !session.transaction.watched.iter().any(|w| w.key == key) {
            new_keys.push(key);
        }
    }
    if new_keys.is_empty() {
        return Ok(Reply::ok());
    }
    let snapshot = kv.get(new_keys.clone()).await?;
    if snapshot.states.len() != new_keys.len() {
        return Err(RedisError::Kv(KvError::Internal("read returned the wrong number of keys".into())));
    }
    for (key, state) in new_keys.into_iter().zip(snapshot.states) {
        let expire_at_ms = if state.is_live() { state.expire_at_ms } else { None };
        let expired = !state.is_live() && state.version != 0;
        session.transaction.watched.push(WatchedKey { key, version: state.version, expire_at_ms, expired });
    }
    Ok(Reply::ok())
}

pub(super) async fn exec<K: KvStore>(session: &mut Session, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
    let Some(queued) = session.transaction.queued.take() else {
        return Ok(Reply::error("ERR EXEC without MULTI"));
    };
    // EXEC ends the transaction and unwatches everything, whatever happens next.
    let state = std::mem::take(&mut session.transaction);
    if state.dirty {
        return Ok(Reply::error(EXEC_ABORT));
    }
    let Some(conditions) = watch_conditions(&state.watched, kv).await? else {
        return Ok(Reply::NullArray);
    };
    let prefetch = prefetch_keys(&queued);
    for attempt in 0..MAX_EXEC_ATTEMPTS {
        let txn = Transaction::new(kv);
        if !prefetch.is_empty() {
            txn.prefetch(&prefetch).await?;
        }
        // Session commands (CLIENT SETNAME, HELLO...) change a copy that is kept only if the
        // transaction commits.
        let mut attempt_session = session.clone();
        let mut replies = Vec::with_capacity(queued.len());
        // PUBLISH is a side effect outside the store: it happens once the transaction has
        // committed (an attempt may be run again or discarded), in queue order.
        let mut publishes = Vec::new();
        for args in &queued {
            if let Some(publish) = queued_publish(args) {
                publishes.push((replies.len(), publish));
                replies.push((Reply::Null, attempt_session.protocol));
                continue;
            }
            let reply = match run_queued(args, &mut attempt_session, &txn, ctx).await {
                Ok(reply) => reply,
                // The store failed (unreachable, internal error): the transaction cannot be
                // trusted, so nothing is committed and EXEC answers the error.
                Err(RedisError::Kv(err @ (KvError::Unavailable(_) | KvError::TryAgain(_) | KvError::Internal(_)))) => {
                    return Err(RedisError::Kv(err));
                }
                Err(err) => err.to_reply(),
            };
            replies.push((reply, attempt_session.protocol));
        }
        let outcome = match txn.finish(conditions.clone()).await? {
            None => TxnOutcome::Committed { commit_ts: 0 },
            Some(commit) => kv.commit(commit).await?,
        };
        match outcome {
            TxnOutcome::Committed { .. } => {
                for _ in &queued {
                    ctx.count_command();
                }
                signal_blocked_clients(&queued, ctx).await;
                *session = attempt_session;
                // Subscriptions made by the transaction count for its own PUBLISHes.
                if !session.pubsub.pending.is_empty() {
                    ctx.pubsub.update(session.client_id, &std::mem::take(&mut session.pubsub.pending));
                }
                for (index, publish) in publishes {
                    if let Some(slot) = replies.get_mut(index) {
                        slot.0 = publish.apply(ctx).await;
                    }
                }
                return Ok(Reply::Array(pin_protocols(replies, session.protocol)));
            }
            TxnOutcome::ConditionFailed => return Ok(Reply::NullArray),
            TxnOutcome::Conflict => backoff(attempt).await,
        }
    }
    Err(RedisError::Kv(KvError::TryAgain(
        "transaction kept conflicting with concurrent writes and was discarded, retry".into(),
    )))
}

/// Wakes the clients blocked on the keys the committed transaction wrote, key by key in
/// command order, as Redis serves its ready keys: each key's waiters are served (a served
/// client wakes the next) before the next key is signalled, and all before EXEC's reply. A
/// spurious wake-up costs a client one empty try.
async fn signal_blocked_clients(queued: &[Vec<Bytes>], ctx: &ServerContext) {
    let mut keys: Vec<Bytes> = Vec::new();
    for args in queued {
        let Ok(spec) = table::lookup(args) else { continue };
        if spec.has_flag("write") {
            for key in spec.keys(args) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    for key in keys {
        ctx.key_waiters.signal(&key, 1).served().await;
    }
}

/// The commit conditions for the WATCHed keys (each key's version as WATCH saw it), or `None`
/// when EXEC must abort already because a watched key that was live with a TTL has expired
/// since (Redis's `isWatchedKeyExpired`: expiry alone changes no version until the core's
/// expiry sweeper deletes the key).
///
/// A key that had already expired when watched (an expired value keeps its version until it
/// is swept) may be expected with version 0 once the sweeper has deleted it: in Redis,
/// deleting an already expired watched key is no change either.
async fn watch_conditions<K: KvStore>(watched: &[WatchedKey], kv: &K) -> Result<Option<Vec<Condition>>, RedisError> {
    let mut conditions: Vec<Condition> =
        watched.iter().map(|w| Condition { key: w.key.clone(), expected_version: w.version }).collect();
    let mut checked: Vec<(&WatchedKey, &mut Condition)> =
        watched.iter().zip(&mut conditions).filter(|(w, _)| w.expire_at_ms.is_some() || w.expired).collect();
    if checked.is_empty() {
        return Ok(Some(conditions));
    }
    let snapshot = kv.get(checked.iter().map(|(w, _)| w.key.clone()).collect()).await?;
    if snapshot.states.len() != checked.len() {
        return Err(RedisError::Kv(KvError::Internal("read returned the wrong number of keys".into())));
    }
    for ((watched, condition), state) in checked.iter_mut().zip(&snapshot.states) {
        if watched.expire_at_ms.is_some_and(|at| at <= snapshot.now_ms) {
            return Ok(None);
        }
        if watched.expired && state.version == 0 {
            condition.expected_version = 0;
        }
    }
    Ok(Some(conditions))
}

/// The KV keys of the queued commands, so that EXEC reads them all in one round trip instead
/// of one per command. Keys of blind writes (SET, MSET...) are left out: their old values are
/// not needed (a SET with NX / GET / KEEPTTL reads its key when it runs).
fn prefetch_keys(queued: &[Vec<Bytes>]) -> Vec<Bytes> {
    let mut keys: Vec<Bytes> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for args in queued {
        let Ok(spec) = table::lookup(args) else { continue };
        if matches!(spec.name, "set" | "setex" | "psetex" | "mset") {
            continue;
        }
        for key in spec.keys(args) {
            let key = kv_key(&key);
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

/// A queued PUBLISH, which EXEC runs only after the commit.
fn queued_publish(args: &[Bytes]) -> Option<super::pubsub::Publish> {
    let spec = table::lookup(args).ok()?;
    match Action::parse(spec.name, args).ok()? {
        Action::Run(super::Kind::Publish(publish)) => Some(publish),
        _ => None,
    }
}

/// Parses and runs one queued command inside the transaction.
async fn run_queued<K: KvStore>(
    args: &[Bytes],
    session: &mut Session,
    txn: &Transaction<'_, K>,
    ctx: &ServerContext,
) -> Result<Reply, RedisError> {
    let spec = table::lookup(args)?;
    match Action::parse(spec.name, args)? {
        Action::Run(super::Kind::Eval(script)) => script.apply_in_transaction(session, txn, ctx).await,
        Action::Run(kind) => run(kind, session, txn, ctx).await,
        // EXEC already forgot the watched keys.
        Action::Unwatch => Ok(unwatch(session)),
        // MULTI, EXEC, DISCARD, WATCH and QUIT run at once inside MULTI and are never queued.
        _ => Err(RedisError::Kv(KvError::Internal(format!("'{}' cannot run inside EXEC", spec.name)))),
    }
}

/// Redis writes each EXEC element as it is produced: elements produced before a queued HELLO
/// switched protocols keep the protocol they were produced in.
fn pin_protocols(replies: Vec<(Reply, ProtocolVersion)>, last: ProtocolVersion) -> Vec<Reply> {
    replies
        .into_iter()
        .map(|(reply, proto)| if proto == last { reply } else { Reply::Pinned(proto, Box::new(reply)) })
        .collect()
}
