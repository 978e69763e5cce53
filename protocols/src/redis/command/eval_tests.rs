//! EVAL / EVALSHA / SCRIPT against the in-memory fake store. Expected bytes were recorded
//! from redis-server 7.0.15 (RESP2).

use std::time::Duration;

use bytes::Bytes;

use super::test_support::{bulk, err, int, ok, Harness};
use crate::kv::{Expiry, Mutation};
use crate::redis::keyspace::{encode_string, kv_key};
use crate::redis::scripting::sha1_hex;
use crate::redis::ServerContext;
use crate::resp::{ProtocolVersion, Reply};

fn args(parts: &[&str]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
}

async fn eval(h: &mut Harness, script: &str, keys_and_args: &[&str]) -> Reply {
    let mut argv = vec!["EVAL", script];
    argv.extend_from_slice(keys_and_args);
    h.run_args(args(&argv)).await
}

/// `EVAL script 0`, encoded in RESP2.
async fn eval_bytes(h: &mut Harness, script: &str) -> String {
    let reply = eval(h, script, &["0"]).await;
    String::from_utf8_lossy(&reply.to_bytes(ProtocolVersion::Resp2)).into_owned()
}

fn put(key: &str, value: &str) -> Mutation {
    Mutation::Put { key: kv_key(key.as_bytes()), value: encode_string(value.as_bytes()), expiry: Expiry::Never }
}

#[tokio::test]
async fn lua_values_become_redis_replies_like_redis() {
    let mut h = Harness::new();
    let cases: &[(&str, &str)] = &[
        ("return 3.99", ":3\r\n"),
        ("return -0.9", ":0\r\n"),
        ("return nil", "$-1\r\n"),
        ("return 'x'", "$1\r\nx\r\n"),
        ("return {1,2,nil,4}", "*2\r\n:1\r\n:2\r\n"),
        (
            "return {1,'a',{2,{ok='x'}},true,false,3.9,-3.9}",
            "*7\r\n:1\r\n$1\r\na\r\n*2\r\n:2\r\n+x\r\n:1\r\n$-1\r\n:3\r\n:-3\r\n",
        ),
        ("return {err='boom'}", "-boom\r\n"),
        ("return {err='ERR x\\r\\ny'}", "-ERR x  y\r\n"),
        ("return {ok='fine'}", "+fine\r\n"),
        ("return {ok=1}", "*0\r\n"),
        ("return {err=1}", "*0\r\n"),
        ("return {double=1.5}", "$3\r\n1.5\r\n"),
        ("return {'a', nil, 'b', foo='bar'}", "*1\r\n$1\r\na\r\n"),
        ("return {'a', {err='inner'}}", "*2\r\n$1\r\na\r\n-inner\r\n"),
        ("return {1e100, -1e100}", "*2\r\n:-9223372036854775808\r\n:-9223372036854775808\r\n"),
        ("return 1, 2", ":1\r\n"),
        ("return redis.error_reply('My Error')", "-My Error\r\n"),
        ("return redis.error_reply('boom')", "-ERR boom\r\n"),
        ("return redis.error_reply('-boom')", "-ERR boom\r\n"),
        ("return redis.error_reply({})", "-ERR wrong number or type of arguments\r\n"),
        ("return redis.status_reply('X')", "+X\r\n"),
        ("return redis.status_reply(5)", "-ERR wrong number or type of arguments\r\n"),
        ("return redis.sha1hex('')", "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"),
        ("return redis.LOG_WARNING .. redis.LOG_NOTICE .. redis.LOG_VERBOSE .. redis.LOG_DEBUG", "$4\r\n3210\r\n"),
        ("return type(math) .. type(string) .. type(table)", "$15\r\ntabletabletable\r\n"),
        ("return loadstring('return 7')()", ":7\r\n"),
        ("local ok, e = pcall(function() error('boom') end); return e", "$19\r\nuser_script:1: boom\r\n"),
    ];
    for (script, expected) in cases {
        assert_eq!(&eval_bytes(&mut h, script).await, expected, "script: {script}");
    }
}

#[tokio::test]
async fn redis_replies_become_lua_values_like_redis() {
    let mut h = Harness::new();
    let cases: &[(&str, &str)] = &[
        ("return redis.call('set','a','b')", "+OK\r\n"),
        ("return type(redis.call('set','a','b'))", "$5\r\ntable\r\n"),
        ("return redis.call('get','nosuchkey')", "$-1\r\n"),
        ("return type(redis.call('get','nosuchkey'))", "$7\r\nboolean\r\n"),
        ("redis.call('set','f',0.1); return redis.call('get','f')", "$19\r\n0.10000000000000001\r\n"),
        ("redis.call('set','f',3); return redis.call('get','f')", "$1\r\n3\r\n"),
        ("redis.call('set','f',1e20); return redis.call('get','f')", "$5\r\n1e+20\r\n"),
        ("return redis.call('incr','n')", ":1\r\n"),
        ("return redis.call('incrbyfloat','fl','1.5')", "$3\r\n1.5\r\n"),
        ("return redis.call('mget','a','nokey')", "*2\r\n$1\r\nb\r\n$-1\r\n"),
        ("return redis.call('exists','a','nokey')", ":1\r\n"),
        ("return redis.call('ping')", "+PONG\r\n"),
        ("return redis.pcall('incr','a')", "-ERR value is not an integer or out of range\r\n"),
        (
            "local r = redis.pcall('incr','a'); return type(r) .. r.err",
            "$48\r\ntableERR value is not an integer or out of range\r\n",
        ),
        (
            "local ok, e = pcall(redis.call, 'incr', 'a'); return e",
            "$43\r\nERR value is not an integer or out of range\r\n",
        ),
        ("redis.setresp(3); return type(redis.call('get','nokey'))", "$3\r\nnil\r\n"),
    ];
    for (script, expected) in cases {
        assert_eq!(&eval_bytes(&mut h, script).await, expected, "script: {script}");
    }
    let reply = eval(&mut h, "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2],#KEYS,#ARGV}", &["2", "k1", "k2", "a1", "a2"]);
    assert_eq!(reply.await, Reply::Array(vec![bulk("k1"), bulk("k2"), bulk("a1"), bulk("a2"), int(2), int(2)]));
}

#[tokio::test]
async fn errors_match_redis_byte_for_byte() {
    let mut h = Harness::new();
    h.run("SET s abc").await;
    let cases: &[(&str, &str)] = &[
        ("return 1+nil", "-ERR user_script:1: attempt to perform arithmetic on a nil value script: {sha}, on @user_script:1.\r\n"),
        ("return a", "-ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: {sha}, on @user_script:1.\r\n"),
        ("a=1", "-ERR user_script:1: Attempt to modify a readonly table script: {sha}, on @user_script:1.\r\n"),
        ("function f() return 1 end return f()", "-ERR user_script:1: Attempt to modify a readonly table script: {sha}, on @user_script:1.\r\n"),
        ("string.foo = 1 return 1", "-ERR user_script:1: Attempt to modify a readonly table script: {sha}, on @user_script:1.\r\n"),
        ("rawset(_G,'x',1) return x", "-ERR Attempt to modify a readonly table script: {sha}, on @user_script:1.\r\n"),
        ("setmetatable(_G, nil) return 1", "-ERR Attempt to modify a readonly table script: {sha}, on @user_script:1.\r\n"),
        ("return os", "-ERR user_script:1: Script attempted to access nonexistent global variable 'os' script: {sha}, on @user_script:1.\r\n"),
        ("return io", "-ERR user_script:1: Script attempted to access nonexistent global variable 'io' script: {sha}, on @user_script:1.\r\n"),
        ("return loadfile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile' script: {sha}, on @user_script:1.\r\n"),
        ("return dofile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'dofile' script: {sha}, on @user_script:1.\r\n"),
        ("return print", "-ERR user_script:1: Script attempted to access nonexistent global variable 'print' script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('incr','s')", "-ERR value is not an integer or out of range script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('nosuch')", "-ERR Unknown Redis command called from script script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('client','nosuch')", "-ERR Unknown Redis command called from script script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('get')", "-ERR Wrong number of args calling Redis command from script script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('multi')", "-ERR This Redis command is not allowed from script script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('eval','return 1','0')", "-ERR This Redis command is not allowed from script script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('set','k', 'v', 'xx', 'nx')", "-ERR syntax error script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call()", "-ERR Please specify at least one argument for this redis lib call script: {sha}, on @user_script:1.\r\n"),
        ("return redis.pcall()", "-ERR Please specify at least one argument for this redis lib call\r\n"),
        ("return redis.pcall('nosuch')", "-ERR Unknown Redis command called from script\r\n"),
        ("return redis.call('set',{})", "-ERR Lua redis lib command arguments must be strings or integers script: {sha}, on @user_script:1.\r\n"),
        ("return redis.call('set','a',true)", "-ERR Lua redis lib command arguments must be strings or integers script: {sha}, on @user_script:1.\r\n"),
        ("error('x')", "-ERR user_script:1: x script: {sha}, on @user_script:1.\r\n"),
        ("error({err='x'})", "-x script: {sha}, on @user_script:1.\r\n"),
        ("error('line1\\nline2')", "-ERR user_script:1: line1 line2 script: {sha}, on @user_script:1.\r\n"),
        ("\n\nlocal x = nil\nreturn x.y", "-ERR user_script:4: attempt to index local 'x' (a nil value) script: {sha}, on @user_script:4.\r\n"),
        ("redis.log(99,'hi')", "-ERR Invalid debug level. script: {sha}, on @user_script:1.\r\n"),
        ("redis.log(1)", "-ERR redis.log() requires two arguments or more. script: {sha}, on @user_script:1.\r\n"),
        ("return redis.sha1hex()", "-ERR wrong number of arguments script: {sha}, on @user_script:1.\r\n"),
        ("redis.setresp(4)", "-ERR RESP version must be 2 or 3. script: {sha}, on @user_script:1.\r\n"),
        ("syntax error here", "-ERR Error compiling script (new function): user_script:1: '=' expected near 'error'\r\n"),
    ];
    for (script, expected) in cases {
        let expected = expected.replace("{sha}", &sha1_hex(script.as_bytes()));
        assert_eq!(eval_bytes(&mut h, script).await, expected, "script: {script}");
    }

    let cases: &[(&[&str], &str)] = &[
        (&["EVAL", "return 1", "1"], "-ERR Number of keys can't be greater than number of args\r\n"),
        (&["EVAL", "return 1", "-1"], "-ERR Number of keys can't be negative\r\n"),
        (&["EVAL", "return 1", "x"], "-ERR value is not an integer or out of range\r\n"),
        (&["EVAL", "return 1"], "-ERR wrong number of arguments for 'eval' command\r\n"),
        (&["EVALSHA", "abc", "0"], "-NOSCRIPT No matching script. Please use EVAL.\r\n"),
        (
            &["EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        ),
        (&["SCRIPT"], "-ERR wrong number of arguments for 'script' command\r\n"),
        (&["SCRIPT", "nosuch"], "-ERR unknown subcommand 'nosuch'. Try SCRIPT HELP.\r\n"),
        (&["SCRIPT", "EXISTS"], "-ERR wrong number of arguments for 'script|exists' command\r\n"),
        (&["SCRIPT", "FLUSH", "x"], "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
        (&["SCRIPT", "FLUSH", "sync", "x"], "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
        (&["SCRIPT", "KILL"], "-NOTBUSY No scripts in execution right now.\r\n"),
        (
            &["SCRIPT", "LOAD", "bad code here"],
            "-ERR Error compiling script (new function): user_script:1: '=' expected near 'code'\r\n",
        ),
    ];
    for (line, expected) in cases {
        let reply = h.run_args(args(line)).await;
        assert_eq!(String::from_utf8_lossy(&reply.to_bytes(ProtocolVersion::Resp2)), *expected, "command: {line:?}");
    }
}

#[tokio::test]
async fn read_only_scripts_refuse_writes() {
    let mut h = Harness::new();
    h.run("SET a b").await;
    let script = "return redis.call('set','a','c')";
    let reply = h.run_args(args(&["EVAL_RO", script, "0"])).await;
    let expected = format!(
        "ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.",
        sha1_hex(script.as_bytes())
    );
    assert_eq!(reply, err(&expected));
    assert_eq!(h.run_args(args(&["EVAL_RO", "return redis.call('get','a')", "0"])).await, bulk("b"));
    assert_eq!(h.run("GET a").await, bulk("b"));
}

#[tokio::test]
async fn script_load_exists_evalsha_and_flush() {
    let mut h = Harness::new();
    let sha = "1b936e3fe509bcbc9cd0664897bbe8fd0cac101b";
    assert_eq!(h.run_args(args(&["EVALSHA", sha, "0"])).await, err("NOSCRIPT No matching script. Please use EVAL."));
    assert_eq!(h.run_args(args(&["SCRIPT", "LOAD", "return 'hello'"])).await, bulk(sha));
    assert_eq!(h.run_args(args(&["EVALSHA", sha, "0"])).await, bulk("hello"));
    assert_eq!(h.run_args(args(&["EVALSHA", &sha.to_uppercase(), "0"])).await, bulk("hello"));
    // Stored in the KV: a gateway with an empty cache finds it too.
    h.ctx.scripts.forget_all();
    assert_eq!(h.run_args(args(&["EVALSHA_RO", sha, "0"])).await, bulk("hello"));
    let exists = h.run_args(args(&["SCRIPT", "EXISTS", sha, "ffff", &sha.to_uppercase()])).await;
    assert_eq!(exists, Reply::Array(vec![int(1), int(0), int(1)]));

    // EVAL stores what it ran.
    let body = "return 42";
    assert_eq!(eval(&mut h, body, &["0"]).await, int(42));
    h.ctx.scripts.forget_all();
    assert_eq!(h.run_args(args(&["EVALSHA", &sha1_hex(body.as_bytes()), "0"])).await, int(42));

    assert_eq!(h.run_args(args(&["SCRIPT", "FLUSH", "ASYNC"])).await, ok());
    let exists = h.run_args(args(&["SCRIPT", "EXISTS", sha])).await;
    assert_eq!(exists, Reply::Array(vec![int(0)]));
    assert_eq!(h.run_args(args(&["EVALSHA", sha, "0"])).await, err("NOSCRIPT No matching script. Please use EVAL."));
    // Script bodies are not Redis keys.
    assert_eq!(h.run_args(args(&["SCRIPT", "LOAD", "return 1"])).await, bulk(&sha1_hex(b"return 1")));
    assert_eq!(h.run("DBSIZE").await, int(0));
}

#[tokio::test]
async fn a_script_is_one_transaction_rerun_on_conflict() {
    let mut h = Harness::new();
    h.run("SET x 1").await;
    // Another client changes x after the script read it, before it commits: the first run
    // must not be applied, and the rerun sees the new value.
    h.kv.write_before_next_commit(vec![put("x", "5")]);
    let script = "local v = redis.call('get','x'); redis.call('set','y', v); return v";
    assert_eq!(eval(&mut h, script, &["0"]).await, bulk("5"));
    assert_eq!(h.run("GET y").await, bulk("5"));
    let commits = h.kv.commits();
    assert_eq!(commits.len(), 2, "the conflicting run is redone");
    assert_eq!(commits[1].mutations.len(), 1);

    // All writes of one run go out in one commit.
    let writes_before = h.kv.write_count();
    let reply = eval(&mut h, "redis.call('set','a','1'); redis.call('incr','a'); return redis.call('get','a')", &["0"]);
    assert_eq!(reply.await, bulk("2"));
    assert_eq!(h.kv.commits().len(), 3);
    // The one write outside the transaction stores the script body for EVALSHA.
    assert_eq!(h.kv.write_count(), writes_before + 1);
    let (_, stored) = h.kv.last_write().unwrap();
    assert!(matches!(&stored[..], [Mutation::Put { key, .. }] if key.starts_with(b"L")), "{stored:?}");
}

#[tokio::test]
async fn writes_before_an_error_are_kept_like_redis() {
    let mut h = Harness::new();
    let script = "redis.call('set','kept','1'); error('late')";
    let reply = eval(&mut h, script, &["0"]).await;
    assert!(matches!(reply, Reply::Error(_)), "{reply:?}");
    assert_eq!(h.run("GET kept").await, bulk("1"));
}

#[tokio::test]
async fn eval_inside_multi_runs_in_the_exec_transaction() {
    let mut h = Harness::new();
    assert_eq!(h.run("MULTI").await, ok());
    assert_eq!(h.run("SET a 1").await, Reply::simple("QUEUED"));
    let queued = eval(&mut h, "return redis.call('incr', KEYS[1])", &["1", "a"]).await;
    assert_eq!(queued, Reply::simple("QUEUED"));
    assert_eq!(h.run("GET a").await, Reply::simple("QUEUED"));
    assert_eq!(h.run("EXEC").await, Reply::Array(vec![ok(), int(2), bulk("2")]));
    assert_eq!(h.kv.commits().len(), 1, "EXEC and the script commit together");
    assert_eq!(h.run("GET a").await, bulk("2"));
}

#[tokio::test]
async fn runaway_scripts_are_stopped() {
    let mut ctx = ServerContext::new(6379, None);
    ctx.scripts.limits.time_limit = Duration::from_millis(50);
    let mut h = Harness::with_context(ctx);
    let script = "redis.call('set', 'lost', '1') while true do end";
    let expected =
        format!("ERR Error running script {}, exceeded the time limit of 50 ms", sha1_hex(script.as_bytes()));
    assert_eq!(eval(&mut h, script, &["0"]).await, err(&expected));
    assert_eq!(h.run("EXISTS lost").await, int(0), "a stopped script applies nothing");
    // pcall cannot swallow the stop.
    let script = "while true do pcall(function() while true do end end) end";
    let expected =
        format!("ERR Error running script {}, exceeded the time limit of 50 ms", sha1_hex(script.as_bytes()));
    assert_eq!(eval(&mut h, script, &["0"]).await, err(&expected));
}

#[tokio::test]
async fn oversized_replies_are_refused() {
    let mut ctx = ServerContext::new(6379, None);
    ctx.scripts.limits.max_reply_bytes = 1000;
    let mut h = Harness::with_context(ctx);
    let reply = eval(&mut h, "return string.rep('x', 2000)", &["0"]).await;
    assert!(matches!(&reply, Reply::Error(text) if text.ends_with(b"its reply exceeds the limit of 1000 bytes")));
    let mut h = Harness::new();
    assert_eq!(eval(&mut h, "local t = {} t[1] = t return t", &["0"]).await, err("ERR reached lua stack limit"));
}

#[tokio::test]
async fn the_vm_memory_is_capped() {
    let mut ctx = ServerContext::new(6379, None);
    ctx.scripts.limits.memory_limit = 4 << 20;
    let mut h = Harness::with_context(ctx);
    let script = "local t = {} for i = 1, 1e8 do t[i] = i end return #t";
    let expected = format!("ERR Error running script {}, not enough memory", sha1_hex(script.as_bytes()));
    assert_eq!(eval(&mut h, script, &["0"]).await, err(&expected));
    // The next script gets a fresh VM.
    assert_eq!(eval(&mut h, "return 1", &["0"]).await, int(1));
}

#[tokio::test]
async fn the_sandbox_cannot_be_left() {
    let mut h = Harness::new();
    // Environments of the API's own functions do not lead back to the unprotected globals.
    let probes = [
        "return type(getfenv(redis.pcall).debug)",
        "return type(getfenv(redis.call).dofile)",
        "return type(getfenv(redis.error_reply).loadfile)",
        "return type(getfenv(pcall).io)",
        "return type(getfenv(0).debug)",
    ];
    for probe in probes {
        let reply = eval(&mut h, probe, &["0"]).await;
        let safe =
            reply == bulk("nil") || matches!(&reply, Reply::Error(t) if t.windows(11).any(|w| w == b"nonexistent"));
        assert!(safe, "{probe}: {reply:?}");
    }
    assert_eq!(eval(&mut h, "return getmetatable(_G)", &["0"]).await, Reply::Null);
    assert!(matches!(eval(&mut h, "setmetatable(_G, {}) return 1", &["0"]).await, Reply::Error(_)));
    let bytecode = "return loadstring(string.dump(function() return 1 end))";
    assert_eq!(eval(&mut h, bytecode, &["0"]).await, Reply::Null);
}
