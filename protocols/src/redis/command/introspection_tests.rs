//! CLIENT LIST / INFO / KILL / NO-EVICT / REPLY, CONFIG, INFO sections and statistics, COMMAND
//! GETKEYS, TIME, LASTSAVE, WAIT and FUNCTION FLUSH.

use bytes::Bytes;

use super::test_support::{bulk, err, int, ok, Harness};
use crate::redis::clients::ClientHandle;
use crate::resp::Reply;

/// A harness whose two sessions are registered connections, like the gateway's.
fn connected() -> Harness {
    let mut h = Harness::new();
    let first = ClientHandle::new(7, "127.0.0.1:40001".into(), "127.0.0.1:6379".into(), 11);
    let second = ClientHandle::new(8, "127.0.0.1:40002".into(), "127.0.0.1:6379".into(), 12);
    h.ctx.clients.register(first.clone());
    h.ctx.clients.register(second.clone());
    h.session = h.session.clone().with_connection(first);
    h.other = h.other.clone().with_connection(second);
    h
}

fn text(reply: Reply) -> String {
    match reply {
        Reply::Verbatim { text, .. } | Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn handle(h: &Harness, id: u64) -> std::sync::Arc<ClientHandle> {
    h.ctx.clients.get(id).expect("registered")
}

#[tokio::test]
async fn client_list_shows_every_connection_with_its_state() {
    let mut h = connected();
    assert_eq!(h.run_other("CLIENT SETNAME worker").await, ok());
    assert_eq!(h.run_other("MULTI").await, ok());
    assert_eq!(h.run_other("SET k v").await, Reply::simple("QUEUED"));
    let list = text(h.run("CLIENT LIST").await);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("id=7 addr=127.0.0.1:40001 laddr=127.0.0.1:6379 fd=11 name= age=0 idle=0 flags=N db=0 "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(" multi=-1 ") && lines[0].contains(" cmd=client|list ") && lines[0].contains(" resp=2"));
    assert!(lines[1].starts_with("id=8 addr=127.0.0.1:40002 "), "{}", lines[1]);
    assert!(lines[1].contains(" name=worker ") && lines[1].contains(" flags=x ") && lines[1].contains(" multi=1 "));
    assert!(lines[1].contains(" cmd=set "), "queued commands are the last command, as in Redis: {}", lines[1]);
    assert!(list.ends_with('\n'));

    let only = text(h.run("CLIENT LIST ID 8 99").await);
    assert_eq!(only.lines().count(), 1);
    assert!(only.starts_with("id=8 "));
    assert_eq!(text(h.run("CLIENT LIST TYPE normal").await).lines().count(), 2);
    assert_eq!(text(h.run("CLIENT LIST TYPE pubsub").await), "");
    assert_eq!(h.run("CLIENT LIST TYPE nope").await, err("ERR Unknown client type 'nope'"));
    assert_eq!(h.run("CLIENT LIST ID x").await, err("ERR Invalid client ID"));
    assert_eq!(h.run("CLIENT LIST foo").await, err("ERR syntax error"));
}

#[tokio::test]
async fn client_info_describes_this_connection() {
    let mut h = connected();
    assert!(!h.run("HELLO 3").await.is_error());
    assert_eq!(h.run("CLIENT NO-EVICT on").await, ok());
    assert_eq!(h.run("CLIENT SETINFO LIB-NAME redis-rs").await, ok());
    let info = text(h.run("CLIENT INFO").await);
    assert!(info.starts_with("id=7 addr=127.0.0.1:40001 "), "{info}");
    assert!(info.contains(" flags=e ") && info.contains(" resp=3 ") && info.contains(" cmd=client|info "), "{info}");
    assert!(info.contains(" lib-name=redis-rs lib-ver="), "{info}");
    assert!(info.ends_with('\n') && info.lines().count() == 1);
    assert_eq!(h.run("CLIENT NO-EVICT maybe").await, err("ERR syntax error"));
}

#[tokio::test]
async fn client_kill_old_and_new_forms() {
    let mut h = connected();
    let other = handle(&h, 8);
    assert_eq!(h.run("CLIENT KILL 127.0.0.1:1").await, err("ERR No such client"));
    assert_eq!(h.run("CLIENT KILL 127.0.0.1:40002").await, ok());
    assert!(other.is_killed());
    assert!(!handle(&h, 7).is_killed());

    let mut h = connected();
    // SKIPME defaults to yes in the new form: killing by our own id kills nobody.
    assert_eq!(h.run("CLIENT KILL ID 7").await, int(0));
    assert_eq!(h.run("CLIENT KILL ID 8").await, int(1));
    assert!(handle(&h, 8).is_killed());
    assert_eq!(h.run("CLIENT KILL LADDR 127.0.0.1:6379 SKIPME yes").await, int(1));
    assert_eq!(h.run("CLIENT KILL ADDR 127.0.0.1:40002 TYPE normal USER default").await, int(1));
    assert_eq!(h.run("CLIENT KILL ID 0").await, err("ERR client-id should be greater than 0"));
    assert_eq!(h.run("CLIENT KILL TYPE bogus").await, err("ERR Unknown client type 'bogus'"));
    assert_eq!(h.run("CLIENT KILL USER alice").await, err("ERR No such user 'alice'"));
    assert_eq!(h.run("CLIENT KILL SKIPME maybe").await, err("ERR syntax error"));
    // Three arguments are the old form: `ID` is taken as an address.
    assert_eq!(h.run("CLIENT KILL ID").await, err("ERR No such client"));
    assert_eq!(h.run("CLIENT KILL ID 7 TYPE").await, err("ERR syntax error"));
    assert!(!handle(&h, 7).is_killed());

    // Killing yourself (SKIPME no) answers, then the connection closes.
    let args: Vec<Bytes> = ["CLIENT", "KILL", "ID", "7", "SKIPME", "no"].into_iter().map(Bytes::from).collect();
    let cmd = super::Command::parse(args, &h.session, &h.ctx).expect("parses");
    let outcome = super::execute(cmd, &mut h.session, &h.kv, &h.ctx).await;
    assert_eq!(outcome.reply, int(1));
    assert!(outcome.close);
}

#[tokio::test]
async fn client_reply_off_and_skip_drop_replies() {
    let mut h = connected();
    assert!(h.session.should_reply());
    assert_eq!(h.run("CLIENT REPLY SKIP").await, ok());
    assert!(!h.session.should_reply(), "SKIP itself is not answered");
    assert!(!h.session.should_reply(), "nor the next command");
    assert!(h.session.should_reply());
    assert_eq!(h.run("CLIENT REPLY OFF").await, ok());
    assert!(!h.session.should_reply());
    assert!(!h.session.should_reply());
    assert_eq!(h.run("CLIENT REPLY ON").await, ok());
    assert!(h.session.should_reply());
    assert_eq!(h.run("CLIENT REPLY maybe").await, err("ERR syntax error"));
}

fn config_pairs(reply: Reply) -> Vec<(String, String)> {
    let Reply::Map(pairs) = reply else { panic!("CONFIG GET answers a map, got {reply:?}") };
    pairs.into_iter().map(|(k, v)| (text(k), text(v))).collect()
}

#[tokio::test]
async fn config_get_set_with_patterns_and_redis_errors() {
    let mut h = Harness::new();
    assert_eq!(config_pairs(h.run("CONFIG GET maxmemory").await), vec![("maxmemory".into(), "0".into())]);
    assert_eq!(config_pairs(h.run("CONFIG GET port").await), vec![("port".into(), "6379".into())]);
    let many = config_pairs(h.run("CONFIG GET maxmemory* appendonly").await);
    let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"maxmemory-policy") && names.contains(&"maxmemory-samples"), "{names:?}");
    assert!(names.contains(&"appendonly"));
    assert!(config_pairs(h.run("CONFIG GET *").await).len() > 150);
    assert!(config_pairs(h.run("CONFIG GET nothing-like-this").await).is_empty());

    assert_eq!(h.run("CONFIG SET maxmemory 1mb maxmemory-policy allkeys-lru").await, ok());
    assert_eq!(
        config_pairs(h.run("CONFIG GET maxmemory").await),
        vec![("maxmemory".into(), (1024 * 1024).to_string())]
    );
    assert_eq!(h.ctx.config_value("maxmemory-policy").as_deref(), Some("allkeys-lru"));
    // Aliases read and write the same parameter.
    assert_eq!(h.run("CONFIG SET hash-max-ziplist-entries 64").await, ok());
    assert_eq!(
        config_pairs(h.run("CONFIG GET hash-max-listpack-entries").await),
        vec![("hash-max-listpack-entries".into(), "64".into())]
    );

    assert_eq!(
        h.run("CONFIG SET foo bar").await,
        err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
    );
    assert_eq!(
        h.run("CONFIG SET appendonly maybe").await,
        err("ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'")
    );
    assert_eq!(
        h.run("CONFIG SET maxmemory abc").await,
        err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value")
    );
    assert_eq!(
        h.run("CONFIG SET maxmemory 1 maxmemory 2").await,
        err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter")
    );
    assert_eq!(
        h.run("CONFIG SET daemonize yes").await,
        err("ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config")
    );
    assert_eq!(h.run("CONFIG SET maxmemory 1 hz").await, err("ERR syntax error"));
    assert_eq!(h.run("CONFIG SET maxmemory").await, err("ERR wrong number of arguments for 'config|set' command"));
    // A failed CONFIG SET changes nothing.
    assert!(h.run("CONFIG SET hz 20 appendonly maybe").await.is_error());
    assert_eq!(config_pairs(h.run("CONFIG GET hz").await), vec![("hz".into(), "10".into())]);

    assert_eq!(h.run("CONFIG REWRITE").await, err("ERR The server is running without a config file"));
}

#[tokio::test]
async fn info_sections_and_statistics() {
    let mut h = Harness::new();
    assert_eq!(h.run("SET k v").await, ok());
    assert_eq!(h.run("GET k").await, bulk("v"));
    assert_eq!(h.run("INCR k").await, err("ERR value is not an integer or out of range"));
    assert_eq!(h.run("GET").await, err("ERR wrong number of arguments for 'get' command"));
    assert!(h.run("NOSUCH").await.is_error());

    let stats = text(h.run("INFO commandstats").await);
    assert!(stats.starts_with("# Commandstats\r\n"), "{stats}");
    assert!(stats.contains("cmdstat_set:calls=1,usec="), "{stats}");
    assert!(stats.contains("cmdstat_get:calls=1,"), "{stats}");
    assert!(stats.contains(",rejected_calls=1,failed_calls=0\r\n"), "GET's arity error is a rejection: {stats}");
    assert!(stats.contains("cmdstat_incr:calls=1,") && stats.contains("rejected_calls=0,failed_calls=1"), "{stats}");
    let errors = text(h.run("INFO errorstats").await);
    assert_eq!(errors, "# Errorstats\r\nerrorstat_ERR:count=3\r\n");
    assert!(text(h.run("INFO stats").await).contains("total_error_replies:3\r\n"));

    let default = text(h.run("INFO").await);
    assert!(default.contains("# Server\r\n") && default.contains("# Keyspace\r\n") && default.contains("# Errorstats"));
    assert!(!default.contains("rejected_calls"), "commandstats is not a default section");
    assert!(text(h.run("INFO all").await).contains("rejected_calls"));
    assert!(text(h.run("INFO everything").await).contains("rejected_calls"));
    let several = text(h.run("INFO cpu sentinel CommandStats").await);
    assert!(
        several.contains("used_cpu_user") && several.contains("rejected_calls") && !several.contains("used_memory")
    );
    let twice = text(h.run("INFO cpu all").await);
    assert_eq!(twice.matches("used_cpu_user_children").count(), 1);
    for needle in ["role:master", "connected_slaves:0", "cluster_enabled:0", "maxmemory:0", "tcp_port:6379"] {
        assert!(text(h.run("INFO everything").await).contains(needle), "{needle}");
    }

    assert_eq!(h.run("CONFIG RESETSTAT").await, ok());
    assert_eq!(text(h.run("INFO errorstats").await), "# Errorstats\r\n");
    assert!(!text(h.run("INFO commandstats").await).contains("cmdstat_get"));
}

#[tokio::test]
async fn command_getkeys_time_lastsave_wait_function() {
    let mut h = Harness::new();
    assert_eq!(h.run("COMMAND GETKEYS MSET a 1 b 2").await, Reply::Array(vec![bulk("a"), bulk("b")]));
    assert_eq!(h.run("COMMAND GETKEYS PING x").await, err("ERR The command has no key arguments"));
    assert_eq!(h.run("COMMAND GETKEYS NOSUCH x").await, err("ERR Invalid command specified"));
    assert_eq!(h.run("COMMAND GETKEYS GET a b").await, err("ERR Invalid number of arguments specified for command"));

    let Reply::Array(time) = h.run("TIME").await else { panic!("TIME is an array") };
    let seconds: u64 = text(time[0].clone()).parse().expect("seconds");
    let micros: u64 = text(time[1].clone()).parse().expect("microseconds");
    assert!(seconds >= h.ctx.started_unix && micros < 1_000_000);
    assert_eq!(h.run("LASTSAVE").await, int(h.ctx.started_unix as i64));

    // The fake store reports no ranges: no replica to count.
    assert_eq!(h.run("WAIT 1 0").await, int(0));
    assert_eq!(h.run("WAIT 1 -1").await, err("ERR timeout is negative"));
    assert_eq!(h.run("WAIT x 0").await, err("ERR value is not an integer or out of range"));

    assert_eq!(h.run("FUNCTION FLUSH").await, ok());
    assert_eq!(h.run("FUNCTION FLUSH ASYNC").await, ok());
    assert_eq!(h.run("FUNCTION FLUSH foo").await, err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
}
