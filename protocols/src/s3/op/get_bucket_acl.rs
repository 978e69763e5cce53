//! GetBucketAcl: the bucket's canned ACL as S3's owner and grant list.

use s3s::dto::{GetBucketAclInput, GetBucketAclOutput};
use s3s::{S3Request, S3Response};

use super::owner;
use crate::kv::KvStore;
use crate::s3::acl::grants;
use crate::s3::error::S3Result;
use crate::s3::store::get_bucket;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
    let record = get_bucket(kv, &req.input.bucket).await?;
    Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants(record.acl)), owner: Some(owner()) }))
}
