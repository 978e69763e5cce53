//! PutObjectAcl: sets the object's canned ACL (`x-amz-acl` or an equivalent
//! AccessControlPolicy body). From then on anonymous reads of the object follow it.

use s3s::dto::{PutObjectAclInput, PutObjectAclOutput};
use s3s::{S3Request, S3Response};

use super::null_version;
use crate::kv::KvStore;
use crate::s3::acl::{from_request, AclTarget};
use crate::s3::error::S3Result;
use crate::s3::store::update_manifest;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
    let input = req.input;
    null_version(input.version_id.as_deref())?;
    let grant_headers = input.grant_full_control.is_some()
        || input.grant_read.is_some()
        || input.grant_read_acp.is_some()
        || input.grant_write.is_some()
        || input.grant_write_acp.is_some();
    let acl = from_request(
        input.acl.as_ref().map(|a| a.as_str()),
        input.access_control_policy.as_ref(),
        grant_headers,
        AclTarget::Object,
    )?;
    update_manifest(kv, &input.bucket, &input.key, |manifest| manifest.acl = acl).await?;
    Ok(S3Response::new(PutObjectAclOutput { request_charged: None }))
}
