//! Per-connection state ([`Session`]) and state shared by all connections ([`ServerContext`]).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::blocking::{Hangup, KeyWaiters};
use super::clients::{ClientHandle, ClientRegistry, Connection};
use super::config::{ConfigStore, LiveValues};
use super::pubsub::{OutputLimits, PubSub, PubSubSession, Registry};
use super::stats::CommandStats;
use crate::resp::{Limits, ProtocolVersion};

/// The Redis version Strata reports and emulates.
pub const REDIS_VERSION: &str = "7.0.15";

/// Server-wide state, shared by every connection behind an `Arc`.
#[derive(Debug)]
pub struct ServerContext {
    pub redis_version: &'static str,
    pub started_at: Instant,
    /// The default user's password; `None` means no AUTH is required.
    pub requirepass: Option<String>,
    pub tcp_port: u16,
    pub process_id: u32,
    /// 40 hex characters identifying this process run (INFO `run_id`).
    pub run_id: String,
    pub limits: Limits,
    /// Open client connections; the gateway increments / decrements it.
    pub connected_clients: AtomicUsize,
    /// Connections accepted since start; the gateway increments it.
    pub total_connections_received: AtomicU64,
    /// Commands executed since start; [`super::execute`] increments it.
    pub total_commands_processed: AtomicU64,
    /// Write commands latch their keys so this gateway's writers of a hot key queue instead
    /// of conflicting (see [`super::latches`]).
    pub latches: super::latches::KeyLatches,
    /// Single-key writes of one key are committed in batches (see `command::combine`).
    pub(crate) combiner: super::command::combine::Combiner,
    /// Where PUBLISH, PUBSUB and subscription changes go: by default this process's own
    /// [`Registry`]; a gateway installs one that reaches every gateway ([`Self::with_pubsub`]).
    pub pubsub: Arc<dyn PubSub>,
    /// Lua scripts: this gateway's cache of bodies and the limits of a run.
    pub scripts: super::scripting::Scripts,
    /// Clients blocked in BLPOP & co. on this gateway, by key; see [`super::blocking`].
    pub key_waiters: KeyWaiters,
    /// SCAN cursors too long to encode inline; see the keyspace command module.
    pub scan_cursors: super::command::keyspace::ScanCursors,
    /// Open connections, for CLIENT LIST / KILL; the gateway registers them.
    pub clients: ClientRegistry,
    /// Parameters set with CONFIG SET on this gateway.
    pub config: ConfigStore,
    /// INFO commandstats / errorstats.
    pub(crate) stats: CommandStats,
    /// Unix seconds at start (LASTSAVE, `rdb_last_save_time`).
    pub started_unix: u64,
    /// Bounded-staleness bound new connections start with (0 = linearizable reads); see
    /// `command::replica_reads`.
    pub default_max_staleness_ms: u64,
}

impl ServerContext {
    pub fn new(tcp_port: u16, requirepass: Option<String>) -> Self {
        ServerContext {
            redis_version: REDIS_VERSION,
            started_at: Instant::now(),
            requirepass,
            tcp_port,
            process_id: std::process::id(),
            run_id: random_hex(40),
            limits: Limits::default(),
            connected_clients: AtomicUsize::new(0),
            total_connections_received: AtomicU64::new(0),
            total_commands_processed: AtomicU64::new(0),
            latches: super::latches::KeyLatches::default(),
            combiner: Default::default(),
            pubsub: Arc::new(Registry::new(OutputLimits::default())),
            scripts: Default::default(),
            key_waiters: KeyWaiters::default(),
            scan_cursors: Default::default(),
            clients: ClientRegistry::default(),
            config: ConfigStore::default(),
            stats: CommandStats::default(),
            started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            default_max_staleness_ms: 0,
        }
    }

    /// New connections read with this staleness bound (replica reads on when above 0).
    pub fn with_default_staleness(mut self, max_staleness_ms: u64) -> Self {
        self.default_max_staleness_ms = max_staleness_ms;
        self
    }

    pub fn with_pubsub(mut self, pubsub: Arc<dyn PubSub>) -> Self {
        self.pubsub = pubsub;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn uptime_seconds(&self) -> u64 {
        self.started_at.elapsed().as_secs()
    }

    pub(crate) fn count_command(&self) {
        self.total_commands_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// What CONFIG GET reports for the values the gateway owns.
    pub(crate) fn live_config(&self) -> LiveValues<'_> {
        LiveValues { port: self.tcp_port, requirepass: self.requirepass.as_deref() }
    }

    /// CONFIG GET of one parameter (by name or alias), e.g. for INFO's `maxmemory`.
    pub fn config_value(&self, name: &str) -> Option<String> {
        self.config.value(name, &self.live_config())
    }
}

/// Wall-clock unix milliseconds on this gateway. Only used where Redis itself consults its
/// own clock before touching a key (overflow checks of relative expiries); TTL arithmetic uses
/// the core's clock from [`crate::kv::ReadSnapshot::now_ms`].
pub(crate) fn gateway_now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut counter = 0u64;
    while out.len() < len {
        // RandomState is seeded from the OS per instance: enough for an identifier.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(counter);
        counter += 1;
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(len);
    out
}

/// Per-connection state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Assigned by the gateway (CLIENT ID, HELLO `id`).
    pub client_id: u64,
    pub name: Option<Bytes>,
    pub protocol: ProtocolVersion,
    pub authenticated: bool,
    /// Always 0: Strata has a single database.
    pub db: u32,
    /// From CLIENT SETINFO LIB-NAME / LIB-VER.
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    /// MULTI / WATCH state; see [`Session::in_multi`] and [`Session::is_watching`].
    pub(crate) transaction: TransactionState,
    /// Channels and patterns subscribed to; see [`Session::is_subscribed`].
    pub(crate) pubsub: PubSubSession,
    /// Signalled by the gateway when the connection closes while a command blocks.
    pub hangup: Hangup,
    /// The connection in the gateway's [`ClientRegistry`], if registered.
    pub conn: Option<Connection>,
    /// CLIENT NO-EVICT (shown in CLIENT LIST; nothing is evicted in Strata).
    pub no_evict: bool,
    /// CLIENT REPLY state; see [`Session::should_reply`].
    pub(crate) reply_mode: ReplyMode,
    /// READONLY / READWRITE / CLIENT STALENESS; see [`Session::read_staleness_ms`].
    pub(crate) replica_reads: ReplicaReadMode,
}

/// Whether this connection's reads may be served by replicas, and with what bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReplicaReadMode {
    pub(crate) allowed: bool,
    pub(crate) max_staleness_ms: u64,
}

/// CLIENT REPLY ON | OFF | SKIP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ReplyMode {
    #[default]
    On,
    Off,
    /// Drop this many more replies, then answer again (SKIP drops its own and the next).
    Skip(u8),
}

/// A connection's MULTI / WATCH state (Redis's `CLIENT_MULTI`, `CLIENT_DIRTY_EXEC` and
/// watched-keys list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TransactionState {
    /// `Some` between MULTI and EXEC / DISCARD: the argument vectors queued for EXEC, which
    /// parses and runs them (Redis reports their syntax errors only then, per command).
    pub(crate) queued: Option<Vec<Vec<Bytes>>>,
    /// A command was refused while queueing (unknown, wrong arity...): EXEC answers EXECABORT.
    pub(crate) dirty: bool,
    /// WATCHed keys, in the order first watched.
    pub(crate) watched: Vec<WatchedKey>,
}

/// What WATCH saw of one key; EXEC commits only if the key still has this version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WatchedKey {
    /// The KV key (prefixed, see [`super::keyspace::kv_key`]).
    pub(crate) key: Bytes,
    pub(crate) version: u64,
    /// The expiry of the value when it was live with a TTL at WATCH time: EXEC aborts once
    /// it has passed, as Redis does for a watched key that expires.
    pub(crate) expire_at_ms: Option<u64>,
    /// The key held a value that had already expired (not yet swept by the core) at WATCH
    /// time: its later removal by the expiry sweeper is no change.
    pub(crate) expired: bool,
}

impl Session {
    /// A new connection: RESP2, authenticated only when no password is configured.
    pub fn new(client_id: u64, ctx: &ServerContext) -> Self {
        Session {
            client_id,
            name: None,
            protocol: ProtocolVersion::Resp2,
            authenticated: ctx.requirepass.is_none(),
            db: 0,
            lib_name: None,
            lib_ver: None,
            transaction: TransactionState::default(),
            pubsub: PubSubSession::default(),
            hangup: Hangup::default(),
            conn: None,
            no_evict: false,
            reply_mode: ReplyMode::On,
            replica_reads: ReplicaReadMode {
                allowed: ctx.default_max_staleness_ms > 0,
                max_staleness_ms: ctx.default_max_staleness_ms,
            },
        }
    }

    /// The staleness bound of this connection's plain reads (GET, MGET); 0 = linearizable.
    pub fn read_staleness_ms(&self) -> u64 {
        if self.replica_reads.allowed {
            self.replica_reads.max_staleness_ms
        } else {
            0
        }
    }

    /// Subscribed to at least one channel or pattern (Redis's `CLIENT_PUBSUB` flag): in RESP2
    /// only (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT and RESET are allowed, and the connection
    /// receives messages between replies.
    pub fn is_subscribed(&self) -> bool {
        self.pubsub.count() > 0
    }

    /// Attaches the connection's registry entry (CLIENT LIST shows this session through it).
    pub fn with_connection(mut self, handle: Arc<ClientHandle>) -> Self {
        self.conn = Some(Connection(handle));
        self
    }

    /// Whether the next reply is to be sent, under CLIENT REPLY OFF / SKIP; call it once per
    /// reply, in order, after the command ran.
    pub fn should_reply(&mut self) -> bool {
        match self.reply_mode {
            ReplyMode::On => true,
            ReplyMode::Off => false,
            ReplyMode::Skip(n) => {
                self.reply_mode = if n <= 1 { ReplyMode::On } else { ReplyMode::Skip(n - 1) };
                false
            }
        }
    }

    /// Commands queued in the open MULTI, `None` outside one.
    pub(crate) fn queued_commands(&self) -> Option<usize> {
        self.transaction.queued.as_ref().map(Vec::len)
    }

    /// Between MULTI and EXEC / DISCARD: commands are queued, not run.
    pub fn in_multi(&self) -> bool {
        self.transaction.queued.is_some()
    }

    /// Some keys are WATCHed (until EXEC, DISCARD or UNWATCH).
    pub fn is_watching(&self) -> bool {
        !self.transaction.watched.is_empty()
    }

    /// Whether commands other than AUTH / HELLO / QUIT are refused with NOAUTH.
    pub fn needs_auth(&self, ctx: &ServerContext) -> bool {
        ctx.requirepass.is_some() && !self.authenticated
    }

    /// The limits to parse this connection's next request with: Redis applies tighter ones
    /// until the client has authenticated.
    pub fn request_limits(&self, ctx: &ServerContext) -> Limits {
        if self.needs_auth(ctx) {
            ctx.limits.for_unauthenticated()
        } else {
            ctx.limits
        }
    }
}
