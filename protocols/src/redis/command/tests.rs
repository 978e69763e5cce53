//! Command behaviour against the in-memory fake store. Expected replies were checked against
//! redis-server 7.0.15.

use bytes::Bytes;

use super::test_support::{bulk, err, int, ok, Harness, START_MS};
use super::{execute, Access, Command};
use crate::kv::{Expiry, Mutation};
use crate::redis::keyspace::{kv_key, ValueType};
use crate::resp::{ProtocolVersion, Reply};

/// Runs each `(command line, expected reply)` in order on one connection.
async fn script(h: &mut Harness, steps: &[(&str, Reply)]) {
    for (line, expected) in steps {
        assert_eq!(&h.run(line).await, expected, "command: {line}");
    }
}

fn null() -> Reply {
    Reply::Null
}

fn plant_hash(h: &Harness, key: &str) {
    let mut meta = crate::redis::collection::Meta::new(ValueType::Hash, 1);
    meta.size = 1;
    h.kv.put_raw(&kv_key(key.as_bytes()), &meta.encode());
}

#[tokio::test]
async fn unknown_commands_and_arity_errors() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("FOO a b", err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")),
            ("foo", err("ERR unknown command 'foo', with args beginning with: ")),
            ("get", err("ERR wrong number of arguments for 'get' command")),
            ("GET a b", err("ERR wrong number of arguments for 'get' command")),
            ("set a", err("ERR wrong number of arguments for 'set' command")),
            ("client", err("ERR wrong number of arguments for 'client' command")),
            ("client foo", err("ERR unknown subcommand 'foo'. Try CLIENT HELP.")),
            ("Client SetName", err("ERR wrong number of arguments for 'client|setname' command")),
            ("command foo", err("ERR unknown subcommand 'foo'. Try COMMAND HELP.")),
            ("command count x", err("ERR wrong number of arguments for 'command|count' command")),
            ("mset a", err("ERR wrong number of arguments for 'mset' command")),
            ("mset a 1 b", err("ERR wrong number of arguments for 'mset' command")),
            ("msetnx a 1 b", err("ERR wrong number of arguments for 'msetnx' command")),
            ("ping a b", err("ERR wrong number of arguments for 'ping' command")),
        ],
    )
    .await;
}

#[tokio::test]
async fn connection_commands() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("ping", Reply::simple("PONG")),
            ("ping hi", bulk("hi")),
            ("echo hello", bulk("hello")),
            ("select 0", ok()),
            ("select 1", err("ERR DB index is out of range")),
            ("select -1", err("ERR DB index is out of range")),
            ("select abc", err("ERR value is not an integer or out of range")),
            ("client id", int(7)),
            ("client getname", null()),
            ("client setname \"a b\"", err("ERR Client names cannot contain spaces, newlines or special characters.")),
            ("client setname conn1", ok()),
            ("client getname", bulk("conn1")),
            ("client setname \"\"", ok()),
            ("client getname", null()),
            ("client setinfo lib-name redis-py", ok()),
            ("client setinfo LIB-VER 5.0", ok()),
            ("client setinfo foo bar", err("ERR Unrecognized option 'foo'")),
            ("client setinfo lib-name \"a b\"", err("ERR lib-name cannot contain spaces, newlines or special characters.")),
            ("auth x", err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")),
            ("auth default anything", ok()),
            ("auth alice x", err("WRONGPASS invalid username-password pair or user is disabled.")),
            ("auth a b c", err("ERR syntax error")),
        ],
    )
    .await;
    assert_eq!(h.session.lib_name.as_deref(), Some(&b"redis-py"[..]));
    assert_eq!(h.session.lib_ver.as_deref(), Some(&b"5.0"[..]));
    assert!(matches!(h.run("client help").await, Reply::Array(lines) if !lines.is_empty()));
}

#[tokio::test]
async fn quit_replies_ok_and_closes() {
    let mut h = Harness::new();
    let cmd = Command::parse(vec![Bytes::from_static(b"QUIT")], &h.session, &h.ctx).unwrap();
    assert_eq!(cmd.access(), Access::Barrier);
    let outcome = execute(cmd, &mut h.session, &h.kv, &h.ctx).await;
    assert_eq!(outcome.reply, ok());
    assert!(outcome.close);
    let cmd = Command::parse(vec![Bytes::from_static(b"PING")], &h.session, &h.ctx).unwrap();
    assert!(!execute(cmd, &mut h.session, &h.kv, &h.ctx).await.close);
}

fn hello_map(proto: i64, id: i64) -> Reply {
    let b = |s: &str| bulk(s);
    Reply::Map(vec![
        (b("server"), b("redis")),
        (b("version"), b("7.0.15")),
        (b("proto"), int(proto)),
        (b("id"), int(id)),
        (b("mode"), b("standalone")),
        (b("role"), b("master")),
        (b("modules"), Reply::Array(vec![])),
    ])
}

#[tokio::test]
async fn hello_negotiates_protocol_and_encodes_like_redis() {
    let mut h = Harness::new();
    assert_eq!(h.run("hello").await, hello_map(2, 7));
    assert_eq!(h.session.protocol, ProtocolVersion::Resp2);
    let reply = h.run("hello 3 setname app").await;
    assert_eq!(reply, hello_map(3, 7));
    assert_eq!(h.session.protocol, ProtocolVersion::Resp3);
    assert_eq!(h.session.name.as_deref(), Some(&b"app"[..]));
    let expected: &[u8] =
        b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n\
$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
    assert_eq!(&reply.to_bytes(ProtocolVersion::Resp3)[..], expected);
    assert_eq!(h.run("get missing").await.to_bytes(h.session.protocol), &b"_\r\n"[..]);
    script(
        &mut h,
        &[
            ("hello 4", err("NOPROTO unsupported protocol version")),
            ("hello abc", err("ERR Protocol version is not an integer or out of range")),
            ("hello 2 foo", err("ERR Syntax error in HELLO option 'foo'")),
            ("hello 3 setname", err("ERR Syntax error in HELLO option 'setname'")),
            ("hello 2 auth a", err("ERR Syntax error in HELLO option 'auth'")),
            ("hello 2 auth bob x", err("WRONGPASS invalid username-password pair or user is disabled.")),
        ],
    )
    .await;
    // Failed HELLOs leave the protocol alone.
    assert_eq!(h.session.protocol, ProtocolVersion::Resp3);
}

#[tokio::test]
async fn requirepass_gates_everything_but_auth_hello_quit() {
    let mut h = Harness::with_password("secret");
    assert!(h.session.needs_auth(&h.ctx));
    assert!(h.session.request_limits(&h.ctx).unauthenticated);
    let hello_noauth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
    script(
        &mut h,
        &[
            ("ping", err("NOAUTH Authentication required.")),
            ("set a b xx nx", err("NOAUTH Authentication required.")),
            // Unknown commands and arity errors come before the auth check.
            ("foo", err("ERR unknown command 'foo', with args beginning with: ")),
            ("get", err("ERR wrong number of arguments for 'get' command")),
            ("hello 3", err(hello_noauth)),
            ("hello 2 auth default wrong", err("WRONGPASS invalid username-password pair or user is disabled.")),
            ("auth wrong", err("WRONGPASS invalid username-password pair or user is disabled.")),
            ("auth default wrong", err("WRONGPASS invalid username-password pair or user is disabled.")),
            ("auth secret", ok()),
            ("ping", Reply::simple("PONG")),
            // A later failed AUTH does not log the client out.
            ("auth wrong", err("WRONGPASS invalid username-password pair or user is disabled.")),
            ("ping", Reply::simple("PONG")),
        ],
    )
    .await;
    assert!(!h.session.request_limits(&h.ctx).unauthenticated);

    let mut h = Harness::with_password("secret");
    assert_eq!(h.run("hello 3 auth default secret").await, hello_map(3, 7));
    assert!(h.session.authenticated);
    let mut h = Harness::with_password("secret");
    script(&mut h, &[("quit", ok())]).await;
}

#[tokio::test]
async fn get_set_basics_and_types() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    script(
        &mut h,
        &[
            ("get a", null()),
            ("set a hello", ok()),
            ("get a", bulk("hello")),
            ("type a", Reply::simple("string")),
            ("type nope", Reply::simple("none")),
            ("type h", Reply::simple("hash")),
            ("get h", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("set h x get", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("set h x nx get", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("type h", Reply::simple("hash")),
            // Plain SET overwrites any type.
            ("set h x", ok()),
            ("type h", Reply::simple("string")),
        ],
    )
    .await;
}

#[tokio::test]
async fn plain_set_is_one_blind_write() {
    let mut h = Harness::new();
    assert_eq!(h.run("set k v ex 10").await, ok());
    assert_eq!(h.kv.read_count(), 0);
    let (conditions, mutations) = h.kv.last_write().unwrap();
    assert!(conditions.is_empty());
    assert_eq!(
        mutations,
        vec![Mutation::Put { key: kv_key(b"k"), value: Bytes::from_static(b"\x01v"), expiry: Expiry::AfterMs(10_000) }]
    );
    assert_eq!(h.run("set k w keepttl").await, ok());
    assert_eq!(h.kv.read_count(), 0);
    assert!(matches!(h.kv.last_write().unwrap().1[0], Mutation::Put { expiry: Expiry::Keep, .. }));
    assert_eq!(h.run("pttl k").await, int(10_000));
}

#[tokio::test]
async fn set_options_and_conflicts() {
    let mut h = Harness::new();
    let invalid = err("ERR invalid expire time in 'set' command");
    let syntax = err("ERR syntax error");
    script(
        &mut h,
        &[
            ("set a b ex -1", invalid.clone()),
            ("set a b ex 0", invalid.clone()),
            ("set a b px 0", invalid.clone()),
            ("set a b exat 0", invalid.clone()),
            ("set a b ex abc", err("ERR value is not an integer or out of range")),
            ("set a b ex 10 px 10", syntax.clone()),
            ("set a b nx xx", syntax.clone()),
            ("set a b ex abc nx xx", syntax.clone()),
            ("set a b keepttl ex 10", syntax.clone()),
            ("set a b ex 10 keepttl", syntax.clone()),
            ("set a b exat 10 pxat 10", syntax.clone()),
            ("set a b foo", syntax.clone()),
            ("set a b ex", syntax.clone()),
            ("set a b ex 9223372036854775807", invalid.clone()),
            ("set a b px 9223372036854775807", invalid.clone()),
            ("get a", null()),
            // Repeating the same option is allowed; the last value wins.
            ("set a b ex 10 ex 20", ok()),
            ("ttl a", int(20)),
            ("set a b exat 9223372036854775", ok()),
            ("set a b nx", null()),
            ("set a c xx", ok()),
            ("get a", bulk("c")),
            ("set z b xx", null()),
            ("get z", null()),
            ("set z b nx", ok()),
            ("set z c get", bulk("b")),
            ("set y c get", null()),
            ("get y", bulk("c")),
            ("set z d nx get", bulk("c")),
            ("get z", bulk("c")),
            ("set w d xx get", null()),
            ("get w", null()),
        ],
    )
    .await;
}

#[tokio::test]
async fn set_expiry_forms_and_keepttl() {
    let mut h = Harness::new();
    let at_s = START_MS / 1000 + 100;
    script(
        &mut h,
        &[
            ("set a b px 1500", ok()),
            ("pttl a", int(1500)),
            ("ttl a", int(2)),
            (&format!("set a b exat {at_s}"), ok()),
            ("ttl a", int(100)),
            (&format!("set a b pxat {}", START_MS + 5000), ok()),
            ("pttl a", int(5000)),
            ("set a c keepttl", ok()),
            ("pttl a", int(5000)),
            ("set a c xx keepttl", ok()),
            ("pttl a", int(5000)),
            ("set a d", ok()),
            ("ttl a", int(-1)),
            // An absolute time in the past stores an already expired key.
            ("set a e pxat 1", ok()),
            ("get a", null()),
        ],
    )
    .await;
    h.run("set t v ex 10").await;
    h.kv.advance_ms(10_000);
    assert_eq!(h.run("get t").await, null());
    assert_eq!(h.run("ttl t").await, int(-2));
}

#[tokio::test]
async fn setnx_setex_psetex_getset() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    script(
        &mut h,
        &[
            ("setnx a 1", int(1)),
            ("setnx a 2", int(0)),
            ("get a", bulk("1")),
            ("setex b 10 v", ok()),
            ("ttl b", int(10)),
            ("setex b 0 v", err("ERR invalid expire time in 'setex' command")),
            ("setex b abc v", err("ERR value is not an integer or out of range")),
            ("psetex c 1500 v", ok()),
            ("pttl c", int(1500)),
            ("psetex c -5 v", err("ERR invalid expire time in 'psetex' command")),
            ("getset b new", bulk("v")),
            ("ttl b", int(-1)),
            ("getset fresh x", null()),
            ("get fresh", bulk("x")),
            ("getset h x", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        ],
    )
    .await;
}

#[tokio::test]
async fn getdel_and_getex() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    let syntax = err("ERR syntax error");
    script(
        &mut h,
        &[
            ("set a b", ok()),
            ("getdel a", bulk("b")),
            ("exists a", int(0)),
            ("getdel a", null()),
            ("getdel h", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("set a b", ok()),
            ("getex a foo", syntax.clone()),
            ("getex a ex 10 px 10", syntax.clone()),
            ("getex a persist ex 10", syntax.clone()),
            ("getex a ex", syntax.clone()),
            ("getex a ex 0", err("ERR invalid expire time in 'getex' command")),
            ("getex a ex abc", err("ERR value is not an integer or out of range")),
            // The expire value is only checked once the key is found.
            ("getex zz ex -1", null()),
            ("getex h ex 10", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("getex a", bulk("b")),
            ("ttl a", int(-1)),
            ("getex a ex 100", bulk("b")),
            ("ttl a", int(100)),
            ("getex a persist", bulk("b")),
            ("ttl a", int(-1)),
            (&format!("getex a pxat {}", START_MS + 2500), bulk("b")),
            ("pttl a", int(2500)),
            ("getex a exat 1", bulk("b")),
            ("exists a", int(0)),
        ],
    )
    .await;
}

#[tokio::test]
async fn multi_key_commands() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    script(
        &mut h,
        &[
            ("mset a 1 b 2", ok()),
            ("mget a b h nope", Reply::Array(vec![bulk("1"), bulk("2"), null(), null()])),
            ("msetnx c 3 a 9", int(0)),
            ("get c", null()),
            ("msetnx c 3 d 4", int(1)),
            ("mget c d", Reply::Array(vec![bulk("3"), bulk("4")])),
            ("msetnx h 1", int(0)),
            ("exists a a nope b", int(3)),
            ("del a a nope h", int(2)),
            ("exists a h", int(0)),
            ("unlink b c", int(2)),
            ("del b", int(0)),
            ("dbsize", int(1)),
        ],
    )
    .await;
    // MSET is a single atomic write of every pair.
    let writes = h.kv.write_count();
    h.run("mset x 1 y 2 z 3").await;
    assert_eq!(h.kv.write_count(), writes + 1);
    assert_eq!(h.kv.last_write().unwrap().1.len(), 3);
}

#[tokio::test]
async fn counters() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    let overflow = err("ERR increment or decrement would overflow");
    script(
        &mut h,
        &[
            ("incr n", int(1)),
            ("incrby n 10", int(11)),
            ("decr n", int(10)),
            ("decrby n 15", int(-5)),
            ("get n", bulk("-5")),
            ("incrby n abc", err("ERR value is not an integer or out of range")),
            ("incrby n 01", err("ERR value is not an integer or out of range")),
            ("set s hello", ok()),
            ("incr s", err("ERR value is not an integer or out of range")),
            ("set s \" 1\"", ok()),
            ("incr s", err("ERR value is not an integer or out of range")),
            ("incr h", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("set m 9223372036854775807", ok()),
            ("incr m", overflow.clone()),
            ("incrby m -9223372036854775808", int(-1)),
            ("set m -9223372036854775808", ok()),
            ("decr m", overflow.clone()),
            ("decrby m -9223372036854775808", err("ERR decrement would overflow")),
            ("decrby fresh -9223372036854775808", err("ERR decrement would overflow")),
            // INCR keeps the TTL.
            ("set t 1 ex 100", ok()),
            ("incr t", int(2)),
            ("ttl t", int(100)),
        ],
    )
    .await;
}

#[tokio::test]
async fn incrbyfloat_formats_like_redis() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    let not_float = err("ERR value is not a valid float");
    script(
        &mut h,
        &[
            ("set f 10.50", ok()),
            ("incrbyfloat f 0.1", bulk("10.6")),
            ("incrbyfloat f -5", bulk("5.6")),
            ("set f 5.0e3", ok()),
            ("incrbyfloat f 2.0e2", bulk("5200")),
            ("set f 1000", ok()),
            ("incrbyfloat f 0.1", bulk("1000.09999999999999998")),
            ("get f", bulk("1000.09999999999999998")),
            ("incrbyfloat g 3", bulk("3")),
            ("incrbyfloat f abc", not_float.clone()),
            ("incrbyfloat f \" 1\"", not_float.clone()),
            ("incrbyfloat f inf", err("ERR increment would produce NaN or Infinity")),
            ("set s hello", ok()),
            ("incrbyfloat s 1", not_float.clone()),
            ("set big 1.5e4932", ok()),
            ("incrbyfloat big 1", not_float.clone()),
            ("incrbyfloat h abc", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("set t 1 px 5000", ok()),
            ("incrbyfloat t 0.5", bulk("1.5")),
            ("pttl t", int(5000)),
        ],
    )
    .await;
}

#[tokio::test]
async fn string_ranges_and_lengths() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    let too_long = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    script(
        &mut h,
        &[
            ("append a Hello", int(5)),
            ("append a \" World\"", int(11)),
            ("get a", bulk("Hello World")),
            ("strlen a", int(11)),
            ("strlen nope", int(0)),
            ("strlen h", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("append h x", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("getrange a 0 4", bulk("Hello")),
            ("getrange a -5 -1", bulk("World")),
            ("getrange a 5 2", bulk("")),
            ("getrange nope 0 -1", bulk("")),
            ("getrange a x 1", err("ERR value is not an integer or out of range")),
            ("getrange h 0 1", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("setrange a 6 Redis", int(11)),
            ("get a", bulk("Hello Redis")),
            ("setrange b 3 x", int(4)),
            ("get b", bulk("\0\0\0x")),
            ("setrange c 5 \"\"", int(0)),
            ("exists c", int(0)),
            ("setrange a 0 \"\"", int(11)),
            ("setrange a -1 x", err("ERR offset is out of range")),
            ("setrange a 536870911 xy", too_long.clone()),
            ("setrange h 0 x", err("WRONGTYPE Operation against a key holding the wrong kind of value")),
            ("set t abc ex 100", ok()),
            ("append t d", int(4)),
            ("setrange t 0 X", int(4)),
            ("ttl t", int(100)),
        ],
    )
    .await;
}

#[tokio::test]
async fn append_respects_the_configured_size_limit() {
    let ctx = crate::redis::ServerContext::new(6379, None)
        .with_limits(crate::resp::Limits { proto_max_bulk_len: 8, ..Default::default() });
    let mut h = Harness::with_context(ctx);
    script(
        &mut h,
        &[
            ("append a 12345678", int(8)),
            ("append a 9", err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")),
            ("get a", bulk("12345678")),
            ("setrange b 7 x", int(8)),
            ("setrange b 8 x", err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")),
        ],
    )
    .await;
}

#[tokio::test]
async fn expire_family() {
    let mut h = Harness::new();
    script(
        &mut h,
        &[
            ("set a b", ok()),
            ("expire a 10 foo", err("ERR Unsupported option foo")),
            ("expire a 10 nx xx", err("ERR NX and XX, GT or LT options at the same time are not compatible")),
            ("expire a 10 nx gt", err("ERR NX and XX, GT or LT options at the same time are not compatible")),
            ("expire a 10 gt lt", err("ERR GT and LT options at the same time are not compatible")),
            ("expire a abc", err("ERR value is not an integer or out of range")),
            ("expire a 9223372036854775807", err("ERR invalid expire time in 'expire' command")),
            ("expire a -9223372036854775808", err("ERR invalid expire time in 'expire' command")),
            ("pexpire a 9223372036854775807", err("ERR invalid expire time in 'pexpire' command")),
            ("expire nope 10", int(0)),
            ("ttl a", int(-1)),
            ("expire a 100 xx", int(0)),
            ("expire a 100 gt", int(0)),
            ("expire a 100 lt", int(1)),
            ("ttl a", int(100)),
            ("expire a 50 nx", int(0)),
            ("expire a 50 gt", int(0)),
            ("expire a 200 gt", int(1)),
            ("expire a 300 xx lt", int(0)),
            ("pexpire a 1500", int(1)),
            ("pttl a", int(1500)),
            ("ttl a", int(2)),
            (&format!("expireat a {}", START_MS / 1000 + 30), int(1)),
            ("ttl a", int(30)),
            ("expiretime a", int((START_MS / 1000 + 30) as i64)),
            ("pexpiretime a", int((START_MS + 30_000) as i64)),
            (&format!("pexpireat a {}", START_MS + 1234), int(1)),
            ("pexpiretime a", int((START_MS + 1234) as i64)),
            ("expiretime a", int(((START_MS + 1234 + 500) / 1000) as i64)),
            ("expiretime nope", int(-2)),
            ("pttl nope", int(-2)),
            ("persist a", int(1)),
            ("persist a", int(0)),
            ("persist nope", int(0)),
            ("pexpiretime a", int(-1)),
            ("expire a -1", int(1)),
            ("exists a", int(0)),
            ("set b c", ok()),
            ("expireat b 1", int(1)),
            ("get b", null()),
        ],
    )
    .await;
}

#[tokio::test]
async fn ttl_counts_down_with_the_core_clock() {
    let mut h = Harness::new();
    h.run("set a b ex 10").await;
    h.kv.advance_ms(2_400);
    assert_eq!(h.run("ttl a").await, int(8));
    assert_eq!(h.run("pttl a").await, int(7_600));
    h.kv.advance_ms(7_599);
    assert_eq!(h.run("pttl a").await, int(1));
    h.kv.advance_ms(1);
    assert_eq!(h.run("pttl a").await, int(-2));
    assert_eq!(h.run("exists a").await, int(0));
    assert!(h.kv.now_ms() > START_MS);
}

#[tokio::test]
async fn expire_on_other_types_keeps_the_value() {
    let mut h = Harness::new();
    plant_hash(&h, "h");
    assert_eq!(h.run("type h").await, Reply::simple("hash"));
    let before = h.kv.raw(&kv_key(b"h")).value;
    assert_eq!(h.run("expire h 10").await, int(1));
    assert_eq!(h.kv.raw(&kv_key(b"h")).value, before);
}

#[tokio::test]
async fn flush_dbsize_and_info() {
    let mut h = Harness::new();
    h.kv.put_raw(b"Zoutside", b"\x01x");
    script(
        &mut h,
        &[
            ("mset a 1 b 2 c 3", ok()),
            ("dbsize", int(3)),
            ("flushdb foo", err("ERR syntax error")),
            ("flushdb a b", err("ERR syntax error")),
            ("flushdb async", ok()),
            ("dbsize", int(0)),
            ("set a 1", ok()),
            ("flushall sync", ok()),
            ("dbsize", int(0)),
            ("set a 1", ok()),
        ],
    )
    .await;
    // Keys outside the Redis span are not Redis keys and survive FLUSHALL.
    assert!(h.kv.raw(b"Zoutside").is_live());

    let Reply::Verbatim { format, text } = h.run("info").await else { panic!("INFO is verbatim text") };
    assert_eq!(&format, b"txt");
    let text = String::from_utf8(text.to_vec()).unwrap();
    for needle in [
        "# Server\r\nredis_version:7.0.15\r\n",
        "redis_mode:standalone\r\n",
        "arch_bits:64\r\n",
        "tcp_port:6379\r\n",
        "\r\n\r\n# Clients\r\nconnected_clients:0\r\n",
        "# Memory\r\n",
        "# Persistence\r\n",
        "# Stats\r\n",
        "# Replication\r\nrole:master\r\n",
        "strata_raft_leader:1\r\n",
        "# CPU\r\n",
        "# Modules\r\n",
        "# Cluster\r\ncluster_enabled:0\r\n",
        "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n",
    ] {
        assert!(text.contains(needle), "INFO lacks {needle:?}");
    }
    assert!(text.ends_with("\r\n"));

    let keyspace = h.run("INFO Keyspace").await;
    assert_eq!(
        keyspace.to_bytes(ProtocolVersion::Resp2),
        &b"$44\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n"[..]
    );
    assert_eq!(
        keyspace.to_bytes(ProtocolVersion::Resp3),
        &b"=48\r\ntxt:# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n"[..]
    );
    assert_eq!(h.run("info nosuchsection").await.to_bytes(ProtocolVersion::Resp2), &b"$0\r\n\r\n"[..]);
    let Reply::Verbatim { text, .. } = h.run("info server cluster").await else { panic!() };
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.starts_with("# Server\r\n") && text.ends_with("\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n"));
}

#[tokio::test]
async fn command_introspection() {
    let mut h = Harness::new();
    let count = match h.run("command count").await {
        Reply::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    assert!(count >= 45, "count {count}");
    let Reply::Array(all) = h.run("command").await else { panic!() };
    assert_eq!(all.len() as i64, count);

    let get_info = h.run("command info get nosuch").await;
    let expected: &[u8] = b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n$-1\r\n";
    assert_eq!(&get_info.to_bytes(ProtocolVersion::Resp2)[..], expected);
    assert!(get_info
        .to_bytes(ProtocolVersion::Resp3)
        .starts_with(b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n"));

    let Reply::Array(mset) = h.run("command info MSET").await else { panic!() };
    let Some(Reply::Array(fields)) = mset.first() else { panic!() };
    assert_eq!(&fields[1..2], &[int(-3)]);
    assert_eq!(&fields[3..6], &[int(1), int(-1), int(2)]);

    let docs = h.run("command docs get nosuch").await;
    let expected: &[u8] = b"*2\r\n$3\r\nget\r\n*8\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n\
$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n";
    assert_eq!(&docs.to_bytes(ProtocolVersion::Resp2)[..], expected);
    let Reply::Map(client_docs) = h.run("command docs client").await else { panic!() };
    let Some((_, Reply::Map(fields))) = client_docs.first() else { panic!() };
    assert!(fields.iter().any(|(k, _)| k == &bulk("subcommands")));

    let Reply::Array(names) = h.run("command list").await else { panic!() };
    assert!(names.contains(&bulk("client|setname")) && names.contains(&bulk("incrbyfloat")));
    assert_eq!(h.run("command list filterby x").await, err("ERR syntax error"));
    assert!(matches!(h.run("command help").await, Reply::Array(lines) if !lines.is_empty()));
}

#[tokio::test]
async fn access_separates_keyed_commands_from_barriers() {
    let h = Harness::new();
    let access = |line: &str| {
        let args = line.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        Command::parse(args, &h.session, &h.ctx).unwrap().access()
    };
    let keys = |names: &[&str]| Access::Keys(names.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect());
    assert_eq!(access("GET a"), keys(&["a"]));
    assert_eq!(access("SET a b EX 10"), keys(&["a"]));
    assert_eq!(access("MSET a 1 b 2 c 3"), keys(&["a", "b", "c"]));
    assert_eq!(access("MGET a b"), keys(&["a", "b"]));
    assert_eq!(access("DEL a b"), keys(&["a", "b"]));
    assert_eq!(access("PING"), keys(&[]));
    assert_eq!(access("COMMAND COUNT"), keys(&[]));
    for barrier in
        ["HELLO 3", "AUTH default x", "SELECT 0", "CLIENT SETNAME x", "QUIT", "INFO", "DBSIZE", "FLUSHDB", "FLUSHALL"]
    {
        assert_eq!(access(barrier), Access::Barrier, "{barrier}");
    }
}

#[tokio::test]
async fn conflicting_writers_are_retried_then_given_up() {
    let mut h = Harness::new();
    h.kv.inject_conflicts(3);
    assert_eq!(h.run("incr n").await, int(1));
    // Three refused writes, then the one that committed.
    assert_eq!(h.kv.write_count(), 4);
    let (conditions, _) = h.kv.last_write().unwrap();
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0].expected_version, 0);

    h.kv.inject_conflicts(u32::MAX);
    let reply = h.run("incr n").await;
    assert!(matches!(&reply, Reply::Error(text) if text.starts_with(b"TRYAGAIN ")), "{reply:?}");
    assert_eq!(h.kv.write_count(), 4 + super::super::retry::MAX_ATTEMPTS as usize);
    h.kv.inject_conflicts(0);
    assert_eq!(h.run("get n").await, bulk("1"));
}

#[tokio::test]
async fn read_modify_writes_are_conditioned_on_the_version_read() {
    let mut h = Harness::new();
    h.run("set a 1").await;
    let version = h.kv.raw(&kv_key(b"a")).version;
    h.run("msetnx a 1 b 2").await;
    // MSETNX found `a`, so it wrote nothing.
    assert_eq!(h.kv.raw(&kv_key(b"a")).version, version);
    h.run("append a x").await;
    let (conditions, _) = h.kv.last_write().unwrap();
    assert_eq!(conditions, vec![crate::kv::Condition { key: kv_key(b"a"), expected_version: version }]);
}

#[tokio::test]
async fn commands_processed_are_counted() {
    let mut h = Harness::new();
    h.run("ping").await;
    h.run("get a").await;
    assert_eq!(h.ctx.total_commands_processed.load(std::sync::atomic::Ordering::Relaxed), 2);
}
