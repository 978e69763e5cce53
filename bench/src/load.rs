//! The load itself: a PUT phase writing `keys` distinct objects over and over, then a GET phase
//! reading them back, each with `concurrency` workers until the count or the time runs out.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;
use rand::RngCore;

use crate::budget::OpBudget;
use crate::size::ByteSize;
use crate::stats::PhaseStats;

/// Where to send the load.
#[derive(Debug, Clone)]
pub struct S3Target {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub bucket: String,
}

/// Whether the client adds CRC checksums to every request (the SDK's default since 2025) or
/// only where the S3 API requires one. `WhenRequired` measures the server, not the client's CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    WhenRequired,
    WhenSupported,
}

/// What to run: one object size, one concurrency, a count and/or a time per phase.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub object_size: ByteSize,
    pub concurrency: usize,
    /// Operations per phase (the phase also ends at `duration`, whichever is first).
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    /// Distinct objects the PUT phase cycles through; bounds the disk the run fills.
    pub keys: u64,
    pub key_prefix: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("concurrency must be at least 1")]
    NoConcurrency,
    #[error("keys must be at least 1")]
    NoKeys,
    #[error("give a --count, a --duration, or both: a phase needs an end")]
    Unbounded,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("the bucket {bucket} is not reachable and could not be created: {message}")]
    Bucket { bucket: String, message: String },
    #[error("no PUT succeeded ({errors} failed); first error: {first_error}")]
    NothingWritten { errors: u64, first_error: String },
}

impl LoadPlan {
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.concurrency == 0 {
            return Err(PlanError::NoConcurrency);
        }
        if self.keys == 0 {
            return Err(PlanError::NoKeys);
        }
        if self.count.is_none() && self.duration.is_none() {
            return Err(PlanError::Unbounded);
        }
        Ok(())
    }

    /// The key of operation `index` when `keys` distinct objects are in use.
    pub fn key(&self, index: u64, keys: u64) -> String {
        format!("{}{:010}", self.key_prefix, index % keys.max(1))
    }

    fn budget(&self) -> OpBudget {
        OpBudget::new(self.count, self.duration.map(|d| Instant::now() + d))
    }
}

pub struct LoadResult {
    pub put: PhaseStats,
    pub get: PhaseStats,
    /// Deletes that failed while removing the benchmark's objects afterwards.
    pub cleanup_errors: u64,
}

pub fn client(target: &S3Target, checksums: ChecksumMode) -> Client {
    let (request, response) = match checksums {
        ChecksumMode::WhenRequired => {
            (RequestChecksumCalculation::WhenRequired, ResponseChecksumValidation::WhenRequired)
        }
        ChecksumMode::WhenSupported => {
            (RequestChecksumCalculation::WhenSupported, ResponseChecksumValidation::WhenSupported)
        }
    };
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .endpoint_url(&target.endpoint)
        .region(Region::new(target.region.clone()))
        .credentials_provider(Credentials::new(&target.access_key, &target.secret_key, None, None, "strata-s3-bench"))
        // Path-style: local servers have no wildcard DNS for virtual-host buckets.
        .force_path_style(true)
        .request_checksum_calculation(request)
        .response_checksum_validation(response)
        .build();
    Client::from_conf(config)
}

/// Makes sure the bucket exists; one that is already there (ours or not) is used as it is.
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<(), BenchError> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
        Err(e) => Err(BenchError::Bucket { bucket: bucket.to_string(), message: DisplayErrorContext(&e).to_string() }),
    }
}

/// Random bytes, so that a store that compresses (RocksDB with lz4) gains nothing from it.
pub fn random_payload(size: ByteSize) -> Bytes {
    let mut data = vec![0u8; size.0 as usize];
    rand::rng().fill_bytes(&mut data);
    Bytes::from(data)
}

pub async fn run(client: &Client, bucket: &str, plan: &LoadPlan, cleanup: bool) -> Result<LoadResult, BenchError> {
    let payload = random_payload(plan.object_size);
    let put = {
        let (client, bucket, plan) = (client.clone(), bucket.to_string(), plan.clone());
        run_phase(plan.concurrency, plan.budget(), move |index| {
            let request = client
                .put_object()
                .bucket(&bucket)
                .key(plan.key(index, plan.keys))
                .content_length(payload.len() as i64)
                .body(ByteStream::from(payload.clone()));
            async move { request.send().await.map(drop).map_err(|e| DisplayErrorContext(&e).to_string()) }
        })
        .await
    };
    if put.successes() == 0 {
        return Err(BenchError::NothingWritten {
            errors: put.errors,
            first_error: put.first_error.unwrap_or_else(|| "no operation ran".into()),
        });
    }
    let written = plan.keys.min(put.successes() + put.errors);
    let get = {
        let (client, bucket, plan) = (client.clone(), bucket.to_string(), plan.clone());
        run_phase(plan.concurrency, plan.budget(), move |index| {
            let request = client.get_object().bucket(&bucket).key(plan.key(index, written));
            let expected = plan.object_size.0;
            async move {
                let response = request.send().await.map_err(|e| DisplayErrorContext(&e).to_string())?;
                // Count the body as it streams rather than collecting it: the client's own copy
                // of a 64 MiB body would be measured too.
                let mut body = response.body;
                let mut received = 0u64;
                while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
                    received += chunk.len() as u64;
                }
                if received == expected {
                    Ok(())
                } else {
                    Err(format!("GET returned {received} bytes, expected {expected}"))
                }
            }
        })
        .await
    };
    let mut cleanup_errors = 0;
    if cleanup {
        let (client, bucket, plan) = (client.clone(), bucket.to_string(), plan.clone());
        let deletes = run_phase(plan.concurrency, OpBudget::new(Some(written), None), move |index| {
            let request = client.delete_object().bucket(&bucket).key(plan.key(index, written));
            async move { request.send().await.map(drop).map_err(|e| DisplayErrorContext(&e).to_string()) }
        })
        .await;
        cleanup_errors = deletes.errors;
    }
    Ok(LoadResult { put, get, cleanup_errors })
}

/// Runs `operation(index)` on `concurrency` workers until the budget is spent.
async fn run_phase<F, Fut>(concurrency: usize, budget: OpBudget, operation: F) -> PhaseStats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let budget = Arc::new(budget);
    let operation = Arc::new(operation);
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (budget, operation) = (budget.clone(), operation.clone());
            tokio::spawn(async move {
                let mut stats = PhaseStats::default();
                while let Some(index) = budget.take() {
                    let begun = Instant::now();
                    match operation(index).await {
                        Ok(()) => stats.latencies.push(begun.elapsed()),
                        Err(error) => stats.record_error(error),
                    }
                }
                stats
            })
        })
        .collect();
    let mut total = PhaseStats::default();
    for worker in workers {
        match worker.await {
            Ok(stats) => total.merge(stats),
            Err(panic) => total.record_error(format!("worker failed: {panic}")),
        }
    }
    total.elapsed = start.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn plan() -> LoadPlan {
        LoadPlan {
            object_size: ByteSize(4096),
            concurrency: 4,
            count: Some(10),
            duration: None,
            keys: 3,
            key_prefix: "bench/".into(),
        }
    }

    #[test]
    fn a_plan_needs_workers_keys_and_an_end() {
        assert_eq!(plan().validate(), Ok(()));
        assert_eq!(LoadPlan { concurrency: 0, ..plan() }.validate(), Err(PlanError::NoConcurrency));
        assert_eq!(LoadPlan { keys: 0, ..plan() }.validate(), Err(PlanError::NoKeys));
        assert_eq!(LoadPlan { count: None, duration: None, ..plan() }.validate(), Err(PlanError::Unbounded));
        let timed = LoadPlan { count: None, duration: Some(Duration::from_secs(1)), ..plan() };
        assert_eq!(timed.validate(), Ok(()));
    }

    #[test]
    fn keys_cycle_through_the_distinct_objects() {
        let plan = plan();
        let keys: Vec<_> = (0..4).map(|i| plan.key(i, plan.keys)).collect();
        assert_eq!(keys, ["bench/0000000000", "bench/0000000001", "bench/0000000002", "bench/0000000000"]);
        // Sorted order is index order, so listings show the objects in the order written.
        assert!(plan.key(9, 100) < plan.key(10, 100));
    }

    #[test]
    fn payload_has_the_requested_size() {
        assert_eq!(random_payload(ByteSize(0)).len(), 0);
        assert_eq!(random_payload(ByteSize(4096)).len(), 4096);
    }

    #[tokio::test]
    async fn a_phase_runs_each_counted_operation_once_and_counts_failures() {
        let calls = Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        let stats = run_phase(3, OpBudget::new(Some(20), None), move |index| {
            seen.fetch_add(1, Ordering::Relaxed);
            async move {
                if index % 5 == 0 {
                    Err(format!("op {index} failed"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::Relaxed), 20);
        assert_eq!(stats.successes(), 16);
        assert_eq!(stats.errors, 4);
        assert!(stats.first_error.as_deref().is_some_and(|e| e.ends_with("failed")));
    }
}
