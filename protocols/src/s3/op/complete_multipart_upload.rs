//! CompleteMultipartUpload: checks the listed parts (ascending numbers, each uploaded with the
//! given ETag, all but the last at least 5 MiB), then one transaction writes the object's
//! manifest — its segments are the parts' data — and removes the upload and every part
//! record. The ETag is S3's multipart ETag: hex MD5 of the parts' binary MD5s, `-` part count.

use s3s::dto::{CompleteMultipartUploadInput, CompleteMultipartUploadOutput};
use s3s::{S3Request, S3Response};

use super::{etag, hex};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::op::put_object::precondition;
use crate::s3::store::keys::{object_key, upload_key};
use crate::s3::store::multipart::{list_parts, parse_upload_id, upload_in, MIN_PART_SIZE};
use crate::s3::store::records::{decode, encode, Checksums, ObjectManifest, PartRecord};
use crate::s3::store::{bucket_in, commit, ts_to_ms, Retry};

/// Parses a part's hex ETag (quotes allowed) into the MD5 it stands for.
fn md5_of(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The multipart ETag of parts with these MD5s.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> String {
    use s3s::crypto::Checksum as _;
    let mut all = s3s::crypto::Md5::new();
    for md5 in md5s {
        all.update(md5);
    }
    format!("{}-{}", hex(&all.finalize()), md5s.len())
}

pub async fn run<K: KvStore>(
    kv: &K,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let upload_id = parse_upload_id(&input.upload_id)?;
    let chosen: Vec<(i32, String)> = input
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.part_number.unwrap_or(0), p.e_tag.map(|t| t.value().to_string()).unwrap_or_default()))
        .collect();
    if chosen.is_empty() {
        return Err(S3Error::MalformedXml);
    }
    if chosen.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(S3Error::InvalidPartOrder);
    }
    let check = precondition(input.if_match.as_ref(), input.if_none_match.as_ref());
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, &input.bucket).await?;
        let upload = upload_in(&txn, &input.bucket, &input.key, upload_id).await?;
        let uploaded = list_parts(kv, upload_id, txn.start_ts().await?).await?;
        let mut segments = Vec::with_capacity(chosen.len());
        let mut md5s = Vec::with_capacity(chosen.len());
        let mut size = 0u64;
        let keys: Vec<_> = chosen
            .iter()
            .map(|(n, _)| crate::s3::store::keys::part_key(upload_id, u32::try_from(*n).unwrap_or(0)))
            .collect();
        // Read the chosen parts in the transaction: a concurrent re-upload of one conflicts.
        let read = txn.get(keys).await?;
        for (i, ((_, wanted_etag), state)) in chosen.iter().zip(read.states).enumerate() {
            let part: PartRecord = decode(&state.value.ok_or(S3Error::InvalidPart)?)?;
            let md5 = md5_of(wanted_etag).ok_or(S3Error::InvalidPart)?;
            if md5_of(&part.etag) != Some(md5) {
                return Err(S3Error::InvalidPart);
            }
            if i + 1 < chosen.len() && part.segment.size < MIN_PART_SIZE {
                return Err(S3Error::EntityTooSmall);
            }
            size += part.segment.size;
            md5s.push(md5);
            if part.segment.size > 0 {
                segments.push(part.segment);
            }
        }
        if let Some(check) = &check {
            let current = txn.get(vec![object_key(&input.bucket, &input.key)]).await?;
            let current = match current.states.into_iter().next().and_then(|s| s.value) {
                Some(v) => Some(decode::<ObjectManifest>(&v)?),
                None => None,
            };
            check(current.as_ref())?;
        }
        let manifest = ObjectManifest {
            size,
            etag: multipart_etag(&md5s),
            last_modified_ms: ts_to_ms(txn.start_ts().await?),
            segments,
            headers: upload.headers,
            metadata: upload.metadata,
            checksums: Checksums::default(),
            tags: upload.tags,
            acl: upload.acl,
            parts_count: Some(chosen.len() as u32),
        };
        let mut mutations = vec![
            Mutation::Put {
                key: object_key(&input.bucket, &input.key),
                value: encode(&manifest),
                expiry: Expiry::Never,
            },
            Mutation::Delete { key: upload_key(&input.bucket, &input.key, upload_id) },
        ];
        mutations.extend(uploaded.into_iter().map(|(_, _, key)| Mutation::Delete { key }));
        txn.write(Vec::new(), mutations).await?;
        if commit(kv, txn).await? {
            return Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(input.bucket.clone()),
                key: Some(input.key.clone()),
                location: Some(format!("/{}/{}", input.bucket, input.key)),
                e_tag: Some(etag(&manifest.etag)),
                ..Default::default()
            }));
        }
        retry.pause().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_the_md5_of_part_md5s_and_the_count() {
        // Two parts whose MD5s are those of "a" and "b".
        let a = md5_of("0cc175b9c0f1b6a831c399e269772661").unwrap();
        let b = md5_of("\"92eb5ffee6ae2fec3ad71c777531578f\"").unwrap();
        let etag = multipart_etag(&[a, b]);
        assert!(etag.ends_with("-2"), "{etag}");
        assert_eq!(etag.len(), 32 + 2);
        assert_ne!(multipart_etag(&[b, a]), etag, "order matters");
        assert!(md5_of("zz").is_none());
    }
}
