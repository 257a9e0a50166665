//! What keeps one connection's ERP (and the gateway) healthy: a concurrency limit with a
//! bounded wait (load shedding instead of an unbounded queue), a rate limit (ERPs throttle),
//! a circuit breaker that answers at once while the ERP is failing, and retries only where
//! safe (reads, and requests that provably never reached the ERP), with exponential backoff
//! and jitter, bounded by a retry budget (tower's).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};
use tower::retry::budget::{Budget as _, TpsBudget};

#[derive(Debug, Clone)]
pub struct ResilienceOptions {
    /// Extra attempts for a safe request.
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Share of requests that may be retries (over ~10 s), besides a floor of 2/s.
    pub retry_budget_percent: f32,
    /// Calls to this ERP at once.
    pub max_concurrency: usize,
    /// How long a call may wait for a slot or a rate-limit token before it is shed.
    pub queue_timeout: Duration,
    /// Calls per second; none = no limit.
    pub rate_limit: Option<u32>,
    /// Consecutive failures that open the circuit.
    pub circuit_failures: u32,
    /// How long the circuit stays open before one trial call.
    pub circuit_open_for: Duration,
}

impl Default for ResilienceOptions {
    fn default() -> Self {
        ResilienceOptions {
            retries: 2,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            retry_budget_percent: 0.2,
            max_concurrency: 256,
            queue_timeout: Duration::from_secs(2),
            rate_limit: None,
            circuit_failures: 5,
            circuit_open_for: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    HalfOpen,
    Open,
}

impl Circuit {
    pub fn gauge(self) -> i64 {
        match self {
            Circuit::Closed => 0,
            Circuit::HalfOpen => 1,
            Circuit::Open => 2,
        }
    }
}

#[derive(Debug)]
struct Breaker {
    state: Circuit,
    failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// Why a call was refused before it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    CircuitOpen,
    Overloaded,
    Throttled,
}

pub struct Resilience {
    pub options: ResilienceOptions,
    slots: Semaphore,
    limiter: Option<DefaultDirectRateLimiter>,
    breaker: Mutex<Breaker>,
    budget: TpsBudget,
}

/// Holds a concurrency slot (and a half-open trial) for one call.
pub struct Admission<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Resilience {
    pub fn new(options: ResilienceOptions) -> Self {
        let limiter = options
            .rate_limit
            .and_then(NonZeroU32::new)
            .map(|n| RateLimiter::direct(Quota::per_second(n)));
        Resilience {
            slots: Semaphore::new(options.max_concurrency.max(1)),
            limiter,
            breaker: Mutex::new(Breaker {
                state: Circuit::Closed,
                failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
            budget: TpsBudget::new(Duration::from_secs(10), 2, options.retry_budget_percent),
            options,
        }
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn circuit(&self) -> Circuit {
        self.breaker().state
    }

    /// Admits one call: circuit, rate limit, then a slot, each within the queue timeout.
    pub async fn admit(&self) -> Result<Admission<'_>, Refusal> {
        {
            let mut b = self.breaker();
            if b.state == Circuit::Open {
                let cooled = b
                    .opened_at
                    .is_some_and(|t| t.elapsed() >= self.options.circuit_open_for);
                if !cooled {
                    return Err(Refusal::CircuitOpen);
                }
                b.state = Circuit::HalfOpen;
                b.trial_in_flight = false;
            }
            if b.state == Circuit::HalfOpen {
                if b.trial_in_flight {
                    return Err(Refusal::CircuitOpen);
                }
                b.trial_in_flight = true;
            }
        }
        if let Some(l) = &self.limiter
            && tokio::time::timeout(self.options.queue_timeout, l.until_ready())
                .await
                .is_err()
        {
            self.release_trial();
            return Err(Refusal::Throttled);
        }
        match tokio::time::timeout(self.options.queue_timeout, self.slots.acquire()).await {
            Ok(Ok(permit)) => {
                self.budget.deposit();
                Ok(Admission { _permit: permit })
            }
            _ => {
                self.release_trial();
                Err(Refusal::Overloaded)
            }
        }
    }

    fn release_trial(&self) {
        self.breaker().trial_in_flight = false;
    }

    /// Records how a call went: failures (no answer, or a 5xx) count towards opening.
    pub fn record(&self, failed: bool) -> Circuit {
        let mut b = self.breaker();
        if failed {
            b.failures += 1;
            if b.state == Circuit::HalfOpen || b.failures >= self.options.circuit_failures {
                b.state = Circuit::Open;
                b.opened_at = Some(Instant::now());
            }
        } else {
            b.failures = 0;
            b.state = Circuit::Closed;
            b.opened_at = None;
        }
        b.trial_in_flight = false;
        b.state
    }

    /// Whether one more attempt may be made (attempt counts from 1), spending the budget.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt <= self.options.retries && self.budget.withdraw()
    }

    /// Exponential backoff with full jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .options
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16));
        let cap = exp.min(self.options.backoff_max);
        let r = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
        cap.mul_f64(0.5 + r / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_circuit_opens_then_tries_once() {
        let r = Resilience::new(ResilienceOptions {
            circuit_failures: 3,
            circuit_open_for: Duration::from_millis(50),
            ..ResilienceOptions::default()
        });
        for _ in 0..3 {
            let _a = r.admit().await.expect("admitted");
            r.record(true);
        }
        assert_eq!(r.circuit(), Circuit::Open);
        assert_eq!(r.admit().await.err(), Some(Refusal::CircuitOpen));
        tokio::time::sleep(Duration::from_millis(60)).await;
        let trial = r.admit().await.expect("one trial");
        assert_eq!(r.circuit(), Circuit::HalfOpen);
        assert_eq!(
            r.admit().await.err(),
            Some(Refusal::CircuitOpen),
            "only one trial at a time"
        );
        drop(trial);
        r.record(false);
        assert_eq!(r.circuit(), Circuit::Closed);
    }

    #[tokio::test]
    async fn excess_calls_are_shed_not_queued_forever() {
        let r = Resilience::new(ResilienceOptions {
            max_concurrency: 1,
            queue_timeout: Duration::from_millis(20),
            ..ResilienceOptions::default()
        });
        let held = r.admit().await.expect("first");
        assert_eq!(r.admit().await.err(), Some(Refusal::Overloaded));
        drop(held);
        assert!(r.admit().await.is_ok());
    }

    #[tokio::test]
    async fn the_rate_limit_throttles() {
        let r = Resilience::new(ResilienceOptions {
            rate_limit: Some(1),
            queue_timeout: Duration::from_millis(10),
            ..ResilienceOptions::default()
        });
        assert!(r.admit().await.is_ok());
        assert_eq!(r.admit().await.err(), Some(Refusal::Throttled));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = Resilience::new(ResilienceOptions::default());
        assert!(r.backoff(1) <= Duration::from_millis(100));
        assert!(r.backoff(10) <= Duration::from_secs(1));
        assert!(r.backoff(10) >= Duration::from_millis(500));
    }
}
