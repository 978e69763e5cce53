//! Settling locks whose transaction may be finished, or whose coordinator is gone.
//!
//! A lock names its transaction's primary key; the primary's range knows the transaction's
//! fate (`CheckTxnStatus`, which also rolls back a primary whose lock expired). A committed
//! transaction's lock is rolled forward, a rolled-back one's removed. Readers and writers
//! that meet a lock do this on the spot; the sweeper does it for locks nobody touches, so a
//! gateway that died mid-commit leaves no key locked for longer than the lock's TTL plus a
//! sweep interval.

use std::time::Duration;

use bytes::Bytes;
use strata_proto::core as pb;
use strata_protocols::kv::KvError;

use super::txn_step;
use crate::core_kv::{kv_error, CoreKv};
use crate::routing::Attempt;

/// Locks looked at per range and sweep.
const SWEEP_BATCH: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFate {
    /// The lock is gone now (rolled forward or back): read or write the key again.
    Settled,
    /// Its transaction is still committing and its lock has not expired.
    Pending,
}

impl CoreKv {
    /// Decides the fate of the transaction holding `lock` and applies it to the locked key.
    pub(crate) async fn resolve_lock(&self, lock: &pb::LockInfo) -> Result<LockFate, KvError> {
        let caller_ts = self.fresh_ts().await?;
        let check = txn_step(pb::txn_request::Kind::CheckStatus(pb::CheckTxnStatus {
            primary: lock.primary.clone(),
            start_ts: lock.start_ts,
            caller_ts,
        }));
        let primary = [lock.primary.clone()];
        let status = self.send_write(&lock.primary, &primary, check).await.map_err(kv_error)?;
        let key = [lock.key.clone()];
        let settle = match pb::TxnState::try_from(status.txn_state) {
            Ok(pb::TxnState::Pending) => {
                self.metrics().locks_resolved.with_label_values(&["pending"]).inc();
                return Ok(LockFate::Pending);
            }
            Ok(pb::TxnState::Committed) => {
                self.metrics().locks_resolved.with_label_values(&["rolled_forward"]).inc();
                pb::txn_request::Kind::Commit(pb::Commit {
                    start_ts: lock.start_ts,
                    commit_ts: status.commit_ts,
                    keys: key.to_vec(),
                })
            }
            Ok(pb::TxnState::RolledBack) => {
                self.metrics().locks_resolved.with_label_values(&["rolled_back"]).inc();
                pb::txn_request::Kind::Rollback(pb::Rollback {
                    start_ts: lock.start_ts,
                    primary: lock.primary.clone(),
                    keys: key.to_vec(),
                })
            }
            _ => return Err(KvError::Internal(format!("no transaction state for lock at {}", lock.start_ts))),
        };
        self.send_write(&lock.key, &key, txn_step(settle)).await.map_err(kv_error)?;
        Ok(LockFate::Settled)
    }

    /// The locks of the range starting at `start_key`, as its leader sees them.
    async fn range_locks(&self, start_key: Bytes) -> Result<Vec<pb::LockInfo>, KvError> {
        let resp = self
            .router()
            .with_leader(&start_key, "scan_locks", |addr, route| {
                let client = self.router().client(&addr);
                let req = pb::ScanLocksRequest { header: Some(route.header()), limit: SWEEP_BATCH };
                async move {
                    let mut client = client.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                    let mut resp = client.scan_locks(req).await?.into_inner();
                    Ok(Attempt::from_response(resp.range_error.take(), resp))
                }
            })
            .await
            .map_err(kv_error)?;
        Ok(resp.locks)
    }

    /// One pass over every range: settles each lock older than its TTL. Returns how many
    /// locks were settled.
    pub async fn sweep_locks(&self) -> Result<usize, KvError> {
        let now_ms = super::wall_ms();
        let mut settled = 0;
        let starts: Vec<Bytes> = self.router().routes().iter().map(|r| r.descriptor.start_key.clone()).collect();
        for start in starts {
            for lock in self.range_locks(start).await? {
                // The primary's range decides with the oracle's clock; this only skips locks
                // that are surely still alive.
                let expires_ms = super::physical_ms(lock.start_ts).saturating_add(lock.ttl_ms);
                if expires_ms <= now_ms && self.resolve_lock(&lock).await? == LockFate::Settled {
                    settled += 1;
                }
            }
        }
        Ok(settled)
    }
}

/// Sweeps for abandoned locks every `interval`, forever.
pub async fn run_sweeper(kv: CoreKv, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if kv.router().catalog().version() == 0 {
            continue;
        }
        match kv.sweep_locks().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(settled = n, "settled abandoned transaction locks"),
            Err(e) => tracing::debug!(error = %e, "lock sweep stopped early"),
        }
    }
}
