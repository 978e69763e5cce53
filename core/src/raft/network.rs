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
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        self.call(RpcKind::Append, &rpc, &option).await
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
