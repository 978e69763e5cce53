//! The nemesis: faults injected in windows while the workload runs, each recorded with its
//! start and end so the report can shade it on the plot.
//!
//! Between windows the cluster is left healthy for a while, so the history shows both how it
//! behaves under a fault and that it recovers.

use std::sync::Arc;
use std::time::Duration;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::cluster::Cluster;
use crate::Clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// kill -9 a core node, restart it at the end of the window.
    Kill,
    /// SIGSTOP a core node, SIGCONT it at the end of the window.
    Pause,
    /// Cut links between core nodes: isolate one node, or a bridge (two halves that only
    /// one node still connects).
    Partition,
    /// Shift a core node's wall clock by up to ±5 s.
    Clock,
    /// Split a range at a random workload key (the routes shuffle under the clients).
    Split,
    /// Move the leadership of a random workload key's range to a random node (it campaigns).
    Transfer,
    /// Cut a gateway from some core nodes: one node, a majority, or all of them.
    #[serde(rename = "gateway-partition")]
    GatewayPartition,
    /// kill -9 a gateway, restart it (same ports) at the end of the window.
    #[serde(rename = "gateway-kill")]
    GatewayKill,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kill" => Ok(Fault::Kill),
            "pause" => Ok(Fault::Pause),
            "partition" => Ok(Fault::Partition),
            "clock" => Ok(Fault::Clock),
            "split" => Ok(Fault::Split),
            "transfer" => Ok(Fault::Transfer),
            "gateway-partition" => Ok(Fault::GatewayPartition),
            "gateway-kill" => Ok(Fault::GatewayKill),
            other => Err(format!(
                "unknown nemesis {other:?} (kill, pause, partition, clock, split, transfer, gateway-partition, \
                 gateway-kill)"
            )),
        }
    }
}

/// One fault window (or an instant event, for splits: `end_ns == start_ns`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub fault: Fault,
    pub start_ns: u64,
    pub end_ns: u64,
    pub detail: String,
}

pub struct Nemesis {
    pub faults: Vec<Fault>,
    /// Raw KV keys the split fault may cut at.
    pub split_keys: Vec<Vec<u8>>,
    pub quiet: Duration,
    pub window: Duration,
}

impl Nemesis {
    /// Injects faults until `until` (ns on `clock`), then heals everything. Returns the
    /// timeline.
    pub async fn run(&self, cluster: Arc<Mutex<Cluster>>, clock: Clock, until_ns: u64) -> Vec<Event> {
        let mut timeline = Vec::new();
        if self.faults.is_empty() {
            return timeline;
        }
        loop {
            tokio::time::sleep(self.quiet).await;
            if clock.now_ns() + self.window.as_nanos() as u64 >= until_ns {
                break;
            }
            let fault = *self.faults.choose(&mut rand::rng()).expect("faults");
            let start_ns = clock.now_ns();
            let detail = match self.begin(fault, &cluster).await {
                Ok(detail) => detail,
                Err(e) => {
                    tracing::warn!(?fault, error = %e, "fault could not be injected");
                    continue;
                }
            };
            tracing::info!(?fault, %detail, "fault on");
            if !matches!(fault, Fault::Split | Fault::Transfer) {
                tokio::time::sleep(self.window).await;
            }
            if let Err(e) = cluster.lock().await.heal_all() {
                tracing::warn!(error = %e, "heal failed");
            }
            let end_ns = clock.now_ns();
            tracing::info!(?fault, "fault off");
            timeline.push(Event { fault, start_ns, end_ns, detail });
        }
        timeline
    }

    async fn begin(&self, fault: Fault, cluster: &Arc<Mutex<Cluster>>) -> anyhow::Result<String> {
        let mut cluster = cluster.lock().await;
        let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
        let target = *ids.choose(&mut rand::rng()).expect("nodes");
        Ok(match fault {
            Fault::Kill => {
                cluster.kill(target);
                format!("kill -9 node {target}")
            }
            Fault::Pause => {
                cluster.pause(target, true);
                format!("SIGSTOP node {target}")
            }
            Fault::Partition => {
                let others: Vec<u64> = ids.iter().copied().filter(|id| *id != target).collect();
                if rand::rng().random_bool(0.5) || others.len() < 2 {
                    cluster.partition(&[target], &others);
                    format!("isolate node {target} from {others:?}")
                } else {
                    // Bridge: the others cannot talk to each other; `target` talks to both.
                    let (a, b) = others.split_at(others.len() / 2);
                    cluster.partition(a, b);
                    format!("bridge: {a:?} | {b:?}, node {target} sees both")
                }
            }
            Fault::Clock => {
                let offset =
                    rand::rng().random_range(100..5_000i64) * if rand::rng().random_bool(0.5) { 1 } else { -1 };
                cluster.set_clock_offset(target, offset)?;
                format!("node {target} clock {offset:+} ms")
            }
            Fault::Split => {
                let key = self.split_keys.choose(&mut rand::rng()).cloned().unwrap_or_else(|| b"R".to_vec());
                cluster.split(&key).await?;
                format!("split at {}", key.escape_ascii())
            }
            Fault::GatewayPartition => {
                let g = rand::rng().random_range(0..cluster.gateways.len().max(1));
                let mut cut = ids.clone();
                cut.shuffle(&mut rand::rng());
                cut.truncate(rand::rng().random_range(1..=ids.len()));
                cluster.set_gateway_links(g, &cut, true);
                format!("cut gateway {g} from nodes {cut:?}")
            }
            Fault::GatewayKill => {
                let g = rand::rng().random_range(0..cluster.gateways.len().max(1));
                cluster.kill_gateway(g);
                format!("kill -9 gateway {g}")
            }
            Fault::Transfer => {
                let key = self.split_keys.choose(&mut rand::rng()).cloned().unwrap_or_else(|| b"R".to_vec());
                cluster.campaign(target, &key).await?;
                format!("node {target} campaigns for the range of {}", key.escape_ascii())
            }
        })
    }
}
