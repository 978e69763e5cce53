//! The Lua side of a script run: a fresh Lua 5.1 VM on a blocking thread, the sandbox, and
//! the conversions between Redis replies and Lua values (Redis 7.0's script_lua.c).
//!
//! Everything here is synchronous. `redis.call` sends the command over a channel to the async
//! side (see the parent module) and blocks this thread until the reply comes back.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use std::ffi::c_int;

use mlua::{ffi, ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use tokio::sync::{mpsc, oneshot};

use super::ScriptLimits;
use crate::resp::{format_double, Reply};

const SANDBOX: &str = include_str!("sandbox.lua");

/// How often (in VM instructions) the time limit is checked.
const HOOK_INSTRUCTIONS: u32 = 10_000;

/// Nesting depth of a returned table at which the conversion gives up with Redis's "reached
/// lua stack limit" (Redis reaches its Lua C stack limit deeper, near 2000 levels; this stays
/// well within the stack of a blocking-pool thread).
const MAX_REPLY_DEPTH: usize = 200;

/// One run of a script.
#[derive(Clone, Debug)]
pub(crate) struct ScriptJob {
    /// Lowercase hex SHA1 of `body` (named in error replies).
    pub sha: String,
    pub body: Bytes,
    pub keys: Vec<Bytes>,
    pub argv: Vec<Bytes>,
    pub limits: ScriptLimits,
}

/// A `redis.call` / `redis.pcall` sent to the async side.
pub(crate) struct CallRequest {
    pub args: Vec<Bytes>,
    /// The script asked for RESP3 replies (`redis.setresp(3)`).
    pub resp3: bool,
    pub answer: oneshot::Sender<CallAnswer>,
}

pub(crate) enum CallAnswer {
    Reply(Reply),
    /// The store failed: the run is abandoned (its result is discarded).
    Abort,
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct ScriptResult {
    pub reply: Reply,
    /// The body compiled (so it may be cached, as Redis caches only valid scripts).
    pub compiled: bool,
    /// Stopped by the time limit: its writes must not be committed.
    pub stopped: bool,
}

/// Compiles `body` the way EVAL / SCRIPT LOAD do, for the error reply of invalid scripts.
pub(crate) fn check_compiles(body: &[u8]) -> Result<(), Reply> {
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::new()).map_err(|e| internal(&e))?;
    compile(&lua, body).map(|_| ())
}

fn compile(lua: &Lua, body: &[u8]) -> Result<Function, Reply> {
    match lua.load(body).set_name("@user_script").set_mode(ChunkMode::Text).into_function() {
        Ok(function) => Ok(function),
        Err(mlua::Error::SyntaxError { message, .. }) => {
            Err(error_reply(&format!("ERR Error compiling script (new function): {message}")))
        }
        Err(other) => Err(error_reply(&format!("ERR Error compiling script (new function): {other}"))),
    }
}

fn internal(err: &mlua::Error) -> Reply {
    Reply::error(format!("ERR internal error: Lua: {err}"))
}

/// Runs the script to completion on the calling (blocking) thread.
pub(crate) fn run(job: ScriptJob, calls: mpsc::UnboundedSender<CallRequest>) -> ScriptResult {
    let timed_out = Arc::new(AtomicBool::new(false));
    match run_inner(&job, calls, &timed_out) {
        Ok(result) => result,
        Err(_) if timed_out.load(Ordering::Relaxed) => {
            ScriptResult { reply: timeout_reply(&job), compiled: true, stopped: true }
        }
        Err(reply) => ScriptResult { reply, compiled: true, stopped: false },
    }
}

fn timeout_reply(job: &ScriptJob) -> Reply {
    Reply::error(format!(
        "ERR Error running script {}, exceeded the time limit of {} ms",
        job.sha,
        job.limits.time_limit.as_millis()
    ))
}

fn run_inner(
    job: &ScriptJob,
    calls: mpsc::UnboundedSender<CallRequest>,
    timed_out: &Arc<AtomicBool>,
) -> Result<ScriptResult, Reply> {
    // SAFETY: the debug library is needed by the sandbox's error handler (debug.getinfo) and
    // is not reachable from scripts: sandbox.lua keeps only its own reference to getinfo.
    let lua = unsafe {
        Lua::unsafe_new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG, LuaOptions::new())
    };
    lua.set_memory_limit(job.limits.memory_limit).map_err(|e| internal(&e))?;
    let script = match compile(&lua, &job.body) {
        Ok(script) => script,
        Err(reply) => return Ok(ScriptResult { reply, compiled: false, stopped: false }),
    };

    let resp3 = Rc::new(Cell::new(false));
    let runner = sandbox(&lua, job, calls, &resp3, timed_out).map_err(|e| internal(&e))?;

    let deadline = Instant::now() + job.limits.time_limit;
    let flag = timed_out.clone();
    let hook = HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS);
    lua.set_hook(hook, move |_, _| {
        if flag.load(Ordering::Relaxed) || Instant::now() >= deadline {
            flag.store(true, Ordering::Relaxed);
            return Err(mlua::Error::runtime("script exceeded its time limit"));
        }
        Ok(VmState::Continue)
    })
    .map_err(|e| internal(&e))?;

    let results: MultiValue = runner.call(script).map_err(|e| internal(&e))?;
    if timed_out.load(Ordering::Relaxed) {
        return Ok(ScriptResult { reply: timeout_reply(job), compiled: true, stopped: true });
    }
    let mut results = results.into_iter();
    let succeeded = matches!(results.next(), Some(Value::Boolean(true)));
    let value = results.next().unwrap_or(Value::Nil);
    let reply = if succeeded {
        let mut budget = job.limits.max_reply_bytes;
        match lua_to_reply(&value, resp3.get(), 0, &mut budget) {
            Ok(reply) => reply,
            Err(ReplyTooLarge::Depth) => Reply::error("ERR reached lua stack limit"),
            Err(ReplyTooLarge::Bytes) => Reply::error(format!(
                "ERR Error running script {}, its reply exceeds the limit of {} bytes",
                job.sha, job.limits.max_reply_bytes
            )),
        }
    } else {
        script_error_reply(&value, &job.sha)
    };
    Ok(ScriptResult { reply, compiled: true, stopped: false })
}

/// Runs sandbox.lua: returns the function that runs a compiled script in the sandbox.
fn sandbox(
    lua: &Lua,
    job: &ScriptJob,
    calls: mpsc::UnboundedSender<CallRequest>,
    resp3: &Rc<Cell<bool>>,
    timed_out: &Arc<AtomicBool>,
) -> mlua::Result<Function> {
    let stopped_flag = timed_out.clone();
    let stopped = lua.create_function(move |_, ()| Ok(stopped_flag.load(Ordering::Relaxed)))?;
    let call_resp3 = resp3.clone();
    let raw_call = lua.create_function(move |lua, args: MultiValue| redis_call(lua, args, &calls, call_resp3.get()))?;
    // SAFETY: `make_raising` only manipulates the Lua stack it is given (see below).
    let raising = unsafe { lua.create_c_function(make_raising)? };
    let sha1hex = lua.create_function(|lua, text: mlua::String| {
        lua.create_string(sha1_smol::Sha1::from(&text.as_bytes()[..]).digest().to_string())
    })?;
    let log = lua.create_function(|_, (level, message): (i64, mlua::String)| {
        let message = String::from_utf8_lossy(&message.as_bytes()).into_owned();
        match level {
            3 => tracing::warn!(target: "strata::lua", "{message}"),
            2 => tracing::info!(target: "strata::lua", "{message}"),
            1 => tracing::debug!(target: "strata::lua", "{message}"),
            _ => tracing::trace!(target: "strata::lua", "{message}"),
        }
        Ok(())
    })?;
    let set_resp3 = resp3.clone();
    let setresp = lua.create_function(move |_, version: i64| {
        set_resp3.set(version == 3);
        Ok(())
    })?;
    let keys =
        lua.create_sequence_from(job.keys.iter().map(|k| lua.create_string(k)).collect::<Result<Vec<_>, _>>()?)?;
    let argv =
        lua.create_sequence_from(job.argv.iter().map(|a| lua.create_string(a)).collect::<Result<Vec<_>, _>>()?)?;
    lua.load(SANDBOX).set_name("=strata_sandbox").call((raising, raw_call, sha1hex, log, setresp, stopped, keys, argv))
}

/// `raising(f)` of sandbox.lua: a C closure over `f` that calls it with its arguments and,
/// given `ok, value`, returns `value` when `ok` and raises it otherwise (Redis's C functions
/// raise their `{err=...}` tables the same way).
unsafe extern "C-unwind" fn make_raising(state: *mut ffi::lua_State) -> c_int {
    ffi::lua_settop(state, 1);
    ffi::lua_pushcclosure(state, raise_unless_ok, 1);
    1
}

unsafe extern "C-unwind" fn raise_unless_ok(state: *mut ffi::lua_State) -> c_int {
    let argc = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    // Errors raised by the wrapped function propagate through here unchanged.
    ffi::lua_call(state, argc, 2);
    if ffi::lua_toboolean(state, -2) == 0 {
        ffi::lua_error(state);
    }
    1
}

/// `raw_call` of sandbox.lua: answers `(true, value)`, or `(false, error table)` for a
/// failed command, which redis.call raises and redis.pcall returns.
fn redis_call(
    lua: &Lua,
    args: MultiValue,
    calls: &mpsc::UnboundedSender<CallRequest>,
    resp3: bool,
) -> mlua::Result<(bool, Value)> {
    if args.is_empty() {
        let err = error_table(lua, "ERR Please specify at least one argument for this redis lib call")?;
        return Ok((false, err));
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in &args {
        match arg {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            // Redis formats numbers with %.17g (lua_tolstring would lose precision).
            Value::Integer(i) => argv.push(Bytes::from(format_double(*i as f64))),
            Value::Number(n) => argv.push(Bytes::from(format_double(*n))),
            _ => {
                let err = error_table(lua, "ERR Lua redis lib command arguments must be strings or integers")?;
                return Ok((false, err));
            }
        }
    }
    let (answer, answered) = oneshot::channel();
    let request = CallRequest { args: argv, resp3, answer };
    let reply = match calls.send(request).map(|()| answered.blocking_recv()) {
        Ok(Ok(CallAnswer::Reply(reply))) => reply,
        // The async side gave up (store failure or the client went away): stop the script.
        _ => return Err(mlua::Error::runtime("the script was aborted")),
    };
    match reply {
        Reply::Error(text) => Ok((false, error_table(lua, &String::from_utf8_lossy(&text))?)),
        other => Ok((true, reply_to_lua(lua, other, resp3)?)),
    }
}

/// Redis's luaPushErrorBuff for an error reply's text: `{err = "CODE message"}`, with `ERR`
/// added when the text has no code and trailing newlines dropped.
fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let text = text.strip_prefix('-').unwrap_or(text);
    let normalized = match text.split_once(' ') {
        Some((code, message)) => format!("{code} {}", message.trim_end_matches(['\r', '\n'])),
        None => format!("ERR {}", text.trim_end_matches(['\r', '\n'])),
    };
    let table = lua.create_table()?;
    table.raw_set("err", normalized)?;
    Ok(Value::Table(table))
}

/// A command's reply as the Lua value `redis.call` returns (Redis's redisProtocolToLuaType).
fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    let single = |key: &str, value: Value| -> mlua::Result<Value> {
        let table = lua.create_table()?;
        table.raw_set(key, value)?;
        Ok(Value::Table(table))
    };
    let string = |bytes: &[u8]| -> mlua::Result<Value> { lua.create_string(bytes).map(Value::String) };
    let sequence = |items: Vec<Reply>| -> mlua::Result<Value> {
        let table = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.into_iter().enumerate() {
            table.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
        }
        Ok(Value::Table(table))
    };
    Ok(match reply {
        Reply::Simple(text) => single("ok", string(&text)?)?,
        Reply::Error(text) => error_table(lua, &String::from_utf8_lossy(&text))?,
        Reply::Integer(n) => Value::Number(n as f64),
        Reply::Bulk(data) => string(&data)?,
        Reply::Null | Reply::NullArray if resp3 => Value::Nil,
        Reply::Null | Reply::NullArray => Value::Boolean(false),
        // Several replies of one command (SUBSCRIBE: noscript, so only for completeness).
        Reply::Array(items) | Reply::Push(items) | Reply::Sequence(items) => sequence(items)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Reply::Set(items) => sequence(items)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(reply_to_lua(lua, key, resp3)?, reply_to_lua(lua, value, resp3)?)?;
            }
            single("map", Value::Table(map))?
        }
        Reply::Map(pairs) => sequence(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())?,
        Reply::Double(d) if resp3 => single("double", Value::Number(d))?,
        Reply::Double(d) => string(format_double(d).as_bytes())?,
        Reply::Boolean(b) if resp3 => Value::Boolean(b),
        Reply::Boolean(b) => Value::Number(if b { 1.0 } else { 0.0 }),
        Reply::BigNumber(digits) if resp3 => single("big_number", string(&digits)?)?,
        Reply::BigNumber(digits) => string(&digits)?,
        Reply::Verbatim { format, text } if resp3 => {
            let verbatim = lua.create_table()?;
            verbatim.raw_set("format", lua.create_string(format)?)?;
            verbatim.raw_set("string", lua.create_string(&text)?)?;
            single("verbatim_string", Value::Table(verbatim))?
        }
        Reply::Verbatim { text, .. } => string(&text)?,
        Reply::Pinned(_, inner) => reply_to_lua(lua, *inner, resp3)?,
        // ZRANGE ... WITHSCORES: nested [member, score] pairs in RESP3, flat in RESP2.
        Reply::Pairs(pairs) if resp3 => sequence(pairs.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect())?,
        Reply::Pairs(pairs) => sequence(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())?,
    })
}

/// C's `(long long)` cast as x86-64 performs it: truncation, and `i64::MIN` for NaN and
/// values out of range (Rust's `as` would saturate instead).
fn double_to_integer(n: f64) -> i64 {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_POW_63..TWO_POW_63).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

enum ReplyTooLarge {
    Depth,
    Bytes,
}

/// The script's return value as a reply (Redis's luaReplyToRedisReply).
fn lua_to_reply(value: &Value, resp3: bool, depth: usize, budget: &mut usize) -> Result<Reply, ReplyTooLarge> {
    if depth > MAX_REPLY_DEPTH {
        return Err(ReplyTooLarge::Depth);
    }
    let mut spend = |bytes: usize| -> Result<(), ReplyTooLarge> {
        *budget = budget.checked_sub(bytes).ok_or(ReplyTooLarge::Bytes)?;
        Ok(())
    };
    spend(16)?;
    Ok(match value {
        Value::String(s) => {
            let bytes = s.as_bytes();
            spend(bytes.len())?;
            Reply::Bulk(Bytes::copy_from_slice(&bytes))
        }
        Value::Boolean(b) if resp3 => Reply::Boolean(*b),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Boolean(false) => Reply::Null,
        // (long long) of the double: truncation toward zero.
        Value::Integer(i) => Reply::Integer(*i),
        Value::Number(n) => Reply::Integer(double_to_integer(*n)),
        Value::Table(table) => table_to_reply(table, resp3, depth, budget)?,
        _ => Reply::Null,
    })
}

fn table_to_reply(table: &Table, resp3: bool, depth: usize, budget: &mut usize) -> Result<Reply, ReplyTooLarge> {
    let field = |name: &str| table.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(err) = field("err") {
        let text = err.as_bytes();
        return Ok(Reply::Error(Bytes::from(sanitize_error(&text))));
    }
    if let Value::String(ok) = field("ok") {
        let text: Vec<u8> = ok.as_bytes().iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
        return Ok(Reply::Simple(Bytes::from(text)));
    }
    match field("double") {
        Value::Number(d) => return Ok(Reply::Double(d)),
        Value::Integer(i) => return Ok(Reply::Double(i as f64)),
        _ => {}
    }
    if let Value::String(digits) = field("big_number") {
        return Ok(Reply::BigNumber(Bytes::copy_from_slice(&digits.as_bytes())));
    }
    if let Value::Table(map) = field("map") {
        let mut pairs = Vec::new();
        for pair in map.pairs::<Value, Value>() {
            let Ok((key, value)) = pair else { continue };
            pairs
                .push((lua_to_reply(&key, resp3, depth + 1, budget)?, lua_to_reply(&value, resp3, depth + 1, budget)?));
        }
        return Ok(Reply::Map(pairs));
    }
    if let Value::Table(set) = field("set") {
        let mut items = Vec::new();
        for pair in set.pairs::<Value, Value>() {
            let Ok((key, _)) = pair else { continue };
            items.push(lua_to_reply(&key, resp3, depth + 1, budget)?);
        }
        return Ok(Reply::Set(items));
    }
    // An array: elements 1, 2, ... up to the first nil.
    let mut items = Vec::new();
    for index in 1.. {
        let item = table.raw_get::<Value>(index).unwrap_or(Value::Nil);
        if item.is_nil() {
            break;
        }
        items.push(lua_to_reply(&item, resp3, depth + 1, budget)?);
    }
    Ok(Reply::Array(items))
}

/// Redis's addReplyErrorFormat: trailing newlines dropped, inner ones become spaces.
fn sanitize_error(text: &[u8]) -> Vec<u8> {
    let end = text.iter().rposition(|&b| b != b'\r' && b != b'\n').map_or(0, |i| i + 1);
    text.get(..end).unwrap_or_default().iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect()
}

fn error_reply(text: &str) -> Reply {
    Reply::Error(Bytes::from(sanitize_error(text.as_bytes())))
}

/// The reply for a script that raised an error (Redis's luaCallFunction): the `{err=...}`
/// table from the sandbox's handler, followed by where in the script it was raised.
fn script_error_reply(err: &Value, sha: &str) -> Reply {
    let Value::Table(table) = err else {
        // Out of memory: Lua does not call the handler and hands back a plain string.
        let message = match err {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "execution failure".to_string(),
        };
        let message: String = message.chars().take(100).collect();
        return error_reply(&format!("ERR Error running script {sha}, {message}"));
    };
    let mut text = match table.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.as_bytes().to_vec(),
        _ => b"ERR unknown error".to_vec(),
    };
    let source = table.raw_get::<Option<mlua::String>>("source").ok().flatten();
    let line = table.raw_get::<Option<i64>>("line").ok().flatten();
    if let (Some(source), Some(line)) = (source, line) {
        text.extend_from_slice(format!(" script: {sha}, on ").as_bytes());
        text.extend_from_slice(&source.as_bytes());
        text.extend_from_slice(format!(":{line}.").as_bytes());
    }
    Reply::Error(Bytes::from(sanitize_error(&text)))
}
