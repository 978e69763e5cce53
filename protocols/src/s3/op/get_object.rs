//! GetObject: Range, If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since and
//! the response-* header overrides, `partNumber` (one part of a multipart object, with
//! x-amz-mp-parts-count); the body streams chunk by chunk.

use s3s::dto::{ETagCondition, GetObjectInput, GetObjectOutput, Range, StreamingBlob, Timestamp};
use s3s::{S3Request, S3Response};

use super::{etag, etag_matches, expires_out, metadata_out, timestamp, unix_ms};
use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::chunks::{plan_reads, read_stream};
use crate::s3::store::get_object;
use crate::s3::store::records::ObjectManifest;

/// The conditional headers of a GET or HEAD.
#[derive(Default)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl Conditions<'_> {
    /// RFC 9110 order, as S3 applies it: a failed If-Match (or, without it, a failed
    /// If-Unmodified-Since) is 412; a matching If-None-Match (or, without it, an unchanged
    /// If-Modified-Since) is 304.
    pub fn check(&self, manifest: &ObjectManifest) -> S3Result<()> {
        let modified_s = manifest.last_modified_ms / 1000;
        match self.if_match {
            Some(cond) if !etag_matches(cond, Some(&manifest.etag)) => return Err(S3Error::PreconditionFailed),
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified_s > unix_ms(t) / 1000) {
                    return Err(S3Error::PreconditionFailed);
                }
            }
        }
        match self.if_none_match {
            Some(cond) if etag_matches(cond, Some(&manifest.etag)) => {
                return Err(S3Error::NotModified { etag: format!("\"{}\"", manifest.etag) })
            }
            Some(_) => {}
            None => {
                if self.if_modified_since.is_some_and(|t| modified_s <= unix_ms(t) / 1000) {
                    return Err(S3Error::NotModified { etag: format!("\"{}\"", manifest.etag) });
                }
            }
        }
        Ok(())
    }
}

/// The byte range `[start, end)` a Range header selects, and the Content-Range to answer.
pub fn select_range(range: Option<&Range>, size: u64) -> S3Result<(u64, u64, Option<String>)> {
    match range {
        None => Ok((0, size, None)),
        Some(range) => {
            let r = range.check(size).map_err(|_| S3Error::InvalidRange)?;
            Ok((r.start, r.end, Some(format!("bytes {}-{}/{size}", r.start, r.end - 1))))
        }
    }
}

/// The bytes `[start, end)` of part `number` and the Content-Range to answer. A multipart
/// object's parts are counted in the order they were completed (its segments are those parts;
/// only the last part may be empty, and an empty part has no segment). A plain object is its
/// own single part 1.
pub fn select_part(manifest: &ObjectManifest, number: i32) -> S3Result<(u64, u64, Option<String>)> {
    let parts = manifest.parts_count.unwrap_or(1);
    let index = match u32::try_from(number) {
        Ok(n) if (1..=parts).contains(&n) => (n - 1) as usize,
        _ if !(1..=crate::s3::store::multipart::MAX_PART_NUMBER).contains(&number) => {
            return Err(S3Error::InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive".into(),
            ))
        }
        _ => return Err(S3Error::InvalidPartNumber),
    };
    let start: u64 = manifest.segments.iter().take(index).map(|s| s.size).sum();
    let end = start + manifest.segments.get(index).map_or(0, |s| s.size);
    let size = manifest.size;
    let content_range = (end > start).then(|| format!("bytes {start}-{}/{size}", end - 1));
    Ok((start, end, content_range))
}

/// The bytes a GET or HEAD selects: a part, a Range, or the whole object.
pub fn select(
    manifest: &ObjectManifest,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<(u64, u64, Option<String>)> {
    match (part_number, range) {
        (Some(_), Some(_)) => {
            Err(S3Error::InvalidRequest("Cannot specify both Range header and partNumber query parameter".into()))
        }
        (Some(n), None) => select_part(manifest, n),
        (None, range) => select_range(range, manifest.size),
    }
}

pub async fn run<K: KvStore + Clone + 'static>(
    kv: &K,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
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
    let body = read_stream(kv, plan_reads(&manifest.segments, start, end));
    let whole = content_range.is_none() && input.part_number.is_none();
    let checksums = if whole && input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == "ENABLED") {
        manifest.checksums.clone()
    } else {
        Default::default()
    };
    let headers = &manifest.headers;
    Ok(S3Response::new(GetObjectOutput {
        body: Some(StreamingBlob::wrap(body)),
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
        tag_count: (!manifest.tags.is_empty()).then_some(manifest.tags.len() as i32),
        parts_count: manifest.parts_count.map(|n| n as i32),
        checksum_crc32: checksums.crc32,
        checksum_crc32c: checksums.crc32c,
        checksum_crc64nvme: checksums.crc64nvme,
        checksum_sha1: checksums.sha1,
        checksum_sha256: checksums.sha256,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::store::records::Segment;

    fn manifest(sizes: &[u64], parts_count: Option<u32>) -> ObjectManifest {
        ObjectManifest {
            size: sizes.iter().sum(),
            etag: "e".into(),
            last_modified_ms: 0,
            segments: sizes
                .iter()
                .enumerate()
                .map(|(i, &size)| Segment { data_id: i as u64, size, chunk_size: 4 })
                .collect(),
            headers: Default::default(),
            metadata: Vec::new(),
            checksums: Default::default(),
            tags: Vec::new(),
            acl: Default::default(),
            parts_count,
        }
    }

    #[test]
    fn parts_of_a_multipart_object_are_its_segments() {
        let m = manifest(&[10, 10, 3], Some(3));
        assert_eq!(select_part(&m, 1).unwrap(), (0, 10, Some("bytes 0-9/23".into())));
        assert_eq!(select_part(&m, 3).unwrap(), (20, 23, Some("bytes 20-22/23".into())));
        assert!(matches!(select_part(&m, 4), Err(S3Error::InvalidPartNumber)));
        assert!(matches!(select_part(&m, 0), Err(S3Error::InvalidArgument(_))));
        assert!(matches!(select_part(&m, 10_001), Err(S3Error::InvalidArgument(_))));
        // An empty last part has no segment: it selects nothing.
        let empty_last = manifest(&[10], Some(2));
        assert_eq!(select_part(&empty_last, 2).unwrap(), (10, 10, None));
    }

    #[test]
    fn a_plain_object_is_its_own_part_one() {
        let m = manifest(&[7], None);
        assert_eq!(select_part(&m, 1).unwrap(), (0, 7, Some("bytes 0-6/7".into())));
        assert!(matches!(select_part(&m, 2), Err(S3Error::InvalidPartNumber)));
        let range = Range::Int { first: 0, last: Some(1) };
        assert!(matches!(select(&m, Some(&range), Some(1)), Err(S3Error::InvalidRequest(_))));
        assert_eq!(select(&m, Some(&range), None).unwrap().1, 2);
    }
}
