//! Retries and circuit breaking around a [`Channel`]: at-least-once delivery that gives a
//! failing provider room to recover and lets the escalation engine move on quickly.
//!
//! * **What is retried**: only [`SendError::Temporary`] (HTTP 408/429/5xx, SMTP 4xx, timeouts,
//!   connection errors). A permanent refusal, an invalid address or a missing configuration is
//!   final after one attempt: sending the same request again cannot change the answer.
//! * **When**: attempt `n + 1` waits a random time in `[0, min(max_delay, base_delay · 2^(n-1))]`
//!   ("full jitter", which spreads retries of many alerts over the window instead of having them
//!   hit a recovering provider together). When the provider sent `Retry-After`, that wait is used
//!   instead, capped at [`RetryPolicy::max_retry_after`]. The jitter is not drawn from an unseeded
//!   generator: it is a hash of the alert id and the attempt number, so different alerts spread
//!   out while one alert's schedule is reproducible (and testable).
//! * **Circuit breaker**, one per channel kind: after [`DEFAULT_FAILURE_THRESHOLD`] consecutive
//!   temporary failures (across all alerts) it opens for [`DEFAULT_COOL_DOWN`]; meanwhile every
//!   send fails at once with [`SendError::CircuitOpen`], so the engine falls back to the next
//!   channel of the chain instead of waiting out retries against a dead provider. After the
//!   cool-down it is half-open: one trial request goes through (others still fail fast); its
//!   success closes the breaker, its failure opens it again for another cool-down. Any answer
//!   that shows the provider alive (success, or a permanent refusal of one request) resets the
//!   failure count. Time comes from a [`Clock`], so tests move it by hand.
//! * **Record**: every attempt is returned as an [`Attempt`] (when, how long, status, error,
//!   the wait before the next one), for the alert's audit trail.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Alert, Channel, ChannelKind, Delivered, SendError};
use crate::clock::Clock;

/// Attempts per alert and channel (the first try and its retries), unless configured.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// Back-off window of the first retry; doubled for each further one.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(200);
/// Largest back-off window.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);
/// Longest provider-requested wait (`Retry-After`) that is honoured as asked; longer requests
/// wait this long. An escalation that waits minutes is no escalation: the breaker and the next
/// channel take over instead.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Consecutive temporary failures that open a channel's breaker.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// How long an open breaker fails sends fast before letting one trial through.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);

/// How often and how patiently to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1. Default [`DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: u32,
    /// Back-off window of the first retry. Default [`DEFAULT_BASE_DELAY`].
    pub base_delay: Duration,
    /// Largest back-off window. Default [`DEFAULT_MAX_DELAY`].
    pub max_delay: Duration,
    /// Cap on a provider's `Retry-After`. Default [`DEFAULT_MAX_RETRY_AFTER`].
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

impl RetryPolicy {
    /// The back-off window before retry number `retry` (1 for the second attempt): `base_delay ·
    /// 2^(retry-1)`, at most `max_delay`.
    pub fn window(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before retry number `retry` of alert `alert_id`: the provider's `retry_after`
    /// (capped) if given, else a point of the back-off window chosen by [`jitter`].
    pub fn delay(&self, alert_id: &str, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.window(retry).mul_f64(jitter(alert_id, retry)),
        }
    }
}

/// A number in `[0, 1)` fixed by the alert id and the retry number (FNV-1a, then SplitMix64's
/// finaliser): the full-jitter factor, reproducible yet different from alert to alert.
pub fn jitter(alert_id: &str, retry: u32) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in alert_id.bytes().chain(retry.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Where a breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Sends go through.
    Closed,
    /// Sends fail fast until `until_ms`.
    Open {
        /// End of the cool-down, ms since the epoch.
        until_ms: i64,
    },
    /// The cool-down is over: one trial may go through.
    HalfOpen,
}

#[derive(Debug)]
struct BreakerInner {
    failures: u32,
    state: BreakerState,
    /// When the half-open trial was let through (a trial that never reports, e.g. a cancelled
    /// send, stops blocking others after a cool-down).
    trial_since_ms: Option<i64>,
}

/// A circuit breaker for one channel kind (see the module docs).
pub struct CircuitBreaker {
    kind: ChannelKind,
    threshold: u32,
    cool_down: Duration,
    clock: Arc<dyn Clock>,
    inner: Mutex<BreakerInner>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker").field("kind", &self.kind).field("state", &self.state()).finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker for `kind` with [`DEFAULT_FAILURE_THRESHOLD`] and [`DEFAULT_COOL_DOWN`].
    pub fn new(kind: ChannelKind, clock: Arc<dyn Clock>) -> CircuitBreaker {
        CircuitBreaker::with_limits(kind, DEFAULT_FAILURE_THRESHOLD, DEFAULT_COOL_DOWN, clock)
    }

    /// A closed breaker opening after `threshold` (at least 1) consecutive temporary failures for
    /// `cool_down`.
    pub fn with_limits(kind: ChannelKind, threshold: u32, cool_down: Duration, clock: Arc<dyn Clock>) -> CircuitBreaker {
        CircuitBreaker {
            kind,
            threshold: threshold.max(1),
            cool_down,
            clock,
            inner: Mutex::new(BreakerInner { failures: 0, state: BreakerState::Closed, trial_since_ms: None }),
        }
    }

    /// The breaker's clock (attempt times are read from it too).
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Where the breaker stands now.
    pub fn state(&self) -> BreakerState {
        let now = self.clock.now_ms();
        let inner = self.inner.lock().expect("breaker lock");
        match inner.state {
            BreakerState::Open { until_ms } if now >= until_ms => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Asks to send: `Ok` when closed, or as the one trial of a half-open breaker;
    /// [`SendError::CircuitOpen`] otherwise.
    pub fn try_acquire(&self) -> Result<(), SendError> {
        let now = self.clock.now_ms();
        let cool_down = self.cool_down.as_millis() as i64;
        let mut inner = self.inner.lock().expect("breaker lock");
        match inner.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until_ms } if now < until_ms => Err(SendError::CircuitOpen(self.kind)),
            BreakerState::Open { .. } | BreakerState::HalfOpen => match inner.trial_since_ms {
                Some(since) if now < since + cool_down => Err(SendError::CircuitOpen(self.kind)),
                _ => {
                    inner.state = BreakerState::HalfOpen;
                    inner.trial_since_ms = Some(now);
                    Ok(())
                }
            },
        }
    }

    /// Records the result of a send let through by [`CircuitBreaker::try_acquire`].
    pub fn record(&self, result: &Result<Delivered, SendError>) {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock().expect("breaker lock");
        match result {
            Err(SendError::Temporary { .. }) => {
                inner.failures += 1;
                if inner.state == BreakerState::HalfOpen || inner.failures >= self.threshold {
                    if inner.state == BreakerState::Closed {
                        tracing::warn!(channel = %self.kind, failures = inner.failures, "channel failing; circuit opened");
                    }
                    inner.state = BreakerState::Open { until_ms: now + self.cool_down.as_millis() as i64 };
                    inner.trial_since_ms = None;
                }
            }
            // The provider answered: it is up, whatever it thought of this one request.
            Ok(_) | Err(SendError::Permanent { .. }) => {
                if inner.state != BreakerState::Closed {
                    tracing::info!(channel = %self.kind, "channel answering again; circuit closed");
                }
                *inner = BreakerInner { failures: 0, state: BreakerState::Closed, trial_since_ms: None };
            }
            // Nothing reached the provider: says nothing about it.
            Err(SendError::InvalidAddress(_) | SendError::NotConfigured(_) | SendError::CircuitOpen(_)) => {
                if inner.state == BreakerState::HalfOpen {
                    inner.trial_since_ms = None;
                }
            }
        }
    }
}

/// One attempt to deliver an alert, for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started, ms since the epoch (the breaker's clock).
    pub at_ms: i64,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
    /// HTTP status or SMTP reply code, when the provider answered.
    pub status: Option<u16>,
    /// What went wrong, if it failed.
    pub error: Option<String>,
    /// The provider's message id, if it succeeded and gave one.
    pub provider_id: Option<String>,
    /// The wait before the next attempt, if one followed.
    pub retry_in_ms: Option<u64>,
}

/// The end of a delivery: its result and every attempt made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The last attempt's result (or [`SendError::CircuitOpen`] when the breaker refused).
    pub result: Result<Delivered, SendError>,
    /// Every attempt, oldest first (none when the breaker refused the first one).
    pub attempts: Vec<Attempt>,
}

/// Sends `alert` to `address` through `channel`, retrying temporary failures under `policy`
/// while `breaker` lets it (see the module docs). Never panics; never retries a permanent error.
pub async fn send_with_retry(
    channel: &dyn Channel,
    address: &str,
    alert: &Alert,
    policy: &RetryPolicy,
    breaker: &CircuitBreaker,
) -> Outcome {
    let max_attempts = policy.max_attempts.max(1);
    let mut attempts: Vec<Attempt> = Vec::new();
    for number in 1..=max_attempts {
        if let Err(open) = breaker.try_acquire() {
            tracing::warn!(channel = %channel.kind(), alert = %alert.id, "circuit open; not sending");
            return Outcome { result: Err(open), attempts };
        }
        let at_ms = breaker.clock().now_ms();
        let started = Instant::now();
        let result = channel.send(address, alert).await;
        crate::telemetry::LATENCY.alert_send.since(started);
        breaker.record(&result);
        let mut attempt = Attempt {
            number,
            at_ms,
            elapsed_ms: started.elapsed().as_millis() as u64,
            status: result.as_ref().err().and_then(SendError::status),
            error: result.as_ref().err().map(|e| e.to_string()),
            provider_id: result.as_ref().ok().and_then(|d| d.provider_id.clone()),
            retry_in_ms: None,
        };
        match &result {
            Err(SendError::Temporary { .. }) if matches!(breaker.state(), BreakerState::Open { .. }) => {
                // This failure opened the breaker: no point waiting for a retry it would refuse.
                attempts.push(attempt);
                return Outcome { result: Err(SendError::CircuitOpen(channel.kind())), attempts };
            }
            Err(e @ SendError::Temporary { retry_after, .. }) if number < max_attempts => {
                let wait = policy.delay(&alert.id, number, *retry_after);
                attempt.retry_in_ms = Some(wait.as_millis() as u64);
                tracing::warn!(channel = %channel.kind(), alert = %alert.id, attempt = number, error = %e, wait_ms = wait.as_millis() as u64, "delivery attempt failed; retrying");
                attempts.push(attempt);
                tokio::time::sleep(wait).await;
            }
            _ => {
                attempts.push(attempt);
                return Outcome { result, attempts };
            }
        }
    }
    unreachable!("the last attempt always returns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::escalation::channels::Severity;
    use async_trait::async_trait;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A channel answering from a script, counting calls.
    struct Scripted {
        answers: Mutex<VecDeque<Result<Delivered, SendError>>>,
        calls: AtomicI64,
    }

    impl Scripted {
        fn new(answers: Vec<Result<Delivered, SendError>>) -> Scripted {
            Scripted { answers: Mutex::new(answers.into()), calls: AtomicI64::new(0) }
        }
        fn calls(&self) -> i64 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Channel for Scripted {
        fn kind(&self) -> ChannelKind {
            ChannelKind::Slack
        }
        async fn send(&self, _address: &str, _alert: &Alert) -> Result<Delivered, SendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.answers.lock().unwrap().pop_front().unwrap_or(Ok(Delivered::default()))
        }
    }

    fn alert() -> Alert {
        Alert {
            id: "al_1".into(),
            tenant: "t".into(),
            summary: "s".into(),
            text: "x".into(),
            link: "https://l".into(),
            severity: Severity::Critical,
            value_cents: 1,
            at_ms: 0,
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_millis(30),
        }
    }

    fn temp(retry_after: Option<Duration>) -> Result<Delivered, SendError> {
        Err(SendError::Temporary { reason: "HTTP 503".into(), status: Some(503), retry_after })
    }

    fn breaker(clock: Arc<ManualClock>) -> CircuitBreaker {
        CircuitBreaker::with_limits(ChannelKind::Slack, 5, Duration::from_secs(30), clock)
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_with_reproducible_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.window(1), Duration::from_millis(200));
        assert_eq!(p.window(2), Duration::from_millis(400));
        assert_eq!(p.window(5), Duration::from_millis(3200));
        assert_eq!(p.window(6), Duration::from_secs(5));
        assert_eq!(p.window(40), Duration::from_secs(5));
        for retry in 1..6 {
            let d = p.delay("al_x", retry, None);
            assert!(d <= p.window(retry), "{d:?}");
            assert_eq!(d, p.delay("al_x", retry, None), "same alert, same schedule");
        }
        // Different alerts spread over the window: 200 ids cover all its quarters.
        let mut quarters = [0; 4];
        for i in 0..200 {
            quarters[(jitter(&format!("al_{i}"), 1) * 4.0) as usize] += 1;
        }
        assert!(quarters.iter().all(|&q| q > 25), "{quarters:?}");
        assert_eq!(p.delay("a", 1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(p.delay("a", 1, Some(Duration::from_secs(600))), DEFAULT_MAX_RETRY_AFTER);
    }

    #[tokio::test]
    async fn temporary_failures_are_retried_and_every_attempt_recorded() {
        let clock = Arc::new(ManualClock::new(1_000));
        let ch = Scripted::new(vec![temp(None), temp(Some(Duration::from_secs(2))), Ok(Delivered { provider_id: Some("m1".into()) })]);
        let out = send_with_retry(&ch, "a", &alert(), &fast(), &breaker(clock)).await;
        assert_eq!(out.result, Ok(Delivered { provider_id: Some("m1".into()) }));
        assert_eq!(out.attempts.len(), 3);
        assert_eq!(out.attempts[0].status, Some(503));
        assert!(out.attempts[0].retry_in_ms.unwrap() <= 4);
        assert_eq!(out.attempts[1].retry_in_ms, Some(30), "Retry-After honoured up to the cap");
        assert_eq!(out.attempts[2].provider_id.as_deref(), Some("m1"));
        assert_eq!(out.attempts[2].retry_in_ms, None);
        assert_eq!(out.attempts.iter().map(|a| a.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(out.attempts.iter().all(|a| a.at_ms == 1_000));
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_gives_up_after_max_attempts() {
        let clock = Arc::new(ManualClock::new(0));
        let ch = Scripted::new(vec![Err(SendError::Permanent { status: 400, body: "no_text".into() })]);
        let out = send_with_retry(&ch, "a", &alert(), &fast(), &breaker(clock.clone())).await;
        assert_eq!(out.attempts.len(), 1);
        assert_eq!(ch.calls(), 1);
        assert!(matches!(out.result, Err(SendError::Permanent { status: 400, .. })));

        let ch = Scripted::new(vec![temp(None), temp(None), temp(None), temp(None), temp(None)]);
        let out = send_with_retry(&ch, "a", &alert(), &fast(), &breaker(clock)).await;
        assert_eq!(ch.calls(), 4);
        assert_eq!(out.attempts.len(), 4);
        assert!(out.result.unwrap_err().is_retryable());
        assert!(out.attempts.iter().take(3).all(|a| a.retry_in_ms.is_some()));
    }

    #[tokio::test]
    async fn breaker_opens_fails_fast_then_lets_one_trial_through() {
        let clock = Arc::new(ManualClock::new(0));
        let b = breaker(clock.clone());
        let failing = Scripted::new((0..5).map(|_| temp(None)).collect());
        // 4 attempts of one alert, then the fifth failure (the next alert's first) opens it.
        let out = send_with_retry(&failing, "a", &alert(), &fast(), &b).await;
        assert_eq!(out.attempts.len(), 4);
        assert_eq!(b.state(), BreakerState::Closed);
        let out = send_with_retry(&failing, "a", &alert(), &fast(), &b).await;
        assert_eq!(out.result, Err(SendError::CircuitOpen(ChannelKind::Slack)), "opened mid-way: fall back now");
        assert_eq!(out.attempts.len(), 1);
        assert_eq!(b.state(), BreakerState::Open { until_ms: 30_000 });

        // Open: no call reaches the provider.
        let healthy = Scripted::new(vec![]);
        let out = send_with_retry(&healthy, "a", &alert(), &fast(), &b).await;
        assert_eq!(out.result, Err(SendError::CircuitOpen(ChannelKind::Slack)));
        assert!(out.attempts.is_empty());
        assert_eq!(healthy.calls(), 0);

        // Half-open after the cool-down: one trial; a second caller still fails fast.
        clock.advance(Duration::from_secs(30));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.try_acquire(), Ok(()));
        assert_eq!(b.try_acquire(), Err(SendError::CircuitOpen(ChannelKind::Slack)));
        // The trial fails: open for another cool-down.
        b.record(&temp(None));
        assert_eq!(b.state(), BreakerState::Open { until_ms: 60_000 });
        clock.advance(Duration::from_secs(30));
        let out = send_with_retry(&healthy, "a", &alert(), &fast(), &b).await;
        assert!(out.result.is_ok());
        assert_eq!(healthy.calls(), 1);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_permanent_answer_shows_the_provider_alive_and_a_lost_trial_expires() {
        let clock = Arc::new(ManualClock::new(0));
        let b = breaker(clock.clone());
        for _ in 0..4 {
            b.record(&temp(None));
        }
        b.record(&Err(SendError::Permanent { status: 400, body: String::new() }));
        b.record(&temp(None));
        assert_eq!(b.state(), BreakerState::Closed, "the count restarted");
        for _ in 0..4 {
            b.record(&temp(None));
        }
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        clock.advance(Duration::from_secs(30));
        assert_eq!(b.try_acquire(), Ok(()));
        // The trial never reports (cancelled); after another cool-down a new trial may go.
        clock.advance(Duration::from_secs(29));
        assert!(b.try_acquire().is_err());
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.try_acquire(), Ok(()));
    }
}
