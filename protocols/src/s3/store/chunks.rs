//! Object bytes as chunks: written while the request body streams in, read back as a stream.
//!
//! A write takes a fresh *data id* from the oracle, records it as pending (`W` + id, so the
//! chunk collector leaves its chunks alone while the upload runs), then writes each 1 MiB of
//! body as one KV entry (one quorum write) as soon as it has arrived — a few in flight at once,
//! so memory per request stays bounded by `CHUNK_SIZE × (WRITES_IN_FLIGHT + 1)` whatever the
//! object size. The caller then commits the manifest naming the data id (and deletes the
//! pending record) in one transaction, so readers never see a partial object.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use s3s::crypto::{Checksum as _, Md5};
use tokio::sync::mpsc;

use super::keys::{chunk_key, pending_key};
use super::records::Segment;
use crate::kv::{Expiry, KvError, KvStore, Mutation, WriteOutcome};
use crate::s3::error::{S3Error, S3Result};

/// Bytes per chunk of newly written data.
pub const CHUNK_SIZE: usize = 1 << 20;
/// Chunk writes one upload keeps in flight.
const WRITES_IN_FLIGHT: usize = 4;
/// Chunk writes all uploads of this process keep in flight together. Without a shared bound,
/// a client uploading many parts at once (the aws CLI sends 10) puts tens of MiB into the
/// write batches of one range leader; replicating them outlasts the gateway's RPC timeout, the
/// leader's circuit breaker opens and the uploads fail. Waiting here instead slows the
/// clients' bodies down (TCP backpressure) and keeps each batch a few MiB.
const GATEWAY_WRITES_IN_FLIGHT: usize = 8;
static GATEWAY_WRITES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(GATEWAY_WRITES_IN_FLIGHT);
/// Chunks a reader fetches ahead of the client.
const READ_AHEAD: usize = 2;

/// Running digests of a body: MD5 (the ETag) and the x-amz-checksum-* algorithms asked for.
pub struct BodyDigests {
    pub md5: Md5,
    pub checksums: s3s::checksum::ChecksumHasher,
}

/// What a finished chunk write produced.
pub struct WrittenData {
    pub segment: Segment,
    pub md5: [u8; 16],
    pub checksums: s3s::dto::Checksum,
}

/// Writes `body` as chunks of a new data id. `expected_len` (Content-Length, when known) must
/// match what arrives.
pub async fn write_body<K, S, E>(
    kv: &K,
    mut body: S,
    expected_len: Option<u64>,
    mut digests: BodyDigests,
) -> S3Result<WrittenData>
where
    K: KvStore + Clone + 'static,
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let data_id = kv.timestamp().await?;
    put(kv, pending_key(data_id), Bytes::from_static(b"1")).await?;
    let mut buffer = BytesMut::new();
    let mut in_flight: VecDeque<tokio::task::JoinHandle<Result<(), KvError>>> = VecDeque::new();
    let mut next_index: u32 = 0;
    let mut size: u64 = 0;
    let result = async {
        loop {
            let piece = body.next().await.transpose().map_err(|e| S3Error::Body(e.to_string()))?;
            let done = piece.is_none();
            if let Some(piece) = piece {
                size += piece.len() as u64;
                if expected_len.is_some_and(|want| size > want) {
                    return Err(S3Error::InvalidRequest("the body is longer than its Content-Length".into()));
                }
                digests.md5.update(&piece);
                digests.checksums.update(&piece);
                buffer.extend_from_slice(&piece);
            }
            while buffer.len() >= CHUNK_SIZE || (done && !buffer.is_empty()) {
                let take = buffer.len().min(CHUNK_SIZE);
                let chunk = buffer.split_to(take).freeze();
                if in_flight.len() >= WRITES_IN_FLIGHT {
                    join(in_flight.pop_front()).await?;
                }
                let permit = GATEWAY_WRITES
                    .acquire()
                    .await
                    .map_err(|_| S3Error::Kv(KvError::Internal("chunk write limiter closed".into())))?;
                let kv = kv.clone();
                let key = chunk_key(data_id, next_index);
                in_flight.push_back(tokio::spawn(async move {
                    let _permit = permit;
                    put(&kv, key, chunk).await
                }));
                next_index = next_index
                    .checked_add(1)
                    .ok_or_else(|| S3Error::InvalidRequest("the body has too many chunks".into()))?;
            }
            if done {
                break;
            }
        }
        while let Some(handle) = in_flight.pop_front() {
            join(Some(handle)).await?;
        }
        if expected_len.is_some_and(|want| size != want) {
            return Err(S3Error::IncompleteBody);
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for handle in in_flight {
            handle.abort();
        }
        return Err(e);
    }
    Ok(WrittenData {
        segment: Segment { data_id, size, chunk_size: CHUNK_SIZE as u32 },
        md5: digests.md5.finalize(),
        checksums: digests.checksums.finalize(),
    })
}

async fn join(handle: Option<tokio::task::JoinHandle<Result<(), KvError>>>) -> S3Result<()> {
    match handle {
        None => Ok(()),
        Some(handle) => handle.await.map_err(|e| S3Error::Kv(KvError::Internal(e.to_string())))?.map_err(Into::into),
    }
}

async fn put<K: KvStore>(kv: &K, key: Bytes, value: Bytes) -> Result<(), KvError> {
    match kv.write(Vec::new(), vec![Mutation::Put { key, value, expiry: Expiry::Never }]).await? {
        WriteOutcome::Committed { .. } => Ok(()),
        WriteOutcome::ConditionFailed => {
            Err(KvError::Internal("unconditional write reported a failed condition".into()))
        }
    }
}

/// One chunk read: which chunk, and which bytes of it the reader wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRead {
    pub data_id: u64,
    pub index: u32,
    pub from: usize,
    pub to: usize,
}

/// The chunk reads that return bytes `[start, end)` of the concatenation of `segments`.
pub fn plan_reads(segments: &[Segment], start: u64, end: u64) -> Vec<ChunkRead> {
    let mut reads = Vec::new();
    let mut offset = 0u64;
    for segment in segments {
        let (seg_start, seg_end) = (offset, offset + segment.size);
        offset = seg_end;
        if seg_end <= start || seg_start >= end || segment.size == 0 {
            continue;
        }
        let chunk_size = u64::from(segment.chunk_size.max(1));
        let from = start.max(seg_start) - seg_start;
        let to = end.min(seg_end) - seg_start;
        let mut index = from / chunk_size;
        while index * chunk_size < to {
            let chunk_start = index * chunk_size;
            let chunk_end = (chunk_start + chunk_size).min(segment.size);
            reads.push(ChunkRead {
                data_id: segment.data_id,
                index: index as u32,
                from: (from.max(chunk_start) - chunk_start) as usize,
                to: (to.min(chunk_end) - chunk_start) as usize,
            });
            index += 1;
        }
    }
    reads
}

/// The bytes of `reads`, fetched by a background task a few chunks ahead of the consumer; the
/// task stops when the stream is dropped.
pub fn read_stream<K: KvStore + Clone + 'static>(kv: &K, reads: Vec<ChunkRead>) -> ChunkStream {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let kv = kv.clone();
    tokio::spawn(async move {
        for read in reads {
            let bytes = read_one(&kv, &read).await;
            let failed = bytes.is_err();
            if tx.send(bytes).await.is_err() || failed {
                return;
            }
        }
    });
    ChunkStream { rx }
}

async fn read_one<K: KvStore>(kv: &K, read: &ChunkRead) -> S3Result<Bytes> {
    let snapshot = kv.get(vec![chunk_key(read.data_id, read.index)]).await?;
    let value = snapshot.states.into_iter().next().and_then(|s| s.value).ok_or_else(|| {
        S3Error::Corrupt(format!(
            "chunk {} of data {} is missing (the object was replaced meanwhile?)",
            read.index, read.data_id
        ))
    })?;
    if read.to > value.len() || read.from > read.to {
        return Err(S3Error::Corrupt(format!(
            "chunk {} of data {} is shorter than expected",
            read.index, read.data_id
        )));
    }
    Ok(value.slice(read.from..read.to))
}

/// The body of a GET: chunks in order.
pub struct ChunkStream {
    rx: mpsc::Receiver<S3Result<Bytes>>,
}

impl Stream for ChunkStream {
    type Item = S3Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(data_id: u64, size: u64, chunk_size: u32) -> Segment {
        Segment { data_id, size, chunk_size }
    }

    #[test]
    fn a_range_inside_one_chunk_reads_one_slice() {
        let reads = plan_reads(&[seg(1, 100, 10)], 12, 15);
        assert_eq!(reads, vec![ChunkRead { data_id: 1, index: 1, from: 2, to: 5 }]);
    }

    #[test]
    fn ranges_cross_chunks_and_segments() {
        let segments = [seg(1, 25, 10), seg(2, 10, 4)];
        let reads = plan_reads(&segments, 8, 31);
        let got: Vec<_> = reads.iter().map(|r| (r.data_id, r.index, r.from, r.to)).collect();
        assert_eq!(got, vec![(1, 0, 8, 10), (1, 1, 0, 10), (1, 2, 0, 5), (2, 0, 0, 4), (2, 1, 0, 2)]);
        let total: usize = reads.iter().map(|r| r.to - r.from).sum();
        assert_eq!(total, 23);
        assert!(plan_reads(&segments, 0, 0).is_empty());
        assert_eq!(plan_reads(&segments, 0, 35).iter().map(|r| r.to - r.from).sum::<usize>(), 35);
    }
}
