//! Lua scripting (EVAL, EVALSHA, SCRIPT): where scripts are stored and how a run is wired.
//!
//! # Threads
//!
//! The Lua VM (Lua 5.1 through `mlua`) is synchronous and the store is async. Each run gets a
//! fresh VM on a blocking thread (`tokio::task::spawn_blocking`, see [`vm`]); `redis.call`
//! sends the command over a channel to the async task that started the run, which executes
//! it against the run's transaction and sends the reply back while the Lua thread waits.
//! mlua's own async support was not used: it drives Lua coroutines, and Lua 5.1 cannot yield
//! across `pcall` or metamethods, so a script calling `pcall(redis.call, ...)` would fail.
//! A fresh VM per run also means no state leaks from one script to the next.
//!
//! # Atomicity
//!
//! A script runs as one transaction (`command/eval.rs`): every `redis.call` goes to a
//! [`super::transaction::Transaction`] (snapshot reads at one start timestamp, buffered
//! writes) and the writes are committed at the end — also when the script raised an error
//! after writing, as Redis keeps such writes. If the commit conflicts with another writer,
//! the whole script runs again from a fresh snapshot (nothing was applied). Inside MULTI a
//! script runs against the MULTI's transaction.
//!
//! # Storage
//!
//! Script bodies are stored in the core under [`SCRIPT_PREFIX`] + lowercase SHA1 hex, so
//! EVALSHA works on every gateway and after restarts; [`Scripts`] is this gateway's cache of
//! bodies by SHA1.
//!
//! # Limits
//!
//! See [`ScriptLimits`]: a script running longer than the time limit is stopped with an
//! error and its writes are dropped (Redis instead answers BUSY to other clients until
//! SCRIPT KILL), the VM's memory is capped, and so is the size of the reply.

pub(crate) mod vm;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// First byte of the KV keys holding script bodies: `L` + 40 lowercase hex digits.
pub const SCRIPT_PREFIX: u8 = b'L';

/// The KV range holding every stored script: `[start, end)`.
pub fn script_range() -> (Bytes, Bytes) {
    (Bytes::from_static(b"L"), Bytes::from_static(b"M"))
}

/// The KV key of a script, from its lowercase SHA1 hex.
pub fn script_key(sha: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(sha.len() + 1);
    out.put_u8(SCRIPT_PREFIX);
    out.put_slice(sha.as_bytes());
    out.freeze()
}

/// Lowercase SHA1 hex of a script body, as SCRIPT LOAD answers it.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Bounds on one script run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptLimits {
    /// Wall-clock time the Lua code may run (time spent waiting on the store counts too);
    /// checked every few thousand VM instructions. Redis's `lua-time-limit` default.
    pub time_limit: Duration,
    /// Memory the Lua VM may allocate.
    pub memory_limit: usize,
    /// Approximate size of the reply a script may return.
    pub max_reply_bytes: usize,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        ScriptLimits { time_limit: Duration::from_secs(5), memory_limit: 256 << 20, max_reply_bytes: 64 << 20 }
    }
}

/// Most bodies kept in a gateway's cache; past it the cache starts over (bodies stay in the
/// store, so a miss costs one read).
const MAX_CACHED_SCRIPTS: usize = 10_000;

/// This gateway's scripts: a cache of bodies by SHA1, and the limits of a run.
#[derive(Debug, Default)]
pub struct Scripts {
    cache: Mutex<HashMap<String, Bytes>>,
    pub limits: ScriptLimits,
}

impl Scripts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn cached(&self, sha: &str) -> Option<Bytes> {
        self.lock().get(sha).cloned()
    }

    pub(crate) fn remember(&self, sha: String, body: Bytes) {
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_SCRIPTS {
            cache.clear();
        }
        cache.insert(sha, body);
    }

    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_live_under_the_l_prefix() {
        let sha = sha1_hex(b"return 'hello'");
        assert_eq!(sha, "1b936e3fe509bcbc9cd0664897bbe8fd0cac101b");
        let key = script_key(&sha);
        let (start, end) = script_range();
        assert!(key >= start && key < end);
        let (redis_start, redis_end) = crate::redis::keyspace::keyspace_range();
        assert!(key < redis_start || key >= redis_end);
    }
}
