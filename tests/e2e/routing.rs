//! The core's routing checks, seen from a raw gRPC client: every request names its range
//! and epoch, and the core answers typed errors the gateway uses to refresh its routes.

use bytes::Bytes;
use strata_proto::core::{
    kv_client::KvClient, mutation, range_error::Kind, GetRequest, Mutation, Put, RangeEpoch, RequestHeader,
    WriteRequest,
};

use crate::cluster::Cluster;

fn header(range_id: u64, version: u64) -> Option<RequestHeader> {
    Some(RequestHeader { range_id, epoch: Some(RangeEpoch { version, conf_version: 1 }) })
}

fn put(key: &'static [u8]) -> Mutation {
    Mutation {
        op: Some(mutation::Op::Put(Put {
            key: Bytes::from_static(key),
            value: Bytes::from_static(b"v"),
            expiry: None,
        })),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_epochs_and_unknown_ranges_get_typed_errors_and_change_nothing() {
    let cluster = Cluster::start().await;
    let leader = cluster.wait_for_leader(None).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let mut client = KvClient::connect(format!("http://{}", cluster.core(leader).addr)).await.unwrap();

    let stale = WriteRequest { header: header(1, 0), mutations: vec![put(b"epoch:key")], ..Default::default() };
    let resp = client.write(stale).await.unwrap().into_inner();
    match resp.range_error.and_then(|e| e.kind) {
        Some(Kind::EpochNotMatch(m)) => {
            let current = &m.current_ranges[0];
            assert_eq!(current.range_id, 1);
            assert_eq!(current.epoch.unwrap().version, 1, "the error carries the current descriptor");
            assert_eq!(current.leader_node_id, leader);
            assert!(current.leader_term >= 1);
        }
        other => panic!("expected EpochNotMatch, got {other:?}"),
    }
    let unknown = GetRequest { header: header(99, 1), keys: vec![Bytes::from_static(b"epoch:key")] };
    let resp = client.get(unknown).await.unwrap().into_inner();
    assert!(matches!(resp.range_error.and_then(|e| e.kind), Some(Kind::RangeNotFound(r)) if r.range_id == 99));

    // A follower names the leader (and its term) instead of serving the write.
    let mut at_follower = KvClient::connect(format!("http://{}", cluster.core(follower).addr)).await.unwrap();
    let write = WriteRequest { header: header(1, 1), mutations: vec![put(b"epoch:key")], ..Default::default() };
    let resp = at_follower.write(write).await.unwrap().into_inner();
    match resp.range_error.and_then(|e| e.kind) {
        Some(Kind::NotLeader(nl)) => {
            assert_eq!(nl.leader_node_id, leader);
            assert_eq!(nl.leader_addr, cluster.core(leader).addr);
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }

    // None of the refused writes happened.
    let check = GetRequest { header: header(1, 1), keys: vec![Bytes::from_static(b"epoch:key")] };
    let resp = client.get(check).await.unwrap().into_inner();
    assert!(resp.range_error.is_none());
    assert!(!resp.states[0].live, "no refused write was applied");
}
