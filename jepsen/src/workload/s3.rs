//! The `s3-register` workload: each of a few objects of one bucket is a register. Client
//! processes put a unique integer into a random object, get one, or delete one (a write of
//! "absent"), through the gateways' S3 listeners with the AWS SDK for Rust; the history is
//! the register workload's ([`RegisterOp`]: `Read` / `Write` / `Delete`) and is checked for
//! linearizability per object by the same checker.
//!
//! Outcomes, as for the Redis workloads: a put or delete that got a definite refusal (a 4xx
//! S3 error, or a request never sent) is `Fail`; one that timed out, lost its connection or
//! got a 5xx (the gateway may have committed before it gave up) is `Info`. A get is `Ok`
//! with what it read (`NoSuchKey` reads "absent") or `Fail`: a read has no effect.
//!
//! An object's body is its value written [`BODY_LINES`] times, one per line, so a body that is
//! torn or mixed up with another object's is told apart from a stale one: it is recorded as
//! a garbled read ([`S3OpResult::garbled`]) and turned into an anomaly of its own.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use rand::Rng;

use super::OP_TIMEOUT;
use crate::history::{Outcome, RegisterOp};

/// The bucket every object of the workload lives in.
pub const BUCKET: &str = "jepsen";
pub const OBJECTS: usize = 5;
/// How many times a body repeats its value (a few hundred bytes: a small object).
pub const BODY_LINES: usize = 32;

/// The S3 key of object `i`.
pub fn object_key(i: usize) -> String {
    format!("reg/{i}")
}

/// Raw KV keys (manifests live under `O` + bucket + `00` + key) where a split cuts the
/// workload's objects apart.
pub fn split_keys() -> Vec<Vec<u8>> {
    (1..OBJECTS)
        .map(|i| {
            let mut key = vec![b'O'];
            key.extend_from_slice(BUCKET.as_bytes());
            key.push(0);
            key.extend_from_slice(object_key(i).as_bytes());
            key
        })
        .collect()
}

/// Where a gateway serves S3, and the key pair it accepts.
#[derive(Clone, Debug)]
pub struct S3Endpoint {
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
}

/// One client per process: the SDK's own retries are off (each operation is one request,
/// so its outcome is that request's) and every call is bounded by [`OP_TIMEOUT`].
pub fn client(endpoint: &S3Endpoint) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&endpoint.url)
        .force_path_style(true)
        .credentials_provider(Credentials::new(&endpoint.access_key, &endpoint.secret_key, None, None, "jepsen"))
        // Plain HTTP through hyper: no TLS stack is linked.
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder().operation_timeout(OP_TIMEOUT).connect_timeout(Duration::from_secs(1)).build(),
        )
        .build();
    Client::from_conf(config)
}

/// A client process of the S3 workload.
pub struct S3Process {
    pub id: usize,
    client: Client,
}

impl S3Process {
    pub fn new(id: usize, endpoint: &S3Endpoint) -> Self {
        S3Process { id, client: client(endpoint) }
    }
}

/// What one operation recorded, plus the body of a read that held no value at all.
pub struct S3OpResult {
    pub outcome: Outcome,
    pub op: RegisterOp,
    pub garbled: Option<String>,
}

impl S3OpResult {
    fn of(outcome: Outcome, op: RegisterOp) -> Self {
        S3OpResult { outcome, op, garbled: None }
    }
}

/// How a request failed, as far as its effect is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The request was never sent (it could not be built, or the connection was refused:
    /// the gateway is down).
    NotSent,
    /// The server answered with this HTTP status.
    Refused(u16),
    /// Timeout, broken connection, unparseable response: it may have been applied.
    Unknown,
}

impl Failure {
    pub fn of<E, R>(err: &SdkError<E, R>, status: impl Fn(&R) -> u16) -> Failure {
        match err {
            SdkError::ConstructionFailure(_) => Failure::NotSent,
            SdkError::ServiceError(e) => Failure::Refused(status(e.raw())),
            SdkError::DispatchFailure(d) if d.as_connector_error().is_some_and(|c| connection_refused(c)) => {
                Failure::NotSent
            }
            _ => Failure::Unknown,
        }
    }

    /// The outcome of a put or delete that failed this way: a 4xx says the request was
    /// refused before anything was written; a 5xx may come after the commit was sent (the
    /// gateway gave up waiting for it), so its effect is unknown.
    pub fn write_outcome(self) -> Outcome {
        match self {
            Failure::NotSent => Outcome::Fail,
            Failure::Refused(status) if (400..500).contains(&status) => Outcome::Fail,
            Failure::Refused(_) | Failure::Unknown => Outcome::Info,
        }
    }
}

/// Whether an I/O error in `err`'s chain is a refused connection, which happens before any
/// byte of the request is sent.
fn connection_refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        source = e.source();
    }
    false
}

fn failure<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure {
    Failure::of(err, |raw| raw.status().as_u16())
}

/// The body an object holding `value` has.
pub fn body(value: i64) -> String {
    format!("{value}\n").repeat(BODY_LINES)
}

/// The value a body holds, if it is exactly [`body`] of some value.
pub fn parse_body(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let first = text.lines().next()?;
    let value: i64 = first.parse().ok()?;
    (text == body(value)).then_some(value)
}

/// A get of one object.
pub async fn read(p: &mut S3Process, key: &str) -> S3OpResult {
    let failed = || S3OpResult::of(Outcome::Fail, RegisterOp::Read { key: key.to_string(), value: None });
    let got = p.client.get_object().bucket(BUCKET).key(key).send().await;
    let output = match got {
        Ok(output) => output,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            return S3OpResult::of(Outcome::Ok, RegisterOp::Read { key: key.to_string(), value: None });
        }
        Err(e) => {
            tracing::debug!(process = p.id, error = ?e.code(), "get failed");
            return failed();
        }
    };
    // The body streams after the headers: it can still fail (or outlive the timeout).
    let Ok(Ok(bytes)) = tokio::time::timeout(OP_TIMEOUT, output.body.collect()).await else { return failed() };
    let bytes = bytes.into_bytes();
    match parse_body(&bytes) {
        Some(value) => S3OpResult::of(Outcome::Ok, RegisterOp::Read { key: key.to_string(), value: Some(value) }),
        None => S3OpResult {
            outcome: Outcome::Fail,
            op: RegisterOp::Read { key: key.to_string(), value: None },
            garbled: Some(String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()),
        },
    }
}

/// A put of `value` (unique across the run) into one object.
pub async fn put(p: &mut S3Process, key: &str, value: i64) -> S3OpResult {
    let op = RegisterOp::Write { key: key.to_string(), value };
    let sent =
        p.client.put_object().bucket(BUCKET).key(key).body(ByteStream::from(body(value).into_bytes())).send().await;
    match sent {
        Ok(_) => S3OpResult::of(Outcome::Ok, op),
        Err(e) => S3OpResult::of(failure(&e).write_outcome(), op),
    }
}

/// A delete of one object (S3 answers 204 whether or not it existed).
pub async fn delete(p: &mut S3Process, key: &str) -> S3OpResult {
    let op = RegisterOp::Delete { key: key.to_string() };
    match p.client.delete_object().bucket(BUCKET).key(key).send().await {
        Ok(_) => S3OpResult::of(Outcome::Ok, op),
        Err(e) => S3OpResult::of(failure(&e).write_outcome(), op),
    }
}

/// One operation: 40 % gets, 45 % puts, 15 % deletes, on a random object.
pub async fn register_op(p: &mut S3Process, rng: &mut impl Rng, values: &AtomicI64) -> S3OpResult {
    let key = object_key(rng.random_range(0..OBJECTS));
    match rng.random_range(0..20) {
        0..8 => read(p, &key).await,
        8..17 => put(p, &key, values.fetch_add(1, Ordering::Relaxed)).await,
        _ => delete(p, &key).await,
    }
}

/// Creates the workload's bucket, retrying until `limit` passes (an earlier attempt that
/// timed out may have created it: that is success too).
pub async fn create_bucket(endpoint: &S3Endpoint, limit: Duration) -> anyhow::Result<()> {
    let client = client(endpoint);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let error = match client.create_bucket().bucket(BUCKET).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => return Ok(()),
            Err(e) => e,
        };
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "cannot create bucket {BUCKET} at {}: {}",
            endpoint.url,
            aws_sdk_s3::error::DisplayErrorContext(&error)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests;
