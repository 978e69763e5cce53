//! UploadPartCopy: a part made of (a byte range of) an existing object. The bytes are copied
//! — streamed from the source's chunks into new chunks — because a part must be its own data.

use s3s::dto::{CopyPartResult, CopySource, Range, StreamingBlob, UploadPartCopyInput, UploadPartCopyOutput};
use s3s::{S3Request, S3Response};

use super::get_object::{select_range, Conditions};
use super::{etag, timestamp};
use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::chunks::{plan_reads, read_stream, write_body, BodyDigests};
use crate::s3::store::get_object;
use crate::s3::store::multipart::{check_part_number, get_upload, parse_upload_id};

pub async fn run<K: KvStore + Clone + 'static>(
    kv: &K,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    let part = check_part_number(input.part_number)?;
    let upload_id = parse_upload_id(&input.upload_id)?;
    let (src_bucket, src_key) = match &input.copy_source {
        CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
        _ => return Err(S3Error::NotImplemented("copying from an access point or outpost")),
    };
    let range = match input.copy_source_range.as_deref() {
        Some(header) => Some(Range::parse(header).map_err(|_| {
            S3Error::InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last".into())
        })?),
        None => None,
    };
    get_upload(kv, &input.bucket, &input.key, upload_id).await?;
    let source = get_object(kv, &src_bucket, &src_key).await?;
    Conditions {
        if_match: input.copy_source_if_match.as_ref(),
        if_none_match: input.copy_source_if_none_match.as_ref(),
        if_modified_since: input.copy_source_if_modified_since.as_ref(),
        if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
    }
    .check(&source)
    .map_err(|e| match e {
        S3Error::NotModified { .. } => S3Error::PreconditionFailed,
        other => other,
    })?;
    let (start, end, _) = select_range(range.as_ref(), source.size)?;
    let bytes = StreamingBlob::wrap(read_stream(kv, plan_reads(&source.segments, start, end)));
    let digests = BodyDigests { md5: Default::default(), checksums: Default::default() };
    let written = write_body(kv, bytes, Some(end - start), digests).await?;
    let record = super::upload_part::record_part(kv, &input.bucket, &input.key, upload_id, part, &written).await?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&record.etag)),
            last_modified: Some(timestamp(record.last_modified_ms)),
            ..Default::default()
        }),
        ..Default::default()
    }))
}
