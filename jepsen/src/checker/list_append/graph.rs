//! The dependency graph between transactions, and the cycle search over it.
//!
//! Nodes are indices into the history; edges carry a mask of dependency kinds (a pair of
//! transactions may be related in several ways) and, per kind, the first reason found.
//! The search follows Elle: strongly connected components (Tarjan, iterative), then within
//! each component a short cycle (BFS) for each anomaly class, most severe first.

use std::collections::{HashMap, VecDeque};

/// Write-write dependency: the target appended the element after the source's.
pub(super) const WW: u8 = 1;
/// Write-read dependency: the target read the source's append (as its last element).
pub(super) const WR: u8 = 2;
/// Read-write anti-dependency: the source read a list lacking the target's append.
pub(super) const RW: u8 = 4;
/// Real time: the source completed before the target was invoked.
pub(super) const RT: u8 = 8;

pub(super) const DATA: u8 = WW | WR | RW;

/// Which kind a step of a cycle counts as, when an edge has several: the one that makes
/// the weakest anomaly (ww, then wr, then rt, then rw).
const PRIORITY: [u8; 4] = [WW, WR, RT, RW];

fn slot(kind: u8) -> usize {
    match kind {
        WW => 0,
        WR => 1,
        RW => 2,
        RT => 3,
        _ => unreachable!("not a single edge kind: {kind}"),
    }
}

pub(super) fn kind_name(kind: u8) -> &'static str {
    match kind {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        RT => "rt",
        _ => "?",
    }
}

/// Why an edge exists. Keys are interned ids; reads are named by their op and the index of
/// the micro-operation in its transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Why {
    /// `v1` (the source's) precedes `v2` (the target's) in the key's version order. With
    /// `unobserved`, no read saw `v2`, so it follows every element read, `v1` being the last.
    Ww { key: u32, v1: i64, v2: i64, unobserved: bool },
    /// The target's read (micro-op `mop`) ended with `value`, the source's append.
    Wr { key: u32, value: i64, mop: u32 },
    /// The source's read (micro-op `mop`) lacked `next`, the target's append that follows it
    /// (`unobserved`: `next` was never read, so it follows every element read).
    Rw { key: u32, next: i64, mop: u32, unobserved: bool },
    /// Real time order (times are in the history).
    Rt,
}

#[derive(Clone, Debug)]
pub(super) struct Edge {
    pub from: u32,
    pub to: u32,
    pub mask: u8,
    pub why: [Option<Why>; 4],
}

impl Edge {
    pub fn why(&self, kind: u8) -> Option<&Why> {
        self.why[slot(kind)].as_ref()
    }

    /// The kind this edge counts as in a search allowing `allowed` kinds.
    pub fn label(&self, allowed: u8) -> u8 {
        PRIORITY.into_iter().find(|k| self.mask & allowed & k != 0).unwrap_or(0)
    }
}

pub(super) struct Graph {
    pub adj: Vec<Vec<(u32, u32)>>,
    pub edges: Vec<Edge>,
    index: HashMap<(u32, u32), u32>,
}

impl Graph {
    pub fn new(nodes: usize) -> Self {
        Graph { adj: vec![Vec::new(); nodes], edges: Vec::new(), index: HashMap::new() }
    }

    /// Adds a dependency (self-edges are ignored: a transaction does not depend on itself).
    pub fn add(&mut self, from: u32, to: u32, kind: u8, why: Why) {
        if from == to {
            return;
        }
        let id = *self.index.entry((from, to)).or_insert_with(|| {
            let id = self.edges.len() as u32;
            self.edges.push(Edge { from, to, mask: 0, why: [None, None, None, None] });
            self.adj[from as usize].push((to, id));
            id
        });
        let edge = &mut self.edges[id as usize];
        if edge.mask & kind == 0 {
            edge.mask |= kind;
            edge.why[slot(kind)] = Some(why);
        }
    }
}

/// A cycle: its edges in order (each edge's `to` is the next edge's `from`), and the kind
/// each step counts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cycle {
    pub edges: Vec<u32>,
    pub labels: Vec<u8>,
}

impl Cycle {
    fn new(g: &Graph, mut edges: Vec<u32>, allowed: u8) -> Self {
        // Start at the lowest-numbered transaction, for stable output.
        if let Some(start) = (0..edges.len()).min_by_key(|&i| g.edges[edges[i] as usize].from) {
            edges.rotate_left(start);
        }
        let labels = edges.iter().map(|&e| g.edges[e as usize].label(allowed)).collect();
        Cycle { edges, labels }
    }

    pub fn count(&self, kind: u8) -> usize {
        self.labels.iter().filter(|&&l| l == kind).count()
    }

    /// Elle's name for the anomaly this cycle witnesses.
    pub fn anomaly(&self) -> String {
        let base = match self.count(RW) {
            0 if self.count(WR) == 0 => "G0",
            0 => "G1c",
            1 => "G-single",
            _ => "G2-item",
        };
        if self.count(RT) > 0 {
            format!("{base}-realtime")
        } else {
            base.to_string()
        }
    }
}

const UNSEEN: u32 = u32::MAX;

/// Reusable per-node scratch space for the searches.
pub(super) struct Search<'g> {
    g: &'g Graph,
    /// Tarjan's numbering.
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    /// Component membership: `member[v] == tag` for the set currently searched.
    member: Vec<u32>,
    /// Sub-component id within the current set.
    sub: Vec<u32>,
    tag: u32,
    /// BFS: `seen[v] == bfs_tag` when visited; `parent[v]` is the edge it was reached by.
    seen: Vec<u32>,
    parent: Vec<u32>,
    bfs_tag: u32,
    /// Edge visits left for the searches that are not guaranteed to succeed.
    pub budget: u64,
    pub exhausted: bool,
}

impl<'g> Search<'g> {
    pub fn new(g: &'g Graph, budget: u64) -> Self {
        let n = g.adj.len();
        Search {
            g,
            index: vec![UNSEEN; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            member: vec![0; n],
            sub: vec![UNSEEN; n],
            tag: 0,
            seen: vec![0; n],
            parent: vec![UNSEEN; n],
            bfs_tag: 0,
            budget,
            exhausted: false,
        }
    }

    /// Strongly connected components (of two nodes or more) of the subgraph induced by
    /// `nodes` where `in_set` holds, using edges of the kinds in `mask`.
    pub fn sccs(&mut self, nodes: &[u32], in_set: impl Fn(&Self, u32) -> bool, mask: u8) -> Vec<Vec<u32>> {
        let g = self.g;
        let mut next = 0u32;
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, usize)> = Vec::new();
        let mut comps = Vec::new();
        for &root in nodes {
            if self.index[root as usize] != UNSEEN {
                continue;
            }
            self.index[root as usize] = next;
            self.low[root as usize] = next;
            next += 1;
            stack.push(root);
            self.on_stack[root as usize] = true;
            calls.push((root, 0));
            while let Some(&(v, pos)) = calls.last() {
                let vu = v as usize;
                if pos < g.adj[vu].len() {
                    calls.last_mut().expect("nonempty").1 += 1;
                    let (w, e) = g.adj[vu][pos];
                    if g.edges[e as usize].mask & mask == 0 || !in_set(self, w) {
                        continue;
                    }
                    let wu = w as usize;
                    if self.index[wu] == UNSEEN {
                        self.index[wu] = next;
                        self.low[wu] = next;
                        next += 1;
                        stack.push(w);
                        self.on_stack[wu] = true;
                        calls.push((w, 0));
                    } else if self.on_stack[wu] {
                        self.low[vu] = self.low[vu].min(self.index[wu]);
                    }
                } else {
                    calls.pop();
                    if let Some(&(p, _)) = calls.last() {
                        self.low[p as usize] = self.low[p as usize].min(self.low[vu]);
                    }
                    if self.low[vu] == self.index[vu] {
                        let mut comp = Vec::new();
                        loop {
                            let w = stack.pop().expect("v is on the stack");
                            self.on_stack[w as usize] = false;
                            comp.push(w);
                            if w == v {
                                break;
                            }
                        }
                        if comp.len() > 1 {
                            comps.push(comp);
                        }
                    }
                }
            }
        }
        for &v in nodes {
            self.index[v as usize] = UNSEEN;
        }
        comps
    }

    /// Marks `nodes` as the current set; returns its tag.
    fn mark(&mut self, nodes: &[u32]) -> u32 {
        self.tag += 1;
        for &v in nodes {
            self.member[v as usize] = self.tag;
        }
        self.tag
    }

    /// Shortest path from `from` to `to` (a cycle when they are equal) with edges in `mask`
    /// between nodes where `in_set` holds; `None` if there is none (or, when `budgeted`,
    /// if the budget ran out).
    fn bfs(
        &mut self,
        from: u32,
        to: u32,
        mask: u8,
        in_set: impl Fn(&Self, u32) -> bool,
        budgeted: bool,
    ) -> Option<Vec<u32>> {
        let g = self.g;
        self.bfs_tag += 1;
        let tag = self.bfs_tag;
        self.seen[from as usize] = tag;
        self.parent[from as usize] = UNSEEN;
        let mut queue = VecDeque::from([from]);
        while let Some(x) = queue.pop_front() {
            for &(w, e) in &g.adj[x as usize] {
                if budgeted {
                    if self.budget == 0 {
                        self.exhausted = true;
                        return None;
                    }
                    self.budget -= 1;
                }
                if g.edges[e as usize].mask & mask == 0 || !in_set(self, w) {
                    continue;
                }
                if w == to {
                    let mut path = vec![e];
                    let mut at = x;
                    while at != from {
                        let pe = self.parent[at as usize];
                        path.push(pe);
                        at = g.edges[pe as usize].from;
                    }
                    path.reverse();
                    return Some(path);
                }
                if self.seen[w as usize] != tag {
                    self.seen[w as usize] = tag;
                    self.parent[w as usize] = e;
                    queue.push_back(w);
                }
            }
        }
        None
    }

    /// A short cycle using only kinds in `mask` among `nodes` (which are marked as the
    /// current set), if there is one: exact (Tarjan finds every cyclic component).
    fn any_cycle(&mut self, nodes: &[u32], tag: u32, mask: u8) -> Option<Cycle> {
        let subs = self.sccs(nodes, |s, w| s.member[w as usize] == tag, mask);
        let sub = subs.into_iter().min_by_key(Vec::len)?;
        let sub_tag = self.mark(&sub);
        let path = self.bfs(sub[0], sub[0], mask, |s, w| s.member[w as usize] == sub_tag, false);
        // Restore the outer marking for the caller.
        for &v in &sub {
            self.member[v as usize] = tag;
        }
        Some(Cycle::new(self.g, path?, mask))
    }

    /// Edges inside the marked set that count as `kind` in a search allowing `mask`.
    fn candidates(&self, nodes: &[u32], tag: u32, kind: u8, mask: u8) -> Vec<u32> {
        let g = self.g;
        let mut out = Vec::new();
        for &v in nodes {
            for &(w, e) in &g.adj[v as usize] {
                if self.member[w as usize] == tag && g.edges[e as usize].label(mask) == kind {
                    out.push(e);
                }
            }
        }
        out
    }

    /// A short cycle containing at least one `kind` edge, all of its edges in `mask`: exact
    /// (an edge lies on a cycle iff both ends are in one component).
    fn cycle_through(&mut self, nodes: &[u32], tag: u32, kind: u8, mask: u8) -> Option<Cycle> {
        let subs = self.sccs(nodes, |s, w| s.member[w as usize] == tag, mask);
        for (i, sub) in subs.iter().enumerate() {
            for &v in sub {
                self.sub[v as usize] = i as u32;
            }
        }
        let g = self.g;
        let found = self.candidates(nodes, tag, kind, mask).into_iter().find(|&e| {
            let edge = &g.edges[e as usize];
            self.sub[edge.from as usize] != UNSEEN && self.sub[edge.from as usize] == self.sub[edge.to as usize]
        });
        let result = found.and_then(|e| {
            let edge = &g.edges[e as usize];
            let path = self.bfs(edge.to, edge.from, mask, |s, w| s.member[w as usize] == tag, false)?;
            Some(Cycle::new(g, [vec![e], path].concat(), mask))
        });
        for sub in &subs {
            for &v in sub {
                self.sub[v as usize] = UNSEEN;
            }
        }
        result
    }

    /// A short cycle with exactly one `rw` edge, the others in `others` (which excludes
    /// `rw`). Candidates whose ends share a component of the `others` subgraph succeed for
    /// sure; the rest need a search each, within the budget.
    fn single_rw(&mut self, nodes: &[u32], tag: u32, others: u8) -> Option<Cycle> {
        let g = self.g;
        let all = others | RW;
        let candidates = self.candidates(nodes, tag, RW, all);
        if candidates.is_empty() {
            return None;
        }
        let subs = self.sccs(nodes, |s, w| s.member[w as usize] == tag, others);
        for (i, sub) in subs.iter().enumerate() {
            for &v in sub {
                self.sub[v as usize] = i as u32;
            }
        }
        let same = |s: &Self, e: u32| {
            let edge = &g.edges[e as usize];
            s.sub[edge.from as usize] != UNSEEN && s.sub[edge.from as usize] == s.sub[edge.to as usize]
        };
        let mut result = None;
        if let Some(e) = candidates.iter().copied().find(|&e| same(self, e)) {
            let edge = &g.edges[e as usize];
            if let Some(path) = self.bfs(edge.to, edge.from, others, |s, w| s.member[w as usize] == tag, false) {
                result = Some(Cycle::new(g, [vec![e], path].concat(), all));
            }
        }
        if result.is_none() {
            for e in candidates {
                let edge = &g.edges[e as usize];
                if let Some(path) = self.bfs(edge.to, edge.from, others, |s, w| s.member[w as usize] == tag, true) {
                    result = Some(Cycle::new(g, [vec![e], path].concat(), all));
                    break;
                }
                if self.exhausted {
                    break;
                }
            }
        }
        for sub in &subs {
            for &v in sub {
                self.sub[v as usize] = UNSEEN;
            }
        }
        result
    }

    /// Witness cycles for one strongly connected component, one per anomaly class, most
    /// severe first: G0 (ww), G1c (ww/wr), G-single (one rw), G2-item (any other cycle
    /// through rw). With `extra = RT`, real-time edges may join every class.
    pub fn witnesses(&mut self, scc: &[u32], extra: u8) -> Vec<Cycle> {
        let tag = self.mark(scc);
        let mut out = Vec::new();
        out.extend(self.any_cycle(scc, tag, WW | extra));
        out.extend(self.cycle_through(scc, tag, WR, WW | WR | extra));
        match self.single_rw(scc, tag, WW | WR | extra) {
            Some(c) => out.push(c),
            None => out.extend(self.cycle_through(scc, tag, RW, DATA | extra)),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why() -> Why {
        Why::Rt
    }

    #[test]
    fn sccs_find_cycles_and_skip_acyclic_parts() {
        let mut g = Graph::new(6);
        g.add(0, 1, WW, why());
        g.add(1, 2, WW, why());
        g.add(2, 0, WR, why());
        g.add(2, 3, WW, why());
        g.add(3, 4, RW, why());
        g.add(4, 3, WW, why());
        g.add(5, 5, WW, why());
        let mut s = Search::new(&g, 1000);
        let nodes: Vec<u32> = (0..6).collect();
        let mut comps = s.sccs(&nodes, |_, _| true, DATA);
        comps.iter_mut().for_each(|c| c.sort());
        comps.sort();
        assert_eq!(comps, vec![vec![0, 1, 2], vec![3, 4]]);
        // Only ww edges: no cycle left.
        assert!(s.sccs(&nodes, |_, _| true, WW).is_empty());
    }

    #[test]
    fn deep_chain_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut g = Graph::new(n as usize);
        for i in 0..n - 1 {
            g.add(i, i + 1, WW, why());
        }
        g.add(n - 1, 0, RW, why());
        let mut s = Search::new(&g, 1000);
        let nodes: Vec<u32> = (0..n).collect();
        let comps = s.sccs(&nodes, |_, _| true, DATA);
        assert_eq!(comps.len(), 1);
        let w = s.witnesses(&comps[0], 0);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].anomaly(), "G-single");
        assert_eq!(w[0].edges.len(), n as usize);
    }

    #[test]
    fn classification_prefers_the_weakest_label() {
        let mut g = Graph::new(2);
        g.add(0, 1, WW, why());
        g.add(0, 1, RW, why());
        g.add(1, 0, WR, why());
        let mut s = Search::new(&g, 1000);
        let w = s.witnesses(&[0, 1], 0);
        let kinds: Vec<String> = w.iter().map(Cycle::anomaly).collect();
        assert_eq!(kinds, vec!["G1c".to_string()]);
    }
}
