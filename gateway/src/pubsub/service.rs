//! The internal `strata.gateway.v1.PubSub` service: what peer gateways call on this one.

use std::sync::Arc;

use strata_proto::gateway::pub_sub_server::{PubSub as PubSubRpc, PubSubServer};
use strata_proto::gateway::stats_request::Query;
use strata_proto::gateway::{DeliverRequest, DeliverResponse, StatsRequest, StatsResponse};
use tonic::{Request, Response, Status};

use super::Hub;

/// Largest message accepted from a peer: a maximum-size Redis value plus framing.
const MAX_MESSAGE_BYTES: usize = (1 << 30) + (1 << 20);

pub struct PubSubService {
    hub: Arc<Hub>,
}

impl PubSubService {
    /// The service with its message size limits, to add to the gRPC listener's routes.
    pub fn server(hub: Arc<Hub>) -> PubSubServer<PubSubService> {
        PubSubServer::new(PubSubService { hub })
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl PubSubRpc for PubSubService {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<Response<DeliverResponse>, Status> {
        let request = request.into_inner();
        let local = self.hub.local();
        // Delivered here only: a message from a peer is never forwarded again.
        let receivers: Vec<u64> = request.messages.iter().map(|m| local.deliver(&m.channel, &m.payload)).collect();
        self.hub.metrics().messages.with_label_values(&["received"]).inc_by(receivers.len() as u64);
        Ok(Response::new(DeliverResponse { receivers }))
    }

    async fn stats(&self, request: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let local = self.hub.local();
        let response = match request.into_inner().query {
            Some(Query::Channels(query)) => {
                StatsResponse { names: local.local_channels(query.pattern.as_deref()), counts: Vec::new() }
            }
            Some(Query::Numsub(query)) => {
                StatsResponse { names: Vec::new(), counts: local.local_numsub(&query.channels) }
            }
            Some(Query::Numpat(_)) => StatsResponse { names: local.local_patterns(), counts: Vec::new() },
            None => return Err(Status::invalid_argument("a Stats request needs a query")),
        };
        Ok(Response::new(response))
    }
}
