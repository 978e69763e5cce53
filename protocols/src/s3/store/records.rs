//! The records S3 keeps in the KV store, encoded with postcard behind a one-byte format
//! version so a later layout can still read these.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::s3::error::{S3Error, S3Result};

const FORMAT: u8 = 1;

pub fn encode<T: Serialize>(record: &T) -> bytes::Bytes {
    let mut out = vec![FORMAT];
    // Serializing plain structs into a Vec cannot fail.
    out.extend(postcard::to_stdvec(record).unwrap_or_default());
    bytes::Bytes::from(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> S3Result<T> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => postcard::from_bytes(rest).map_err(|e| S3Error::Corrupt(e.to_string())),
        _ => Err(S3Error::Corrupt("unknown record format".into())),
    }
}

/// Canned ACLs: the two S3 ones Strata honours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CannedAcl {
    #[default]
    Private,
    /// Anyone, signed or not, may read.
    PublicRead,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketState {
    #[default]
    Live,
    /// DeleteBucket is checking that the bucket is empty; writes into it are refused, so no
    /// object can slip in between the check and the delete.
    Deleting,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub created_ms: u64,
    pub acl: CannedAcl,
    pub state: BucketState,
    pub tags: Vec<(String, String)>,
}

/// A run of bytes stored as chunks `C` + `data_id` + 0, 1, ... of `chunk_size` bytes each (the
/// last may be shorter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub data_id: u64,
    pub size: u64,
    pub chunk_size: u32,
}

/// Headers stored with an object and returned by GET/HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// The `Expires` header as the client sent it (HTTP date).
    pub expires: Option<String>,
}

/// x-amz-checksum-* values (base64), kept when the client sent or asked for them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

/// Everything about one object: its bytes are the concatenation of `segments` (one for a
/// plain upload, one per part for a multipart upload; a copy shares its source's segments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectManifest {
    pub size: u64,
    /// The ETag without quotes: hex MD5, or `hex(md5 of part MD5s)-N` for multipart.
    pub etag: String,
    pub last_modified_ms: u64,
    pub segments: Vec<Segment>,
    pub headers: ContentHeaders,
    /// User metadata (x-amz-meta-*), names lowercase.
    pub metadata: Vec<(String, String)>,
    pub checksums: Checksums,
    pub tags: Vec<(String, String)>,
    pub acl: CannedAcl,
    /// Number of parts for a multipart object.
    pub parts_count: Option<u32>,
}

impl ObjectManifest {
    pub fn data_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.iter().map(|s| s.data_id)
    }
}

/// A multipart upload in progress: what CompleteMultipartUpload will give the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub initiated_ms: u64,
    pub headers: ContentHeaders,
    pub metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub acl: CannedAcl,
}

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub segment: Segment,
    /// Hex MD5 of the part's bytes.
    pub etag: String,
    pub last_modified_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_an_error() {
        let record = BucketRecord { created_ms: 5, acl: CannedAcl::PublicRead, ..Default::default() };
        let bytes = encode(&record);
        assert_eq!(decode::<BucketRecord>(&bytes).unwrap(), record);
        assert!(decode::<BucketRecord>(b"").is_err());
        assert!(decode::<BucketRecord>(b"\x09abc").is_err());
    }
}
