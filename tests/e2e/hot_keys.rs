//! Many clients writing one key through one gateway: the gateway's per-key write latches
//! queue them, so none of them runs out of optimistic retries (TRYAGAIN) and no update is lost.

use futures::future::join_all;

use crate::cluster::{connect, Cluster};

const CLIENTS: usize = 32;
const WRITES_EACH: usize = 25;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_incrs_of_one_counter_all_succeed_and_add_up() {
    let cluster = Cluster::start().await;
    let url = cluster.redis_url();
    let clients = (0..CLIENTS).map(|_| {
        let url = url.clone();
        async move {
            let mut conn = connect(&url).await.unwrap();
            for _ in 0..WRITES_EACH {
                let _: i64 = redis::cmd("INCR").arg("hot:counter").query_async(&mut conn).await.unwrap();
            }
        }
    });
    join_all(clients).await;
    let mut conn = cluster.connection().await;
    let total: i64 = redis::cmd("GET").arg("hot:counter").query_async(&mut conn).await.unwrap();
    assert_eq!(total, (CLIENTS * WRITES_EACH) as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_hsets_of_one_hash_all_land() {
    let cluster = Cluster::start().await;
    let url = cluster.redis_url();
    let clients = (0..CLIENTS).map(|client| {
        let url = url.clone();
        async move {
            let mut conn = connect(&url).await.unwrap();
            for i in 0..WRITES_EACH {
                let added: i64 = redis::cmd("HSET")
                    .arg("hot:hash")
                    .arg(format!("f{client}-{i}"))
                    .arg(i)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(added, 1, "a new field counts once");
            }
        }
    });
    join_all(clients).await;
    let mut conn = cluster.connection().await;
    let all: std::collections::HashMap<String, i64> =
        redis::cmd("HGETALL").arg("hot:hash").query_async(&mut conn).await.unwrap();
    assert_eq!(all.len(), CLIENTS * WRITES_EACH);
    assert_eq!(all.get("f3-7"), Some(&7));
}
