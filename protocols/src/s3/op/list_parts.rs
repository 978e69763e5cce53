//! ListParts: the parts uploaded so far, in part-number order, after part-number-marker, at
//! most max-parts (default and limit 1000).

use s3s::dto::{Initiator, ListPartsInput, ListPartsOutput, Part};
use s3s::{S3Request, S3Response};

use super::{etag, owner, timestamp};
use crate::kv::KvStore;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::multipart::{get_upload, list_parts, parse_upload_id};

pub async fn run<K: KvStore>(kv: &K, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let upload_id = parse_upload_id(&input.upload_id)?;
    let max_parts = match input.max_parts {
        Some(n) if n < 0 => return Err(S3Error::InvalidArgument("max-parts must be non-negative".into())),
        Some(n) => (n as usize).min(1000),
        None => 1000,
    };
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    get_upload(kv, &input.bucket, &input.key, upload_id).await?;
    let ts = kv.timestamp().await?;
    let all: Vec<_> = list_parts(kv, upload_id, ts).await?.into_iter().filter(|(n, _, _)| *n > marker).collect();
    let truncated = all.len() > max_parts;
    let shown = &all[..all.len().min(max_parts)];
    let parts = shown
        .iter()
        .map(|(number, record, _)| Part {
            part_number: Some(*number as i32),
            e_tag: Some(etag(&record.etag)),
            size: Some(record.segment.size as i64),
            last_modified: Some(timestamp(record.last_modified_ms)),
            ..Default::default()
        })
        .collect();
    let who = owner();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        max_parts: Some(max_parts as i32),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: if truncated { shown.last().map(|(n, _, _)| *n as i32) } else { None },
        is_truncated: Some(truncated),
        initiator: Some(Initiator { display_name: who.display_name.clone(), id: who.id.clone() }),
        owner: Some(who),
        storage_class: Some("STANDARD".to_string().into()),
        parts: Some(parts),
        ..Default::default()
    }))
}
