//! The search itself, independent of what is being modelled: Wing & Gong's algorithm with
//! Lowe's memoisation, laid out as in Porcupine, plus a few sound reductions.
//!
//! Every operation contributes a *call* event and (unless it is indeterminate) a *return*
//! event; the events, sorted by time, form doubly linked lists. The search walks the list
//! from its head with the model's current state. At a call it tries to linearize that
//! operation now: if the model accepts it, and the pair (set of linearized operations, new
//! state) has not been seen before, the operation is pushed on a stack, its events are
//! unlinked ("lifted") and the walk restarts from the head. At a return, the operation that
//! returned there was not linearized before its deadline, so the last choice was wrong: pop
//! it, relink its events and carry on from just after its call. The history is linearizable
//! once every determinate operation has been linearized; it is not once the stack is empty
//! and a return is reached. The memo makes each (set, state) pair explored at most once.
//!
//! So at each configuration the candidates are the operations called before the first
//! pending return. They are tried in three passes, in call order within each:
//! 1. *reads* (read-only operations, [`Model::is_read_only`]): if one is possible now it
//!    is a forced move: any linearization that puts it later can put it now instead, as it
//!    changes nothing and everything that had to precede it already has. So it is taken
//!    without branching, and when the search backtracks over it, it backtracks over the
//!    configuration before it too (the *read cut*);
//! 2. the other determinate operations;
//! 3. indeterminate ones, which have no return event: they may be linearized at any point
//!    after their call, or never, and are only tried when nothing else lets the walk get
//!    past the pending return. Two more reductions keep them from blowing up the search:
//!    - *symmetry*: indeterminate operations with equal inputs are interchangeable once
//!      both have been called, so only the earliest-called pending one of each kind is
//!      tried;
//!    - *dominance*: an indeterminate operation immediately followed by a blind write (an
//!      operation whose outcome does not depend on the state, [`Model::is_blind_write`])
//!      had no observable effect, and leaving it out is always at least as good (it can
//!      still be linearized later). So a blind write is never linearized right after an
//!      indeterminate operation. Indeterminate read-only operations are never linearized.
//!
//! None of this changes the answer, nor the states reported in [`Stuck`]; the brute-force
//! cross-checks in the tests hold it to that.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A sequential specification: the state an object starts in and how each operation
/// changes it.
pub trait Model {
    /// An operation together with what it returned (a read carries the value it saw).
    type Op: Clone + Eq + Hash + Debug;
    type State: Clone + Eq + Hash + Debug;

    fn init(&self) -> Self::State;

    /// The state after `op` in `state`, or `None` if `op` cannot happen (or could not have
    /// returned what it returned) in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True if `op` is accepted in every state and leads to the same state whatever the
    /// state before it (a blind write). Only an optimisation; `false` is always correct.
    fn is_blind_write(&self, _op: &Self::Op) -> bool {
        false
    }

    /// True if `op` never changes the state (a read). Only an optimisation; `false` is
    /// always correct.
    fn is_read_only(&self, _op: &Self::Op) -> bool {
        false
    }
}

/// One operation as the search sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call<O> {
    pub call_ns: u64,
    /// When it returned. `None`: indeterminate; it may take effect at any time after
    /// `call_ns`, or not at all.
    pub return_ns: Option<u64>,
    pub op: O,
}

/// Where the search got stuck, when the history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck<S> {
    /// The operation (index into the calls) whose return no linearization gets past: the
    /// furthest point in time the search reached.
    pub op: usize,
    /// The states the model can be in once every operation that returned before `op` has
    /// been linearized (and any of those called before its return may have been, `op`
    /// excepted): all of them, distinct, in the order found, at most [`MAX_FRONTIERS`].
    /// `op` is possible in none. Each comes with a linearization leading there; the first
    /// one's `prefix` is the longest linearizable prefix reported.
    pub frontiers: Vec<Frontier<S>>,
    /// More distinct states than [`MAX_FRONTIERS`] were found.
    pub more: bool,
}

/// A linearizable prefix of the history and the state it leaves the model in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier<S> {
    pub state: S,
    /// Indices into the calls, in linearization order.
    pub prefix: Vec<usize>,
}

/// How many distinct states are kept in [`Stuck::frontiers`].
pub const MAX_FRONTIERS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<S> {
    /// A linearization: indices into the calls, in order. Every determinate operation is in
    /// it; indeterminate ones only if they were needed.
    Linearizable(Vec<usize>),
    Nonlinearizable(Stuck<S>),
    /// The search took more than the allowed number of steps; no answer.
    Exhausted {
        steps: u64,
    },
}

/// Checks that `calls` (in any order) is linearizable with respect to `model`, within
/// `max_steps` steps (one step = the search looking at one event, i.e. at most one attempt
/// to linearize one operation).
pub fn check<M: Model>(model: &M, calls: &[Call<M::Op>], max_steps: u64) -> Outcome<M::State> {
    Search::new(model, calls).run(max_steps)
}

const HEAD: usize = 0;

/// The set of linearized operations, compactly keyed for the memo. Determinate operations
/// are numbered by call time, so in practice their bits are a run of ones (everything
/// that returned long ago), a short window, then zeros (not called yet); indeterminate
/// operations get their own, usually sparse, bitset.
struct Linearized {
    /// For each operation: (is indeterminate, bit position in its bitset).
    slot: Vec<(bool, usize)>,
    det: Vec<u64>,
    indet: Vec<u64>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key<S> {
    /// Leading all-ones words of the determinate bitset.
    ones: u32,
    /// How many of `words` belong to the determinate bitset (the rest: indeterminate).
    det_len: u32,
    words: Box<[u64]>,
    state: S,
}

impl Linearized {
    /// `by_call`: every operation, in call order, and whether it is indeterminate.
    fn new(n: usize, by_call: impl Iterator<Item = (usize, bool)>) -> Self {
        let (mut n_det, mut n_indet) = (0, 0);
        let mut slot = vec![(false, 0); n];
        for (op, indet) in by_call {
            let counter = if indet { &mut n_indet } else { &mut n_det };
            slot[op] = (indet, *counter);
            *counter += 1;
        }
        Linearized { slot, det: vec![0; n_det.div_ceil(64)], indet: vec![0; n_indet.div_ceil(64)] }
    }

    fn word(&mut self, op: usize) -> (&mut u64, u64) {
        let (indet, pos) = self.slot[op];
        let words = if indet { &mut self.indet } else { &mut self.det };
        (&mut words[pos / 64], 1u64 << (pos % 64))
    }

    fn set(&mut self, op: usize) {
        let (w, bit) = self.word(op);
        *w |= bit;
    }

    fn clear(&mut self, op: usize) {
        let (w, bit) = self.word(op);
        *w &= !bit;
    }

    fn contains(&self, op: usize) -> bool {
        let (indet, pos) = self.slot[op];
        let words = if indet { &self.indet } else { &self.det };
        words[pos / 64] & (1u64 << (pos % 64)) != 0
    }

    fn key<S>(&self, state: S) -> Key<S> {
        let ones = self.det.iter().take_while(|w| **w == u64::MAX).count();
        let det_end = self.det.iter().rposition(|w| *w != 0).map_or(ones, |p| p + 1).max(ones);
        let indet_end = self.indet.iter().rposition(|w| *w != 0).map_or(0, |p| p + 1);
        let words: Box<[u64]> = self.det[ones..det_end].iter().chain(&self.indet[..indet_end]).copied().collect();
        Key { ones: ones as u32, det_len: (det_end - ones) as u32, words, state }
    }
}

/// FxHash: the memo's keys are machine words, which SipHash is needlessly slow on.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

struct Search<'a, M: Model> {
    model: &'a M,
    calls: &'a [Call<M::Op>],
    /// Two doubly linked lists over event nodes, which are numbered in time order. The
    /// main list holds the calls and returns of determinate operations, between sentinels
    /// [`HEAD`] and `tail`; the side list the calls of indeterminate operations, between
    /// `side_head` and `side_tail`.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For each event node: its operation, and whether it is the call (else the return).
    node_op: Vec<usize>,
    node_is_call: Vec<bool>,
    call_node: Vec<usize>,
    return_node: Vec<Option<usize>>,
    read_only: Vec<bool>,
    /// For an indeterminate operation: the previous (by call time) indeterminate operation
    /// with the same input (see the symmetry reduction).
    prev_same: Vec<Option<usize>>,
    tail: usize,
    side_head: usize,
    side_tail: usize,
}

/// Where the walk is: the pass and the node it is at.
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// Trying read-only determinate operations, at this node of the main list.
    Reads(usize),
    /// Trying the other determinate operations, at this node of the main list.
    Others(usize),
    /// Trying indeterminate operations, at this node of the side list, because the main
    /// walk reached the return node `at` (only those called before it are candidates).
    Side { node: usize, at: usize },
}

/// The search's mutable state.
struct Walk<S> {
    state: S,
    linearized: Linearized,
    /// (operation, state before it, where to resume if it is undone)
    stack: Vec<(usize, S, Cursor)>,
    /// Determinate operations not linearized yet.
    required: usize,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, calls: &'a [Call<M::Op>]) -> Self {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * calls.len());
        for (i, c) in calls.iter().enumerate() {
            events.push((c.call_ns, false, i));
            if let Some(r) = c.return_ns {
                // A return before the call is malformed; treat it as instantaneous.
                events.push((r.max(c.call_ns), true, i));
            }
        }
        // At equal times calls come first (`false < true`): operations that merely touch
        // are concurrent, the conservative reading.
        events.sort_unstable();
        let tail = events.len() + 1;
        let (side_head, side_tail) = (tail + 1, tail + 2);
        let n_nodes = tail + 3;
        let mut s = Search {
            model,
            calls,
            next: vec![usize::MAX; n_nodes],
            prev: vec![usize::MAX; n_nodes],
            node_op: vec![usize::MAX; n_nodes],
            node_is_call: vec![false; n_nodes],
            call_node: vec![0; calls.len()],
            return_node: vec![None; calls.len()],
            read_only: calls.iter().map(|c| model.is_read_only(&c.op)).collect(),
            prev_same: vec![None; calls.len()],
            tail,
            side_head,
            side_tail,
        };
        let (mut main_last, mut side_last) = (HEAD, side_head);
        let mut same: HashMap<&M::Op, usize> = HashMap::new();
        for (k, &(_, is_return, op)) in events.iter().enumerate() {
            let node = k + 1;
            s.node_op[node] = op;
            s.node_is_call[node] = !is_return;
            if is_return {
                s.return_node[op] = Some(node);
            } else {
                s.call_node[op] = node;
            }
            let last = if calls[op].return_ns.is_some() {
                &mut main_last
            } else if s.read_only[op] {
                continue; // never worth linearizing
            } else {
                s.prev_same[op] = same.insert(&calls[op].op, op);
                &mut side_last
            };
            s.next[*last] = node;
            s.prev[node] = *last;
            *last = node;
        }
        for (last, end) in [(main_last, tail), (side_last, side_tail)] {
            s.next[last] = end;
            s.prev[end] = last;
        }
        s
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        self.prev[n] = node;
    }

    fn run(mut self, max_steps: u64) -> Outcome<M::State> {
        let calls = self.calls;
        let mut walk = Walk {
            state: self.model.init(),
            linearized: Linearized::new(
                calls.len(),
                (1..self.tail)
                    .filter(|&node| self.node_is_call[node])
                    .map(|node| (self.node_op[node], calls[self.node_op[node]].return_ns.is_none())),
            ),
            stack: Vec::new(),
            required: calls.iter().filter(|c| c.return_ns.is_some()).count(),
        };
        let mut cache: HashSet<Key<M::State>, FxBuild> = HashSet::default();
        // Furthest return reached (its node), and the states seen there.
        let mut best: Option<(usize, Stuck<M::State>)> = None;
        let mut cursor = Cursor::Reads(self.next[HEAD]);
        let mut steps: u64 = 0;
        loop {
            if walk.required == 0 {
                return Outcome::Linearizable(walk.stack.into_iter().map(|(op, ..)| op).collect());
            }
            steps += 1;
            if steps > max_steps {
                return Outcome::Exhausted { steps: max_steps };
            }
            // The candidate to try and where to go on if it is not taken.
            let (op, resume) = match cursor {
                Cursor::Reads(node) | Cursor::Others(node) => {
                    debug_assert_ne!(node, self.tail, "a pending determinate op always has a return event");
                    let reads = matches!(cursor, Cursor::Reads(_));
                    if !self.node_is_call[node] {
                        cursor = match reads {
                            true => Cursor::Others(self.next[HEAD]),
                            false => Cursor::Side { node: self.next[self.side_head], at: node },
                        };
                        continue;
                    }
                    let op = self.node_op[node];
                    let next = self.next[node];
                    if self.read_only[op] != reads {
                        cursor = if reads { Cursor::Reads(next) } else { Cursor::Others(next) };
                        continue;
                    }
                    (op, if reads { Cursor::Reads(next) } else { Cursor::Others(next) })
                }
                Cursor::Side { node, at } => {
                    if node == self.side_tail || node > at {
                        // Nothing lets the walk past `at`: undo the last choice.
                        record(&mut best, at, self.node_op[at], &walk.state, &walk.stack);
                        match self.backtrack(&mut walk) {
                            Some(c) => cursor = c,
                            None => return Outcome::Nonlinearizable(best.expect("just recorded").1),
                        }
                        continue;
                    }
                    (self.node_op[node], Cursor::Side { node: self.next[node], at })
                }
            };
            cursor = resume;
            if self.pruned(op, &walk) {
                continue;
            }
            let Some(after) = self.model.step(&walk.state, &calls[op].op) else { continue };
            walk.linearized.set(op);
            if !cache.insert(walk.linearized.key(after.clone())) {
                walk.linearized.clear(op);
                if self.read_only[op] {
                    // A forced move that was explored already: this configuration fails.
                    match self.backtrack(&mut walk) {
                        Some(c) => cursor = c,
                        None => return Outcome::Nonlinearizable(best.expect("a failure was recorded").1),
                    }
                }
                continue;
            }
            walk.stack.push((op, std::mem::replace(&mut walk.state, after), resume));
            self.unlink(self.call_node[op]);
            if let Some(r) = self.return_node[op] {
                self.unlink(r);
                walk.required -= 1;
            }
            cursor = Cursor::Reads(self.next[HEAD]);
        }
    }

    /// Undoes the last choice (and, by the read cut, any read-only operations before it);
    /// returns where to resume, or `None` if there is nothing left to undo.
    fn backtrack(&mut self, walk: &mut Walk<M::State>) -> Option<Cursor> {
        loop {
            let (op, before, resume) = walk.stack.pop()?;
            walk.state = before;
            walk.linearized.clear(op);
            // Dancing links: relink in the reverse order of unlinking.
            if let Some(r) = self.return_node[op] {
                self.relink(r);
                walk.required += 1;
            }
            self.relink(self.call_node[op]);
            if !self.read_only[op] {
                return Some(resume);
            }
        }
    }

    /// The symmetry and dominance reductions of the module docs.
    fn pruned(&self, op: usize, walk: &Walk<M::State>) -> bool {
        if let Some(p) = self.prev_same[op] {
            if !walk.linearized.contains(p) {
                return true;
            }
        }
        match walk.stack.last() {
            Some(&(top, ..)) => self.calls[top].return_ns.is_none() && self.model.is_blind_write(&self.calls[op].op),
            None => false,
        }
    }
}

fn record<S: Clone + Eq>(
    best: &mut Option<(usize, Stuck<S>)>,
    node: usize,
    op: usize,
    state: &S,
    stack: &[(usize, S, Cursor)],
) {
    let frontier = || Frontier { state: state.clone(), prefix: stack.iter().map(|(o, ..)| *o).collect() };
    match best {
        Some((at, stuck)) if *at == node => {
            if !stuck.frontiers.iter().any(|f| f.state == *state) {
                if stuck.frontiers.len() < MAX_FRONTIERS {
                    stuck.frontiers.push(frontier());
                } else {
                    stuck.more = true;
                }
            }
        }
        Some((at, _)) if *at > node => {}
        _ => *best = Some((node, Stuck { op, frontiers: vec![frontier()], more: false })),
    }
}
