//! CreateMultipartUpload: an upload record holding the object's future headers, metadata,
//! tags and ACL; the upload id is a fresh oracle timestamp.

use s3s::dto::{CreateMultipartUploadInput, CreateMultipartUploadOutput};
use s3s::{S3Request, S3Response};

use super::{check_key, content_headers, metadata_in, object_acl};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::S3Result;
use crate::s3::store::keys::upload_key;
use crate::s3::store::multipart::format_upload_id;
use crate::s3::store::records::{encode, UploadRecord};
use crate::s3::store::{bucket_in, commit, ts_to_ms, Retry};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let record = UploadRecord {
        initiated_ms: 0,
        headers: content_headers(
            input.content_type.map(|c| c.to_string()),
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
        ),
        metadata: metadata_in(input.metadata),
        tags: match input.tagging.as_deref() {
            Some(query) => super::parse_tag_query(query)?,
            None => Vec::new(),
        },
        acl: object_acl(input.acl.as_ref())?,
    };
    let upload_id = kv.timestamp().await?;
    let record = UploadRecord { initiated_ms: ts_to_ms(upload_id), ..record };
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, &input.bucket).await?;
        txn.write(
            Vec::new(),
            vec![Mutation::Put {
                key: upload_key(&input.bucket, &input.key, upload_id),
                value: encode(&record),
                expiry: Expiry::Never,
            }],
        )
        .await?;
        if commit(kv, txn).await? {
            break;
        }
        retry.pause().await?;
    }
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(format_upload_id(upload_id)),
        ..Default::default()
    }))
}
