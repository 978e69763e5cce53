//! Who may do what: signed requests (keys checked by s3s against [`KeyRing`]) may do
//! everything; anonymous requests may only read buckets and objects whose canned ACL is
//! `public-read`.

use std::collections::HashMap;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

use super::error::S3Error;
use super::store::records::CannedAcl;
use super::store::{get_bucket, get_manifest};
use crate::kv::KvStore;

/// The access keys the gateway accepts: access key id → secret.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: HashMap<String, String>,
}

impl KeyRing {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        KeyRing { keys: pairs.into_iter().collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyRing {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.keys.get(access_key) {
            Some(secret) => Ok(SecretKey::from(secret.as_str())),
            None => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
        }
    }
}

/// Operations an anonymous client may run on a public-read bucket.
const PUBLIC_BUCKET_READS: &[&str] = &[
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "HeadBucket",
    "GetBucketLocation",
    "GetObject",
    "HeadObject",
];

/// The access policy: anonymous reads of public-read buckets and objects only.
pub struct PublicReadAccess<K> {
    kv: K,
}

impl<K> PublicReadAccess<K> {
    pub fn new(kv: K) -> Self {
        PublicReadAccess { kv }
    }
}

#[async_trait::async_trait]
impl<K: KvStore + Clone + 'static> S3Access for PublicReadAccess<K> {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => return Err(s3_error!(AccessDenied)),
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        // As on AWS, a bucket that does not exist is 404 NoSuchBucket to anyone: its name is
        // no secret, and clients tell "gone" from "forbidden" by it.
        let record = get_bucket(&self.kv, &bucket).await.map_err(|e| match e {
            S3Error::NoSuchBucket => e.into_s3s(),
            _ => s3_error!(AccessDenied),
        })?;
        if !PUBLIC_BUCKET_READS.contains(&cx.s3_op().name()) {
            return Err(s3_error!(AccessDenied, "Anonymous users may only read public-read buckets"));
        }
        if record.acl == CannedAcl::PublicRead {
            return Ok(());
        }
        if let Some(key) = key {
            if let Ok(Some(manifest)) = get_manifest(&self.kv, &bucket, &key).await {
                if manifest.acl == CannedAcl::PublicRead {
                    return Ok(());
                }
            }
        }
        Err(s3_error!(AccessDenied))
    }
}
