//! One module per S3 operation: each turns the s3s input into a typed request, applies it to
//! the store and builds the s3s output. Helpers shared by several operations live here.

pub mod abort_multipart_upload;
pub mod complete_multipart_upload;
pub mod copy_object;
pub mod create_bucket;
pub mod create_multipart_upload;
pub mod delete_bucket;
pub mod delete_bucket_tagging;
pub mod delete_object;
pub mod delete_object_tagging;
pub mod delete_objects;
pub mod get_bucket_acl;
pub mod get_bucket_location;
pub mod get_bucket_tagging;
pub mod get_bucket_versioning;
pub mod get_object;
pub mod get_object_acl;
pub mod get_object_tagging;
pub mod head_bucket;
pub mod head_object;
pub mod list_buckets;
pub mod list_multipart_uploads;
pub mod list_object_versions;
pub mod list_objects;
pub mod list_objects_v2;
pub mod list_parts;
pub mod put_bucket_acl;
pub mod put_bucket_tagging;
pub mod put_object;
pub mod put_object_acl;
pub mod put_object_tagging;
pub mod upload_part;
pub mod upload_part_copy;

use std::time::{Duration, SystemTime};

use s3s::dto::{ETag, Owner, Timestamp};

use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::records::{CannedAcl, ContentHeaders};

/// The one owner every bucket and object has (Strata has no accounts).
pub fn owner() -> Owner {
    Owner { display_name: Some("strata".into()), id: Some("strata".into()) }
}

pub fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// Unix ms of an s3s timestamp (negative or out-of-range dates clamp to 0).
pub fn unix_ms(ts: &Timestamp) -> u64 {
    let t: time::OffsetDateTime = ts.clone().into();
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The object ACLs Strata honours; others answer 501.
pub fn object_acl(acl: Option<&s3s::dto::ObjectCannedACL>) -> S3Result<CannedAcl> {
    match acl {
        None => Ok(CannedAcl::Private),
        Some(name) => crate::s3::acl::from_canned(name.as_str(), crate::s3::acl::AclTarget::Object),
    }
}

/// Keys longer than S3's limit are refused.
pub fn check_key(key: &str) -> S3Result<()> {
    if key.len() > 1024 {
        return Err(S3Error::KeyTooLong);
    }
    if key.is_empty() {
        return Err(S3Error::InvalidArgument("object keys may not be empty".into()));
    }
    Ok(())
}

/// `x-amz-meta-*` as stored: names lowercase, sorted.
pub fn metadata_in(metadata: Option<s3s::dto::Metadata>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> =
        metadata.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    pairs.sort();
    pairs
}

pub fn metadata_out(pairs: &[(String, String)]) -> Option<s3s::dto::Metadata> {
    if pairs.is_empty() {
        return None;
    }
    Some(pairs.iter().cloned().collect())
}

pub fn content_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
) -> ContentHeaders {
    ContentHeaders {
        content_type,
        content_encoding: content_encoding.and_then(|e| without_aws_chunked(&e)),
        content_disposition,
        content_language,
        cache_control,
        expires: expires.and_then(|t| {
            let mut out = Vec::new();
            t.format(s3s::dto::TimestampFormat::HttpDate, &mut out).ok()?;
            String::from_utf8(out).ok()
        }),
    }
}

/// `aws-chunked` describes how the request body was framed, not the object: like AWS, keep
/// the other codings and drop the header when nothing else is left.
fn without_aws_chunked(encoding: &str) -> Option<String> {
    let kept: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

pub fn expires_out(headers: &ContentHeaders) -> Option<Timestamp> {
    headers.expires.as_deref().and_then(|s| Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, s).ok())
}

/// `encoding-type=url`: keys and prefixes in listings are percent-encoded (as S3 does, `/`
/// stays as is).
pub fn url_encode(value: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(value, KEEP).to_string()
}

/// Encodes `value` when the listing asked for `encoding-type=url`.
pub struct KeyEncoder {
    url: bool,
}

impl KeyEncoder {
    pub fn new(encoding: Option<&s3s::dto::EncodingType>) -> S3Result<Self> {
        match encoding.map(|e| e.as_str()) {
            None => Ok(KeyEncoder { url: false }),
            Some(e) if e.eq_ignore_ascii_case("url") => Ok(KeyEncoder { url: true }),
            Some(_) => Err(S3Error::InvalidArgument("Invalid Encoding Method specified in Request".into())),
        }
    }

    pub fn encode(&self, value: &str) -> String {
        if self.url {
            url_encode(value)
        } else {
            value.to_string()
        }
    }
}

/// max-keys as asked, clamped to S3's 1000; negative is an error.
/// The `Contents` and `CommonPrefixes` of a ListObjects (v1 or v2) answer.
pub fn listed_objects(
    listing: &crate::s3::store::listing::Listing,
    encoder: &KeyEncoder,
    with_owner: bool,
) -> (Vec<s3s::dto::Object>, Vec<s3s::dto::CommonPrefix>) {
    use crate::s3::store::listing::Entry;
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &listing.entries {
        match entry {
            Entry::Object { key, manifest } => contents.push(s3s::dto::Object {
                key: Some(encoder.encode(key)),
                e_tag: Some(etag(&manifest.etag)),
                last_modified: Some(timestamp(manifest.last_modified_ms)),
                size: Some(manifest.size as i64),
                storage_class: Some("STANDARD".to_string().into()),
                owner: with_owner.then(owner),
                ..Default::default()
            }),
            Entry::CommonPrefix(prefix) => {
                prefixes.push(s3s::dto::CommonPrefix { prefix: Some(encoder.encode(prefix)) })
            }
        }
    }
    (contents, prefixes)
}

pub fn max_keys(asked: Option<i32>) -> S3Result<usize> {
    match asked {
        None => Ok(crate::s3::store::listing::MAX_KEYS),
        Some(n) if n < 0 => Err(S3Error::InvalidArgument("max-keys must be non-negative".into())),
        Some(n) => Ok((n as usize).min(crate::s3::store::listing::MAX_KEYS)),
    }
}

/// Whether an If-Match / If-None-Match condition matches the current ETag (`None`: no object).
pub fn etag_matches(condition: &s3s::dto::ETagCondition, current: Option<&str>) -> bool {
    match (condition, current) {
        (_, None) => false,
        (s3s::dto::ETagCondition::Any, Some(_)) => true,
        (s3s::dto::ETagCondition::ETag(tag), Some(current)) => tag.value() == current,
    }
}

/// `x-amz-tagging: k1=v1&k2=v2` as checked tag pairs.
pub fn parse_tag_query(query: &str) -> S3Result<Vec<(String, String)>> {
    crate::s3::tags::from_header(query)
}

/// Buckets are never versioned: only the `null` version (or none) may be named.
pub fn null_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(S3Error::InvalidArgument("Invalid version id specified".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::without_aws_chunked;

    #[test]
    fn aws_chunked_framing_is_not_stored_as_the_objects_encoding() {
        assert_eq!(without_aws_chunked("aws-chunked"), None);
        assert_eq!(without_aws_chunked("gzip, aws-chunked").as_deref(), Some("gzip"));
        assert_eq!(without_aws_chunked("aws-chunked,gzip,br").as_deref(), Some("gzip, br"));
        assert_eq!(without_aws_chunked("gzip").as_deref(), Some("gzip"));
    }
}
