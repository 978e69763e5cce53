//! GetBucketLocation: every bucket is in the default region (an empty LocationConstraint, as
//! S3 answers for us-east-1).

use s3s::dto::{GetBucketLocationInput, GetBucketLocationOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_bucket;

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    get_bucket(kv, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketLocationOutput::default()))
}
