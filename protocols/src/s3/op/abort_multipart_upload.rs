//! AbortMultipartUpload: the upload and its part records go in one transaction; the parts'
//! chunks become garbage for the chunk collector.

use s3s::dto::{AbortMultipartUploadInput, AbortMultipartUploadOutput};
use s3s::{S3Request, S3Response};

use crate::kv::{KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::S3Result;
use crate::s3::store::keys::upload_key;
use crate::s3::store::multipart::{list_parts, parse_upload_id, upload_in};
use crate::s3::store::{commit, Retry};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    let upload_id = parse_upload_id(&input.upload_id)?;
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        upload_in(&txn, &input.bucket, &input.key, upload_id).await?;
        let parts = list_parts(kv, upload_id, txn.start_ts().await?).await?;
        let mut deletes = vec![Mutation::Delete { key: upload_key(&input.bucket, &input.key, upload_id) }];
        deletes.extend(parts.into_iter().map(|(_, _, key)| Mutation::Delete { key }));
        txn.write(Vec::new(), deletes).await?;
        if commit(kv, txn).await? {
            return Ok(S3Response::new(AbortMultipartUploadOutput::default()));
        }
        retry.pause().await?;
    }
}
