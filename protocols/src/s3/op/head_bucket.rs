//! HeadBucket: 200 if the bucket exists, 404 NoSuchBucket otherwise.

use s3s::dto::{HeadBucketInput, HeadBucketOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_bucket;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    get_bucket(kv, &req.input.bucket).await?;
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(super::super::REGION.into()), ..Default::default() }))
}
