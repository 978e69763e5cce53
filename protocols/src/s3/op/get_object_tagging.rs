//! GetObjectTagging: the object's tag set (empty when it has none).

use s3s::dto::{GetObjectTaggingInput, GetObjectTaggingOutput};
use s3s::{S3Request, S3Response};

use super::null_version;
use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_object;
use crate::s3::tags::to_tag_set;

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = req.input;
    null_version(input.version_id.as_deref())?;
    let manifest = get_object(kv, &input.bucket, &input.key).await?;
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set: to_tag_set(&manifest.tags), version_id: None }))
}
