//! HeadObject: GetObject's headers without the body (conditions and Range included).

use s3s::dto::{HeadObjectInput, HeadObjectOutput};
use s3s::{S3Request, S3Response};

use super::get_object::{select, Conditions};
use super::{etag, expires_out, metadata_out, timestamp};
use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_object;

pub async fn run<K: KvStore>(kv: &K, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let manifest = get_object(kv, &input.bucket, &input.key).await?;
    Conditions {
        if_match: input.if_match.as_ref(),
        if_none_match: input.if_none_match.as_ref(),
        if_modified_since: input.if_modified_since.as_ref(),
        if_unmodified_since: input.if_unmodified_since.as_ref(),
    }
    .check(&manifest)?;
    let (start, end, content_range) = select(&manifest, input.range.as_ref(), input.part_number)?;
    let whole = content_range.is_none() && input.part_number.is_none();
    let checksums = if whole && input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == "ENABLED") {
        manifest.checksums.clone()
    } else {
        Default::default()
    };
    let headers = &manifest.headers;
    Ok(S3Response::new(HeadObjectOutput {
        accept_ranges: Some("bytes".into()),
        content_length: Some((end - start) as i64),
        content_range,
        e_tag: Some(etag(&manifest.etag)),
        last_modified: Some(timestamp(manifest.last_modified_ms)),
        metadata: metadata_out(&manifest.metadata),
        content_type: match input.response_content_type {
            Some(t) => t.parse().ok(),
            None => headers.content_type.as_deref().and_then(|t| t.parse().ok()),
        },
        content_encoding: input.response_content_encoding.or_else(|| headers.content_encoding.clone()),
        content_disposition: input.response_content_disposition.or_else(|| headers.content_disposition.clone()),
        content_language: input.response_content_language.or_else(|| headers.content_language.clone()),
        cache_control: input.response_cache_control.or_else(|| headers.cache_control.clone()),
        expires: input.response_expires.or_else(|| expires_out(headers)),
        parts_count: manifest.parts_count.map(|n| n as i32),
        checksum_crc32: checksums.crc32,
        checksum_crc32c: checksums.crc32c,
        checksum_crc64nvme: checksums.crc64nvme,
        checksum_sha1: checksums.sha1,
        checksum_sha256: checksums.sha256,
        ..Default::default()
    }))
}
