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
    let set: Option<String> = redis::cmd("SET").arg("exp:short").arg("again").arg("NX").query_async(&mut conn).await.unwrap();
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
