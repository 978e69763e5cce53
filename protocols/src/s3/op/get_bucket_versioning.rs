//! GetBucketVersioning: buckets are never versioned, so the answer has no Status (the state
//! of a bucket on which versioning was never enabled).

use s3s::dto::{GetBucketVersioningInput, GetBucketVersioningOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_bucket;

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    get_bucket(kv, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketVersioningOutput::default()))
}
