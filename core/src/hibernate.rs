//! Idle ranges go quiet, so a node can hold many ranges that nobody uses.
//!
//! A leader whose range saw no client request for `after` and whose followers have every
//! entry turns its heartbeats off (openraft's runtime config); the first request wakes it.
//! Followers would then campaign when their election timer runs out, so elections are
//! instead governed by one liveness ping per peer *node*: a follower campaigns only once it
//! has heard neither a ping answer from the leader's node nor an append for the range for
//! `election_timeout_max`. That is no sooner than the plain election timer would have fired
//! after the leader's last contact, so the leader's read lease keeps its guarantee.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use strata_proto::core::raft_transport_client::RaftTransportClient;
use strata_proto::core::RaftBatch;

use crate::node::Node;
use crate::replica::mono_ms;

const TICK: Duration = Duration::from_millis(200);
const PING_TIMEOUT: Duration = Duration::from_millis(300);

pub async fn hibernate_loop(node: Arc<Node>, after: Duration) {
    let me = node.config.node_id;
    let election_timeout_max = node.config.raft.election_timeout_max_ms;
    let peers: Vec<String> =
        node.config.peers.iter().filter(|(id, _)| *id != me).map(|(_, addr)| addr.clone()).collect();
    let mut last_ok: HashMap<String, u64> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let pings = peers.iter().map(|addr| {
            let channel = node.channels().get(addr);
            async move {
                let mut client = RaftTransportClient::new(channel.ok()?);
                let ping = client.append_entries_batch(RaftBatch { messages: vec![] });
                tokio::time::timeout(PING_TIMEOUT, ping).await.ok()?.ok().map(|_| addr.clone())
            }
        });
        let now = mono_ms();
        for addr in futures::future::join_all(pings).await.into_iter().flatten() {
            last_ok.insert(addr, now);
        }
        for replica in node.replicas.all() {
            let m = replica.raft.metrics().borrow().clone();
            let quiet = &replica.quiet;
            if m.current_leader == Some(me) {
                let idle =
                    now.saturating_sub(quiet.last_activity_ms.load(Ordering::Relaxed)) > after.as_millis() as u64;
                let caught_up = m
                    .replication
                    .as_ref()
                    .is_some_and(|r| r.values().all(|matched| matched.map(|l| l.index) == m.last_log_index));
                if idle && caught_up && !quiet.hibernating.load(Ordering::Acquire) {
                    quiet.hibernating.store(true, Ordering::Release);
                    replica.raft.runtime_config().heartbeat(false);
                }
                continue;
            }
            if quiet.hibernating.swap(false, Ordering::AcqRel) {
                replica.raft.runtime_config().heartbeat(true); // deposed while quiet
            }
            let leader_alive = replica.leader().is_some_and(|(_, addr)| {
                let heard = last_ok.get(&addr).copied().unwrap_or(0).max(quiet.last_append_ms.load(Ordering::Relaxed));
                heard > 0 && now.saturating_sub(heard) < election_timeout_max
            });
            replica.raft.runtime_config().elect(!leader_alive);
        }
    }
}
