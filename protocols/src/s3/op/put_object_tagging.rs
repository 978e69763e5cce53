//! PutObjectTagging: replaces the object's whole tag set (at most 10 tags). Only the manifest
//! changes: the data, ETag and Last-Modified stay.

use s3s::dto::{PutObjectTaggingInput, PutObjectTaggingOutput};
use s3s::{S3Request, S3Response};

use super::null_version;
use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::update_manifest;
use crate::s3::tags::{from_tagging, TagOwner};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let input = req.input;
    null_version(input.version_id.as_deref())?;
    let tags = from_tagging(input.tagging, TagOwner::Object)?;
    update_manifest(kv, &input.bucket, &input.key, |manifest| manifest.tags = tags.clone()).await?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: None }))
}
