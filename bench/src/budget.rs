//! How many operations a phase may still start: a count, a deadline, or both (whichever ends
//! first). Workers take numbered tickets, so every operation has a distinct index to derive its
//! key from, and no worker starts an operation after the budget is spent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub struct OpBudget {
    next: AtomicU64,
    max_ops: Option<u64>,
    deadline: Option<Instant>,
}

impl OpBudget {
    /// A budget with neither limit would never end; callers must give at least one.
    pub fn new(max_ops: Option<u64>, deadline: Option<Instant>) -> Self {
        debug_assert!(max_ops.is_some() || deadline.is_some(), "an operation budget needs a limit");
        Self { next: AtomicU64::new(0), max_ops, deadline }
    }

    /// The index of the next operation to run, or None once the budget is spent.
    pub fn take(&self) -> Option<u64> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Option<u64> {
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        match self.max_ops {
            Some(max) if index >= max => None,
            _ => Some(index),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_count_hands_out_each_index_once() {
        let budget = OpBudget::new(Some(3), None);
        let taken: Vec<_> = std::iter::from_fn(|| budget.take()).collect();
        assert_eq!(taken, vec![0, 1, 2]);
        assert_eq!(budget.take(), None);
    }

    #[test]
    fn a_zero_count_runs_nothing() {
        assert_eq!(OpBudget::new(Some(0), None).take(), None);
    }

    #[test]
    fn a_deadline_stops_new_operations() {
        let start = Instant::now();
        let budget = OpBudget::new(None, Some(start + Duration::from_secs(10)));
        assert_eq!(budget.take_at(start), Some(0));
        assert_eq!(budget.take_at(start + Duration::from_secs(9)), Some(1));
        assert_eq!(budget.take_at(start + Duration::from_secs(10)), None);
    }

    #[test]
    fn the_first_limit_reached_wins() {
        let start = Instant::now();
        let budget = OpBudget::new(Some(1), Some(start + Duration::from_secs(10)));
        assert_eq!(budget.take_at(start), Some(0));
        assert_eq!(budget.take_at(start), None);
    }

    #[test]
    fn concurrent_takers_never_share_an_index() {
        let budget = std::sync::Arc::new(OpBudget::new(Some(1000), None));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || std::iter::from_fn(|| budget.take()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }
}
