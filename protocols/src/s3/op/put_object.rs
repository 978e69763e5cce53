//! PutObject: the body is written as chunks while it streams in, then the manifest is
//! committed in one transaction (see `store::chunks`). Content-MD5 and x-amz-checksum-* are
//! verified before the commit, so a corrupt upload never becomes visible.

use s3s::dto::{PutObjectInput, PutObjectOutput, StreamingBlob};
use s3s::{S3Request, S3Response};

use super::{check_key, content_headers, etag, hex, metadata_in, object_acl};
use crate::kv::KvStore;
use crate::s3::checksum;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::chunks::{write_body, BodyDigests};
use crate::s3::store::records::{ObjectManifest, Segment};
use crate::s3::store::{commit_manifest, get_bucket, ts_to_ms, Precondition};

/// The largest object a single PUT may carry (S3's limit).
pub const MAX_PUT_SIZE: u64 = 5 << 30;

pub async fn run<K: KvStore + Clone + 'static>(
    kv: &K,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let S3Request { input, headers, trailing_headers, .. } = req;
    check_key(&input.key)?;
    if input.content_length.is_some_and(|n| n as u64 > MAX_PUT_SIZE) {
        return Err(S3Error::EntityTooLarge);
    }
    let acl = object_acl(input.acl.as_ref())?;
    let md5 = checksum::content_md5(input.content_md5.as_deref())?;
    let check = precondition(input.if_match.as_ref(), input.if_none_match.as_ref());
    get_bucket(kv, &input.bucket).await?;

    let digests = BodyDigests { md5: Default::default(), checksums: checksum::requested(&headers) };
    let body = input
        .body
        .unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    let written = write_body(kv, body, input.content_length.map(|n| n as u64), digests).await?;
    if md5.is_some_and(|want| want != written.md5) {
        return Err(S3Error::BadDigest);
    }
    let checksums = checksum::verify(&headers, trailing_headers.as_ref(), written.checksums)?;
    let tags = match input.tagging.as_deref() {
        Some(query) => super::parse_tag_query(query)?,
        None => Vec::new(),
    };
    let now = kv.timestamp().await?;
    let manifest = ObjectManifest {
        size: written.segment.size,
        etag: hex(&written.md5),
        last_modified_ms: ts_to_ms(now),
        segments: non_empty(written.segment.clone()),
        headers: content_headers(
            input.content_type.map(|c| c.to_string()),
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
        ),
        metadata: metadata_in(input.metadata),
        checksums: checksums.clone(),
        tags,
        acl,
        parts_count: None,
    };
    commit_manifest(kv, &input.bucket, &input.key, &manifest, &[written.segment.data_id], check.as_ref()).await?;
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag(&manifest.etag)),
        size: Some(manifest.size as i64),
        checksum_crc32: checksums.crc32,
        checksum_crc32c: checksums.crc32c,
        checksum_crc64nvme: checksums.crc64nvme,
        checksum_sha1: checksums.sha1,
        checksum_sha256: checksums.sha256,
        ..Default::default()
    }))
}

/// An empty body has no chunks worth naming.
pub fn non_empty(segment: Segment) -> Vec<Segment> {
    if segment.size == 0 {
        Vec::new()
    } else {
        vec![segment]
    }
}

/// If-Match / If-None-Match on a write: checked against the object being replaced, inside the
/// commit transaction.
pub fn precondition(
    if_match: Option<&s3s::dto::ETagCondition>,
    if_none_match: Option<&s3s::dto::ETagCondition>,
) -> Option<Precondition> {
    if if_match.is_none() && if_none_match.is_none() {
        return None;
    }
    let if_match = if_match.cloned();
    let if_none_match = if_none_match.cloned();
    Some(Box::new(move |current: Option<&ObjectManifest>| {
        let current_etag = current.map(|m| m.etag.as_str());
        if let Some(cond) = &if_match {
            if !super::etag_matches(cond, current_etag) {
                return Err(if current.is_none() { S3Error::NoSuchKey } else { S3Error::PreconditionFailed });
            }
        }
        if let Some(cond) = &if_none_match {
            if super::etag_matches(cond, current_etag) {
                return Err(S3Error::PreconditionFailed);
            }
        }
        Ok(())
    }))
}
