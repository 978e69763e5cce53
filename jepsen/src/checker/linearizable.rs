//! Linearizability of the register workload: a Wing & Gong search with Lowe's and
//! Porcupine's improvements (see [`search`]), under Jepsen/Knossos conventions.
//!
//! - Registers are independent, so the history is split by key and each key is checked on
//!   its own (which keeps every search small); the history is valid only if every key is.
//! - `Fail` operations did not happen and are dropped. That includes a refused CAS: it
//!   says the register did not hold `from` at some point of its interval, a constraint
//!   Jepsen ignores too; a stale `Fail` CAS is therefore never reported.
//! - `Info` operations may have taken effect at any time after their call, or never: their
//!   return is +∞ and the search may linearize them or leave them out. An `Info` read
//!   constrains nothing and is dropped.
//! - The register starts absent (`None`). An `Ok` read returns the current value (`None`
//!   when absent: before any write, or after a delete); a write sets it; a delete makes it
//!   absent again (a write of "absent": the S3 register's DeleteObject); an `Ok` CAS asserts
//!   the register held `from` and sets `to`.
//! - An `Ok` operation without a return time is treated as returning at +∞ (it must
//!   still take effect). Operations whose times merely touch count as concurrent.
//!
//! A violation is reported per key as a `"nonlinearizable"` anomaly about the furthest
//! operation the search could not get past (the one whose return no linearization
//! reaches): the values the register can hold once everything that returned before it has
//! taken effect (all of them: the search explores every order) and who wrote each, who
//! wrote the value it expected, the operations running alongside it, and the longest
//! linearizable prefix found. If a key's search exceeds [`Options::max_steps`], it is
//! reported as an `"unchecked"` anomaly and the verdict is invalid: the checker could not
//! tell, and CI must neither pass silently nor hang.
//!
//! The search ([`search::check`]) is generic over a [`Model`]; other sequential objects can
//! reuse it.

pub mod search;

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

pub use search::{check, Call, Frontier, Model, Outcome as SearchOutcome, Stuck};

use crate::history::{Anomaly, Op, Outcome, RegisterOp, Verdict};

/// Tuning for [`check_register_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Search budget per key, in steps (one step = the search looking at one event, i.e.
    /// at most one attempt to linearize one operation). The memo grows by at most one entry
    /// per step, so this bounds memory too. A key that needs more is reported
    /// `"unchecked"`.
    pub max_steps: u64,
}

/// Valid histories of thousands of operations per key with ten-odd processes typically take
/// well under 100k steps. This allows about a second of search per key in a release build
/// (several in a debug one) and about a hundred megabytes of memo.
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

impl Default for Options {
    fn default() -> Self {
        Options { max_steps: DEFAULT_MAX_STEPS }
    }
}

/// A register operation with what it returned, as the model sees it (no key: the history
/// is checked one key at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterCall {
    /// A read that returned this value (`None`: absent).
    Read(Option<i64>),
    Write(i64),
    /// A compare-and-set that succeeded (or, if indeterminate, might have).
    Cas {
        from: i64,
        to: i64,
    },
    /// Makes the register absent.
    Delete,
}

/// The sequential specification of one register that starts absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

impl Model for Register {
    type Op = RegisterCall;
    type State = Option<i64>;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(&self, state: &Option<i64>, op: &RegisterCall) -> Option<Option<i64>> {
        match *op {
            RegisterCall::Read(v) => (v == *state).then_some(*state),
            RegisterCall::Write(v) => Some(Some(v)),
            RegisterCall::Cas { from, to } => (*state == Some(from)).then_some(Some(to)),
            RegisterCall::Delete => Some(None),
        }
    }

    fn is_blind_write(&self, op: &RegisterCall) -> bool {
        matches!(op, RegisterCall::Write(_) | RegisterCall::Delete)
    }

    fn is_read_only(&self, op: &RegisterCall) -> bool {
        match *op {
            RegisterCall::Read(_) => true,
            RegisterCall::Cas { from, to } => from == to,
            RegisterCall::Write(_) | RegisterCall::Delete => false,
        }
    }
}

/// Checks a register history with the default [`Options`].
pub fn check_register(history: &[Op<RegisterOp>]) -> Verdict {
    check_register_with(history, &Options::default())
}

/// Checks a register history: linearizable per key, under the conventions of the module
/// docs. `checked` counts every operation given, including the dropped ones.
pub fn check_register_with(history: &[Op<RegisterOp>], options: &Options) -> Verdict {
    let mut anomalies = Vec::new();
    for (key, indices) in retained_by_key(history) {
        let calls: Vec<Call<RegisterCall>> = indices.iter().map(|&i| to_call(&history[i])).collect();
        match search::check(&Register, &calls, options.max_steps) {
            SearchOutcome::Linearizable(_) => {}
            SearchOutcome::Nonlinearizable(stuck) => {
                anomalies.push(nonlinearizable(history, key, &indices, &calls, &stuck));
            }
            SearchOutcome::Exhausted { steps } => {
                let indeterminate = calls.iter().filter(|c| c.return_ns.is_none()).count();
                anomalies.push(Anomaly {
                    kind: "unchecked".into(),
                    explanation: format!(
                        "On key {key:?}, the linearizability search gave up after {steps} steps ({} operations, \
                         {indeterminate} of them indeterminate): whether this key's history is linearizable is unknown \
                         (Options::max_steps sets the budget).",
                        calls.len()
                    ),
                    witness: vec![json!({
                        "key": key, "operations": calls.len(), "indeterminate": indeterminate, "steps": steps,
                    })],
                });
            }
        }
    }
    Verdict::invalid(history.len(), anomalies)
}

/// The operations the search looks at, grouped by key and sorted by call time: indices
/// into `history`.
fn retained_by_key(history: &[Op<RegisterOp>]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        let keep = match op.outcome {
            Outcome::Ok => true,
            Outcome::Fail => false,
            Outcome::Info => !matches!(op.value, RegisterOp::Read { .. }),
        };
        if keep {
            by_key.entry(op.value.key()).or_default().push(i);
        }
    }
    for indices in by_key.values_mut() {
        indices.sort_by_key(|&i| history[i].call_ns);
    }
    by_key
}

fn to_call(op: &Op<RegisterOp>) -> Call<RegisterCall> {
    let return_ns = match op.outcome {
        Outcome::Info => None,
        _ => Some(op.return_ns.unwrap_or(u64::MAX)),
    };
    Call { call_ns: op.call_ns, return_ns, op: register_call(&op.value) }
}

fn register_call(value: &RegisterOp) -> RegisterCall {
    match *value {
        RegisterOp::Read { value, .. } => RegisterCall::Read(value),
        RegisterOp::Write { value, .. } => RegisterCall::Write(value),
        RegisterOp::Cas { from, to, .. } => RegisterCall::Cas { from, to },
        RegisterOp::Delete { .. } => RegisterCall::Delete,
    }
}

/// How many operations of each kind the witness lists, at most.
const WITNESS_LIMIT: usize = 10;

/// The anomaly for a key whose search got stuck: see the module docs.
fn nonlinearizable(
    history: &[Op<RegisterOp>],
    key: &str,
    indices: &[usize],
    calls: &[Call<RegisterCall>],
    stuck: &Stuck<Option<i64>>,
) -> Anomaly {
    let culprit = indices[stuck.op];
    let op = &history[culprit];
    let (call, deadline) = (calls[stuck.op].call_ns, calls[stuck.op].return_ns.unwrap_or(u64::MAX));
    let mut witness = vec![entry("not-linearizable", history, culprit)];

    // The values the register can hold once everything that returned before the culprit
    // has taken effect, and who wrote each (the last write or CAS in a linearization
    // leading there).
    let mut possible = Vec::new();
    for f in &stuck.frontiers {
        let writer = f.prefix.iter().rev().map(|&k| indices[k]).find(|&i| writes(&history[i].value).is_some());
        possible.push(match (f.state, writer) {
            (Some(v), Some(w)) => format!("{v} (written by {})", describe(&history[w])),
            (Some(v), None) => v.to_string(),
            (None, Some(w)) => format!("nothing (deleted by {})", describe(&history[w])),
            (None, None) => "nothing (no write has taken effect)".to_string(),
        });
        witness.push(json!({
            "role": "possible-value",
            "value": f.state,
            "written_by": writer.map(|w| json!({ "index": w, "op": history[w] })),
        }));
    }
    let mut possible = join_with(&possible, "or");
    if stuck.more {
        possible.push_str(", or some other values");
    }

    // `expected`: the state the culprit saw (`Some(None)`: absent), when it saw one.
    let (what, expected) = match op.value {
        RegisterOp::Read { value: Some(v), .. } => (format!("returned {v}"), Some(Some(v))),
        RegisterOp::Read { value: None, .. } => ("returned nothing (the key absent)".to_string(), Some(None)),
        RegisterOp::Cas { from, to, .. } => (format!("changed {from} to {to}"), Some(Some(from))),
        RegisterOp::Write { value, .. } => (format!("wrote {value}"), None),
        RegisterOp::Delete { .. } => ("deleted the key".to_string(), None),
    };
    let prefix = &stuck.frontiers[0].prefix;
    // Did it have a chance to take effect before some of the operations in the prefix?
    let overlapped = prefix.iter().any(|&k| calls[k].return_ns.is_none_or(|r| r >= call));
    let mut explanation = format!(
        "On key {key:?}, {} {what}, but no order of the operations consistent with real time lets it take \
         effect. Once the operations that returned before it have taken effect, the register can only hold \
         {possible}.{}",
        describe(op),
        if overlapped {
            " Taking effect earlier, ahead of some of the operations overlapping it, fails too."
        } else {
            ""
        },
    );

    // Who could have produced the value the culprit saw. An absent key needs no producer
    // (every register starts absent), so only deletes are named, and only if there are any.
    let has_deletes = || history.iter().any(|o| o.value.key() == key && matches!(o.value, RegisterOp::Delete { .. }));
    if let Some(v) = expected.filter(|v| v.is_some() || has_deletes()) {
        let (mut before, mut after, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (i, o) in history.iter().enumerate() {
            if i == culprit || o.value.key() != key || writes(&o.value) != Some(v) {
                continue;
            }
            match o.outcome {
                Outcome::Fail => failed.push(i),
                _ if o.call_ns <= deadline => before.push(i),
                _ => after.push(i),
            }
        }
        // Latest first: those are the ones a person wants to look at.
        for list in [&mut before, &mut after, &mut failed] {
            list.sort_by_key(|&i| std::cmp::Reverse(history[i].call_ns));
        }
        let shown = |list: &[usize]| {
            let names: Vec<String> = list.iter().take(3).map(|&i| describe(&history[i])).collect();
            join_with(&names, "and")
        };
        // "1 was written" / "the key was deleted".
        let (subject, written) = match v {
            Some(v) => (v.to_string(), "written"),
            None => ("the key".to_string(), "deleted"),
        };
        let (sentence, writers) = if !before.is_empty() {
            let s = match before.len() {
                1..=3 => format!("{subject} was {written} by {}", shown(&before)),
                n => format!("{subject} was {written} by {n} operations, the latest {}", shown(&before)),
            };
            (s, before)
        } else if !after.is_empty() {
            (format!("{subject} was only {written} after it returned, by {}", shown(&after)), after)
        } else if !failed.is_empty() {
            (format!("{subject} was only {written} by operations reported as failed: {}", shown(&failed)), failed)
        } else {
            (format!("no operation ever wrote {subject}"), Vec::new())
        };
        explanation.push(' ');
        explanation.push_str(&capitalized(&sentence));
        explanation.push('.');
        for &i in writers.iter().take(WITNESS_LIMIT) {
            witness.push(entry("wrote-expected-value", history, i));
        }
    }

    // Operations that were running alongside the culprit and are not in the prefix.
    let in_prefix: HashSet<usize> = prefix.iter().copied().collect();
    let alongside: Vec<usize> = (0..calls.len())
        .filter(|&k| k != stuck.op && !in_prefix.contains(&k) && calls[k].call_ns <= deadline)
        .collect();
    for &k in alongside.iter().take(WITNESS_LIMIT) {
        witness.push(entry("concurrent", history, indices[k]));
    }

    explanation.push_str(&format!(
        " The longest linearizable prefix found has {} operations; the witness lists {}",
        prefix.len(),
        if prefix.len() <= WITNESS_LIMIT { "them".to_string() } else { format!("the last {WITNESS_LIMIT}") },
    ));
    match alongside.len() {
        0 => explanation.push('.'),
        1 => explanation.push_str(", and the operation running alongside this one that it leaves out."),
        n => explanation.push_str(&format!(", and the {n} operations running alongside this one that it leaves out.")),
    }

    let prefix_indices: Vec<usize> = prefix.iter().map(|&k| indices[k]).collect();
    let last: Vec<Value> = prefix_indices[prefix_indices.len().saturating_sub(WITNESS_LIMIT)..]
        .iter()
        .map(|&i| json!({ "index": i, "op": history[i] }))
        .collect();
    witness.push(json!({
        "role": "linearized-prefix",
        "length": prefix_indices.len(),
        "indices": prefix_indices,
        "last": last,
    }));
    Anomaly { kind: "nonlinearizable".into(), explanation, witness }
}

/// The state an operation sets the register to, if it writes (`Some(None)`: a delete).
fn writes(op: &RegisterOp) -> Option<Option<i64>> {
    match *op {
        RegisterOp::Read { .. } => None,
        RegisterOp::Write { value, .. } => Some(Some(value)),
        RegisterOp::Cas { to, .. } => Some(Some(to)),
        RegisterOp::Delete { .. } => Some(None),
    }
}

fn entry(role: &str, history: &[Op<RegisterOp>], index: usize) -> Value {
    json!({ "role": role, "index": index, "op": history[index] })
}

/// E.g. "process 3's read at [1.000000ms, 1.250000ms]".
fn describe(op: &Op<RegisterOp>) -> String {
    let what = match &op.value {
        RegisterOp::Read { .. } => "read".to_string(),
        RegisterOp::Write { value, .. } => format!("write of {value}"),
        RegisterOp::Cas { from, to, .. } => format!("cas {from}→{to}"),
        RegisterOp::Delete { .. } => "delete".to_string(),
    };
    let when = match (op.outcome, op.return_ns) {
        (Outcome::Info, _) => format!("(indeterminate, called at {})", ms(op.call_ns)),
        (outcome, r) => {
            let r = r.map_or("∞".to_string(), ms);
            let failed = if outcome == Outcome::Fail { " (failed)" } else { "" };
            format!("at [{}, {r}]{failed}", ms(op.call_ns))
        }
    };
    format!("process {}'s {what} {when}", op.process)
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
}

fn ms(ns: u64) -> String {
    format!("{}.{:06}ms", ns / 1_000_000, ns % 1_000_000)
}

fn join_with(items: &[String], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., end] => format!("{} {last} {end}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
