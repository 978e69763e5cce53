//! PutBucketTagging: replaces the bucket's whole tag set (at most 50 tags).

use s3s::dto::{PutBucketTaggingInput, PutBucketTaggingOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::update_bucket;
use crate::s3::tags::{from_tagging, TagOwner};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let input = req.input;
    let tags = from_tagging(input.tagging, TagOwner::Bucket)?;
    update_bucket(kv, &input.bucket, |record| record.tags = tags.clone()).await?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}
