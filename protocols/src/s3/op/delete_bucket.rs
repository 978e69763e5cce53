//! DeleteBucket, 409 BucketNotEmpty while it holds objects.
//!
//! Two steps, so no object can slip in between the emptiness check and the delete: first the
//! bucket is marked `Deleting` (object commits read the bucket record in their transaction, so
//! one racing the mark conflicts, and later ones see the mark and fail with NoSuchBucket);
//! then the objects are scanned at a timestamp after the mark, and the record is deleted — or,
//! if an object is there, restored to `Live`.
//!
//! Multipart uploads still open do not keep the bucket alive: as on AWS, they are aborted with
//! it (none can start once the mark is set, and none can complete past it).

use s3s::dto::{DeleteBucketInput, DeleteBucketOutput};
use s3s::{S3Request, S3Response};

use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::{bucket_key, key_after, object_range, upload_of, upload_range};
use crate::s3::store::multipart::abort_upload;
use crate::s3::store::records::{decode, encode, BucketRecord, BucketState};
use crate::s3::store::{bucket_in, commit, Retry};

pub async fn run<K: KvStore>(kv: &K, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = req.input.bucket;
    set_state(kv, &bucket, BucketState::Live, BucketState::Deleting).await?;
    let ts = kv.timestamp().await?;
    let (start, end) = object_range(&bucket, "");
    if !kv.scan_at(start, end, 1, false, ts).await?.is_empty() {
        set_state(kv, &bucket, BucketState::Deleting, BucketState::Live).await?;
        return Err(S3Error::BucketNotEmpty);
    }
    abort_open_uploads(kv, &bucket, ts).await?;
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        txn.get(vec![bucket_key(&bucket)]).await?;
        txn.write(Vec::new(), vec![Mutation::Delete { key: bucket_key(&bucket) }]).await?;
        if commit(kv, txn).await? {
            return Ok(S3Response::new(DeleteBucketOutput {}));
        }
        retry.pause().await?;
    }
}

async fn abort_open_uploads<K: KvStore>(kv: &K, bucket: &str, ts: u64) -> S3Result<()> {
    let (mut from, end) = upload_range(bucket, "");
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), 1000, false, ts).await?;
        for scanned in &page {
            let Some((key, upload_id)) = upload_of(bucket, &scanned.key) else { continue };
            match abort_upload(kv, bucket, key, upload_id).await {
                Ok(()) | Err(S3Error::NoSuchUpload) => {}
                Err(e) => return Err(e),
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => from = key_after(&last.key),
            _ => return Ok(()),
        }
    }
}

async fn set_state<K: KvStore>(kv: &K, bucket: &str, from: BucketState, to: BucketState) -> S3Result<()> {
    let key = bucket_key(bucket);
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        let mut record: BucketRecord = if from == BucketState::Live {
            bucket_in(&txn, bucket).await?
        } else {
            let read = txn.get(vec![key.clone()]).await?;
            match read.states.into_iter().next().and_then(|s| s.value) {
                Some(value) => decode(&value)?,
                None => return Ok(()),
            }
        };
        if record.state != from {
            return Ok(());
        }
        record.state = to.clone();
        txn.write(Vec::new(), vec![Mutation::Put { key: key.clone(), value: encode(&record), expiry: Expiry::Never }])
            .await?;
        if commit(kv, txn).await? {
            return Ok(());
        }
        retry.pause().await?;
    }
}
