//! `pagerduty` through the Events API v2.
//!
//! Request: `POST {base}/v2/enqueue` (base `https://events.pagerduty.com`), JSON:
//!
//! ```json
//! {"routing_key": "<contact address>", "event_action": "trigger", "dedup_key": "<alert id>",
//!  "payload": {"summary": "… (≤ 1024 chars)", "source": "sentientiq/<tenant>",
//!              "severity": "critical|error|warning|info", "timestamp": "2026-…Z",
//!              "custom_details": {"text": …, "tenant": …, "value_cents": …, "alert_id": …}},
//!  "links": [{"href": "<live session>", "text": "Open the live session"}],
//!  "client": "SentientIQ", "client_url": "<live session>"}
//! ```
//!
//! PagerDuty answers `202 {"status": "success", "message": "Event processed", "dedup_key": …}`;
//! the `dedup_key` is the provider id. The alert id as `dedup_key` makes retries safe: a trigger
//! with the key of an open incident is folded into it, not paged again.
//!
//! Retried: 429 (PagerDuty throttles per routing key; `Retry-After` honoured when sent), 5xx,
//! timeouts and connection errors. Not retried: 400 `invalid event` (bad routing key or payload)
//! and any other 4xx.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{cut_chars, http_send, iso8601_ms, Alert, Channel, ChannelKind, Delivered, SendError, Targets};

/// PagerDuty's Events API host.
pub const DEFAULT_BASE_URL: &str = "https://events.pagerduty.com";
/// The path of Events API v2.
pub const ENQUEUE_PATH: &str = "/v2/enqueue";
/// Longest `payload.summary` PagerDuty accepts, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest `dedup_key` PagerDuty accepts, in characters.
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// `payload.source` prefix unless configured.
pub const DEFAULT_SOURCE: &str = "sentientiq";

/// A PagerDuty Events API v2 client.
#[derive(Clone)]
pub struct PagerDuty {
    http: reqwest::Client,
    base_url: String,
    source: String,
}

#[derive(serde::Deserialize)]
struct EnqueueAnswer {
    dedup_key: Option<String>,
}

impl PagerDuty {
    /// A client of the Events API at `base_url`, naming `source` (e.g. `sentientiq`) in events,
    /// each request limited to `timeout`.
    pub fn new(base_url: String, source: String, timeout: Duration) -> PagerDuty {
        let http = reqwest::Client::builder().timeout(timeout).build().expect("a reqwest client with a timeout builds");
        PagerDuty { http, base_url, source }
    }

    /// The trigger event of `alert` for `routing_key`.
    pub fn event(&self, routing_key: &str, alert: &Alert) -> Value {
        json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": cut_chars(&alert.id, MAX_DEDUP_KEY_CHARS),
            "payload": {
                "summary": cut_chars(&alert.summary, MAX_SUMMARY_CHARS),
                "source": format!("{}/{}", self.source, alert.tenant),
                "severity": alert.severity.as_str(),
                "timestamp": iso8601_ms(alert.at_ms),
                "component": "escalation",
                "custom_details": {
                    "text": alert.text,
                    "tenant": alert.tenant,
                    "value_cents": alert.value_cents,
                    "alert_id": alert.id,
                },
            },
            "links": [{ "href": alert.link, "text": "Open the live session" }],
            "client": "SentientIQ",
            "client_url": alert.link,
        })
    }
}

#[async_trait]
impl Channel for PagerDuty {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Pagerduty
    }

    async fn send(&self, address: &str, alert: &Alert) -> Result<Delivered, SendError> {
        let url = format!("{}{ENQUEUE_PATH}", self.base_url.trim_end_matches('/'));
        let (_, text) =
            http_send(ChannelKind::Pagerduty, address, Targets::default(), || self.http.post(url).json(&self.event(address, alert)))
                .await?;
        // The event is accepted whatever the body says; the key falls back to the one we sent.
        let key = serde_json::from_str::<EnqueueAnswer>(&text).ok().and_then(|a| a.dedup_key);
        Ok(Delivered { provider_id: Some(key.unwrap_or_else(|| alert.id.clone())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::channels::Severity;

    #[test]
    fn events_carry_the_dedup_key_and_respect_the_summary_limit() {
        let pd = PagerDuty::new(DEFAULT_BASE_URL.into(), DEFAULT_SOURCE.into(), Duration::from_secs(1));
        let alert = Alert {
            id: "al_7".into(),
            tenant: "acme".into(),
            summary: "y".repeat(2000),
            text: "t".into(),
            link: "https://siq.example/s/1".into(),
            severity: Severity::Warning,
            value_cents: 12_300,
            at_ms: 1_692_853_305_042,
        };
        let e = pd.event("R0123456789abcdef0123456789abcde", &alert);
        assert_eq!(e["routing_key"], "R0123456789abcdef0123456789abcde");
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], "al_7");
        assert_eq!(e["payload"]["summary"].as_str().unwrap().chars().count(), MAX_SUMMARY_CHARS);
        assert_eq!(e["payload"]["source"], "sentientiq/acme");
        assert_eq!(e["payload"]["severity"], "warning");
        assert_eq!(e["payload"]["timestamp"], "2023-08-24T05:01:45.042Z");
        assert_eq!(e["payload"]["custom_details"]["value_cents"], 12_300);
        assert_eq!(e["links"][0]["href"], "https://siq.example/s/1");
    }
}
