//! PutBucketAcl: sets the bucket's canned ACL (`x-amz-acl` or an equivalent
//! AccessControlPolicy body). A public-read bucket may be listed, and its objects read, by
//! anonymous clients.

use s3s::dto::{PutBucketAclInput, PutBucketAclOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::acl::{from_request, AclTarget};
use crate::s3::error::S3Result;
use crate::s3::store::update_bucket;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
    let input = req.input;
    let grant_headers = input.grant_full_control.is_some()
        || input.grant_read.is_some()
        || input.grant_read_acp.is_some()
        || input.grant_write.is_some()
        || input.grant_write_acp.is_some();
    let acl = from_request(
        input.acl.as_ref().map(|a| a.as_str()),
        input.access_control_policy.as_ref(),
        grant_headers,
        AclTarget::Bucket,
    )?;
    update_bucket(kv, &input.bucket, |record| record.acl = acl).await?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}
