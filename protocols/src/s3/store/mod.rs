//! S3's storage layer over [`KvStore`]: bucket records, object manifests, multipart uploads
//! and chunk data ([`keys`] has the layout), plus the transactions that change them.

pub mod chunks;
pub mod gc;
pub mod keys;
pub mod listing;
pub mod multipart;
pub mod records;

use bytes::Bytes;

use self::keys::{bucket_key, object_key, pending_key};
use self::records::{decode, encode, BucketRecord, BucketState, ObjectManifest};
use crate::kv::{Expiry, KvError, KvStore, Mutation, TxnOutcome};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};

/// Attempts of a transaction that keeps conflicting with concurrent writers.
const MAX_ATTEMPTS: usize = 32;

/// The physical part (unix ms) of an oracle timestamp.
pub fn ts_to_ms(ts: u64) -> u64 {
    ts >> 16
}

async fn read_one<K: KvStore>(kv: &K, key: Bytes) -> S3Result<Option<Bytes>> {
    let snapshot = kv.get(vec![key]).await?;
    Ok(snapshot.states.into_iter().next().and_then(|s| s.value))
}

/// The bucket's record; `NoSuchBucket` when it does not exist (or is being deleted).
pub async fn get_bucket<K: KvStore>(kv: &K, bucket: &str) -> S3Result<BucketRecord> {
    let value = read_one(kv, bucket_key(bucket)).await?.ok_or(S3Error::NoSuchBucket)?;
    let record: BucketRecord = decode(&value)?;
    if record.state == BucketState::Deleting {
        return Err(S3Error::NoSuchBucket);
    }
    Ok(record)
}

pub async fn get_manifest<K: KvStore>(kv: &K, bucket: &str, key: &str) -> S3Result<Option<ObjectManifest>> {
    match read_one(kv, object_key(bucket, key)).await? {
        Some(value) => Ok(Some(decode(&value)?)),
        None => Ok(None),
    }
}

/// A live object: `NoSuchBucket` or `NoSuchKey` otherwise.
pub async fn get_object<K: KvStore>(kv: &K, bucket: &str, key: &str) -> S3Result<ObjectManifest> {
    match get_manifest(kv, bucket, key).await? {
        Some(manifest) => Ok(manifest),
        None => {
            get_bucket(kv, bucket).await?;
            Err(S3Error::NoSuchKey)
        }
    }
}

/// Commits what `txn` buffered: false when a concurrent writer got there first (the caller
/// reruns the transaction after [`Retry::pause`]).
pub async fn commit<K: KvStore>(kv: &K, txn: Transaction<'_, K>) -> S3Result<bool> {
    let Some(commit) = txn.finish(Vec::new()).await? else { return Ok(true) };
    Ok(matches!(kv.commit(commit).await?, TxnOutcome::Committed { .. }))
}

/// Backoff between reruns of a conflicting transaction, bounded.
#[derive(Default)]
pub struct Retry {
    attempt: u32,
}

impl Retry {
    pub async fn pause(&mut self) -> S3Result<()> {
        self.attempt += 1;
        if self.attempt as usize >= MAX_ATTEMPTS {
            return Err(S3Error::Kv(KvError::TryAgain("too many concurrent changes to this bucket or object".into())));
        }
        let ms = 1u64 << self.attempt.min(6);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        Ok(())
    }
}

/// Reads the bucket inside a transaction: a concurrent DeleteBucket then conflicts with it.
pub async fn bucket_in<K: KvStore>(txn: &Transaction<'_, K>, bucket: &str) -> S3Result<BucketRecord> {
    let value = read_one(txn, bucket_key(bucket)).await?.ok_or(S3Error::NoSuchBucket)?;
    let record: BucketRecord = decode(&value)?;
    if record.state == BucketState::Deleting {
        return Err(S3Error::NoSuchBucket);
    }
    Ok(record)
}

/// What a manifest commit checks against the object it replaces.
pub type Precondition = Box<dyn Fn(Option<&ObjectManifest>) -> S3Result<()> + Send + Sync>;

/// Makes `manifest` the object at `bucket`/`key` — atomically with the deletion of the pending
/// records of `written` data ids (from then on the manifest keeps their chunks alive) — if the
/// bucket exists and `check` accepts the current object.
pub async fn commit_manifest<K: KvStore>(
    kv: &K,
    bucket: &str,
    key: &str,
    manifest: &ObjectManifest,
    written: &[u64],
    check: Option<&Precondition>,
) -> S3Result<()> {
    let value = encode(manifest);
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, bucket).await?;
        if let Some(check) = check {
            let current = match read_one(&txn, object_key(bucket, key)).await? {
                Some(v) => Some(decode::<ObjectManifest>(&v)?),
                None => None,
            };
            check(current.as_ref())?;
        }
        still_pending(&txn, written).await?;
        let mut mutations =
            vec![Mutation::Put { key: object_key(bucket, key), value: value.clone(), expiry: Expiry::Never }];
        mutations.extend(written.iter().map(|id| Mutation::Delete { key: pending_key(*id) }));
        txn.write(Vec::new(), mutations).await?;
        if commit(kv, txn).await? {
            return Ok(());
        }
        retry.pause().await?;
    }
}

/// Checks inside a transaction that the chunks of `written` are still protected by their
/// pending records: an upload that ran past [`gc::ABANDONED_AFTER_MS`] may have lost them.
pub async fn still_pending<K: KvStore>(txn: &Transaction<'_, K>, written: &[u64]) -> S3Result<()> {
    if written.is_empty() {
        return Ok(());
    }
    let keys = written.iter().map(|id| pending_key(*id)).collect();
    let snapshot = txn.get(keys).await?;
    if snapshot.states.iter().any(|s| !s.is_live()) {
        return Err(S3Error::Kv(KvError::TryAgain("the upload took too long: its data was collected".into())));
    }
    Ok(())
}

/// Deletes the object at `bucket`/`key` (a no-op when there is none); NoSuchBucket if the
/// bucket does not exist.
pub async fn delete_manifest<K: KvStore>(kv: &K, bucket: &str, key: &str) -> S3Result<()> {
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, bucket).await?;
        txn.write(Vec::new(), vec![Mutation::Delete { key: object_key(bucket, key) }]).await?;
        if commit(kv, txn).await? {
            return Ok(());
        }
        retry.pause().await?;
    }
}

/// Rewrites the manifest of the live object at `bucket`/`key` with `change` (its tags or ACL;
/// never its data, so the chunk GC is not concerned) in one transaction; NoSuchBucket or
/// NoSuchKey when there is nothing to change. Returns the manifest as written.
pub async fn update_manifest<K: KvStore>(
    kv: &K,
    bucket: &str,
    key: &str,
    change: impl Fn(&mut ObjectManifest),
) -> S3Result<ObjectManifest> {
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, bucket).await?;
        let value = read_one(&txn, object_key(bucket, key)).await?.ok_or(S3Error::NoSuchKey)?;
        let mut manifest: ObjectManifest = decode(&value)?;
        change(&mut manifest);
        txn.write(
            Vec::new(),
            vec![Mutation::Put { key: object_key(bucket, key), value: encode(&manifest), expiry: Expiry::Never }],
        )
        .await?;
        if commit(kv, txn).await? {
            return Ok(manifest);
        }
        retry.pause().await?;
    }
}

/// Rewrites the record of a live bucket with `change` (its tags or ACL) in one transaction;
/// NoSuchBucket when it does not exist or is being deleted.
pub async fn update_bucket<K: KvStore>(kv: &K, bucket: &str, change: impl Fn(&mut BucketRecord)) -> S3Result<()> {
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        let mut record = bucket_in(&txn, bucket).await?;
        change(&mut record);
        txn.write(
            Vec::new(),
            vec![Mutation::Put { key: bucket_key(bucket), value: encode(&record), expiry: Expiry::Never }],
        )
        .await?;
        if commit(kv, txn).await? {
            return Ok(());
        }
        retry.pause().await?;
    }
}
