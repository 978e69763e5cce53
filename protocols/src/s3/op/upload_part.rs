//! UploadPart: the body streams into its own chunked data (like PutObject), then one
//! transaction records the part — if the upload is still open — and clears the pending
//! record. Re-uploading a part number replaces it (the old data becomes garbage).

use s3s::dto::{StreamingBlob, UploadPartInput, UploadPartOutput};
use s3s::{S3Request, S3Response};

use super::{etag, hex};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::checksum;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::chunks::{write_body, BodyDigests, WrittenData};
use crate::s3::store::keys::pending_key;
use crate::s3::store::multipart::{check_part_number, get_upload, parse_upload_id, part_kv_key, upload_in};
use crate::s3::store::records::{encode, PartRecord};
use crate::s3::store::{commit, still_pending, ts_to_ms, Retry};

/// The largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 << 30;

pub async fn run<K: KvStore + Clone + 'static>(
    kv: &K,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let S3Request { input, headers, trailing_headers, .. } = req;
    let part = check_part_number(input.part_number)?;
    let upload_id = parse_upload_id(&input.upload_id)?;
    if input.content_length.is_some_and(|n| n as u64 > MAX_PART_SIZE) {
        return Err(S3Error::EntityTooLarge);
    }
    let md5 = checksum::content_md5(input.content_md5.as_deref())?;
    get_upload(kv, &input.bucket, &input.key, upload_id).await?;
    let digests = BodyDigests { md5: Default::default(), checksums: checksum::requested(&headers) };
    let body = input
        .body
        .unwrap_or_else(|| StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>()));
    let written = write_body(kv, body, input.content_length.map(|n| n as u64), digests).await?;
    if md5.is_some_and(|want| want != written.md5) {
        return Err(S3Error::BadDigest);
    }
    let checksums = checksum::verify(&headers, trailing_headers.as_ref(), written.checksums.clone())?;
    let record = record_part(kv, &input.bucket, &input.key, upload_id, part, &written).await?;
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag(&record.etag)),
        checksum_crc32: checksums.crc32,
        checksum_crc32c: checksums.crc32c,
        checksum_crc64nvme: checksums.crc64nvme,
        checksum_sha1: checksums.sha1,
        checksum_sha256: checksums.sha256,
        ..Default::default()
    }))
}

/// Commits a part record for freshly written data, if the upload is still open.
pub async fn record_part<K: KvStore>(
    kv: &K,
    bucket: &str,
    key: &str,
    upload_id: u64,
    part: u32,
    written: &WrittenData,
) -> S3Result<PartRecord> {
    let data_id = written.segment.data_id;
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        upload_in(&txn, bucket, key, upload_id).await?;
        still_pending(&txn, &[data_id]).await?;
        let record = PartRecord {
            segment: written.segment.clone(),
            etag: hex(&written.md5),
            last_modified_ms: ts_to_ms(txn.start_ts().await?),
        };
        txn.write(
            Vec::new(),
            vec![
                Mutation::Put { key: part_kv_key(upload_id, part), value: encode(&record), expiry: Expiry::Never },
                Mutation::Delete { key: pending_key(data_id) },
            ],
        )
        .await?;
        if commit(kv, txn).await? {
            return Ok(record);
        }
        retry.pause().await?;
    }
}
