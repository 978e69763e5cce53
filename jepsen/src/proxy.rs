//! A TCP proxy that can cut a link: the network part of the nemesis.
//!
//! Each core node reaches each peer through its own proxy (the core's test-only
//! `STRATA_TEST_DIAL_VIA`), so the link from node A to node B is one proxy, and a partition
//! is a set of cut proxies. Cutting a link drops its open connections and holds new ones
//! without forwarding a byte (as a partitioned network does: connects may succeed, nothing
//! arrives, calls time out); healing lets held connections through.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub listen: String,
    cut: Arc<AtomicBool>,
    /// Bumped on every cut, so connections opened before it close.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?.to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let task = {
            let cut = cut.clone();
            let generation = generation.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((inbound, _)) = listener.accept().await else { continue };
                    let _ = inbound.set_nodelay(true);
                    let cut = cut.clone();
                    let mut gen = generation.subscribe();
                    let target = target.clone();
                    tokio::spawn(async move {
                        // Held while cut: accepted, never forwarded; closed once healed.
                        while cut.load(Ordering::Acquire) {
                            if gen.changed().await.is_err() {
                                return;
                            }
                        }
                        let Ok(outbound) = TcpStream::connect(&target).await else { return };
                        let _ = outbound.set_nodelay(true);
                        let (mut a, mut b) = (inbound, outbound);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                            _ = gen.changed() => {
                                let _ = a.shutdown().await;
                                let _ = b.shutdown().await;
                            }
                        }
                    });
                }
            })
        };
        Ok(Proxy { listen, cut, generation, task })
    }

    pub fn set_cut(&self, cut: bool) {
        if self.cut.swap(cut, Ordering::AcqRel) != cut {
            self.generation.send_modify(|g| *g += 1);
        }
    }
}
