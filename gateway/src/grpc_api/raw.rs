//! RawKV: single-operation reads and writes, each atomic and linearizable on its own.
//!
//! Reads are `KvStore::get` (one consistent snapshot even across ranges) and `scan_at` at
//! each range's newest state; writes are one `KvStore::write` each (one-phase within a
//! range, a transaction across ranges; a range delete goes range by range).
//! CompareAndSwap is a read followed by a write conditioned on the version read, retried
//! when another writer got in between, so it is linearizable without locks.

use std::collections::HashMap;

use bytes::Bytes;
use strata_proto::kv::raw_kv_server::RawKv;
use strata_proto::kv::*;
use strata_protocols::grpc_kv::{self, kv_key};
use strata_protocols::kv::{Condition, KvStore, Mutation, WriteOutcome};
use tonic::{Request, Response, Status};

use super::errors::{unconditional, ApiError};
use super::{
    check_batch, check_key, check_range, check_response_size, check_value, expiry, scan, scan_stale, Api, ScanSpec,
};
use crate::core_kv::CoreKv;

/// Rounds of read-compare-write before a contended CompareAndSwap gives up (UNAVAILABLE).
const MAX_CAS_ATTEMPTS: u32 = 100;

pub struct RawService(pub Api);

#[tonic::async_trait]
impl RawKv for RawService {
    async fn get(&self, request: Request<RawGetRequest>) -> Result<Response<RawGetResponse>, Status> {
        let RawGetRequest { key, max_staleness_ms } = request.into_inner();
        let kv = self.0.kv.clone();
        self.0
            .call("raw.get", async move {
                check_key(&key)?;
                let snapshot = kv.get_stale(&[kv_key(&key)], max_staleness_ms).await?;
                let value = snapshot.states.into_iter().next().and_then(|s| s.value);
                Ok(RawGetResponse { found: value.is_some(), value: value.unwrap_or_default() })
            })
            .await
    }

    async fn batch_get(&self, request: Request<RawBatchGetRequest>) -> Result<Response<RawBatchGetResponse>, Status> {
        let RawBatchGetRequest { keys, max_staleness_ms } = request.into_inner();
        let kv = self.0.kv.clone();
        self.0
            .call("raw.batch_get", async move {
                check_batch(keys.len())?;
                keys.iter().try_for_each(|k| check_key(k))?;
                if keys.is_empty() {
                    return Ok(RawBatchGetResponse::default());
                }
                let kv_keys: Vec<Bytes> = keys.iter().map(|k| kv_key(k)).collect();
                let snapshot = kv.get_stale(&kv_keys, max_staleness_ms).await?;
                let results: Vec<KeyValue> = keys
                    .into_iter()
                    .zip(snapshot.states)
                    .map(|(key, state)| KeyValue {
                        key,
                        found: state.value.is_some(),
                        value: state.value.unwrap_or_default(),
                    })
                    .collect();
                check_response_size(results.iter().map(|r| (&r.key[..], &r.value[..])))?;
                Ok(RawBatchGetResponse { results })
            })
            .await
    }

    async fn put(&self, request: Request<RawPutRequest>) -> Result<Response<RawPutResponse>, Status> {
        let RawPutRequest { key, value, ttl_ms } = request.into_inner();
        let kv = self.0.kv.clone();
        self.0
            .call_to_completion("raw.put", async move {
                check_key(&key)?;
                check_value(&value)?;
                let put = Mutation::Put { key: kv_key(&key), value, expiry: expiry(ttl_ms) };
                unconditional(kv.write(vec![], vec![put]).await?)?;
                Ok(RawPutResponse {})
            })
            .await
    }

    async fn batch_put(&self, request: Request<RawBatchPutRequest>) -> Result<Response<RawBatchPutResponse>, Status> {
        let RawBatchPutRequest { pairs, ttl_ms } = request.into_inner();
        let kv = self.0.kv.clone();
        self.0
            .call_to_completion("raw.batch_put", async move {
                check_batch(pairs.len())?;
                for pair in &pairs {
                    check_key(&pair.key)?;
                    check_value(&pair.value)?;
                }
                let mutations = last_pair_wins(pairs)
                    .into_iter()
                    .map(|p| Mutation::Put { key: kv_key(&p.key), value: p.value, expiry: expiry(ttl_ms) })
                    .collect::<Vec<_>>();
                if !mutations.is_empty() {
                    unconditional(kv.write(vec![], mutations).await?)?;
                }
                Ok(RawBatchPutResponse {})
            })
            .await
    }

    async fn delete(&self, request: Request<RawDeleteRequest>) -> Result<Response<RawDeleteResponse>, Status> {
        let key = request.into_inner().key;
        let kv = self.0.kv.clone();
        self.0
            .call_to_completion("raw.delete", async move {
                check_key(&key)?;
                unconditional(kv.write(vec![], vec![Mutation::Delete { key: kv_key(&key) }]).await?)?;
                Ok(RawDeleteResponse {})
            })
            .await
    }

    async fn delete_range(
        &self,
        request: Request<RawDeleteRangeRequest>,
    ) -> Result<Response<RawDeleteRangeResponse>, Status> {
        let RawDeleteRangeRequest { start, end } = request.into_inner();
        let kv = self.0.kv.clone();
        self.0
            .call_to_completion("raw.delete_range", async move {
                check_range(&start, &end)?;
                // Always a bounded interval inside the API's keyspace: never Redis keys.
                let (start, end) = grpc_kv::kv_range(&start, &end);
                unconditional(kv.write(vec![], vec![Mutation::DeleteRange { start, end }]).await?)?;
                Ok(RawDeleteRangeResponse {})
            })
            .await
    }

    async fn scan(&self, request: Request<RawScanRequest>) -> Result<Response<RawScanResponse>, Status> {
        let RawScanRequest { start, end, limit, reverse, max_staleness_ms } = request.into_inner();
        let kv = self.0.kv.clone();
        self.0
            .call("raw.scan", async move {
                let spec = ScanSpec::new(start, end, limit, reverse)?;
                let (pairs, more) = if max_staleness_ms == 0 {
                    scan(&kv, &spec, 0, &Default::default()).await?
                } else {
                    scan_stale(&kv, &spec, max_staleness_ms).await?
                };
                Ok(RawScanResponse { pairs, more })
            })
            .await
    }

    async fn compare_and_swap(
        &self,
        request: Request<CompareAndSwapRequest>,
    ) -> Result<Response<CompareAndSwapResponse>, Status> {
        let cas = request.into_inner();
        let kv = self.0.kv.clone();
        self.0.call_to_completion("raw.compare_and_swap", async move { compare_and_swap(&kv, cas).await }).await
    }
}

/// One pair per key, the last one given, in order of first appearance.
fn last_pair_wins(pairs: Vec<KvPair>) -> Vec<KvPair> {
    let mut position: HashMap<Bytes, usize> = HashMap::with_capacity(pairs.len());
    let mut out: Vec<KvPair> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        match position.get(&pair.key) {
            Some(&i) => out[i] = pair,
            None => {
                position.insert(pair.key.clone(), out.len());
                out.push(pair);
            }
        }
    }
    out
}

async fn compare_and_swap(kv: &CoreKv, cas: CompareAndSwapRequest) -> Result<CompareAndSwapResponse, ApiError> {
    check_key(&cas.key)?;
    check_value(&cas.expected)?;
    check_value(&cas.new_value)?;
    let key = kv_key(&cas.key);
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let state = kv.get(vec![key.clone()]).await?.states.into_iter().next().unwrap_or_default();
        let matches = match &state.value {
            None => cas.expect_absent,
            Some(current) => !cas.expect_absent && current == &cas.expected,
        };
        let answer = |swapped| CompareAndSwapResponse {
            swapped,
            previous_found: state.value.is_some(),
            previous: state.value.clone().unwrap_or_default(),
        };
        if !matches {
            return Ok(answer(false));
        }
        let mutation = if cas.delete {
            Mutation::Delete { key: key.clone() }
        } else {
            Mutation::Put { key: key.clone(), value: cas.new_value.clone(), expiry: expiry(cas.ttl_ms) }
        };
        // The version read (0 when the key has no record): any write in between fails this.
        let condition = Condition { key: key.clone(), expected_version: state.version };
        match kv.write(vec![condition], vec![mutation]).await? {
            WriteOutcome::Committed { .. } => return Ok(answer(true)),
            WriteOutcome::ConditionFailed => crate::txn::backoff(attempt).await,
        }
    }
    Err(ApiError::Retryable("too many concurrent modifications of the key; retry the compare-and-swap".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_last_pair_of_each_key() {
        let pair = |k: &str, v: &str| KvPair { key: Bytes::from(k.to_string()), value: Bytes::from(v.to_string()) };
        let out = last_pair_wins(vec![pair("a", "1"), pair("b", "2"), pair("a", "3")]);
        assert_eq!(out, vec![pair("a", "3"), pair("b", "2")]);
    }
}
