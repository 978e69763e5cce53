//! Per-command and per-error counters for INFO commandstats / errorstats.
//!
//! Command counters are atomics in a table built once from the command table, so recording a
//! call is a hash lookup and a few relaxed additions, without a lock. Error counters are keyed
//! by the error's first word and only touched when an error is answered.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::command::table;

/// Redis stops tracking new error codes after this many distinct ones.
const MAX_ERROR_CODES: usize = 128;

#[derive(Debug)]
pub struct CommandStats {
    index: HashMap<&'static str, usize>,
    counters: Vec<(&'static str, Counters)>,
    errors: Mutex<BTreeMap<String, u64>>,
    total_errors: AtomicU64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

impl Default for CommandStats {
    fn default() -> Self {
        let names: Vec<&'static str> =
            table::all().flat_map(|spec| std::iter::once(spec).chain(spec.subcommands)).map(|spec| spec.name).collect();
        CommandStats {
            index: names.iter().enumerate().map(|(i, name)| (*name, i)).collect(),
            counters: names.into_iter().map(|name| (name, Counters::default())).collect(),
            errors: Mutex::new(BTreeMap::new()),
            total_errors: AtomicU64::new(0),
        }
    }
}

impl CommandStats {
    fn counters(&self, command: &str) -> Option<&Counters> {
        self.index.get(command).and_then(|&i| self.counters.get(i)).map(|(_, c)| c)
    }

    /// A command ran (`failed`: it answered an error).
    pub(crate) fn record_call(&self, command: &str, usec: u64, failed: bool) {
        if let Some(c) = self.counters(command) {
            c.calls.fetch_add(1, Ordering::Relaxed);
            c.usec.fetch_add(usec, Ordering::Relaxed);
            if failed {
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A known command was refused before running (arity, NOAUTH...).
    pub(crate) fn record_rejected(&self, command: &str) {
        if let Some(c) = self.counters(command) {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An error reply was sent; counted under its first word (`ERR`, `WRONGTYPE`).
    pub(crate) fn record_error(&self, text: &[u8]) {
        self.total_errors.fetch_add(1, Ordering::Relaxed);
        let code_end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let code = String::from_utf8_lossy(text.get(..code_end).unwrap_or_default()).into_owned();
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = errors.get_mut(&code) {
            *count += 1;
        } else if errors.len() < MAX_ERROR_CODES {
            errors.insert(code, 1);
        }
    }

    pub(crate) fn total_errors(&self) -> u64 {
        self.total_errors.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub(crate) fn reset(&self) {
        for (_, c) in &self.counters {
            for counter in [&c.calls, &c.usec, &c.rejected, &c.failed] {
                counter.store(0, Ordering::Relaxed);
            }
        }
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.total_errors.store(0, Ordering::Relaxed);
    }

    /// INFO commandstats: commands called or rejected at least once.
    pub(crate) fn commandstats(&self) -> Vec<(String, String)> {
        self.counters
            .iter()
            .filter_map(|(name, c)| {
                let calls = c.calls.load(Ordering::Relaxed);
                let rejected = c.rejected.load(Ordering::Relaxed);
                if calls == 0 && rejected == 0 {
                    return None;
                }
                let usec = c.usec.load(Ordering::Relaxed);
                let per_call = if calls == 0 { 0.0 } else { usec as f64 / calls as f64 };
                let failed = c.failed.load(Ordering::Relaxed);
                Some((
                    format!("cmdstat_{name}"),
                    format!(
                        "calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}"
                    ),
                ))
            })
            .collect()
    }

    /// INFO errorstats.
    pub(crate) fn errorstats(&self) -> Vec<(String, String)> {
        let errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        errors.iter().map(|(code, count)| (format!("errorstat_{code}"), format!("count={count}"))).collect()
    }
}
