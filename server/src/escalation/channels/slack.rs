//! `slack` through an incoming webhook.
//!
//! Request: `POST {webhook URL}` (the contact's address, `https://hooks.slack.com/services/…`)
//! with `Content-Type: application/json` and `{"text": …, "blocks": [header, section, actions,
//! context]}`: `text` is the notification and fallback, the blocks show the summary as a header,
//! the text, a button to the live session and the severity with the alert id. Slack answers
//! `200` with the body `ok`.
//!
//! Retried: 429 (rate limited; Slack sends `Retry-After` in seconds), 5xx (e.g. `500
//! rollup_error`), timeouts, connection errors. Not retried: 400 `invalid_payload` / `no_text`,
//! 403 `action_prohibited` / `invalid_token`, 404 `no_service` / `channel_not_found`, 410
//! `channel_is_archived`: the webhook or the payload is wrong and stays wrong. Redirects are not
//! followed (a moved webhook is a permanent error to fix in the contact). Slack has no
//! idempotency key: a retry after a lost `ok` may post twice.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{cut_chars, http_send, Alert, Channel, ChannelKind, Delivered, SendError, Severity, Targets};

/// The host of Slack's incoming webhooks.
pub const SLACK_WEBHOOK_HOST: &str = "hooks.slack.com";
/// Longest text of a header block, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// Longest text of a section block, in characters.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Longest top-level `text` Slack keeps, in characters (longer ones are cut by Slack).
pub const MAX_TEXT_CHARS: usize = 40_000;

/// A Slack incoming-webhook client.
#[derive(Clone)]
pub struct Slack {
    http: reqwest::Client,
    targets: Targets,
}

impl Slack {
    /// A client whose requests are limited to `timeout`, to public hosts (and loopback ones
    /// when `targets` allow it), never redirected ([`crate::outbound`]).
    pub fn new(timeout: Duration, targets: Targets) -> Slack {
        Slack { http: crate::outbound::client(timeout, targets), targets }
    }

    /// The JSON message of `alert`.
    pub fn payload(alert: &Alert) -> Value {
        let style = match alert.severity {
            Severity::Critical | Severity::Error => "danger",
            Severity::Warning | Severity::Info => "primary",
        };
        json!({
            // The top-level text is mrkdwn too (the notification and the fallback): names and
            // sections come from visitors' tokens and pages, so `<!channel>` or a `<url|label>`
            // in them must stay text.
            "text": cut_chars(&format!("{}: {} {}", escape(&alert.summary), escape(&alert.text), alert.link), MAX_TEXT_CHARS),
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": cut_chars(&alert.summary, MAX_HEADER_CHARS) } },
                { "type": "section", "text": { "type": "mrkdwn", "text": cut_chars(&escape(&alert.text), MAX_SECTION_CHARS) } },
                { "type": "actions", "elements": [
                    { "type": "button", "text": { "type": "plain_text", "text": "Open the live session" }, "url": alert.link, "style": style }
                ] },
                { "type": "context", "elements": [
                    { "type": "mrkdwn", "text": format!("{} · alert `{}`", alert.severity.as_str(), escape(&alert.id)) }
                ] }
            ]
        })
    }
}

/// Escapes the three characters Slack's mrkdwn reserves (`&`, `<`, `>`).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[async_trait]
impl Channel for Slack {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    async fn send(&self, address: &str, alert: &Alert) -> Result<Delivered, SendError> {
        // A 3xx (not followed) comes back as a permanent error too.
        http_send(ChannelKind::Slack, address, self.targets, || self.http.post(address).json(&Slack::payload(alert))).await?;
        Ok(Delivered { provider_id: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_text_blocks_and_a_button_to_the_session() {
        let alert = Alert {
            id: "al_9".into(),
            tenant: "t".into(),
            summary: "x".repeat(200),
            text: "Jane <CEO> & co".into(),
            link: "https://siq.example/s/1".into(),
            severity: Severity::Critical,
            value_cents: 1,
            at_ms: 0,
        };
        let p = Slack::payload(&alert);
        assert!(p["text"].as_str().unwrap().ends_with("Jane &lt;CEO&gt; &amp; co https://siq.example/s/1"), "{}", p["text"]);
        assert_eq!(p["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), MAX_HEADER_CHARS);
        assert_eq!(p["blocks"][1]["text"]["text"], "Jane &lt;CEO&gt; &amp; co");
        assert_eq!(p["blocks"][2]["elements"][0]["url"], "https://siq.example/s/1");
        assert_eq!(p["blocks"][2]["elements"][0]["style"], "danger");
        assert_eq!(p["blocks"][3]["elements"][0]["text"], "critical · alert `al_9`");
    }
}
