//! Redis Pub/Sub across two gateways over one core cluster: a message published through any
//! gateway reaches subscribers on every gateway. Replies are compared with redis-server.

use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncReadExt;

use crate::cluster::{connect, eventually, Cluster, ExtraGateway};
use crate::compat::ReferenceRedis;
use crate::raw::{encode_command, RawConn};
use crate::routing::gateway_metric;

/// How long a gateway may take to see another in its peer list: the lease refresh interval
/// (3 s) plus a scan, with room for a slow machine.
const MESH_WAIT: Duration = Duration::from_secs(30);

/// Waits until `PUBSUB NUMSUB channel` through `url` counts `expected` subscribers, i.e. the
/// gateway behind `url` knows every gateway that has one.
async fn wait_for_numsub(url: &str, channel: &str, expected: i64) {
    eventually(MESH_WAIT, "PUBSUB NUMSUB to see every subscriber", || async move {
        let mut conn = connect(url).await.ok()?;
        let reply: (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query_async(&mut conn).await.ok()?;
        (reply.1 == expected).then_some(())
    })
    .await;
}

async fn two_gateways() -> (Cluster, ExtraGateway) {
    let cluster = Cluster::start().await;
    let second = cluster.start_extra_gateway().await;
    (cluster, second)
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_cross_gateways_in_publish_order() {
    let (cluster, b) = two_gateways().await;
    let a_url = cluster.redis_url();
    let b_url = b.redis_url();

    // Subscribers on gateway A: one channel subscriber, one pattern subscriber.
    let mut channel_sub = redis::Client::open(a_url.as_str()).unwrap().get_async_pubsub().await.unwrap();
    channel_sub.subscribe("news").await.unwrap();
    let mut pattern_sub = redis::Client::open(a_url.as_str()).unwrap().get_async_pubsub().await.unwrap();
    pattern_sub.psubscribe("ne*").await.unwrap();
    wait_for_numsub(&b_url, "news", 1).await;

    let mut publisher = connect(&b_url).await.unwrap();
    let receivers: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query_async(&mut publisher).await.unwrap();
    assert_eq!(receivers, 2, "the channel and the pattern subscriber on the other gateway");

    let mut messages = channel_sub.on_message();
    let message = tokio::time::timeout(Duration::from_secs(10), messages.next()).await.unwrap().unwrap();
    assert_eq!(message.get_channel_name(), "news");
    assert_eq!(message.get_payload::<String>().unwrap(), "hello");
    let mut pmessages = pattern_sub.on_message();
    let pmessage = tokio::time::timeout(Duration::from_secs(10), pmessages.next()).await.unwrap().unwrap();
    assert_eq!(pmessage.get_pattern::<String>().unwrap(), "ne*");
    assert_eq!(pmessage.get_channel_name(), "news");

    // One publisher's pipeline arrives in order on the other gateway.
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("PUBLISH").arg("news").arg(i.to_string());
    }
    let counts: Vec<i64> = pipe.query_async(&mut publisher).await.unwrap();
    assert!(counts.iter().all(|&n| n == 2), "every message reached both subscribers: {counts:?}");
    for i in 0..300 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next()).await.unwrap().unwrap();
        assert_eq!(message.get_payload::<String>().unwrap(), i.to_string(), "messages out of order");
    }

    // PUBSUB queries see both gateways' subscribers from either gateway.
    for url in [&a_url, &b_url] {
        let mut conn = connect(url).await.unwrap();
        let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query_async(&mut conn).await.unwrap();
        assert_eq!(numpat, 1);
        let channels: Vec<String> =
            redis::cmd("PUBSUB").arg("CHANNELS").arg("n*").query_async(&mut conn).await.unwrap();
        assert_eq!(channels, vec!["news".to_string()]);
    }
    drop(messages);
    drop(pmessages);

    // The other direction, with subscribers on both gateways at once.
    let mut b_sub = redis::Client::open(b_url.as_str()).unwrap().get_async_pubsub().await.unwrap();
    b_sub.subscribe("news").await.unwrap();
    wait_for_numsub(&a_url, "news", 2).await;
    wait_for_numsub(&b_url, "news", 2).await;
    let mut a_conn = connect(&a_url).await.unwrap();
    let receivers: i64 = redis::cmd("PUBLISH").arg("news").arg("both").query_async(&mut a_conn).await.unwrap();
    assert_eq!(receivers, 3, "channel subscribers on A and B and the pattern subscriber on A");
    let on_b = tokio::time::timeout(Duration::from_secs(10), b_sub.on_message().next()).await.unwrap().unwrap();
    assert_eq!(on_b.get_payload::<String>().unwrap(), "both");

    // A subscriber that leaves is no longer counted anywhere.
    b_sub.unsubscribe("news").await.unwrap();
    wait_for_numsub(&a_url, "news", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resp3_push_frames_cross_gateways() {
    let (cluster, b) = two_gateways().await;
    // The redis crate's RESP3 connection: pushes arrive on its push channel.
    let client = redis::Client::open(format!("{}?protocol=resp3", cluster.redis_url())).unwrap();
    let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let mut subscriber = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
    subscriber.subscribe("r3").await.unwrap();
    // Other commands keep working on a subscribed RESP3 connection.
    let pong: String = redis::cmd("PING").query_async(&mut subscriber).await.unwrap();
    assert_eq!(pong, "PONG");
    wait_for_numsub(&b.redis_url(), "r3", 1).await;
    let mut publisher = connect(&b.redis_url()).await.unwrap();
    let _: i64 = redis::cmd("PUBLISH").arg("r3").arg("pushed").query_async(&mut publisher).await.unwrap();
    let message = eventually(Duration::from_secs(10), "the push message", || {
        let next = pushes.try_recv().ok();
        async move { next.filter(|p| p.kind == redis::PushKind::Message) }
    })
    .await;
    assert_eq!(
        message.data,
        vec![redis::Value::BulkString(b"r3".to_vec()), redis::Value::BulkString(b"pushed".to_vec())]
    );

    // Byte for byte against redis-server: confirmations, messages and replies in RESP3.
    let reference = ReferenceRedis::start().await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    let mut redis = RawConn::connect(reference.port).await;
    strata.cmd("HELLO 3").await;
    redis.cmd("HELLO 3").await;
    for line in ["UNSUBSCRIBE", "SUBSCRIBE raw", "PING", "GET missing", "PSUBSCRIBE ra*"] {
        assert_eq!(strata.cmd(line).await, redis.cmd(line).await, "reply to `{line}`");
    }
    wait_for_numsub(&b.redis_url(), "raw", 1).await;
    let mut b_raw = RawConn::connect(b.redis_port).await;
    let mut reference_publisher = RawConn::connect(reference.port).await;
    assert_eq!(b_raw.cmd("PUBLISH raw m").await, ":2\r\n");
    assert_eq!(reference_publisher.cmd("PUBLISH raw m").await, ":2\r\n");
    for _ in 0..2 {
        assert_eq!(strata.read_reply().await, redis.read_reply().await, "message and pmessage pushes");
    }
    for line in ["PUNSUBSCRIBE", "UNSUBSCRIBE raw", "UNSUBSCRIBE"] {
        assert_eq!(strata.cmd(line).await, redis.cmd(line).await, "reply to `{line}`");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resp2_subscribed_mode_matches_redis() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let mut strata = RawConn::connect(cluster.redis_port).await;
    let mut redis = RawConn::connect(reference.port).await;
    for line in [
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUBSCRIBE a",
        "PING",
        "PING hi",
        "GET x",
        "CLIENT ID",
        "MULTI",
        "EXEC",
        "PSUBSCRIBE p1 p2",
        "PUNSUBSCRIBE",
        "UNSUBSCRIBE a",
        "UNSUBSCRIBE",
        "GET x",
        "PUBSUB NUMSUB a",
        "PUBSUB CHANNELS a b",
        "PUBSUB NUMPAT",
        "SUBSCRIBE a",
        "RESET",
        "GET x",
    ] {
        assert_eq!(strata.cmd(line).await, redis.cmd(line).await, "reply to `{line}`");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_cli_publishes_across_gateways() {
    let (cluster, b) = two_gateways().await;
    let mut subscriber = RawConn::connect(cluster.redis_port).await;
    assert_eq!(subscriber.cmd("SUBSCRIBE cli").await, "*3\r\n$9\r\nsubscribe\r\n$3\r\ncli\r\n:1\r\n");
    wait_for_numsub(&b.redis_url(), "cli", 1).await;
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &b.redis_port.to_string(), "PUBLISH", "cli", "from redis-cli"])
        .output()
        .expect("redis-cli must be installed");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert_eq!(subscriber.read_reply().await.unwrap(), "*3\r\n$7\r\nmessage\r\n$3\r\ncli\r\n$14\r\nfrom redis-cli\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_gateway_leaves_the_mesh() {
    let (cluster, b) = two_gateways().await;
    let mut subscriber = RawConn::connect(b.redis_port).await;
    subscriber.cmd("SUBSCRIBE gone").await;
    wait_for_numsub(&cluster.redis_url(), "gone", 1).await;
    assert_eq!(gateway_metric(&cluster, "strata_gateway_pubsub_peers", "").await, 1);
    b.stop();
    // A clean shutdown withdraws the lease; A stops counting B's subscribers.
    wait_for_numsub(&cluster.redis_url(), "gone", 0).await;
    let mut conn = cluster.connection().await;
    let receivers: i64 = redis::cmd("PUBLISH").arg("gone").arg("x").query_async(&mut conn).await.unwrap();
    assert_eq!(receivers, 0);
    eventually(MESH_WAIT, "the peer to leave", || async {
        (gateway_metric(&cluster, "strata_gateway_pubsub_peers", "").await == 0).then_some(())
    })
    .await;
}

/// A subscriber that stops reading is disconnected once more than 32 MiB (Redis's
/// `client-output-buffer-limit pubsub` hard limit) wait for it; the publisher never blocks.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_stops_reading_is_disconnected() {
    let cluster = Cluster::start().await;
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", cluster.redis_port)).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, &encode_command(&[b"SUBSCRIBE", b"firehose"])).await.unwrap();
    let mut publisher = RawConn::connect(cluster.redis_port).await;
    eventually(Duration::from_secs(10), "the subscription", || async {
        let mut conn = cluster.connection().await;
        let reply: (String, i64) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg("firehose").query_async(&mut conn).await.ok()?;
        (reply.1 == 1).then_some(())
    })
    .await;
    let payload = vec![b'x'; 1 << 20];
    let mut published = 0;
    loop {
        let reply = publisher.cmd_args(&[b"PUBLISH", b"firehose", &payload]).await;
        published += 1;
        if reply == ":0\r\n" {
            break;
        }
        assert_eq!(reply, ":1\r\n");
        assert!(published < 1000, "the slow subscriber was never disconnected");
    }
    assert!(published > 32, "disconnected after only {published} MiB");
    // The connection is closed: reading drains what the kernel buffered, then ends.
    let mut sink = vec![0u8; 1 << 20];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match slow.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow subscriber's connection was not closed");
    assert_eq!(gateway_metric(&cluster, "strata_gateway_pubsub_slow_subscribers_disconnected_total", "").await, 1);
    // The publisher's connection is unaffected.
    assert_eq!(publisher.cmd("PING").await, "+PONG\r\n");
}
