//! The live client connections of one gateway, for CLIENT LIST / INFO / KILL.
//!
//! The gateway registers a [`ClientHandle`] per connection and hands it to the connection's
//! [`Session`]. On the request path the only cost is [`ClientHandle::record`] after each
//! command: one uncontended lock to note the command name, the time and the session fields
//! CLIENT LIST shows (name, protocol, MULTI state). Listing and killing take the registry's
//! lock, which connections touch only when they open and close.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::session::Session;
use crate::resp::ProtocolVersion;

/// Every open connection of the gateway, by client id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
}

impl ClientRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ClientHandle>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection; it stays listed until [`ClientRegistry::unregister`].
    pub fn register(&self, handle: Arc<ClientHandle>) {
        self.lock().insert(handle.id, handle);
    }

    pub fn unregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// The open connections, by increasing id (Redis lists them in creation order).
    pub fn list(&self) -> Vec<Arc<ClientHandle>> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.lock().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One connection: fixed facts (id, addresses) and what CLIENT LIST shows of its session.
#[derive(Debug)]
pub struct ClientHandle {
    pub id: u64,
    /// The peer, `ip:port`.
    pub addr: String,
    /// The local end, `ip:port`.
    pub laddr: String,
    /// The socket's file descriptor (`-1` if unknown).
    pub fd: i64,
    created: Instant,
    state: Mutex<ClientState>,
    killed: AtomicBool,
    kill_signal: Notify,
    block: Mutex<BlockState>,
    unblock_signal: Notify,
}

/// Whether the connection waits in a blocking command, and a CLIENT UNBLOCK aimed at it.
#[derive(Debug, Default)]
struct BlockState {
    blocked: bool,
    unblock: Option<UnblockMode>,
}

/// How CLIENT UNBLOCK ends a blocked command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnblockMode {
    /// As if its timeout passed (the default).
    Timeout,
    /// With the error `-UNBLOCKED`.
    Error,
}

/// The connection is blocked while this lives; see [`ClientHandle::enter_blocked`].
#[derive(Debug)]
pub struct BlockedGuard(Arc<ClientHandle>);

impl BlockedGuard {
    /// Resolves once CLIENT UNBLOCK asks this command to stop.
    pub async fn unblocked(&self) -> UnblockMode {
        loop {
            // notify_one keeps a permit when nobody waits yet, so no request is missed.
            if let Some(mode) = self.0.block_state().unblock.take() {
                return mode;
            }
            self.0.unblock_signal.notified().await;
        }
    }
}

impl Drop for BlockedGuard {
    fn drop(&mut self) {
        *self.0.block_state() = BlockState::default();
    }
}

#[derive(Debug)]
struct ClientState {
    name: Option<Bytes>,
    lib_name: Option<Bytes>,
    lib_ver: Option<Bytes>,
    resp: u8,
    /// Commands queued in an open MULTI, `-1` outside one.
    multi: i64,
    no_evict: bool,
    /// Full name of the last command run (`client|list`), `NULL` before the first.
    last_command: &'static str,
    last_interaction: Instant,
}

impl ClientHandle {
    pub fn new(id: u64, addr: String, laddr: String, fd: i64) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: now,
            state: Mutex::new(ClientState {
                name: None,
                lib_name: None,
                lib_ver: None,
                resp: 2,
                multi: -1,
                no_evict: false,
                last_command: "NULL",
                last_interaction: now,
            }),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            block: Mutex::new(BlockState::default()),
            unblock_signal: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the connection to close (CLIENT KILL). It closes at once if it is waiting for
    /// input, otherwise after writing the replies of the commands it is running.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_signal.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves once [`ClientHandle::kill`] has been called.
    pub async fn killed(&self) {
        // notify_one stores a permit when nobody waits yet, so a kill is never missed.
        while !self.is_killed() {
            self.kill_signal.notified().await;
        }
    }

    fn block_state(&self) -> MutexGuard<'_, BlockState> {
        self.block.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the connection blocked (BLPOP & co. waiting) until the guard drops.
    pub fn enter_blocked(self: &Arc<Self>) -> BlockedGuard {
        *self.block_state() = BlockState { blocked: true, unblock: None };
        BlockedGuard(self.clone())
    }

    /// CLIENT UNBLOCK: asks the connection's blocked command to stop; false if it is not
    /// blocked.
    pub fn unblock(&self, mode: UnblockMode) -> bool {
        let mut state = self.block_state();
        if !state.blocked {
            return false;
        }
        state.unblock = Some(mode);
        drop(state);
        self.unblock_signal.notify_one();
        true
    }

    fn is_blocked(&self) -> bool {
        self.block_state().blocked
    }

    /// Notes a command that just ran and the session as it left it.
    pub(crate) fn record(&self, command: &'static str, session: &Session) {
        let mut state = self.state();
        state.last_command = command;
        state.last_interaction = Instant::now();
        state.name.clone_from(&session.name);
        state.lib_name.clone_from(&session.lib_name);
        state.lib_ver.clone_from(&session.lib_ver);
        state.resp = match session.protocol {
            ProtocolVersion::Resp2 => 2,
            ProtocolVersion::Resp3 => 3,
        };
        state.multi = session.queued_commands().map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        state.no_evict = session.no_evict;
    }

    /// The connection's name, as last recorded.
    pub fn name(&self) -> Option<Bytes> {
        self.state().name.clone()
    }

    /// Whether the connection counts as TYPE `normal` (every Strata client does) or `pubsub`.
    pub(crate) fn is_type(&self, client_type: ClientType) -> bool {
        matches!(client_type, ClientType::Normal)
    }

    /// One CLIENT LIST line (without the newline), in Redis 7.0's field order; `lib-name` and
    /// `lib-ver` come last as in Redis 7.2, which introduced them.
    pub fn info_line(&self) -> String {
        let state = self.state();
        let now = Instant::now();
        let mut flags = String::new();
        if state.multi >= 0 {
            flags.push('x');
        }
        if self.is_blocked() {
            flags.push('b');
        }
        if state.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let text = |value: &Option<Bytes>| value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
        let mut line = String::with_capacity(320);
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db=0 sub=0 psub=0 ssub=0 multi={} \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} \
             user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            text(&state.name).unwrap_or_default(),
            now.duration_since(self.created).as_secs(),
            now.duration_since(state.last_interaction).as_secs(),
            state.multi,
            state.last_command,
            state.resp,
            text(&state.lib_name).unwrap_or_default(),
            text(&state.lib_ver).unwrap_or_default(),
        );
        line
    }
}

/// CLIENT LIST / KILL `TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

impl ClientType {
    /// Redis's `getClientTypeByName`.
    pub fn parse(name: &[u8]) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_slice() {
            b"normal" => ClientType::Normal,
            b"slave" | b"replica" => ClientType::Replica,
            b"master" => ClientType::Master,
            b"pubsub" => ClientType::PubSub,
            _ => return None,
        })
    }
}

/// The connection a [`Session`] belongs to. Sessions compare equal whatever their handle.
#[derive(Clone, Debug)]
pub struct Connection(pub Arc<ClientHandle>);

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Connection {}
