//! One run: start a cluster, run the workload's processes while the nemesis injects faults,
//! heal, restart every node (so only durable state survives), read everything back, check.

use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use tokio::sync::Mutex;

use crate::checker;
use crate::cluster::Cluster;
use crate::history::{BankOp, Mop, Outcome, RegisterOp, Txn, Verdict};
use crate::nemesis::{Event, Fault, Nemesis};
use crate::report;
use crate::workload::{self, Process, Recorder, Workload};
use crate::Clock;

mod s3;

pub struct RunConfig {
    pub strata: PathBuf,
    pub workload: Workload,
    pub faults: Vec<Fault>,
    pub time: Duration,
    pub out: PathBuf,
    pub processes: usize,
    pub nodes: u64,
    pub gateways: usize,
    pub seed: u64,
}

/// What a run produced; `verdict.valid` decides the exit status.
pub struct RunResult {
    pub verdict: Verdict,
    pub ops: usize,
    pub faults: usize,
}

pub async fn run(config: RunConfig) -> anyhow::Result<RunResult> {
    std::fs::create_dir_all(&config.out)?;
    let cluster =
        Cluster::start(config.strata.clone(), &config.out.join("cluster"), config.nodes, config.gateways).await?;
    cluster.wait_ready(Duration::from_secs(90)).await?;
    setup(&cluster, config.workload).await?;
    let cluster = Arc::new(Mutex::new(cluster));
    let clock = Clock::start();
    let until_ns = config.time.as_nanos() as u64;
    let nemesis = Nemesis {
        faults: config.faults.clone(),
        split_keys: config.workload.split_keys(),
        quiet: Duration::from_secs(3),
        window: Duration::from_secs(5),
    };
    let urls = cluster.lock().await.redis_urls();
    let nemesis_task = {
        let cluster = cluster.clone();
        tokio::spawn(async move { nemesis.run(cluster, clock, until_ns).await })
    };
    let (verdict, ops, timeline) = match config.workload {
        Workload::Register => {
            let rec = Recorder::<RegisterOp>::new(clock);
            let values = Arc::new(AtomicI64::new(0));
            drive(&config, &urls, clock, until_ns, {
                let rec = rec.clone();
                move |mut p, mut rng| {
                    let (rec, values) = (rec.clone(), values.clone());
                    async move {
                        let call = rec.clock.now_ns();
                        let (outcome, op) = workload::register_op(&mut p, &mut rng, &values).await;
                        rec.record(p.id, call, outcome, op).await;
                        (p, rng)
                    }
                }
            })
            .await;
            let timeline = nemesis_task.await?;
            settle(&cluster).await?;
            final_register_reads(&rec, &urls[0]).await;
            let ops = rec.ops.lock().await.clone();
            let verdict = checker::linearizable::check_register(&ops);
            report::write(&config.out, &ops, &timeline, &verdict)?;
            (verdict, ops.len(), timeline)
        }
        Workload::ListAppend => {
            let rec = Recorder::<Txn>::new(clock);
            let values = Arc::new(AtomicI64::new(1));
            drive(&config, &urls, clock, until_ns, {
                let rec = rec.clone();
                let values = values.clone();
                move |mut p, mut rng| {
                    let (rec, values) = (rec.clone(), values.clone());
                    async move {
                        let call = rec.clock.now_ns();
                        let (outcome, txn) = workload::list_append_op(&mut p, &mut rng, &values).await;
                        rec.record(p.id, call, outcome, txn).await;
                        (p, rng)
                    }
                }
            })
            .await;
            let timeline = nemesis_task.await?;
            settle(&cluster).await?;
            let generations = values.load(std::sync::atomic::Ordering::Relaxed) / workload::APPENDS_PER_GENERATION + 1;
            final_list_reads(&rec, &urls[0], generations as usize * workload::LIST_KEYS).await;
            let ops = rec.ops.lock().await.clone();
            let verdict = checker::list_append::check_list_append(&ops, true);
            report::write(&config.out, &ops, &timeline, &verdict)?;
            (verdict, ops.len(), timeline)
        }
        Workload::Bank => {
            let rec = Recorder::<BankOp>::new(clock);
            drive(&config, &urls, clock, until_ns, {
                let rec = rec.clone();
                move |mut p, mut rng| {
                    let rec = rec.clone();
                    async move {
                        let call = rec.clock.now_ns();
                        let (outcome, op) = workload::bank_op(&mut p, &mut rng).await;
                        rec.record(p.id, call, outcome, op).await;
                        (p, rng)
                    }
                }
            })
            .await;
            let timeline = nemesis_task.await?;
            settle(&cluster).await?;
            let mut p = Process::new(usize::MAX, urls[0].clone());
            // Final reads, after every node restarted: the total must still be there.
            for _ in 0..3 {
                let call = rec.clock.now_ns();
                let (outcome, op) = workload::bank_read(&mut p).await;
                rec.record(p.id, call, outcome, op).await;
            }
            let ops = rec.ops.lock().await.clone();
            let accounts: Vec<String> = (0..workload::ACCOUNTS).map(workload::account).collect();
            let total = workload::OPENING_BALANCE * workload::ACCOUNTS as i64;
            let mut verdict = checker::bank::check_bank(&ops, &accounts, total);
            let final_reads = ops.iter().rev().take(3).filter(|o| o.outcome == Outcome::Ok).count();
            if final_reads == 0 {
                verdict.valid = false;
                verdict.anomalies.push(crate::history::Anomaly {
                    kind: "unavailable-after-heal".into(),
                    explanation: "no final read succeeded after the cluster was healed and restarted".into(),
                    witness: vec![],
                });
            }
            report::write(&config.out, &ops, &timeline, &verdict)?;
            (verdict, ops.len(), timeline)
        }
        Workload::S3Register => s3::run_s3_register(&config, &cluster, clock, until_ns, nemesis_task).await?,
    };
    cluster.lock().await.stop();
    Ok(RunResult { verdict, ops, faults: timeline.iter().filter(|e: &&Event| e.end_ns >= e.start_ns).count() })
}

/// Initial data the workload's checker assumes.
async fn setup(cluster: &Cluster, workload: Workload) -> anyhow::Result<()> {
    if workload == Workload::S3Register {
        return workload::s3::create_bucket(&cluster.s3_endpoints()[0], Duration::from_secs(60)).await;
    }
    if workload != Workload::Bank {
        return Ok(());
    }
    let url = cluster.redis_urls()[0].clone();
    let mut conn = workload::connect(&url).await.ok_or_else(|| anyhow::anyhow!("no connection to {url}"))?;
    let mut mset = redis::cmd("MSET");
    for i in 0..workload::ACCOUNTS {
        mset.arg(workload::account(i)).arg(workload::OPENING_BALANCE);
    }
    let _: () = mset.query_async(&mut conn).await?;
    Ok(())
}

/// Runs `config.processes` Redis client processes, each doing one operation at a time until
/// the deadline.
async fn drive<F, Fut>(config: &RunConfig, urls: &[String], clock: Clock, until_ns: u64, op: F)
where
    F: Fn(Process, rand::rngs::StdRng) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Process, rand::rngs::StdRng)> + Send,
{
    let urls = urls.to_vec();
    drive_processes(config, move |id| Process::new(id, urls[id % urls.len()].clone()), clock, until_ns, op).await
}

/// Runs `config.processes` client processes made by `new_process` (from their id), each
/// doing one operation at a time until the deadline.
async fn drive_processes<P, F, Fut>(
    config: &RunConfig,
    new_process: impl Fn(usize) -> P,
    clock: Clock,
    until_ns: u64,
    op: F,
) where
    P: Send + 'static,
    F: Fn(P, rand::rngs::StdRng) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (P, rand::rngs::StdRng)> + Send,
{
    let mut tasks = Vec::new();
    for id in 0..config.processes {
        let process = new_process(id);
        let op = op.clone();
        let seed = config.seed.wrapping_add(id as u64);
        tasks.push(tokio::spawn(async move {
            let mut state = (process, rand::rngs::StdRng::seed_from_u64(seed));
            while clock.now_ns() < until_ns {
                state = op(state.0, state.1).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Heals every fault, restarts every node (kill -9, then start), and waits for service.
async fn settle(cluster: &Arc<Mutex<Cluster>>) -> anyhow::Result<()> {
    let mut cluster = cluster.lock().await;
    cluster.heal_all()?;
    cluster.restart_all()?;
    cluster.wait_ready(Duration::from_secs(120)).await
}

async fn final_register_reads(rec: &Recorder<RegisterOp>, url: &str) {
    let mut p = Process::new(usize::MAX, url.to_string());
    for i in 0..workload::REGISTER_KEYS {
        let key = workload::register_key(i);
        let call = rec.clock.now_ns();
        let (outcome, op) = workload::register_read(&mut p, &key).await;
        rec.record(p.id, call, outcome, op).await;
    }
}

async fn final_list_reads(rec: &Recorder<Txn>, url: &str, keys: usize) {
    let mut p = Process::new(usize::MAX, url.to_string());
    for i in 0..keys {
        let txn = vec![Mop::Read { key: workload::list_key(i), values: None }];
        let call = rec.clock.now_ns();
        let (outcome, txn) = workload::run_txn(&mut p, txn).await;
        rec.record(p.id, call, outcome, txn).await;
    }
}
