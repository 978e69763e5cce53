//! Content-MD5 and x-amz-checksum-*: which digests a request asks the server to compute, and
//! whether what arrived matches what the client declared — in a header, or in the trailer of
//! an aws-chunked body (read once the body has been consumed).

use base64::Engine as _;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::Checksum;
use s3s::TrailingHeaders;

use crate::s3::error::{S3Error, S3Result};
use crate::s3::store::records::Checksums;

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// The decoded Content-MD5 header, if sent.
pub fn content_md5(value: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(value) = value else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| S3Error::InvalidDigest)?;
    bytes.try_into().map(Some).map_err(|_| S3Error::InvalidDigest)
}

/// A hasher for every algorithm the request names (a checksum header, the trailer it
/// announces, or x-amz-sdk-checksum-algorithm).
pub fn requested(headers: &HeaderMap) -> ChecksumHasher {
    let wanted = |alg: &str| -> bool {
        let header = format!("x-amz-checksum-{alg}");
        headers.contains_key(header.as_str())
            || headers
                .get_all("x-amz-trailer")
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case(&header)))
            || headers
                .get("x-amz-sdk-checksum-algorithm")
                .is_some_and(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case(alg)))
    };
    ChecksumHasher {
        crc32: wanted("crc32").then(Crc32::new),
        crc32c: wanted("crc32c").then(Crc32c::new),
        crc64nvme: wanted("crc64nvme").then(Crc64Nvme::new),
        sha1: wanted("sha1").then(Sha1::new),
        sha256: wanted("sha256").then(Sha256::new),
    }
}

/// Compares the computed digests with those declared in headers or trailers; the computed
/// ones are what gets stored.
pub fn verify(headers: &HeaderMap, trailers: Option<&TrailingHeaders>, computed: Checksum) -> S3Result<Checksums> {
    let trailer_values: Vec<(String, String)> = trailers
        .and_then(|t| {
            t.read(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
                    .collect()
            })
        })
        .unwrap_or_default();
    let got = [
        computed.checksum_crc32.clone(),
        computed.checksum_crc32c.clone(),
        computed.checksum_crc64nvme.clone(),
        computed.checksum_sha1.clone(),
        computed.checksum_sha256.clone(),
    ];
    for (alg, got) in ALGORITHMS.iter().zip(&got) {
        let header = format!("x-amz-checksum-{alg}");
        let declared = headers
            .get(header.as_str())
            .and_then(|v| v.to_str().ok().map(str::to_string))
            .or_else(|| trailer_values.iter().find(|(k, _)| *k == header).map(|(_, v)| v.clone()));
        if let (Some(declared), Some(got)) = (declared, got) {
            if declared.trim() != got {
                return Err(S3Error::ChecksumMismatch(match *alg {
                    "crc32" => "CRC32",
                    "crc32c" => "CRC32C",
                    "crc64nvme" => "CRC64NVME",
                    "sha1" => "SHA1",
                    _ => "SHA256",
                }));
            }
        }
    }
    let [crc32, crc32c, crc64nvme, sha1, sha256] = got;
    Ok(Checksums { crc32, crc32c, crc64nvme, sha1, sha256 })
}
