//! Multipart uploads: an upload record (`U`) holds what the object will get; each uploaded
//! part is its own chunked data with a part record (`P`). Completing writes one manifest whose
//! segments are the chosen parts' data — no bytes are copied — and removes the upload and all
//! its part records in the same transaction.

use bytes::Bytes;

use super::keys::{key_after, part_key, part_number_of, part_range, upload_key};
use super::records::{decode, PartRecord, UploadRecord};
use crate::kv::{KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::{commit, Retry};

/// S3's part-number bounds.
pub const MAX_PART_NUMBER: i32 = 10_000;
/// Every part but the last must be at least this big.
pub const MIN_PART_SIZE: u64 = 5 << 20;

/// Upload ids are data ids (oracle timestamps) shown as 16 hex digits.
pub fn format_upload_id(id: u64) -> String {
    format!("{id:016x}")
}

pub fn parse_upload_id(id: &str) -> S3Result<u64> {
    if id.len() != 16 {
        return Err(S3Error::NoSuchUpload);
    }
    u64::from_str_radix(id, 16).map_err(|_| S3Error::NoSuchUpload)
}

pub fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(S3Error::InvalidArgument(format!(
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )))
    }
}

/// The upload's record; NoSuchUpload when it was never created, or was completed or aborted.
pub async fn get_upload<K: KvStore>(kv: &K, bucket: &str, key: &str, upload_id: u64) -> S3Result<UploadRecord> {
    let read = kv.get(vec![upload_key(bucket, key, upload_id)]).await?;
    let value = read.states.into_iter().next().and_then(|s| s.value).ok_or(S3Error::NoSuchUpload)?;
    decode(&value)
}

/// The upload record read inside a transaction (so completing or aborting conflicts with it).
pub async fn upload_in<K: KvStore>(
    txn: &Transaction<'_, K>,
    bucket: &str,
    key: &str,
    upload_id: u64,
) -> S3Result<UploadRecord> {
    get_upload(txn, bucket, key, upload_id).await
}

/// Every part of an upload as of `ts`, in part-number order.
pub async fn list_parts<K: KvStore>(kv: &K, upload_id: u64, ts: u64) -> S3Result<Vec<(u32, PartRecord, Bytes)>> {
    let (mut from, end) = part_range(upload_id);
    let mut parts = Vec::new();
    loop {
        let page = kv.scan_at(from.clone(), end.clone(), 1000, false, ts).await?;
        for scanned in &page {
            let (Some(number), Some(value)) = (part_number_of(&scanned.key), &scanned.state.value) else { continue };
            parts.push((number, decode(value)?, scanned.key.clone()));
        }
        match page.last() {
            Some(last) if page.len() == 1000 => from = key_after(&last.key),
            _ => return Ok(parts),
        }
    }
}

/// Deletes an upload and its part records in one transaction; the parts' chunks become garbage
/// for the chunk collector. NoSuchUpload when it is already gone.
pub async fn abort_upload<K: KvStore>(kv: &K, bucket: &str, key: &str, upload_id: u64) -> S3Result<()> {
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        upload_in(&txn, bucket, key, upload_id).await?;
        let parts = list_parts(kv, upload_id, txn.start_ts().await?).await?;
        let mut deletes = vec![Mutation::Delete { key: upload_key(bucket, key, upload_id) }];
        deletes.extend(parts.into_iter().map(|(_, _, key)| Mutation::Delete { key }));
        txn.write(Vec::new(), deletes).await?;
        if commit(kv, txn).await? {
            return Ok(());
        }
        retry.pause().await?;
    }
}

pub fn part_kv_key(upload_id: u64, part: u32) -> Bytes {
    part_key(upload_id, part)
}
