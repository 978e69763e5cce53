//! EVAL / EVALSHA / EVAL_RO / EVALSHA_RO script numkeys [key ...] [arg ...]
//!
//! The script runs as one transaction (see [`crate::redis::scripting`]): its `redis.call`s go
//! through the same parse / run path as EXEC's queued commands, against a [`Transaction`],
//! and everything is committed at once; on a conflict the whole script runs again.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{arg, int_arg, run, table, Action};
use crate::kv::{Expiry, KvError, KvStore, Mutation, TxnOutcome};
use crate::redis::error::RedisError;
use crate::redis::retry::backoff;
use crate::redis::scripting::vm::{self, CallAnswer, CallRequest, ScriptJob, ScriptResult};
use crate::redis::scripting::{script_key, sha1_hex};
use crate::redis::session::{ServerContext, Session};
use crate::redis::transaction::Transaction;
use crate::resp::{ProtocolVersion, Reply};

/// How often a script that lost a conflict is run again before answering TRYAGAIN.
pub(crate) const MAX_SCRIPT_ATTEMPTS: u32 = 50;

pub(crate) const NO_SCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

#[derive(Clone, Debug, PartialEq)]
enum Source {
    Body(Bytes),
    /// A SHA1 as sent (EVALSHA).
    Sha(Bytes),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Eval {
    source: Source,
    keys: Vec<Bytes>,
    argv: Vec<Bytes>,
    /// EVAL_RO / EVALSHA_RO: write commands are refused.
    read_only: bool,
}

impl Eval {
    /// `name` is one of `eval`, `evalsha`, `eval_ro`, `evalsha_ro`.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Self, RedisError> {
        let script = arg(args, 1)?;
        let numkeys = int_arg(&arg(args, 2)?)?;
        let rest = args.get(3..).unwrap_or_default();
        if numkeys > rest.len() as i64 {
            return Err(RedisError::TooManyKeys);
        }
        let numkeys = usize::try_from(numkeys).map_err(|_| RedisError::NegativeKeys)?;
        let (keys, argv) = rest.split_at(numkeys);
        let source = if name.starts_with("evalsha") { Source::Sha(script) } else { Source::Body(script) };
        Ok(Eval { source, keys: keys.to_vec(), argv: argv.to_vec(), read_only: name.ends_with("_ro") })
    }

    /// Runs the script as its own transaction, committing its writes.
    pub async fn apply<K: KvStore>(self, session: &Session, kv: &K, ctx: &ServerContext) -> Result<Reply, RedisError> {
        let Some(job) = self.job(kv, ctx).await? else {
            return Ok(Reply::error(NO_SCRIPT));
        };
        for attempt in 0..MAX_SCRIPT_ATTEMPTS {
            let txn = Transaction::new(kv);
            let result = run_script(job.clone(), self.read_only, session, &txn, ctx).await?;
            if result.stopped {
                // Over its time limit: dropped whole, nothing it wrote is applied.
                return Ok(result.reply);
            }
            // Writes made before an error stay, as in Redis: commit whatever the outcome.
            let outcome = match txn.finish(Vec::new()).await? {
                None => TxnOutcome::Committed { commit_ts: 0 },
                Some(commit) => kv.commit(commit).await?,
            };
            match outcome {
                TxnOutcome::Committed { .. } => {
                    self.remember(&job, &result, kv, ctx).await?;
                    return Ok(result.reply);
                }
                TxnOutcome::Conflict | TxnOutcome::ConditionFailed => backoff(attempt).await,
            }
        }
        Err(RedisError::Kv(KvError::TryAgain(
            "script kept conflicting with concurrent writes and was discarded, retry".into(),
        )))
    }

    /// Runs the script inside an EXEC: against the MULTI's transaction, which EXEC commits.
    pub(crate) async fn apply_in_transaction<K: KvStore>(
        self,
        session: &Session,
        txn: &K,
        ctx: &ServerContext,
    ) -> Result<Reply, RedisError> {
        let Some(job) = self.job(txn, ctx).await? else {
            return Ok(Reply::error(NO_SCRIPT));
        };
        let result = run_script(job.clone(), self.read_only, session, txn, ctx).await?;
        self.remember(&job, &result, txn, ctx).await?;
        Ok(result.reply)
    }

    /// The run to do, or `None` for an unknown SHA1 (NOSCRIPT).
    async fn job<K: KvStore>(&self, kv: &K, ctx: &ServerContext) -> Result<Option<ScriptJob>, RedisError> {
        let (sha, body) = match &self.source {
            Source::Body(body) => (sha1_hex(body), body.clone()),
            Source::Sha(sha) => {
                let Some(sha) = normalize_sha(sha) else { return Ok(None) };
                match find_script(&sha, kv, ctx).await? {
                    Some(body) => (sha, body),
                    None => return Ok(None),
                }
            }
        };
        let limits = ctx.scripts.limits;
        Ok(Some(ScriptJob { sha, body, keys: self.keys.clone(), argv: self.argv.clone(), limits }))
    }

    /// EVAL stores a body that compiled so that EVALSHA finds it (on any gateway).
    async fn remember<K: KvStore>(
        &self,
        job: &ScriptJob,
        result: &ScriptResult,
        kv: &K,
        ctx: &ServerContext,
    ) -> Result<(), RedisError> {
        if matches!(self.source, Source::Body(_)) && result.compiled && ctx.scripts.cached(&job.sha).is_none() {
            store_script(&job.sha, job.body.clone(), kv).await?;
            ctx.scripts.remember(job.sha.clone(), job.body.clone());
        }
        Ok(())
    }
}

/// A SHA1 argument in the form scripts are stored under (lowercase), or `None` if it cannot
/// name a script (not 40 bytes).
pub(crate) fn normalize_sha(sha: &[u8]) -> Option<String> {
    (sha.len() == 40 && sha.is_ascii()).then(|| String::from_utf8_lossy(sha).to_ascii_lowercase())
}

/// The body of a script: this gateway's cache first, then the store.
async fn find_script<K: KvStore>(sha: &str, kv: &K, ctx: &ServerContext) -> Result<Option<Bytes>, RedisError> {
    if let Some(body) = ctx.scripts.cached(sha) {
        return Ok(Some(body));
    }
    let snapshot = kv.get(vec![script_key(sha)]).await?;
    let body = snapshot.states.into_iter().next().and_then(|state| state.value);
    if let Some(body) = &body {
        ctx.scripts.remember(sha.to_string(), body.clone());
    }
    Ok(body)
}

pub(crate) async fn store_script<K: KvStore>(sha: &str, body: Bytes, kv: &K) -> Result<(), RedisError> {
    let put = Mutation::Put { key: script_key(sha), value: body, expiry: Expiry::Never };
    kv.write(Vec::new(), vec![put]).await?;
    Ok(())
}

/// One run of the script against `kv` (a transaction): the Lua VM on a blocking thread, its
/// `redis.call`s served here. A store failure abandons the run and is returned as the error.
async fn run_script<K: KvStore>(
    job: ScriptJob,
    read_only: bool,
    session: &Session,
    kv: &K,
    ctx: &ServerContext,
) -> Result<ScriptResult, RedisError> {
    let (calls, mut requests) = mpsc::unbounded_channel::<CallRequest>();
    let vm = tokio::task::spawn_blocking(move || vm::run(job, calls));
    // The script's commands run as their own client: no MULTI / WATCH state, RESP2 unless
    // the script asked for RESP3.
    let mut script_session = session.clone();
    script_session.transaction = Default::default();
    let mut failure = None;
    while let Some(request) = requests.recv().await {
        let answer = if failure.is_some() {
            CallAnswer::Abort
        } else {
            match call(request.args, request.resp3, read_only, &mut script_session, kv, ctx).await {
                Ok(reply) => CallAnswer::Reply(reply),
                Err(err) => {
                    failure = Some(err);
                    CallAnswer::Abort
                }
            }
        };
        // The VM thread is waiting for this unless it was stopped (time limit) meanwhile.
        let _ = request.answer.send(answer);
    }
    let result = vm.await.map_err(|e| RedisError::Kv(KvError::Internal(format!("script thread failed: {e}"))))?;
    match failure {
        Some(err) => Err(err),
        None => Ok(result),
    }
}

/// One `redis.call` (Redis's scriptCall): the checks scripts add, then the command itself.
/// Command failures are replies (the script sees them as error tables); only a store failure
/// is an `Err`.
async fn call<K: KvStore>(
    args: Vec<Bytes>,
    resp3: bool,
    read_only: bool,
    session: &mut Session,
    kv: &K,
    ctx: &ServerContext,
) -> Result<Reply, RedisError> {
    let spec = match table::lookup(&args) {
        Ok(spec) => spec,
        Err(RedisError::WrongArity(_)) => {
            return Ok(Reply::error("ERR Wrong number of args calling Redis command from script"))
        }
        Err(_) => return Ok(Reply::error("ERR Unknown Redis command called from script")),
    };
    if spec.has_flag("noscript") {
        return Ok(Reply::error("ERR This Redis command is not allowed from script"));
    }
    if read_only && spec.has_flag("write") {
        return Ok(Reply::error("ERR Write commands are not allowed from read-only scripts."));
    }
    session.protocol = if resp3 { ProtocolVersion::Resp3 } else { ProtocolVersion::Resp2 };
    ctx.count_command();
    let kind = match Action::parse(spec.name, &args) {
        Ok(Action::Run(kind)) => kind,
        // Transaction steps are all flagged noscript.
        Ok(_) => return Ok(Reply::error("ERR This Redis command is not allowed from script")),
        Err(err) => return Ok(err.to_reply()),
    };
    match run(kind, session, kv, ctx).await {
        Ok(reply) => Ok(reply),
        Err(RedisError::Kv(err @ (KvError::Unavailable(_) | KvError::TryAgain(_) | KvError::Internal(_)))) => {
            Err(RedisError::Kv(err))
        }
        Err(err) => Ok(err.to_reply()),
    }
}
