//! ListBuckets: every live bucket, in name order.

use bytes::Bytes;
use s3s::dto::{Bucket, ListBucketsInput, ListBucketsOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::keys::{bucket_name_of, bucket_range};
use crate::s3::store::records::{decode, BucketRecord, BucketState};

const PAGE: usize = 1000;

pub async fn run<K: KvStore>(kv: &K, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let ts = kv.timestamp().await?;
    let (mut from, end) = bucket_range();
    let mut buckets = Vec::new();
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), PAGE, false, ts).await?;
        for scanned in &page {
            let (Some(name), Some(value)) = (bucket_name_of(&scanned.key), &scanned.state.value) else { continue };
            let record: BucketRecord = decode(value)?;
            if record.state == BucketState::Live {
                buckets.push(Bucket {
                    name: Some(name.to_string()),
                    creation_date: Some(super::timestamp(record.created_ms)),
                    bucket_region: None,
                });
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => from = Bytes::from([&last.key[..], &[0]].concat()),
            _ => break,
        }
    }
    Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), owner: Some(super::owner()), ..Default::default() }))
}
