//! How a core node reaches the meta leader's `Catalog` service.

use std::time::Duration;

use strata_proto::core as pb;
use strata_proto::core::catalog_client::CatalogClient;
use tonic::Status;

use super::service::LEADER_METADATA;
use crate::raft::network::PeerChannels;
use crate::raft::types::META_RANGE_ID;
use crate::service::Replicas;

const ATTEMPTS: usize = 20;

#[derive(Clone)]
pub struct MetaClient {
    replicas: Replicas,
    channels: PeerChannels,
}

impl MetaClient {
    pub fn new(replicas: Replicas, channels: PeerChannels) -> Self {
        Self { replicas, channels }
    }

    /// Where to look for the meta leader: the leader this node knows of, then every member.
    fn candidates(&self) -> Vec<String> {
        let Some(meta) = self.replicas.get(META_RANGE_ID) else { return Vec::new() };
        let mut addrs: Vec<String> = meta.leader().map(|(_, addr)| addr).into_iter().collect();
        for (_, addr) in meta.descriptor().replicas {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        addrs
    }

    /// Runs `call` against the meta leader, following leader hints, for a few seconds.
    async fn with_leader<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(CatalogClient<tonic::transport::Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let mut last = Status::unavailable("no meta replica known");
        let mut hint: Option<String> = None;
        for attempt in 0..ATTEMPTS {
            let candidates = self.candidates();
            let addr = match hint.take() {
                Some(addr) => addr,
                None if candidates.is_empty() => return Err(last),
                None => candidates[attempt % candidates.len()].clone(),
            };
            let channel = self.channels.get(&addr).map_err(|e| Status::unavailable(e.to_string()))?;
            match call(CatalogClient::new(channel)).await {
                Ok(value) => return Ok(value),
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    hint = status.metadata().get(LEADER_METADATA).and_then(|v| v.to_str().ok()).map(String::from);
                    last = status;
                    if hint.is_none() {
                        tokio::time::sleep(Duration::from_millis(50 << attempt.min(4))).await;
                    }
                }
                Err(status) => return Err(status),
            }
        }
        Err(last)
    }

    pub async fn allocate_range_id(&self) -> Result<u64, Status> {
        self.with_leader(|mut client| async move {
            Ok(client.allocate_range_id(pb::AllocateRangeIdRequest {}).await?.into_inner().range_id)
        })
        .await
    }

    pub async fn report(&self, ranges: Vec<pb::RangeDescriptor>) -> Result<u64, Status> {
        self.with_leader(|mut client| {
            let ranges = ranges.clone();
            async move { Ok(client.report_ranges(pb::ReportRangesRequest { ranges }).await?.into_inner().catalog_version) }
        })
        .await
    }

    /// A fresh timestamp from the oracle (the meta leader).
    pub async fn timestamp(&self) -> Result<u64, Status> {
        self.with_leader(|mut client| async move {
            Ok(client.get_timestamps(pb::GetTimestampsRequest { count: 1 }).await?.into_inner().first)
        })
        .await
    }
}
