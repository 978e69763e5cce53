//! Strata's Jepsen: run a workload against a real multi-process cluster while a nemesis
//! injects faults, record the history, and check it (see `docs/jepsen.md`).
//!
//! - `cluster`, `proxy`: the cluster under test and the links between its nodes;
//! - `nemesis`: the faults, in windows;
//! - `workload`: client processes and what they record;
//! - `history`, `checker`: the recorded history and its checkers;
//! - `run`, `report`: one run end to end, and its output directory.

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod proxy;
pub mod report;
pub mod run;
pub mod workload;

use std::time::Instant;

/// The run's monotonic clock: every time in a history is nanoseconds since the run began.
#[derive(Clone, Copy, Debug)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Self {
        Clock(Instant::now())
    }

    pub fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}
