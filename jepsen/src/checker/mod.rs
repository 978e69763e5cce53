//! History checkers: each takes a workload's history and returns a [`crate::history::Verdict`].

pub mod bank;
pub mod linearizable;
pub mod list_append;
