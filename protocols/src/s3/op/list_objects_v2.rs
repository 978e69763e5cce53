//! ListObjectsV2: prefix, delimiter, max-keys, continuation token (the last key or common
//! prefix returned, base64-encoded), start-after and encoding-type=url.

use base64::Engine as _;
use s3s::dto::{ListObjectsV2Input, ListObjectsV2Output};
use s3s::{S3Request, S3Response};

use super::{listed_objects, max_keys, KeyEncoder};
use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::get_bucket;
use crate::s3::store::listing::{list_objects, ListRequest};

fn encode_token(marker: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(marker)
}

fn decode_token(token: &str) -> S3Result<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| S3Error::InvalidArgument("The continuation token provided is incorrect".into()))?;
    String::from_utf8(bytes)
        .map_err(|_| S3Error::InvalidArgument("The continuation token provided is incorrect".into()))
}

pub async fn run<K: KvStore>(kv: &K, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let encoder = KeyEncoder::new(input.encoding_type.as_ref())?;
    let after = match &input.continuation_token {
        Some(token) => Some(decode_token(token)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let request = ListRequest {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        after,
        max_keys: max_keys(input.max_keys)?,
    };
    get_bucket(kv, &input.bucket).await?;
    let ts = kv.timestamp().await?;
    let listing = list_objects(kv, ts, &input.bucket, &request).await?;
    let fetch_owner = input.fetch_owner.unwrap_or(false);
    let (contents, prefixes) = listed_objects(&listing, &encoder, fetch_owner);
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(encoder.encode(&request.prefix)),
        delimiter: input.delimiter.filter(|d| !d.is_empty()).map(|d| encoder.encode(&d)),
        max_keys: Some(request.max_keys as i32),
        key_count: Some(listing.entries.len() as i32),
        is_truncated: Some(listing.truncated),
        continuation_token: input.continuation_token,
        next_continuation_token: listing.next_marker().map(encode_token),
        start_after: input.start_after.map(|s| encoder.encode(&s)),
        encoding_type: input.encoding_type,
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        ..Default::default()
    }))
}
