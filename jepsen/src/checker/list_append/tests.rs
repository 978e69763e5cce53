use std::collections::HashMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn a(key: &str, value: i64) -> Mop {
    Mop::Append { key: key.into(), value }
}

fn r(key: &str, values: &[i64]) -> Mop {
    Mop::Read { key: key.into(), values: Some(values.to_vec()) }
}

fn r_unknown(key: &str) -> Mop {
    Mop::Read { key: key.into(), values: None }
}

fn op(process: usize, call: u64, ret: Option<u64>, outcome: Outcome, value: Txn) -> Op<Txn> {
    Op { process, call_ns: call, return_ns: ret, outcome, value }
}

fn ok(process: usize, call: u64, ret: u64, value: Txn) -> Op<Txn> {
    op(process, call, Some(ret), Outcome::Ok, value)
}

fn fail(process: usize, call: u64, ret: u64, value: Txn) -> Op<Txn> {
    op(process, call, Some(ret), Outcome::Fail, value)
}

fn info(process: usize, call: u64, value: Txn) -> Op<Txn> {
    op(process, call, None, Outcome::Info, value)
}

/// Transactions one after the other, in real time (so real-time edges follow the list).
fn serial(txns: Vec<(Outcome, Txn)>) -> Vec<Op<Txn>> {
    txns.into_iter()
        .enumerate()
        .map(|(i, (outcome, txn))| {
            let call = 10 * i as u64;
            let ret = (outcome != Outcome::Info).then_some(call + 5);
            op(i % 3, call, ret, outcome, txn)
        })
        .collect()
}

/// Transactions all concurrent with one another (no real-time edges among them).
fn concurrent(txns: Vec<Txn>) -> Vec<Op<Txn>> {
    txns.into_iter().enumerate().map(|(i, txn)| ok(i, i as u64, 1000, txn)).collect()
}

fn kinds(v: &Verdict) -> Vec<&str> {
    v.anomalies.iter().map(|a| a.kind.as_str()).collect()
}

fn check_both(h: &[Op<Txn>]) -> (Verdict, Verdict) {
    (check_list_append(h, false), check_list_append(h, true))
}

fn assert_valid(h: &[Op<Txn>]) {
    let (s, ss) = check_both(h);
    assert!(s.valid, "serializability: {:#?}", s.anomalies);
    assert!(ss.valid, "strict serializability: {:#?}", ss.anomalies);
    assert_eq!(s.checked, h.len());
}

fn only(v: &Verdict, kind: &str) -> Anomaly {
    assert!(!v.valid);
    assert_eq!(kinds(v), vec![kind], "{:#?}", v.anomalies);
    v.anomalies[0].clone()
}

#[test]
fn empty_history_is_valid() {
    assert_valid(&[]);
}

#[test]
fn serial_history_is_valid() {
    use Outcome::*;
    let h = serial(vec![
        (Ok, vec![r("x", &[]), a("x", 1)]),
        (Ok, vec![a("x", 2), a("y", 1), r("x", &[1, 2])]),
        (Fail, vec![r_unknown("y")]),
        (Ok, vec![r("y", &[1]), a("y", 2), r("y", &[1, 2]), a("y", 3)]),
        (Ok, vec![r("x", &[1, 2]), r("y", &[1, 2, 3])]),
        (Ok, vec![a("z", 1)]),
        (Ok, vec![r("z", &[1]), r("x", &[1, 2])]),
    ]);
    assert_valid(&h);
}

#[test]
fn g0_write_cycle() {
    // x: 1 (T0) then 2 (T1); y: 1 (T1) then 2 (T0).
    let h = concurrent(vec![
        vec![a("x", 1), a("y", 2)],
        vec![a("x", 2), a("y", 1)],
        vec![r("x", &[1, 2]), r("y", &[1, 2])],
    ]);
    let (s, ss) = check_both(&h);
    let g0 = only(&s, "G0");
    assert_eq!(kinds(&ss), vec!["G0"]);
    assert_eq!(g0.witness.len(), 2);
    assert!(g0.explanation.contains("op#0 -ww-> op#1"), "{}", g0.explanation);
    assert!(g0.explanation.contains("op#1 -ww-> op#0"), "{}", g0.explanation);
    assert!(g0.explanation.contains("appended 1 to x and op#1 appended 2"), "{}", g0.explanation);
    assert_eq!(g0.witness[0]["index"], 0);
    assert_eq!(g0.witness[0]["edge"]["kind"], "ww");
    assert_eq!(g0.witness[0]["edge"]["to"], 1);
}

#[test]
fn g1a_aborted_read() {
    use Outcome::*;
    let h = serial(vec![(Fail, vec![a("x", 1)]), (Ok, vec![r("x", &[1])])]);
    let (s, ss) = check_both(&h);
    assert_eq!(
        check_list_append(&[fail(0, 0, 5, vec![a("x", 1)]), ok(1, 1, 6, vec![r("x", &[1])])], true).anomalies.len(),
        1
    );
    let g1a = only(&s, "G1a");
    assert_eq!(kinds(&ss), vec!["G1a"]);
    assert!(g1a.explanation.contains("op#1"));
    assert!(g1a.explanation.contains("op#0"));
    assert_eq!(g1a.witness.len(), 2);
}

#[test]
fn unobserved_failed_and_info_appends_are_fine() {
    use Outcome::*;
    let h = serial(vec![
        (Fail, vec![a("x", 1)]),
        (Info, vec![a("x", 2)]),
        (Ok, vec![a("x", 3)]),
        (Ok, vec![r("x", &[3])]),
        (Info, vec![a("x", 4), r_unknown("x")]),
    ]);
    assert_valid(&h);
}

#[test]
fn g1b_intermediate_read() {
    use Outcome::*;
    let h = serial(vec![(Ok, vec![a("x", 1), a("x", 2)]), (Ok, vec![r("x", &[1])]), (Ok, vec![r("x", &[1, 2])])]);
    let (s, ss) = check_both(&h);
    let g1b = only(&s, "G1b");
    assert!(g1b.explanation.contains("ending with 1"), "{}", g1b.explanation);
    // Under real time the stale read is also a cycle: op#0 -rt-> op#1 -rw-> op#0.
    assert!(kinds(&ss).contains(&"G1b"));
    // Reading one's own intermediate state is fine.
    assert_valid(&serial(vec![(Ok, vec![a("x", 1), r("x", &[1]), a("x", 2)]), (Ok, vec![r("x", &[1, 2])])]));
}

#[test]
fn g1c_circular_information_flow() {
    let h = concurrent(vec![vec![a("x", 1), r("y", &[1])], vec![a("y", 1), r("x", &[1])]]);
    let (s, ss) = check_both(&h);
    let g1c = only(&s, "G1c");
    assert_eq!(kinds(&ss), vec!["G1c"]);
    assert!(g1c.explanation.contains("-wr->"));
    assert!(g1c.explanation.contains("op#1 read x = [1], which contains 1, appended by op#0"), "{}", g1c.explanation);
}

#[test]
fn g_single_read_skew() {
    let h = concurrent(vec![vec![a("x", 1), a("y", 1)], vec![r("x", &[]), r("y", &[1])], vec![r("x", &[1])]]);
    let (s, _) = check_both(&h);
    let g = only(&s, "G-single");
    assert!(g.explanation.contains("op#1 -rw-> op#0"), "{}", g.explanation);
    assert!(g.explanation.contains("op#1 read x = [], which lacks 1"), "{}", g.explanation);
    assert!(g.explanation.contains("op#0 -wr-> op#1"), "{}", g.explanation);
}

#[test]
fn g2_write_skew() {
    let h =
        concurrent(vec![vec![r("x", &[]), a("y", 1)], vec![r("y", &[]), a("x", 1)], vec![r("x", &[1]), r("y", &[1])]]);
    let (s, ss) = check_both(&h);
    let g2 = only(&s, "G2-item");
    assert_eq!(kinds(&ss), vec!["G2-item"]);
    assert!(g2.explanation.contains("2 anti-dependencies"), "{}", g2.explanation);
    assert_eq!(g2.witness.len(), 2);
}

#[test]
fn lost_update_is_g_single() {
    // Both read x = [] and appended: one of the appends must have read the other's.
    let h = concurrent(vec![vec![r("x", &[]), a("x", 1)], vec![r("x", &[]), a("x", 2)], vec![r("x", &[1, 2])]]);
    let s = check_list_append(&h, false);
    assert_eq!(kinds(&s), vec!["G-single"]);
}

#[test]
fn duplicate_elements() {
    use Outcome::*;
    let h = serial(vec![(Ok, vec![a("x", 1)]), (Ok, vec![a("x", 2)]), (Ok, vec![r("x", &[1, 2, 1])])]);
    let (s, ss) = check_both(&h);
    let d = only(&s, "duplicate-elements");
    assert_eq!(kinds(&ss), vec!["duplicate-elements"]);
    assert!(d.explanation.contains("contains 1 more than once"), "{}", d.explanation);
}

#[test]
fn incompatible_order() {
    use Outcome::*;
    let h = serial(vec![
        (Ok, vec![a("x", 1)]),
        (Ok, vec![a("x", 2)]),
        (Ok, vec![a("x", 3)]),
        (Ok, vec![r("x", &[1, 2])]),
        (Ok, vec![r("x", &[1, 3])]),
        (Ok, vec![r("x", &[1])]),
    ]);
    let (s, ss) = check_both(&h);
    let i = only(&s, "incompatible-order");
    assert_eq!(kinds(&ss), vec!["incompatible-order"]);
    assert!(i.explanation.contains("at index 1 one has 2 and the other 3"), "{}", i.explanation);
    assert_eq!(i.witness.len(), 2);
}

#[test]
fn internal_inconsistency() {
    use Outcome::*;
    // Its own append is missing from its read.
    let h = serial(vec![(Ok, vec![a("x", 1)]), (Ok, vec![a("x", 5), r("x", &[1])])]);
    let i = only(&check_list_append(&h, false), "internal");
    assert!(i.explanation.contains("ending with [5]"), "{}", i.explanation);
    // Two reads in one transaction that disagree with its append in between.
    let h = serial(vec![
        (Ok, vec![a("x", 1)]),
        (Ok, vec![r("x", &[1]), a("x", 2), r("x", &[1, 3, 2])]),
        (Ok, vec![a("x", 3)]),
    ]);
    let v = check_list_append(&h, false);
    assert!(kinds(&v).contains(&"internal"), "{:#?}", v.anomalies);
    assert!(v.anomalies[0].explanation.contains("exactly [1 2]"), "{}", v.anomalies[0].explanation);
}

#[test]
fn garbage_read() {
    use Outcome::*;
    let h = serial(vec![(Ok, vec![a("x", 1)]), (Ok, vec![r("x", &[1, 99])])]);
    only(&check_list_append(&h, false), "garbage-read");
}

#[test]
fn stale_read_is_serializable_but_not_strict() {
    let h = vec![
        ok(0, 0, 10, vec![a("x", 1)]),
        // Invoked after op#0 completed, yet does not see its append.
        ok(1, 20, 30, vec![r("x", &[])]),
        ok(2, 40, 50, vec![r("x", &[1])]),
    ];
    let (s, ss) = check_both(&h);
    assert!(s.valid, "{:#?}", s.anomalies);
    let rt = only(&ss, "G-single-realtime");
    assert!(rt.explanation.contains("op#0 -rt-> op#1"), "{}", rt.explanation);
    assert!(
        rt.explanation.contains("completed at 0.000000010s before op#1 was invoked at 0.000000020s"),
        "{}",
        rt.explanation
    );
    assert!(rt.explanation.contains("op#1 -rw-> op#0"), "{}", rt.explanation);
    assert!(rt.explanation.contains("strict serializability is violated"), "{}", rt.explanation);
}

#[test]
fn overlapping_operations_have_no_realtime_order() {
    // Same as above but op#1 starts before op#0 completes (and touching counts as overlap).
    let h = vec![ok(0, 0, 10, vec![a("x", 1)]), ok(1, 10, 30, vec![r("x", &[])]), ok(2, 40, 50, vec![r("x", &[1])])];
    assert_valid(&h);
}

#[test]
fn future_read_is_g1c_realtime() {
    // op#0 returns x = [1] before op#1, which appends 1, is even invoked.
    let h = vec![ok(0, 0, 10, vec![r("x", &[1])]), ok(1, 20, 30, vec![a("x", 1)])];
    let (s, ss) = check_both(&h);
    assert!(s.valid);
    only(&ss, "G1c-realtime");
}

#[test]
fn lost_append() {
    let h = vec![
        ok(0, 0, 10, vec![a("x", 1)]),
        ok(1, 5, 15, vec![a("x", 2)]),
        ok(2, 20, 30, vec![r("x", &[2])]),
        ok(2, 40, 50, vec![r("x", &[2])]),
    ];
    let (s, ss) = check_both(&h);
    // Serializable: op#0 could come last.
    assert!(s.valid, "{:#?}", s.anomalies);
    assert!(!ss.valid);
    assert_eq!(kinds(&ss), vec!["lost-append", "G-single-realtime"], "{:#?}", ss.anomalies);
    let lost = &ss.anomalies[0];
    assert!(lost.explanation.contains("appending 1 to x"), "{}", lost.explanation);
    // The latest read is named.
    assert!(lost.explanation.contains("op#3"), "{}", lost.explanation);
}

#[test]
fn unobserved_committed_append_still_constrains_serializability() {
    // op#0 appended 1 (never read) and read y = []; op#1 appended to y and read x = []
    // (before 1, necessarily, as no read ever saw 1): op#0 -rw-> op#1 -rw-> op#0.
    let h = concurrent(vec![vec![a("x", 1), r("y", &[])], vec![a("y", 1), r("x", &[])], vec![r("y", &[1])]]);
    let s = check_list_append(&h, false);
    let g2 = only(&s, "G2-item");
    assert!(g2.explanation.contains("no read returned 1"), "{}", g2.explanation);
}

#[test]
fn info_transactions() {
    use Outcome::*;
    // An observed Info append is committed, and is not an aborted read.
    let h = serial(vec![(Info, vec![a("x", 1), r_unknown("y")]), (Ok, vec![r("x", &[1])])]);
    assert_valid(&h);
    // An observed Info transaction takes part in cycles (its reads are unknown).
    let h = vec![
        info(0, 0, vec![a("x", 1), a("y", 1)]),
        ok(1, 1, 100, vec![r("x", &[1]), r("y", &[])]),
        ok(2, 2, 100, vec![r("y", &[1])]),
    ];
    let g = only(&check_list_append(&h, false), "G-single");
    assert!(g.explanation.contains("op#0 (process 0, info"), "{}", g.explanation);
    // An unobserved Info append constrains nothing, even if a later read lacks it.
    let h = vec![info(0, 0, vec![a("x", 1)]), ok(1, 20, 30, vec![r("x", &[])])];
    assert_valid(&h);
    // Real time: an Info transaction has no completion, so nothing follows it...
    let h = vec![info(0, 0, vec![a("x", 1)]), ok(1, 20, 30, vec![r("x", &[])]), ok(1, 40, 50, vec![r("x", &[1])])];
    assert_valid(&h);
    // ... but it follows what completed before its invocation.
    let h = vec![ok(0, 0, 10, vec![r("x", &[1])]), info(1, 20, vec![a("x", 1)])];
    only(&check_list_append(&h, true), "G1c-realtime");
}

#[test]
fn non_unique_append_is_reported() {
    use Outcome::*;
    let h = serial(vec![(Ok, vec![a("x", 1)]), (Ok, vec![a("x", 1)]), (Ok, vec![r("x", &[1])])]);
    assert!(kinds(&check_list_append(&h, false)).contains(&"non-unique-append"));
}

#[test]
fn anomalies_are_capped_per_kind() {
    let mut h = Vec::new();
    for i in 0..25 {
        h.push(op(0, 10 * i, Some(10 * i + 5), Outcome::Ok, vec![r("x", &[1000 + i as i64])]));
    }
    let v = check_list_append(&h, false);
    assert_eq!(v.anomalies.len(), MAX_PER_KIND + 2, "{:#?}", kinds(&v));
    assert!(v.anomalies.iter().any(|a| a.explanation.starts_with("15 more garbage-read anomalies")));
}

/// A strictly serializable history: each transaction takes effect atomically at a random
/// point of its interval; some end `Info` (having taken effect or not), some `Fail`.
fn simulate(seed: u64, txns: usize, processes: usize, keys: usize) -> Vec<Op<Txn>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next_value = 0i64;
    let mut clock = vec![0u64; processes];
    // (linearization point or None, op)
    let mut planned: Vec<(Option<u64>, Op<Txn>)> = Vec::new();
    for _ in 0..txns {
        let p = rng.random_range(0..processes);
        let call = clock[p] + rng.random_range(1..50);
        let ret = call + rng.random_range(1..200);
        clock[p] = ret;
        let txn: Txn = (0..rng.random_range(1..=4))
            .map(|_| {
                let key = format!("k{}", rng.random_range(0..keys));
                if rng.random_bool(0.5) {
                    next_value += 1;
                    a(&key, next_value)
                } else {
                    r_unknown(&key)
                }
            })
            .collect();
        let roll = rng.random_range(0..100);
        let (outcome, happens) = match roll {
            0..3 => (Outcome::Fail, false),
            3..6 => (Outcome::Info, rng.random_bool(0.5)),
            _ => (Outcome::Ok, true),
        };
        let at = happens.then(|| rng.random_range(call..ret));
        planned.push((at, op(p, call, (outcome != Outcome::Info).then_some(ret), outcome, txn)));
    }
    let mut order: Vec<usize> = (0..planned.len()).filter(|&i| planned[i].0.is_some()).collect();
    order.sort_by_key(|&i| planned[i].0);
    let mut state: HashMap<String, Vec<i64>> = HashMap::new();
    for i in order {
        let reveal = planned[i].1.outcome == Outcome::Ok;
        for mop in planned[i].1.value.iter_mut() {
            match mop {
                Mop::Append { key, value } => state.entry(key.clone()).or_default().push(*value),
                Mop::Read { key, values } => {
                    if reveal {
                        *values = Some(state.get(key).cloned().unwrap_or_default());
                    }
                }
            }
        }
    }
    let mut ops: Vec<Op<Txn>> = planned.into_iter().map(|(_, op)| op).collect();
    ops.sort_by_key(|op| op.call_ns);
    // Final reads of every key, after everything.
    let end = ops.iter().filter_map(|o| o.return_ns).max().unwrap_or(0) + 1;
    for k in 0..keys {
        let key = format!("k{k}");
        let values = state.get(&key).cloned().unwrap_or_default();
        ops.push(ok(processes, end + 10 * k as u64, end + 10 * k as u64 + 5, vec![r(&key, &values)]));
    }
    ops
}

#[test]
fn simulated_strict_serializable_histories_are_valid() {
    for seed in 0..20 {
        let h = simulate(seed, 300, 5, 3);
        let (s, ss) = check_both(&h);
        assert!(s.valid, "seed {seed}: {:#?}", s.anomalies);
        assert!(ss.valid, "seed {seed}: {:#?}", ss.anomalies);
    }
}

#[test]
fn simulated_histories_with_stale_reads_are_caught() {
    for seed in 0..20 {
        let mut h = simulate(seed, 300, 5, 3);
        let mut writer: HashMap<(String, i64), usize> = HashMap::new();
        for (i, o) in h.iter().enumerate() {
            for m in &o.value {
                if let Mop::Append { key, value } = m {
                    writer.insert((key.clone(), *value), i);
                }
            }
        }
        // A read-only transaction, mid-history, that read a key whose last element was
        // appended by a transaction that completed before it began: make it miss that one.
        let stale = |i: usize, m: &Mop| match m {
            Mop::Read { key, values: Some(v) } => v.last().is_some_and(|x| {
                let w = writer[&(key.clone(), *x)];
                h[w].return_ns.is_some_and(|r| r < h[i].call_ns)
            }),
            _ => false,
        };
        let target = (h.len() / 2..h.len())
            .find(|&i| {
                h[i].value.iter().all(|m| matches!(m, Mop::Read { .. })) && h[i].value.iter().any(|m| stale(i, m))
            })
            .expect("a stale-able read");
        let m = h[target].value.iter().position(|m| stale(target, m)).expect("found above");
        if let Mop::Read { values: Some(v), .. } = &mut h[target].value[m] {
            v.pop();
        }
        let s = check_list_append(&h, false);
        let ss = check_list_append(&h, true);
        assert!(!ss.valid, "seed {seed}");
        // (A transaction reading the key twice now also disagrees with itself.)
        let expected = |a: &Anomaly| a.kind.starts_with('G') || a.kind == "internal";
        assert!(ss.anomalies.iter().all(expected), "seed {seed}: {:#?}", ss.anomalies);
        // Whatever serializability alone finds is found under real time too.
        for a in &s.anomalies {
            assert!(kinds(&ss).contains(&a.kind.as_str()), "seed {seed}: {a:#?}");
        }
    }
}

#[test]
fn ten_thousand_transactions_check_quickly() {
    let h = simulate(42, 10_000, 10, 8);
    let start = Instant::now();
    let (s, ss) = check_both(&h);
    let took = start.elapsed();
    assert!(s.valid && ss.valid, "{:#?} {:#?}", s.anomalies, ss.anomalies);
    // Debug build; release is several times faster.
    assert!(took.as_secs() < 30, "took {took:?}");
    eprintln!("10k transactions checked twice in {took:?}");
}

#[test]
fn many_anomalies_in_a_large_history_check_quickly() {
    // Every read-only transaction misses the last element it should have seen: one big
    // tangle of cycles.
    let mut h = simulate(7, 10_000, 10, 8);
    for o in h.iter_mut() {
        if o.outcome == Outcome::Ok && o.value.iter().all(|m| matches!(m, Mop::Read { .. })) {
            for m in o.value.iter_mut() {
                if let Mop::Read { values: Some(v), .. } = m {
                    v.pop();
                }
            }
        }
    }
    let start = Instant::now();
    let ss = check_list_append(&h, true);
    let took = start.elapsed();
    assert!(!ss.valid);
    assert!(took.as_secs() < 60, "took {took:?}");
    eprintln!("{} anomalies in {took:?}: {:?}", ss.anomalies.len(), kinds(&ss));
}

#[test]
fn long_lists_are_shown_around_the_divergence() {
    let long: Vec<i64> = (1..=40).collect();
    let mut h: Vec<Op<Txn>> = (1..=40).map(|i| ok(0, i as u64 * 10, i as u64 * 10 + 5, vec![a("x", i)])).collect();
    h.push(ok(1, 1000, 1010, vec![r("x", &long)]));
    let mut bad = long.clone();
    bad[20] = 41;
    h.push(ok(1, 1100, 1110, vec![r("x", &bad[..30])]));
    let v = check_list_append(&h, true);
    assert_eq!(kinds(&v), vec!["garbage-read", "incompatible-order"]);
    let e = &v.anomalies[1].explanation;
    assert!(e.contains("op#40 (process 1, ok, 0.000001000s..0.000001010s) read x = [1 ... 18 19 20 *21* 22 23 24 ... 40] (40 elements)"), "{e}");
    assert!(e.contains("[1 ... 18 19 20 *41* 22 23 24 ... 30] (30 elements)"), "{e}");
    assert!(v.anomalies[0].explanation.contains("[1 2 3 ... 26 27 28 29 30 (30 elements)], which contains 41"));
}
