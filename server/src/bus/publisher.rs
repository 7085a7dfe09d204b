//! The subjects, named once, and the [`Publisher`] every stage uses to put what happened on the
//! bus without waiting for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Bus;
use crate::records::events::{Event, Push};
use crate::telemetry::{inc, Metrics};

/// Every subject the server publishes or listens on, under one prefix (default `siq`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subjects {
    prefix: Arc<str>,
}

impl Subjects {
    /// The subjects under `prefix`.
    pub fn new(prefix: &str) -> Subjects {
        Subjects { prefix: prefix.into() }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A durable event: `{p}.events.{kind}.{tenant}`.
    pub fn event(&self, ev: &Event) -> String {
        format!("{}.events.{}.{}", self.prefix, ev.kind(), ev.tenant())
    }

    /// Every durable event (the persister's filter): `{p}.events.>`.
    pub fn all_events(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    /// Every durable event of one tenant (the live feed, erasure): `{p}.events.*.{tenant}`.
    pub fn tenant_events(&self, tenant: &str) -> String {
        format!("{}.events.*.{tenant}", self.prefix)
    }

    /// An intervention for the instance holding a session's socket: `{p}.push.{tenant}.{session}`.
    pub fn push(&self, tenant: &str, session: u64) -> String {
        format!("{}.push.{tenant}.{session}", self.prefix)
    }

    /// Every push (the push dispatcher's filter): `{p}.push.>`.
    pub fn all_pushes(&self) -> String {
        format!("{}.push.>", self.prefix)
    }

    /// "This tenant's identity data changed": `{p}.cache.{tenant}`.
    pub fn cache(&self, tenant: &str) -> String {
        format!("{}.cache.{tenant}", self.prefix)
    }

    /// Every cache change (the cache refresher's filter): `{p}.cache.*`.
    pub fn all_caches(&self) -> String {
        format!("{}.cache.*", self.prefix)
    }
}

/// How long a durable publish keeps retrying while the broker is away (a NATS restart, a
/// network blip) before the event is given up: the frame that caused it is then not
/// acknowledged and the page resends it.
pub const DURABLE_RETRY_FOR: Duration = Duration::from_secs(60);

/// One attempt's wait for the broker's ack.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Durable publishes one instance lets wait at once (the broker away, the persister behind).
/// Past it a new one is refused at once, counted in `durable_refused` and logged: the frame is
/// not acknowledged and the page keeps it.
pub const MAX_DURABLE_IN_FLIGHT: usize = 200_000;

/// Publishes durable events and pushes in the background: the caller never waits on the bus
/// unless it asks to ([`Publisher::durable`]); a failure is logged with the tenant and counted
/// (`persist_failed`).
#[derive(Clone)]
pub struct Publisher {
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    metrics: Arc<Metrics>,
    in_flight: Arc<AtomicUsize>,
}

impl Publisher {
    /// A publisher onto `bus` under `subjects`, counting failures in `metrics`.
    pub fn new(bus: Arc<dyn Bus>, subjects: Subjects, metrics: Arc<Metrics>) -> Publisher {
        Publisher { bus, subjects, metrics, in_flight: Arc::new(AtomicUsize::new(0)) }
    }

    /// The bus itself (key-value, subscriptions).
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The subjects.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// Publishes a durable event without waiting.
    pub fn event(&self, ev: Event) {
        drop(self.durable(ev));
    }

    /// Durable publishes waiting now, on this instance.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Publishes a durable event in the background, retrying (with its de-duplication id, so a
    /// retry is stored once) for up to [`DURABLE_RETRY_FOR`]; the handle says whether it is
    /// stored (JetStream acknowledged it, or the in-process persister wrote it). The publish goes
    /// on if the handle is dropped.
    pub fn durable(&self, ev: Event) -> tokio::task::JoinHandle<bool> {
        let p = self.clone();
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        tokio::spawn(async move {
            let stored = if n > MAX_DURABLE_IN_FLIGHT {
                let refused = p.metrics.tenant(ev.tenant()).durable_refused.fetch_add(1, Ordering::Relaxed) + 1;
                if refused.is_power_of_two() {
                    tracing::error!(tenant = %ev.tenant(), in_flight = n, refused, "too many events waiting for the bus; frames left unacknowledged");
                }
                false
            } else {
                p.publish_with_retries(&ev).await
            };
            p.in_flight.fetch_sub(1, Ordering::Relaxed);
            stored
        })
    }

    async fn publish_with_retries(&self, ev: &Event) -> bool {
        let subject = self.subjects.event(ev);
        let payload = match serde_json::to_vec(ev) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                tracing::error!(tenant = %ev.tenant(), error = %e, "event not serialisable");
                return false;
            }
        };
        let id = ev.dedup_id();
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        for attempt in 1u32.. {
            let r = tokio::time::timeout(ATTEMPT_TIMEOUT, self.bus.publish_once(subject.clone(), payload.clone(), id.as_deref())).await;
            let e = match r {
                Ok(Ok(())) => return true,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no ack from the bus in time".to_string(),
            };
            if started.elapsed() + delay > DURABLE_RETRY_FOR {
                inc(&self.metrics.tenant(ev.tenant()).persist_failed);
                tracing::error!(tenant = %ev.tenant(), kind = ev.kind(), attempts = attempt, error = %e, "event could not be published");
                return false;
            }
            if attempt == 1 {
                inc(&self.metrics.tenant(ev.tenant()).publish_retried);
                tracing::warn!(tenant = %ev.tenant(), kind = ev.kind(), error = %e, "event not yet stored by the bus; retrying");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        false
    }

    /// Sends an intervention towards the session's socket, wherever it is.
    pub fn push(&self, push: Push) {
        let p = self.clone();
        tokio::spawn(async move {
            let subject = p.subjects.push(&push.tenant_id, push.session);
            let payload = Bytes::from(serde_json::to_vec(&push).unwrap_or_default());
            if let Err(e) = p.bus.publish(subject, payload).await {
                tracing::error!(tenant = %push.tenant_id, error = %e, "intervention could not be published");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_sits_under_the_prefix_and_filters_match_what_they_collect() {
        let s = Subjects::new("siq");
        assert_eq!(s.push("t_1", 42), "siq.push.t_1.42");
        assert_eq!(s.cache("t_1"), "siq.cache.t_1");
        assert!(crate::bus::subject_matches(&s.all_pushes(), &s.push("t_1", 42)));
        assert!(crate::bus::subject_matches(&s.all_caches(), &s.cache("t_1")));
        assert!(crate::bus::subject_matches(&s.tenant_events("t_1"), "siq.events.detection.t_1"));
        assert!(!crate::bus::subject_matches(&s.tenant_events("t_1"), "siq.events.detection.t_2"));
        assert!(crate::bus::subject_matches(&s.all_events(), "siq.events.detection.t_2"));
    }
}
