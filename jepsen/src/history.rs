//! Histories: what each client process asked for, when, and what it was told.
//!
//! Like Jepsen, an operation is *invoked* and then completes as `Ok` (it happened), `Fail`
//! (it certainly did not happen) or `Info` (unknown: the client timed out or the connection
//! broke, so it may or may not have taken effect, at any time after its invocation).
//! Checkers see each operation once, with both ends: [`Op`].

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One operation of one process, with its invocation and completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op<V> {
    /// The client process (a logical thread: it runs one operation at a time).
    pub process: usize,
    /// Nanoseconds since the start of the run, on one monotonic clock.
    pub call_ns: u64,
    /// When the outcome arrived; `None` for `Info` (it may take effect at any later time).
    pub return_ns: Option<u64>,
    pub outcome: Outcome,
    /// What was asked and, for `Ok`, what came back (e.g. the value a read saw).
    pub value: V,
}

/// Register workloads: single-key reads, writes and compare-and-sets of integers (Redis), or
/// reads, writes and deletes of objects holding integers (S3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum RegisterOp {
    /// `value` is what the read returned (`None` = the key was absent); unknown unless `Ok`.
    Read {
        key: String,
        value: Option<i64>,
    },
    Write {
        key: String,
        value: i64,
    },
    /// Succeeds (`Ok`) only if the register held `from`; a refused CAS is `Fail`.
    Cas {
        key: String,
        from: i64,
        to: i64,
    },
    /// Makes the register absent again (an S3 DeleteObject): a write of "absent".
    Delete {
        key: String,
    },
}

impl RegisterOp {
    pub fn key(&self) -> &str {
        match self {
            RegisterOp::Read { key, .. }
            | RegisterOp::Write { key, .. }
            | RegisterOp::Cas { key, .. }
            | RegisterOp::Delete { key } => key,
        }
    }
}

/// List-append workload: a transaction of micro-operations on lists of integers. Every
/// appended value is unique per key, so a read of a list says which appends preceded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum Mop {
    Append {
        key: String,
        value: i64,
    },
    /// `values` is the list read (`None` when the transaction did not complete `Ok`).
    Read {
        key: String,
        values: Option<Vec<i64>>,
    },
}

/// A list-append transaction.
pub type Txn = Vec<Mop>;

/// Bank workload: transfers between accounts and reads of every balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum BankOp {
    Transfer {
        from: String,
        to: String,
        amount: i64,
    },
    /// Every account's balance, read in one transaction (`None` unless `Ok`).
    Read {
        balances: Option<Vec<(String, i64)>>,
    },
}

/// A checker's finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub valid: bool,
    /// Operations (or transactions) looked at.
    pub checked: usize,
    /// When invalid: the anomalies found, each with a minimal witness a person can read.
    pub anomalies: Vec<Anomaly>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// E.g. "nonlinearizable", "G0", "G1a", "G1b", "G1c", "G-single", "lost-append",
    /// "total-changed", "negative-balance", "lost-write".
    pub kind: String,
    /// A human-readable explanation naming the operations involved.
    pub explanation: String,
    /// The operations involved, as JSON (for the run directory).
    pub witness: Vec<serde_json::Value>,
}

impl Verdict {
    pub fn valid(checked: usize) -> Self {
        Verdict { valid: true, checked, anomalies: Vec::new() }
    }

    pub fn invalid(checked: usize, anomalies: Vec<Anomaly>) -> Self {
        Verdict { valid: anomalies.is_empty(), checked, anomalies }
    }
}
