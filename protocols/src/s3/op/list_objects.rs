//! ListObjects (v1): prefix, delimiter, max-keys, marker and encoding-type=url. NextMarker is
//! returned whenever the listing is truncated (S3 only promises it with a delimiter).

use s3s::dto::{ListObjectsInput, ListObjectsOutput};
use s3s::{S3Request, S3Response};

use super::{listed_objects, max_keys, KeyEncoder};
use crate::kv::KvStore;
use crate::s3::error::S3Result;
use crate::s3::store::get_bucket;
use crate::s3::store::listing::{list_objects, ListRequest};

pub async fn run<K: KvStore>(kv: &K, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let encoder = KeyEncoder::new(input.encoding_type.as_ref())?;
    let request = ListRequest {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        after: input.marker.clone().filter(|m| !m.is_empty()),
        max_keys: max_keys(input.max_keys)?,
    };
    get_bucket(kv, &input.bucket).await?;
    let ts = kv.timestamp().await?;
    let listing = list_objects(kv, ts, &input.bucket, &request).await?;
    let (contents, prefixes) = listed_objects(&listing, &encoder, true);
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        // v1 echoes Prefix as sent even with encoding-type=url (AWS does; SDKs decode only
        // Delimiter, Marker, NextMarker and the keys in v1 answers).
        prefix: Some(request.prefix.clone()),
        delimiter: input.delimiter.filter(|d| !d.is_empty()).map(|d| encoder.encode(&d)),
        marker: Some(encoder.encode(input.marker.as_deref().unwrap_or_default())),
        max_keys: Some(request.max_keys as i32),
        is_truncated: Some(listing.truncated),
        next_marker: listing.next_marker().map(|m| encoder.encode(m)),
        encoding_type: input.encoding_type,
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        ..Default::default()
    }))
}
