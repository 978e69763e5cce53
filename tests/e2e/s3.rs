//! S3 through the AWS SDK for Rust against real `strata core` / `strata gateway` processes:
//! every implemented operation, its error codes, SigV4 (headers, presigned URLs, a wrong
//! secret), anonymous access to public-read buckets, virtual-host addressing, and objects
//! larger than one chunk read back by ranges.

use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, Delete, MetadataDirective, ObjectIdentifier};
use aws_sdk_s3::Client;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cluster::{free_port, Cluster};

const ACCESS_KEY: &str = "STRATATESTKEY";
const SECRET_KEY: &str = "strata-test-secret";

struct S3Cluster {
    cluster: Cluster,
    port: u16,
}

impl S3Cluster {
    async fn start() -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let cluster = Cluster::start_with(
            &[],
            &[
                "--s3-listen",
                &listen,
                "--s3-access-key",
                ACCESS_KEY,
                "--s3-secret-key",
                SECRET_KEY,
                "--chunk-gc-ms",
                "0",
            ],
        )
        .await;
        S3Cluster { cluster, port }
    }

    fn client(&self) -> Client {
        client(self.port, ACCESS_KEY, SECRET_KEY)
    }
}

fn client(port: u16, access_key: &str, secret_key: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .force_path_style(true)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "e2e"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

/// The S3 error code of a failed call (for HEAD, which has no body, the SDK derives it from
/// the status).
fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    result: Result<impl std::fmt::Debug, SdkError<E, R>>,
) -> String {
    let err = result.expect_err("the call should fail");
    err.as_service_error().and_then(|e| e.code()).map(str::to_string).unwrap_or_else(|| format!("{err:?}"))
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

/// A plain HTTP/1.1 request without any signature: `(status, body)`.
async fn raw_get(port: u16, host: &str, path: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = raw_get_with_head(port, host, path).await;
    (status, body)
}

/// Status, response head (lower-cased) and body of an unsigned GET.
async fn raw_get_with_head(port: u16, host: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head.to_lowercase(), response[split + 4..].to_vec())
}

async fn body_of(output: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    output.body.collect().await.expect("body").into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_buckets_objects_listing_and_errors() {
    let s3 = S3Cluster::start().await;
    let c = s3.client();

    // Buckets.
    c.create_bucket().bucket("alpha").send().await.expect("create alpha");
    c.create_bucket().bucket("beta").send().await.expect("create beta");
    c.create_bucket().bucket("alpha").send().await.expect("re-creating one's own bucket is a no-op (us-east-1)");
    let names: Vec<String> =
        c.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(str::to_string)).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let first = c.list_buckets().max_buckets(1).send().await.unwrap();
    assert_eq!(first.buckets().iter().filter_map(|b| b.name()).collect::<Vec<_>>(), ["alpha"]);
    let token = first.continuation_token().expect("a token while more buckets follow");
    let second = c.list_buckets().max_buckets(1).continuation_token(token).send().await.unwrap();
    assert_eq!(second.buckets().iter().filter_map(|b| b.name()).collect::<Vec<_>>(), ["beta"]);
    assert_eq!(second.continuation_token(), None, "no token on the last page");
    let by_prefix = c.list_buckets().prefix("be").send().await.unwrap();
    assert_eq!(by_prefix.buckets().iter().filter_map(|b| b.name()).collect::<Vec<_>>(), ["beta"]);
    c.head_bucket().bucket("alpha").send().await.expect("head alpha");
    assert_eq!(code(c.head_bucket().bucket("nope").send().await), "NotFound");
    let location = c.get_bucket_location().bucket("alpha").send().await.unwrap();
    assert!(location.location_constraint().is_none_or(|l| l.as_str().is_empty()));
    let versioning = c.get_bucket_versioning().bucket("alpha").send().await.unwrap();
    assert!(versioning.status().is_none(), "never versioned");
    assert_eq!(code(c.get_object().bucket("nope").key("k").send().await), "NoSuchBucket");

    // Put / get / head with metadata and content headers.
    let put = c
        .put_object()
        .bucket("alpha")
        .key("docs/readme.txt")
        .body(ByteStream::from_static(b"hello, strata"))
        .content_type("text/plain")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"readme.txt\"")
        .cache_control("max-age=60")
        .metadata("Color", "blue")
        .send()
        .await
        .expect("put");
    let etag = put.e_tag().expect("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", md5_hex(b"hello, strata")));
    let got = c.get_object().bucket("alpha").key("docs/readme.txt").send().await.expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"readme.txt\""));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.metadata().and_then(|m| m.get("color")).map(String::as_str), Some("blue"));
    assert_eq!(body_of(got).await, b"hello, strata");
    let head = c.head_object().bucket("alpha").key("docs/readme.txt").send().await.expect("head");
    assert_eq!(head.content_length(), Some(13));
    assert_eq!(code(c.get_object().bucket("alpha").key("missing").send().await), "NoSuchKey");
    assert_eq!(code(c.head_object().bucket("alpha").key("missing").send().await), "NotFound");

    // response-* overrides, ranges and conditions.
    let got = c
        .get_object()
        .bucket("alpha")
        .key("docs/readme.txt")
        .response_content_type("application/octet-stream")
        .range("bytes=7-12")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/octet-stream"));
    assert_eq!(got.content_range(), Some("bytes 7-12/13"));
    assert_eq!(body_of(got).await, b"strata");
    let suffix = c.get_object().bucket("alpha").key("docs/readme.txt").range("bytes=-3").send().await.unwrap();
    assert_eq!(body_of(suffix).await, b"ata");
    assert_eq!(
        code(c.get_object().bucket("alpha").key("docs/readme.txt").range("bytes=100-").send().await),
        "InvalidRange"
    );
    assert_eq!(
        code(c.get_object().bucket("alpha").key("docs/readme.txt").if_match("\"nope\"").send().await),
        "PreconditionFailed"
    );
    c.get_object().bucket("alpha").key("docs/readme.txt").if_match(&etag).send().await.expect("if-match holds");
    let not_modified = c.get_object().bucket("alpha").key("docs/readme.txt").if_none_match(&etag).send().await;
    assert!(
        not_modified
            .as_ref()
            .err()
            .and_then(|e| e.raw_response())
            .is_some_and(|r| r.status().as_u16() == 304 && r.headers().get("etag") == Some(etag.as_str())),
        "If-None-Match with the current ETag is 304 and repeats the ETag: {not_modified:?}"
    );
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let unmodified = c.get_object().bucket("alpha").key("docs/readme.txt").if_modified_since(future).send().await;
    assert!(unmodified.as_ref().err().and_then(|e| e.raw_response()).is_some_and(|r| r.status().as_u16() == 304));
    let past = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
    c.get_object()
        .bucket("alpha")
        .key("docs/readme.txt")
        .if_modified_since(past)
        .send()
        .await
        .expect("modified since 2001");

    // Content-MD5 and checksums.
    assert_eq!(
        code(
            c.put_object()
                .bucket("alpha")
                .key("bad")
                .body(ByteStream::from_static(b"x"))
                .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
                .send()
                .await
        ),
        "BadDigest"
    );
    c.put_object()
        .bucket("alpha")
        .key("md5")
        .body(ByteStream::from_static(b"hello, strata"))
        .content_md5(md5_base64(b"hello, strata"))
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("a correct Content-MD5 and SHA-256 are accepted");

    // Listing.
    for key in ["a/1", "a/2", "a/b/3", "b", "c d+e"] {
        c.put_object().bucket("alpha").key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let all = c.list_objects_v2().bucket("alpha").send().await.unwrap();
    let keys: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/1", "a/2", "a/b/3", "b", "c d+e", "docs/readme.txt", "md5"]);
    let top = c.list_objects_v2().bucket("alpha").delimiter("/").send().await.unwrap();
    let prefixes: Vec<&str> = top.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["a/", "docs/"]);
    let keys: Vec<&str> = top.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["b", "c d+e", "md5"]);
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = c.list_objects_v2().bucket("alpha").max_keys(2).set_continuation_token(token).send().await.unwrap();
        pages.push(page.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect::<Vec<_>>());
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages.len(), 4);
    assert_eq!(pages.concat().len(), 7);
    let after = c.list_objects_v2().bucket("alpha").start_after("b").prefix("").send().await.unwrap();
    assert_eq!(after.contents().first().and_then(|o| o.key()), Some("c d+e"));
    let encoded = c
        .list_objects_v2()
        .bucket("alpha")
        .prefix("c")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    // The server percent-encodes keys (the Rust SDK hands them over as received).
    assert_eq!(encoded.contents().first().and_then(|o| o.key()), Some("c%20d%2Be"));
    let v1 = c.list_objects().bucket("alpha").prefix("a/").delimiter("/").send().await.unwrap();
    assert_eq!(v1.contents().iter().filter_map(|o| o.key()).collect::<Vec<_>>(), ["a/1", "a/2"]);
    assert_eq!(v1.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), ["a/b/"]);
    let page = c.list_objects().bucket("alpha").max_keys(3).send().await.unwrap();
    assert_eq!(page.is_truncated(), Some(true));
    let next = c.list_objects().bucket("alpha").marker(page.next_marker().unwrap()).send().await.unwrap();
    assert_eq!(next.contents().len(), 4);
    let versions = c.list_object_versions().bucket("alpha").prefix("a/").send().await.unwrap();
    assert_eq!(versions.versions().len(), 3);
    assert!(versions.versions().iter().all(|v| v.version_id() == Some("null") && v.is_latest() == Some(true)));

    // Copy: COPY keeps metadata, REPLACE swaps it; the copy outlives its source.
    c.copy_object().bucket("beta").key("copy").copy_source("alpha/docs/readme.txt").send().await.expect("copy");
    let copied = c.head_object().bucket("beta").key("copy").send().await.unwrap();
    assert_eq!(copied.metadata().and_then(|m| m.get("color")).map(String::as_str), Some("blue"));
    assert_eq!(copied.e_tag(), Some(etag.as_str()));
    c.copy_object()
        .bucket("beta")
        .key("replaced")
        .copy_source("alpha/docs/readme.txt")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("shape", "round")
        .content_type("text/markdown")
        .send()
        .await
        .unwrap();
    let replaced = c.head_object().bucket("beta").key("replaced").send().await.unwrap();
    assert_eq!(replaced.metadata().and_then(|m| m.get("shape")).map(String::as_str), Some("round"));
    assert!(replaced.metadata().and_then(|m| m.get("color")).is_none());
    assert_eq!(replaced.content_type(), Some("text/markdown"));
    assert_eq!(code(c.copy_object().bucket("beta").key("x").copy_source("alpha/missing").send().await), "NoSuchKey");

    // Delete, DeleteObjects, DeleteBucket.
    assert_eq!(code(c.delete_bucket().bucket("alpha").send().await), "BucketNotEmpty");
    c.delete_object().bucket("alpha").key("docs/readme.txt").send().await.expect("delete");
    c.delete_object().bucket("alpha").key("docs/readme.txt").send().await.expect("deleting a missing key succeeds");
    assert_eq!(code(c.get_object().bucket("alpha").key("docs/readme.txt").send().await), "NoSuchKey");
    assert_eq!(body_of(c.get_object().bucket("beta").key("copy").send().await.unwrap()).await, b"hello, strata");
    let listed = c.list_object_versions().bucket("alpha").send().await.unwrap();
    let ids: Vec<ObjectIdentifier> = listed
        .versions()
        .iter()
        .map(|v| ObjectIdentifier::builder().key(v.key().unwrap()).version_id("null").build().unwrap())
        .collect();
    let deleted = c
        .delete_objects()
        .bucket("alpha")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .expect("delete objects");
    assert_eq!(deleted.deleted().len(), 6);
    assert!(c.list_objects_v2().bucket("alpha").send().await.unwrap().contents().is_empty());
    c.delete_bucket().bucket("alpha").send().await.expect("delete the emptied bucket");
    assert_eq!(code(c.head_bucket().bucket("alpha").send().await), "NotFound");
    assert_eq!(code(c.delete_bucket().bucket("alpha").send().await), "NoSuchBucket");

    // Not implemented operations answer 501 NotImplemented.
    let not_implemented = c.get_bucket_policy().bucket("beta").send().await;
    assert_eq!(code(not_implemented), "NotImplemented");
    drop(s3);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_signatures_presigned_urls_and_public_read() {
    let s3 = S3Cluster::start().await;
    let c = s3.client();
    c.create_bucket().bucket("private").send().await.unwrap();
    c.create_bucket().bucket("public").acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    for bucket in ["private", "public"] {
        c.put_object().bucket(bucket).key("k").body(ByteStream::from_static(b"v")).send().await.unwrap();
    }

    assert_eq!(code(client(s3.port, ACCESS_KEY, "wrong-secret").list_buckets().send().await), "SignatureDoesNotMatch");
    assert_eq!(code(client(s3.port, "UNKNOWNKEY", SECRET_KEY).list_buckets().send().await), "InvalidAccessKeyId");

    // Anonymous: reads of public-read buckets only, path or virtual-host style.
    let host = format!("127.0.0.1:{}", s3.port);
    assert_eq!(raw_get(s3.port, &host, "/public/k").await, (200, b"v".to_vec()));
    assert_eq!(raw_get(s3.port, &format!("public.localhost:{}", s3.port), "/k").await, (200, b"v".to_vec()));
    let (status, body) = raw_get(s3.port, &host, "/private/k").await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>"), "{}", String::from_utf8_lossy(&body));
    assert_eq!(raw_get(s3.port, &host, "/").await.0, 403, "anonymous ListBuckets is denied");
    let (status, head, body) = raw_get_with_head(s3.port, &host, "/no-such-bucket/k").await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "a missing bucket is 404 to anyone: {body}");
    assert!(body.contains("<Code>NoSuchBucket</Code>"), "{body}");
    let (status, head_missing_key, body) = raw_get_with_head(s3.port, &host, "/public/missing").await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "{body}");
    let request_id = head_missing_key
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-request-id: "))
        .expect("every response names its request")
        .to_uppercase();
    assert!(body.contains(&format!("<RequestId>{request_id}</RequestId>")), "the error body names it too: {body}");
    assert!(head.contains("x-amz-request-id: "), "{head}");

    // Presigned URLs work without any header signature.
    let presigned = c
        .get_object()
        .bucket("private")
        .key("k")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = presigned.uri().parse().unwrap();
    let (status, body) = raw_get(s3.port, &host, uri.path_and_query().unwrap().as_str()).await;
    assert_eq!((status, body), (200, b"v".to_vec()));
    let tampered = uri.path_and_query().unwrap().as_str().replace("/private/k", "/public/k");
    assert_eq!(raw_get(s3.port, &host, &tampered).await.0, 403, "a presigned URL signs its path");
    drop(s3);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_multi_chunk_objects_stream_and_read_back_by_ranges() {
    let s3 = S3Cluster::start().await;
    let c = s3.client();
    c.create_bucket().bucket("big").send().await.unwrap();
    // A bit over 5 chunks of 1 MiB, so chunk and range boundaries do not line up.
    let data = random_bytes(5 * 1024 * 1024 + 12_345);
    let put = c.put_object().bucket("big").key("blob").body(ByteStream::from(data.clone())).send().await.expect("put");
    assert_eq!(put.e_tag().unwrap(), format!("\"{}\"", md5_hex(&data)));
    let whole = body_of(c.get_object().bucket("big").key("blob").send().await.unwrap()).await;
    assert!(whole == data, "the whole object reads back");
    for (start, end) in
        [(0usize, 10usize), (1_048_570, 1_048_590), (2_000_000, 4_500_000), (data.len() - 7, data.len())]
    {
        let got = c
            .get_object()
            .bucket("big")
            .key("blob")
            .range(format!("bytes={}-{}", start, end - 1))
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_length(), Some((end - start) as i64));
        assert!(body_of(got).await == data[start..end], "range {start}-{end}");
    }
    // Overwriting replaces the whole object atomically.
    let smaller = random_bytes(1_500_000);
    c.put_object().bucket("big").key("blob").body(ByteStream::from(smaller.clone())).send().await.unwrap();
    assert!(body_of(c.get_object().bucket("big").key("blob").send().await.unwrap()).await == smaller);
    drop(s3);
}

fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

fn md5_hex(data: &[u8]) -> String {
    md5(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn md5_base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(md5(data))
}

async fn upload_part(c: &Client, bucket: &str, key: &str, upload: &str, n: i32, data: &[u8]) -> String {
    let out = c
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"));
    out.e_tag().expect("part etag").to_string()
}

fn completed(parts: &[(i32, &str)]) -> aws_sdk_s3::types::CompletedMultipartUpload {
    aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, etag)| aws_sdk_s3::types::CompletedPart::builder().part_number(*n).e_tag(*etag).build())
                .collect(),
        ))
        .build()
}

/// S3's multipart ETag: MD5 of the parts' binary MD5s, then `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let joined: Vec<u8> = parts.iter().flat_map(|p| md5(p)).collect();
    format!("\"{}-{}\"", md5_hex(&joined), parts.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_multipart_uploads() {
    let s3 = S3Cluster::start().await;
    let c = s3.client();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    c.put_object().bucket("mpu").key("source").body(ByteStream::from_static(b"0123456789")).send().await.unwrap();

    let create = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("obj")
        .content_type("video/mp4")
        .metadata("m", "1")
        .send()
        .await
        .unwrap();
    let upload = create.upload_id().unwrap().to_string();
    let first = random_bytes(5 * 1024 * 1024 + 3);
    let second = random_bytes(5 * 1024 * 1024 + 7);
    let e1 = upload_part(&c, "mpu", "obj", &upload, 1, &first).await;
    let e2 = upload_part(&c, "mpu", "obj", &upload, 2, &second).await;
    let copy = c
        .upload_part_copy()
        .bucket("mpu")
        .key("obj")
        .upload_id(&upload)
        .part_number(3)
        .copy_source("mpu/source")
        .copy_source_range("bytes=2-5")
        .send()
        .await
        .expect("upload part copy");
    let e3 = copy.copy_part_result().and_then(|r| r.e_tag()).unwrap().to_string();
    assert_eq!(e3, format!("\"{}\"", md5_hex(b"2345")));

    let parts = c.list_parts().bucket("mpu").key("obj").upload_id(&upload).send().await.unwrap();
    let listed: Vec<(i32, i64)> = parts.parts().iter().map(|p| (p.part_number().unwrap(), p.size().unwrap())).collect();
    assert_eq!(listed, [(1, first.len() as i64), (2, second.len() as i64), (3, 4)]);
    let uploads = c.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert_eq!(uploads.uploads().iter().filter_map(|u| u.upload_id()).collect::<Vec<_>>(), [upload.as_str()]);
    assert_eq!(code(c.delete_bucket().bucket("mpu").send().await), "BucketNotEmpty");

    let wrong = c.complete_multipart_upload().bucket("mpu").key("obj").upload_id(&upload);
    assert_eq!(code(wrong.clone().multipart_upload(completed(&[(1, &e2)])).send().await), "InvalidPart");
    assert_eq!(code(wrong.clone().multipart_upload(completed(&[(2, &e2), (1, &e1)])).send().await), "InvalidPartOrder");
    drop(wrong);
    let small = c.create_multipart_upload().bucket("mpu").key("small").send().await.unwrap();
    let small = small.upload_id().unwrap();
    let s1 = upload_part(&c, "mpu", "small", small, 1, b"tiny").await;
    let s2 = upload_part(&c, "mpu", "small", small, 2, b"tail").await;
    let too_small = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(small)
        .multipart_upload(completed(&[(1, &s1), (2, &s2)]))
        .send()
        .await;
    assert_eq!(code(too_small), "EntityTooSmall", "every part but the last must be 5 MiB");
    c.abort_multipart_upload().bucket("mpu").key("small").upload_id(small).send().await.unwrap();

    let done = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("obj")
        .upload_id(&upload)
        .multipart_upload(completed(&[(1, &e1), (2, &e2), (3, &e3)]))
        .send()
        .await
        .expect("complete");
    assert_eq!(done.e_tag().unwrap(), multipart_etag(&[&first, &second, b"2345"]));
    let whole: Vec<u8> = [first.as_slice(), second.as_slice(), b"2345"].concat();
    let got = c.get_object().bucket("mpu").key("obj").send().await.unwrap();
    assert_eq!(got.content_type(), Some("video/mp4"));
    assert_eq!(got.metadata().and_then(|m| m.get("m")).map(String::as_str), Some("1"));
    assert!(body_of(got).await == whole);
    let across = (first.len() - 10, first.len() + second.len() + 2);
    let ranged = c
        .get_object()
        .bucket("mpu")
        .key("obj")
        .range(format!("bytes={}-{}", across.0, across.1 - 1))
        .send()
        .await
        .unwrap();
    assert!(body_of(ranged).await == whole[across.0..across.1], "a range across part boundaries");
    assert_eq!(code(c.list_parts().bucket("mpu").key("obj").upload_id(&upload).send().await), "NoSuchUpload");

    let aborted = c.create_multipart_upload().bucket("mpu").key("gone").send().await.unwrap();
    let aborted = aborted.upload_id().unwrap();
    upload_part(&c, "mpu", "gone", aborted, 1, b"bytes").await;
    c.abort_multipart_upload().bucket("mpu").key("gone").upload_id(aborted).send().await.expect("abort");
    assert_eq!(code(c.list_parts().bucket("mpu").key("gone").upload_id(aborted).send().await), "NoSuchUpload");
    assert_eq!(code(c.head_object().bucket("mpu").key("gone").send().await), "NotFound");

    // Uploads still open do not keep a bucket alive: they are aborted with it, as on AWS.
    c.create_bucket().bucket("uploads-only").send().await.unwrap();
    let open = c.create_multipart_upload().bucket("uploads-only").key("k").send().await.unwrap();
    let open = open.upload_id().unwrap();
    upload_part(&c, "uploads-only", "k", open, 1, b"part").await;
    c.delete_bucket().bucket("uploads-only").send().await.expect("a bucket with only open uploads deletes");
    assert_eq!(code(c.head_bucket().bucket("uploads-only").send().await), "NotFound");
    c.create_bucket().bucket("uploads-only").send().await.unwrap();
    let uploads = c.list_multipart_uploads().bucket("uploads-only").send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "the old upload went with the old bucket: {uploads:?}");
    assert_eq!(code(c.list_parts().bucket("uploads-only").key("k").upload_id(open).send().await), "NoSuchUpload");
    drop(s3);
}

/// A multipart upload keeps going while the leader of the range holding its chunks is killed
/// midway (the gateway retries on the new leader), and reads back whole.
#[tokio::test(flavor = "multi_thread")]
async fn s3_multipart_upload_survives_a_leader_kill() {
    let mut s3 = S3Cluster::start().await;
    let c = s3.client();
    c.create_bucket().bucket("hard").send().await.unwrap();
    let upload = c.create_multipart_upload().bucket("hard").key("big").send().await.unwrap();
    let upload = upload.upload_id().unwrap().to_string();
    const PARTS: i32 = 8;
    let mut parts = Vec::new();
    let mut etags = Vec::new();
    for n in 1..=PARTS {
        if n == PARTS / 2 {
            let leader = s3.cluster.wait_for_leader(None).await;
            s3.cluster.kill(leader);
        }
        let data = random_bytes(5 * 1024 * 1024);
        etags.push(upload_part(&c, "hard", "big", &upload, n, &data).await);
        parts.push(data);
    }
    let list: Vec<(i32, &str)> = etags.iter().enumerate().map(|(i, e)| (i as i32 + 1, e.as_str())).collect();
    c.complete_multipart_upload()
        .bucket("hard")
        .key("big")
        .upload_id(&upload)
        .multipart_upload(completed(&list))
        .send()
        .await
        .expect("complete after the leader kill");
    let whole = body_of(c.get_object().bucket("hard").key("big").send().await.unwrap()).await;
    assert!(whole == parts.concat(), "every byte survives");
}
