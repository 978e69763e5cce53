//! Group commit for writes of one hot key inside one gateway.
//!
//! Writes are optimistic (read, decide, commit if nothing read changed), so clients hammering
//! one key (INCR on a counter, HSET / LPUSH / SADD / ZADD on one collection) would mostly
//! conflict with each other. Instead, single-key write commands queue per key: the first
//! writer of an idle key runs its command at once (exactly as it would alone); writers
//! arriving meanwhile queue, and when it finishes, the first of them runs the whole queue
//! (up to [`MAX_BATCH`]) as ONE transaction — each command sees the ones before it, as if
//! they ran one after another, and all commit together or are rerun together. Then the
//! next queued writer takes over, and so on. Throughput of a hot key is then a batch per
//! commit round trip instead of a command per round trip.
//!
//! A leader whose task is cancelled mid-batch cannot know whether its commit applied; the
//! commands of that batch are answered with an error saying so (the same uncertainty as a
//! client timeout), and the queue behind them is handed to the next writer as usual.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{reply_of, run, Kind};
use crate::kv::{KvError, KvStore, TxnOutcome};
use crate::redis::error::RedisError;
use crate::redis::retry::{backoff, MAX_ATTEMPTS};
use crate::redis::session::{ServerContext, Session};
use crate::redis::transaction::Transaction;
use crate::resp::Reply;

/// Most commands committed in one batch.
pub const MAX_BATCH: usize = 128;

/// How long a queued writer waits for its batch to start before it leaves the queue and runs
/// on its own: a leader stuck on a slow call (a cluster still electing, say) must not hold up
/// every later writer of the key. Running alone is always correct, only less efficient.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// The per-key queues; see the module documentation.
#[derive(Debug, Default)]
pub struct Combiner {
    /// A key is present while some writer is running a batch for it; the queue holds the
    /// writers waiting for the next batch.
    queues: Mutex<HashMap<Bytes, VecDeque<Waiter>>>,
    next_ticket: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Waiter {
    /// Tells this waiter apart when it withdraws from its queue.
    ticket: u64,
    kind: Kind,
    session: Session,
    /// Where its reply goes; `None` for the leader's own command (it keeps that reply).
    tell: Option<oneshot::Sender<Message>>,
}

#[derive(Debug)]
enum Message {
    Reply(Reply),
    /// You lead the next batch: run these (your own command first, with no `tell`), answer
    /// the others and hand over.
    Lead(Vec<Waiter>),
}

impl Combiner {
    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, VecDeque<Waiter>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes waiter `ticket` out of `key`'s queue; `None` if a batch already took it.
    fn withdraw(&self, key: &Bytes, ticket: u64) -> Option<Waiter> {
        let mut queues = self.queues();
        let queue = queues.get_mut(key)?;
        let at = queue.iter().position(|w| w.ticket == ticket)?;
        queue.remove(at)
    }

    /// Runs a single-key write command on `key`, batched with concurrent writers of the key.
    pub(super) async fn submit<K: KvStore>(
        &self,
        key: Bytes,
        kind: Kind,
        session: Session,
        kv: &K,
        ctx: &ServerContext,
    ) -> Reply {
        let (tell, mut listen) = oneshot::channel();
        let ticket = self.next_ticket.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let batch = {
            let mut queues = self.queues();
            match queues.get_mut(&key) {
                Some(queue) => {
                    queue.push_back(Waiter { ticket, kind, session, tell: Some(tell) });
                    None
                }
                None => {
                    queues.insert(key.clone(), VecDeque::new());
                    Some(vec![Waiter { ticket, kind, session, tell: None }])
                }
            }
        };
        let batch = match batch {
            Some(batch) => batch,
            None => {
                let message = match tokio::time::timeout(PATIENCE, &mut listen).await {
                    Ok(message) => message,
                    Err(_) => match self.withdraw(&key, ticket) {
                        // Out of the queue before any batch took us: run alone.
                        Some(mut me) => return reply_of(run(me.kind, &mut me.session, kv, ctx).await),
                        // A batch holds our command already: its reply is coming.
                        None => listen.await,
                    },
                };
                match message {
                    Ok(Message::Reply(reply)) => return reply,
                    Ok(Message::Lead(batch)) => batch,
                    Err(_) => return unknown_outcome(),
                }
            }
        };
        let mut leader = Leader { combiner: self, key, batch: Some(batch) };
        leader.run(kv, ctx).await
        // Dropping `leader` hands the queue to the next writer.
    }
}

/// The writer running a batch. Dropping it (done or cancelled) answers whatever it did not
/// answer and hands the queue to the next writer.
struct Leader<'a> {
    combiner: &'a Combiner,
    key: Bytes,
    /// The batch, until it is answered.
    batch: Option<Vec<Waiter>>,
}

impl Leader<'_> {
    /// Runs the batch, answers the others, and returns the leader's own reply.
    async fn run<K: KvStore>(&mut self, kv: &K, ctx: &ServerContext) -> Reply {
        let Some(batch) = self.batch.as_ref() else { return unknown_outcome() };
        let replies = run_batch(&self.key, batch, kv, ctx).await;
        let mut own = unknown_outcome();
        for (waiter, reply) in self.batch.take().unwrap_or_default().into_iter().zip(replies) {
            match waiter.tell {
                Some(tell) => {
                    let _ = tell.send(Message::Reply(reply));
                }
                None => own = reply,
            }
        }
        own
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        for waiter in self.batch.take().unwrap_or_default() {
            if let Some(tell) = waiter.tell {
                let _ = tell.send(Message::Reply(unknown_outcome()));
            }
        }
        let mut queues = self.combiner.queues();
        loop {
            let Some(queue) = queues.get_mut(&self.key) else { return };
            let Some(mut first) = queue.pop_front() else {
                queues.remove(&self.key);
                return;
            };
            let Some(tell) = first.tell.take() else { continue };
            let take = queue.len().min(MAX_BATCH - 1);
            let mut batch = Vec::with_capacity(take + 1);
            batch.push(first);
            batch.extend(queue.drain(..take));
            match tell.send(Message::Lead(batch)) {
                Ok(()) => return,
                // The first waiter is gone (cancelled): nobody wants its reply; the next leads.
                Err(Message::Lead(mut batch)) => {
                    batch.remove(0);
                    for waiter in batch.into_iter().rev() {
                        queue.push_front(waiter);
                    }
                }
                Err(Message::Reply(_)) => return,
            }
        }
    }
}

/// One command runs as it would alone; several run as one transaction.
async fn run_batch<K: KvStore>(key: &Bytes, batch: &[Waiter], kv: &K, ctx: &ServerContext) -> Vec<Reply> {
    if let [only] = batch {
        let mut session = only.session.clone();
        return vec![reply_of(run(only.kind.clone(), &mut session, kv, ctx).await)];
    }
    for attempt in 0..MAX_ATTEMPTS {
        let txn = Transaction::new(kv);
        let mut replies = Vec::with_capacity(batch.len());
        for waiter in batch {
            let mut session = waiter.session.clone();
            replies.push(reply_of(run(waiter.kind.clone(), &mut session, &txn, ctx).await));
        }
        let commit = match txn.finish(Vec::new()).await {
            Ok(None) => return replies,
            Ok(Some(commit)) => commit,
            Err(err) => return vec![RedisError::Kv(err).to_reply(); batch.len()],
        };
        match kv.commit(commit).await {
            Ok(TxnOutcome::Committed { .. }) => {
                // Commands inside a transaction leave waking blocked clients to its commit
                // (a push is visible only now); a served client wakes the next one.
                ctx.key_waiters.signal(key, 1).served().await;
                return replies;
            }
            Ok(TxnOutcome::Conflict | TxnOutcome::ConditionFailed) => backoff(attempt).await,
            Err(err) => return vec![RedisError::Kv(err).to_reply(); batch.len()],
        }
    }
    let err = KvError::TryAgain("too many concurrent modifications of the same key, retry".into());
    vec![RedisError::Kv(err).to_reply(); batch.len()]
}

fn unknown_outcome() -> Reply {
    RedisError::Kv(KvError::TryAgain(
        "the outcome of this write is unknown: the gateway task running it stopped".into(),
    ))
    .to_reply()
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::join_all;

    use super::*;
    use crate::kv::{ClusterInfo, Condition, Mutation, ReadSnapshot, ScannedKey, TxnCommit, WriteOutcome};
    use crate::redis::command::test_support::FakeKv;
    use crate::redis::command::{execute, Command};

    /// The fake store, but every call yields first, so concurrent commands interleave the way
    /// they do over the network.
    struct YieldingKv {
        inner: FakeKv,
        commits: AtomicUsize,
        /// The next `get` never returns (a call stuck on an unreachable node).
        stall_next_get: std::sync::atomic::AtomicBool,
    }

    impl KvStore for YieldingKv {
        async fn get(&self, keys: Vec<Bytes>) -> Result<ReadSnapshot, KvError> {
            tokio::task::yield_now().await;
            if self.stall_next_get.swap(false, Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            self.inner.get(keys).await
        }
        async fn write(&self, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Result<WriteOutcome, KvError> {
            tokio::task::yield_now().await;
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.inner.write(conditions, mutations).await
        }
        async fn timestamp(&self) -> Result<u64, KvError> {
            tokio::task::yield_now().await;
            self.inner.timestamp().await
        }
        async fn get_at(&self, keys: Vec<Bytes>, ts: u64) -> Result<ReadSnapshot, KvError> {
            tokio::task::yield_now().await;
            self.inner.get_at(keys, ts).await
        }
        async fn commit(&self, txn: TxnCommit) -> Result<TxnOutcome, KvError> {
            tokio::task::yield_now().await;
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.inner.commit(txn).await
        }
        async fn scan_at(
            &self,
            start: Bytes,
            end: Bytes,
            limit: usize,
            reverse: bool,
            ts: u64,
        ) -> Result<Vec<ScannedKey>, KvError> {
            tokio::task::yield_now().await;
            self.inner.scan_at(start, end, limit, reverse, ts).await
        }
        async fn scan(&self, start: Bytes, end: Bytes, limit: usize) -> Result<Vec<ScannedKey>, KvError> {
            self.inner.scan(start, end, limit).await
        }
        async fn count(&self, start: Bytes, end: Bytes) -> Result<u64, KvError> {
            self.inner.count(start, end).await
        }
        async fn cluster_info(&self) -> Result<ClusterInfo, KvError> {
            self.inner.cluster_info().await
        }
    }

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect()
    }

    #[tokio::test]
    async fn concurrent_writes_of_one_key_commit_in_batches_and_each_sees_the_previous() {
        const CLIENTS: usize = 40;
        let kv = YieldingKv { inner: FakeKv::new(), commits: AtomicUsize::new(0), stall_next_get: Default::default() };
        let ctx = ServerContext::new(6379, None);
        let session = Session::new(1, &ctx);
        let runs = (0..CLIENTS).map(|i| {
            let (kv, ctx, mut session) = (&kv, &ctx, session.clone());
            let line = if i % 2 == 0 { "INCR counter".to_string() } else { format!("HSET hash f{i} v") };
            async move {
                let cmd = Command::parse(args(&line), &session, ctx).unwrap();
                execute(cmd, &mut session, kv, ctx).await.reply
            }
        });
        let replies = join_all(runs).await;
        let mut counts: Vec<i64> = replies
            .iter()
            .step_by(2)
            .map(|r| match r {
                Reply::Integer(n) => *n,
                other => panic!("INCR answered {other:?}"),
            })
            .collect();
        counts.sort();
        assert_eq!(counts, (1..=(CLIENTS / 2) as i64).collect::<Vec<_>>(), "every INCR saw the one before it");
        assert!(replies.iter().skip(1).step_by(2).all(|r| *r == Reply::Integer(1)), "{replies:?}");
        let commits = kv.commits.load(Ordering::Relaxed);
        assert!(commits < CLIENTS / 2, "{commits} commits for {CLIENTS} writes: they were not batched");
        assert!(ctx.combiner.queues().is_empty(), "no queue is left behind");
        let mut session = session.clone();
        let cmd = Command::parse(args("HGETALL hash"), &session, &ctx).unwrap();
        match execute(cmd, &mut session, &kv, &ctx).await.reply {
            Reply::Map(fields) => assert_eq!(fields.len(), CLIENTS / 2),
            other => panic!("HGETALL answered {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_the_queue_on() {
        let kv = YieldingKv { inner: FakeKv::new(), commits: AtomicUsize::new(0), stall_next_get: Default::default() };
        let ctx = ServerContext::new(6379, None);
        let session = Session::new(1, &ctx);
        let incr = || Command::parse(args("INCR c"), &session, &ctx).unwrap();
        let mut s1 = session.clone();
        let mut leader = Box::pin(execute(incr(), &mut s1, &kv, &ctx));
        // Poll the leader once: it is now mid-command, holding the key.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(leader.as_mut().poll(&mut cx).is_pending());
        let mut s2 = session.clone();
        let mut follower = Box::pin(execute(incr(), &mut s2, &kv, &ctx));
        assert!(follower.as_mut().poll(&mut cx).is_pending(), "the follower queues behind the leader");
        assert_eq!(ctx.combiner.queues().get(&Bytes::from_static(b"c")).map(|q| q.len()), Some(1));
        drop(leader);
        assert_eq!(follower.await.reply, Reply::Integer(1), "the follower ran after the leader vanished");
        assert!(ctx.combiner.queues().is_empty());
    }

    #[tokio::test]
    async fn a_writer_queued_behind_a_stuck_leader_runs_alone_after_a_while() {
        let kv = YieldingKv { inner: FakeKv::new(), commits: AtomicUsize::new(0), stall_next_get: Default::default() };
        kv.stall_next_get.store(true, Ordering::Relaxed);
        let ctx = ServerContext::new(6379, None);
        let session = Session::new(1, &ctx);
        let incr = || Command::parse(args("INCR c"), &session, &ctx).unwrap();
        let mut s1 = session.clone();
        let mut stuck = Box::pin(execute(incr(), &mut s1, &kv, &ctx));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        // Twice: the first poll stops at the store's yield, the second reaches the stuck read.
        assert!(stuck.as_mut().poll(&mut cx).is_pending());
        assert!(stuck.as_mut().poll(&mut cx).is_pending(), "the leader is stuck in its read");
        assert!(!kv.stall_next_get.load(Ordering::Relaxed), "the leader took the stuck read");
        let mut s2 = session.clone();
        let reply = execute(incr(), &mut s2, &kv, &ctx).await.reply;
        assert_eq!(reply, Reply::Integer(1), "the second writer gave up waiting and ran alone");
        assert_eq!(ctx.combiner.queues().get(&Bytes::from_static(b"c")).map(|q| q.len()), Some(0));
        drop(stuck);
        assert!(ctx.combiner.queues().is_empty());
    }
}
