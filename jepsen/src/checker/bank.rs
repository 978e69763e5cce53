//! The bank workload's invariant: transfers move money between accounts, so every read of
//! all balances (one snapshot) must list every account, sum to the opening total, and show
//! no negative balance (a transfer checks the source's balance under WATCH).
//!
//! Only `Ok` reads are checked (a read that did not complete saw nothing). Each violation is
//! reported with the offending read (and when it ran) as witness: `missing-account`,
//! `wrong-total`, `negative-balance`. At most [`super::list_append::MAX_PER_KIND`] of each
//! kind are listed, then a count of the rest.

use std::collections::HashMap;

use serde_json::json;

use super::list_append::{cap_anomalies, MAX_PER_KIND};
use crate::history::{Anomaly, BankOp, Op, Outcome, Verdict};

pub fn check_bank(history: &[Op<BankOp>], accounts: &[String], total: i64) -> Verdict {
    let mut anomalies = Vec::new();
    for (i, op) in history.iter().enumerate() {
        let (Outcome::Ok, BankOp::Read { balances: Some(balances) }) = (op.outcome, &op.value) else {
            continue;
        };
        let when = format!(
            "op#{i} (process {}, read invoked at {}, returned at {})",
            op.process,
            secs(op.call_ns),
            op.return_ns.map_or("?".into(), secs)
        );
        let shown = balances.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join(" ");
        let witness = vec![json!({ "index": i, "op": op })];
        let mut report = |kind: &str, what: String| {
            anomalies.push(Anomaly {
                kind: kind.into(),
                explanation: format!("{when} saw {shown}: {what}"),
                witness: witness.clone(),
            });
        };
        let listed: HashMap<&str, i64> = balances.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        let missing: Vec<&str> = accounts.iter().map(String::as_str).filter(|a| !listed.contains_key(a)).collect();
        if !missing.is_empty() {
            report("missing-account", format!("account(s) {} missing", missing.join(", ")));
        }
        let sum: i64 = balances.iter().map(|(_, b)| b).sum();
        if sum != total {
            report("wrong-total", format!("balances sum to {sum}, not {total} (off by {})", sum - total));
        }
        let negative: Vec<String> = balances.iter().filter(|(_, b)| *b < 0).map(|(a, b)| format!("{a}={b}")).collect();
        if !negative.is_empty() {
            report("negative-balance", format!("negative balance(s): {}", negative.join(", ")));
        }
    }
    Verdict::invalid(history.len(), cap_anomalies(anomalies, MAX_PER_KIND))
}

fn secs(ns: u64) -> String {
    format!("{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Vec<String> {
        (0..3).map(|i| format!("acct{i}")).collect()
    }

    fn read(call: u64, balances: &[(&str, i64)]) -> Op<BankOp> {
        Op {
            process: 1,
            call_ns: call,
            return_ns: Some(call + 1_000),
            outcome: Outcome::Ok,
            value: BankOp::Read { balances: Some(balances.iter().map(|(a, b)| (a.to_string(), *b)).collect()) },
        }
    }

    fn transfer(outcome: Outcome) -> Op<BankOp> {
        Op {
            process: 0,
            call_ns: 0,
            return_ns: (outcome != Outcome::Info).then_some(10),
            outcome,
            value: BankOp::Transfer { from: "acct0".into(), to: "acct1".into(), amount: 5 },
        }
    }

    fn kinds(v: &Verdict) -> Vec<&str> {
        v.anomalies.iter().map(|a| a.kind.as_str()).collect()
    }

    #[test]
    fn consistent_reads_are_valid() {
        let h = vec![
            read(0, &[("acct0", 10), ("acct1", 10), ("acct2", 10)]),
            transfer(Outcome::Ok),
            transfer(Outcome::Info),
            transfer(Outcome::Fail),
            read(20, &[("acct0", 5), ("acct1", 15), ("acct2", 10)]),
            read(30, &[("acct2", 0), ("acct0", 0), ("acct1", 30)]),
            // Not Ok: saw nothing.
            Op { outcome: Outcome::Fail, value: BankOp::Read { balances: None }, ..read(40, &[]) },
        ];
        let v = check_bank(&h, &accounts(), 30);
        assert!(v.valid, "{:#?}", v.anomalies);
        assert_eq!(v.checked, h.len());
    }

    #[test]
    fn wrong_total() {
        let h = vec![read(1_500_000_000, &[("acct0", 10), ("acct1", 15), ("acct2", 10)])];
        let v = check_bank(&h, &accounts(), 30);
        assert!(!v.valid);
        assert_eq!(kinds(&v), vec!["wrong-total"]);
        let e = &v.anomalies[0].explanation;
        assert!(e.contains("sum to 35, not 30 (off by 5)"), "{e}");
        assert!(e.contains("invoked at 1.500000000s"), "{e}");
        assert!(e.contains("acct1=15"), "{e}");
        assert_eq!(v.anomalies[0].witness[0]["index"], 0);
        assert_eq!(v.anomalies[0].witness[0]["op"]["call_ns"], 1_500_000_000u64);
    }

    #[test]
    fn negative_balance() {
        let h = vec![transfer(Outcome::Ok), read(5, &[("acct0", -5), ("acct1", 25), ("acct2", 10)])];
        let v = check_bank(&h, &accounts(), 30);
        assert_eq!(kinds(&v), vec!["negative-balance"]);
        assert!(v.anomalies[0].explanation.contains("acct0=-5"));
        assert_eq!(v.anomalies[0].witness[0]["index"], 1);
    }

    #[test]
    fn missing_account() {
        let h = vec![read(5, &[("acct0", 15), ("acct1", 15)])];
        let v = check_bank(&h, &accounts(), 30);
        assert_eq!(kinds(&v), vec!["missing-account"]);
        assert!(v.anomalies[0].explanation.contains("acct2 missing"));
        // Missing and the rest short: both reported.
        let h = vec![read(5, &[("acct0", 15)])];
        assert_eq!(kinds(&check_bank(&h, &accounts(), 30)), vec!["missing-account", "wrong-total"]);
    }

    #[test]
    fn many_bad_reads_are_capped() {
        let h: Vec<_> = (0..30).map(|i| read(i, &[("acct0", 0), ("acct1", 0), ("acct2", 0)])).collect();
        let v = check_bank(&h, &accounts(), 30);
        assert_eq!(v.anomalies.len(), MAX_PER_KIND + 1);
        assert!(v.anomalies.last().expect("some").explanation.starts_with("20 more wrong-total"));
    }
}
