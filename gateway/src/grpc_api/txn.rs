//! TxnKV: interactive transactions under snapshot isolation.
//!
//! A transaction is an entry in this gateway's [`TxnTable`]: its start timestamp (from the
//! oracle) and its buffered writes. Reads go to the core at the start timestamp
//! (`KvStore::get_at`, `CoreKv::scan_at`) with the buffered writes laid over them; Commit
//! sends the writes as one `TxnCommit` without read keys or conditions, so the core checks
//! only write-write conflicts (first committer wins): lost updates are impossible, write
//! skew is not prevented. Nothing reaches the core before Commit, so Rollback, expiry or a
//! gateway crash simply drop the buffer.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::IntGauge;
use strata_proto::kv::txn_kv_server::TxnKv;
use strata_proto::kv::*;
use strata_protocols::grpc_kv::kv_key;
use strata_protocols::kv::{Expiry, KvStore, Mutation, TxnCommit};
use tonic::{Request, Response, Status};

use super::errors::{txn_outcome, ApiError};
use super::{check_batch, check_key, check_response_size, check_value, scan, Api, ScanSpec};

/// Bounds on the transactions one gateway holds.
#[derive(Debug, Clone, Copy)]
pub struct TxnLimits {
    /// Open transactions at once.
    pub max_open: usize,
    /// A transaction untouched for this long expires.
    pub idle: Duration,
    /// A transaction expires this long after Begin, however busy: its reads must stay within
    /// the core's MVCC retention window (10 minutes).
    pub lifetime: Duration,
    /// Buffered writes (distinct keys) in one transaction.
    pub max_writes: usize,
    /// Buffered key and value bytes in one transaction.
    pub max_txn_bytes: usize,
    /// Buffered key and value bytes in all transactions of the gateway.
    pub max_total_bytes: usize,
}

impl Default for TxnLimits {
    fn default() -> Self {
        Self {
            max_open: 10_000,
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(300),
            max_writes: 10_000,
            max_txn_bytes: 64 << 20,
            max_total_bytes: 1 << 30,
        }
    }
}

/// A buffered write: `Some(value)` = put, `None` = delete.
pub type BufferedWrite = Option<Bytes>;

/// One open transaction.
#[derive(Debug, Clone)]
pub struct Txn {
    pub start_ts: u64,
    /// Buffered writes by API key.
    pub writes: BTreeMap<Bytes, BufferedWrite>,
    bytes: usize,
    began: Instant,
    last_used: Instant,
}

impl Txn {
    fn expired(&self, limits: &TxnLimits, now: Instant) -> bool {
        now.duration_since(self.last_used) >= limits.idle || now.duration_since(self.began) >= limits.lifetime
    }
}

struct Table {
    txns: HashMap<u64, Txn>,
    /// Sum of `Txn::bytes`.
    bytes: usize,
}

/// The transactions open on this gateway.
pub struct TxnTable {
    limits: TxnLimits,
    table: std::sync::Mutex<Table>,
    open: IntGauge,
}

fn entry_size(key: &[u8], value: &Option<Bytes>) -> usize {
    key.len() + value.as_ref().map_or(0, |v| v.len())
}

fn not_found(id: u64) -> ApiError {
    ApiError::TxnNotFound(format!(
        "transaction {id} is unknown, finished or expired (idle transactions expire; a transaction lives in the \
         gateway that began it)"
    ))
}

impl TxnTable {
    pub fn new(limits: TxnLimits, open: IntGauge) -> Self {
        Self { limits, table: std::sync::Mutex::new(Table { txns: HashMap::new(), bytes: 0 }), open }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops expired transactions.
    fn sweep(&self, table: &mut Table, now: Instant) {
        let limits = self.limits;
        let mut freed = 0;
        table.txns.retain(|_, txn| {
            let keep = !txn.expired(&limits, now);
            if !keep {
                freed += txn.bytes;
            }
            keep
        });
        table.bytes -= freed;
        self.open.set(table.txns.len() as i64);
    }

    /// Registers a transaction reading at `start_ts`; returns its id.
    pub fn begin(&self, start_ts: u64, now: Instant) -> Result<u64, ApiError> {
        let mut table = self.lock();
        if table.txns.len() >= self.limits.max_open {
            self.sweep(&mut table, now);
            if table.txns.len() >= self.limits.max_open {
                return Err(ApiError::Exhausted(format!(
                    "{} transactions are open on this gateway, the maximum; commit or roll back some",
                    self.limits.max_open
                )));
            }
        }
        let id = loop {
            let id = rand::random::<u64>();
            if id != 0 && !table.txns.contains_key(&id) {
                break id;
            }
        };
        table.txns.insert(id, Txn { start_ts, writes: BTreeMap::new(), bytes: 0, began: now, last_used: now });
        self.open.set(table.txns.len() as i64);
        Ok(id)
    }

    /// Runs `f` on a live transaction, marking it used; NOT_FOUND if it is unknown or expired.
    pub fn with<R>(&self, id: u64, now: Instant, f: impl FnOnce(&Txn) -> R) -> Result<R, ApiError> {
        let mut table = self.lock();
        let table = &mut *table;
        let txn = self.live(table, id, now)?;
        txn.last_used = now;
        Ok(f(txn))
    }

    fn live<'t>(&self, table: &'t mut Table, id: u64, now: Instant) -> Result<&'t mut Txn, ApiError> {
        match table.txns.get(&id) {
            None => return Err(not_found(id)),
            Some(txn) if txn.expired(&self.limits, now) => {
                let txn = table.txns.remove(&id).expect("present");
                table.bytes -= txn.bytes;
                self.open.set(table.txns.len() as i64);
                return Err(not_found(id));
            }
            Some(_) => {}
        }
        Ok(table.txns.get_mut(&id).expect("present"))
    }

    /// Buffers a put (`Some`) or delete (`None`) of `key`.
    pub fn write(&self, id: u64, key: Bytes, value: Option<Bytes>, now: Instant) -> Result<(), ApiError> {
        let limits = self.limits;
        let mut guard = self.lock();
        let table = &mut *guard;
        let txn = self.live(table, id, now)?;
        txn.last_used = now;
        let old = txn.writes.get(&key).map(|v| entry_size(&key, v));
        if old.is_none() && txn.writes.len() >= limits.max_writes {
            return Err(ApiError::Exhausted(format!(
                "a transaction buffers at most {} writes; commit it and continue in another",
                limits.max_writes
            )));
        }
        let new = entry_size(&key, &value);
        let txn_bytes = txn.bytes - old.unwrap_or(0) + new;
        if txn_bytes > limits.max_txn_bytes {
            return Err(ApiError::Exhausted(format!(
                "a transaction buffers at most {} bytes of keys and values",
                limits.max_txn_bytes
            )));
        }
        let grown = txn_bytes.saturating_sub(txn.bytes);
        if table.bytes + grown > limits.max_total_bytes {
            self.sweep(table, now);
            if table.bytes + grown > limits.max_total_bytes {
                return Err(ApiError::Exhausted(format!(
                    "the gateway's transactions buffer {} bytes, the maximum; retry later",
                    table.bytes
                )));
            }
        }
        let txn = table.txns.get_mut(&id).ok_or_else(|| not_found(id))?;
        table.bytes = table.bytes - txn.bytes + txn_bytes;
        txn.bytes = txn_bytes;
        txn.writes.insert(key, value);
        Ok(())
    }

    /// Removes a live transaction (to commit or roll it back).
    pub fn take(&self, id: u64, now: Instant) -> Result<Txn, ApiError> {
        let mut guard = self.lock();
        let table = &mut *guard;
        self.live(table, id, now)?;
        let txn = table.txns.remove(&id).expect("live");
        table.bytes -= txn.bytes;
        self.open.set(table.txns.len() as i64);
        Ok(txn)
    }

    /// Open transactions (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.lock().txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key and value bytes buffered by all open transactions.
    pub fn buffered_bytes(&self) -> usize {
        self.lock().bytes
    }
}

pub struct TxnService(pub Api);

impl TxnService {
    /// The start timestamp and what the transaction buffered for each of `keys` (outer
    /// `None` = nothing buffered: read the store).
    fn buffered(&self, id: u64, keys: &[Bytes]) -> Result<(u64, Vec<Option<BufferedWrite>>), ApiError> {
        self.0
            .txns
            .with(id, Instant::now(), |txn| (txn.start_ts, keys.iter().map(|k| txn.writes.get(k).cloned()).collect()))
    }

    /// Reads `keys` in transaction `id`: buffered writes first, the rest at the snapshot.
    async fn read(&self, id: u64, keys: Vec<Bytes>) -> Result<Vec<KeyValue>, ApiError> {
        check_batch(keys.len())?;
        keys.iter().try_for_each(|k| check_key(k))?;
        let (start_ts, buffered) = self.buffered(id, &keys)?;
        let missing: Vec<Bytes> =
            keys.iter().zip(&buffered).filter(|(_, b)| b.is_none()).map(|(k, _)| kv_key(k)).collect();
        let mut stored = if missing.is_empty() {
            Vec::new().into_iter()
        } else {
            self.0.kv.get_at(missing, start_ts).await?.states.into_iter()
        };
        let mut results = Vec::with_capacity(keys.len());
        for (key, buffered) in keys.into_iter().zip(buffered) {
            let value = match buffered {
                Some(value) => value,
                None => stored.next().and_then(|s| s.value),
            };
            results.push(KeyValue { key, found: value.is_some(), value: value.unwrap_or_default() });
        }
        check_response_size(results.iter().map(|r| (&r.key[..], &r.value[..])))?;
        Ok(results)
    }
}

#[tonic::async_trait]
impl TxnKv for TxnService {
    async fn begin(&self, _request: Request<BeginRequest>) -> Result<Response<BeginResponse>, Status> {
        self.0
            .call("txn.begin", async {
                let start_ts = self.0.kv.timestamp().await?;
                let txn_id = self.0.txns.begin(start_ts, Instant::now())?;
                Ok(BeginResponse { txn_id, start_ts })
            })
            .await
    }

    async fn get(&self, request: Request<TxnGetRequest>) -> Result<Response<TxnGetResponse>, Status> {
        let TxnGetRequest { txn_id, key } = request.into_inner();
        self.0
            .call("txn.get", async {
                let result = self.read(txn_id, vec![key]).await?.pop().unwrap_or_default();
                Ok(TxnGetResponse { found: result.found, value: result.value })
            })
            .await
    }

    async fn batch_get(&self, request: Request<TxnBatchGetRequest>) -> Result<Response<TxnBatchGetResponse>, Status> {
        let TxnBatchGetRequest { txn_id, keys } = request.into_inner();
        self.0
            .call("txn.batch_get", async { Ok(TxnBatchGetResponse { results: self.read(txn_id, keys).await? }) })
            .await
    }

    async fn scan(&self, request: Request<TxnScanRequest>) -> Result<Response<TxnScanResponse>, Status> {
        let TxnScanRequest { txn_id, start, end, limit, reverse } = request.into_inner();
        self.0
            .call("txn.scan", async {
                let spec = ScanSpec::new(start, end, limit, reverse)?;
                let (start_ts, overlay) = self.0.txns.with(txn_id, Instant::now(), |txn| {
                    let upper = if spec.end.is_empty() {
                        std::ops::Bound::Unbounded
                    } else {
                        std::ops::Bound::Excluded(spec.end.clone())
                    };
                    let overlay: BTreeMap<Bytes, BufferedWrite> = txn
                        .writes
                        .range((std::ops::Bound::Included(spec.start.clone()), upper))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    (txn.start_ts, overlay)
                })?;
                let (pairs, more) = scan(&self.0.kv, &spec, start_ts, &overlay).await?;
                Ok(TxnScanResponse { pairs, more })
            })
            .await
    }

    async fn put(&self, request: Request<TxnPutRequest>) -> Result<Response<TxnPutResponse>, Status> {
        let TxnPutRequest { txn_id, key, value } = request.into_inner();
        self.0
            .call("txn.put", async {
                check_key(&key)?;
                check_value(&value)?;
                self.0.txns.write(txn_id, key, Some(value), Instant::now())?;
                Ok(TxnPutResponse {})
            })
            .await
    }

    async fn delete(&self, request: Request<TxnDeleteRequest>) -> Result<Response<TxnDeleteResponse>, Status> {
        let TxnDeleteRequest { txn_id, key } = request.into_inner();
        self.0
            .call("txn.delete", async {
                check_key(&key)?;
                self.0.txns.write(txn_id, key, None, Instant::now())?;
                Ok(TxnDeleteResponse {})
            })
            .await
    }

    async fn commit(&self, request: Request<CommitRequest>) -> Result<Response<CommitResponse>, Status> {
        let txn_id = request.into_inner().txn_id;
        let kv = self.0.kv.clone();
        let txns = self.0.txns.clone();
        self.0
            .call_to_completion("txn.commit", async move {
                let txn = txns.take(txn_id, Instant::now())?;
                if txn.writes.is_empty() {
                    // Read-only: every read already saw one snapshot.
                    return Ok(CommitResponse { commit_ts: txn.start_ts });
                }
                let mutations = txn
                    .writes
                    .into_iter()
                    .map(|(key, value)| match value {
                        Some(value) => Mutation::Put { key: kv_key(&key), value, expiry: Expiry::Never },
                        None => Mutation::Delete { key: kv_key(&key) },
                    })
                    .collect();
                let commit = TxnCommit { start_ts: txn.start_ts, read_keys: vec![], conditions: vec![], mutations };
                let commit_ts = txn_outcome(kv.commit(commit).await?)?;
                Ok(CommitResponse { commit_ts })
            })
            .await
    }

    async fn rollback(&self, request: Request<RollbackRequest>) -> Result<Response<RollbackResponse>, Status> {
        let txn_id = request.into_inner().txn_id;
        self.0
            .call("txn.rollback", async {
                self.0.txns.take(txn_id, Instant::now())?;
                Ok(RollbackResponse {})
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(limits: TxnLimits) -> TxnTable {
        TxnTable::new(limits, IntGauge::new("open", "open").unwrap())
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn idle_transactions_expire_and_use_keeps_them_alive() {
        let limits = TxnLimits { idle: Duration::from_secs(60), ..TxnLimits::default() };
        let txns = table(limits);
        let t0 = Instant::now();
        let id = txns.begin(100, t0).unwrap();
        assert_eq!(txns.with(id, t0 + Duration::from_secs(59), |t| t.start_ts), Ok(100));
        // Used at 59 s: alive until 119 s.
        txns.write(id, b("k"), Some(b("v")), t0 + Duration::from_secs(100)).unwrap();
        let err = txns.with(id, t0 + Duration::from_secs(161), |_| ()).unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert!(txns.is_empty() && txns.buffered_bytes() == 0, "the expired transaction was dropped");
        assert_eq!(txns.take(id, t0).unwrap_err().code(), tonic::Code::NotFound);
        assert_eq!(txns.with(12345, t0, |_| ()).unwrap_err().code(), tonic::Code::NotFound);
    }

    #[test]
    fn a_busy_transaction_still_expires_at_its_lifetime() {
        let txns = table(TxnLimits { lifetime: Duration::from_secs(300), ..TxnLimits::default() });
        let t0 = Instant::now();
        let id = txns.begin(1, t0).unwrap();
        for s in (30..300).step_by(30) {
            txns.with(id, t0 + Duration::from_secs(s), |_| ()).unwrap();
        }
        assert!(txns.with(id, t0 + Duration::from_secs(300), |_| ()).is_err());
    }

    #[test]
    fn commit_and_rollback_take_the_transaction_once() {
        let txns = table(TxnLimits::default());
        let now = Instant::now();
        let id = txns.begin(7, now).unwrap();
        txns.write(id, b("a"), Some(b("1")), now).unwrap();
        txns.write(id, b("b"), None, now).unwrap();
        txns.write(id, b("a"), Some(b("22")), now).unwrap();
        let txn = txns.take(id, now).unwrap();
        assert_eq!(txn.start_ts, 7);
        assert_eq!(txn.writes.into_iter().collect::<Vec<_>>(), vec![(b("a"), Some(b("22"))), (b("b"), None)]);
        assert_eq!(txns.take(id, now).unwrap_err().code(), tonic::Code::NotFound);
        assert_eq!(txns.write(id, b("c"), None, now).unwrap_err().code(), tonic::Code::NotFound);
        assert_eq!(txns.buffered_bytes(), 0);
    }

    #[test]
    fn open_transactions_and_buffers_are_capped() {
        let limits = TxnLimits {
            max_open: 2,
            max_writes: 2,
            max_txn_bytes: 10,
            max_total_bytes: 15,
            idle: Duration::from_secs(60),
            ..TxnLimits::default()
        };
        let txns = table(limits);
        let t0 = Instant::now();
        let a = txns.begin(1, t0).unwrap();
        let b_id = txns.begin(1, t0).unwrap();
        assert_eq!(txns.begin(1, t0).unwrap_err().code(), tonic::Code::ResourceExhausted);

        txns.write(a, b("k1"), Some(b("12345678")), t0).unwrap(); // 10 bytes
        assert_eq!(txns.write(a, b("k2"), None, t0).unwrap_err().code(), tonic::Code::ResourceExhausted);
        txns.write(a, b("k1"), Some(b("1")), t0).unwrap(); // replacing shrinks it to 3
        txns.write(a, b("k2"), None, t0).unwrap(); // 5
        assert_eq!(txns.write(a, b("k3"), None, t0).unwrap_err().code(), tonic::Code::ResourceExhausted);
        txns.write(b_id, b("x"), Some(b("123456789")), t0).unwrap(); // 10; gateway total 15
        assert_eq!(txns.write(a, b("k1"), Some(b("12")), t0).unwrap_err().code(), tonic::Code::ResourceExhausted);
        assert_eq!(txns.buffered_bytes(), 15);

        // Expired transactions free their slots and bytes.
        let later = t0 + Duration::from_secs(61);
        let c = txns.begin(2, later).unwrap();
        txns.write(c, b("y"), Some(b("123456789")), later).unwrap();
        assert_eq!(txns.len(), 1);
        assert_eq!(txns.buffered_bytes(), 10);
    }
}
