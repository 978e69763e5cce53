//! DeleteBucket, 409 BucketNotEmpty while it holds objects.
//!
//! Two steps, so no object can slip in between the emptiness check and the delete: first the
//! bucket is marked `Deleting` (object commits read the bucket record in their transaction, so
//! one racing the mark conflicts, and later ones see the mark and fail with NoSuchBucket);
//! then the objects are scanned at a timestamp after the mark, and the record is deleted — or,
//! if an object is there, restored to `Live`.

use s3s::dto::{DeleteBucketInput, DeleteBucketOutput};
use s3s::{S3Request, S3Response};

use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::{bucket_key, object_range, upload_range};
use crate::s3::store::records::{decode, encode, BucketRecord, BucketState};
use crate::s3::store::{bucket_in, commit, Retry};

pub async fn run<K: KvStore>(kv: &K, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = req.input.bucket;
    set_state(kv, &bucket, BucketState::Live, BucketState::Deleting).await?;
    let ts = kv.timestamp().await?;
    let (start, end) = object_range(&bucket, "");
    let mut empty = kv.scan_at(start, end, 1, false, ts).await?.is_empty();
    if empty {
        let (start, end) = upload_range(&bucket, "");
        empty = kv.scan_at(start, end, 1, false, ts).await?.is_empty();
    }
    if !empty {
        set_state(kv, &bucket, BucketState::Deleting, BucketState::Live).await?;
        return Err(S3Error::BucketNotEmpty);
    }
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
