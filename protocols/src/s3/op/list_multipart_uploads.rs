//! ListMultipartUploads: open uploads of a bucket in (key, upload id) order, with prefix,
//! delimiter (keys folded into CommonPrefixes, each counted once toward max-uploads, as
//! ListObjects does), key-marker / upload-id-marker and max-uploads.

use s3s::dto::{CommonPrefix, Initiator, ListMultipartUploadsInput, ListMultipartUploadsOutput, MultipartUpload};
use s3s::{S3Request, S3Response};

use super::{owner, timestamp, KeyEncoder};
use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::get_bucket;
use crate::s3::store::keys::{key_after, upload_of, upload_range};
use crate::s3::store::listing::common_prefix;
use crate::s3::store::multipart::{format_upload_id, parse_upload_id};
use crate::s3::store::records::{decode, UploadRecord};

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let encoder = KeyEncoder::new(input.encoding_type.as_ref())?;
    let max = match input.max_uploads {
        Some(n) if n < 0 => return Err(S3Error::InvalidArgument("max-uploads must be non-negative".into())),
        Some(n) => (n as usize).min(1000),
        None => 1000,
    };
    let key_marker = input.key_marker.clone().unwrap_or_default();
    let id_marker = match input.upload_id_marker.as_deref() {
        Some(id) if !key_marker.is_empty() => Some(parse_upload_id(id)?),
        _ => None,
    };
    get_bucket(kv, &input.bucket).await?;
    let ts = kv.timestamp().await?;
    let (mut from, end) = upload_range(&input.bucket, input.prefix.as_deref().unwrap_or_default());
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut uploads = Vec::new();
    let mut prefixes: Vec<CommonPrefix> = Vec::new();
    // The last common prefix returned, and whether it is the last entry returned.
    let mut last_prefix: Option<String> = None;
    let mut ends_with_prefix = false;
    let mut truncated = false;
    'scan: loop {
        let page = kv.scan_at(from.clone(), end.clone(), 1000, false, ts).await?;
        for scanned in &page {
            let (Some((key, id)), Some(value)) = (upload_of(&input.bucket, &scanned.key), &scanned.state.value) else {
                continue;
            };
            let after_marker = key_marker.is_empty()
                || key > key_marker.as_str()
                || (key == key_marker && id_marker.is_some_and(|m| id > m));
            if !after_marker {
                continue;
            }
            if let Some(folded) = delimiter.and_then(|d| common_prefix(key, &prefix, d)) {
                let already = last_prefix.as_deref() == Some(folded.as_str());
                if already || (!key_marker.is_empty() && folded.as_str() <= key_marker.as_str()) {
                    continue;
                }
                if uploads.len() + prefixes.len() >= max {
                    truncated = true;
                    break 'scan;
                }
                prefixes.push(CommonPrefix { prefix: Some(encoder.encode(&folded)) });
                last_prefix = Some(folded);
                ends_with_prefix = true;
                continue;
            }
            if uploads.len() + prefixes.len() >= max {
                truncated = true;
                break 'scan;
            }
            ends_with_prefix = false;
            let record: UploadRecord = decode(value)?;
            let who = owner();
            uploads.push(MultipartUpload {
                key: Some(encoder.encode(key)),
                upload_id: Some(format_upload_id(id)),
                initiated: Some(timestamp(record.initiated_ms)),
                initiator: Some(Initiator { display_name: who.display_name.clone(), id: who.id.clone() }),
                owner: Some(who),
                storage_class: Some("STANDARD".to_string().into()),
                ..Default::default()
            });
        }
        match page.last() {
            Some(last) if page.len() == 1000 => from = key_after(&last.key),
            _ => break,
        }
    }
    // The next page starts after the last entry: an upload (key and id) or a common prefix
    // (its key alone, so every upload under it is skipped).
    let (next_key, next_id) = match (truncated, ends_with_prefix, &last_prefix, uploads.last()) {
        (true, true, Some(prefix), _) => (Some(encoder.encode(prefix)), None),
        (true, false, _, Some(last)) => (last.key.clone(), last.upload_id.clone()),
        _ => (None, None),
    };
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix.map(|p| encoder.encode(&p)),
        key_marker: input.key_marker,
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        encoding_type: input.encoding_type,
        uploads: Some(uploads),
        delimiter: input.delimiter,
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        ..Default::default()
    }))
}
