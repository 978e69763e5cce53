//! An Elle-style checker for list-append histories (Kingsbury & Alvaro, "Elle: Inferring
//! Isolation Anomalies from Experimental Observations", VLDB 2020).
//!
//! Each transaction appends unique values to lists and reads whole lists, so a read names
//! every append that preceded it, in order. From that the checker
//!
//! 1. checks each read on its own: no value twice (`duplicate-elements`), every value
//!    appended by someone (`garbage-read`), none by a `Fail` transaction (`G1a`), and not
//!    ending in a value its transaction later followed with another append to the same key
//!    (`G1b`, an intermediate state); and each `Ok` transaction against itself: a read
//!    reflects the transaction's own earlier appends and reads (`internal`);
//! 2. recovers each key's version order: every read must be a prefix of the longest read of
//!    the key (else `incompatible-order`, and the key yields no dependencies);
//! 3. infers dependencies between committed transactions (`Ok` ones, and `Info` ones with an
//!    append some read saw; `Info` reads are unknown and ignored, unseen `Info` appends too):
//!    - `ww`: T1 appended an element and T2 the next one (by a committed transaction);
//!    - `wr`: T2 read a list whose last element (not its own) T1 appended;
//!    - `rw`: T1 read a list and T2 appended the next element (a read of an intermediate
//!      state gets no `rw` edge to the rest of that transaction: it is reported as `G1b`);
//!    - a committed append that no read saw must follow every element read of its key (the
//!      reads are prefixes of one list, and none contains it): the last element's writer
//!      `ww`-precedes it and readers of the whole known list `rw`-precede it;
//!    - with `realtime`: `rt`, T1 completed before T2 was invoked (only the transitive
//!      reduction: edges from the latest completed transactions, at most about one per
//!      client process per transaction);
//! 4. finds cycles: strongly connected components (Tarjan), then in each, a short cycle
//!    (BFS) per anomaly class: `G0` (ww only), `G1c` (ww/wr), `G-single` (exactly one rw),
//!    `G2-item` (two or more rw); cycles that need `rt` edges get a `-realtime` suffix (they
//!    violate strict serializability). Each is explained transaction by transaction, edge by
//!    edge.
//!
//! With `realtime`, a committed (`Ok`) append that no read ever saw, although a read of the
//! key was invoked after the append completed, is also reported as `lost-append`.
//!
//! At most [`MAX_PER_KIND`] anomalies of each kind are listed (then a count of the rest).

mod graph;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::history::{Anomaly, Mop, Op, Outcome, Txn, Verdict};
use graph::{kind_name, Cycle, Graph, Search, Why, DATA, RT, RW, WR, WW};

/// Anomalies listed per kind; the rest are counted.
pub const MAX_PER_KIND: usize = 10;

/// Edge visits allowed for the cycle searches that may fail (looking for a cycle with one
/// rw edge when its ends are not in one component of the other edges). When it runs out, a
/// G-single may be reported as G2-item (the cycle found is still a genuine witness).
pub const SEARCH_BUDGET: u64 = 20_000_000;

/// Checks a list-append history for serializability (`realtime = false`) or strict
/// serializability (`realtime = true`).
pub fn check_list_append(history: &[Op<Txn>], realtime: bool) -> Verdict {
    let mut cx = Checker::new(history);
    cx.check_reads();
    cx.mark_committed();
    cx.check_internal();
    cx.index_orders();
    if realtime {
        cx.lost_appends();
    }
    let graph = cx.graph(realtime);
    cx.cycles(&graph, realtime);
    Verdict::invalid(history.len(), cap_anomalies(cx.anomalies, MAX_PER_KIND))
}

/// Keeps the first `max` anomalies of each kind (in order) and appends, per kind that had
/// more, one entry counting the rest.
pub(crate) fn cap_anomalies(anomalies: Vec<Anomaly>, max: usize) -> Vec<Anomaly> {
    let mut count: HashMap<String, usize> = HashMap::new();
    let mut kinds: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for a in anomalies {
        let c = count.entry(a.kind.clone()).or_insert_with(|| {
            kinds.push(a.kind.clone());
            0
        });
        *c += 1;
        if *c <= max {
            out.push(a);
        }
    }
    for kind in kinds {
        let n = count[&kind];
        if n > max {
            out.push(Anomaly {
                explanation: format!("{} more {kind} anomalies not shown ({n} in all)", n - max),
                kind,
                witness: vec![],
            });
        }
    }
    out
}

const NONE: u32 = u32::MAX;

/// Who appended a value.
#[derive(Clone, Copy, Debug)]
struct Writer {
    op: u32,
    /// Whether this is the transaction's last append to the key (else a read ending with
    /// it saw an intermediate state).
    last_in_txn: bool,
}

/// One `Ok` read.
struct Read<'a> {
    op: u32,
    mop: u32,
    key: u32,
    values: &'a [i64],
    /// No duplicates: usable for the version order.
    good: bool,
    /// A prefix of the key's version order.
    prefix: bool,
}

/// A key's version order, as recovered from its reads.
#[derive(Default)]
struct KeyOrder<'a> {
    order: &'a [i64],
    /// Every good read is a prefix of `order`.
    compatible: bool,
    /// The committed writer of each element (`None`: aborted, unknown or uncommitted).
    writer: Vec<Option<u32>>,
    /// `next[i]`: the first position `>= i` with a committed writer (`order.len()` if none).
    next: Vec<u32>,
    /// `prev[i]`: the last position `< i` with a committed writer (`NONE` if none).
    prev: Vec<u32>,
}

struct Checker<'a> {
    h: &'a [Op<Txn>],
    keys: Vec<&'a str>,
    key_ids: HashMap<&'a str, u32>,
    writers: HashMap<(u32, i64), Writer>,
    /// Every append: (op, key, value), in history order.
    appends: Vec<(u32, u32, i64)>,
    reads: Vec<Read<'a>>,
    reads_by_key: Vec<Vec<usize>>,
    /// (key, value) pairs that some `Ok` read returned.
    observed: HashSet<(u32, i64)>,
    committed: Vec<bool>,
    orders: Vec<KeyOrder<'a>>,
    anomalies: Vec<Anomaly>,
}

impl<'a> Checker<'a> {
    fn new(h: &'a [Op<Txn>]) -> Self {
        let mut cx = Checker {
            h,
            keys: Vec::new(),
            key_ids: HashMap::new(),
            writers: HashMap::new(),
            appends: Vec::new(),
            reads: Vec::new(),
            reads_by_key: Vec::new(),
            observed: HashSet::new(),
            committed: vec![false; h.len()],
            orders: Vec::new(),
            anomalies: Vec::new(),
        };
        for (i, op) in h.iter().enumerate() {
            let first = cx.appends.len();
            for (m, mop) in op.value.iter().enumerate() {
                match mop {
                    Mop::Append { key, value } => {
                        let k = cx.intern(key);
                        cx.appends.push((i as u32, k, *value));
                    }
                    Mop::Read { key, values } => {
                        let k = cx.intern(key);
                        if let (Outcome::Ok, Some(values)) = (op.outcome, values) {
                            cx.reads_by_key[k as usize].push(cx.reads.len());
                            cx.reads.push(Read {
                                op: i as u32,
                                mop: m as u32,
                                key: k,
                                values,
                                good: true,
                                prefix: false,
                            });
                        }
                    }
                }
            }
            let mut later: HashSet<u32> = HashSet::new();
            for a in (first..cx.appends.len()).rev() {
                let (_, k, v) = cx.appends[a];
                let writer = Writer { op: i as u32, last_in_txn: later.insert(k) };
                if let Some(other) = cx.writers.insert((k, v), writer) {
                    // Keep the first writer; the workload promises this never happens.
                    cx.writers.insert((k, v), other);
                    let explanation = format!(
                        "{} appended {v} to {}, already appended by {}: values must be unique per key, \
                         so reads of {} cannot be attributed",
                        cx.name(i as u32),
                        cx.keys[k as usize],
                        cx.name(other.op),
                        cx.keys[k as usize]
                    );
                    cx.report("non-unique-append", explanation, &[other.op, i as u32]);
                }
            }
        }
        cx
    }

    fn intern(&mut self, key: &'a str) -> u32 {
        if let Some(&k) = self.key_ids.get(key) {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(key);
        self.key_ids.insert(key, k);
        self.reads_by_key.push(Vec::new());
        k
    }

    fn report(&mut self, kind: &str, explanation: String, ops: &[u32]) {
        let witness = ops.iter().map(|&i| self.op_json(i)).collect();
        self.anomalies.push(Anomaly { kind: kind.into(), explanation, witness });
    }

    fn op_json(&self, i: u32) -> Value {
        json!({ "index": i, "op": &self.h[i as usize] })
    }

    fn name(&self, i: u32) -> String {
        format!("op#{i}")
    }

    /// `op#12 (process 3, ok, 1.000000000s..1.002000000s)`
    fn brief(&self, i: u32) -> String {
        let op = &self.h[i as usize];
        let outcome = match op.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        let ret = op.return_ns.map_or("?".to_string(), secs);
        format!("{} (process {}, {outcome}, {}..{ret})", self.name(i), op.process, secs(op.call_ns))
    }

    /// `op#12 (process 3, ok, 1.000000000s..1.002000000s): [append x 5] [read y [1 2]]`
    fn describe(&self, i: u32) -> String {
        let txn: Vec<String> = self.h[i as usize]
            .value
            .iter()
            .map(|mop| match mop {
                Mop::Append { key, value } => format!("[append {key} {value}]"),
                Mop::Read { key, values: Some(values) } => format!("[read {key} {}]", list(values)),
                Mop::Read { key, values: None } => format!("[read {key} ?]"),
            })
            .collect();
        format!("{}: {}", self.brief(i), txn.join(" "))
    }

    fn read_values(&self, op: u32, mop: u32) -> &'a [i64] {
        match &self.h[op as usize].value[mop as usize] {
            Mop::Read { values: Some(values), .. } => values,
            _ => &[],
        }
    }

    /// Per-read checks, and each key's version order. The longest read without duplicates
    /// gives the order; every other read must be a prefix of it (checked by comparison only,
    /// without hashing), else it is incompatible. The per-element checks (garbage, aborted
    /// reads: G1a) run once over the order, and over each read that is not a prefix of it.
    fn check_reads(&mut self) {
        let mut seen: HashSet<(u32, i64)> = HashSet::new();
        let mut intermediate: HashSet<(u32, i64)> = HashSet::new();
        for k in 0..self.keys.len() {
            let reads = self.reads_by_key[k].clone();
            let mut by_len = reads.clone();
            by_len.sort_by_key(|&ri| std::cmp::Reverse(self.reads[ri].values.len()));
            let mut reference = None;
            for &ri in &by_len {
                if self.check_duplicates(ri) {
                    reference = Some(ri);
                    break;
                }
            }
            let order: &'a [i64] = reference.map_or(&[], |ri| self.reads[ri].values);
            let mut incompatible = Vec::new();
            for &ri in &reads {
                if !self.reads[ri].good {
                    // Longer than the reference, with duplicates (already reported).
                    self.check_elements(k as u32, self.reads[ri].values, Some(ri), &mut seen);
                } else if order.starts_with(self.reads[ri].values) {
                    self.reads[ri].prefix = true;
                } else {
                    if self.check_duplicates(ri) {
                        incompatible.push(ri);
                    }
                    self.check_elements(k as u32, self.reads[ri].values, Some(ri), &mut seen);
                }
            }
            self.check_elements(k as u32, order, None, &mut seen);
            if let (Some(&first), Some(l)) = (incompatible.first(), reference) {
                self.report_incompatible(k, l, first, incompatible.len());
            }
            for &ri in &reads {
                if self.reads[ri].good {
                    self.check_intermediate(ri, &mut intermediate);
                }
            }
            self.orders.push(KeyOrder { order, compatible: incompatible.is_empty(), ..KeyOrder::default() });
        }
    }

    /// Reports a read with some value twice (and marks it unusable); true if it has none.
    fn check_duplicates(&mut self, ri: usize) -> bool {
        let Read { op, key, values, .. } = self.reads[ri];
        let mut set = HashSet::with_capacity(values.len());
        let mut dups: Vec<i64> = Vec::new();
        for &v in values {
            if !set.insert(v) && !dups.contains(&v) {
                dups.push(v);
            }
        }
        if dups.is_empty() {
            return true;
        }
        self.reads[ri].good = false;
        let explanation = format!(
            "{} read {} = {}, which contains {} more than once: an append was applied twice (or the list \
             was corrupted)",
            self.brief(op),
            self.keys[key as usize],
            list(values),
            words(&dups)
        );
        self.report("duplicate-elements", explanation, &[op]);
        false
    }

    /// Marks values as observed; reports values nobody appended (`garbage-read`) or a failed
    /// transaction appended (`G1a`), once per value. `reader`: the read they come from (else
    /// they are elements of the order: the first read that returned them is named).
    fn check_elements(&mut self, k: u32, values: &[i64], reader: Option<usize>, seen: &mut HashSet<(u32, i64)>) {
        for (p, &v) in values.iter().enumerate() {
            self.observed.insert((k, v));
            let writer = self.writers.get(&(k, v)).copied();
            let aborted = writer.is_some_and(|w| self.h[w.op as usize].outcome == Outcome::Fail);
            if (writer.is_some() && !aborted) || !seen.insert((k, v)) {
                continue;
            }
            let ri = reader.unwrap_or_else(|| {
                let prefix = |&&ri: &&usize| self.reads[ri].prefix && self.reads[ri].values.len() > p;
                *self.reads_by_key[k as usize].iter().find(prefix).expect("the reference read has every element")
            });
            let Read { op, values, .. } = self.reads[ri];
            let key = self.keys[k as usize];
            match writer {
                None => {
                    let explanation = format!(
                        "{} read {key} = {}, which contains {v}, a value no transaction appended",
                        self.brief(op),
                        list(values)
                    );
                    self.report("garbage-read", explanation, &[op]);
                }
                Some(w) => {
                    let explanation = format!(
                        "aborted read (G1a): {} read {key} = {}, which contains {v}, appended by {}, which \
                         failed (certainly did not commit)",
                        self.brief(op),
                        list(values),
                        self.describe(w.op)
                    );
                    self.report("G1a", explanation, &[op, w.op]);
                }
            }
        }
    }

    /// A read ending with a value its writer followed with another append to the key (G1b),
    /// once per value.
    fn check_intermediate(&mut self, ri: usize, seen: &mut HashSet<(u32, i64)>) {
        let Read { op, key, values, .. } = self.reads[ri];
        let Some(&x) = values.last() else { return };
        let Some(&w) = self.writers.get(&(key, x)) else { return };
        let aborted = self.h[w.op as usize].outcome == Outcome::Fail;
        if w.op == op || w.last_in_txn || aborted || !seen.insert((key, x)) {
            return;
        }
        let explanation = format!(
            "intermediate read (G1b): {} read {k} = {}, ending with {x}, but {} appended more to {k} after {x} \
             in the same transaction: the read saw a state that transaction never committed",
            self.brief(op),
            list(values),
            self.describe(w.op),
            k = self.keys[key as usize]
        );
        self.report("G1b", explanation, &[op, w.op]);
    }

    fn report_incompatible(&mut self, k: usize, longest: usize, first: usize, count: usize) {
        let (a, b) = (&self.reads[longest], &self.reads[first]);
        let at = a.values.iter().zip(b.values).position(|(x, y)| x != y).unwrap_or(0);
        let explanation = format!(
            "incompatible order: reads of {key} disagree on its contents, so no order of appends explains \
             them (a lost or reordered append). {} read {key} = {}, and {} read {key} = {}, which is not a \
             prefix of it: at index {at} one has {} and the other {}. {count} read(s) of {key} in all are not \
             prefixes of the longest; no dependencies are inferred from {key}.",
            self.brief(a.op),
            list_around(a.values, at),
            self.brief(b.op),
            list_around(b.values, at),
            a.values[at],
            b.values[at],
            key = self.keys[k],
        );
        let ops = [a.op, b.op];
        self.report("incompatible-order", explanation, &ops);
    }

    /// `Ok` transactions, and `Info` ones with an append some `Ok` read returned.
    fn mark_committed(&mut self) {
        for (i, op) in self.h.iter().enumerate() {
            self.committed[i] = op.outcome == Outcome::Ok;
        }
        for &(op, k, v) in &self.appends {
            let i = op as usize;
            if self.h[i].outcome == Outcome::Info
                && self.observed.contains(&(k, v))
                && self.writers.get(&(k, v)).is_some_and(|w| w.op == op)
            {
                self.committed[i] = true;
            }
        }
    }

    /// Each `Ok` transaction's reads must reflect its own earlier appends (and reads).
    fn check_internal(&mut self) {
        let h = self.h;
        for (i, op) in h.iter().enumerate() {
            if op.outcome != Outcome::Ok {
                continue;
            }
            // Per key: (whether the whole list is known, the list or its known suffix).
            let mut state: HashMap<&str, (bool, Vec<i64>)> = HashMap::new();
            for mop in &op.value {
                match mop {
                    Mop::Append { key, value } => {
                        state.entry(key.as_str()).or_insert((false, Vec::new())).1.push(*value)
                    }
                    Mop::Read { key, values: Some(values) } => {
                        if let Some((known, expected)) = state.get(key.as_str()) {
                            let fine = if *known { values == expected } else { values.ends_with(expected) };
                            if !fine {
                                let want = if *known {
                                    format!("exactly {}", list(expected))
                                } else {
                                    format!("a list ending with {} (its own appends)", list(expected))
                                };
                                let explanation = format!(
                                    "internal inconsistency: {} read {key} = {}, but given its own earlier \
                                     operations on {key} it should have read {want}",
                                    self.describe(i as u32),
                                    list(values)
                                );
                                self.report("internal", explanation, &[i as u32]);
                                break;
                            }
                        }
                        state.insert(key.as_str(), (true, values.clone()));
                    }
                    Mop::Read { values: None, .. } => {}
                }
            }
        }
    }

    /// Indexes each key's order by committed writer.
    fn index_orders(&mut self) {
        for (k, ord) in self.orders.iter_mut().enumerate() {
            ord.writer = ord
                .order
                .iter()
                .map(|&v| self.writers.get(&(k as u32, v)).map(|w| w.op).filter(|&w| self.committed[w as usize]))
                .collect();
            let n = ord.order.len();
            ord.next = vec![n as u32; n + 1];
            for i in (0..n).rev() {
                ord.next[i] = if ord.writer[i].is_some() { i as u32 } else { ord.next[i + 1] };
            }
            ord.prev = vec![NONE; n + 1];
            for i in 1..=n {
                ord.prev[i] = if ord.writer[i - 1].is_some() { (i - 1) as u32 } else { ord.prev[i - 1] };
            }
        }
    }

    /// Committed appends never read: (key, op, value) lists per key, for keys whose order is
    /// known.
    fn unobserved(&self) -> Vec<Vec<(u32, i64)>> {
        let mut out = vec![Vec::new(); self.keys.len()];
        for &(op, k, v) in &self.appends {
            let ord = &self.orders[k as usize];
            if self.committed[op as usize]
                && ord.compatible
                && !self.observed.contains(&(k, v))
                && self.writers.get(&(k, v)).is_some_and(|w| w.op == op)
            {
                out[k as usize].push((op, v));
            }
        }
        out
    }

    /// `Ok` appends no read saw although a read of the key began after they completed.
    fn lost_appends(&mut self) {
        let unobserved = self.unobserved();
        for (k, lost) in unobserved.iter().enumerate() {
            for &(op, v) in lost {
                let Some(done) = self.h[op as usize].return_ns.filter(|_| self.h[op as usize].outcome == Outcome::Ok)
                else {
                    continue;
                };
                let later = self.reads_by_key[k]
                    .iter()
                    .map(|&ri| &self.reads[ri])
                    .filter(|r| r.good && r.op != op && self.h[r.op as usize].call_ns > done)
                    .max_by_key(|r| (self.h[r.op as usize].call_ns, r.op));
                if let Some(r) = later {
                    let explanation = format!(
                        "lost append: {} committed, appending {v} to {key}, and completed at {}; no read ever \
                         returned {v}, although {} was invoked later, at {}, and read {key} = {}",
                        self.describe(op),
                        secs(done),
                        self.brief(r.op),
                        secs(self.h[r.op as usize].call_ns),
                        list(r.values),
                        key = self.keys[k],
                    );
                    let ops = [op, r.op];
                    self.report("lost-append", explanation, &ops);
                }
            }
        }
    }

    fn graph(&self, realtime: bool) -> Graph {
        let mut g = Graph::new(self.h.len());
        let unobserved = self.unobserved();
        for (k, ord) in self.orders.iter().enumerate() {
            if !ord.compatible {
                continue;
            }
            let key = k as u32;
            let mut last: Option<(u32, i64)> = None;
            for (i, w) in ord.writer.iter().enumerate() {
                let Some(w) = *w else { continue };
                if let Some((p, pv)) = last {
                    g.add(p, w, WW, Why::Ww { key, v1: pv, v2: ord.order[i], unobserved: false });
                }
                last = Some((w, ord.order[i]));
            }
            for &(c, v) in &unobserved[k] {
                if let Some((p, pv)) = last {
                    g.add(p, c, WW, Why::Ww { key, v1: pv, v2: v, unobserved: true });
                }
            }
            for &ri in &self.reads_by_key[k] {
                let r = &self.reads[ri];
                if !r.good || !r.prefix {
                    continue;
                }
                let n = r.values.len();
                let mut j = ord.prev[n];
                while j != NONE && ord.writer[j as usize] == Some(r.op) {
                    j = ord.prev[j as usize];
                }
                if j != NONE {
                    let w = ord.writer[j as usize].expect("prev points at committed writers");
                    g.add(w, r.op, WR, Why::Wr { key, value: ord.order[j as usize], mop: r.mop });
                }
                let mut j = ord.next[n] as usize;
                // A read of an intermediate state (G1b, reported as such) does not also
                // anti-depend on the rest of the same transaction's appends.
                let last = n.checked_sub(1).and_then(|i| ord.writer[i]);
                while j < ord.order.len() && last.is_some() && ord.writer[j] == last {
                    j = ord.next[j + 1] as usize;
                }
                if j < ord.order.len() {
                    let w = ord.writer[j].expect("next points at committed writers");
                    g.add(r.op, w, RW, Why::Rw { key, next: ord.order[j], mop: r.mop, unobserved: false });
                } else {
                    for &(c, v) in &unobserved[k] {
                        g.add(r.op, c, RW, Why::Rw { key, next: v, mop: r.mop, unobserved: true });
                    }
                }
            }
        }
        if realtime {
            self.realtime_edges(&mut g);
        }
        g
    }

    /// Real-time edges, transitively reduced: when a transaction is invoked, an edge from each
    /// committed transaction that has completed and is not followed (in real time) by
    /// another completed one.
    fn realtime_edges(&self, g: &mut Graph) {
        // (time, 0 = invoke / 1 = complete, op): invocations first at equal times, as
        // touching intervals are concurrent.
        let mut events: Vec<(u64, u8, u32)> = Vec::new();
        for (i, op) in self.h.iter().enumerate() {
            if !self.committed[i] {
                continue;
            }
            events.push((op.call_ns, 0, i as u32));
            if let (Outcome::Ok, Some(ret)) = (op.outcome, op.return_ns) {
                events.push((ret, 1, i as u32));
            }
        }
        events.sort_unstable();
        let mut frontier: Vec<u32> = Vec::new();
        for (_, kind, i) in events {
            if kind == 0 {
                for &f in &frontier {
                    g.add(f, i, RT, Why::Rt);
                }
            } else {
                let call = self.h[i as usize].call_ns;
                frontier.retain(|&f| self.h[f as usize].return_ns.is_some_and(|r| r >= call));
                frontier.push(i);
            }
        }
    }

    fn cycles(&mut self, g: &Graph, realtime: bool) {
        let nodes: Vec<u32> = (0..self.h.len() as u32).filter(|&i| self.committed[i as usize]).collect();
        let mut search = Search::new(g, SEARCH_BUDGET);
        let mask = if realtime { DATA | RT } else { DATA };
        let mut sccs = search.sccs(&nodes, |_, _| true, mask);
        for scc in &mut sccs {
            scc.sort_unstable();
        }
        sccs.sort_unstable_by_key(|scc| scc[0]);
        let rounds: &[u8] = if realtime { &[0, RT] } else { &[0] };
        let mut found = Vec::new();
        for scc in &sccs {
            let mut kinds: HashSet<String> = HashSet::new();
            for &extra in rounds {
                for cycle in search.witnesses(scc, extra) {
                    let kind = cycle.anomaly();
                    if (extra == 0 || kind.ends_with("-realtime")) && kinds.insert(kind.clone()) {
                        found.push((kind, cycle, scc.len()));
                    }
                }
            }
        }
        let exhausted = search.exhausted;
        for (kind, cycle, size) in found {
            let mut anomaly = self.cycle_anomaly(g, &kind, &cycle, size);
            if exhausted && kind.starts_with("G2-item") {
                anomaly.explanation.push_str(
                    "\n(The search budget ran out: a cycle with a single rw edge may exist among these \
                     transactions and been missed.)",
                );
            }
            self.anomalies.push(anomaly);
        }
    }

    fn cycle_anomaly(&self, g: &Graph, kind: &str, cycle: &Cycle, scc: usize) -> Anomaly {
        let rw = cycle.count(RW);
        let mut text = match kind.trim_end_matches("-realtime") {
            "G0" => "write cycle (G0): a cycle of write-write dependencies (ww) only".to_string(),
            "G1c" => "circular information flow (G1c): a cycle of write-write/write-read dependencies (ww, wr)".into(),
            "G-single" => "read skew (G-single): a dependency cycle with exactly one anti-dependency (rw)".into(),
            _ => format!("anti-dependency cycle (G2-item): a dependency cycle with {rw} anti-dependencies (rw)"),
        };
        if cycle.count(RT) > 0 {
            text.push_str(
                ", closed by real-time order (rt: a transaction completed before the next was invoked), so no \
                 serial order respects real time: strict serializability is violated",
            );
        }
        text.push_str(&format!(
            ". {} transactions in the cycle (their strongly connected component has {scc}):",
            cycle.edges.len()
        ));
        for &e in &cycle.edges {
            text.push_str(&format!("\n  {}", self.describe(g.edges[e as usize].from)));
        }
        text.push_str("\nbecause:");
        let mut witness = Vec::new();
        for (&e, &label) in cycle.edges.iter().zip(&cycle.labels) {
            let edge = &g.edges[e as usize];
            let why = self.why_text(edge.from, edge.to, label, edge.why(label));
            text.push_str(&format!(
                "\n  {} -{}-> {}: {why}",
                self.name(edge.from),
                kind_name(label),
                self.name(edge.to)
            ));
            let mut step = self.op_json(edge.from);
            step["edge"] = json!({ "kind": kind_name(label), "to": edge.to, "why": why });
            witness.push(step);
        }
        Anomaly { kind: kind.to_string(), explanation: text, witness }
    }

    fn why_text(&self, from: u32, to: u32, label: u8, why: Option<&Why>) -> String {
        let (a, b) = (self.name(from), self.name(to));
        match why {
            Some(Why::Ww { key, v1, v2, unobserved: false }) => {
                format!(
                    "{a} appended {v1} to {k} and {b} appended {v2}, which follows it in {k}",
                    k = self.keys[*key as usize]
                )
            }
            Some(Why::Ww { key, v1, v2, unobserved: true }) => format!(
                "{b} appended {v2} to {k}, which no read returned, so it follows every element read of {k}, \
                 including {v1}, the last, appended by {a}",
                k = self.keys[*key as usize]
            ),
            Some(Why::Wr { key, value, mop }) => format!(
                "{b} read {k} = {}, which contains {value}, appended by {a}",
                list(self.read_values(to, *mop)),
                k = self.keys[*key as usize]
            ),
            Some(Why::Rw { key, next, mop, unobserved: false }) => format!(
                "{a} read {k} = {}, which lacks {next}, the next element of {k}, appended by {b}",
                list(self.read_values(from, *mop)),
                k = self.keys[*key as usize]
            ),
            Some(Why::Rw { key, next, mop, unobserved: true }) => format!(
                "{a} read {k} = {}, which lacks {next}, appended by {b} (committed); no read returned {next}, \
                 so it follows every element read of {k}",
                list(self.read_values(from, *mop)),
                k = self.keys[*key as usize]
            ),
            Some(Why::Rt) => format!(
                "{a} completed at {} before {b} was invoked at {}",
                self.h[from as usize].return_ns.map_or("?".into(), secs),
                secs(self.h[to as usize].call_ns)
            ),
            None => format!("{} dependency", kind_name(label)),
        }
    }
}

fn secs(ns: u64) -> String {
    format!("{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// A long list shown around index `at`: `[1 2 3 ... 19 20 *21* 22 23 ... 39 40 (40 elements)]`.
fn list_around(values: &[i64], at: usize) -> String {
    const CONTEXT: usize = 3;
    if values.len() <= 12 {
        return list(values);
    }
    let (lo, hi) = (at.saturating_sub(CONTEXT), (at + CONTEXT + 1).min(values.len()));
    let mut parts: Vec<String> = Vec::new();
    if lo > 0 {
        parts.push(format!("{} ...", values[0]));
    }
    for (i, v) in values.iter().enumerate().take(hi).skip(lo) {
        parts.push(if i == at { format!("*{v}*") } else { v.to_string() });
    }
    if hi < values.len() {
        parts.push(format!("... {}", values[values.len() - 1]));
    }
    format!("[{}] ({} elements)", parts.join(" "), values.len())
}

/// `[1 2 3]`; long lists show their first and last elements.
fn list(values: &[i64]) -> String {
    const HEAD: usize = 3;
    const TAIL: usize = 5;
    if values.len() <= HEAD + TAIL + 1 {
        return format!("[{}]", words(values));
    }
    format!("[{} ... {} ({} elements)]", words(&values[..HEAD]), words(&values[values.len() - TAIL..]), values.len())
}

fn words(values: &[i64]) -> String {
    values.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
}
