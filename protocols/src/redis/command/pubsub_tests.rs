//! Pub/Sub commands against the in-process registry. Expected bytes were recorded from
//! redis-server 7.0.15 over raw sockets.

use std::sync::Arc;

use bytes::Bytes;

use super::test_support::{int, Harness};
use crate::kv::{Expiry, Mutation};
use crate::redis::keyspace::{encode_string, kv_key};
use crate::redis::pubsub::{Delivery, Inbox, OutputLimits, Registry};
use crate::redis::session::ServerContext;
use crate::resp::{ProtocolVersion, Reply};

fn harness() -> (Harness, Arc<Registry>) {
    let registry = Arc::new(Registry::new(OutputLimits::default()));
    let ctx = ServerContext::new(6379, None).with_pubsub(registry.clone());
    (Harness::with_context(ctx), registry)
}

async fn same_bytes(h: &mut Harness, steps: &[(&str, &[u8])]) {
    for (line, expected) in steps {
        let reply = h.run(line).await;
        let actual = reply.to_bytes(h.session.protocol);
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(expected),
            "reply to `{line}` differs from redis-server"
        );
    }
}

fn drain(inbox: &mut Inbox, proto: ProtocolVersion) -> String {
    let mut out = String::new();
    while let Some(delivery) = inbox.try_recv() {
        out.push_str(&String::from_utf8_lossy(&delivery.to_reply().to_bytes(proto)));
    }
    out
}

const NOT_ALLOWED_GET: &[u8] = b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";

#[tokio::test]
async fn resp2_subscribed_mode_matches_redis() {
    let (mut h, _registry) = harness();
    same_bytes(
        &mut h,
        &[
            ("unsubscribe", b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"),
            ("punsubscribe", b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"),
            ("subscribe a b", b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"),
            ("ping", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
            ("ping hi", b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"),
            ("get x", NOT_ALLOWED_GET),
            ("client id", b"-ERR Can't execute 'client|id': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"),
            ("multi", b"-ERR Can't execute 'multi': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"),
            ("exec", b"-EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"),
            ("subscribe a", b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"),
            ("psubscribe p1 p2", b"*3\r\n$10\r\npsubscribe\r\n$2\r\np1\r\n:3\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\np2\r\n:4\r\n"),
            // Patterns are dropped in subscription order.
            ("punsubscribe", b"*3\r\n$12\r\npunsubscribe\r\n$2\r\np1\r\n:3\r\n*3\r\n$12\r\npunsubscribe\r\n$2\r\np2\r\n:2\r\n"),
            ("unsubscribe b a", b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"),
            ("unsubscribe", b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"),
            // Out of subscribed mode again.
            ("get x", b"$-1\r\n"),
            ("ping", b"+PONG\r\n"),
        ],
    )
    .await;
}

#[tokio::test]
async fn resp3_confirmations_are_pushes_and_other_commands_run() {
    let (mut h, registry) = harness();
    h.run("hello 3").await;
    same_bytes(
        &mut h,
        &[
            ("unsubscribe", b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"),
            ("subscribe a", b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"),
            ("ping", b"+PONG\r\n"),
            ("get x", b"_\r\n"),
            ("pubsub numsub a b", b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:0\r\n"),
            ("pubsub channels", b"*1\r\n$1\r\na\r\n"),
        ],
    )
    .await;
    let mut inbox = registry.take_inbox(h.session.client_id).expect("subscribed");
    assert_eq!(h.run_other("publish a hello").await, int(1));
    same_bytes(&mut h, &[("psubscribe a*", b">3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n")]).await;
    assert_eq!(h.run_other("publish a x").await, int(2));
    same_bytes(
        &mut h,
        &[
            ("pubsub numpat", b":1\r\n"),
            ("punsubscribe", b">3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:1\r\n"),
            (
                "unsubscribe a z",
                b">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\nz\r\n:0\r\n",
            ),
            ("pubsub numpat", b":0\r\n"),
        ],
    )
    .await;
    assert_eq!(
        drain(&mut inbox, ProtocolVersion::Resp3),
        ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n\
>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n\
>4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$1\r\nx\r\n"
    );
    assert_eq!(h.run_other("publish a late").await, int(0), "unsubscribed");
}

#[test]
fn resp2_messages_are_arrays() {
    let message = Delivery { pattern: None, channel: Bytes::from_static(b"ch"), payload: Bytes::from_static(b"hi") };
    assert_eq!(
        message.to_reply().to_bytes(ProtocolVersion::Resp2),
        &b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"[..]
    );
    let pmessage = Delivery { pattern: Some(Bytes::from_static(b"c*")), ..message };
    assert_eq!(
        pmessage.to_reply().to_bytes(ProtocolVersion::Resp2),
        &b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n"[..]
    );
}

#[tokio::test]
async fn pubsub_queries_and_their_errors_match_redis() {
    let (mut h, _registry) = harness();
    same_bytes(
        &mut h,
        &[
            ("pubsub", b"-ERR wrong number of arguments for 'pubsub' command\r\n"),
            ("pubsub foo", b"-ERR unknown subcommand 'foo'. Try PUBSUB HELP.\r\n"),
            (
                "pubsub channels a b",
                b"-ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.\r\n",
            ),
            ("pubsub numpat x", b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n"),
            ("pubsub numsub", b"*0\r\n"),
            ("pubsub channels", b"*0\r\n"),
            ("pubsub shardchannels", b"*0\r\n"),
            ("pubsub shardnumsub x", b"*2\r\n$1\r\nx\r\n:0\r\n"),
            ("subscribe", b"-ERR wrong number of arguments for 'subscribe' command\r\n"),
            ("publish a", b"-ERR wrong number of arguments for 'publish' command\r\n"),
            ("publish a b", b":0\r\n"),
        ],
    )
    .await;
    let help = h.run("pubsub help").await.to_bytes(ProtocolVersion::Resp2);
    assert!(help.starts_with(b"*14\r\n+PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
    assert!(help.ends_with(b"+HELP\r\n+    Prints this help.\r\n"));

    h.run_other("subscribe news.art news.tech other").await;
    h.run_other("psubscribe n*").await;
    let mut channels = match h.run("pubsub channels news.*").await {
        Reply::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    };
    channels.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(channels, vec![Reply::bulk("news.art"), Reply::bulk("news.tech")]);
    assert_eq!(h.run("pubsub numpat").await, int(1));
}

#[tokio::test]
async fn reset_leaves_subscribed_mode_silently() {
    let (mut h, registry) = harness();
    h.run("subscribe a").await;
    h.run("psubscribe b*").await;
    same_bytes(&mut h, &[("get x", NOT_ALLOWED_GET), ("reset", b"+RESET\r\n"), ("get x", b"$-1\r\n")]).await;
    assert_eq!(h.run_other("publish a m").await, int(0));
    assert_eq!(h.run_other("publish bb m").await, int(0));
    assert!(registry.local_patterns().is_empty());
}

#[tokio::test]
async fn reset_forgets_authentication_protocol_name_and_transaction() {
    let registry = Arc::new(Registry::new(OutputLimits::default()));
    let ctx = ServerContext::new(6379, Some("pw".into())).with_pubsub(registry);
    let mut h = Harness::with_context(ctx);
    assert_eq!(h.run("auth pw").await, Reply::ok());
    h.run("hello 3 setname me").await;
    assert_eq!(h.run("multi").await, Reply::ok());
    assert_eq!(h.run("reset").await, Reply::simple("RESET"), "runs at once inside MULTI");
    assert_eq!(h.session.protocol, ProtocolVersion::Resp2);
    assert_eq!(h.session.name, None);
    assert!(!h.session.in_multi());
    same_bytes(&mut h, &[("get x", b"-NOAUTH Authentication required.\r\n")]).await;
}

#[tokio::test]
async fn exec_subscribes_after_commit_and_publishes_once() {
    let (mut h, registry) = harness();
    h.run("multi").await;
    h.run("subscribe a b").await;
    h.run("get k").await;
    h.run("set k 1").await;
    h.run("publish a one").await;
    h.run("ping").await;
    // Another client writes k after EXEC's snapshot: the first attempt conflicts and the
    // whole queue runs again.
    h.kv.write_before_next_commit(vec![Mutation::Put {
        key: kv_key(b"k"),
        value: encode_string(b"other"),
        expiry: Expiry::Never,
    }]);
    let reply = h.run("exec").await.to_bytes(ProtocolVersion::Resp2);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "*5\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n\
$5\r\nother\r\n+OK\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    );
    let mut inbox = registry.take_inbox(h.session.client_id).expect("subscribed by EXEC");
    assert_eq!(
        drain(&mut inbox, ProtocolVersion::Resp2),
        "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$3\r\none\r\n",
        "published once, after the commit"
    );
    assert!(h.session.is_subscribed());
}
