//! CopyObject: the new manifest shares the source's chunks (no bytes are copied; the chunk
//! collector keeps data alive while any manifest names it). Metadata and tags are copied or
//! replaced per x-amz-metadata-directive / x-amz-tagging-directive; the x-amz-copy-source-if-*
//! conditions apply to the source.
//!
//! The source manifest is read inside the transaction that commits the copy, so a source
//! overwritten or deleted meanwhile makes the commit conflict and rerun instead of naming
//! chunks that may already be collected.

use s3s::dto::{CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource};
use s3s::{S3Request, S3Response};

use super::get_object::Conditions;
use super::{check_key, content_headers, etag, metadata_in, object_acl, timestamp};
use crate::kv::{Expiry, KvStore, Mutation};
use crate::redis::transaction::Transaction;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::keys::object_key;
use crate::s3::store::records::{decode, encode, ObjectManifest};
use crate::s3::store::{bucket_in, commit, ts_to_ms, Retry};

pub async fn run<K: KvStore>(kv: &K, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = req.input;
    check_key(&input.key)?;
    let (src_bucket, src_key) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id } => {
            if version_id.as_deref().is_some_and(|v| v != "null") {
                return Err(S3Error::InvalidArgument("Invalid version id specified".into()));
            }
            (bucket.to_string(), key.to_string())
        }
        _ => return Err(S3Error::NotImplemented("copying from an access point or outpost")),
    };
    let replace_metadata = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == "REPLACE");
    let replace_tags = input.tagging_directive.as_ref().is_some_and(|d| d.as_str() == "REPLACE");
    let acl = object_acl(input.acl.as_ref())?;
    if src_bucket == input.bucket && src_key == input.key && !replace_metadata {
        return Err(S3Error::InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself without changing the \
             object's metadata, storage class, website redirect location or encryption attributes."
                .into(),
        ));
    }
    let conditions = Conditions {
        if_match: input.copy_source_if_match.as_ref(),
        if_none_match: input.copy_source_if_none_match.as_ref(),
        if_modified_since: input.copy_source_if_modified_since.as_ref(),
        if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
    };
    let new_tags = match (replace_tags, input.tagging.as_deref()) {
        (true, Some(query)) => Some(super::parse_tag_query(query)?),
        (true, None) => Some(Vec::new()),
        _ => None,
    };
    let mut retry = Retry::default();
    loop {
        let txn = Transaction::new(kv);
        bucket_in(&txn, &src_bucket).await?;
        if src_bucket != input.bucket {
            bucket_in(&txn, &input.bucket).await?;
        }
        let read = txn.get(vec![object_key(&src_bucket, &src_key)]).await?;
        let value = read.states.into_iter().next().and_then(|s| s.value).ok_or(S3Error::NoSuchKey)?;
        let source: ObjectManifest = decode(&value)?;
        // A 304 makes no sense for a copy: S3 answers 412 for every failed condition.
        conditions.check(&source).map_err(|e| match e {
            S3Error::NotModified { .. } => S3Error::PreconditionFailed,
            other => other,
        })?;
        let mut copy = source.clone();
        copy.last_modified_ms = ts_to_ms(txn.start_ts().await?);
        copy.acl = acl;
        if replace_metadata {
            copy.metadata = metadata_in(input.metadata.clone());
            copy.headers = content_headers(
                input.content_type.as_ref().map(|c| c.to_string()),
                input.content_encoding.clone(),
                input.content_disposition.clone(),
                input.content_language.clone(),
                input.cache_control.clone(),
                input.expires.as_ref(),
            );
        }
        if let Some(tags) = &new_tags {
            copy.tags = tags.clone();
        }
        txn.write(
            Vec::new(),
            vec![Mutation::Put {
                key: object_key(&input.bucket, &input.key),
                value: encode(&copy),
                expiry: Expiry::Never,
            }],
        )
        .await?;
        if commit(kv, txn).await? {
            return Ok(S3Response::new(CopyObjectOutput {
                copy_object_result: Some(CopyObjectResult {
                    e_tag: Some(etag(&copy.etag)),
                    last_modified: Some(timestamp(copy.last_modified_ms)),
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
        retry.pause().await?;
    }
}
