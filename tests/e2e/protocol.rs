//! Bad input and the wire protocol: malformed RESP, oversized payloads, inline commands,
//! pipelines, AUTH, redis-cli, and the operability endpoints.

use std::process::Command;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::compat::ReferenceRedis;
use crate::raw::{encode_command, RawConn};

async fn assert_healthy(cluster: &Cluster) {
    let mut conn = RawConn::connect(cluster.redis_port).await;
    assert_eq!(conn.cmd("PING").await, "+PONG\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_resp_gets_redis_errors_and_the_server_stays_up() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    let cases: &[&[u8]] = &[
        b"*1\r\n$abc\r\n",
        b"*abc\r\n",
        b"*2\r\n:1\r\n",
        b"*1\r\n$-5\r\n",
        b"*99999999999\r\n",
        b"SET a \"unbalanced\r\n",
    ];
    for case in cases {
        let mut redis = RawConn::connect(reference.port).await;
        let mut strata = RawConn::connect(cluster.redis_port).await;
        redis.send_raw(case).await;
        strata.send_raw(case).await;
        let expected = redis.read_reply().await;
        let actual = strata.read_reply().await;
        assert_eq!(actual, expected, "reply to {:?}", String::from_utf8_lossy(case));
        // Both close the connection after a protocol error.
        assert_eq!(strata.read_reply().await, None, "connection closed after {:?}", String::from_utf8_lossy(case));
    }
    assert_healthy(&cluster).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bulk_string_is_refused_before_it_is_buffered() {
    let cluster = Cluster::start().await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    // Announce 600 MiB, send nothing more: the server must refuse at once, not wait for it.
    conn.send_raw(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$629145600\r\n").await;
    let reply = conn.read_reply().await.expect("an error reply");
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
    assert_healthy(&cluster).await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    assert_eq!(conn.cmd("GET big").await, "$-1\r\n", "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn large_values_round_trip() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let value: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET").arg("large").arg(&value).query_async(&mut conn).await.unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("large").query_async(&mut conn).await.unwrap();
    assert_eq!(back.len(), value.len());
    assert!(back == value, "8 MiB value came back intact");
    let len: i64 = redis::cmd("STRLEN").arg("large").query_async(&mut conn).await.unwrap();
    assert_eq!(len, value.len() as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_commands_work_like_telnet() {
    let cluster = Cluster::start().await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    conn.send_raw(b"SET inline \"hello world\"\r\n").await;
    assert_eq!(conn.read_reply().await.unwrap(), "+OK\r\n");
    conn.send_raw(b"GET inline\r\n").await;
    assert_eq!(conn.read_reply().await.unwrap(), "$11\r\nhello world\r\n");
    conn.send_raw(b"PING\n").await;
    assert_eq!(conn.read_reply().await.unwrap(), "+PONG\r\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelines_answer_in_order_and_read_their_own_writes() {
    let cluster = Cluster::start().await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(encode_command(&[b"SET", format!("p{i}").as_bytes(), i.to_string().as_bytes()]));
        batch.extend(encode_command(&[b"INCR", format!("p{i}").as_bytes()]));
        batch.extend(encode_command(&[b"GET", format!("p{i}").as_bytes()]));
    }
    conn.send_raw(&batch).await;
    for i in 0..200 {
        assert_eq!(conn.read_reply().await.unwrap(), "+OK\r\n");
        assert_eq!(conn.read_reply().await.unwrap(), format!(":{}\r\n", i + 1));
        let v = (i + 1).to_string();
        assert_eq!(conn.read_reply().await.unwrap(), format!("${}\r\n{v}\r\n", v.len()));
    }
    // The redis crate's pipeline too.
    let mut c = cluster.connection().await;
    let (a, b): (i64, Option<String>) =
        redis::pipe().cmd("INCRBY").arg("pc").arg(5).cmd("GET").arg("pc").query_async(&mut c).await.unwrap();
    assert_eq!(a, 5);
    assert_eq!(b.as_deref(), Some("5"));
}

#[tokio::test(flavor = "multi_thread")]
async fn requirepass_gates_every_command() {
    let cluster = Cluster::start_with(&[], &["--requirepass", "s3cret"]).await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    assert_eq!(conn.cmd("GET a").await, "-NOAUTH Authentication required.\r\n");
    assert_eq!(conn.cmd("AUTH wrong").await, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_eq!(conn.cmd("AUTH s3cret").await, "+OK\r\n");
    assert_eq!(conn.cmd("SET a 1").await, "+OK\r\n");
    let mut c = crate::cluster::connect(&format!("redis://:s3cret@127.0.0.1:{}/", cluster.redis_port)).await.unwrap();
    let v: String = redis::cmd("GET").arg("a").query_async(&mut c).await.unwrap();
    assert_eq!(v, "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_cli_session() {
    let cluster = Cluster::start().await;
    let port = cluster.redis_port.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli").args(["-p", &port]).args(args).output().expect("redis-cli installed");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["SET", "cli:k", "hello"]), "OK");
    assert_eq!(cli(&["GET", "cli:k"]), "hello");
    assert_eq!(cli(&["INCR", "cli:n"]), "1");
    assert_eq!(cli(&["GET", "nope:nothing"]), "");
    assert!(cli(&["INFO", "server"]).contains("redis_version:"));
    assert!(cli(&["COMMAND", "COUNT"]).parse::<u64>().unwrap() > 40);
    assert_eq!(cli(&["GET"]), "ERR wrong number of arguments for 'get' command");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_endpoints() {
    let cluster = Cluster::start().await;
    let get = |addr: String, path: &str| {
        let path = path.to_string();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out)).await.unwrap().unwrap();
            out
        }
    };
    let gw = format!("127.0.0.1:{}", cluster.gateway_metrics_port);
    let metrics = get(gw.clone(), "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("strata_gateway_redis_commands_total"), "{metrics}");
    assert!(get(gw, "/healthz").await.starts_with("HTTP/1.1 200"));
    let core = cluster.core(1).addr.clone();
    let core_metrics = get(core.clone(), "/metrics").await;
    assert!(core_metrics.contains("strata_core_raft_state"), "{core_metrics}");
    assert!(get(core, "/healthz").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_in_flight_bound_refuse_with_tryagain() {
    let cluster = Cluster::start_with(&[], &["--client-rate-limit", "5"]).await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    let pipeline: Vec<u8> = (0..20).flat_map(|_| encode_command(&[b"PING"])).collect();
    conn.send_raw(&pipeline).await;
    let mut replies = Vec::new();
    for _ in 0..20 {
        replies.push(conn.read_reply().await.unwrap());
    }
    let passed = replies.iter().filter(|r| *r == "+PONG\r\n").count();
    let refused =
        replies.iter().filter(|r| r.starts_with("-TRYAGAIN client rate limit exceeded (5 commands/s")).count();
    assert_eq!((passed, refused), (5, 15), "{replies:?}");
    // Another connection has its own budget.
    let mut other = RawConn::connect(cluster.redis_port).await;
    assert_eq!(other.cmd("PING").await, "+PONG\r\n");
    drop(cluster);

    let cluster = Cluster::start_with(&[], &["--max-in-flight", "1"]).await;
    let mut conn = RawConn::connect(cluster.redis_port).await;
    // Ten GETs of distinct keys form one concurrent wave: one runs, nine are refused.
    let pipeline: Vec<u8> = (0..10).flat_map(|i| encode_command(&[b"GET", format!("k{i}").as_bytes()])).collect();
    conn.send_raw(&pipeline).await;
    let mut refused = 0;
    for _ in 0..10 {
        let reply = conn.read_reply().await.unwrap();
        if reply.starts_with("-TRYAGAIN too many commands in flight on this gateway (max 1)") {
            refused += 1;
        } else {
            assert_eq!(reply, "$-1\r\n");
        }
    }
    assert_eq!(refused, 9);
    // Permits come back: the connection keeps working.
    assert_eq!(conn.cmd("SET k0 v").await, "+OK\r\n");
    let metrics = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", cluster.gateway_metrics_port)).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    assert!(metrics.contains("strata_gateway_commands_refused_total{reason=\"in_flight\"} 9"), "{metrics}");
}
