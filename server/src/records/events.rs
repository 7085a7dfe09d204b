//! What travels on the bus's durable event subjects (`{prefix}.events.{kind}.{tenant}`), as JSON.

use serde::{Deserialize, Serialize};

use crate::records::{
    AlertRecord, CardRecord, ContextRecord, CustomerSeen, DecisionRecord, DetectionRecord, ErosionRecord, FrameRecord, InterventionRecord,
    SessionRecord,
};

/// A durable event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A session said hello (or identified itself).
    Session(SessionRecord),
    /// A detection was confirmed by the server.
    Detection(DetectionRecord),
    /// An intervention was pushed to a page.
    Intervention(InterventionRecord),
    /// A human was alerted (or the attempt failed).
    Alert(AlertRecord),
    /// An identified customer was seen (email sealed).
    Customer(CustomerSeen),
    /// A customer shared a one-tap state (already stored by the API).
    Context(ContextRecord),
    /// A customer's identity strength eroded.
    Erosion(ErosionRecord),
    /// The intervention policy decided (holdout included) for a detection.
    Decision(DecisionRecord),
    /// A conversation card was queued for a human.
    Card(CardRecord),
    /// A data frame was received (the ingest journal; not shown on the live feed).
    Frame(FrameRecord),
}

impl Event {
    /// The event's kind, the third token of its subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Session(_) => "session",
            Event::Detection(_) => "detection",
            Event::Intervention(_) => "intervention",
            Event::Alert(_) => "alert",
            Event::Customer(_) => "customer",
            Event::Context(_) => "context",
            Event::Erosion(_) => "erosion",
            Event::Decision(_) => "decision",
            Event::Card(_) => "card",
            Event::Frame(_) => "frame",
        }
    }

    /// The tenant it belongs to, the last token of its subject.
    pub fn tenant(&self) -> &str {
        match self {
            Event::Session(r) => &r.tenant_id,
            Event::Detection(r) => &r.tenant_id,
            Event::Intervention(r) => &r.tenant_id,
            Event::Alert(r) => &r.tenant_id,
            Event::Customer(r) => &r.tenant_id,
            Event::Context(r) => &r.tenant_id,
            Event::Erosion(r) => &r.tenant_id,
            Event::Decision(r) => &r.tenant_id,
            Event::Card(r) => &r.tenant_id,
            Event::Frame(r) => &r.tenant_id,
        }
    }

    /// The person the event is about, if any (what erasure looks for).
    pub fn person(&self) -> Option<&str> {
        match self {
            Event::Session(r) => r.user.as_deref(),
            Event::Detection(r) => r.user.as_deref(),
            Event::Customer(r) => Some(&r.sub),
            Event::Context(r) => Some(&r.sub),
            Event::Erosion(r) => Some(&r.sub),
            Event::Decision(r) => r.sub.as_deref(),
            Event::Card(r) => r.sub.as_deref(),
            Event::Intervention(_) | Event::Alert(_) | Event::Frame(_) => None,
        }
    }

    /// When what the event records happened, ms since the epoch (0 when it carries no time).
    pub fn at_ms(&self) -> i64 {
        match self {
            Event::Session(r) => r.started_ms,
            Event::Detection(r) => r.created_ms,
            Event::Intervention(r) => r.created_ms,
            Event::Alert(r) => r.created_ms,
            Event::Customer(r) => r.seen_ms,
            Event::Context(r) => r.set_ms,
            Event::Erosion(r) => r.at_ms,
            Event::Decision(r) => r.created_ms,
            Event::Card(r) => r.created_ms,
            Event::Frame(r) => r.received_ms,
        }
    }

    /// The session the event is about, if any.
    pub fn session(&self) -> Option<&str> {
        match self {
            Event::Session(r) => Some(&r.session),
            Event::Detection(r) => Some(&r.session),
            Event::Intervention(r) => Some(&r.session),
            Event::Alert(r) => Some(&r.session),
            Event::Decision(r) => Some(&r.session),
            Event::Card(r) => Some(&r.session),
            Event::Frame(r) => Some(&r.session),
            Event::Customer(_) | Event::Context(_) | Event::Erosion(_) => None,
        }
    }

    /// The de-duplication id of the event on the bus (JetStream's `Nats-Msg-Id`), for events
    /// that one frame causes once: a frame processed again (resent after a reconnect, redelivered)
    /// publishes the same ids, and the broker keeps the first.
    pub fn dedup_id(&self) -> Option<String> {
        match self {
            Event::Frame(r) => Some(format!("frame.{}.{}.{}", r.tenant_id, r.session, r.seq)),
            Event::Detection(r) => Some(format!("detection.{}.{}.{}", r.tenant_id, r.session, r.seq)),
            Event::Decision(r) => Some(format!("decision.{}.{}", r.tenant_id, r.id)),
            Event::Intervention(r) => Some(format!("intervention.{}.{}", r.tenant_id, r.id)),
            _ => None,
        }
    }

    /// The event as API JSON (evidence bytes and sealed values left out).
    pub fn public_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("evidence");
            o.remove("email_sealed");
            o.remove("email_index");
        }
        v
    }
}

/// An intervention on its way to whichever instance holds the session's socket
/// (`{prefix}.push.{tenant}.{session}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Push {
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: u64,
    /// Wire id of the intervention.
    pub id: u32,
    /// Emotion answered.
    #[serde(with = "crate::records::emotion_name")]
    pub emotion: shared_physics::Emotion,
    /// Text to show.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ContextRecord, CustomerSeen};

    #[test]
    fn every_event_survives_the_bus_and_names_its_person() {
        let events = [
            Event::Customer(CustomerSeen {
                tenant_id: "t".into(),
                sub: "u".into(),
                account: None,
                name: None,
                email_sealed: Some("enc1:k:x".into()),
                email_index: None,
                company: None,
                seen_ms: 1,
            }),
            Event::Context(ContextRecord {
                id: "c".into(),
                tenant_id: "t".into(),
                sub: "u".into(),
                state: crate::records::Context::Busy,
                set_ms: 1,
                expires_ms: 2,
            }),
            Event::Erosion(ErosionRecord { tenant_id: "t".into(), sub: "u".into(), from_day: 1, from: 50.0, to: 30.0, at_ms: 3 }),
        ];
        for ev in events {
            let back: Event = serde_json::from_slice(&serde_json::to_vec(&ev).unwrap()).unwrap();
            assert_eq!(back, ev);
            assert_eq!((back.tenant(), back.person()), ("t", Some("u")));
            assert!(!back.public_json().to_string().contains("enc1"), "sealed values stay off the live feed");
        }
    }
}
