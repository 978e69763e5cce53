//! GetBucketTagging: the bucket's tag set; 404 NoSuchTagSet when it has none (as S3 answers,
//! unlike GetObjectTagging's empty set).

use s3s::dto::{GetBucketTaggingInput, GetBucketTaggingOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::get_bucket;
use crate::s3::tags::to_tag_set;

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let record = get_bucket(kv, &req.input.bucket).await?;
    if record.tags.is_empty() {
        return Err(S3Error::NoSuchTagSet);
    }
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set: to_tag_set(&record.tags) }))
}
