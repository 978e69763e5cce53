//! The RESP listener: one task per connection.
//!
//! Commands that arrive together (a pipeline) are cut into *waves*: consecutive commands with
//! disjoint key sets run concurrently, a command that touches a key already in the wave
//! starts the next wave, and commands that read or change the session (HELLO, AUTH, SELECT,
//! CLIENT, QUIT) or the whole keyspace run alone. Replies are always written in request
//! order. So a pipeline `SET a 1; GET a` still reads its own write, while `GET a; GET b; ...`
//! fans out to the core in parallel. MULTI / EXEC / DISCARD / WATCH / UNWATCH, commands queued
//! inside MULTI and every command while keys are WATCHed are barriers too, so a connection in a
//! transaction runs strictly in order; the transaction state lives in its [`Session`].
//!
//! Blocking commands (BLPOP & co.) are barriers too: the replies before them are written at
//! once, later pipelined commands wait for them (as in Redis), they hold no admission permit
//! while they wait, and the connection is watched meanwhile so that a client that hangs up
//! stops its blocked command before it pops anything (see `strata_protocols::redis::blocking`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use strata_protocols::redis::clients::ClientHandle;
use strata_protocols::redis::pubsub::Inbox;
use strata_protocols::redis::{self, Access, Command, ServerContext, Session};
use strata_protocols::resp::{self, ProtocolVersion, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

use crate::core_kv::CoreKv;
use crate::limits::{Admission, ClientLimiter};
use crate::metrics::GatewayMetrics;

/// Commands in one wave at most; bounds the memory of replies held before writing.
const MAX_WAVE: usize = 1024;

/// Request bytes buffered from a client while one of its commands blocks; past this the
/// gateway stops reading (and so stops noticing a hangup) until the command ends.
const MAX_BUFFERED_WHILE_BLOCKED: usize = 1 << 20;

pub struct RedisServer {
    pub kv: CoreKv,
    pub admission: Arc<Admission>,
    pub ctx: Arc<ServerContext>,
    pub metrics: GatewayMetrics,
    /// Counts slow subscribers disconnected, when the gateway runs the Pub/Sub mesh.
    pub pubsub_metrics: Option<crate::pubsub::PubSubMetrics>,
    next_client_id: AtomicU64,
}

impl RedisServer {
    /// `admission` is shared with the gateway's other listeners (gRPC).
    pub fn new(kv: CoreKv, ctx: Arc<ServerContext>, metrics: GatewayMetrics, admission: Arc<Admission>) -> Arc<Self> {
        Self::with_pubsub_metrics(kv, ctx, metrics, admission, None)
    }

    /// Like [`RedisServer::new`], also counting Pub/Sub subscribers disconnected for falling
    /// behind.
    pub fn with_pubsub_metrics(
        kv: CoreKv,
        ctx: Arc<ServerContext>,
        metrics: GatewayMetrics,
        admission: Arc<Admission>,
        pubsub_metrics: Option<crate::pubsub::PubSubMetrics>,
    ) -> Arc<Self> {
        Arc::new(Self { kv, admission, ctx, metrics, pubsub_metrics, next_client_id: AtomicU64::new(1) })
    }

    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let server = self.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
                server.metrics.connections.inc();
                server.ctx.connected_clients.fetch_add(1, Ordering::Relaxed);
                server.ctx.total_connections_received.fetch_add(1, Ordering::Relaxed);
                let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let handle = ClientHandle::new(id, peer.to_string(), laddr, raw_fd(&stream));
                server.ctx.clients.register(handle.clone());
                if let Err(e) = server.handle(stream, handle).await {
                    tracing::debug!(client = id, %peer, error = %e, "connection closed with error");
                }
                server.ctx.clients.unregister(id);
                server.ctx.connected_clients.fetch_sub(1, Ordering::Relaxed);
                server.metrics.connections.dec();
            });
        }
    }

    async fn handle(&self, mut stream: TcpStream, handle: Arc<ClientHandle>) -> std::io::Result<()> {
        let id = handle.id;
        let mut session = Session::new(id, &self.ctx).with_connection(handle.clone());
        let client = self.admission.client();
        let mut input = BytesMut::with_capacity(16 * 1024);
        // Taken once the connection subscribes; messages for it wait there and are written
        // between replies. Dropping it (when the connection ends) unsubscribes everything.
        let mut inbox: Option<Inbox> = None;
        loop {
            let mut requests = Vec::new();
            let mut protocol_error = None;
            loop {
                let limits = session.request_limits(&self.ctx);
                match resp::parse_request(&mut input, &limits) {
                    // Until AUTH succeeds, take one request at a time: limits and permissions
                    // change with it.
                    Ok(Some(args)) if session.needs_auth(&self.ctx) => {
                        requests.push(args);
                        break;
                    }
                    Ok(Some(args)) => requests.push(args),
                    Ok(None) => break,
                    Err(e) => {
                        protocol_error = Some(e);
                        break;
                    }
                }
            }
            if requests.is_empty() && protocol_error.is_none() {
                // Wait for the client, for a message when subscribed, or for CLIENT KILL from
                // another connection.
                match inbox.as_mut() {
                    None => {
                        tokio::select! {
                            read = stream.read_buf(&mut input) => {
                                if read? == 0 {
                                    return Ok(());
                                }
                            }
                            () = handle.killed() => {
                                stream.shutdown().await.ok();
                                return Ok(());
                            }
                        }
                    }
                    Some(subscribed) => {
                        let killed = subscribed.killed();
                        tokio::select! {
                            read = stream.read_buf(&mut input) => {
                                if read? == 0 {
                                    return Ok(());
                                }
                            }
                            delivery = subscribed.recv() => {
                                let Some(delivery) = delivery else { return Ok(()) };
                                let mut output = BytesMut::new();
                                delivery.to_reply().encode(session.protocol, &mut output);
                                drain_inbox(subscribed, session.protocol, &mut output);
                                if !self.write_output(&mut stream, &output, subscribed).await? {
                                    return self.disconnect_slow_subscriber(stream, id).await;
                                }
                            }
                            () = killed => return self.disconnect_slow_subscriber(stream, id).await,
                            () = handle.killed() => {
                                stream.shutdown().await.ok();
                                return Ok(());
                            }
                        }
                    }
                }
                continue;
            }
            // A connection killed (CLIENT KILL) while its input was arriving runs nothing more,
            // as in Redis, which closes such a client before reading it again.
            if handle.is_killed() {
                stream.shutdown().await.ok();
                return Ok(());
            }
            let mut output = BytesMut::new();
            // Messages that arrived before these commands were read go out before their replies.
            if let Some(subscribed) = inbox.as_mut() {
                drain_inbox(subscribed, session.protocol, &mut output);
            }
            let close =
                self.run_pipeline(requests, &mut session, &client, &mut output, &mut stream, &mut input).await?;
            if inbox.is_none() && session.is_subscribed() {
                inbox = self.ctx.pubsub.take_inbox(id);
            }
            if let Some(e) = &protocol_error {
                // Like Redis: report the protocol error, then drop the connection.
                e.to_reply().encode(session.protocol, &mut output);
            }
            match inbox.as_ref() {
                Some(subscribed) => {
                    if !self.write_output(&mut stream, &output, subscribed).await? {
                        return self.disconnect_slow_subscriber(stream, id).await;
                    }
                }
                None => stream.write_all(&output).await?,
            }
            if close || protocol_error.is_some() || handle.is_killed() {
                stream.shutdown().await.ok();
                return Ok(());
            }
        }
    }

    /// Writes `output` unless the subscriber is disconnected for falling behind meanwhile (a
    /// client that stopped reading blocks the write; its mailbox then overflows). Returns
    /// false in that case.
    async fn write_output(&self, stream: &mut TcpStream, output: &[u8], inbox: &Inbox) -> std::io::Result<bool> {
        if inbox.is_killed() {
            return Ok(false);
        }
        tokio::select! {
            written = stream.write_all(output) => written.map(|()| true),
            () = inbox.killed() => Ok(false),
        }
    }

    /// Closes a subscriber that passed its output buffer limit without flushing what is
    /// pending, as Redis does.
    async fn disconnect_slow_subscriber(&self, stream: TcpStream, id: u64) -> std::io::Result<()> {
        tracing::warn!(client = id, "closing a Pub/Sub subscriber that fell behind (output buffer limit)");
        if let Some(metrics) = &self.pubsub_metrics {
            metrics.slow_subscribers_disconnected.inc();
        }
        drop(stream);
        Ok(())
    }

    /// Executes a batch of requests, appending encoded replies in order. Returns true when
    /// the connection must close (QUIT, or the client left while a command blocked).
    async fn run_pipeline(
        &self,
        requests: Vec<Vec<Bytes>>,
        session: &mut Session,
        client: &ClientLimiter,
        output: &mut BytesMut,
        stream: &mut TcpStream,
        input: &mut BytesMut,
    ) -> std::io::Result<bool> {
        let mut wave: Vec<Result<(Command, OwnedSemaphorePermit), Reply>> = Vec::new();
        let mut wave_keys: HashSet<Bytes> = HashSet::new();
        for args in requests {
            // Parsed only now, after the barriers before it ran: MULTI and WATCH change how
            // the session parses (queued, or run in order).
            let parsed = match Command::parse(args, session, &self.ctx) {
                Ok(cmd) => match self.admission.admit(client) {
                    Ok(permit) => Ok((cmd, permit)),
                    Err(refused) => {
                        self.metrics.refused.with_label_values(&[refused.label()]).inc();
                        // Inside MULTI a refusal aborts the transaction at EXEC; a refused EXEC
                        // discards it (Redis's rejectCommand).
                        Err(cmd.reject(Reply::Error(format!("TRYAGAIN {refused}").into()), session))
                    }
                },
                Err(reply) => Err(reply),
            };
            let access = match &parsed {
                Ok((cmd, _)) => cmd.access(),
                Err(_) => Access::Keys(Vec::new()),
            };
            match access {
                Access::Barrier => {
                    self.run_wave(std::mem::take(&mut wave), session, output).await;
                    wave_keys.clear();
                    let (cmd, permit) = match parsed {
                        Ok(admitted) => admitted,
                        Err(reply) => {
                            self.count(&reply);
                            emit(&reply, session, output);
                            continue;
                        }
                    };
                    let outcome = if cmd.blocks() {
                        // A blocked client holds no admission permit while it waits, and the
                        // replies before it go out now, as Redis sends them.
                        drop(permit);
                        stream.write_all(output).await?;
                        output.clear();
                        self.execute_blocking(cmd, session, stream, input).await
                    } else {
                        let outcome = redis::execute(cmd, session, &self.kv, &self.ctx).await;
                        drop(permit);
                        outcome
                    };
                    self.count(&outcome.reply);
                    emit(&outcome.reply, session, output);
                    if outcome.close || session.hangup.is_closed() {
                        return Ok(true);
                    }
                }
                Access::Keys(keys) => {
                    let conflicts = keys.iter().any(|k| wave_keys.contains(k));
                    if conflicts || wave.len() >= MAX_WAVE {
                        self.run_wave(std::mem::take(&mut wave), session, output).await;
                        wave_keys.clear();
                    }
                    wave_keys.extend(keys);
                    wave.push(parsed);
                }
            }
        }
        self.run_wave(wave, session, output).await;
        Ok(false)
    }

    /// Runs a command that may block (BLPOP & co.) while watching the connection: the
    /// client's further requests are buffered (up to [`MAX_BUFFERED_WHILE_BLOCKED`]) and run
    /// after it, and if the client hangs up the command is told through
    /// [`Session::hangup`], so that it stops waiting without popping anything.
    async fn execute_blocking(
        &self,
        cmd: Command,
        session: &mut Session,
        stream: &mut TcpStream,
        input: &mut BytesMut,
    ) -> redis::Outcome {
        let hangup = session.hangup.clone();
        let execution = redis::execute(cmd, session, &self.kv, &self.ctx);
        tokio::pin!(execution);
        let mut watching = true;
        loop {
            tokio::select! {
                outcome = &mut execution => return outcome,
                // `read_buf` is cancel-safe: nothing read is lost when the command finishes first.
                read = stream.read_buf(input), if watching => match read {
                    Ok(0) | Err(_) => {
                        hangup.signal();
                        watching = false;
                    }
                    Ok(_) => watching = input.len() < MAX_BUFFERED_WHILE_BLOCKED,
                },
            }
        }
    }

    async fn run_wave(
        &self,
        wave: Vec<Result<(Command, OwnedSemaphorePermit), Reply>>,
        session: &mut Session,
        output: &mut BytesMut,
    ) {
        let session_now: &Session = session;
        if wave.is_empty() {
            return;
        }
        let replies = futures::future::join_all(wave.into_iter().map(|parsed| async move {
            match parsed {
                Ok((cmd, _permit)) => {
                    // Keyed commands never change the session; they get a copy.
                    let mut copy = session_now.clone();
                    redis::execute(cmd, &mut copy, &self.kv, &self.ctx).await.reply
                }
                Err(reply) => reply,
            }
        }))
        .await;
        for reply in replies {
            self.count(&reply);
            emit(&reply, session, output);
        }
    }

    fn count(&self, reply: &Reply) {
        let outcome = if matches!(reply, Reply::Error(_)) { "error" } else { "ok" };
        self.metrics.commands.with_label_values(&[outcome]).inc();
    }
}

/// Appends every message already waiting in the inbox.
fn drain_inbox(inbox: &mut Inbox, protocol: ProtocolVersion, output: &mut BytesMut) {
    while let Some(delivery) = inbox.try_recv() {
        delivery.to_reply().encode(protocol, output);
    }
}

/// Encodes a reply unless CLIENT REPLY OFF / SKIP says to drop it. Pub/Sub confirmations
/// (pushes) are written whatever the reply mode, as Redis 7 does (`CLIENT_PUSHING`).
fn emit(reply: &Reply, session: &mut Session, output: &mut BytesMut) {
    let wanted = session.should_reply();
    if wanted || is_push(reply) {
        reply.encode(session.protocol, output);
    }
}

fn is_push(reply: &Reply) -> bool {
    match reply {
        Reply::Push(_) => true,
        Reply::Sequence(replies) => !replies.is_empty() && replies.iter().all(is_push),
        _ => false,
    }
}

#[cfg(unix)]
fn raw_fd(stream: &TcpStream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(stream.as_raw_fd())
}

#[cfg(not(unix))]
fn raw_fd(_stream: &TcpStream) -> i64 {
    -1
}
