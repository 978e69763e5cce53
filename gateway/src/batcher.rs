//! Coalesces concurrent requests bound for the same core node into one batch RPC.
//!
//! Each RPC costs CPU on both ends (HTTP/2 framing, protobuf, task wake-ups) no matter how
//! small it is. While a few batches are in flight to a node, new requests wait in a queue and
//! leave together in the next one, so under load the per-RPC cost is shared by many client
//! commands, and an idle gateway still sends a lone request at once.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::Status;

struct Waiting<Req, Resp> {
    request: Req,
    reply: oneshot::Sender<Result<Resp, Status>>,
}

pub struct Batcher<Req, Resp> {
    queue: mpsc::UnboundedSender<Waiting<Req, Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// `send` performs one batch RPC and must answer one response per request, in order.
    pub fn start<F, Fut>(send: F, max_batch: usize, max_in_flight: usize) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, Status>> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, Arc::new(send), max_batch, max_in_flight));
        Self { queue }
    }

    pub async fn call(&self, request: Req) -> Result<Resp, Status> {
        let (reply, rx) = oneshot::channel();
        self.queue.send(Waiting { request, reply }).map_err(|_| Status::unavailable("gateway batcher stopped"))?;
        rx.await.map_err(|_| Status::unavailable("gateway batcher stopped"))?
    }
}

async fn run<Req, Resp, F, Fut>(
    mut rx: mpsc::UnboundedReceiver<Waiting<Req, Resp>>,
    send: Arc<F>,
    max_batch: usize,
    max_in_flight: usize,
) where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Resp>, Status>> + Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(max_in_flight));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        // Everything that queued up while we waited for a permit leaves together.
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let send = send.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.request, w.reply)).unzip();
            let expected = replies.len();
            match send(requests).await {
                Ok(responses) if responses.len() == expected => {
                    for (reply, response) in replies.into_iter().zip(responses) {
                        let _ = reply.send(Ok(response));
                    }
                }
                Ok(responses) => {
                    let status = Status::internal(format!("batch answered {} of {expected} requests", responses.len()));
                    for reply in replies {
                        let _ = reply.send(Err(status.clone()));
                    }
                }
                Err(status) => {
                    for reply in replies {
                        let _ = reply.send(Err(status.clone()));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn requests_waiting_behind_a_batch_leave_together() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Notify::new());
        let batcher = {
            let (sizes, gate) = (sizes.clone(), gate.clone());
            Batcher::start(
                move |reqs: Vec<u32>| {
                    let (sizes, gate) = (sizes.clone(), gate.clone());
                    async move {
                        sizes.lock().unwrap().push(reqs.len());
                        if reqs.len() == 1 {
                            gate.notified().await; // hold the first batch in flight
                        }
                        Ok(reqs.into_iter().map(|r| r * 10).collect())
                    }
                },
                64,
                1,
            )
        };
        let batcher = Arc::new(batcher);
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.call(1).await }
        });
        while sizes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (2..=6)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.call(i).await })
            })
            .collect();
        // Let all five queue up behind the held batch, then release it.
        tokio::task::yield_now().await;
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap(), 10);
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(r.await.unwrap().unwrap(), (i as u32 + 2) * 10, "each caller gets its own answer");
        }
        assert_eq!(*sizes.lock().unwrap(), vec![1, 5]);
    }

    #[tokio::test]
    async fn a_failed_or_short_batch_fails_every_caller() {
        let failing = Batcher::start(|_: Vec<u8>| async { Err::<Vec<u8>, _>(Status::unavailable("node down")) }, 8, 1);
        assert_eq!(failing.call(1).await.unwrap_err().code(), tonic::Code::Unavailable);
        let short = Batcher::start(|_: Vec<u8>| async { Ok(Vec::<u8>::new()) }, 8, 1);
        assert_eq!(short.call(1).await.unwrap_err().code(), tonic::Code::Internal);
    }
}
