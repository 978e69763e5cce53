//! Committing a transaction: one phase when its keys share a range, Percolator two-phase
//! commit when they do not.
//!
//! Two-phase commit: every key is locked by a prewrite naming one *primary* key (writes
//! carry their value, keys only read or watched get read locks that block writers); then a
//! commit timestamp comes from the oracle, and committing the primary's range — one Raft
//! entry that turns the primary's lock into a version and records the transaction as
//! committed — is the commit point. The other ranges are committed afterwards; if this
//! gateway dies first, whoever meets their locks (or the lock sweeper) rolls them forward
//! by the primary's record. Until the commit point, a failure rolls everything back.

use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_proto::core as pb;
use strata_protocols::kv::{KvError, Mutation, TxnCommit, TxnOutcome};

use super::resolver::LockFate;
use super::{physical_ms, txn_step, wall_ms};
use crate::core_kv::{kv_error, mutation, mutation_key, CoreKv, PendingLock, ROUTES_KEPT_CHANGING};
use crate::routing::RouteError;

/// How long locks live past the moment they are written unless heartbeats extend them.
pub const LOCK_TTL: Duration = Duration::from_secs(3);
/// Regroupings of the keys (ranges split under the commit) before giving up.
const MAX_REGROUPS: usize = 16;

/// One range's share of a transaction.
#[derive(Default, Clone)]
struct Share {
    keys: Vec<Bytes>,
    conditions: Vec<pb::Condition>,
    mutations: Vec<pb::Mutation>,
    read_keys: Vec<Bytes>,
}

enum Role {
    Write(usize),
    Condition(usize),
    Read,
}

/// How one step of the protocol ended for one range.
enum Step {
    Done,
    Outcome(TxnOutcome),
    Regroup,
}

/// A lock TTL (counted from the transaction's start) that gives locks [`LOCK_TTL`] from now.
fn lock_ttl_ms(start_ts: u64) -> u64 {
    wall_ms().saturating_sub(physical_ms(start_ts)) + LOCK_TTL.as_millis() as u64
}

pub async fn commit(kv: &CoreKv, txn: TxnCommit) -> Result<TxnOutcome, KvError> {
    if txn.mutations.iter().any(|m| matches!(m, Mutation::DeleteRange { .. })) {
        return Err(KvError::Invalid("a transaction cannot delete a range".into()));
    }
    let mut keys: Vec<(Bytes, Role)> = Vec::new();
    for (i, m) in txn.mutations.iter().enumerate() {
        keys.push((mutation_key(m).cloned().unwrap_or_default(), Role::Write(i)));
    }
    for (i, c) in txn.conditions.iter().enumerate() {
        keys.push((c.key.clone(), Role::Condition(i)));
    }
    for k in &txn.read_keys {
        keys.push((k.clone(), Role::Read));
    }
    if keys.is_empty() {
        return Ok(TxnOutcome::Committed { commit_ts: txn.start_ts });
    }
    for _ in 0..MAX_REGROUPS {
        let Some(groups) = kv.group(keys.iter().enumerate().map(|(i, (k, _))| (i, &k[..]))).await else { continue };
        let shares: Vec<Share> = groups
            .iter()
            .map(|group| {
                let mut share = Share::default();
                for &i in group {
                    let (key, role) = &keys[i];
                    if !share.keys.contains(key) {
                        share.keys.push(key.clone());
                    }
                    match role {
                        Role::Write(m) => share.mutations.push(mutation(txn.mutations[*m].clone())),
                        Role::Condition(c) => share.conditions.push(pb::Condition {
                            key: key.clone(),
                            expected_version: txn.conditions[*c].expected_version,
                        }),
                        Role::Read => share.read_keys.push(key.clone()),
                    }
                }
                share
            })
            .collect();
        let step = if shares.len() == 1 {
            one_phase(kv, txn.start_ts, &shares[0]).await?
        } else {
            two_phase(kv, txn.start_ts, shares).await?
        };
        if let Some(outcome) = step {
            return Ok(outcome);
        }
    }
    Err(KvError::Unavailable(ROUTES_KEPT_CHANGING.into()))
}

fn record(kv: &CoreKv, path: &str, outcome: &TxnOutcome) {
    let label = match outcome {
        TxnOutcome::Committed { .. } => "committed",
        TxnOutcome::ConditionFailed => "condition_failed",
        TxnOutcome::Conflict => "conflict",
    };
    kv.metrics().txns.with_label_values(&[path, label]).inc();
}

/// All keys in one range: conditions, conflict checks and writes in one Raft entry. `None`
/// when the keys no longer share a range.
async fn one_phase(kv: &CoreKv, start_ts: u64, share: &Share) -> Result<Option<TxnOutcome>, KvError> {
    let request = pb::WriteRequest {
        conditions: share.conditions.clone(),
        mutations: share.mutations.clone(),
        unchanged_since: start_ts,
        read_keys: share.read_keys.clone(),
        ..Default::default()
    };
    let outcome = match kv.send_one_phase(&share.keys[0], &share.keys, request, PendingLock::GiveUp).await {
        Err(KvError::CrossRange) => return Ok(None),
        Err(e) => return Err(e),
        Ok(None) => TxnOutcome::Conflict,
        Ok(Some(resp)) if resp.write_conflict => TxnOutcome::Conflict,
        Ok(Some(resp)) if resp.condition_failed => TxnOutcome::ConditionFailed,
        Ok(Some(resp)) => TxnOutcome::Committed { commit_ts: resp.commit_ts },
    };
    record(kv, "1pc", &outcome);
    Ok(Some(outcome))
}

/// A prewrite carries its range's conditions and mutations; the other steps carry none.
fn prewrite_request(share: &Share, kind: pb::txn_request::Kind) -> pb::WriteRequest {
    pb::WriteRequest { conditions: share.conditions.clone(), mutations: share.mutations.clone(), ..txn_step(kind) }
}

/// Locks one range's keys for the transaction.
async fn prewrite(kv: &CoreKv, start_ts: u64, primary: &Bytes, ttl_ms: u64, share: &Share) -> Result<Step, KvError> {
    let kind = pb::txn_request::Kind::Prewrite(pb::Prewrite {
        start_ts,
        primary: primary.clone(),
        ttl_ms,
        read_keys: share.read_keys.clone(),
    });
    let request = prewrite_request(share, kind);
    loop {
        let resp = match kv.send_write(&share.keys[0], &share.keys, request.clone()).await {
            Ok(resp) => resp,
            Err(RouteError::SpansRanges) => return Ok(Step::Regroup),
            Err(e) => return Err(kv_error(e)),
        };
        if let Some(lock) = resp.locked {
            // Waiting for another transaction's lock while holding ours could deadlock:
            // settle it if its owner is done, otherwise back off as a conflict.
            if kv.resolve_lock(&lock).await? == LockFate::Pending {
                return Ok(Step::Outcome(TxnOutcome::Conflict));
            }
            continue;
        }
        return Ok(if resp.condition_failed {
            Step::Outcome(TxnOutcome::ConditionFailed)
        } else if resp.write_conflict || resp.txn_state == pb::TxnState::RolledBack as i32 {
            Step::Outcome(TxnOutcome::Conflict)
        } else {
            Step::Done
        });
    }
}

async fn rollback_all(kv: &CoreKv, start_ts: u64, primary: &Bytes, shares: &[Share]) {
    let rollbacks = shares.iter().map(|share| {
        let kind = pb::txn_request::Kind::Rollback(pb::Rollback {
            start_ts,
            primary: primary.clone(),
            keys: share.keys.clone(),
        });
        kv.send_write(&share.keys[0], &share.keys, txn_step(kind))
    });
    for result in futures::future::join_all(rollbacks).await {
        if let Err(e) = result {
            // The lock sweeper rolls these back once they expire.
            tracing::debug!(error = %e, "rollback of a prewrite failed");
        }
    }
}

/// Stops the heartbeat when the commit ends, however it ends (a dropped commit future
/// included): a heartbeat outliving its coordinator would keep the primary locked forever.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps the primary lock alive while a slow commit is under way.
fn spawn_heartbeat(kv: &CoreKv, start_ts: u64, primary: &Bytes) -> Heartbeat {
    let kv = kv.clone();
    let primary = primary.clone();
    let keys = vec![primary.clone()];
    let started = Instant::now();
    Heartbeat(tokio::spawn(async move {
        loop {
            tokio::time::sleep(LOCK_TTL / 3).await;
            let kind = pb::txn_request::Kind::Heartbeat(pb::TxnHeartbeat {
                primary: primary.clone(),
                start_ts,
                ttl_ms: lock_ttl_ms(start_ts),
            });
            if let Err(e) = kv.send_write(&primary, &keys, txn_step(kind)).await {
                tracing::debug!(error = %e, elapsed = ?started.elapsed(), "transaction heartbeat failed");
            }
        }
    }))
}

/// `None` when a range split under the commit (everything was rolled back: regroup).
async fn two_phase(kv: &CoreKv, start_ts: u64, mut shares: Vec<Share>) -> Result<Option<TxnOutcome>, KvError> {
    // The primary: a written key if there is one (any key works; a written one keeps the
    // transaction record next to data that changes).
    let primary_share = shares.iter().position(|s| !s.mutations.is_empty()).unwrap_or(0);
    shares.swap(0, primary_share);
    let primary = match shares[0].mutations.first().and_then(|m| m.op.as_ref()) {
        Some(pb::mutation::Op::Put(p)) => p.key.clone(),
        Some(pb::mutation::Op::Delete(d)) => d.key.clone(),
        _ => shares[0].keys[0].clone(),
    };
    // Locks expire relative to the transaction's start, which may be long ago (an
    // interactive transaction): give them their full lifetime from now.
    let ttl_ms = lock_ttl_ms(start_ts);
    let heartbeat = spawn_heartbeat(kv, start_ts, &primary);
    let result = two_phase_steps(kv, start_ts, &primary, ttl_ms, &shares).await;
    drop(heartbeat);
    match result? {
        Step::Outcome(outcome) => {
            record(kv, "2pc", &outcome);
            Ok(Some(outcome))
        }
        Step::Regroup | Step::Done => Ok(None),
    }
}

async fn commit_share(
    kv: &CoreKv,
    start_ts: u64,
    commit_ts: u64,
    share: &Share,
) -> Result<pb::WriteResponse, RouteError> {
    let kind = pb::txn_request::Kind::Commit(pb::Commit { start_ts, commit_ts, keys: share.keys.clone() });
    kv.send_write(&share.keys[0], &share.keys, txn_step(kind)).await
}

async fn two_phase_steps(
    kv: &CoreKv,
    start_ts: u64,
    primary: &Bytes,
    ttl_ms: u64,
    shares: &[Share],
) -> Result<Step, KvError> {
    let prewrites = shares.iter().map(|share| prewrite(kv, start_ts, primary, ttl_ms, share));
    let results = futures::future::join_all(prewrites).await;
    let mut failed: Option<Result<Step, KvError>> = None;
    for result in results {
        let worse = match (&result, &failed) {
            (Ok(Step::Done), _) => false,
            (_, None) => true,
            // A failed condition is the answer the caller needs most (EXEC returns nil).
            (Ok(Step::Outcome(TxnOutcome::ConditionFailed)), _) => true,
            _ => false,
        };
        if worse {
            failed = Some(result);
        }
    }
    if let Some(failure) = failed {
        rollback_all(kv, start_ts, primary, shares).await;
        return failure;
    }
    let commit_ts = kv.fresh_ts().await?;
    // The commit point. An error here leaves the outcome unknown to us; the locks decide it
    // (the primary's lock expires and is rolled back unless this commit was applied).
    let resp = commit_share(kv, start_ts, commit_ts, &shares[0]).await.map_err(|e| match e {
        RouteError::SpansRanges => {
            KvError::Unavailable("the primary's range split during commit; outcome unknown".into())
        }
        e => kv_error(e),
    })?;
    if resp.txn_state == pb::TxnState::RolledBack as i32 {
        // Our primary lock expired and someone rolled it back.
        rollback_all(kv, start_ts, primary, &shares[1..]).await;
        return Ok(Step::Outcome(TxnOutcome::Conflict));
    }
    let secondaries = shares[1..].iter().map(|share| commit_share(kv, start_ts, commit_ts, share));
    for result in futures::future::join_all(secondaries).await {
        if let Err(e) = result {
            // Committed already; readers and the sweeper roll these locks forward.
            tracing::debug!(error = %e, "commit of a secondary range failed; its locks resolve later");
        }
    }
    Ok(Step::Outcome(TxnOutcome::Committed { commit_ts }))
}
