//! DeleteObject: one manifest delete (the chunks are collected in the background). Deleting a
//! key that does not exist succeeds, as in S3.

use s3s::dto::{DeleteObjectInput, DeleteObjectOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::delete_manifest;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
    let input = req.input;
    if input.version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(S3Error::InvalidArgument("Invalid version id specified".into()));
    }
    delete_manifest(kv, &input.bucket, &input.key).await?;
    Ok(S3Response::new(DeleteObjectOutput::default()))
}
