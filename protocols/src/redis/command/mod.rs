//! Commands: each module parses an argument vector into a typed struct and applies it.
//!
//! [`Command::parse`] does the checks Redis does before running anything (unknown command,
//! arity, authentication) and then the command's own syntax checks; [`execute`] runs it.
//! Between MULTI and EXEC, commands are only checked and queued; see [`multi`].

mod append;
mod auth;
mod bitmap;
mod client;
pub(crate) mod combine;
mod command_info;
mod config_cmd;
mod copy;
mod dbsize;
mod del;
mod echo;
mod eval;
mod exists;
mod expire;
mod expiry_arg;
mod flush;
mod function;
mod get;
mod getdel;
mod getex;
mod getrange;
mod hash;
mod hello;
mod incr;
mod incrbyfloat;
mod info;
pub(crate) mod keyspace;
mod lastsave;
mod lcs;
mod list;
mod memory;
mod mget;
mod mset;
mod multi;
mod persist;
mod ping;
mod pubsub;
mod rename;
mod replica_reads;
mod reset;
mod script;
mod select;
mod set;
mod setrange;
mod sets;
mod strlen;
pub(crate) mod table;
mod time;
mod ttl;
mod type_cmd;
mod wait;
mod zset;

use bytes::Bytes;

use super::error::RedisError;
use super::session::{ServerContext, Session};
use crate::kv::KvStore;
use crate::resp::{parse_i64, Reply};

/// A parsed command, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    action: Action,
    /// The Redis keys it touches, from the command table's key positions.
    keys: Vec<Bytes>,
    /// Parsed while a MULTI was open or keys were WATCHed: runs in order, alone.
    serial: bool,
    /// A write that latches its keys while it runs (see [`crate::redis::latches`]).
    latch: bool,
    /// Full name from the command table (`get`, `client|list`); empty for a refusal.
    name: &'static str,
}

/// What a command needs to run safely next to others in a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Touches exactly these Redis keys (possibly none) and not the session: may run
    /// concurrently with commands on disjoint keys.
    Keys(Vec<Bytes>),
    /// Reads or changes the session, or the whole keyspace: must run alone, in order.
    Barrier,
}

/// The result of [`execute`].
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub reply: Reply,
    /// Close the connection after writing `reply` (QUIT).
    pub close: bool,
}

/// What [`execute`] does with a command: run it, or one of the transaction steps that touch
/// the connection's MULTI / WATCH state.
#[derive(Clone, Debug, PartialEq)]
enum Action {
    Run(Kind),
    Multi,
    Exec,
    Discard,
    /// WATCH; the keys are the command's keys.
    Watch,
    Unwatch,
    /// A command sent between MULTI and EXEC: its arguments, parsed and run by EXEC.
    Queue(Vec<Bytes>),
    /// A command refused before running whose refusal changes the transaction state (inside
    /// MULTI, or any refused EXEC): see [`multi::reject`].
    Reject {
        error: Reply,
        exec: bool,
    },
}

impl Action {
    fn parse(name: &str, args: &[Bytes]) -> Result<Action, RedisError> {
        Ok(match name {
            "multi" => Action::Multi,
            "exec" => Action::Exec,
            "discard" => Action::Discard,
            "watch" => Action::Watch,
            "unwatch" => Action::Unwatch,
            _ => Action::Run(Kind::parse(name, args)?),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Ping(ping::Ping),
    Echo(echo::Echo),
    Hello(hello::Hello),
    Auth(auth::Auth),
    Select(select::Select),
    Quit,
    Client(client::Client),
    CommandInfo(command_info::CommandInfo),
    Info(info::Info),
    DbSize,
    Flush,
    Get(get::Get),
    ReplicaReads(replica_reads::ReplicaReads),
    Set(set::Set),
    GetDel(getdel::GetDel),
    GetEx(getex::GetEx),
    MGet(mget::MGet),
    MSet(mset::MSet),
    Del(del::Del),
    Exists(exists::Exists),
    Type(type_cmd::Type),
    Rename(rename::Rename),
    Copy(copy::CopyKey),
    Incr(incr::Incr),
    IncrByFloat(incrbyfloat::IncrByFloat),
    Append(append::Append),
    Strlen(strlen::Strlen),
    Lcs(lcs::Lcs),
    GetRange(getrange::GetRange),
    SetRange(setrange::SetRange),
    Expire(expire::Expire),
    Ttl(ttl::Ttl),
    Persist(persist::Persist),
    Hash(hash::Hash),
    Subscription(pubsub::Subscription),
    Publish(pubsub::Publish),
    Pubsub(pubsub::PubsubQuery),
    Reset,
    Eval(eval::Eval),
    Script(script::Script),
    Sets(sets::Sets),
    List(list::List),
    ZSet(zset::ZSet),
    Keyspace(keyspace::Keyspace),
    Bitmap(bitmap::Bitmap),
    Config(config_cmd::Config),
    Time,
    Save,
    Shutdown,
    LastSave,
    Wait(wait::Wait),
    Memory(memory::Memory),
    Function(function::Function),
}

impl Command {
    /// Parses one request. On failure returns the error reply Redis would send.
    ///
    /// Checks run in Redis's order: unknown command / subcommand, arity, authentication
    /// (NOAUTH), then the command's own syntax. Inside MULTI only the first three run and the
    /// command is queued; a failure there (and any failure of EXEC) is returned as a command
    /// whose execution records it in the session, as Redis's `rejectCommand` does.
    pub fn parse(args: Vec<Bytes>, session: &Session, ctx: &ServerContext) -> Result<Command, Reply> {
        match Self::try_parse(&args, session, ctx) {
            Ok(cmd) => Ok(cmd),
            Err(err) => {
                let exec = args.first().is_some_and(|name| name.eq_ignore_ascii_case(b"exec"));
                if session.in_multi() || exec {
                    let action = Action::Reject { error: err.to_reply(), exec };
                    Ok(Command { action, keys: Vec::new(), serial: true, latch: false, name: "" })
                } else {
                    let reply = err.to_reply();
                    record_errors(&reply, ctx);
                    Err(reply)
                }
            }
        }
    }

    fn try_parse(args: &[Bytes], session: &Session, ctx: &ServerContext) -> Result<Command, RedisError> {
        let spec = table::lookup(args).inspect_err(|err| {
            if let RedisError::WrongArity(name) = err {
                ctx.stats.record_rejected(name);
            }
        })?;
        if session.needs_auth(ctx) && !spec.has_flag("no_auth") {
            ctx.stats.record_rejected(spec.name);
            return Err(RedisError::NoAuth);
        }
        if session.is_subscribed()
            && session.protocol == crate::resp::ProtocolVersion::Resp2
            && !pubsub::allowed_when_subscribed(spec.name)
        {
            return Err(RedisError::SubscribedContext(spec.name));
        }
        if session.in_multi() && spec.has_flag("no_multi") {
            ctx.stats.record_rejected(spec.name);
            return Err(RedisError::NotAllowedInMulti);
        }
        if refused_for_memory(spec, session, ctx) {
            ctx.stats.record_rejected(spec.name);
            return Err(RedisError::OutOfMemory);
        }
        let keys = spec.keys(args);
        // Commands whose keys the table cannot locate (numkeys arguments) run alone, so that
        // pipelined commands on the same keys can never overtake each other.
        let serial = session.in_multi() || session.is_watching() || spec.has_flag("movablekeys");
        let name = spec.name;
        if session.in_multi() && !multi::runs_inside_multi(spec.name) {
            return Ok(Command { action: Action::Queue(args.to_vec()), keys, serial, latch: false, name });
        }
        // A command's own syntax errors count as a failed call, as in Redis, where the
        // command runs and answers the error.
        let action = Action::parse(spec.name, args).inspect_err(|_| ctx.stats.record_call(name, 0, true))?;
        let latch = matches!(action, Action::Run(_))
            && spec.has_flag("write")
            && !spec.has_flag("blocking")
            && !spec.has_flag("movablekeys")
            && !keys.is_empty();
        Ok(Command { action, keys, serial, latch, name })
    }

    /// How this command may be scheduled relative to its neighbours in a pipeline.
    pub fn access(&self) -> Access {
        let Action::Run(kind) = &self.action else {
            // MULTI, EXEC, WATCH... and queueing change the connection's transaction state.
            return Access::Barrier;
        };
        if self.serial {
            // Inside MULTI or under WATCH the connection runs strictly in order, like Redis.
            return Access::Barrier;
        }
        match kind {
            Kind::Hello(_)
            | Kind::Auth(_)
            | Kind::Select(_)
            | Kind::Quit
            | Kind::Client(_)
            | Kind::ReplicaReads(_)
            | Kind::Config(_)
            | Kind::Info(_)
            | Kind::DbSize
            | Kind::Flush
            | Kind::Subscription(_)
            | Kind::Reset
            // A script may touch any key, and SCRIPT changes what EVALSHA finds.
            | Kind::Eval(_)
            | Kind::Script(_) => Access::Barrier,
            // A blocked command holds up the rest of its connection's pipeline, as in Redis.
            Kind::List(list) if list.blocks() => Access::Barrier,
            Kind::ZSet(zset) if zset.blocks() => Access::Barrier,
            Kind::Keyspace(k) if k.is_keyspace_wide() => Access::Barrier,
            _ => Access::Keys(self.keys.clone()),
        }
    }

    /// Whether the command may block waiting for data (BLPOP & co.): the gateway runs it
    /// without an admission permit and watches the connection for a hangup meanwhile
    /// ([`Session::hangup`]).
    pub fn blocks(&self) -> bool {
        match &self.action {
            Action::Run(Kind::List(list)) => list.blocks(),
            Action::Run(Kind::ZSet(zset)) => zset.blocks(),
            _ => false,
        }
    }

    /// The reply for a command refused before running, e.g. by the gateway's admission
    /// control (`error` is the refusal, such as `-TRYAGAIN ...`). Like Redis's
    /// `rejectCommand`, a refusal inside MULTI flags the transaction (EXEC will answer
    /// EXECABORT) and a refused EXEC discards the transaction and answers
    /// `-EXECABORT Transaction discarded because of: <error>`.
    pub fn reject(&self, error: Reply, session: &mut Session) -> Reply {
        let exec = matches!(self.action, Action::Exec | Action::Reject { exec: true, .. });
        multi::reject(error, exec, session)
    }
}

/// Redis's `maxmemory` check in `processCommand` (policy `noeviction`: Strata never evicts).
/// Above the limit a command that may grow memory (`denyoom`) is refused; so is anything
/// queued inside MULTI, and EXEC of a transaction holding a `denyoom` command. DISCARD,
/// QUIT, RESET and reads always run. "Used memory" is this gateway's resident set, what
/// INFO memory reports as `used_memory`.
fn refused_for_memory(spec: &table::CommandSpec, session: &Session, ctx: &ServerContext) -> bool {
    let maxmemory = ctx.config.maxmemory();
    if maxmemory == 0 {
        return false;
    }
    let may_grow = match spec.name {
        "exec" => session
            .transaction
            .queued
            .iter()
            .flatten()
            .any(|queued| table::lookup(queued).is_ok_and(|queued_spec| queued_spec.has_flag("denyoom"))),
        "discard" | "quit" | "reset" => false,
        _ => spec.has_flag("denyoom") || session.in_multi(),
    };
    may_grow && info::resident_memory_bytes() > maxmemory
}

impl Kind {
    fn parse(name: &str, args: &[Bytes]) -> Result<Kind, RedisError> {
        Ok(match name {
            "ping" => Kind::Ping(ping::Ping::parse(args)?),
            "echo" => Kind::Echo(echo::Echo::parse(args)?),
            "hello" => Kind::Hello(hello::Hello::parse(args)?),
            "auth" => Kind::Auth(auth::Auth::parse(args)?),
            "select" => Kind::Select(select::Select::parse(args)?),
            "quit" => Kind::Quit,
            "readonly" | "readwrite" | "client|staleness" => {
                Kind::ReplicaReads(replica_reads::ReplicaReads::parse(name, args)?)
            }
            n if n.starts_with("client|") => Kind::Client(client::Client::parse(n, args)?),
            "command" => Kind::CommandInfo(command_info::CommandInfo::All),
            n if n.starts_with("command|") => Kind::CommandInfo(command_info::CommandInfo::parse(n, args)?),
            "info" => Kind::Info(info::Info::parse(args)),
            "dbsize" => Kind::DbSize,
            "flushdb" | "flushall" => {
                flush::parse(args)?;
                Kind::Flush
            }
            "get" => Kind::Get(get::Get::parse(args)?),
            "set" => Kind::Set(set::Set::parse_set(args)?),
            "setnx" => Kind::Set(set::Set::parse_setnx(args)?),
            "setex" => Kind::Set(set::Set::parse_setex(args, expiry_arg::Unit::Seconds, "setex")?),
            "psetex" => Kind::Set(set::Set::parse_setex(args, expiry_arg::Unit::Milliseconds, "psetex")?),
            "getset" => Kind::Set(set::Set::parse_getset(args)?),
            "getdel" => Kind::GetDel(getdel::GetDel::parse(args)?),
            "getex" => Kind::GetEx(getex::GetEx::parse(args)?),
            "mget" => Kind::MGet(mget::MGet::parse(args)),
            "mset" => Kind::MSet(mset::MSet::parse(args, false)?),
            "msetnx" => Kind::MSet(mset::MSet::parse(args, true)?),
            "del" | "unlink" => Kind::Del(del::Del::parse(args)),
            "exists" => Kind::Exists(exists::Exists::parse(args)),
            "type" => Kind::Type(type_cmd::Type::parse(args)?),
            "rename" => Kind::Rename(rename::Rename::parse(args, false)?),
            "renamenx" => Kind::Rename(rename::Rename::parse(args, true)?),
            "copy" => Kind::Copy(copy::CopyKey::parse(args)?),
            "incr" | "decr" | "incrby" | "decrby" => Kind::Incr(incr::Incr::parse(name, args)?),
            "incrbyfloat" => Kind::IncrByFloat(incrbyfloat::IncrByFloat::parse(args)?),
            "append" => Kind::Append(append::Append::parse(args)?),
            "strlen" => Kind::Strlen(strlen::Strlen::parse(args)?),
            "lcs" => Kind::Lcs(lcs::Lcs::parse(args)?),
            "getrange" => Kind::GetRange(getrange::GetRange::parse(args)?),
            "setrange" => Kind::SetRange(setrange::SetRange::parse(args)?),
            "expire" | "pexpire" | "expireat" | "pexpireat" => Kind::Expire(expire::Expire::parse(name, args)?),
            "ttl" | "pttl" | "expiretime" | "pexpiretime" => Kind::Ttl(ttl::Ttl::parse(name, args)?),
            "persist" => Kind::Persist(persist::Persist::parse(args)?),
            name if let Some(parsed) = hash::Hash::parse(name, args) => Kind::Hash(parsed?),
            "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" => {
                Kind::Subscription(pubsub::Subscription::parse(name, args))
            }
            "publish" => Kind::Publish(pubsub::Publish::parse(args)?),
            n if n.starts_with("pubsub|") => Kind::Pubsub(pubsub::PubsubQuery::parse(n, args)?),
            "reset" => Kind::Reset,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => Kind::Eval(eval::Eval::parse(name, args)?),
            n if n.starts_with("script|") => Kind::Script(script::Script::parse(n, args)?),
            name if let Some(parsed) = sets::Sets::parse(name, args) => Kind::Sets(parsed?),
            name if let Some(parsed) = list::List::parse(name, args) => Kind::List(parsed?),
            name if let Some(parsed) = zset::ZSet::parse(name, args) => Kind::ZSet(parsed?),
            name if let Some(parsed) = keyspace::Keyspace::parse(name, args) => Kind::Keyspace(parsed?),
            name if let Some(parsed) = bitmap::Bitmap::parse(name, args) => Kind::Bitmap(parsed?),
            name if name.starts_with("config|") => Kind::Config(config_cmd::Config::parse(name, args)?),
            "time" => Kind::Time,
            "save" => Kind::Save,
            "shutdown" => Kind::Shutdown,
            "lastsave" => Kind::LastSave,
            "wait" => Kind::Wait(wait::Wait::parse(args)?),
            n if n.starts_with("memory|") => Kind::Memory(memory::Memory::parse(n, args)?),
            name if name.starts_with("function|") => Kind::Function(function::Function::parse(name, args)?),
            // The table lists only commands handled above; reaching this is a table bug.
            _ => {
                return Err(RedisError::UnknownCommand {
                    name: args.first().cloned().unwrap_or_default(),
                    args: args.get(1..).unwrap_or_default().to_vec(),
                });
            }
        })
    }
}

/// Runs a parsed command.
///
/// For [`Access::Barrier`] commands pass the connection's real session; keyed commands never
/// modify the session, so a clone is fine for them. Encode the reply with the session's
/// protocol version *after* this returns (HELLO 3 answers in RESP3).
pub async fn execute<K: KvStore>(cmd: Command, session: &mut Session, kv: &K, ctx: &ServerContext) -> Outcome {
    // Queued and refused commands are not counted, as in Redis; EXEC counts what it runs.
    if !matches!(cmd.action, Action::Queue(_) | Action::Reject { .. }) {
        ctx.count_command();
    }
    let close = matches!(cmd.action, Action::Run(Kind::Quit));
    let counted = !matches!(cmd.action, Action::Queue(_) | Action::Reject { .. });
    let started = std::time::Instant::now();
    // Queued commands raise their keyspace events (if any) only when EXEC runs them.
    let runs = matches!(cmd.action, Action::Run(_));
    let result = match cmd.action {
        // Scripts run their commands through `run`, so they are dispatched outside it.
        Action::Run(Kind::Eval(c)) => c.apply(session, kv, ctx).await,
        // A single-key write joins its key's group commit (see [`combine`]); outside a
        // transaction only: inside one, the transaction already orders everything.
        Action::Run(kind) if cmd.latch && cmd.keys.len() == 1 && !kv.in_transaction() => {
            let key = cmd.keys.first().cloned().unwrap_or_default();
            Ok(ctx.combiner.submit(key, kind, session.clone(), kv, ctx).await)
        }
        Action::Run(kind) => {
            let _latched =
                if cmd.latch && !kv.in_transaction() { Some(ctx.latches.acquire(&cmd.keys).await) } else { None };
            run(kind, session, kv, ctx).await
        }
        Action::Multi => Ok(multi::multi(session)),
        Action::Exec => multi::exec(session, kv, ctx).await,
        Action::Discard => Ok(multi::discard(session)),
        Action::Watch => multi::watch(&cmd.keys, session, kv).await,
        Action::Unwatch => Ok(multi::unwatch(session)),
        Action::Queue(args) => Ok(multi::queue(args, session)),
        Action::Reject { error, exec } => Ok(multi::reject(error, exec, session)),
    };
    // Subscription changes take effect once the command (or the whole EXEC) has run.
    if !session.pubsub.pending.is_empty() {
        let changes = std::mem::take(&mut session.pubsub.pending);
        ctx.pubsub.update(session.client_id, &changes);
    }
    let reply = reply_of(result);
    if runs && !kv.in_transaction() {
        crate::redis::notifications::after_command(cmd.name, &cmd.keys, &reply, ctx);
    }
    if counted {
        let usec = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        ctx.stats.record_call(cmd.name, usec, matches!(reply, Reply::Error(_)));
    }
    record_errors(&reply, ctx);
    if let Some(conn) = &session.conn {
        if !cmd.name.is_empty() {
            conn.0.record(cmd.name, session);
        }
    }
    // CLIENT KILL of the connection itself closes it after the reply, as in Redis.
    let close = close || session.conn.as_ref().is_some_and(|conn| conn.0.is_killed());
    Outcome { reply, close }
}

/// Counts the error replies in `reply` (EXEC's array elements included) for INFO errorstats.
fn record_errors(reply: &Reply, ctx: &ServerContext) {
    match reply {
        Reply::Error(text) => ctx.stats.record_error(text),
        Reply::Array(items) => {
            for item in items {
                if let Reply::Error(text) = item {
                    ctx.stats.record_error(text);
                }
            }
        }
        _ => {}
    }
}

fn reply_of(result: Result<Reply, RedisError>) -> Reply {
    match result {
        Ok(reply) => reply,
        Err(err) => {
            if let RedisError::Kv(kv_err) = &err {
                tracing::warn!(error = %kv_err, "redis command failed in the KV layer");
            }
            err.to_reply()
        }
    }
}

/// The staleness bound a plain read of this connection may use: reads inside a transaction
/// (MULTI/EXEC, scripts) read its snapshot instead.
fn read_staleness_ms<K: KvStore>(session: &Session, kv: &K) -> u64 {
    if kv.in_transaction() {
        0
    } else {
        session.read_staleness_ms()
    }
}

/// Runs a command (never a transaction step, so that EXEC can run queued commands through
/// this against a [`super::transaction::Transaction`] without recursing).
async fn run<K: KvStore>(kind: Kind, session: &mut Session, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
    match kind {
        Kind::Ping(c) => Ok(c.apply(session)),
        Kind::Echo(c) => Ok(c.apply()),
        Kind::Hello(c) => c.apply(session, ctx),
        Kind::Auth(c) => c.apply(session, ctx),
        Kind::Select(c) => c.apply(session),
        Kind::Quit => Ok(Reply::ok()),
        Kind::Client(c) => c.apply(session, ctx),
        Kind::ReplicaReads(c) => Ok(c.apply(session, ctx)),
        Kind::CommandInfo(c) => c.apply(),
        Kind::Info(c) => c.apply(kv, ctx).await,
        Kind::DbSize => dbsize::apply(kv).await,
        Kind::Flush => flush::apply(kv).await,
        Kind::Get(c) => c.apply(kv, read_staleness_ms(session, kv)).await,
        Kind::Set(c) => c.apply(kv).await,
        Kind::GetDel(c) => c.apply(kv).await,
        Kind::GetEx(c) => c.apply(kv).await,
        Kind::MGet(c) => c.apply(kv, read_staleness_ms(session, kv)).await,
        Kind::MSet(c) => c.apply(kv).await,
        Kind::Del(c) => c.apply(kv).await,
        Kind::Exists(c) => c.apply(kv).await,
        Kind::Type(c) => c.apply(kv).await,
        Kind::Rename(c) => c.apply(kv).await,
        Kind::Copy(c) => c.apply(kv).await,
        Kind::Incr(c) => c.apply(kv).await,
        Kind::IncrByFloat(c) => c.apply(kv).await,
        Kind::Append(c) => c.apply(kv, ctx).await,
        Kind::Strlen(c) => c.apply(kv).await,
        Kind::Lcs(c) => c.apply(kv, ctx.limits.proto_max_bulk_len).await,
        Kind::GetRange(c) => c.apply(kv).await,
        Kind::SetRange(c) => c.apply(kv, ctx).await,
        Kind::Expire(c) => c.apply(kv).await,
        Kind::Ttl(c) => c.apply(kv).await,
        Kind::Persist(c) => c.apply(kv).await,
        Kind::Subscription(c) => Ok(c.apply(session)),
        Kind::Publish(c) => Ok(c.apply(ctx).await),
        Kind::Pubsub(c) => Ok(c.apply(ctx).await),
        Kind::Reset => Ok(reset::apply(session, ctx)),
        Kind::Script(c) => c.apply(kv, ctx).await,
        // Dispatched by `execute` and EXEC (a script's commands cannot be scripts: noscript).
        Kind::Eval(_) => Err(RedisError::Kv(crate::kv::KvError::Internal("EVAL cannot run here".into()))),
        Kind::Hash(c) => c.apply(kv, ctx, session.protocol).await,
        Kind::Sets(c) => c.apply(kv, ctx, session.protocol).await,
        Kind::List(c) => c.apply(kv, ctx, session).await,
        Kind::ZSet(c) => c.apply(kv, ctx, session).await,
        Kind::Keyspace(c) => c.apply(kv, ctx).await,
        Kind::Bitmap(c) => c.apply(kv, ctx).await,
        Kind::Config(c) => c.apply(ctx),
        Kind::Time => Ok(time::apply()),
        // Every acknowledged write is already on disk on a quorum of replicas (Raft log and
        // RocksDB): there is nothing left to save.
        Kind::Save => Ok(Reply::ok()),
        Kind::Shutdown => Err(RedisError::ShutdownUnsupported),
        Kind::LastSave => Ok(lastsave::apply(ctx)),
        Kind::Wait(c) => c.apply(kv).await,
        Kind::Memory(c) => c.apply(kv).await,
        Kind::Function(c) => Ok(c.apply()),
    }
}

/// Argument `i`, which the arity check guarantees exists; a syntax error otherwise rather
/// than a panic.
pub(crate) fn arg(args: &[Bytes], i: usize) -> Result<Bytes, RedisError> {
    args.get(i).cloned().ok_or(RedisError::Syntax)
}

/// An integer argument, parsed like Redis's `getLongLongFromObject`.
pub(crate) fn int_arg(arg: &[u8]) -> Result<i64, RedisError> {
    parse_i64(arg).ok_or(RedisError::NotInteger)
}

/// Case-insensitive option match (`nx`, `NX`, `Nx`).
pub(crate) fn is_option(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod introspection_tests;
#[cfg(test)]
mod multi_tests;
#[cfg(test)]
mod pubsub_tests;
#[cfg(test)]
mod rename_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
