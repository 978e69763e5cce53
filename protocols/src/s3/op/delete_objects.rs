//! DeleteObjects: up to 1000 keys deleted in one transaction; quiet mode lists only errors.

use s3s::dto::{DeleteObjectsInput, DeleteObjectsOutput, DeletedObject};
use s3s::{S3Request, S3Response};

use crate::kv::{KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::object_key;
use crate::s3::store::{bucket_in, commit, Retry};

const MAX_KEYS: usize = 1000;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let input = req.input;
    let objects = input.delete.objects;
    if objects.len() > MAX_KEYS {
        return Err(S3Error::MalformedXml);
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, &input.bucket).await?;
        let deletes = objects.iter().map(|o| Mutation::Delete { key: object_key(&input.bucket, &o.key) }).collect();
        txn.write(Vec::new(), deletes).await?;
        if commit(kv, txn).await? {
            break;
        }
        retry.pause().await?;
    }
    let deleted = (!quiet).then(|| {
        objects
            .into_iter()
            .map(|o| DeletedObject { key: Some(o.key), version_id: o.version_id, ..Default::default() })
            .collect()
    });
    Ok(S3Response::new(DeleteObjectsOutput { deleted, errors: None, ..Default::default() }))
}
