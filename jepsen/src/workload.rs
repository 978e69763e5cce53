//! Workloads: client processes that run operations through Redis (or S3: [`s3`]) against the
//! gateways and record every operation with its invocation and completion times.
//!
//! An error whose effect is unknown (timeout, broken connection, or a write the gateway
//! gave up on) is recorded as `Info`: it may or may not have happened. An operation that
//! certainly had no effect (a read that failed, a compare-and-set whose comparison failed,
//! an EXEC aborted by WATCH) is `Fail`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::history::{BankOp, Mop, Op, Outcome, RegisterOp, Txn};
use crate::Clock;

pub mod s3;

/// How long one operation may take before it is recorded as indeterminate.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a process waits after failing to connect before its operation is recorded.
const CONNECT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Register,
    ListAppend,
    Bank,
    /// Objects of one bucket as registers, through S3 ([`s3`]).
    S3Register,
}

impl std::str::FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "register" => Ok(Workload::Register),
            "list-append" => Ok(Workload::ListAppend),
            "bank" => Ok(Workload::Bank),
            "s3-register" => Ok(Workload::S3Register),
            other => Err(format!("unknown workload {other:?} (register, list-append, bank, s3-register)")),
        }
    }
}

pub const REGISTER_KEYS: usize = 5;
/// Keys appended to at a time; the set moves on every [`APPENDS_PER_GENERATION`] appends so
/// lists stay short (every read records a whole list) and new keys keep being created.
pub const LIST_KEYS: usize = 8;
pub const APPENDS_PER_GENERATION: i64 = 400;
pub const ACCOUNTS: usize = 8;
pub const OPENING_BALANCE: i64 = 100;

pub fn register_key(i: usize) -> String {
    format!("jr:{i}")
}

pub fn list_key(i: usize) -> String {
    format!("ja:{i}")
}

pub fn account(i: usize) -> String {
    format!("jb:{i}")
}

impl Workload {
    /// Raw KV keys (Redis keys live under `R`) where a split cuts this workload's keys apart.
    pub fn split_keys(&self) -> Vec<Vec<u8>> {
        let keys: Vec<String> = match self {
            Workload::Register => (1..REGISTER_KEYS).map(register_key).collect(),
            Workload::ListAppend => (1..LIST_KEYS).map(list_key).collect(),
            Workload::Bank => (1..ACCOUNTS).map(account).collect(),
            Workload::S3Register => return s3::split_keys(),
        };
        keys.into_iter().map(|k| format!("R{k}").into_bytes()).collect()
    }
}

pub async fn connect(url: &str) -> Option<MultiplexedConnection> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = tokio::time::timeout(OP_TIMEOUT, client.get_multiplexed_async_connection()).await.ok()?.ok()?;
    conn.set_response_timeout(OP_TIMEOUT);
    Some(conn)
}

/// A client process: one connection, one operation at a time, reconnecting after any error
/// (a reply may still be in flight on the old connection).
pub struct Process {
    pub id: usize,
    url: String,
    conn: Option<MultiplexedConnection>,
}

impl Process {
    pub fn new(id: usize, url: String) -> Self {
        Process { id, url, conn: None }
    }

    async fn conn(&mut self) -> Option<&mut MultiplexedConnection> {
        if self.conn.is_none() {
            self.conn = connect(&self.url).await;
            if self.conn.is_none() {
                // A gateway that is down refuses at once: without a pause the process would
                // flood the history with failed operations (gateway-kill).
                tokio::time::sleep(CONNECT_BACKOFF).await;
            }
        }
        self.conn.as_mut()
    }

    fn drop_conn(&mut self) {
        self.conn = None;
    }
}

/// The shared history of one run.
pub struct Recorder<V> {
    pub ops: Mutex<Vec<Op<V>>>,
    pub clock: Clock,
}

impl<V> Recorder<V> {
    pub fn new(clock: Clock) -> Arc<Self> {
        Arc::new(Recorder { ops: Mutex::new(Vec::new()), clock })
    }

    pub async fn record(&self, process: usize, call_ns: u64, outcome: Outcome, value: V) {
        let return_ns = (outcome != Outcome::Info).then(|| self.clock.now_ns());
        self.ops.lock().await.push(Op { process, call_ns, return_ns, outcome, value });
    }
}

fn parse_int(v: Option<String>) -> Result<Option<i64>, String> {
    v.map(|s| s.parse::<i64>().map_err(|e| format!("not a number {s:?}: {e}"))).transpose()
}

/// A read of one register.
pub async fn register_read(p: &mut Process, key: &str) -> (Outcome, RegisterOp) {
    let key = key.to_string();
    let Some(conn) = p.conn().await else { return (Outcome::Fail, RegisterOp::Read { key, value: None }) };
    let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(&key).query_async(conn).await;
    match got.map_err(|e| e.to_string()).and_then(parse_int) {
        Ok(value) => (Outcome::Ok, RegisterOp::Read { key, value }),
        Err(_) => {
            p.drop_conn();
            (Outcome::Fail, RegisterOp::Read { key, value: None })
        }
    }
}

/// One register operation.
pub async fn register_op(p: &mut Process, rng: &mut impl Rng, values: &AtomicI64) -> (Outcome, RegisterOp) {
    let key = register_key(rng.random_range(0..REGISTER_KEYS));
    let roll = rng.random_range(0..10);
    if roll < 4 {
        return register_read(p, &key).await;
    }
    let Some(conn) = p.conn().await else {
        return (Outcome::Fail, RegisterOp::Read { key, value: None });
    };
    if roll < 7 {
        let value = values.fetch_add(1, Ordering::Relaxed) % 5;
        let set: redis::RedisResult<String> = redis::cmd("SET").arg(&key).arg(value).query_async(conn).await;
        let outcome = if set.is_ok() { Outcome::Ok } else { Outcome::Info };
        if outcome != Outcome::Ok {
            p.drop_conn();
        }
        return (outcome, RegisterOp::Write { key, value });
    }
    let (from, to) = (rng.random_range(0..5i64), values.fetch_add(1, Ordering::Relaxed) % 5);
    let op = RegisterOp::Cas { key: key.clone(), from, to };
    // Compare under WATCH, then set in MULTI/EXEC: EXEC aborts if the key changed since.
    let watched: redis::RedisResult<()> = redis::cmd("WATCH").arg(&key).query_async(conn).await;
    let current: redis::RedisResult<Option<String>> = match watched {
        Ok(()) => redis::cmd("GET").arg(&key).query_async(conn).await,
        Err(e) => Err(e),
    };
    let current = match current.map_err(|e| e.to_string()).and_then(parse_int) {
        Ok(current) => current,
        Err(_) => {
            p.drop_conn();
            return (Outcome::Fail, op);
        }
    };
    if current != Some(from) {
        let _: redis::RedisResult<()> = redis::cmd("UNWATCH").query_async(conn).await;
        return (Outcome::Fail, op);
    }
    let exec: redis::RedisResult<Option<Vec<redis::Value>>> =
        redis::pipe().atomic().cmd("SET").arg(&key).arg(to).query_async(conn).await;
    match exec {
        Ok(Some(_)) => (Outcome::Ok, op),
        Ok(None) => (Outcome::Fail, op),
        Err(_) => {
            p.drop_conn();
            (Outcome::Info, op)
        }
    }
}

/// One list-append transaction (MULTI: RPUSH key v and LRANGE key 0 -1, 1 to 4 of them).
pub async fn list_append_op(p: &mut Process, rng: &mut impl Rng, values: &AtomicI64) -> (Outcome, Txn) {
    let generation = values.load(Ordering::Relaxed).max(0) / APPENDS_PER_GENERATION;
    let txn: Txn = (0..rng.random_range(1..=4))
        .map(|_| {
            let key = list_key(generation as usize * LIST_KEYS + rng.random_range(0..LIST_KEYS));
            if rng.random_bool(0.5) {
                Mop::Append { key, value: values.fetch_add(1, Ordering::Relaxed) }
            } else {
                Mop::Read { key, values: None }
            }
        })
        .collect();
    run_txn(p, txn).await
}

/// Runs a list-append transaction as one MULTI/EXEC.
pub async fn run_txn(p: &mut Process, mut txn: Txn) -> (Outcome, Txn) {
    let writes = txn.iter().any(|m| matches!(m, Mop::Append { .. }));
    let unknown = if writes { Outcome::Info } else { Outcome::Fail };
    let Some(conn) = p.conn().await else { return (Outcome::Fail, txn) };
    let mut pipe = redis::pipe();
    pipe.atomic();
    for mop in &txn {
        match mop {
            Mop::Append { key, value } => pipe.cmd("RPUSH").arg(key).arg(*value),
            Mop::Read { key, .. } => pipe.cmd("LRANGE").arg(key).arg(0).arg(-1),
        };
    }
    let replies: redis::RedisResult<Option<Vec<redis::Value>>> = pipe.query_async(conn).await;
    let replies = match replies {
        Ok(Some(replies)) if replies.len() == txn.len() => replies,
        Ok(_) => return (Outcome::Fail, txn),
        Err(_) => {
            p.drop_conn();
            return (unknown, txn);
        }
    };
    for (mop, reply) in txn.iter_mut().zip(replies) {
        if let Mop::Read { values, .. } = mop {
            match redis::from_redis_value::<Vec<i64>>(reply) {
                Ok(list) => *values = Some(list),
                Err(_) => return (unknown, txn),
            }
        }
    }
    (Outcome::Ok, txn)
}

/// Every balance, in one MGET (one snapshot across ranges).
pub async fn bank_read(p: &mut Process) -> (Outcome, BankOp) {
    let Some(conn) = p.conn().await else { return (Outcome::Fail, BankOp::Read { balances: None }) };
    let keys: Vec<String> = (0..ACCOUNTS).map(account).collect();
    let got: redis::RedisResult<Vec<Option<i64>>> = redis::cmd("MGET").arg(&keys).query_async(conn).await;
    match got {
        Ok(values) => {
            let balances = keys.into_iter().zip(values).map(|(k, v)| (k, v.unwrap_or(0))).collect();
            (Outcome::Ok, BankOp::Read { balances: Some(balances) })
        }
        Err(_) => {
            p.drop_conn();
            (Outcome::Fail, BankOp::Read { balances: None })
        }
    }
}

/// One bank operation: a transfer (WATCH the source, check the balance, MULTI DECRBY/INCRBY)
/// or a read of every balance (MGET: one snapshot across ranges).
pub async fn bank_op(p: &mut Process, rng: &mut impl Rng) -> (Outcome, BankOp) {
    if rng.random_bool(0.4) {
        return bank_read(p).await;
    }
    let Some(conn) = p.conn().await else { return (Outcome::Fail, BankOp::Read { balances: None }) };
    let from = rng.random_range(0..ACCOUNTS);
    let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
    let amount = rng.random_range(1..=20i64);
    let op = BankOp::Transfer { from: account(from), to: account(to), amount };
    let watched: redis::RedisResult<()> = redis::cmd("WATCH").arg(account(from)).query_async(conn).await;
    let balance: redis::RedisResult<Option<i64>> = match watched {
        Ok(()) => redis::cmd("GET").arg(account(from)).query_async(conn).await,
        Err(e) => Err(e),
    };
    let Ok(balance) = balance else {
        p.drop_conn();
        return (Outcome::Fail, op);
    };
    if balance.unwrap_or(0) < amount {
        let _: redis::RedisResult<()> = redis::cmd("UNWATCH").query_async(conn).await;
        return (Outcome::Fail, op);
    }
    let exec: redis::RedisResult<Option<Vec<redis::Value>>> = redis::pipe()
        .atomic()
        .cmd("DECRBY")
        .arg(account(from))
        .arg(amount)
        .cmd("INCRBY")
        .arg(account(to))
        .arg(amount)
        .query_async(conn)
        .await;
    match exec {
        Ok(Some(_)) => (Outcome::Ok, op),
        Ok(None) => (Outcome::Fail, op),
        Err(_) => {
            p.drop_conn();
            (Outcome::Info, op)
        }
    }
}
