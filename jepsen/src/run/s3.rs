//! The `s3-register` run: S3 client processes against every gateway's S3 listener, then
//! heal, restart every core node, read every object back and check the whole history.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::{drive_processes, settle, RunConfig};
use crate::checker;
use crate::cluster::Cluster;
use crate::history::{Anomaly, Outcome, RegisterOp, Verdict};
use crate::nemesis::Event;
use crate::report;
use crate::workload::s3::{self, S3Endpoint, S3OpResult, S3Process};
use crate::workload::Recorder;
use crate::Clock;

/// How long the final reads keep retrying an object before calling the cluster unavailable.
const FINAL_READ_PATIENCE: Duration = Duration::from_secs(60);

/// A process pauses this long after an operation that did not succeed, so one whose gateway
/// is down (connections refused at once) does not flood the history with failures.
const FAILURE_BACKOFF: Duration = Duration::from_millis(100);

/// Bodies that held no value, as anomalies (shared by the client processes).
type Garbled = Arc<Mutex<Vec<Anomaly>>>;

pub(super) async fn run_s3_register(
    config: &RunConfig,
    cluster: &Arc<Mutex<Cluster>>,
    clock: Clock,
    until_ns: u64,
    nemesis_task: JoinHandle<Vec<Event>>,
) -> anyhow::Result<(Verdict, usize, Vec<Event>)> {
    let endpoints = cluster.lock().await.s3_endpoints();
    let rec = Recorder::<RegisterOp>::new(clock);
    let garbled: Garbled = Arc::default();
    let values = Arc::new(AtomicI64::new(0));
    let new_process = {
        let endpoints = endpoints.clone();
        move |id: usize| S3Process::new(id, &endpoints[id % endpoints.len()])
    };
    drive_processes(config, new_process, clock, until_ns, {
        let (rec, garbled) = (rec.clone(), garbled.clone());
        move |mut p, mut rng| {
            let (rec, garbled, values) = (rec.clone(), garbled.clone(), values.clone());
            async move {
                let call = rec.clock.now_ns();
                let result = s3::register_op(&mut p, &mut rng, &values).await;
                let succeeded = result.outcome == Outcome::Ok;
                record(&rec, &garbled, p.id, call, result).await;
                if !succeeded {
                    tokio::time::sleep(FAILURE_BACKOFF).await;
                }
                (p, rng)
            }
        }
    })
    .await;
    let timeline = nemesis_task.await?;
    settle(cluster).await?;
    let unreadable = final_reads(&rec, &garbled, &endpoints[0]).await;
    let ops = rec.ops.lock().await.clone();
    let mut verdict = checker::linearizable::check_register(&ops);
    verdict.anomalies.extend(garbled.lock().await.drain(..));
    if !unreadable.is_empty() {
        verdict.anomalies.push(Anomaly {
            kind: "unavailable-after-heal".into(),
            explanation: format!(
                "after the cluster was healed and restarted, no get of {unreadable:?} succeeded within {}s, so \
                 their durability is unchecked",
                FINAL_READ_PATIENCE.as_secs()
            ),
            witness: vec![json!({ "objects": unreadable })],
        });
    }
    verdict.valid = verdict.anomalies.is_empty();
    report::write(&config.out, &ops, &timeline, &verdict)?;
    Ok((verdict, ops.len(), timeline))
}

async fn record(rec: &Recorder<RegisterOp>, garbled: &Garbled, process: usize, call_ns: u64, result: S3OpResult) {
    if let Some(body) = result.garbled {
        garbled.lock().await.push(Anomaly {
            kind: "garbled-read".into(),
            explanation: format!(
                "process {process}'s get of {:?} called at {call_ns} ns returned a body that is no put's: {body:?}",
                result.op.key()
            ),
            witness: vec![json!({ "process": process, "call_ns": call_ns, "key": result.op.key(), "body": body })],
        });
    }
    rec.record(process, call_ns, result.outcome, result.op).await;
}

/// The durability check: every object read back after every core node was killed and
/// restarted. The reads join the history, so an acknowledged put (or delete) that was lost
/// makes it non-linearizable. Returns the objects no get could read.
async fn final_reads(rec: &Recorder<RegisterOp>, garbled: &Garbled, endpoint: &S3Endpoint) -> Vec<String> {
    let mut p = S3Process::new(usize::MAX, endpoint);
    let deadline = tokio::time::Instant::now() + FINAL_READ_PATIENCE;
    let mut unreadable = Vec::new();
    for i in 0..s3::OBJECTS {
        let key = s3::object_key(i);
        loop {
            let call = rec.clock.now_ns();
            let result = s3::read(&mut p, &key).await;
            let ok = result.outcome == Outcome::Ok;
            record(rec, garbled, p.id, call, result).await;
            if ok {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                unreadable.push(key);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    unreadable
}
