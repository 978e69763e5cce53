//! Admission control: a global and a per-connection rate limit (token buckets from the
//! `governor` crate) and a bound on commands executing at once in this gateway. A command
//! over a limit is refused at once with a retryable error instead of queueing without bound.
//! RESP commands and gRPC calls share one [`Admission`]: the global rate and the in-flight
//! bound cover both (the per-connection rate is RESP-only).

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy, Default)]
pub struct LimitsConfig {
    /// Commands per second across all connections (None = unlimited).
    pub global_rate: Option<NonZeroU32>,
    /// Commands per second per connection (None = unlimited).
    pub client_rate: Option<NonZeroU32>,
    /// Commands executing at once in this gateway.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("gateway rate limit exceeded ({0} commands/s)")]
    GlobalRate(u32),
    #[error("client rate limit exceeded ({0} commands/s per connection)")]
    ClientRate(u32),
    #[error("too many commands in flight on this gateway (max {0})")]
    InFlight(usize),
}

impl Refused {
    pub fn label(&self) -> &'static str {
        match self {
            Refused::GlobalRate(_) => "global_rate",
            Refused::ClientRate(_) => "client_rate",
            Refused::InFlight(_) => "in_flight",
        }
    }
}

pub struct Admission {
    config: LimitsConfig,
    global: Option<DefaultDirectRateLimiter>,
    in_flight: Arc<Semaphore>,
}

/// Per-connection state of the limits.
pub struct ClientLimiter {
    rate: Option<DefaultDirectRateLimiter>,
}

impl Admission {
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            config,
            global: config.global_rate.map(|r| RateLimiter::direct(Quota::per_second(r))),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
        }
    }

    pub fn client(&self) -> ClientLimiter {
        ClientLimiter { rate: self.config.client_rate.map(|r| RateLimiter::direct(Quota::per_second(r))) }
    }

    /// Admits one command; the permit must be held while it executes.
    pub fn admit(&self, client: &ClientLimiter) -> Result<OwnedSemaphorePermit, Refused> {
        if let (Some(limiter), Some(rate)) = (&client.rate, self.config.client_rate) {
            limiter.check().map_err(|_| Refused::ClientRate(rate.get()))?;
        }
        self.admit_request()
    }

    /// Admits one request that has no connection-level budget (a gRPC call): only the
    /// gateway-wide rate limit and the in-flight bound apply. The permit must be held while it
    /// executes.
    pub fn admit_request(&self) -> Result<OwnedSemaphorePermit, Refused> {
        if let (Some(limiter), Some(rate)) = (&self.global, self.config.global_rate) {
            limiter.check().map_err(|_| Refused::GlobalRate(rate.get()))?;
        }
        self.in_flight.clone().try_acquire_owned().map_err(|_| Refused::InFlight(self.config.max_in_flight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_refuses_with_its_own_error() {
        let admission =
            Admission::new(LimitsConfig { global_rate: None, client_rate: NonZeroU32::new(3), max_in_flight: 100 });
        let client = admission.client();
        let admitted = (0..10).filter(|_| admission.admit(&client).is_ok()).count();
        assert_eq!(admitted, 3, "a burst of the per-second quota passes, the rest is refused");
        assert_eq!(admission.admit(&client).unwrap_err(), Refused::ClientRate(3));
        // Another connection has its own bucket.
        assert!(admission.admit(&admission.client()).is_ok());

        let admission =
            Admission::new(LimitsConfig { global_rate: NonZeroU32::new(2), client_rate: None, max_in_flight: 100 });
        let (a, b) = (admission.client(), admission.client());
        assert!(admission.admit(&a).is_ok() && admission.admit(&b).is_ok());
        assert_eq!(admission.admit(&a).unwrap_err(), Refused::GlobalRate(2));

        let admission = Admission::new(LimitsConfig { global_rate: None, client_rate: None, max_in_flight: 2 });
        let client = admission.client();
        let held = (admission.admit(&client).unwrap(), admission.admit(&client).unwrap());
        assert_eq!(admission.admit(&client).unwrap_err(), Refused::InFlight(2));
        drop(held);
        assert!(admission.admit(&client).is_ok(), "permits come back when commands finish");

        // gRPC calls share the gateway-wide budgets with RESP commands.
        let admission =
            Admission::new(LimitsConfig { global_rate: None, client_rate: NonZeroU32::new(1), max_in_flight: 1 });
        let held = admission.admit_request().unwrap();
        assert_eq!(admission.admit(&admission.client()).unwrap_err(), Refused::InFlight(1));
        drop(held);
        let held = admission.admit(&admission.client()).unwrap();
        assert_eq!(admission.admit_request().unwrap_err(), Refused::InFlight(1));
        drop(held);
    }
}
