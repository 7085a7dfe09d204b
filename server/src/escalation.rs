//! Escalation: when a high-value customer is confirmed struggling, text a human a one-click
//! signed link to the live session.
//!
//! Bar (stricter than an in-page intervention): the session is identified by a verified host
//! JWT (anonymous sessions are never escalated), its account's lifetime value is at least
//! `critical_value_cents` (default $10k), and the server-confirmed confidence reaches the
//! intervention bar; at most one alert per session and emotion per cooldown. The alert goes to
//! the first `sms` contact of the tenant's chain through the Twilio Messages API. Chains with
//! acknowledgement and the other channels arrive with the escalation issue.

use std::time::Duration;

use crate::config::TwilioConfig;

/// Attempts per alert (the first try and its retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// Delay before the first retry; doubled for each further one.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);
/// Time limit of one provider request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SendError {
    /// The provider refused it in a way that retrying will not fix (4xx other than 429).
    #[error("rejected by provider ({status}): {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Provider's error body.
        body: String,
    },
    /// Worth retrying: 429, 5xx, timeouts, connection errors.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// No provider configured.
    #[error("SMS is not configured (set SIQ_TWILIO_ACCOUNT_SID, SIQ_TWILIO_AUTH_TOKEN, SIQ_TWILIO_FROM)")]
    NotConfigured,
}

/// A client of Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`,
/// form-encoded `To`, `From`, `Body`, HTTP basic auth with the account SID and auth token).
#[derive(Clone)]
pub struct Twilio {
    http: reqwest::Client,
    cfg: TwilioConfig,
}

#[derive(serde::Deserialize)]
struct MessageResource {
    sid: String,
}

impl Twilio {
    /// A client for `cfg`.
    pub fn new(cfg: TwilioConfig) -> Twilio {
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("reqwest client");
        Twilio { http, cfg }
    }

    /// Sends one SMS; returns the message SID.
    pub async fn send(&self, to: &str, body: &str) -> Result<String, SendError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.cfg.base_url.trim_end_matches('/'), self.cfg.account_sid);
        let form = [("To", to), ("From", self.cfg.from.as_str()), ("Body", body)];
        let resp = self
            .http
            .post(url)
            .basic_auth(&self.cfg.account_sid, Some(&self.cfg.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::Temporary(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            serde_json::from_str::<MessageResource>(&text)
                .map(|m| m.sid)
                .map_err(|e| SendError::Temporary(format!("unreadable response: {e}")))
        } else if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Temporary(format!("{status}: {text}")))
        } else {
            Err(SendError::Rejected { status: status.as_u16(), body: text })
        }
    }

    /// [`Twilio::send`] with up to [`MAX_ATTEMPTS`] attempts and exponential back-off on
    /// temporary failures. Returns the result and the attempts made.
    pub async fn send_with_retries(&self, to: &str, body: &str) -> (Result<String, SendError>, u32) {
        let mut delay = FIRST_RETRY_DELAY;
        let mut attempt = 1;
        loop {
            match self.send(to, body).await {
                Err(SendError::Temporary(e)) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "sms attempt failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                r => return (r, attempt),
            }
        }
    }
}

/// The text of an alert.
pub fn alert_text(person: &str, account: &str, value_cents: i64, emotion: &str, section: &str, confidence: f64, link: &str) -> String {
    let section = if section.is_empty() { "the product".to_string() } else { format!("the {section} section") };
    format!(
        "SentientIQ: {person} ({account}, {} lifetime value) is showing {emotion} in {section} ({:.0}% confidence). Live session: {link}",
        dollars(value_cents),
        confidence * 100.0
    )
}

/// `$1,234,567` from cents (rounded down to the dollar).
pub fn dollars(cents: i64) -> String {
    let d = (cents / 100).to_string();
    let mut out = String::new();
    for (i, ch) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) && ch != '-' {
            out.push(',');
        }
        out.push(ch);
    }
    format!("${out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_text() {
        assert_eq!(dollars(10_000_000), "$100,000");
        assert_eq!(dollars(99), "$0");
        assert_eq!(dollars(12_345_678_900), "$123,456,789");
        let t = alert_text("Jane Doe", "Acme Corp", 10_000_000, "rage", "checkout", 0.934, "http://x/s/1");
        assert_eq!(t, "SentientIQ: Jane Doe (Acme Corp, $100,000 lifetime value) is showing rage in the checkout section (93% confidence). Live session: http://x/s/1");
    }
}
