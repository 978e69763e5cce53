//! CLIENT LIST / KILL across connections, INFO and CONFIG against a real cluster.

use std::time::Duration;

use crate::cluster::{eventually, Cluster};

async fn query<T: redis::FromRedisValue>(conn: &mut redis::aio::MultiplexedConnection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn).await.unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn client_list_and_kill_see_other_connections() {
    let cluster = Cluster::start().await;
    let mut admin = cluster.connection().await;
    let mut victim = cluster.connection().await;
    let _: () = query(&mut victim, &["CLIENT", "SETNAME", "victim"]).await;
    let victim_id: i64 = query(&mut victim, &["CLIENT", "ID"]).await;
    let admin_id: i64 = query(&mut admin, &["CLIENT", "ID"]).await;
    assert_ne!(victim_id, admin_id);

    let list: String = query(&mut admin, &["CLIENT", "LIST"]).await;
    let victim_line = list
        .lines()
        .find(|line| line.starts_with(&format!("id={victim_id} ")))
        .unwrap_or_else(|| panic!("victim missing from CLIENT LIST:\n{list}"));
    assert!(victim_line.contains(" name=victim ") && victim_line.contains(" cmd=client|id "), "{victim_line}");
    assert!(victim_line.contains(" laddr=127.0.0.1:") && victim_line.contains(" fd="), "{victim_line}");
    let admin_line = list.lines().find(|line| line.starts_with(&format!("id={admin_id} "))).expect("admin listed");
    assert!(admin_line.contains(" cmd=client|list "), "{admin_line}");
    let info: String = query(&mut admin, &["CLIENT", "INFO"]).await;
    assert!(info.starts_with(&format!("id={admin_id} ")), "{info}");

    let killed: i64 = query(&mut admin, &["CLIENT", "KILL", "ID", &victim_id.to_string()]).await;
    assert_eq!(killed, 1);
    // The victim's connection is closed by the server: its next command fails.
    let result: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut victim).await;
    assert!(result.is_err(), "killed connection still answers: {result:?}");
    let admin_after = admin.clone();
    eventually(Duration::from_secs(10), "victim to leave CLIENT LIST", || {
        let mut admin = admin_after.clone();
        async move {
            let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut admin).await.ok()?;
            (!list.contains(&format!("id={victim_id} "))).then_some(())
        }
    })
    .await;

    // The old form by address; unknown address is an error.
    let mut third = cluster.connection().await;
    let third_info: String = query(&mut third, &["CLIENT", "INFO"]).await;
    let addr = third_info.split(' ').find_map(|field| field.strip_prefix("addr=")).expect("addr field").to_string();
    let _: () = query(&mut admin, &["CLIENT", "KILL", &addr]).await;
    let err = redis::cmd("CLIENT").arg("KILL").arg(&addr).query_async::<()>(&mut admin).await.unwrap_err();
    assert!(err.to_string().contains("No such client"), "{err}");
    let pong: String = query(&mut admin, &["PING"]).await;
    assert_eq!(pong, "PONG");
}

#[tokio::test(flavor = "multi_thread")]
async fn info_and_config_answer_what_clients_read() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let _: () = query(&mut conn, &["SET", "k", "v"]).await;
    let info: String = query(&mut conn, &["INFO", "everything"]).await;
    for needle in [
        "redis_version:7.0.15",
        "redis_mode:standalone",
        &format!("tcp_port:{}", cluster.redis_port),
        "role:master",
        "connected_slaves:0",
        "cluster_enabled:0",
        "cmdstat_set:calls=",
        "db0:keys=",
    ] {
        assert!(info.contains(needle), "INFO everything lacks {needle}");
    }
    let clients: String = query(&mut conn, &["INFO", "clients"]).await;
    assert!(clients.contains("connected_clients:"), "{clients}");

    let port: Vec<String> = query(&mut conn, &["CONFIG", "GET", "port"]).await;
    assert_eq!(port, vec!["port".to_string(), cluster.redis_port.to_string()]);
    let _: () = query(&mut conn, &["CONFIG", "SET", "maxmemory", "10mb"]).await;
    let maxmemory: Vec<String> = query(&mut conn, &["CONFIG", "GET", "maxmemory"]).await;
    assert_eq!(maxmemory, vec!["maxmemory".to_string(), (10 * 1024 * 1024).to_string()]);
    let memory: String = query(&mut conn, &["INFO", "memory"]).await;
    assert!(memory.contains(&format!("maxmemory:{}\r\n", 10 * 1024 * 1024)), "{memory}");
    let err = redis::cmd("CONFIG").arg("SET").arg("nosuch").arg("1").query_async::<()>(&mut conn).await.unwrap_err();
    assert!(err.to_string().contains("Unknown option or number of arguments for CONFIG SET - 'nosuch'"), "{err}");
}
