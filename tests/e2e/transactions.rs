//! Transactions across ranges, end to end: a bank workload through MULTI/EXEC, coordinators
//! and primary leaders killed mid-commit, and WATCH compared with redis-server.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use strata_proto::core::kv_client::KvClient;
use strata_proto::core::{RequestHeader, ScanLocksRequest};

use crate::cluster::{connect, eventually, free_port, Cluster, STRATA};
use crate::compat::ReferenceRedis;
use crate::raw::RawConn;
use crate::routing::gateway_metric;

const ACCOUNTS: usize = 16;
const OPENING_BALANCE: i64 = 100;

fn account(i: usize) -> String {
    format!("acct:{i:02}")
}

/// Cuts the Redis keyspace so the accounts spread over four ranges.
async fn spread_accounts(cluster: &Cluster) {
    for split in ["Racct:04", "Racct:08", "Racct:12"] {
        cluster.split(split.as_bytes()).await;
    }
    cluster.wait_for_catalog(4).await;
}

/// Transaction locks left in every range, counted at each range's leader.
async fn locks_left(cluster: &Cluster) -> Option<usize> {
    let catalog = cluster.catalog().await?;
    let mut total = 0;
    for range in catalog.ranges {
        let header = RequestHeader { range_id: range.range_id, epoch: range.epoch };
        let mut counted = false;
        for core in cluster.cores.iter() {
            let Ok(mut client) = KvClient::connect(format!("http://{}", core.addr)).await else { continue };
            let request = ScanLocksRequest { header: Some(header), limit: 10_000 };
            let Ok(Ok(resp)) = tokio::time::timeout(Duration::from_secs(2), client.scan_locks(request)).await else {
                continue;
            };
            let resp = resp.into_inner();
            if resp.range_error.is_none() {
                total += resp.locks.len();
                counted = true;
                break;
            }
        }
        if !counted {
            return None;
        }
    }
    Some(total)
}

async fn wait_until_no_locks(cluster: &Cluster) {
    eventually(Duration::from_secs(30), "every transaction lock to be settled", || async {
        (locks_left(cluster).await? == 0).then_some(())
    })
    .await;
}

/// One transfer with WATCH + MULTI/EXEC, retried while EXEC aborts. Returns false when the
/// source account cannot cover the amount (nothing is written then).
async fn transfer(conn: &mut redis::aio::MultiplexedConnection, from: &str, to: &str, amount: i64) -> bool {
    loop {
        let _: () = redis::cmd("WATCH").arg(from).arg(to).query_async(conn).await.expect("WATCH");
        let balance: i64 = conn.get(from).await.expect("GET");
        if balance < amount {
            let _: () = redis::cmd("UNWATCH").query_async(conn).await.expect("UNWATCH");
            return false;
        }
        let done: Option<(i64, i64)> = redis::pipe()
            .atomic()
            .cmd("DECRBY")
            .arg(from)
            .arg(amount)
            .cmd("INCRBY")
            .arg(to)
            .arg(amount)
            .query_async(conn)
            .await
            .expect("EXEC");
        if let Some((left, _)) = done {
            assert!(left >= 0, "a transfer overdrew {from}: {left}");
            return true;
        }
    }
}

#[tokio::test]
async fn bank_transfers_through_multi_exec_keep_the_total_across_ranges() {
    let cluster = Cluster::start().await;
    spread_accounts(&cluster).await;
    let mut conn = cluster.connection().await;
    let mut opening = redis::cmd("MSET");
    for i in 0..ACCOUNTS {
        opening.arg(account(i)).arg(OPENING_BALANCE);
    }
    let _: () = opening.query_async(&mut conn).await.expect("MSET across ranges");

    let done = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..4u64 {
        let url = cluster.redis_url();
        let transfers = transfers.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = connect(&url).await.expect("connect");
            let mut seed = worker * 7919 + 1;
            for _ in 0..40 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let from = (seed >> 33) as usize % ACCOUNTS;
                let to = (from + 1 + (seed >> 40) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
                let amount = 1 + (seed >> 50) as i64 % 60;
                if transfer(&mut conn, &account(from), &account(to), amount).await {
                    transfers.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Readers check the invariant while transfers commit: a snapshot across all ranges (MGET)
    // and a MULTI/EXEC of GETs must both always add up.
    let reader = {
        let url = cluster.redis_url();
        let done = done.clone();
        tokio::spawn(async move {
            let mut conn = connect(&url).await.expect("connect");
            let keys: Vec<String> = (0..ACCOUNTS).map(account).collect();
            let mut reads = 0;
            while !done.load(Ordering::Acquire) || reads < 2 {
                let balances: Vec<i64> = conn.mget(&keys).await.expect("MGET");
                assert_eq!(balances.iter().sum::<i64>(), OPENING_BALANCE * ACCOUNTS as i64, "MGET saw {balances:?}");
                assert!(balances.iter().all(|b| *b >= 0), "negative balance in {balances:?}");
                let mut pipe = redis::pipe();
                pipe.atomic();
                for key in &keys {
                    pipe.cmd("GET").arg(key);
                }
                let in_txn: Vec<i64> = pipe.query_async(&mut conn).await.expect("MULTI GETs");
                assert_eq!(in_txn.iter().sum::<i64>(), OPENING_BALANCE * ACCOUNTS as i64, "EXEC saw {in_txn:?}");
                reads += 1;
            }
            reads
        })
    };
    for w in workers {
        w.await.expect("worker");
    }
    done.store(true, Ordering::Release);
    let reads = reader.await.expect("reader");
    assert!(reads >= 2);
    assert!(transfers.load(Ordering::Relaxed) > 0, "some transfers went through");

    let keys: Vec<String> = (0..ACCOUNTS).map(account).collect();
    let balances: Vec<i64> = conn.mget(&keys).await.expect("MGET");
    assert_eq!(balances.iter().sum::<i64>(), OPENING_BALANCE * ACCOUNTS as i64);
    let two_phase =
        gateway_metric(&cluster, "strata_gateway_txn_commits_total", "outcome=\"committed\",path=\"2pc\"").await;
    assert!(two_phase > 0, "transfers between ranges went through two-phase commit");
    wait_until_no_locks(&cluster).await;
}

/// A second gateway, to be killed without warning.
fn spawn_gateway(cluster: &Cluster) -> (Child, u16) {
    let core = cluster.cores.iter().map(|c| c.addr.clone()).collect::<Vec<_>>().join(",");
    let port = free_port();
    let log = std::fs::File::create(cluster.root().join(format!("gateway-{port}.log"))).expect("log");
    let child = Command::new(STRATA)
        .args(["gateway", "--core", &core])
        .args(["--redis", &format!("127.0.0.1:{port}")])
        .args(["--grpc", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start gateway");
    (child, port)
}

const GROUP: [&str; 3] = ["pair:a", "pair:m", "pair:z"];

/// Writers that each MSET the whole group (spread over ranges) to one fresh value, until
/// they fail (their gateway died) or `stop` is set. Returns the acknowledged count.
fn start_group_writers(
    port: u16,
    writers: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let stop = stop.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = connect(&format!("redis://127.0.0.1:{port}/")).await else { return };
                for i in 0.. {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let value = format!("w{w}-{i}");
                    let pairs: Vec<(&str, &str)> = GROUP.iter().map(|k| (*k, value.as_str())).collect();
                    match conn.mset::<_, _, ()>(&pairs).await {
                        Ok(()) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) if stop.load(Ordering::Acquire) => return,
                        // Contention (TRYAGAIN) or a failover: keep going.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
        })
        .collect()
}

async fn assert_group_whole(cluster: &Cluster) {
    let mut conn = cluster.connection().await;
    let values: Vec<Option<String>> = conn.mget(&GROUP).await.expect("MGET");
    assert!(values[0].is_some(), "the group was written");
    assert!(values.iter().all(|v| *v == values[0]), "a transaction is half visible: {values:?}");
}

#[tokio::test]
async fn a_gateway_killed_mid_commit_leaves_no_lock_and_no_half_transaction() {
    let cluster = Cluster::start().await;
    for split in ["Rpair:f", "Rpair:p"] {
        cluster.split(split.as_bytes()).await;
    }
    cluster.wait_for_catalog(3).await;
    let (mut doomed, port) = spawn_gateway(&cluster);
    eventually(Duration::from_secs(30), "the second gateway to serve", || async {
        let mut conn = connect(&format!("redis://127.0.0.1:{port}/")).await.ok()?;
        redis::cmd("SET").arg("pair:probe").arg("1").query_async::<String>(&mut conn).await.ok()
    })
    .await;
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_group_writers(port, 8, stop.clone(), acked.clone());
    eventually(Duration::from_secs(60), "writes through the second gateway", || async {
        (acked.load(Ordering::Relaxed) >= 100).then_some(())
    })
    .await;
    // Eight commits are in flight: kill -9 the gateway coordinating them.
    doomed.kill().expect("kill gateway");
    doomed.wait().expect("reap gateway");
    stop.store(true, Ordering::Release);
    eprintln!("locks left by the killed gateway: {:?}", locks_left(&cluster).await);
    for w in writers {
        let _ = w.await;
    }
    // The surviving gateway's sweeper (and its readers) settle whatever was left locked.
    wait_until_no_locks(&cluster).await;
    assert_group_whole(&cluster).await;
}

#[tokio::test]
async fn killing_the_primary_ranges_leader_mid_commit_keeps_transactions_whole() {
    let mut cluster = Cluster::start().await;
    for split in ["Rpair:f", "Rpair:p"] {
        cluster.split(split.as_bytes()).await;
    }
    let (_, ranges) = cluster.wait_for_catalog(3).await;
    // MSET's first key is the primary: find who leads its range.
    let primary_range = ranges
        .iter()
        .find(|r| {
            r.start_key.as_ref() <= b"Rpair:a".as_slice()
                && (r.end_key.is_empty() || r.end_key.as_ref() > b"Rpair:a".as_slice())
        })
        .expect("a range holds the primary");
    let leader = primary_range.leader_node_id;
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_group_writers(cluster.redis_port, 6, stop.clone(), acked.clone());
    eventually(Duration::from_secs(60), "cross-range writes", || async {
        (acked.load(Ordering::Relaxed) >= 60).then_some(())
    })
    .await;
    cluster.kill(leader);
    let before = acked.load(Ordering::Relaxed);
    // Commits go on once the primary's range has a new leader.
    eventually(Duration::from_secs(60), "writes after the leader died", || async {
        (acked.load(Ordering::Relaxed) >= before + 30).then_some(())
    })
    .await;
    stop.store(true, Ordering::Release);
    for w in writers {
        let _ = w.await;
    }
    cluster.restart(leader);
    wait_until_no_locks(&cluster).await;
    assert_group_whole(&cluster).await;
}

/// Two connections, one WATCHing, the other writing: the same replies as redis-server.
#[tokio::test]
async fn watch_across_connections_matches_redis() {
    let reference = ReferenceRedis::start().await;
    let cluster = Cluster::start().await;
    // (connection, command): 'A' watches and runs transactions, 'B' interferes.
    let script: &[(char, &str)] = &[
        ('A', "SET w:k 0"),
        ('A', "WATCH w:k"),
        ('B', "SET w:k 1"),
        ('A', "MULTI"),
        ('A', "SET w:k 2"),
        ('A', "EXEC"),
        ('A', "GET w:k"),
        ('A', "WATCH w:k"),
        ('B', "GET w:k"),
        ('A', "MULTI"),
        ('A', "INCR w:k"),
        ('A', "EXEC"),
        ('A', "WATCH w:k w:other"),
        ('B', "DEL w:other"),
        ('A', "MULTI"),
        ('A', "INCR w:k"),
        ('A', "EXEC"),
        ('A', "WATCH w:k"),
        ('A', "UNWATCH"),
        ('B', "SET w:k 10"),
        ('A', "MULTI"),
        ('A', "GET w:k"),
        ('A', "EXEC"),
        ('A', "WATCH w:k"),
        ('B', "INCR w:k"),
        ('A', "MULTI"),
        ('A', "DISCARD"),
        ('A', "MULTI"),
        ('A', "GET w:k"),
        ('A', "EXEC"),
    ];
    let (mut ra, mut rb) = (RawConn::connect(reference.port).await, RawConn::connect(reference.port).await);
    let (mut sa, mut sb) = (RawConn::connect(cluster.redis_port).await, RawConn::connect(cluster.redis_port).await);
    for (who, line) in script {
        let (expected, actual) = match who {
            'A' => (ra.cmd(line).await, sa.cmd(line).await),
            _ => (rb.cmd(line).await, sb.cmd(line).await),
        };
        assert_eq!(actual, expected, "reply to {who}: `{line}` differs from redis-server");
    }
}

/// The write-skew shape: each transaction reads the key the other writes. Serializable
/// execution lets at most one of them miss the other's write; snapshot isolation would let
/// both read nothing. MULTI/EXEC validates what it read, so that never happens.
#[tokio::test]
async fn multi_exec_forbids_write_skew_across_ranges() {
    let cluster = Cluster::start().await;
    cluster.split(b"Rskew:m").await;
    cluster.wait_for_catalog(2).await;
    let (mut a, mut b) = (cluster.connection().await, cluster.connection().await);
    let mut both_read_a_write = 0;
    for round in 0..60 {
        let (x, y) = (format!("skew:a{round}"), format!("skew:z{round}"));
        let mut first = redis::pipe();
        first.atomic().cmd("GET").arg(&y).cmd("SET").arg(&x).arg("1").ignore();
        let mut second = redis::pipe();
        second.atomic().cmd("GET").arg(&x).cmd("SET").arg(&y).arg("1").ignore();
        let (saw_y, saw_x): ((Option<String>,), (Option<String>,)) =
            tokio::join!(async { first.query_async(&mut a).await.expect("first EXEC") }, async {
                second.query_async(&mut b).await.expect("second EXEC")
            });
        assert!(saw_y.0.is_some() || saw_x.0.is_some(), "round {round}: both transactions missed the other's write");
        if saw_y.0.is_some() != saw_x.0.is_some() {
            both_read_a_write += 1;
        }
    }
    assert_eq!(both_read_a_write, 60, "exactly one of each pair ran second");
}

/// Transfers through the gRPC TxnKV API (snapshot isolation): every transfer reads and
/// writes both accounts, so first-committer-wins keeps the total; aborted transfers are
/// retried from Begin.
#[tokio::test]
async fn bank_transfers_through_txnkv_keep_the_total_across_ranges() {
    use strata_proto::kv::txn_kv_client::TxnKvClient;
    use strata_proto::kv::*;

    let cluster = Cluster::start().await;
    for split in ["Kacct:04", "Kacct:08", "Kacct:12"] {
        cluster.split(split.as_bytes()).await;
    }
    cluster.wait_for_catalog(4).await;
    let url = cluster.grpc_url();
    let client = || async {
        let channel = tonic::transport::Channel::from_shared(url.clone()).expect("url").connect().await.expect("grpc");
        TxnKvClient::new(channel)
    };
    let key = |i: usize| bytes::Bytes::from(account(i));
    let total = OPENING_BALANCE * ACCOUNTS as i64;

    let mut txn = client().await;
    let id = txn.begin(BeginRequest {}).await.expect("begin").into_inner().txn_id;
    for i in 0..ACCOUNTS {
        let value = OPENING_BALANCE.to_string().into();
        txn.put(TxnPutRequest { txn_id: id, key: key(i), value }).await.expect("put");
    }
    txn.commit(CommitRequest { txn_id: id }).await.expect("opening balances");

    let balances = |results: Vec<KeyValue>| -> Vec<i64> {
        results.iter().map(|r| std::str::from_utf8(&r.value).expect("utf8").parse().expect("number")).collect()
    };
    let mut workers = Vec::new();
    for worker in 0..4u64 {
        let mut txn = client().await;
        workers.push(tokio::spawn(async move {
            let mut seed = worker * 104729 + 3;
            let (mut committed, mut aborted) = (0, 0);
            for _ in 0..25 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let from = (seed >> 33) as usize % ACCOUNTS;
                let to = (from + 1 + (seed >> 40) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
                let amount = 1 + (seed >> 50) as i64 % 60;
                loop {
                    let id = txn.begin(BeginRequest {}).await.expect("begin").into_inner().txn_id;
                    let read = TxnBatchGetRequest { txn_id: id, keys: vec![key(from), key(to)] };
                    let now = balances(txn.batch_get(read).await.expect("read").into_inner().results);
                    assert!(now.iter().all(|b| *b >= 0), "negative balance read: {now:?}");
                    if now[0] < amount {
                        txn.rollback(RollbackRequest { txn_id: id }).await.expect("rollback");
                        break;
                    }
                    let (f, t) = ((now[0] - amount).to_string(), (now[1] + amount).to_string());
                    txn.put(TxnPutRequest { txn_id: id, key: key(from), value: f.into() }).await.expect("put");
                    txn.put(TxnPutRequest { txn_id: id, key: key(to), value: t.into() }).await.expect("put");
                    match txn.commit(CommitRequest { txn_id: id }).await {
                        Ok(_) => {
                            committed += 1;
                            break;
                        }
                        Err(status) if status.code() == tonic::Code::Aborted => aborted += 1,
                        Err(status) => panic!("commit failed: {status}"),
                    }
                }
            }
            (committed, aborted)
        }));
    }
    // A reader takes whole-bank snapshots while transfers commit.
    let mut reader = client().await;
    let all: Vec<bytes::Bytes> = (0..ACCOUNTS).map(key).collect();
    let mut snapshots = 0;
    while workers.iter().any(|w| !w.is_finished()) || snapshots < 2 {
        let id = reader.begin(BeginRequest {}).await.expect("begin").into_inner().txn_id;
        let read = TxnBatchGetRequest { txn_id: id, keys: all.clone() };
        let seen = balances(reader.batch_get(read).await.expect("snapshot").into_inner().results);
        reader.rollback(RollbackRequest { txn_id: id }).await.expect("rollback");
        assert_eq!(seen.iter().sum::<i64>(), total, "a snapshot saw {seen:?}");
        assert!(seen.iter().all(|b| *b >= 0), "negative balance in {seen:?}");
        snapshots += 1;
    }
    let mut committed = 0;
    for w in workers {
        committed += w.await.expect("worker").0;
    }
    assert!(committed > 0);
    let id = reader.begin(BeginRequest {}).await.expect("begin").into_inner().txn_id;
    let end = balances(
        reader.batch_get(TxnBatchGetRequest { txn_id: id, keys: all }).await.expect("read").into_inner().results,
    );
    assert_eq!(end.iter().sum::<i64>(), total, "final balances {end:?}");
    wait_until_no_locks(&cluster).await;
}
