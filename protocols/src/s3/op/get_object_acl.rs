//! GetObjectAcl: the object's canned ACL as S3's owner and grant list.

use s3s::dto::{GetObjectAclInput, GetObjectAclOutput};
use s3s::{S3Request, S3Response};

use super::{null_version, owner};
use crate::kv::KvStore;
use crate::s3::acl::grants;
use crate::s3::error::S3Result;
use crate::s3::store::get_object;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
    let input = req.input;
    null_version(input.version_id.as_deref())?;
    let manifest = get_object(kv, &input.bucket, &input.key).await?;
    Ok(S3Response::new(GetObjectAclOutput {
        grants: Some(grants(manifest.acl)),
        owner: Some(owner()),
        request_charged: None,
    }))
}
