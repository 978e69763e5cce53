//! DeleteObjectTagging: removes every tag of the object (204 even when it had none).

use s3s::dto::{DeleteObjectTaggingInput, DeleteObjectTaggingOutput};
use s3s::{S3Request, S3Response};

use super::null_version;
use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::update_manifest;

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let input = req.input;
    null_version(input.version_id.as_deref())?;
    update_manifest(kv, &input.bucket, &input.key, |manifest| manifest.tags.clear()).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: None }))
}
