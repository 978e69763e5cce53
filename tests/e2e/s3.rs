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

use aws_sdk_s3::config::http::HttpResponse;

use crate::cluster::{eventually, free_port, Cluster};

const ACCESS_KEY: &str = "STRATATESTKEY";
const SECRET_KEY: &str = "strata-test-secret";

struct S3Cluster {
    cluster: Cluster,
    port: u16,
}

impl S3Cluster {
    async fn start() -> Self {
        Self::start_with(&["--chunk-gc-ms", "0"]).await
    }

    /// A cluster whose gateway gets `extra` flags on top of the S3 listener and key.
    async fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["--s3-listen", &listen, "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY];
        args.extend_from_slice(extra);
        let cluster = Cluster::start_with(&[], &args).await;
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

/// The status and exact body of a failed call: S3 errors are XML documents, checked byte for
/// byte.
fn error_body<E: std::fmt::Debug, T: std::fmt::Debug>(result: Result<T, SdkError<E, HttpResponse>>) -> (u16, String) {
    let err = result.expect_err("the call should fail");
    let raw = err.raw_response().unwrap_or_else(|| panic!("no response: {err:?}"));
    let body = raw.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    // Every response names its request; an error body names the same one. The id differs per
    // call, so it is checked here and cut out of the body the callers compare byte for byte.
    let id = raw.headers().get("x-amz-request-id").expect("x-amz-request-id on every response");
    let body = body.replace(&format!("<RequestId>{id}</RequestId>"), "");
    assert!(!body.contains("<RequestId>"), "the body names another request than the header: {body}");
    (raw.status().as_u16(), body)
}

/// S3's XML error document for `code` and `message`, as s3s writes it.
fn xml_error(code: &str, message: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>")
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
/// midway (the gateway retries on the new leader), and reads back whole. Its size is
/// `STRATA_S3_LARGE_MIB` MiB (default 40, as 8 parts of 5 MiB) in parts of 5 MiB or more, so
/// the same test runs at 1 GiB by hand; the bytes are checked by MD5 as they stream, so the
/// test's memory stays at one part.
#[tokio::test(flavor = "multi_thread")]
async fn s3_multipart_upload_survives_a_leader_kill() {
    use md5::Digest;
    let total_mib: usize = std::env::var("STRATA_S3_LARGE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let parts = (total_mib / 5).clamp(2, 10_000);
    let part_size = (total_mib << 20) / parts;
    let mut s3 = S3Cluster::start().await;
    // S3 clients retry 503s; the part in flight at the kill may need more than the SDK's
    // default three attempts while a loaded cluster elects and catches up a new leader.
    let c = Client::from_conf(
        s3.client()
            .config()
            .to_builder()
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(10))
            .build(),
    );
    c.create_bucket().bucket("hard").send().await.unwrap();
    let upload = c.create_multipart_upload().bucket("hard").key("big").send().await.unwrap();
    let upload = upload.upload_id().unwrap().to_string();
    let mut written = md5::Md5::new();
    let mut etags = Vec::new();
    for n in 1..=parts as i32 {
        if n == parts as i32 / 2 {
            let leader = s3.cluster.wait_for_leader(None).await;
            s3.cluster.kill(leader);
        }
        let data = random_bytes(part_size);
        written.update(&data);
        etags.push(upload_part(&c, "hard", "big", &upload, n, &data).await);
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
    let got = c.get_object().bucket("hard").key("big").send().await.unwrap();
    assert_eq!(got.content_length(), Some((parts * part_size) as i64));
    let mut body = got.body;
    let mut read = md5::Md5::new();
    let mut len = 0usize;
    while let Some(bytes) = body.try_next().await.expect("body") {
        len += bytes.len();
        read.update(&bytes);
    }
    assert_eq!(len, parts * part_size);
    assert!(read.finalize() == written.finalize(), "every byte survives");
}

fn tag_set(tags: &[(&str, &str)]) -> aws_sdk_s3::types::Tagging {
    let tags = tags.iter().map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    aws_sdk_s3::types::Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
}

fn pairs(tags: &[aws_sdk_s3::types::Tag]) -> Vec<(String, String)> {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

fn owned(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_object_and_bucket_tagging() {
    let s3 = S3Cluster::start().await;
    let c = s3.client();
    c.create_bucket().bucket("tags").send().await.unwrap();

    // x-amz-tagging on PUT is what GetObjectTagging returns and GetObject counts.
    let put = c
        .put_object()
        .bucket("tags")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .tagging("a=1&b=two%20words")
        .send()
        .await
        .unwrap();
    let got = c.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    assert_eq!(pairs(got.tag_set()), owned(&[("a", "1"), ("b", "two words")]));
    let object = c.get_object().bucket("tags").key("k").send().await.unwrap();
    assert_eq!(object.tag_count(), Some(2));

    // PutObjectTagging replaces the whole set and leaves the data and ETag alone.
    c.put_object_tagging().bucket("tags").key("k").tagging(tag_set(&[("x", "y")])).send().await.unwrap();
    let got = c.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    assert_eq!(pairs(got.tag_set()), owned(&[("x", "y")]));
    let object = c.get_object().bucket("tags").key("k").send().await.unwrap();
    assert_eq!((object.tag_count(), object.e_tag()), (Some(1), put.e_tag()));
    assert_eq!(body_of(object).await, b"v");

    // S3's limits, each an InvalidTag XML error.
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let eleven: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let too_many = c.put_object_tagging().bucket("tags").key("k").tagging(tag_set(&eleven)).send().await;
    assert_eq!(error_body(too_many), (400, xml_error("InvalidTag", "Object tags cannot be greater than 10")));
    let duplicate = c.put_object_tagging().bucket("tags").key("k").tagging(tag_set(&[("a", "1"), ("a", "2")])).send();
    assert_eq!(
        error_body(duplicate.await),
        (400, xml_error("InvalidTag", "Cannot provide multiple Tags with the same key"))
    );
    let long_key = "k".repeat(129);
    let long = c.put_object_tagging().bucket("tags").key("k").tagging(tag_set(&[(&long_key, "v")])).send().await;
    assert_eq!(error_body(long), (400, xml_error("InvalidTag", "The TagKey you have provided is invalid")));
    let long_value = "v".repeat(257);
    let long = c.put_object_tagging().bucket("tags").key("k").tagging(tag_set(&[("k", &long_value)])).send().await;
    assert_eq!(error_body(long), (400, xml_error("InvalidTag", "The TagValue you have provided is invalid")));
    let header = c.put_object().bucket("tags").key("h").body(ByteStream::from_static(b"v")).tagging("a=1&a=2").send();
    assert_eq!(code(header.await), "InvalidTag", "x-amz-tagging follows the same rules");
    assert_eq!(
        error_body(c.get_object_tagging().bucket("tags").key("missing").send().await),
        (404, xml_error("NoSuchKey", "The specified key does not exist."))
    );
    let unchanged = c.get_object_tagging().bucket("tags").key("k").send().await.unwrap();
    assert_eq!(pairs(unchanged.tag_set()), owned(&[("x", "y")]), "refused sets change nothing");

    // CopyObject: COPY keeps the source's tags, REPLACE takes x-amz-tagging.
    c.copy_object().bucket("tags").key("copied").copy_source("tags/k").send().await.unwrap();
    let got = c.get_object_tagging().bucket("tags").key("copied").send().await.unwrap();
    assert_eq!(pairs(got.tag_set()), owned(&[("x", "y")]));
    c.copy_object()
        .bucket("tags")
        .key("replaced")
        .copy_source("tags/k")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .tagging("new=tag")
        .send()
        .await
        .unwrap();
    let got = c.get_object_tagging().bucket("tags").key("replaced").send().await.unwrap();
    assert_eq!(pairs(got.tag_set()), owned(&[("new", "tag")]));

    // DeleteObjectTagging empties the set.
    c.delete_object_tagging().bucket("tags").key("k").send().await.unwrap();
    assert!(c.get_object_tagging().bucket("tags").key("k").send().await.unwrap().tag_set().is_empty());
    assert_eq!(c.get_object().bucket("tags").key("k").send().await.unwrap().tag_count(), None);

    // Buckets: NoSuchTagSet until tagged, up to 50 tags.
    assert_eq!(
        error_body(c.get_bucket_tagging().bucket("tags").send().await),
        (404, xml_error("NoSuchTagSet", "The TagSet does not exist"))
    );
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("team{i:02}"), format!("{i}"))).collect();
    let fifty: Vec<(&str, &str)> = fifty.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.put_bucket_tagging().bucket("tags").tagging(tag_set(&fifty)).send().await.expect("50 bucket tags");
    let got = c.get_bucket_tagging().bucket("tags").send().await.unwrap();
    assert_eq!(pairs(got.tag_set()), owned(&fifty));
    let mut fifty_one = fifty.clone();
    fifty_one.push(("one-more", "x"));
    let too_many = c.put_bucket_tagging().bucket("tags").tagging(tag_set(&fifty_one)).send().await;
    assert_eq!(error_body(too_many), (400, xml_error("InvalidTag", "Bucket tags cannot be greater than 50")));
    c.delete_bucket_tagging().bucket("tags").send().await.unwrap();
    assert_eq!(code(c.get_bucket_tagging().bucket("tags").send().await), "NoSuchTagSet");
    assert_eq!(code(c.get_bucket_tagging().bucket("nope").send().await), "NoSuchBucket");
    drop(s3);
}

/// Canned ACLs set after creation decide what anonymous clients may read, and read back as
/// S3's grant lists.
#[tokio::test(flavor = "multi_thread")]
async fn s3_canned_acls_decide_anonymous_reads() {
    use aws_sdk_s3::types::{
        AccessControlPolicy, Grant, Grantee, ObjectCannedAcl, Owner, Permission, Type as GranteeType,
    };
    let s3 = S3Cluster::start().await;
    let c = s3.client();
    let host = format!("127.0.0.1:{}", s3.port);
    c.create_bucket().bucket("acl").send().await.unwrap();
    c.put_object().bucket("acl").key("k").body(ByteStream::from_static(b"v")).send().await.unwrap();
    assert_eq!(raw_get(s3.port, &host, "/acl/k").await.0, 403);

    // One object made public-read, then private again.
    c.put_object_acl().bucket("acl").key("k").acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(raw_get(s3.port, &host, "/acl/k").await, (200, b"v".to_vec()));
    let acl = c.get_object_acl().bucket("acl").key("k").send().await.unwrap();
    let grants: Vec<(String, String)> = acl
        .grants()
        .iter()
        .map(|g| {
            let grantee = g.grantee().unwrap();
            let who = grantee.id().or(grantee.uri()).unwrap_or_default().to_string();
            (who, g.permission().unwrap().as_str().to_string())
        })
        .collect();
    assert_eq!(
        grants,
        [
            ("strata".to_string(), "FULL_CONTROL".to_string()),
            ("http://acs.amazonaws.com/groups/global/AllUsers".to_string(), "READ".to_string())
        ]
    );
    assert_eq!(raw_get(s3.port, &host, "/acl").await.0, 403, "the bucket itself stays private");
    c.put_object_acl().bucket("acl").key("k").acl(ObjectCannedAcl::Private).send().await.unwrap();
    assert_eq!(raw_get(s3.port, &host, "/acl/k").await.0, 403);
    assert_eq!(c.get_object_acl().bucket("acl").key("k").send().await.unwrap().grants().len(), 1);

    // The bucket made public-read with an AccessControlPolicy body equivalent to the canned
    // ACL, then private with the header.
    let owner = Owner::builder().id("strata").display_name("strata").build();
    let full_control = Grant::builder()
        .grantee(Grantee::builder().r#type(GranteeType::CanonicalUser).id("strata").build().unwrap())
        .permission(Permission::FullControl)
        .build();
    let everyone_reads = Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(GranteeType::Group)
                .uri("http://acs.amazonaws.com/groups/global/AllUsers")
                .build()
                .unwrap(),
        )
        .permission(Permission::Read)
        .build();
    let public = AccessControlPolicy::builder()
        .owner(owner.clone())
        .grants(full_control.clone())
        .grants(everyone_reads.clone())
        .build();
    c.put_bucket_acl().bucket("acl").access_control_policy(public).send().await.expect("public-read policy");
    assert_eq!(raw_get(s3.port, &host, "/acl/k").await, (200, b"v".to_vec()));
    let (status, listing) = raw_get(s3.port, &host, "/acl?list-type=2").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&listing).contains("<Key>k</Key>"));
    assert_eq!(c.get_bucket_acl().bucket("acl").send().await.unwrap().grants().len(), 2);
    c.put_bucket_acl().bucket("acl").acl(BucketCannedAcl::Private).send().await.unwrap();
    assert_eq!(raw_get(s3.port, &host, "/acl/k").await.0, 403);
    assert_eq!(raw_get(s3.port, &host, "/acl?list-type=2").await.0, 403);

    // Anything finer than the two canned ACLs is 501, and changes nothing.
    let write_grant = Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(GranteeType::Group)
                .uri("http://acs.amazonaws.com/groups/global/AllUsers")
                .build()
                .unwrap(),
        )
        .permission(Permission::Write)
        .build();
    let finer = AccessControlPolicy::builder().owner(owner).grants(full_control).grants(write_grant).build();
    let (status, body) = error_body(c.put_bucket_acl().bucket("acl").access_control_policy(finer).send().await);
    assert_eq!(status, 501);
    assert!(body.contains("<Code>NotImplemented</Code>"), "{body}");
    assert_eq!(
        code(c.put_object_acl().bucket("acl").key("k").acl(ObjectCannedAcl::AuthenticatedRead).send().await),
        "NotImplemented"
    );
    assert_eq!(
        code(
            c.put_object_acl()
                .bucket("acl")
                .key("k")
                .grant_read("uri=http://acs.amazonaws.com/groups/global/AllUsers")
                .send()
                .await
        ),
        "NotImplemented"
    );
    assert_eq!(raw_get(s3.port, &host, "/acl/k").await.0, 403);
    assert_eq!(
        code(c.put_object_acl().bucket("acl").key("missing").acl(ObjectCannedAcl::Private).send().await),
        "NoSuchKey"
    );
    drop(s3);
}

/// DeleteObjects reports keys it cannot delete one by one; GetObject / HeadObject serve single
/// parts; ListMultipartUploads folds keys with a delimiter.
#[tokio::test(flavor = "multi_thread")]
async fn s3_per_key_errors_part_numbers_and_upload_prefixes() {
    let s3 = S3Cluster::start().await;
    let c = s3.client();
    c.create_bucket().bucket("gaps").send().await.unwrap();
    for key in ["one", "two"] {
        c.put_object().bucket("gaps").key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let ids = vec![
        ObjectIdentifier::builder().key("one").build().unwrap(),
        ObjectIdentifier::builder().key("two").version_id("v123").build().unwrap(),
        ObjectIdentifier::builder().key("k".repeat(1025)).build().unwrap(),
    ];
    let out = c
        .delete_objects()
        .bucket("gaps")
        .delete(Delete::builder().set_objects(Some(ids.clone())).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().iter().filter_map(|d| d.key()).collect::<Vec<_>>(), ["one"]);
    let errors: Vec<(&str, &str)> =
        out.errors().iter().map(|e| (e.key().unwrap_or_default(), e.code().unwrap_or_default())).collect();
    assert_eq!(errors, [("two", "NoSuchVersion"), (&*"k".repeat(1025), "KeyTooLongError")]);
    assert_eq!(out.errors()[0].version_id(), Some("v123"));
    c.head_object().bucket("gaps").key("two").send().await.expect("a refused key stays");
    let quiet = c
        .delete_objects()
        .bucket("gaps")
        .delete(Delete::builder().set_objects(Some(ids[1..].to_vec())).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(quiet.deleted().is_empty());
    assert_eq!(quiet.errors().len(), 2, "quiet mode still lists errors");

    // partNumber: a multipart object's parts in completion order; a plain object is part 1.
    let upload = c.create_multipart_upload().bucket("gaps").key("mp").send().await.unwrap();
    let upload = upload.upload_id().unwrap().to_string();
    let first = random_bytes(5 * 1024 * 1024);
    let second = random_bytes(1000);
    let e1 = upload_part(&c, "gaps", "mp", &upload, 1, &first).await;
    let e2 = upload_part(&c, "gaps", "mp", &upload, 2, &second).await;
    c.complete_multipart_upload()
        .bucket("gaps")
        .key("mp")
        .upload_id(&upload)
        .multipart_upload(completed(&[(1, &e1), (2, &e2)]))
        .send()
        .await
        .unwrap();
    let total = first.len() + second.len();
    let part = c.get_object().bucket("gaps").key("mp").part_number(2).send().await.unwrap();
    assert_eq!(part.parts_count(), Some(2));
    assert_eq!(part.content_range(), Some(format!("bytes {}-{}/{total}", first.len(), total - 1).as_str()));
    assert_eq!(part.e_tag(), Some(multipart_etag(&[&first, &second]).as_str()), "the whole object's ETag");
    assert!(body_of(part).await == second);
    let part = c.get_object().bucket("gaps").key("mp").part_number(1).send().await.unwrap();
    assert!(body_of(part).await == first);
    let head = c.head_object().bucket("gaps").key("mp").part_number(1).send().await.unwrap();
    assert_eq!((head.parts_count(), head.content_length()), (Some(2), Some(first.len() as i64)));
    let (status, body) = error_body(c.get_object().bucket("gaps").key("mp").part_number(3).send().await);
    assert_eq!((status, body), (416, xml_error("InvalidPartNumber", "The requested partnumber is not satisfiable")));
    let both = c.get_object().bucket("gaps").key("mp").part_number(1).range("bytes=0-1").send().await;
    assert_eq!(code(both), "InvalidRequest");
    let plain = c.get_object().bucket("gaps").key("two").part_number(1).send().await.unwrap();
    assert_eq!(plain.parts_count(), None);
    assert_eq!(body_of(plain).await, b"x");
    assert_eq!(code(c.get_object().bucket("gaps").key("two").part_number(2).send().await), "InvalidPartNumber");

    // ListMultipartUploads with a delimiter.
    for key in ["photos/2024/a", "photos/2024/b", "photos/2025/c", "photos/top", "readme"] {
        c.create_multipart_upload().bucket("gaps").key(key).send().await.unwrap();
    }
    let listed = c.list_multipart_uploads().bucket("gaps").delimiter("/").send().await.unwrap();
    assert_eq!(listed.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), ["photos/"]);
    assert_eq!(listed.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), ["readme"]);
    let nested = c.list_multipart_uploads().bucket("gaps").prefix("photos/").delimiter("/").send().await.unwrap();
    assert_eq!(
        nested.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(),
        ["photos/2024/", "photos/2025/"]
    );
    assert_eq!(nested.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), ["photos/top"]);
    let page = c.list_multipart_uploads().bucket("gaps").prefix("photos/").delimiter("/").max_uploads(1).send();
    let page = page.await.unwrap();
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_key_marker(), Some("photos/2024/"));
    let rest = c
        .list_multipart_uploads()
        .bucket("gaps")
        .prefix("photos/")
        .delimiter("/")
        .key_marker("photos/2024/")
        .send()
        .await
        .unwrap();
    assert_eq!(rest.common_prefixes().iter().filter_map(|p| p.prefix()).collect::<Vec<_>>(), ["photos/2025/"]);
    assert_eq!(rest.uploads().iter().filter_map(|u| u.key()).collect::<Vec<_>>(), ["photos/top"]);
    drop(s3);
}

/// The data ids that have chunks, read straight from the core: a raw scan of the `C` prefix
/// on the leader of the (single) range.
async fn chunk_data_ids(cluster: &Cluster) -> std::collections::BTreeSet<u64> {
    use strata_proto::core::{kv_client::KvClient, RequestHeader, ScanRequest};
    eventually(Duration::from_secs(30), "a raw scan of the chunk keys", || async {
        let (_, ranges) = cluster.wait_for_catalog(1).await;
        let range = ranges.into_iter().next()?;
        let leader = cluster.cores.iter().find(|c| c.id == range.leader_node_id)?;
        let client = KvClient::connect(format!("http://{}", leader.addr)).await.ok()?;
        let mut client = client.max_decoding_message_size(usize::MAX);
        let request = ScanRequest {
            header: Some(RequestHeader { range_id: range.range_id, epoch: range.epoch }),
            start_key: bytes::Bytes::from_static(b"C"),
            end_key: bytes::Bytes::from_static(b"D"),
            limit: 100_000,
            ..Default::default()
        };
        let response = client.scan(request).await.ok()?.into_inner();
        if response.range_error.is_some() || response.lock.is_some() {
            return None;
        }
        Some(
            response
                .states
                .iter()
                .filter(|s| s.live)
                .filter_map(|s| Some(u64::from_be_bytes(s.key.get(1..9)?.try_into().ok()?)))
                .collect(),
        )
    })
    .await
}

/// The data ids that appeared since `before`.
async fn new_data_ids(cluster: &Cluster, before: &std::collections::BTreeSet<u64>) -> Vec<u64> {
    chunk_data_ids(cluster).await.difference(before).copied().collect()
}

/// Overwritten, deleted and aborted data is collected; data still named by an object (even
/// only by a copy of a deleted object) stays.
#[tokio::test(flavor = "multi_thread")]
async fn s3_chunk_gc_collects_unnamed_data_and_keeps_live_data() {
    let s3 = S3Cluster::start_with(&["--chunk-gc-ms", "200", "--chunk-gc-grace-ms", "1000"]).await;
    let c = s3.client();
    c.create_bucket().bucket("gcb").send().await.unwrap();
    let mut ids = chunk_data_ids(&s3.cluster).await;
    assert!(ids.is_empty(), "no chunks yet: {ids:?}");
    let mut put = async |key: &str, data: Vec<u8>| {
        c.put_object().bucket("gcb").key(key).body(ByteStream::from(data)).send().await.unwrap();
        let new = new_data_ids(&s3.cluster, &ids).await;
        assert_eq!(new.len(), 1, "one data id per PUT: {new:?}");
        ids.insert(new[0]);
        new[0]
    };
    let original = random_bytes(2 * 1024 * 1024 + 5);
    let kept = put("original", original.clone()).await;
    let overwritten = put("overwritten", random_bytes(1024 * 1024 + 1)).await;
    let deleted = put("deleted", random_bytes(100)).await;
    let latest = random_bytes(3000);
    let current = put("overwritten", latest.clone()).await;
    let upload = c.create_multipart_upload().bucket("gcb").key("aborted").send().await.unwrap();
    let upload = upload.upload_id().unwrap().to_string();
    upload_part(&c, "gcb", "aborted", &upload, 1, b"part bytes").await;
    let part = new_data_ids(&s3.cluster, &ids).await;
    assert_eq!(part.len(), 1);

    c.copy_object().bucket("gcb").key("copy").copy_source("gcb/original").send().await.unwrap();
    c.delete_object().bucket("gcb").key("original").send().await.unwrap();
    c.delete_object().bucket("gcb").key("deleted").send().await.unwrap();
    c.abort_multipart_upload().bucket("gcb").key("aborted").upload_id(&upload).send().await.unwrap();

    let expected: std::collections::BTreeSet<u64> = [kept, current].into();
    let collected = [overwritten, deleted, part[0]];
    let remaining = eventually(Duration::from_secs(60), "the chunk GC to collect", || async {
        let now = chunk_data_ids(&s3.cluster).await;
        collected.iter().all(|id| !now.contains(id)).then_some(now)
    })
    .await;
    assert_eq!(remaining, expected, "exactly the named data stays");
    let copy = body_of(c.get_object().bucket("gcb").key("copy").send().await.unwrap()).await;
    assert!(copy == original, "the copy still reads the deleted original's chunks");
    assert!(body_of(c.get_object().bucket("gcb").key("overwritten").send().await.unwrap()).await == latest);
    drop(s3);
}
