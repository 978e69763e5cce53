//! AbortMultipartUpload: the upload and its part records go in one transaction; the parts'
//! chunks become garbage for the chunk collector.

use s3s::dto::{AbortMultipartUploadInput, AbortMultipartUploadOutput};
use s3s::{S3Request, S3Response};

use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::multipart::{abort_upload, parse_upload_id};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    abort_upload(kv, &input.bucket, &input.key, parse_upload_id(&input.upload_id)?).await?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}
