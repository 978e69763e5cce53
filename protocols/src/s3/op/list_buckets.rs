//! ListBuckets: live buckets in name order, with `prefix`, `max-buckets` and a continuation
//! token (the last name of the previous page) for paging.

use s3s::dto::{Bucket, ListBucketsInput, ListBucketsOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::{bucket_key, bucket_name_of, bucket_range, key_after};
use crate::s3::store::records::{decode, BucketRecord, BucketState};

const PAGE: usize = 1000;
/// AWS's ceiling for `max-buckets`, and the page size without it.
const MAX_BUCKETS: usize = 10_000;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let input = req.input;
    let max = match input.max_buckets {
        Some(n) if !(1..=MAX_BUCKETS as i32).contains(&n) => {
            return Err(S3Error::InvalidArgument(format!("max-buckets must be between 1 and {MAX_BUCKETS}")))
        }
        Some(n) => n as usize,
        None => MAX_BUCKETS,
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let after = input.continuation_token.clone().filter(|t| !t.is_empty());
    let ts = kv.timestamp().await?;
    let (mut from, end) = bucket_range();
    let start = bucket_key(&prefix);
    if start > from {
        from = start;
    }
    if let Some(after) = &after {
        from = from.max(key_after(&bucket_key(after)));
    }
    let mut buckets = Vec::new();
    let mut more = false;
    'scan: loop {
        let page = kv.scan_at(from.clone(), end.clone(), PAGE, false, ts).await?;
        for scanned in &page {
            let (Some(name), Some(value)) = (bucket_name_of(&scanned.key), &scanned.state.value) else { continue };
            if !name.starts_with(prefix.as_str()) {
                break 'scan;
            }
            let record: BucketRecord = decode(value)?;
            if record.state != BucketState::Live {
                continue;
            }
            if buckets.len() == max {
                more = true;
                break 'scan;
            }
            buckets.push(Bucket {
                name: Some(name.to_string()),
                creation_date: Some(super::timestamp(record.created_ms)),
                bucket_region: None,
            });
        }
        match page.last() {
            Some(last) if page.len() == PAGE => from = key_after(&last.key),
            _ => break,
        }
    }
    let continuation_token = if more { buckets.last().and_then(|b| b.name.clone()) } else { None };
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(super::owner()),
        continuation_token,
        prefix: input.prefix,
    }))
}
