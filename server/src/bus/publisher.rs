//! The subjects, named once, and the [`Publisher`] every stage uses to put what happened on the
//! bus without waiting for it.

use std::sync::Arc;

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

/// Publishes durable events and pushes in the background: the caller never waits on the bus; a
/// failure is logged with the tenant and counted (`persist_failed`).
#[derive(Clone)]
pub struct Publisher {
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    metrics: Arc<Metrics>,
}

impl Publisher {
    /// A publisher onto `bus` under `subjects`, counting failures in `metrics`.
    pub fn new(bus: Arc<dyn Bus>, subjects: Subjects, metrics: Arc<Metrics>) -> Publisher {
        Publisher { bus, subjects, metrics }
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
        let p = self.clone();
        tokio::spawn(async move {
            let subject = p.subjects.event(&ev);
            let payload = match serde_json::to_vec(&ev) {
                Ok(b) => Bytes::from(b),
                Err(e) => return tracing::error!(tenant = %ev.tenant(), error = %e, "event not serialisable"),
            };
            if let Err(e) = p.bus.publish(subject, payload).await {
                inc(&p.metrics.tenant(ev.tenant()).persist_failed);
                tracing::error!(tenant = %ev.tenant(), error = %e, "event could not be published");
            }
        });
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
