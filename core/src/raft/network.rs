//! Raft messages between replicas over gRPC. openraft's request and response types travel as
//! postcard bytes inside a `RaftMessage`, tagged with the range id so one connection between
//! two nodes carries every group they share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use strata_proto::core::raft_transport_client::RaftTransportClient;
use strata_proto::core::RaftMessage;
use tonic::transport::{Channel, Endpoint};

use super::log_store::{decode, encode};
use super::state_machine::AppliedState;
use super::types::{NodeId, TypeConfig};

/// Lazily connected channels to peer nodes, shared by all ranges on this node.
#[derive(Clone, Default)]
pub struct PeerChannels {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// Appends of every range, coalesced per peer.
    appends: super::batch::AppendBatchers,
}

impl PeerChannels {
    pub fn get(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let dial = strata_proto::test_hooks::dial_address(addr);
        let ch = Endpoint::from_shared(format!("http://{dial}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

pub struct NetworkFactory {
    pub channels: PeerChannels,
    pub range_id: u64,
    /// The range's applied state, for the bounds every message carries.
    pub shared: Arc<AppliedState>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
            range_id: self.range_id,
            shared: self.shared.clone(),
        }
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    channels: PeerChannels,
    range_id: u64,
    shared: Arc<AppliedState>,
}

type RpcResult<T, E = openraft::error::Infallible> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn call<Req, Resp, E>(&self, kind: RpcKind, req: &Req, option: &RPCOption) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let channel = self.channels.get(&self.addr).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let descriptor = self.shared.descriptor();
        let message = RaftMessage {
            range_id: self.range_id,
            payload: payload.into(),
            start_key: descriptor.start_key,
            end_key: descriptor.end_key,
            error: String::new(),
        };
        let response = match kind {
            RpcKind::Append => {
                let sent = self.channels.appends.send(&self.addr, channel, message);
                match tokio::time::timeout(option.hard_ttl(), sent).await {
                    Ok(result) => result.map(tonic::Response::new),
                    Err(_) => Err(tonic::Status::deadline_exceeded("append timed out")),
                }
            }
            RpcKind::Vote | RpcKind::Snapshot => {
                let mut client = RaftTransportClient::new(channel).max_decoding_message_size(usize::MAX);
                let mut request = tonic::Request::new(message);
                request.set_timeout(option.hard_ttl());
                match kind {
                    RpcKind::Vote => client.vote(request).await,
                    _ => client.install_snapshot(request).await,
                }
            }
        };
        let response = response.map_err(|status| match status.code() {
            // Connection refused / reset: back off instead of hammering a dead peer.
            tonic::Code::Unavailable | tonic::Code::Unknown => RPCError::Unreachable(Unreachable::new(&status)),
            _ => RPCError::Network(NetworkError::new(&status)),
        })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            decode(&response.into_inner().payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

#[derive(Clone, Copy)]
enum RpcKind {
    Append,
    Vote,
    Snapshot,
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        // openraft gives every AppendEntries one heartbeat interval and counts entries, not
        // bytes: 64 entries of megabyte S3 chunks cannot cross in that time, and a leader
        // catching a follower up would resend them forever. Send a prefix within a byte
        // budget and report how far it got (openraft's PartialSuccess), so catching up
        // proceeds a few megabytes per round trip.
        let sent_to = truncate_to_budget(&mut rpc.entries, APPEND_BYTES_BUDGET);
        let response = self.call(RpcKind::Append, &rpc, &option).await?;
        Ok(match (response, sent_to) {
            (AppendEntriesResponse::Success, Some(last)) => AppendEntriesResponse::PartialSuccess(Some(last)),
            (other, _) => other,
        })
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(RpcKind::Snapshot, &rpc, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> RpcResult<VoteResponse<NodeId>> {
        self.call(RpcKind::Vote, &rpc, &option).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// Entry bytes one AppendEntries carries when it has more than one entry to send.
const APPEND_BYTES_BUDGET: usize = 4 << 20;

/// Keeps the longest prefix of `entries` (at least one) whose encoded size fits `budget`; when
/// entries were cut, returns the log id of the last one kept.
fn truncate_to_budget<E: Serialize + openraft::RaftLogId<NodeId>>(
    entries: &mut Vec<E>,
    budget: usize,
) -> Option<openraft::LogId<NodeId>> {
    let mut used = 0usize;
    let mut keep = 0usize;
    for entry in entries.iter() {
        let size = postcard::experimental::serialized_size(entry).unwrap_or(usize::MAX);
        if keep > 0 && used.saturating_add(size) > budget {
            break;
        }
        used = used.saturating_add(size);
        keep += 1;
    }
    if keep >= entries.len() {
        return None;
    }
    entries.truncate(keep);
    entries.last().map(|e| *e.get_log_id())
}

#[cfg(test)]
mod budget_tests {
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

    use super::*;

    fn blank(index: u64) -> Entry<TypeConfig> {
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Blank }
    }

    #[test]
    fn entries_past_the_budget_wait_for_the_next_round_but_one_always_goes() {
        let mut entries: Vec<_> = (1..=10).map(blank).collect();
        let one = postcard::experimental::serialized_size(&entries[0]).unwrap();
        let cut = truncate_to_budget(&mut entries, one * 3);
        assert_eq!(entries.len(), 3);
        assert_eq!(cut.map(|l| l.index), Some(3));

        let mut whole: Vec<_> = (1..=3).map(blank).collect();
        assert_eq!(truncate_to_budget(&mut whole, usize::MAX), None, "nothing cut, nothing to report");
        assert_eq!(whole.len(), 3);

        let mut big: Vec<_> = (1..=2).map(blank).collect();
        assert_eq!(truncate_to_budget(&mut big, 0).map(|l| l.index), Some(1), "one entry even over the budget");
    }
}
