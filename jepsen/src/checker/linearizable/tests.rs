use std::collections::{BTreeMap, HashMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

// ---------------------------------------------------------------------------------------
// Building histories by hand.

fn mk(process: usize, call: u64, ret: u64, value: RegisterOp) -> Op<RegisterOp> {
    Op { process, call_ns: call, return_ns: Some(ret), outcome: Outcome::Ok, value }
}

fn read(p: usize, call: u64, ret: u64, v: Option<i64>) -> Op<RegisterOp> {
    mk(p, call, ret, RegisterOp::Read { key: "k".into(), value: v })
}

fn write(p: usize, call: u64, ret: u64, v: i64) -> Op<RegisterOp> {
    mk(p, call, ret, RegisterOp::Write { key: "k".into(), value: v })
}

fn cas(p: usize, call: u64, ret: u64, from: i64, to: i64) -> Op<RegisterOp> {
    mk(p, call, ret, RegisterOp::Cas { key: "k".into(), from, to })
}

fn info(mut op: Op<RegisterOp>) -> Op<RegisterOp> {
    op.outcome = Outcome::Info;
    op.return_ns = None;
    op
}

fn fail(mut op: Op<RegisterOp>) -> Op<RegisterOp> {
    op.outcome = Outcome::Fail;
    op
}

fn on(key: &str, mut op: Op<RegisterOp>) -> Op<RegisterOp> {
    match &mut op.value {
        RegisterOp::Read { key: k, .. }
        | RegisterOp::Write { key: k, .. }
        | RegisterOp::Cas { key: k, .. }
        | RegisterOp::Delete { key: k } => *k = key.into(),
    }
    op
}

#[track_caller]
fn assert_valid(history: &[Op<RegisterOp>]) {
    let v = check_register(history);
    assert!(v.valid, "expected valid, got {:#?}", v.anomalies);
    assert_eq!(v.checked, history.len());
    assert!(brute_force(history), "the brute-force checker disagrees");
}

/// Asserts exactly one nonlinearizable anomaly and returns it.
#[track_caller]
fn assert_invalid(history: &[Op<RegisterOp>]) -> Anomaly {
    let v = check_register(history);
    assert!(!v.valid, "expected invalid");
    assert_eq!(v.anomalies.len(), 1, "{:#?}", v.anomalies);
    assert!(!brute_force(history) || history.len() > 9, "the brute-force checker disagrees");
    let a = v.anomalies.into_iter().next().unwrap();
    assert_eq!(a.kind, "nonlinearizable", "{a:#?}");
    a
}

fn role_indices(a: &Anomaly, role: &str) -> Vec<u64> {
    a.witness.iter().filter(|w| w["role"] == role).filter_map(|w| w["index"].as_u64()).collect()
}

// ---------------------------------------------------------------------------------------
// Valid histories.

#[test]
fn empty_and_trivial_histories_are_valid() {
    assert_valid(&[]);
    assert_valid(&[read(0, 0, 1, None)]);
    assert_valid(&[write(0, 0, 1, 3), read(1, 2, 3, Some(3))]);
}

#[test]
fn overlapping_writes_and_reads() {
    // Two concurrent writes; concurrent readers may see either, but agree on a final order.
    assert_valid(&[
        write(0, 0, 100, 1),
        write(1, 10, 90, 2),
        read(2, 20, 30, Some(2)),
        read(3, 25, 95, Some(1)),
        read(2, 40, 50, Some(1)),
        read(4, 110, 120, Some(1)),
    ]);
    // A read concurrent with the first write may still see the register absent.
    assert_valid(&[write(0, 0, 100, 1), read(1, 10, 20, None), read(1, 30, 40, Some(1)), read(2, 101, 102, Some(1))]);
    // Touching intervals count as concurrent.
    assert_valid(&[write(0, 0, 10, 1), write(1, 20, 30, 2), read(2, 10, 20, Some(2)), read(3, 30, 31, Some(2))]);
}

#[test]
fn info_write_that_took_effect() {
    // Process 0's write timed out, but it happened: later reads see it.
    assert_valid(&[write(1, 0, 5, 1), info(write(0, 10, 20, 2)), read(1, 30, 40, Some(2)), read(2, 50, 60, Some(2))]);
}

#[test]
fn info_write_that_took_effect_much_later() {
    // Its effect may come arbitrarily later than its call, even after other writes.
    assert_valid(&[
        info(write(0, 10, 20, 2)),
        write(1, 100, 110, 3),
        read(1, 120, 130, Some(3)),
        read(2, 500, 510, Some(2)),
    ]);
}

#[test]
fn info_write_that_did_not_take_effect() {
    assert_valid(&[write(1, 0, 5, 1), info(write(0, 10, 20, 2)), read(1, 30, 40, Some(1)), read(2, 500, 510, Some(1))]);
    // Many indeterminate writes, none of which happened.
    let mut h = vec![write(0, 0, 1, 0)];
    for i in 0..40 {
        h.push(info(write(1 + i, 2 + i as u64, 3, 100 + i as i64 % 5)));
    }
    for i in 0..40 {
        h.push(read(50, 100 + 10 * i, 105 + 10 * i, Some(0)));
    }
    assert!(check_register(&h).valid);
}

#[test]
fn identical_info_writes_can_both_take_effect() {
    assert_valid(&[
        info(write(0, 0, 1, 1)),
        info(write(1, 2, 3, 1)),
        read(2, 10, 20, Some(1)),
        write(2, 30, 40, 2),
        read(2, 50, 60, Some(2)),
        read(3, 70, 80, Some(1)),
    ]);
    // But each only once.
    assert_invalid(&[
        info(write(0, 0, 1, 1)),
        info(write(1, 2, 3, 1)),
        read(2, 10, 20, Some(1)),
        write(2, 30, 40, 2),
        read(2, 50, 60, Some(1)),
        write(2, 70, 80, 2),
        read(2, 90, 100, Some(2)),
        read(3, 110, 120, Some(1)),
    ]);
}

#[test]
fn info_read_constrains_nothing() {
    let mut r = info(read(1, 20, 30, Some(42)));
    r.value = RegisterOp::Read { key: "k".into(), value: Some(42) };
    assert_valid(&[write(0, 0, 10, 1), r, read(2, 40, 50, Some(1))]);
}

#[test]
fn cas_chains() {
    assert_valid(&[
        write(0, 0, 10, 0),
        cas(1, 20, 30, 0, 1),
        cas(2, 25, 35, 1, 2),
        fail(cas(3, 26, 36, 0, 9)),
        read(0, 40, 50, Some(2)),
        cas(0, 60, 70, 2, 3),
        info(cas(1, 80, 90, 3, 4)),
        read(2, 100, 110, Some(4)),
        cas(3, 120, 130, 4, 5),
        read(2, 140, 150, Some(5)),
    ]);
    // Concurrent CASes on the same value: they can succeed in some order.
    assert_valid(&[write(0, 0, 1, 0), cas(1, 10, 50, 0, 1), cas(2, 10, 50, 1, 2), cas(3, 10, 50, 2, 0)]);
    // A failed CAS is dropped, even when its failure looks wrong.
    assert_valid(&[write(0, 0, 1, 0), fail(cas(1, 10, 20, 0, 1)), read(0, 30, 40, Some(0))]);
}

#[test]
fn failed_ops_are_dropped() {
    assert_valid(&[
        write(0, 0, 10, 1),
        fail(write(1, 20, 30, 2)),
        read(2, 40, 50, Some(1)),
        fail(read(3, 60, 70, None)),
    ]);
}

#[test]
fn ok_op_without_return_time_must_still_take_effect() {
    let mut w = write(0, 10, 0, 1);
    w.return_ns = None;
    assert!(check_register(&[w.clone(), read(1, 100, 110, Some(1))]).valid);
    assert!(check_register(&[w.clone(), read(1, 100, 110, None)]).valid); // it may take effect later
    assert!(!check_register(&[w, read(1, 100, 110, Some(2))]).valid);
}

// ---------------------------------------------------------------------------------------
// Invalid histories and their explanations.

#[test]
fn stale_read_after_completed_write() {
    let h = [write(0, 0, 10, 1), write(1, 20, 30, 2), read(2, 40, 50, Some(1))];
    let a = assert_invalid(&h);
    let e = &a.explanation;
    assert!(e.starts_with("On key \"k\""), "{e}");
    assert!(e.contains("process 2's read at [0.000040ms, 0.000050ms] returned 1"), "{e}");
    assert!(
        e.contains("the register can only hold 2 (written by process 1's write of 2 at [0.000020ms, 0.000030ms])"),
        "{e}"
    );
    assert!(!e.contains("earlier"), "{e}");
    assert!(e.contains("1 was written by process 0's write of 1 at [0.000000ms, 0.000010ms]"), "{e}");
    assert_eq!(role_indices(&a, "not-linearizable"), [2]);
    assert_eq!(role_indices(&a, "wrote-expected-value"), [0]);
    let prefix = a.witness.iter().find(|w| w["role"] == "linearized-prefix").unwrap();
    assert_eq!(prefix["indices"], serde_json::json!([0, 1]));
    let possible: Vec<_> = a.witness.iter().filter(|w| w["role"] == "possible-value").collect();
    assert_eq!(possible.len(), 1);
    assert_eq!(possible[0]["value"], 2);
    assert_eq!(possible[0]["written_by"]["index"], 1);
}

#[test]
fn read_of_a_value_never_written() {
    let a = assert_invalid(&[write(0, 0, 10, 1), write(1, 5, 30, 2), read(2, 6, 50, Some(7))]);
    assert!(a.explanation.contains("No operation ever wrote 7."), "{}", a.explanation);
    // Both writes may have been last (or only the first one had happened).
    assert!(a.explanation.contains("can only hold"), "{}", a.explanation);
    assert!(a.explanation.contains("1 (written by process 0's"), "{}", a.explanation);
    assert!(a.explanation.contains("2 (written by process 1's"), "{}", a.explanation);
}

#[test]
fn read_of_a_failed_write() {
    let a = assert_invalid(&[write(0, 0, 10, 1), fail(write(1, 20, 30, 2)), read(2, 40, 50, Some(2))]);
    assert!(a.explanation.contains("2 was only written by operations reported as failed"), "{}", a.explanation);
    assert_eq!(role_indices(&a, "wrote-expected-value"), [1]);
}

#[test]
fn read_of_nothing_after_a_write() {
    let a = assert_invalid(&[write(0, 0, 10, 1), read(1, 20, 30, None)]);
    assert!(a.explanation.contains("returned nothing"), "{}", a.explanation);
}

#[test]
fn lost_cas() {
    // Both CASes claim to have changed 0, one after the other.
    let a = assert_invalid(&[write(0, 0, 10, 0), cas(1, 20, 30, 0, 1), cas(2, 40, 50, 0, 2)]);
    assert!(a.explanation.contains("process 2's cas 0→2"), "{}", a.explanation);
    assert!(a.explanation.contains("changed 0 to 2"), "{}", a.explanation);
    assert!(a.explanation.contains("can only hold 1 (written by process 1's cas 0→1"), "{}", a.explanation);
    // Concurrent, but both cannot have seen 0.
    assert_invalid(&[write(0, 0, 10, 0), cas(1, 20, 50, 0, 1), cas(2, 20, 50, 0, 2)]);
    // A CAS acknowledged, then a read that does not see it.
    assert_invalid(&[write(0, 0, 10, 0), cas(1, 20, 30, 0, 1), read(2, 40, 50, Some(0))]);
}

#[test]
fn read_going_back_in_time() {
    // While a write of 2 is in flight, one reader sees 2 and a later one sees 1 again.
    let a =
        assert_invalid(&[write(0, 0, 10, 1), write(1, 20, 100, 2), read(2, 30, 40, Some(2)), read(3, 50, 60, Some(1))]);
    assert_eq!(role_indices(&a, "not-linearizable"), [3]);
    assert_eq!(role_indices(&a, "concurrent"), Vec::<u64>::new());
}

#[test]
fn info_write_cannot_be_undone() {
    // The indeterminate write was seen, so it happened; it cannot un-happen.
    assert_invalid(&[
        write(0, 0, 10, 1),
        info(write(1, 20, 30, 2)),
        read(2, 40, 50, Some(2)),
        read(3, 60, 70, Some(1)),
    ]);
    // And it cannot take effect before it was called.
    assert_invalid(&[write(0, 0, 10, 1), read(2, 20, 30, Some(2)), info(write(1, 40, 50, 2))]);
}

#[test]
fn keys_are_independent() {
    // As one register this would be invalid (a read of 1 after the write of 2 completed).
    let h = [
        on("a", write(0, 0, 10, 1)),
        on("b", write(1, 20, 30, 2)),
        on("a", read(2, 40, 50, Some(1))),
        on("b", read(3, 40, 50, Some(2))),
        on("c", read(3, 60, 70, None)),
    ];
    assert_valid(&h);
    // Only key "b" is wrong here, and it is the one reported.
    let h = [
        on("a", write(0, 0, 10, 1)),
        on("b", write(1, 0, 10, 1)),
        on("a", read(2, 20, 30, Some(1))),
        on("b", read(3, 20, 30, Some(5))),
    ];
    let a = assert_invalid(&h);
    assert!(a.explanation.starts_with("On key \"b\""), "{}", a.explanation);
    // Every bad key is reported.
    let h = [on("a", read(0, 0, 1, Some(1))), on("b", read(1, 0, 1, Some(1))), on("c", read(2, 0, 1, None))];
    let v = check_register(&h);
    assert!(!v.valid);
    assert_eq!(v.anomalies.len(), 2);
}

#[test]
fn budget_exhaustion_is_reported_as_unchecked() {
    let mut rng = StdRng::seed_from_u64(7);
    let h = simulate(&mut rng, 200, 8, 3, 1, 0.1);
    let v = check_register_with(&h, &Options { max_steps: 50 });
    assert!(!v.valid);
    assert_eq!(v.anomalies.len(), 1);
    assert_eq!(v.anomalies[0].kind, "unchecked");
    assert!(v.anomalies[0].explanation.contains("gave up after 50 steps"), "{}", v.anomalies[0].explanation);
    assert!(check_register(&h).valid);
}

// ---------------------------------------------------------------------------------------
// Generated histories.

/// A history of a linearizable register store: each operation takes effect at a random
/// instant inside its interval (an indeterminate one: at a random later instant, or
/// never), and reads and CASes return what a register would at that instant.
fn simulate(
    rng: &mut StdRng,
    n_ops: usize,
    processes: usize,
    values: i64,
    keys: usize,
    info_probability: f64,
) -> Vec<Op<RegisterOp>> {
    let mut clocks = vec![0u64; processes];
    // (instant it takes effect, index)
    let mut effects: Vec<(u64, usize)> = Vec::new();
    let mut history = Vec::with_capacity(n_ops);
    for i in 0..n_ops {
        let p = rng.random_range(0..processes);
        let call = clocks[p] + rng.random_range(0..30);
        let ret = call + rng.random_range(1..200);
        clocks[p] = ret;
        let key = format!("k{}", rng.random_range(0..keys));
        let value = match rng.random_range(0..10) {
            0..4 => RegisterOp::Read { key, value: None },
            4..7 => RegisterOp::Write { key, value: rng.random_range(0..values) },
            _ => RegisterOp::Cas { key, from: rng.random_range(0..values), to: rng.random_range(0..values) },
        };
        let indeterminate = rng.random_bool(info_probability);
        let effect = if indeterminate {
            rng.random_bool(0.5).then(|| call + rng.random_range(0..2000))
        } else {
            Some(rng.random_range(call..=ret))
        };
        if let Some(t) = effect {
            effects.push((t, i));
        }
        let outcome = if indeterminate { Outcome::Info } else { Outcome::Ok };
        history.push(Op { process: p, call_ns: call, return_ns: Some(ret), outcome, value });
    }
    effects.sort_unstable();
    let mut registers: HashMap<String, i64> = HashMap::new();
    for (_, i) in effects {
        let op = &mut history[i];
        match &mut op.value {
            RegisterOp::Read { key, value } => *value = registers.get(key).copied(),
            RegisterOp::Write { key, value } => {
                registers.insert(key.clone(), *value);
            }
            RegisterOp::Cas { key, from, to } => {
                if registers.get(key) == Some(from) {
                    registers.insert(key.clone(), *to);
                } else if op.outcome == Outcome::Ok {
                    op.outcome = Outcome::Fail;
                }
            }
            RegisterOp::Delete { key } => {
                registers.remove(key);
            }
        }
    }
    for op in &mut history {
        if op.outcome == Outcome::Info {
            op.return_ns = None;
            if let RegisterOp::Read { value, .. } = &mut op.value {
                *value = None;
            }
        }
    }
    history
}

#[test]
fn large_valid_history_single_key() {
    let mut rng = StdRng::seed_from_u64(1);
    let h = simulate(&mut rng, 2000, 8, 5, 1, 0.0);
    let v = check_register(&h);
    assert!(v.valid, "{:#?}", v.anomalies);
    assert_eq!(v.checked, 2000);
}

#[test]
fn large_valid_history_with_indeterminate_ops() {
    let mut rng = StdRng::seed_from_u64(2);
    let h = simulate(&mut rng, 2000, 8, 5, 1, 0.03);
    assert!(h.iter().filter(|o| o.outcome == Outcome::Info).count() > 30);
    let v = check_register(&h);
    assert!(v.valid, "{:#?}", v.anomalies);
}

#[test]
fn large_valid_history_many_keys_and_processes() {
    let mut rng = StdRng::seed_from_u64(3);
    let h = simulate(&mut rng, 5000, 10, 5, 5, 0.02);
    let v = check_register(&h);
    assert!(v.valid, "{:#?}", v.anomalies);
}

#[test]
fn large_history_with_one_corrupted_read() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut h = simulate(&mut rng, 2000, 8, 5, 1, 0.0);
    // Make a read in the middle return a value no one wrote.
    let i = (1000..).find(|&i| matches!(h[i].value, RegisterOp::Read { .. }) && h[i].outcome == Outcome::Ok).unwrap();
    h[i].value = RegisterOp::Read { key: "k0".into(), value: Some(99) };
    let v = check_register(&h);
    assert!(!v.valid);
    assert_eq!(v.anomalies.len(), 1);
    let a = &v.anomalies[0];
    assert_eq!(a.kind, "nonlinearizable", "{a:#?}");
    assert_eq!(role_indices(a, "not-linearizable"), [i as u64]);
    assert!(a.explanation.contains("No operation ever wrote 99."), "{}", a.explanation);
}

// ---------------------------------------------------------------------------------------
// Cross-check against brute force.

/// Linearizable by exhaustive search over every order respecting real time (whole
/// history, all keys at once, no memo): for tiny histories only.
fn brute_force(history: &[Op<RegisterOp>]) -> bool {
    let ops: Vec<&Op<RegisterOp>> = history
        .iter()
        .filter(|o| match o.outcome {
            Outcome::Ok => true,
            Outcome::Fail => false,
            Outcome::Info => !matches!(o.value, RegisterOp::Read { .. }),
        })
        .collect();
    fn ret(o: &Op<RegisterOp>) -> Option<u64> {
        match o.outcome {
            Outcome::Info => None,
            _ => Some(o.return_ns.unwrap_or(u64::MAX)),
        }
    }
    fn go(ops: &[&Op<RegisterOp>], done: &mut Vec<bool>, regs: &mut BTreeMap<String, i64>) -> bool {
        let pending_required: Vec<usize> = (0..ops.len()).filter(|&i| !done[i] && ret(ops[i]).is_some()).collect();
        if pending_required.is_empty() {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            // Nothing still pending may have returned before this one was called.
            if pending_required.iter().any(|&j| j != i && ret(ops[j]).unwrap() < ops[i].call_ns) {
                continue;
            }
            let saved = regs.clone();
            let ok = match &ops[i].value {
                RegisterOp::Read { key, value } => regs.get(key).copied() == *value,
                RegisterOp::Write { key, value } => {
                    regs.insert(key.clone(), *value);
                    true
                }
                RegisterOp::Cas { key, from, to } => {
                    let held = regs.get(key) == Some(from);
                    if held {
                        regs.insert(key.clone(), *to);
                    }
                    held
                }
                RegisterOp::Delete { key } => {
                    regs.remove(key);
                    true
                }
            };
            if ok {
                done[i] = true;
                if go(ops, done, regs) {
                    return true;
                }
                done[i] = false;
            }
            *regs = saved;
        }
        false
    }
    go(&ops, &mut vec![false; ops.len()], &mut BTreeMap::new())
}

/// Checks that `order` really is a linearization of `calls`.
fn verify_linearization(calls: &[Call<RegisterCall>], order: &[usize]) {
    let mut seen = vec![false; calls.len()];
    let mut state = None;
    for (pos, &i) in order.iter().enumerate() {
        assert!(!seen[i], "{i} linearized twice");
        seen[i] = true;
        state = Register.step(&state, &calls[i].op).unwrap_or_else(|| panic!("{i} not allowed in {state:?}"));
        for &j in &order[..pos] {
            assert!(calls[i].return_ns.is_none_or(|r| r >= calls[j].call_ns), "{i} returned before {j} was called");
        }
    }
    for (i, c) in calls.iter().enumerate() {
        assert!(seen[i] || c.return_ns.is_none(), "determinate {i} left out");
    }
}

fn random_tiny_history(rng: &mut StdRng) -> Vec<Op<RegisterOp>> {
    let n = rng.random_range(1..=7);
    (0..n)
        .map(|p| {
            let call = rng.random_range(0..20);
            let ret = call + rng.random_range(0..10);
            let key = if rng.random_bool(0.8) { "k" } else { "j" }.to_string();
            let v = |rng: &mut StdRng| rng.random_range(0..3);
            let value = match rng.random_range(0..3) {
                0 => RegisterOp::Read { key, value: rng.random_bool(0.8).then(|| v(rng)) },
                1 => RegisterOp::Write { key, value: v(rng) },
                _ => RegisterOp::Cas { key, from: v(rng), to: v(rng) },
            };
            let outcome = match rng.random_range(0..10) {
                0..7 => Outcome::Ok,
                7..9 => Outcome::Info,
                _ => Outcome::Fail,
            };
            let return_ns = (outcome != Outcome::Info).then_some(ret);
            Op { process: p, call_ns: call, return_ns, outcome, value }
        })
        .collect()
}

fn cross_check(h: &[Op<RegisterOp>]) -> bool {
    let expected = brute_force(h);
    let v = check_register(h);
    assert_eq!(v.valid, expected, "checker and brute force disagree on {h:#?}: {:#?}", v.anomalies);
    assert!(v.anomalies.iter().all(|a| a.kind == "nonlinearizable"));
    // Valid or not, every key the fast checker calls linearizable comes with a real linearization.
    for (_, indices) in retained_by_key(h) {
        let calls: Vec<_> = indices.iter().map(|&i| to_call(&h[i])).collect();
        let sorted = check(&Register, &calls, u64::MAX);
        if let SearchOutcome::Linearizable(order) = &sorted {
            verify_linearization(&calls, order);
        }
        // The generic search takes calls in any order.
        let reversed: Vec<_> = calls.iter().rev().cloned().collect();
        match check(&Register, &reversed, u64::MAX) {
            SearchOutcome::Linearizable(order) => {
                verify_linearization(&reversed, &order);
                assert!(matches!(sorted, SearchOutcome::Linearizable(_)));
            }
            other => assert!(matches!(
                (other, sorted),
                (SearchOutcome::Nonlinearizable(_), SearchOutcome::Nonlinearizable(_))
            )),
        }
    }
    expected
}

#[test]
fn agrees_with_brute_force_on_random_tiny_histories() {
    let mut rng = StdRng::seed_from_u64(42);
    let mut valid = 0;
    let cases = 3000;
    for _ in 0..cases {
        valid += cross_check(&random_tiny_history(&mut rng)) as usize;
    }
    // Both answers are well represented.
    assert!(valid > cases / 5 && valid < cases * 4 / 5, "{valid} of {cases} valid");
}

#[test]
fn agrees_with_brute_force_on_perturbed_simulated_histories() {
    let mut rng = StdRng::seed_from_u64(43);
    let mut valid = 0;
    let cases = 1000;
    for _ in 0..cases {
        let n = rng.random_range(1..=7);
        let mut h = simulate(&mut rng, n, 3, 3, 1, 0.2);
        assert!(brute_force(&h));
        // Perturb one operation's value or interval half the time.
        if rng.random_bool(0.5) {
            let i = rng.random_range(0..h.len());
            match &mut h[i].value {
                RegisterOp::Read { value, .. } => *value = rng.random_bool(0.8).then(|| rng.random_range(0..3)),
                RegisterOp::Write { value, .. } => *value = rng.random_range(0..3),
                RegisterOp::Cas { from, .. } => *from = rng.random_range(0..3),
                RegisterOp::Delete { .. } => {}
            }
            let call = h[i].call_ns;
            if let Some(r) = &mut h[i].return_ns {
                *r = call + rng.random_range(0..20);
            }
        }
        valid += cross_check(&h) as usize;
    }
    assert!(valid > cases / 2 && valid < cases, "{valid} of {cases} valid");
}

#[test]
fn agrees_with_brute_force_on_indeterminate_heavy_histories() {
    // Few values and many indeterminate operations: the cases the symmetry and dominance
    // reductions are about.
    let mut rng = StdRng::seed_from_u64(45);
    let mut valid = 0;
    let cases = 1000;
    for _ in 0..cases {
        let mut h = simulate(&mut rng, 7, 4, 2, 1, 0.5);
        // Reads see what they saw, but where they sit in time is shuffled a little.
        for op in h.iter_mut().filter(|o| matches!(o.value, RegisterOp::Read { .. })) {
            let shift = rng.random_range(0..600);
            op.call_ns += shift;
            op.return_ns = op.return_ns.map(|r| r + shift);
        }
        valid += cross_check(&h) as usize;
    }
    assert!(valid > cases / 5 && valid < cases * 4 / 5, "{valid} of {cases} valid");
}

/// The states a single register can be in once every operation whose return comes before
/// `culprit`'s has taken effect, and any of those called before that return may have (the
/// culprit excluded): what [`Stuck::frontiers`] claims to list. With `past`, the culprit
/// is required too (so any state means the search could have got past its return). By
/// brute force.
fn states_at_deadline(calls: &[Call<RegisterCall>], culprit: usize, past: bool) -> HashSet<Option<i64>> {
    // Event order as the search sorts them: by time, calls before returns, then index.
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        events.push((c.call_ns, false, i));
        if let Some(r) = c.return_ns {
            events.push((r.max(c.call_ns), true, i));
        }
    }
    events.sort_unstable();
    let pos = |e: (bool, usize)| events.iter().position(|&(_, r, i)| (r, i) == e).unwrap();
    let deadline = pos((true, culprit));
    let candidates: Vec<usize> =
        (0..calls.len()).filter(|&i| (past || i != culprit) && pos((false, i)) < deadline).collect();
    let required: Vec<bool> =
        candidates.iter().map(|&i| calls[i].return_ns.is_some() && pos((true, i)) <= deadline).collect();
    fn go(
        calls: &[Call<RegisterCall>],
        cands: &[usize],
        required: &[bool],
        done: &mut Vec<bool>,
        state: Option<i64>,
        out: &mut HashSet<Option<i64>>,
    ) {
        if (0..cands.len()).all(|k| done[k] || !required[k]) {
            out.insert(state);
        }
        for k in 0..cands.len() {
            let x = &calls[cands[k]];
            let blocked = (0..cands.len())
                .any(|j| j != k && !done[j] && calls[cands[j]].return_ns.is_some_and(|r| r < x.call_ns) && required[j]);
            if done[k] || blocked {
                continue;
            }
            if let Some(next) = Register.step(&state, &x.op) {
                done[k] = true;
                go(calls, cands, required, done, next, out);
                done[k] = false;
            }
        }
    }
    let mut out = HashSet::new();
    go(calls, &candidates, &required, &mut vec![false; candidates.len()], None, &mut out);
    out
}

#[test]
fn stuck_states_are_exactly_those_possible_at_the_deadline() {
    let mut rng = StdRng::seed_from_u64(44);
    let mut compared = 0;
    for _ in 0..3000 {
        let h: Vec<_> = random_tiny_history(&mut rng).into_iter().map(|o| on("k", o)).collect();
        let Some((_, indices)) = retained_by_key(&h).into_iter().next() else { continue };
        let calls: Vec<_> = indices.iter().map(|&i| to_call(&h[i])).collect();
        let SearchOutcome::Nonlinearizable(stuck) = check(&Register, &calls, u64::MAX) else { continue };
        let expected = states_at_deadline(&calls, stuck.op, false);
        // No linearization gets past its return, either.
        assert_eq!(states_at_deadline(&calls, stuck.op, true), HashSet::new(), "{calls:#?}");
        let found: HashSet<Option<i64>> = stuck.frontiers.iter().map(|f| f.state).collect();
        assert!(!stuck.more);
        assert_eq!(found, expected, "{calls:#?}: stuck at {}", stuck.op);
        // The culprit is impossible in each of them, and each prefix leads there.
        for f in &stuck.frontiers {
            assert_eq!(Register.step(&f.state, &calls[stuck.op].op), None, "{calls:#?}");
            let end = f.prefix.iter().fold(None, |s, &i| Register.step(&s, &calls[i].op).unwrap());
            assert_eq!(end, f.state);
        }
        compared += 1;
    }
    assert!(compared > 500, "{compared}");
}

// ---------------------------------------------------------------------------------------
// Deletes (the S3 register: a delete is a write of "absent").

fn delete(p: usize, call: u64, ret: u64) -> Op<RegisterOp> {
    mk(p, call, ret, RegisterOp::Delete { key: "k".into() })
}

#[test]
fn deletes_make_the_register_absent() {
    assert_valid(&[write(0, 0, 10, 1), delete(1, 20, 30), read(2, 40, 50, None)]);
    assert_valid(&[delete(0, 0, 10), read(1, 20, 30, None), write(2, 40, 50, 2), read(3, 60, 70, Some(2))]);
    // Concurrent with a write: either order.
    assert_valid(&[write(0, 0, 10, 1), write(1, 20, 50, 2), delete(2, 20, 50), read(3, 60, 70, Some(2))]);
    assert_valid(&[write(0, 0, 10, 1), write(1, 20, 50, 2), delete(2, 20, 50), read(3, 60, 70, None)]);
    // A CAS cannot see a deleted value.
    assert_invalid(&[write(0, 0, 10, 1), delete(1, 20, 30), cas(2, 40, 50, 1, 2)]);
}

#[test]
fn read_of_a_deleted_value() {
    let a = assert_invalid(&[write(0, 0, 10, 1), delete(1, 20, 30), read(2, 40, 50, Some(1))]);
    let e = &a.explanation;
    assert!(e.contains("can only hold nothing (deleted by process 1's delete at [0.000020ms, 0.000030ms])"), "{e}");
    assert!(e.contains("1 was written by process 0's write of 1"), "{e}");
    let possible: Vec<_> = a.witness.iter().filter(|w| w["role"] == "possible-value").collect();
    assert_eq!(possible.len(), 1);
    assert!(possible[0]["value"].is_null());
    assert_eq!(possible[0]["written_by"]["index"], 1);
}

#[test]
fn read_of_nothing_names_the_deletes() {
    let a = assert_invalid(&[write(0, 0, 10, 1), delete(1, 20, 30), write(2, 40, 50, 2), read(3, 60, 70, None)]);
    let e = &a.explanation;
    assert!(e.contains("returned nothing (the key absent)"), "{e}");
    assert!(e.contains("The key was deleted by process 1's delete at [0.000020ms, 0.000030ms]."), "{e}");
    assert_eq!(role_indices(&a, "wrote-expected-value"), [1]);
    // Without any delete, absent is only the initial state and nobody is named.
    let a = assert_invalid(&[write(0, 0, 10, 1), read(1, 20, 30, None)]);
    assert_eq!(role_indices(&a, "wrote-expected-value"), Vec::<u64>::new());
    assert!(!a.explanation.contains("deleted"), "{}", a.explanation);
}

#[test]
fn indeterminate_deletes() {
    // It may have happened...
    assert_valid(&[write(0, 0, 10, 1), info(delete(1, 20, 30)), read(2, 40, 50, None)]);
    // ... or not,
    assert_valid(&[write(0, 0, 10, 1), info(delete(1, 20, 30)), read(2, 40, 50, Some(1))]);
    // but once seen it cannot be undone,
    assert_invalid(&[write(0, 0, 10, 1), info(delete(1, 20, 30)), read(2, 40, 50, None), read(3, 60, 70, Some(1))]);
    // and a failed one never happened.
    assert_invalid(&[write(0, 0, 10, 1), fail(delete(1, 20, 30)), read(2, 40, 50, None)]);
}

/// A history of a linearizable object store holding one integer per key: reads, writes of
/// unique values and deletes, each taking effect at a random instant inside its interval
/// (an indeterminate one: later, or never), as the S3 register workload records them.
fn simulate_objects(rng: &mut StdRng, n_ops: usize, processes: usize, keys: usize, info: f64) -> Vec<Op<RegisterOp>> {
    let mut clocks = vec![0u64; processes];
    let mut effects: Vec<(u64, usize)> = Vec::new();
    let mut history = Vec::with_capacity(n_ops);
    for i in 0..n_ops {
        let p = rng.random_range(0..processes);
        let call = clocks[p] + rng.random_range(0..30);
        let ret = call + rng.random_range(1..200);
        clocks[p] = ret;
        let key = format!("k{}", rng.random_range(0..keys));
        let value = match rng.random_range(0..10) {
            0..5 => RegisterOp::Read { key, value: None },
            5..8 => RegisterOp::Write { key, value: i as i64 },
            _ => RegisterOp::Delete { key },
        };
        let indeterminate = rng.random_bool(info);
        let effect = if indeterminate {
            rng.random_bool(0.5).then(|| call + rng.random_range(0..2000))
        } else {
            Some(rng.random_range(call..=ret))
        };
        if let Some(t) = effect {
            effects.push((t, i));
        }
        let outcome = if indeterminate { Outcome::Info } else { Outcome::Ok };
        history.push(Op { process: p, call_ns: call, return_ns: Some(ret), outcome, value });
    }
    effects.sort_unstable();
    let mut objects: HashMap<String, i64> = HashMap::new();
    for (_, i) in effects {
        match &mut history[i].value {
            RegisterOp::Read { key, value } => *value = objects.get(key).copied(),
            RegisterOp::Write { key, value } => {
                objects.insert(key.clone(), *value);
            }
            RegisterOp::Delete { key } => {
                objects.remove(key);
            }
            RegisterOp::Cas { .. } => unreachable!("no CAS in an object history"),
        }
    }
    for op in history.iter_mut().filter(|o| o.outcome == Outcome::Info) {
        op.return_ns = None;
        if let RegisterOp::Read { value, .. } = &mut op.value {
            *value = None;
        }
    }
    history
}

#[test]
fn large_valid_object_histories() {
    let mut rng = StdRng::seed_from_u64(46);
    let h = simulate_objects(&mut rng, 5000, 10, 5, 0.03);
    assert!(h.iter().any(|o| matches!(o.value, RegisterOp::Delete { .. }) && o.outcome == Outcome::Ok));
    assert!(h.iter().any(|o| matches!(o.value, RegisterOp::Read { value: None, .. }) && o.outcome == Outcome::Ok));
    let v = check_register(&h);
    assert!(v.valid, "{:#?}", v.anomalies);
}

#[test]
fn object_history_with_a_resurrected_value() {
    let mut rng = StdRng::seed_from_u64(47);
    let mut h = simulate_objects(&mut rng, 2000, 8, 1, 0.0);
    // A read that saw the key absent now claims to see a value written before a delete
    // that returned before the read began (values are unique, so nobody wrote it again).
    let returned_before =
        |h: &[Op<RegisterOp>], j: usize, t: u64| h[j].outcome == Outcome::Ok && h[j].return_ns < Some(t);
    let (i, old) = (1000..h.len())
        .filter(|&i| h[i].outcome == Outcome::Ok && h[i].value == RegisterOp::Read { key: "k0".into(), value: None })
        .find_map(|i| {
            let del = (0..h.len())
                .find(|&d| matches!(h[d].value, RegisterOp::Delete { .. }) && returned_before(&h, d, h[i].call_ns))?;
            (0..h.len()).find_map(|w| match h[w].value {
                RegisterOp::Write { value, .. } if returned_before(&h, w, h[del].call_ns) => Some((i, value)),
                _ => None,
            })
        })
        .expect("a read of an absent key after a delete");
    h[i].value = RegisterOp::Read { key: "k0".into(), value: Some(old) };
    let v = check_register(&h);
    assert!(!v.valid);
    assert_eq!(v.anomalies.len(), 1, "{:#?}", v.anomalies);
    assert_eq!(v.anomalies[0].kind, "nonlinearizable");
}

fn random_tiny_object_history(rng: &mut StdRng) -> Vec<Op<RegisterOp>> {
    random_tiny_history(rng)
        .into_iter()
        .map(|mut op| {
            if matches!(op.value, RegisterOp::Cas { .. }) {
                op.value = RegisterOp::Delete { key: op.value.key().to_string() };
            }
            op
        })
        .collect()
}

#[test]
fn agrees_with_brute_force_on_random_tiny_histories_with_deletes() {
    let mut rng = StdRng::seed_from_u64(48);
    let mut valid = 0;
    let cases = 3000;
    for _ in 0..cases {
        valid += cross_check(&random_tiny_object_history(&mut rng)) as usize;
    }
    assert!(valid > cases / 5 && valid < cases * 4 / 5, "{valid} of {cases} valid");
}
