//! What writes and transaction steps do to a range's state. Everything here is a pure
//! function of the command and the state, so every replica applies it identically.

use bytes::Bytes;

use crate::mvcc::{Latest, Version};
use crate::raft::pending::PendingWrites;
use crate::raft::types::{
    CommandOutcome, ExpireAt, Op, RangeDescriptor, StorageError, TxnCommand, TxnState, WriteCommand,
};
use crate::txn::records::{Lock, LockKind};
use crate::txn::DEFAULT_LOCK_TTL_MS;

/// Applies one command (a plain or one-phase write, or a transaction step).
pub fn apply_command(
    pending: &mut PendingWrites<'_>,
    descriptor: &RangeDescriptor,
    command: &WriteCommand,
) -> Result<CommandOutcome, StorageError> {
    // Checked here, in log order, and not only when the request arrived: a split committed
    // between the two must not let a stale-epoch write through. The key check also covers
    // the core's own epoch-less writes (expiry deletes).
    if command.epoch.is_some_and(|e| e != descriptor.epoch()) || command.keys().any(|k| !descriptor.contains(k)) {
        return Ok(CommandOutcome::EpochNotMatch);
    }
    match &command.txn {
        None => apply_write(pending, descriptor, command),
        Some(TxnCommand::Prewrite { start_ts, primary, ttl_ms, read_keys }) => {
            prewrite(pending, command, *start_ts, primary, *ttl_ms, read_keys)
        }
        Some(TxnCommand::Commit { start_ts, commit_ts, keys }) => commit(pending, *start_ts, *commit_ts, keys),
        Some(TxnCommand::Rollback { start_ts, primary, keys }) => rollback(pending, *start_ts, primary, keys),
        Some(TxnCommand::CheckStatus { primary, start_ts, caller_ts }) => {
            check_status(pending, primary, *start_ts, *caller_ts)
        }
        Some(TxnCommand::Heartbeat { primary, start_ts, ttl_ms }) => heartbeat(pending, primary, *start_ts, *ttl_ms),
    }
}

fn op_key(op: &Op) -> Option<&Bytes> {
    match op {
        Op::Put { key, .. } | Op::Delete { key } => Some(key),
        Op::DeleteRange { .. } => None,
    }
}

/// A plain write, or a one-phase transaction (`unchanged_since` set): conditions, lock and
/// conflict checks, then every op at the command's commit timestamp.
fn apply_write(
    pending: &mut PendingWrites<'_>,
    descriptor: &RangeDescriptor,
    command: &WriteCommand,
) -> Result<CommandOutcome, StorageError> {
    let anchor = command.anchor_key(descriptor);
    if command.request_id != 0 {
        let now_ts = command.commit_ts.max(pending_now_ts(pending, command)?);
        if let Some(original) = pending.committed_request(anchor, command.request_id, now_ts)? {
            return Ok(CommandOutcome::Committed { commit_ts: original });
        }
    }
    let single_keys: Vec<&Bytes> = command.keys().collect();
    for key in &single_keys {
        if let Some(lock) = pending.lock(key)? {
            return Ok(CommandOutcome::Locked(lock.info(key)));
        }
    }
    if command.unchanged_since != 0 {
        for key in command.read_keys.iter().chain(command.ops.iter().filter_map(op_key)) {
            if pending.latest_ts(key)? > command.unchanged_since {
                return Ok(CommandOutcome::WriteConflict);
            }
        }
    }
    for (key, expected) in &command.conditions {
        if pending.live_version(key)? != *expected {
            return Ok(CommandOutcome::ConditionFailed);
        }
    }
    let commit_ts = match command.commit_ts {
        // The core's own writes (expiry deletes) commit just above what they replace.
        0 => pending_now_ts(pending, command)? + 1,
        ts => {
            // Versions of a key must increase; a write whose timestamp fell behind (it raced
            // a newer write of the same key) is retried by its sender with a fresh one.
            for key in command.ops.iter().filter_map(op_key) {
                if pending.latest_ts(key)? >= ts {
                    return Ok(CommandOutcome::TsTooOld);
                }
            }
            ts
        }
    };
    for op in &command.ops {
        match op {
            Op::Put { key, value, expire } => {
                let expire_at_ms = resolve_expiry(pending, key, *expire)?;
                pending.put_version(key.clone(), commit_ts, Version::Put { value: value.clone(), expire_at_ms });
            }
            Op::Delete { key } => {
                if matches!(pending.latest(key)?, Some(Latest { version: Version::Put { .. }, .. })) {
                    pending.put_version(key.clone(), commit_ts, Version::Tombstone);
                }
            }
            Op::DeleteRange { start, end } => {
                // Never reach outside the range, whatever the command says.
                let start = start.clone().max(descriptor.start_key.clone());
                let end = match (end.is_empty(), descriptor.end_key.is_empty()) {
                    (true, _) => descriptor.end_key.clone(),
                    (false, true) => end.clone(),
                    (false, false) => end.clone().min(descriptor.end_key.clone()),
                };
                for key in pending.keys_with_values(&start, &end)? {
                    // A key written at or after the delete's timestamp is newer than it.
                    if pending.latest_ts(&key)? < commit_ts {
                        pending.put_version(key, commit_ts, Version::Tombstone);
                    }
                }
            }
        }
    }
    if command.request_id != 0 {
        pending.remember_request(anchor, command.request_id, commit_ts)?;
    }
    Ok(CommandOutcome::Committed { commit_ts })
}

/// The newest version among the command's keys: the clock of a write that has no commit
/// timestamp of its own.
fn pending_now_ts(pending: &PendingWrites<'_>, command: &WriteCommand) -> Result<u64, StorageError> {
    let mut newest = 0;
    for key in command.keys() {
        newest = newest.max(pending.latest_ts(key)?);
    }
    Ok(newest)
}

fn resolve_expiry(pending: &PendingWrites<'_>, key: &Bytes, expire: ExpireAt) -> Result<Option<u64>, StorageError> {
    Ok(match expire {
        ExpireAt::Never => None,
        ExpireAt::UnixMs(at) => Some(at),
        ExpireAt::Keep => match pending.latest(key)? {
            Some(Latest { version: Version::Put { expire_at_ms, .. }, .. }) => expire_at_ms,
            _ => None,
        },
    })
}

/// Locks the command's keys for transaction `start_ts`, or changes nothing.
fn prewrite(
    pending: &mut PendingWrites<'_>,
    command: &WriteCommand,
    start_ts: u64,
    primary: &Bytes,
    ttl_ms: u64,
    read_keys: &[Bytes],
) -> Result<CommandOutcome, StorageError> {
    if pending.status(primary, start_ts)?.is_some() {
        // Already rolled back (by a resolver that found the primary missing) or, for a
        // retried prewrite, already decided: a prewrite must never resurrect it.
        return Ok(CommandOutcome::TxnState(TxnState::RolledBack));
    }
    let written: Vec<&Bytes> = command.ops.iter().filter_map(op_key).collect();
    let guarded: Vec<&Bytes> = read_keys.iter().chain(command.conditions.iter().map(|(k, _)| k)).collect();
    let mut to_lock: Vec<(&Bytes, bool)> = Vec::new();
    for (key, is_write) in written.iter().map(|k| (*k, true)).chain(guarded.iter().map(|k| (*k, false))) {
        if to_lock.iter().any(|(k, _)| *k == key) {
            continue;
        }
        match pending.lock(key)? {
            Some(lock) if lock.start_ts == start_ts => continue, // a retry: already ours
            Some(lock) => return Ok(CommandOutcome::Locked(lock.info(key))),
            None => {}
        }
        if pending.latest_ts(key)? > start_ts {
            return Ok(CommandOutcome::WriteConflict);
        }
        to_lock.push((key, is_write));
    }
    for (key, expected) in &command.conditions {
        if pending.live_version(key)? != *expected {
            return Ok(CommandOutcome::ConditionFailed);
        }
    }
    let lock = |kind| Lock { start_ts, primary: primary.clone(), ttl_ms, kind };
    for op in &command.ops {
        let Some(key) = op_key(op) else { continue };
        if !to_lock.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let kind = match op {
            Op::Put { value, expire, .. } => LockKind::Put { value: value.clone(), expire: *expire },
            _ => LockKind::Delete,
        };
        pending.put_lock(key.clone(), lock(kind));
    }
    for (key, is_write) in &to_lock {
        if !is_write {
            pending.put_lock((*key).clone(), lock(LockKind::Read));
        }
    }
    Ok(CommandOutcome::Committed { commit_ts: 0 })
}

/// Turns the transaction's locks on `keys` into versions at `commit_ts`.
fn commit(
    pending: &mut PendingWrites<'_>,
    start_ts: u64,
    commit_ts: u64,
    keys: &[Bytes],
) -> Result<CommandOutcome, StorageError> {
    for key in keys {
        let lock = match pending.lock(key)? {
            Some(lock) if lock.start_ts == start_ts => lock,
            _ => {
                // Committed before (a retry, or a resolver rolled it forward), or rolled back.
                if let Some(TxnState::RolledBack) = pending.status(key, start_ts)? {
                    return Ok(CommandOutcome::TxnState(TxnState::RolledBack));
                }
                continue;
            }
        };
        match &lock.kind {
            LockKind::Put { value, expire } => {
                let expire_at_ms = resolve_expiry(pending, key, *expire)?;
                pending.put_version(key.clone(), commit_ts, Version::Put { value: value.clone(), expire_at_ms });
            }
            LockKind::Delete => {
                if matches!(pending.latest(key)?, Some(Latest { version: Version::Put { .. }, .. })) {
                    pending.put_version(key.clone(), commit_ts, Version::Tombstone);
                }
            }
            LockKind::Read => {}
        }
        pending.delete_lock(key.clone());
        if lock.primary == *key {
            pending.put_status(key.clone(), start_ts, TxnState::Committed { commit_ts });
        }
    }
    Ok(CommandOutcome::Committed { commit_ts })
}

/// Removes the transaction's locks on `keys`; if the primary is among them, records the
/// rollback. Refuses (changing nothing) if the transaction already committed.
fn rollback(
    pending: &mut PendingWrites<'_>,
    start_ts: u64,
    primary: &Bytes,
    keys: &[Bytes],
) -> Result<CommandOutcome, StorageError> {
    let has_primary = keys.contains(primary);
    if has_primary {
        if let Some(state @ TxnState::Committed { .. }) = pending.status(primary, start_ts)? {
            return Ok(CommandOutcome::TxnState(state));
        }
    }
    for key in keys {
        if pending.lock(key)?.is_some_and(|l| l.start_ts == start_ts) {
            pending.delete_lock(key.clone());
        }
    }
    if has_primary {
        pending.put_status(primary.clone(), start_ts, TxnState::RolledBack);
    }
    Ok(CommandOutcome::TxnState(TxnState::RolledBack))
}

/// What [`check_status`] does with a transaction, given what its primary's range holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusDecision {
    /// Answer with this state; nothing to write.
    Answer(TxnState),
    /// The primary lock expired, or the primary was never locked within the default
    /// lifetime: roll the transaction back, then answer `RolledBack`.
    RollBack,
}

/// Decides a transaction by its primary: a final state if recorded, pending while the
/// primary lock lives, rolled back once it expired (as of `caller_ts`) or if the primary was
/// never locked within the default lock lifetime. Pure, so a read-only fast path can use it
/// too: only `RollBack` needs a Raft write.
pub fn decide_status(recorded: Option<TxnState>, lock: Option<&Lock>, start_ts: u64, caller_ts: u64) -> StatusDecision {
    if let Some(state) = recorded {
        return StatusDecision::Answer(state);
    }
    let age_ms = crate::hlc::physical_ms(caller_ts).saturating_sub(crate::hlc::physical_ms(start_ts));
    let ttl_ms = match lock {
        Some(lock) if lock.start_ts == start_ts => lock.ttl_ms,
        // Not prewritten yet (its prewrite may still be on the way) or lost.
        _ => DEFAULT_LOCK_TTL_MS,
    };
    if age_ms < ttl_ms {
        StatusDecision::Answer(TxnState::Pending)
    } else {
        StatusDecision::RollBack
    }
}

fn check_status(
    pending: &mut PendingWrites<'_>,
    primary: &Bytes,
    start_ts: u64,
    caller_ts: u64,
) -> Result<CommandOutcome, StorageError> {
    let lock = pending.lock(primary)?;
    match decide_status(pending.status(primary, start_ts)?, lock.as_ref(), start_ts, caller_ts) {
        StatusDecision::Answer(state) => Ok(CommandOutcome::TxnState(state)),
        StatusDecision::RollBack => {
            if lock.is_some_and(|l| l.start_ts == start_ts) {
                pending.delete_lock(primary.clone());
            }
            pending.put_status(primary.clone(), start_ts, TxnState::RolledBack);
            Ok(CommandOutcome::TxnState(TxnState::RolledBack))
        }
    }
}

fn heartbeat(
    pending: &mut PendingWrites<'_>,
    primary: &Bytes,
    start_ts: u64,
    ttl_ms: u64,
) -> Result<CommandOutcome, StorageError> {
    match pending.lock(primary)? {
        Some(mut lock) if lock.start_ts == start_ts => {
            lock.ttl_ms = lock.ttl_ms.max(ttl_ms);
            pending.put_lock(primary.clone(), lock);
            Ok(CommandOutcome::TxnState(TxnState::Pending))
        }
        _ => Ok(CommandOutcome::TxnState(pending.status(primary, start_ts)?.unwrap_or(TxnState::RolledBack))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::pack;

    #[test]
    fn only_an_expired_or_missing_primary_needs_a_rollback() {
        let start = pack(10_000, 0);
        let lock = Lock { start_ts: start, primary: Bytes::from_static(b"p"), ttl_ms: 500, kind: LockKind::Read };
        let at = |ms| pack(ms, 0);
        let committed = TxnState::Committed { commit_ts: start + 9 };
        assert_eq!(decide_status(Some(committed), None, start, at(99_999)), StatusDecision::Answer(committed));
        assert_eq!(decide_status(None, Some(&lock), start, at(10_499)), StatusDecision::Answer(TxnState::Pending));
        assert_eq!(decide_status(None, Some(&lock), start, at(10_500)), StatusDecision::RollBack);
        // No lock yet: the prewrite may be on its way, for the default lifetime.
        let default_end = 10_000 + DEFAULT_LOCK_TTL_MS;
        assert_eq!(decide_status(None, None, start, at(default_end - 1)), StatusDecision::Answer(TxnState::Pending));
        assert_eq!(decide_status(None, None, start, at(default_end)), StatusDecision::RollBack);
        // Another transaction's lock on the primary says nothing about this one.
        let other = Lock { start_ts: start + 1, ..lock };
        assert_eq!(decide_status(None, Some(&other), start, at(10_600)), StatusDecision::Answer(TxnState::Pending));
    }
}
