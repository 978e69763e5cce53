//! The public gRPC API (`strata.kv.v1`, `proto/strata/kv.proto`): RawKV ([`raw`]) and TxnKV
//! ([`txn`]) over [`CoreKv`], served on the gateway's gRPC listener next to the health
//! service. `docs/grpc.md` is the user guide.
//!
//! API keys live under their own prefix in the KV space (`strata_protocols::grpc_kv`), so
//! this API and Redis never see each other's data. Every call passes the gateway's admission
//! control (shared with RESP), is counted in `strata_gateway_grpc_requests_total`, and maps
//! its failures to a gRPC status in one place ([`errors`]). Calls that write run to
//! completion even if the client goes away, so a cancelled call never abandons a commit
//! half-way.

pub mod errors;
pub mod raw;
pub mod txn;

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use strata_proto::kv::raw_kv_server::RawKvServer;
use strata_proto::kv::txn_kv_server::TxnKvServer;
use strata_proto::kv::KvPair;
use strata_protocols::grpc_kv;
use strata_protocols::kv::{Expiry, ScannedKey};
use tonic::{Response, Status};

use self::errors::ApiError;
use crate::core_kv::CoreKv;
use crate::limits::Admission;
use crate::metrics::GatewayMetrics;

/// Longest key (bytes). Keys travel in locks, dedup records, split points and the route
/// catalog, so they are kept far below value sizes.
pub const MAX_KEY_BYTES: usize = 64 << 10;
/// Largest value: Redis's `proto-max-bulk-len` default, as on the RESP listener.
pub const MAX_VALUE_BYTES: usize = strata_protocols::resp::DEFAULT_PROTO_MAX_BULK_LEN as usize;
/// Largest request or response message, set on both services: Redis's default
/// `client-query-buffer-limit` (1 GiB) plus room for keys and framing, so that a
/// CompareAndSwap carrying two maximum-size values fits.
pub const MAX_MESSAGE_BYTES: usize = (1 << 30) + (1 << 20);
/// Most keys in one BatchGet / BatchPut.
pub const MAX_BATCH_KEYS: usize = 10_000;
/// Most pairs one Scan returns (also the meaning of `limit` = 0).
pub const MAX_SCAN_LIMIT: usize = 10_000;
/// Estimated protobuf framing per returned key/value pair.
const PAIR_OVERHEAD: usize = 16;
/// Responses are cut (scans) or refused (batch reads) below this size, leaving room for
/// framing under [`MAX_MESSAGE_BYTES`].
const MAX_RESPONSE_BYTES: usize = MAX_MESSAGE_BYTES - (1 << 20);

/// What both services share.
#[derive(Clone)]
pub struct Api {
    kv: CoreKv,
    admission: Arc<Admission>,
    metrics: GatewayMetrics,
    txns: Arc<txn::TxnTable>,
}

impl Api {
    pub fn new(kv: CoreKv, admission: Arc<Admission>) -> Self {
        let metrics = kv.metrics().clone();
        let txns = Arc::new(txn::TxnTable::new(txn::TxnLimits::default(), metrics.grpc_open_txns.clone()));
        Self { kv, admission, metrics, txns }
    }

    /// Both services, with the message size limits above, to add to the gRPC listener's routes.
    pub fn add_to(self, routes: tonic::service::Routes) -> tonic::service::Routes {
        let raw = RawKvServer::new(raw::RawService(self.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let txn = TxnKvServer::new(txn::TxnService(self))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        routes.add_service(raw).add_service(txn)
    }

    /// Runs one call: admission, then `body`, then metrics and the status mapping.
    async fn call<T>(
        &self,
        method: &'static str,
        body: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<Response<T>, Status> {
        let result = match self.admission.admit_request() {
            Ok(_permit) => body.await,
            Err(refused) => {
                self.metrics.refused.with_label_values(&[refused.label()]).inc();
                Err(refused.into())
            }
        };
        self.finish(method, result)
    }

    /// Like [`Api::call`], but `body` runs in its own task so that it completes even if the
    /// client cancels the call (a write must not stop half-way through a commit).
    async fn call_to_completion<T: Send + 'static>(
        &self,
        method: &'static str,
        body: impl Future<Output = Result<T, ApiError>> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let result = match self.admission.admit_request() {
            Ok(permit) => tokio::spawn(async move {
                let result = body.await;
                drop(permit);
                result
            })
            .await
            .unwrap_or_else(|e| Err(ApiError::Internal(format!("the call's task failed: {e}")))),
            Err(refused) => {
                self.metrics.refused.with_label_values(&[refused.label()]).inc();
                Err(refused.into())
            }
        };
        self.finish(method, result)
    }

    fn finish<T>(&self, method: &'static str, result: Result<T, ApiError>) -> Result<Response<T>, Status> {
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => e.code(),
        };
        self.metrics.grpc_requests.with_label_values(&[method, code_label(code)]).inc();
        if let Err(e) = &result {
            if e.code() == tonic::Code::Internal {
                tracing::warn!(method, error = %e, "gRPC API call failed");
            }
        }
        result.map(Response::new).map_err(Status::from)
    }
}

fn code_label(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    }
}

pub(crate) fn check_key(key: &[u8]) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::Invalid("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::Invalid(format!("the key is {} bytes; the limit is {MAX_KEY_BYTES}", key.len())));
    }
    Ok(())
}

pub(crate) fn check_value(value: &[u8]) -> Result<(), ApiError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::Invalid(format!("the value is {} bytes; the limit is {MAX_VALUE_BYTES}", value.len())));
    }
    Ok(())
}

pub(crate) fn check_batch(n: usize) -> Result<(), ApiError> {
    if n > MAX_BATCH_KEYS {
        return Err(ApiError::Invalid(format!("{n} keys in one call; the limit is {MAX_BATCH_KEYS}")));
    }
    Ok(())
}

pub(crate) fn expiry(ttl_ms: u64) -> Expiry {
    match ttl_ms {
        0 => Expiry::Never,
        ms => Expiry::AfterMs(ms),
    }
}

/// A validated scan: API interval `[start, end)` (empty `end` = unbounded) and limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanSpec {
    pub start: Bytes,
    pub end: Bytes,
    pub limit: usize,
    pub reverse: bool,
}

/// Checks an API interval: bounded key sizes, `end` empty or after `start`.
pub(crate) fn check_range(start: &[u8], end: &[u8]) -> Result<(), ApiError> {
    for (what, key) in [("start", start), ("end", end)] {
        if key.len() > MAX_KEY_BYTES {
            return Err(ApiError::Invalid(format!("{what} is {} bytes; the limit is {MAX_KEY_BYTES}", key.len())));
        }
    }
    if !end.is_empty() && end <= start {
        return Err(ApiError::Invalid("end must be empty (unbounded) or greater than start".into()));
    }
    Ok(())
}

impl ScanSpec {
    pub fn new(start: Bytes, end: Bytes, limit: u32, reverse: bool) -> Result<Self, ApiError> {
        check_range(&start, &end)?;
        let limit = match limit as usize {
            0 => MAX_SCAN_LIMIT,
            n if n > MAX_SCAN_LIMIT => {
                return Err(ApiError::Invalid(format!("limit {n} is above the maximum of {MAX_SCAN_LIMIT}")))
            }
            n => n,
        };
        Ok(Self { start, end, limit, reverse })
    }

    fn contains(&self, key: &[u8]) -> bool {
        key >= &self.start[..] && (self.end.is_empty() || key < &self.end[..])
    }
}

/// Scans `spec` at `read_ts` (0 = newest state of each range) with `overlay` (a
/// transaction's buffered writes by API key: `None` = deleted) laid over what the store
/// holds. Returns the pairs and whether more may follow.
pub(crate) async fn scan(
    kv: &CoreKv,
    spec: &ScanSpec,
    read_ts: u64,
    overlay: &BTreeMap<Bytes, Option<Bytes>>,
) -> Result<(Vec<KvPair>, bool), ApiError> {
    let fetch = spec.limit + hidden_by(spec, overlay);
    let (kv_start, kv_end) = grpc_kv::kv_range(&spec.start, &spec.end);
    let stored = kv.scan_at(kv_start, kv_end, fetch, read_ts, spec.reverse).await?;
    Ok(merge(stored, fetch, spec, overlay))
}

/// Scans `spec` with bounded staleness (see [`CoreKv::scan_stale`]).
pub(crate) async fn scan_stale(
    kv: &CoreKv,
    spec: &ScanSpec,
    max_staleness_ms: u64,
) -> Result<(Vec<KvPair>, bool), ApiError> {
    let (kv_start, kv_end) = grpc_kv::kv_range(&spec.start, &spec.end);
    let stored = kv.scan_stale(kv_start, kv_end, spec.limit, spec.reverse, max_staleness_ms).await?;
    Ok(merge(stored, spec.limit, spec, &BTreeMap::new()))
}

fn in_spec<'a>(
    spec: &ScanSpec,
    overlay: &'a BTreeMap<Bytes, Option<Bytes>>,
) -> impl Iterator<Item = (&'a Bytes, &'a Option<Bytes>)> {
    let upper = if spec.end.is_empty() { Bound::Unbounded } else { Bound::Excluded(spec.end.clone()) };
    overlay.range((Bound::Included(spec.start.clone()), upper))
}

/// Buffered deletes inside the interval: each may hide a stored key, so a scan reads that
/// many more for `limit` to survive.
fn hidden_by(spec: &ScanSpec, overlay: &BTreeMap<Bytes, Option<Bytes>>) -> usize {
    in_spec(spec, overlay).filter(|(_, v)| v.is_none()).count()
}

/// Lays `overlay` over the first `fetch` stored keys of the interval (KV keys, in scan
/// order). Every stored key up to the last one read is known; when the store had more, at
/// least `fetch - hidden = limit` of them survive the overlay, so the first `limit` pairs of
/// the merge are exact.
fn merge(
    stored: Vec<ScannedKey>,
    fetch: usize,
    spec: &ScanSpec,
    overlay: &BTreeMap<Bytes, Option<Bytes>>,
) -> (Vec<KvPair>, bool) {
    let store_exhausted = stored.len() < fetch;
    let mut merged: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for scanned in stored {
        let (Some(key), Some(value)) = (grpc_kv::api_key(&scanned.key), scanned.state.value) else { continue };
        if spec.contains(&key) && !overlay.contains_key(&key) {
            merged.insert(key, value);
        }
    }
    for (key, value) in in_spec(spec, overlay) {
        if let Some(value) = value {
            merged.insert(key.clone(), value.clone());
        }
    }
    take_pairs(merged, spec, store_exhausted)
}

/// The first `spec.limit` pairs of `merged` in scan order, cut short before the response
/// would outgrow the message limit (at least one pair is always returned); plus whether more
/// pairs may follow. With the store not exhausted, every pair up to the last one read is
/// known, and there are at least `limit` of them, so the first `limit` are exact.
fn take_pairs(merged: BTreeMap<Bytes, Bytes>, spec: &ScanSpec, store_exhausted: bool) -> (Vec<KvPair>, bool) {
    let total = merged.len();
    let ordered: Box<dyn Iterator<Item = (Bytes, Bytes)>> =
        if spec.reverse { Box::new(merged.into_iter().rev()) } else { Box::new(merged.into_iter()) };
    let mut pairs = Vec::new();
    let mut bytes = 0;
    for (key, value) in ordered.take(spec.limit) {
        let size = key.len() + value.len() + PAIR_OVERHEAD;
        if !pairs.is_empty() && bytes + size > MAX_RESPONSE_BYTES {
            return (pairs, true);
        }
        bytes += size;
        pairs.push(KvPair { key, value });
    }
    let more = total > pairs.len() || !store_exhausted;
    (pairs, more)
}

/// Refuses a batch read whose answer would not fit in one message.
pub(crate) fn check_response_size<'a>(values: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Result<(), ApiError> {
    let bytes: usize = values.into_iter().map(|(k, v)| k.len() + v.len() + PAIR_OVERHEAD).sum();
    if bytes > MAX_RESPONSE_BYTES {
        return Err(ApiError::Exhausted(format!(
            "the answer would be {bytes} bytes, above the {MAX_MESSAGE_BYTES}-byte message limit; read fewer keys per call"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use strata_protocols::kv::KeyState;

    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn keys_values_and_ranges_are_validated() {
        assert!(check_key(b"k").is_ok());
        assert_eq!(check_key(b"").unwrap_err().code(), tonic::Code::InvalidArgument);
        assert!(check_key(&vec![0; MAX_KEY_BYTES]).is_ok());
        assert!(check_key(&vec![0; MAX_KEY_BYTES + 1]).is_err());
        assert!(check_batch(MAX_BATCH_KEYS).is_ok() && check_batch(MAX_BATCH_KEYS + 1).is_err());
        assert!(check_range(b"", b"").is_ok());
        assert!(check_range(b"a", b"b").is_ok());
        assert!(check_range(b"b", b"a").is_err());
        assert!(check_range(b"a", b"a").is_err());
        assert_eq!(ScanSpec::new(b("a"), b(""), 0, false).unwrap().limit, MAX_SCAN_LIMIT);
        assert_eq!(ScanSpec::new(b("a"), b(""), 5, true).unwrap().limit, 5);
        assert!(ScanSpec::new(b("a"), b(""), MAX_SCAN_LIMIT as u32 + 1, false).is_err());
        assert_eq!(expiry(0), Expiry::Never);
        assert_eq!(expiry(1500), Expiry::AfterMs(1500));
    }

    #[test]
    fn pairs_come_in_scan_order_up_to_the_limit() {
        let merged: BTreeMap<Bytes, Bytes> = ["a", "b", "c"].iter().map(|k| (b(k), b("v"))).collect();
        let keys = |pairs: Vec<KvPair>| pairs.into_iter().map(|p| p.key).collect::<Vec<_>>();
        let spec = ScanSpec::new(b(""), b(""), 2, false).unwrap();
        let (pairs, more) = take_pairs(merged.clone(), &spec, true);
        assert_eq!((keys(pairs), more), (vec![b("a"), b("b")], true));
        let spec = ScanSpec::new(b(""), b(""), 2, true).unwrap();
        let (pairs, more) = take_pairs(merged.clone(), &spec, true);
        assert_eq!((keys(pairs), more), (vec![b("c"), b("b")], true));
        let spec = ScanSpec::new(b(""), b(""), 3, false).unwrap();
        assert!(!take_pairs(merged.clone(), &spec, true).1, "everything returned and the store had no more");
        assert!(take_pairs(merged, &spec, false).1, "the store may hold more");
    }

    /// What a store holding `keys` (API keys) returns for `spec` and `fetch`.
    fn stored(keys: &[&str], spec: &ScanSpec, fetch: usize) -> Vec<ScannedKey> {
        let mut keys: Vec<&str> = keys.iter().copied().filter(|k| spec.contains(k.as_bytes())).collect();
        keys.sort();
        if spec.reverse {
            keys.reverse();
        }
        keys.into_iter()
            .take(fetch)
            .map(|k| ScannedKey {
                key: grpc_kv::kv_key(k.as_bytes()),
                state: KeyState { version: 1, value: Some(b(&format!("s{k}"))), expire_at_ms: None },
            })
            .collect()
    }

    #[test]
    fn buffered_writes_overlay_the_snapshot_in_scans() {
        let store = ["a", "b", "c", "d", "e", "f"];
        let overlay: BTreeMap<Bytes, Option<Bytes>> =
            [("b", None), ("c", None), ("cc", Some("new")), ("e", Some("upd")), ("z", None)]
                .into_iter()
                .map(|(k, v)| (b(k), v.map(b)))
                .collect();
        let scan = |start: &str, end: &str, limit: u32, reverse: bool| {
            let spec = ScanSpec::new(b(start), b(end), limit, reverse).unwrap();
            let fetch = spec.limit + hidden_by(&spec, &overlay);
            let (pairs, more) = merge(stored(&store, &spec, fetch), fetch, &spec, &overlay);
            let pairs: Vec<String> = pairs
                .into_iter()
                .map(|p| format!("{}={}", String::from_utf8_lossy(&p.key), String::from_utf8_lossy(&p.value)))
                .collect();
            (pairs.join(","), more)
        };
        assert_eq!(scan("", "", 3, false), ("a=sa,cc=new,d=sd".into(), true));
        assert_eq!(scan("", "", 0, false), ("a=sa,cc=new,d=sd,e=upd,f=sf".into(), false));
        assert_eq!(scan("", "", 3, true), ("f=sf,e=upd,d=sd".into(), true));
        assert_eq!(scan("", "", 5, true), ("f=sf,e=upd,d=sd,cc=new,a=sa".into(), false));
        assert_eq!(scan("a", "z", 4, true), ("f=sf,e=upd,d=sd,cc=new".into(), true));
        assert_eq!(scan("b", "e", 10, false), ("cc=new,d=sd".into(), false));
        assert_eq!(scan("b", "e", 1, true), ("d=sd".into(), true));
        assert_eq!(scan("c", "d", 10, true), ("cc=new".into(), false));
    }
}
