//! DeleteBucketTagging: removes every tag of the bucket (204 even when it had none).

use s3s::dto::{DeleteBucketTaggingInput, DeleteBucketTaggingOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::update_bucket;

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    update_bucket(kv, &req.input.bucket, |record| record.tags.clear()).await?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}
