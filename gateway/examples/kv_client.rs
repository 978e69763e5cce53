//! A client of Strata's public gRPC API (`strata.kv.v1` RawKV and TxnKV) using the tonic
//! clients generated in `strata-proto`; docs/grpc.md walks through it.
//!
//! Start a cluster (`strata dev`), then:
//!
//! ```sh
//! cargo run -p strata-gateway --example kv_client -- http://127.0.0.1:50051
//! ```

use strata_proto::kv::raw_kv_client::RawKvClient;
use strata_proto::kv::txn_kv_client::TxnKvClient;
use strata_proto::kv::*;
use tonic::transport::Channel;
use tonic::Code;

/// The gateway accepts and sends messages up to this size (one 512 MiB value and then some);
/// tonic clients receive at most 4 MiB unless told otherwise.
const MAX_MESSAGE: usize = (1 << 30) + (1 << 20);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:50051".into());
    // One channel to one gateway: a transaction lives in the gateway that began it.
    let channel = Channel::from_shared(addr)?.connect().await?;
    let mut raw = RawKvClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE);
    let mut txn = TxnKvClient::new(channel).max_decoding_message_size(MAX_MESSAGE);

    // RawKV: single operations, each atomic and linearizable.
    raw.put(RawPutRequest { key: "greeting".into(), value: "hello".into(), ttl_ms: 60_000 }).await?;
    let got = raw.get(RawGetRequest { key: "greeting".into(), max_staleness_ms: 0 }).await?.into_inner();
    println!("greeting: found={} value={:?}", got.found, got.value);

    let pairs = ["user/1", "user/2", "user/3"]
        .map(|k| KvPair { key: k.as_bytes().to_vec().into(), value: "{}".into() })
        .to_vec();
    raw.batch_put(RawBatchPutRequest { pairs, ttl_ms: 0 }).await?; // all or nothing
    let scan =
        RawScanRequest { start: "user/".into(), end: "user0".into(), limit: 100, reverse: true, max_staleness_ms: 0 };
    for pair in raw.scan(scan).await?.into_inner().pairs {
        println!("scanned {:?}", pair.key);
    }

    // Compare-and-swap: take a lease only if nobody holds it.
    let cas = CompareAndSwapRequest {
        key: "lease".into(),
        expect_absent: true,
        new_value: "me".into(),
        ttl_ms: 10_000,
        ..Default::default()
    };
    let swapped = raw.compare_and_swap(cas).await?.into_inner();
    println!("lease taken: {} (holder before: {:?})", swapped.swapped, swapped.previous);

    // TxnKV: move 10 from one balance to another, restarting on a write conflict.
    raw.batch_put(RawBatchPutRequest {
        pairs: vec![
            KvPair { key: "balance/alice".into(), value: "100".into() },
            KvPair { key: "balance/bob".into(), value: "0".into() },
        ],
        ttl_ms: 0,
    })
    .await?;
    let commit_ts = loop {
        let BeginResponse { txn_id, .. } = txn.begin(BeginRequest {}).await?.into_inner();
        let alice = read_number(&mut txn, txn_id, "balance/alice").await?;
        let bob = read_number(&mut txn, txn_id, "balance/bob").await?;
        for (key, value) in [("balance/alice", alice - 10), ("balance/bob", bob + 10)] {
            let put = TxnPutRequest { txn_id, key: key.into(), value: value.to_string().into() };
            txn.put(put).await?;
        }
        match txn.commit(CommitRequest { txn_id }).await {
            Ok(resp) => break resp.into_inner().commit_ts,
            // Another transaction wrote one of our keys first: nothing was written, run again.
            Err(status) if status.code() == Code::Aborted => continue,
            Err(status) => return Err(status.into()),
        }
    };
    println!("transfer committed at {commit_ts}");
    Ok(())
}

/// A number stored as text, read in transaction `txn_id` (0 if absent).
async fn read_number(txn: &mut TxnKvClient<Channel>, txn_id: u64, key: &'static str) -> Result<i64, tonic::Status> {
    let got = txn.get(TxnGetRequest { txn_id, key: key.into() }).await?.into_inner();
    Ok(if got.found { String::from_utf8_lossy(&got.value).parse().unwrap_or(0) } else { 0 })
}
