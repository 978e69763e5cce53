//! Two or three hubs linked through real gRPC servers on loopback (no core: peers are set by
//! hand, as the membership task would).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_protocols::redis::pubsub::{OutputLimits, PubSub, SubscriptionChange};
use tokio_stream::wrappers::TcpListenerStream;

use super::service::PubSubService;
use super::{Hub, PeerAddr, PubSubMetrics, COUNT_WAIT};
use crate::metrics::GatewayMetrics;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A hub serving its PubSub service on a free loopback port.
async fn serve_hub(id: &str) -> (Arc<Hub>, String) {
    let hub = Hub::new(id.to_string(), OutputLimits::default(), PubSubMetrics::register(&GatewayMetrics::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let service = PubSubService::server(hub.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
    });
    (hub, addr)
}

fn link(hubs: &[(&Arc<Hub>, &str)]) {
    let all: Vec<PeerAddr> =
        hubs.iter().map(|(hub, addr)| PeerAddr { id: hub.id().to_string(), addr: addr.to_string() }).collect();
    for (hub, _) in hubs {
        hub.set_peers(all.clone());
    }
}

#[tokio::test]
async fn a_message_reaches_subscribers_on_every_hub_in_order() {
    let (a, a_addr) = serve_hub("a").await;
    let (b_hub, b_addr) = serve_hub("b").await;
    link(&[(&a, &a_addr), (&b_hub, &b_addr)]);
    assert_eq!(a.peers().len(), 1, "a hub never lists itself");

    b_hub.update(1, &[SubscriptionChange::Subscribe(b("ch")), SubscriptionChange::PSubscribe(b("c*"))]);
    a.update(2, &[SubscriptionChange::Subscribe(b("ch"))]);
    let mut on_b = b_hub.take_inbox(1).unwrap();
    let mut on_a = a.take_inbox(2).unwrap();

    // Issued one after another without awaiting: delivered in issue order all the same.
    let counts: Vec<_> = (0..200).map(|i| a.publish(b("ch"), Bytes::from(i.to_string()))).collect();
    let counts = futures::future::join_all(counts).await;
    assert!(counts.iter().all(|&n| n == 3), "one local and two remote receivers each: {counts:?}");
    for i in 0..200 {
        for expect_pattern in [false, true] {
            let delivery = tokio::time::timeout(Duration::from_secs(5), on_b.recv()).await.unwrap().unwrap();
            assert_eq!(delivery.payload, Bytes::from(i.to_string()));
            assert_eq!(delivery.pattern.is_some(), expect_pattern);
        }
        assert_eq!(on_a.try_recv().unwrap().payload, Bytes::from(i.to_string()));
    }

    assert_eq!(a.numsub(vec![b("ch"), b("none")]).await, vec![2, 0]);
    assert_eq!(b_hub.numpat().await, 1);
    b_hub.update(3, &[SubscriptionChange::PSubscribe(b("c*"))]);
    a.update(4, &[SubscriptionChange::PSubscribe(b("c*")), SubscriptionChange::PSubscribe(b("d*"))]);
    assert_eq!(a.numpat().await, 2, "distinct patterns over both hubs");
    let mut channels = b_hub.channels(None).await;
    channels.sort();
    assert_eq!(channels, vec![b("ch")], "one channel, listed once");
    assert!(b_hub.channels(Some(b("x*"))).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_peer_neither_blocks_nor_counts() {
    let (a, a_addr) = serve_hub("a").await;
    let (b_hub, b_addr) = serve_hub("b").await;
    // A peer whose lease names an address where nothing listens.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut peers =
        vec![PeerAddr { id: "a".into(), addr: a_addr.clone() }, PeerAddr { id: "b".into(), addr: b_addr.clone() }];
    peers.push(PeerAddr { id: "dead".into(), addr: dead_addr });
    a.set_peers(peers);
    b_hub.update(1, &[SubscriptionChange::Subscribe(b("ch"))]);
    let _inbox = b_hub.take_inbox(1).unwrap();

    let started = std::time::Instant::now();
    assert_eq!(a.publish(b("ch"), b("m")).await, 1, "the live peer's receiver counts");
    assert!(started.elapsed() < COUNT_WAIT + Duration::from_millis(500));
    assert_eq!(a.numsub(vec![b("ch")]).await, vec![1]);

    // Peers that leave the list are dropped.
    a.set_peers(vec![PeerAddr { id: "a".into(), addr: a_addr }]);
    assert!(a.peers().is_empty());
    assert_eq!(a.publish(b("ch"), b("m")).await, 0);
}
