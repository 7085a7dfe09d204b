//! What travels on the bus's durable event subjects (`{prefix}.events.{kind}.{tenant}`), as JSON.

use serde::{Deserialize, Serialize};

use crate::store::{AlertRecord, DetectionRecord, InterventionRecord, SessionRecord};

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
}

impl Event {
    /// The event's kind, the third token of its subject.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Session(_) => "session",
            Event::Detection(_) => "detection",
            Event::Intervention(_) => "intervention",
            Event::Alert(_) => "alert",
        }
    }

    /// The tenant it belongs to, the last token of its subject.
    pub fn tenant(&self) -> &str {
        match self {
            Event::Session(r) => &r.tenant_id,
            Event::Detection(r) => &r.tenant_id,
            Event::Intervention(r) => &r.tenant_id,
            Event::Alert(r) => &r.tenant_id,
        }
    }

    /// The subject to publish it on.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.events.{}.{}", self.kind(), self.tenant())
    }

    /// The event as API JSON (evidence bytes left out).
    pub fn public_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("evidence");
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
    pub emotion: String,
    /// Text to show.
    pub text: String,
}
