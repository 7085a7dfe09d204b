//! Escalation channels: one client per provider, each speaking the provider's documented API,
//! behind one [`Channel`] trait so the escalation engine can walk a contact chain without knowing
//! which provider sits behind a step.
//!
//! | kind | provider and request | address (what the contact stores) |
//! |---|---|---|
//! | `sms` | Twilio Messages API, `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` ([`twilio`]) | E.164 phone number |
//! | `whatsapp` | the same API with `whatsapp:`-prefixed `To` and `From` ([`twilio`]) | E.164 phone number |
//! | `slack` | incoming webhook, `POST {webhook URL}` JSON `text` + `blocks` ([`slack`]) | the webhook URL |
//! | `pagerduty` | Events API v2, `POST {base}/v2/enqueue` ([`pagerduty`]) | the integration's routing key |
//! | `email` | SMTP through `lettre` ([`email`]) | an email address |
//! | `webhook` | signed like Standard Webhooks ([`webhook`]) | an `https://` URL |
//!
//! Every client classifies what went wrong into a [`SendError`] the same way: answers that say
//! "this request will never work" are [`SendError::Permanent`] and are never retried (HTTP 4xx
//! other than 408 and 429, SMTP 5xx); everything that may work later is
//! [`SendError::Temporary`] (HTTP 408, 429, 5xx, SMTP 4xx, timeouts, refused connections),
//! carrying the provider's `Retry-After` when it gave one. [`retry::send_with_retry`] retries
//! temporary failures with exponential back-off and jitter, records every attempt, and consults a
//! per-channel [`retry::CircuitBreaker`]: while a provider is down the breaker fails sends fast
//! with [`SendError::CircuitOpen`], which tells the engine to fall back to the next channel.
//!
//! Delivery is at-least-once. The alert id is the de-duplication key wherever the provider has
//! one: PagerDuty's `dedup_key` (a repeated trigger updates the open incident), the webhook's
//! `webhook-id` (receivers are told to drop ids they have seen) and the email's `Message-ID`.
//! Slack, SMS and WhatsApp have no such key: a retry after a lost response can deliver twice, and
//! only the engine's own record of delivered alerts prevents a resend of a delivered one.

pub mod email;
pub mod pagerduty;
pub mod retry;
pub mod slack;
pub mod twilio;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use twilio::TwilioConfig;

pub use crate::clock::{Clock, ManualClock, SystemClock};
use crate::outbound::check_url;
pub use crate::outbound::Targets;
pub use retry::{send_with_retry, Attempt, CircuitBreaker, Outcome, RetryPolicy};

/// Time limit of one provider request (HTTP request or whole SMTP conversation) unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest error body kept from a provider's answer, in bytes (the rest is cut).
pub const MAX_ERROR_BODY: usize = 2048;

/// The kinds of channel a contact can be reached on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Text message through Twilio.
    Sms,
    /// WhatsApp message through Twilio.
    Whatsapp,
    /// Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// Email over SMTP.
    Email,
    /// Signed HTTP webhook.
    Webhook,
}

impl ChannelKind {
    /// Every kind, in the order of the table above.
    pub const ALL: [ChannelKind; 6] =
        [ChannelKind::Sms, ChannelKind::Whatsapp, ChannelKind::Slack, ChannelKind::Pagerduty, ChannelKind::Email, ChannelKind::Webhook];

    /// The lower-case name, as stored with a contact (`sms`, `whatsapp`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Sms => "sms",
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Slack => "slack",
            ChannelKind::Pagerduty => "pagerduty",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// The kind named `name` (as stored with a contact), if any.
    pub fn parse(name: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad it is; maps one to one onto PagerDuty's severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Someone must act now.
    Critical,
    /// Something failed.
    Error,
    /// Something may fail.
    Warning,
    /// For information.
    Info,
}

impl Severity {
    /// `critical`, `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One alert about one struggling customer, the same for every channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique id of the alert, stable across retries and channels: the de-duplication key
    /// (PagerDuty `dedup_key`, `webhook-id`, email `Message-ID`).
    pub id: String,
    /// Tenant the alert belongs to.
    pub tenant: String,
    /// One line, e.g. "Jane Doe (Acme, $100,000) is raging on checkout".
    pub summary: String,
    /// The message in a sentence or two, without the link: each channel places the link itself.
    pub text: String,
    /// Signed, expiring link to the live session.
    pub link: String,
    /// How urgent.
    pub severity: Severity,
    /// Lifetime value of the account, in cents.
    pub value_cents: i64,
    /// When the struggle was confirmed, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// What a provider said when it accepted an alert.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Delivered {
    /// The provider's id of the message (Twilio `SM…` SID, PagerDuty `dedup_key`, the SMTP
    /// server's queue reply, the webhook id); `None` where the provider gives none (Slack).
    pub provider_id: Option<String>,
}

/// Why an alert was not delivered by one attempt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The provider refused in a way a retry will not fix (HTTP 4xx other than 408/429, SMTP 5xx,
    /// a redirect): never retried, and not a sign that the provider is down.
    #[error("rejected by the provider ({status}): {body}")]
    Permanent {
        /// HTTP status or SMTP reply code.
        status: u16,
        /// The provider's answer (cut to [`MAX_ERROR_BODY`]).
        body: String,
    },
    /// May work later (HTTP 408, 429, 5xx, SMTP 4xx, timeouts, connection errors): retried, and
    /// counted by the circuit breaker.
    #[error("temporary failure: {reason}")]
    Temporary {
        /// What happened, for the attempt log.
        reason: String,
        /// HTTP status or SMTP reply code, when there was an answer.
        status: Option<u16>,
        /// How long the provider asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The address cannot be used with this channel (see [`validate_address`]); never retried.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// The channel has no provider configured on this server.
    #[error("the {0} channel is not configured")]
    NotConfigured(ChannelKind),
    /// The channel's circuit breaker is open: the provider failed repeatedly and is left alone
    /// for a cool-down; fall back to the next channel.
    #[error("the {0} channel is failing; circuit open")]
    CircuitOpen(ChannelKind),
}

impl SendError {
    /// Whether another attempt on the same channel may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Temporary { .. })
    }

    /// The HTTP status or SMTP reply code behind the error, if there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Permanent { status, .. } => Some(*status),
            SendError::Temporary { status, .. } => *status,
            _ => None,
        }
    }

    /// A temporary failure without an answer (timeout, connection error).
    pub fn temporary(reason: impl Into<String>) -> SendError {
        SendError::Temporary { reason: reason.into(), status: None, retry_after: None }
    }
}

/// A way of reaching a person. Implementations make exactly one attempt per call; retrying and
/// circuit breaking live in [`retry`].
#[async_trait]
pub trait Channel: Send + Sync {
    /// Which kind of channel this is.
    fn kind(&self) -> ChannelKind;

    /// Delivers `alert` to `address` (as stored with the contact; see [`validate_address`]).
    async fn send(&self, address: &str, alert: &Alert) -> Result<Delivered, SendError>;
}

/// Longest routing key PagerDuty issues (they are 32 characters).
pub const PAGERDUTY_ROUTING_KEY_LEN: usize = 32;
/// Fewest and most digits of an E.164 number (after the `+`).
pub const E164_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;

/// Checks that `address` can be stored for a contact on channel `kind`, with a message that says
/// what is wrong and what is expected.
/// URLs (Slack, webhooks) must be public `https://` addresses, or loopback ones when `targets`
/// allow it ([`crate::outbound::check_url`]).
pub fn validate_address(kind: ChannelKind, address: &str, targets: Targets) -> Result<(), String> {
    match kind {
        ChannelKind::Sms | ChannelKind::Whatsapp => {
            // Only WhatsApp contacts may carry Twilio's `whatsapp:` prefix.
            let number = match kind {
                ChannelKind::Whatsapp => address.strip_prefix(twilio::WHATSAPP_PREFIX).unwrap_or(address),
                _ => address,
            };
            let Some(digits) = number.strip_prefix('+') else {
                return Err(format!(
                    "{address:?} is not an E.164 phone number: it must start with + and the country code, e.g. +14155550123"
                ));
            };
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{address:?} is not an E.164 phone number: only digits may follow the +, no spaces or dashes"));
            }
            if !E164_DIGITS.contains(&digits.len()) {
                return Err(format!(
                    "{address:?} is not an E.164 phone number: it has {} digits, expected {} to {}",
                    digits.len(),
                    E164_DIGITS.start(),
                    E164_DIGITS.end()
                ));
            }
            Ok(())
        }
        ChannelKind::Slack => {
            let url = check_url(address, targets)?;
            if url.scheme() == "https" && url.host_str() != Some(slack::SLACK_WEBHOOK_HOST) {
                return Err(format!(
                    "{address:?} is not a Slack incoming webhook URL: expected https://{}/services/…",
                    slack::SLACK_WEBHOOK_HOST
                ));
            }
            Ok(())
        }
        ChannelKind::Webhook => check_url(address, targets).map(|_| ()),
        ChannelKind::Pagerduty => {
            if address.len() != PAGERDUTY_ROUTING_KEY_LEN || !address.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "{address:?} is not a PagerDuty routing key: expected the {PAGERDUTY_ROUTING_KEY_LEN}-character integration key of an Events API v2 integration"
                ));
            }
            Ok(())
        }
        ChannelKind::Email => address
            .parse::<lettre::Address>()
            .map(|_| ())
            .map_err(|e| format!("{address:?} is not an email address ({e}); expected e.g. oncall@example.com")),
    }
}

/// The one HTTP send of every HTTP provider: validates `address` for `kind`, sends the request
/// the provider's client builds for it, reads the answer and classifies it
/// ([`classify_http`]); the status and body of a 2xx answer.
pub(crate) async fn http_send(
    kind: ChannelKind,
    address: &str,
    targets: Targets,
    request: impl FnOnce() -> reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, String), SendError> {
    validate_address(kind, address, targets).map_err(SendError::InvalidAddress)?;
    let resp = request().send().await.map_err(request_error)?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.map_err(request_error)?;
    classify_http(status, &headers, &text)?;
    Ok((status, text))
}

/// Classifies a provider's HTTP answer: `Ok` for 2xx; otherwise the [`SendError`] it means.
pub(crate) fn classify_http(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Result<(), SendError> {
    let code = status.as_u16();
    if status.is_success() {
        return Ok(());
    }
    let body = cut(body, MAX_ERROR_BODY);
    if code == 408 || code == 429 || status.is_server_error() {
        let retry_after = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        return Err(SendError::Temporary { reason: format!("HTTP {code}: {body}"), status: Some(code), retry_after });
    }
    Err(SendError::Permanent { status: code, body })
}

/// A request that got no answer: timeouts and connection errors are temporary.
pub(crate) fn request_error(e: reqwest::Error) -> SendError {
    // The URL may carry the endpoint's token (Slack's and many webhooks' paths do).
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut reason = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    SendError::temporary(reason)
}

/// `Retry-After` as delay-seconds (the form Slack, Twilio and PagerDuty send). An HTTP-date is
/// not understood and gives `None` (the back-off applies instead).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn cut_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub use crate::records::format::iso8601_ms;

/// What the channels need from the environment. Every field is optional: a channel without its
/// configuration answers [`SendError::NotConfigured`], and says so once in the log at start.
#[derive(Clone, Debug)]
pub struct ChannelsConfig {
    /// Twilio for `sms` (and `whatsapp`): `SIQ_TWILIO_BASE_URL` (default
    /// `https://api.twilio.com`), `SIQ_TWILIO_ACCOUNT_SID`, `SIQ_TWILIO_AUTH_TOKEN`,
    /// `SIQ_TWILIO_FROM`. Default none.
    pub twilio: Option<TwilioConfig>,
    /// WhatsApp sender in E.164 (without `whatsapp:`), `SIQ_TWILIO_WHATSAPP_FROM`; needs
    /// `twilio`. Default none (WhatsApp off).
    pub whatsapp_from: Option<String>,
    /// PagerDuty Events API base, `SIQ_PAGERDUTY_BASE_URL`, default
    /// [`pagerduty::DEFAULT_BASE_URL`]. PagerDuty needs no other configuration: the routing key
    /// is the contact's address.
    pub pagerduty_base_url: String,
    /// Source named in PagerDuty events, `SIQ_PAGERDUTY_SOURCE`, default `sentientiq`.
    pub pagerduty_source: String,
    /// SMTP server as a lettre connection URL, `SIQ_SMTP_URL`: `smtps://user:pass@host:465`
    /// (implicit TLS), `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://host:25`
    /// (plain, local relays and the fake). Default none (email off).
    pub smtp_url: Option<String>,
    /// Sender of alert emails, `SIQ_EMAIL_FROM`, e.g. `SentientIQ <alerts@example.com>`; needed
    /// with `smtp_url`.
    pub email_from: Option<String>,
    /// Standard Webhooks signing secret `whsec_<base64>`, `SIQ_WEBHOOK_SECRET`. Default none
    /// (webhooks off).
    pub webhook_secret: Option<String>,
    /// Time limit of one request, `SIQ_CHANNEL_TIMEOUT_MS`, default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Which non-public hosts a contact's URL may name: loopback with
    /// `SIQ_ALLOW_LOOPBACK_TARGETS=1` (development, the demo, the tests' fakes), otherwise none
    /// ([`crate::outbound`]). Also the rule for identity settings' JWKS URLs.
    pub targets: Targets,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig {
            twilio: None,
            whatsapp_from: None,
            pagerduty_base_url: pagerduty::DEFAULT_BASE_URL.into(),
            pagerduty_source: pagerduty::DEFAULT_SOURCE.into(),
            smtp_url: None,
            email_from: None,
            webhook_secret: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            targets: Targets::default(),
        }
    }
}

/// A channel configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid channel configuration {var}: {reason}")]
pub struct ChannelsConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ChannelsConfig {
    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<ChannelsConfig, ChannelsConfigError> {
        let d = ChannelsConfig::default();
        let twilio = match (get("SIQ_TWILIO_ACCOUNT_SID"), get("SIQ_TWILIO_AUTH_TOKEN"), get("SIQ_TWILIO_FROM")) {
            (Some(account_sid), Some(auth_token), Some(from)) => Some(TwilioConfig {
                base_url: get("SIQ_TWILIO_BASE_URL").unwrap_or_else(|| twilio::DEFAULT_BASE_URL.into()),
                account_sid,
                auth_token,
                from,
            }),
            _ => None,
        };
        let request_timeout = match get("SIQ_CHANNEL_TIMEOUT_MS") {
            None => d.request_timeout,
            Some(v) => Duration::from_millis(
                v.trim().parse().map_err(|e| ChannelsConfigError { var: "SIQ_CHANNEL_TIMEOUT_MS", reason: format!("{v:?}: {e}") })?,
            ),
        };
        let cfg = ChannelsConfig {
            twilio,
            whatsapp_from: get("SIQ_TWILIO_WHATSAPP_FROM"),
            pagerduty_base_url: get("SIQ_PAGERDUTY_BASE_URL").unwrap_or(d.pagerduty_base_url),
            pagerduty_source: get("SIQ_PAGERDUTY_SOURCE").unwrap_or(d.pagerduty_source),
            smtp_url: get("SIQ_SMTP_URL"),
            email_from: get("SIQ_EMAIL_FROM"),
            webhook_secret: get("SIQ_WEBHOOK_SECRET"),
            request_timeout,
            targets: Targets {
                loopback: match get("SIQ_ALLOW_LOOPBACK_TARGETS").as_deref().map(str::trim) {
                    None | Some("" | "0" | "false") => false,
                    Some("1" | "true") => true,
                    Some(v) => {
                        return Err(ChannelsConfigError { var: "SIQ_ALLOW_LOOPBACK_TARGETS", reason: format!("{v:?}: expected 1 or 0") })
                    }
                },
            },
        };
        if cfg.smtp_url.is_some() != cfg.email_from.is_some() {
            return Err(ChannelsConfigError { var: "SIQ_EMAIL_FROM", reason: "SIQ_SMTP_URL and SIQ_EMAIL_FROM go together".into() });
        }
        if let Some(secret) = &cfg.webhook_secret {
            webhook::WebhookSecret::parse(secret).map_err(|e| ChannelsConfigError { var: "SIQ_WEBHOOK_SECRET", reason: e.to_string() })?;
        }
        Ok(cfg)
    }
}

/// Every configured channel, and one circuit breaker per kind: what the escalation engine holds.
pub struct Channels {
    clients: HashMap<ChannelKind, Arc<dyn Channel>>,
    breakers: HashMap<ChannelKind, CircuitBreaker>,
}

impl Channels {
    /// Builds the clients `cfg` configures, with breakers of the default threshold and cool-down
    /// on `clock`. Logs a warning for every channel left off.
    pub fn new(cfg: &ChannelsConfig, clock: Arc<dyn Clock>) -> Result<Channels, ChannelsConfigError> {
        let mut clients: HashMap<ChannelKind, Arc<dyn Channel>> = HashMap::new();
        if let Some(t) = &cfg.twilio {
            clients.insert(ChannelKind::Sms, Arc::new(twilio::Twilio::sms(t.clone(), cfg.request_timeout)));
            if let Some(from) = &cfg.whatsapp_from {
                clients.insert(ChannelKind::Whatsapp, Arc::new(twilio::Twilio::whatsapp(t.clone(), from.clone(), cfg.request_timeout)));
            }
        }
        clients.insert(ChannelKind::Slack, Arc::new(slack::Slack::new(cfg.request_timeout, cfg.targets)));
        clients.insert(
            ChannelKind::Pagerduty,
            Arc::new(pagerduty::PagerDuty::new(cfg.pagerduty_base_url.clone(), cfg.pagerduty_source.clone(), cfg.request_timeout)),
        );
        if let (Some(url), Some(from)) = (&cfg.smtp_url, &cfg.email_from) {
            let mail = email::Email::new(url, from, cfg.request_timeout)
                .map_err(|e| ChannelsConfigError { var: "SIQ_SMTP_URL", reason: e.to_string() })?;
            clients.insert(ChannelKind::Email, Arc::new(mail));
        }
        if let Some(secret) = &cfg.webhook_secret {
            let secret = webhook::WebhookSecret::parse(secret)
                .map_err(|e| ChannelsConfigError { var: "SIQ_WEBHOOK_SECRET", reason: e.to_string() })?;
            clients.insert(ChannelKind::Webhook, Arc::new(webhook::Webhook::new(secret, cfg.request_timeout, cfg.targets)));
        }
        for kind in ChannelKind::ALL {
            if !clients.contains_key(&kind) {
                tracing::warn!(channel = %kind, "escalation channel not configured; contacts on it will be skipped");
            }
        }
        Ok(Channels::from_clients(clients.into_values().collect(), clock))
    }

    /// Channels from ready clients (tests, or a custom set), with default breakers on `clock`.
    pub fn from_clients(clients: Vec<Arc<dyn Channel>>, clock: Arc<dyn Clock>) -> Channels {
        let clients: HashMap<ChannelKind, Arc<dyn Channel>> = clients.into_iter().map(|c| (c.kind(), c)).collect();
        let breakers = ChannelKind::ALL.into_iter().map(|k| (k, CircuitBreaker::new(k, clock.clone()))).collect();
        Channels { clients, breakers }
    }

    /// The client of `kind`, if configured.
    pub fn get(&self, kind: ChannelKind) -> Option<&Arc<dyn Channel>> {
        self.clients.get(&kind)
    }

    /// The circuit breaker of `kind`.
    pub fn breaker(&self, kind: ChannelKind) -> &CircuitBreaker {
        &self.breakers[&kind]
    }

    /// Delivers `alert` to `address` on `kind` with retries under `policy`: the whole story of one
    /// step of a chain. An unconfigured channel gives [`SendError::NotConfigured`] with no attempt.
    pub async fn deliver(&self, kind: ChannelKind, address: &str, alert: &Alert, policy: &RetryPolicy) -> Outcome {
        match self.clients.get(&kind) {
            Some(c) => send_with_retry(c.as_ref(), address, alert, policy, self.breaker(kind)).await,
            None => Outcome { result: Err(SendError::NotConfigured(kind)), attempts: Vec::new() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Targets = Targets { loopback: true };

    #[test]
    fn kinds_are_lower_case_on_the_wire() {
        for k in ChannelKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
            assert_eq!(ChannelKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChannelKind::parse("fax"), None);
        assert_eq!(serde_json::to_string(&Severity::Warning).unwrap(), "\"warning\"");
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(validate_address(ChannelKind::Sms, "+14155550123", Targets::default()).is_ok());
        assert!(validate_address(ChannelKind::Whatsapp, "+447700900123", Targets::default()).is_ok());
        assert!(validate_address(ChannelKind::Whatsapp, "whatsapp:+447700900123", Targets::default()).is_ok());
        assert!(
            validate_address(ChannelKind::Sms, "whatsapp:+447700900123", Targets::default()).is_err(),
            "an SMS contact is not a WhatsApp one"
        );
        assert!(validate_address(ChannelKind::Sms, "4155550123", Targets::default()).unwrap_err().contains("must start with +"));
        assert!(validate_address(ChannelKind::Sms, "+1 415 555 0123", Targets::default()).unwrap_err().contains("only digits"));
        assert!(validate_address(ChannelKind::Sms, "+1234567", Targets::default()).unwrap_err().contains("7 digits"));
        assert!(validate_address(ChannelKind::Sms, "+1234567890123456", Targets::default()).unwrap_err().contains("16 digits"));
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        assert!(validate_address(ChannelKind::Slack, "https://hooks.slack.com/services/T1/B2/xyz", LOCAL).is_ok());
        assert!(validate_address(ChannelKind::Slack, "https://example.com/services/T1", LOCAL).unwrap_err().contains("hooks.slack.com"));
        assert!(validate_address(ChannelKind::Slack, "http://127.0.0.1:9000/services/T1", LOCAL).is_ok());
        assert!(validate_address(ChannelKind::Webhook, "https://example.com/hooks/siq", LOCAL).is_ok());
        assert!(validate_address(ChannelKind::Webhook, "http://localhost:8080/x", LOCAL).is_ok());
        assert!(validate_address(ChannelKind::Webhook, "http://[::1]:8080/x", LOCAL).is_ok());
        assert!(validate_address(ChannelKind::Webhook, "http://example.com/x", LOCAL).unwrap_err().contains("must use https://"));
        assert!(validate_address(ChannelKind::Webhook, "ftp://example.com/x", LOCAL).unwrap_err().contains("not an https://"));
        assert!(validate_address(ChannelKind::Webhook, "example.com", LOCAL).unwrap_err().contains("not a URL"));
    }

    #[test]
    fn routing_keys_and_emails() {
        assert!(validate_address(ChannelKind::Pagerduty, "R0123456789abcdef0123456789abcde", Targets::default()).is_ok());
        assert!(validate_address(ChannelKind::Pagerduty, "short", Targets::default()).unwrap_err().contains("32-character"));
        assert!(validate_address(ChannelKind::Pagerduty, "R0123456789abcdef0123456789abcd-", Targets::default()).is_err());
        assert!(validate_address(ChannelKind::Email, "oncall@example.com", Targets::default()).is_ok());
        assert!(validate_address(ChannelKind::Email, "oncall.example.com", Targets::default())
            .unwrap_err()
            .contains("not an email address"));
    }

    #[test]
    fn http_answers_are_classified() {
        use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
        use reqwest::StatusCode;
        let none = HeaderMap::new();
        assert_eq!(classify_http(StatusCode::ACCEPTED, &none, ""), Ok(()));
        assert_eq!(
            classify_http(StatusCode::BAD_REQUEST, &none, "no_text"),
            Err(SendError::Permanent { status: 400, body: "no_text".into() })
        );
        assert!(!classify_http(StatusCode::NOT_FOUND, &none, "").unwrap_err().is_retryable());
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        match classify_http(StatusCode::TOO_MANY_REQUESTS, &h, "slow down").unwrap_err() {
            SendError::Temporary { status, retry_after, .. } => {
                assert_eq!(status, Some(429));
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            e => panic!("{e:?}"),
        }
        assert!(classify_http(StatusCode::REQUEST_TIMEOUT, &none, "").unwrap_err().is_retryable());
        assert!(classify_http(StatusCode::BAD_GATEWAY, &none, "").unwrap_err().is_retryable());
        let long = "x".repeat(MAX_ERROR_BODY + 10);
        match classify_http(StatusCode::BAD_REQUEST, &none, &long).unwrap_err() {
            SendError::Permanent { body, .. } => assert_eq!(body.len(), MAX_ERROR_BODY),
            e => panic!("{e:?}"),
        }
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn cutting_respects_characters() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut_chars("abcdef", 4), "abc…");
        assert_eq!(cut_chars("abc", 4), "abc");
    }

    #[test]
    fn config_from_the_environment() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let cfg = ChannelsConfig::from_lookup(env(&[])).unwrap();
        assert!(cfg.twilio.is_none() && cfg.smtp_url.is_none() && cfg.webhook_secret.is_none());
        assert_eq!(cfg.pagerduty_base_url, pagerduty::DEFAULT_BASE_URL);
        assert_eq!(cfg.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        let cfg = ChannelsConfig::from_lookup(env(&[
            ("SIQ_TWILIO_ACCOUNT_SID", "AC1"),
            ("SIQ_TWILIO_AUTH_TOKEN", "t"),
            ("SIQ_TWILIO_FROM", "+15550100"),
            ("SIQ_CHANNEL_TIMEOUT_MS", "1500"),
        ]))
        .unwrap();
        assert_eq!(cfg.twilio.unwrap().base_url, twilio::DEFAULT_BASE_URL);
        assert_eq!(cfg.request_timeout, Duration::from_millis(1500));
        assert_eq!(ChannelsConfig::from_lookup(env(&[("SIQ_CHANNEL_TIMEOUT_MS", "soon")])).unwrap_err().var, "SIQ_CHANNEL_TIMEOUT_MS");
        assert_eq!(ChannelsConfig::from_lookup(env(&[("SIQ_SMTP_URL", "smtp://localhost:25")])).unwrap_err().var, "SIQ_EMAIL_FROM");
        assert_eq!(ChannelsConfig::from_lookup(env(&[("SIQ_WEBHOOK_SECRET", "nope")])).unwrap_err().var, "SIQ_WEBHOOK_SECRET");
    }
}
