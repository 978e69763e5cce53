//! ListObjectVersions on an unversioned bucket: each object is its one version, VersionId
//! `null`, IsLatest true; no delete markers.

use s3s::dto::{CommonPrefix, ListObjectVersionsInput, ListObjectVersionsOutput, ObjectVersion};
use s3s::{S3Request, S3Response};

use super::{etag, max_keys, owner, timestamp, KeyEncoder};
use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_bucket;
use crate::s3::store::listing::{list_objects, Entry, ListRequest};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let encoder = KeyEncoder::new(input.encoding_type.as_ref())?;
    let request = ListRequest {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        after: input.key_marker.clone().filter(|m| !m.is_empty()),
        max_keys: max_keys(input.max_keys)?,
    };
    get_bucket(kv, &input.bucket).await?;
    let ts = kv.timestamp().await?;
    let listing = list_objects(kv, ts, &input.bucket, &request).await?;
    let mut versions = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &listing.entries {
        match entry {
            Entry::Object { key, manifest } => versions.push(ObjectVersion {
                key: Some(encoder.encode(key)),
                version_id: Some("null".into()),
                is_latest: Some(true),
                e_tag: Some(etag(&manifest.etag)),
                last_modified: Some(timestamp(manifest.last_modified_ms)),
                size: Some(manifest.size as i64),
                storage_class: Some("STANDARD".to_string().into()),
                owner: Some(owner()),
                ..Default::default()
            }),
            Entry::CommonPrefix(prefix) => prefixes.push(CommonPrefix { prefix: Some(encoder.encode(prefix)) }),
        }
    }
    let next_key = listing.next_marker().map(|m| encoder.encode(m));
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(encoder.encode(&request.prefix)),
        delimiter: input.delimiter.map(|d| encoder.encode(&d)),
        key_marker: Some(encoder.encode(input.key_marker.as_deref().unwrap_or_default())),
        version_id_marker: input.version_id_marker,
        max_keys: Some(request.max_keys as i32),
        is_truncated: Some(listing.truncated),
        next_version_id_marker: next_key.as_ref().map(|_| "null".to_string()),
        next_key_marker: next_key,
        encoding_type: input.encoding_type,
        versions: Some(versions),
        common_prefixes: Some(prefixes),
        ..Default::default()
    }))
}
