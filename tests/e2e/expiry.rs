//! Expiry: keys vanish at their deadline and are swept from storage in the background.

use std::time::Duration;

use crate::cluster::{eventually, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn expired_keys_disappear_and_ttls_count_down() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let _: () = redis::cmd("SET").arg("exp:short").arg("v").arg("PX").arg(300).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("SET").arg("exp:long").arg("v").arg("EX").arg(100).query_async(&mut conn).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg("exp:short").query_async(&mut conn).await.unwrap();
    assert!(pttl > 0 && pttl <= 300, "PTTL {pttl}");
    eventually(Duration::from_secs(10), "exp:short to expire", || {
        let mut conn = conn.clone();
        async move {
            let v: Option<String> = redis::cmd("GET").arg("exp:short").query_async(&mut conn).await.ok()?;
            v.is_none().then_some(())
        }
    })
    .await;
    let ttl: i64 = redis::cmd("TTL").arg("exp:short").query_async(&mut conn).await.unwrap();
    assert_eq!(ttl, -2, "an expired key reports -2");
    let exists: i64 = redis::cmd("EXISTS").arg("exp:short").query_async(&mut conn).await.unwrap();
    assert_eq!(exists, 0);
    // SET NX succeeds on an expired key: it is gone, not merely hidden.
    let set: Option<String> =
        redis::cmd("SET").arg("exp:short").arg("again").arg("NX").query_async(&mut conn).await.unwrap();
    assert_eq!(set.as_deref(), Some("OK"));
    let long_ttl: i64 = redis::cmd("TTL").arg("exp:long").query_async(&mut conn).await.unwrap();
    assert!((99..=100).contains(&long_ttl), "TTL {long_ttl}");
    // INCR on an expired counter starts from zero.
    let _: () = redis::cmd("SET").arg("exp:counter").arg(10).arg("PX").arg(100).query_async(&mut conn).await.unwrap();
    eventually(Duration::from_secs(10), "exp:counter to expire", || {
        let mut conn = conn.clone();
        async move {
            let n: i64 = redis::cmd("EXISTS").arg("exp:counter").query_async(&mut conn).await.ok()?;
            (n == 0).then_some(())
        }
    })
    .await;
    let n: i64 = redis::cmd("INCR").arg("exp:counter").query_async(&mut conn).await.unwrap();
    assert_eq!(n, 1);
}

/// Expired values are not just hidden: the leader's sweeper deletes them through Raft, which
/// shows as the key losing its version (0 = no value record) on the core.
#[tokio::test(flavor = "multi_thread")]
async fn expired_keys_are_removed_in_the_background() {
    use strata_proto::core::{kv_client::KvClient, GetRequest, RangeEpoch, RequestHeader};

    let cluster = Cluster::start().await;
    let mut conn = cluster.connection().await;
    let _: () = redis::cmd("SET").arg("sweep:a").arg("v").arg("PX").arg(200).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("SET").arg("sweep:b").arg("v").arg("EX").arg(1000).query_async(&mut conn).await.unwrap();
    let leader = cluster.wait_for_leader(None).await;
    let version = |key: &'static [u8]| {
        let addr = cluster.core(leader).addr.clone();
        async move {
            let mut client = KvClient::connect(format!("http://{addr}")).await.ok()?;
            let request = GetRequest {
                header: Some(RequestHeader { range_id: 1, epoch: Some(RangeEpoch { version: 1, conf_version: 1 }) }),
                keys: vec![bytes::Bytes::from_static(key)],
                ..Default::default()
            };
            let response = client.get(request).await.ok()?.into_inner();
            response.states.first().map(|s| s.version)
        }
    };
    assert_ne!(version(b"Rsweep:a").await, Some(0), "written");
    eventually(Duration::from_secs(15), "the sweeper to delete sweep:a", || async {
        (version(b"Rsweep:a").await == Some(0)).then_some(())
    })
    .await;
    assert_ne!(version(b"Rsweep:b").await, Some(0), "a key with a later expiry stays");
}
