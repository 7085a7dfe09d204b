//! `sms` and `whatsapp` through Twilio's Messages API.
//!
//! Request: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth
//! `AccountSid:AuthToken`, form-encoded `To`, `From`, `Body`. WhatsApp is the same API with
//! `To=whatsapp:+E164` and `From=whatsapp:+E164` (the sender must be a WhatsApp-enabled number).
//! Success is `201` with a message resource whose `sid` (`SM…`) becomes the provider id.
//!
//! The body is the alert's text followed by its link, at most [`MAX_BODY_CHARS`] characters: a
//! longer text is cut (with `…`) so that the link always arrives whole.
//!
//! Retried: 429 (Twilio's error 20429, "Too Many Requests", with `Retry-After` when given), 5xx,
//! timeouts and connection errors. Not retried: 400 (e.g. 21211 invalid `To`, 21610 recipient
//! unsubscribed), 401 (bad credentials), 404: the same request would get the same answer.
//! Twilio has no idempotency key for messages: a retry after a lost response may text twice.

use std::time::Duration;

use async_trait::async_trait;

use super::{cut_chars, http_send, Alert, Channel, ChannelKind, Delivered, SendError, Targets};

/// Credentials and endpoint of the Twilio Messages API.
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// Base URL, e.g. `https://api.twilio.com` or a local fake.
    pub base_url: String,
    /// Account SID (`AC…`), also the basic-auth user.
    pub account_sid: String,
    /// Auth token, the basic-auth password.
    pub auth_token: String,
    /// Sender number in E.164.
    pub from: String,
}

/// Twilio's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The API version segment of the Messages API path.
pub const API_VERSION: &str = "2010-04-01";
/// Longest message body Twilio accepts, in characters.
pub const MAX_BODY_CHARS: usize = 1600;
/// The address prefix of Twilio's WhatsApp channel.
pub const WHATSAPP_PREFIX: &str = "whatsapp:";

/// A Twilio Messages API client for one channel kind (`sms` or `whatsapp`).
#[derive(Clone)]
pub struct Twilio {
    http: reqwest::Client,
    cfg: TwilioConfig,
    kind: ChannelKind,
    /// The sender for this kind (`whatsapp:`-prefixed for WhatsApp).
    from: String,
}

#[derive(serde::Deserialize)]
struct MessageResource {
    sid: String,
}

impl Twilio {
    /// The `sms` channel, sending from `cfg.from`, each request limited to `timeout`.
    pub fn sms(cfg: TwilioConfig, timeout: Duration) -> Twilio {
        let from = cfg.from.clone();
        Twilio { http: http_client(timeout), cfg, kind: ChannelKind::Sms, from }
    }

    /// The `whatsapp` channel, sending from the WhatsApp-enabled number `from` (E.164, with or
    /// without the `whatsapp:` prefix).
    pub fn whatsapp(cfg: TwilioConfig, from: String, timeout: Duration) -> Twilio {
        Twilio { http: http_client(timeout), cfg, kind: ChannelKind::Whatsapp, from: whatsapp_address(&from) }
    }

    /// The message body of `alert`: its text, a space and its link, cut to fit
    /// [`MAX_BODY_CHARS`] with the link kept whole.
    pub fn body(alert: &Alert) -> String {
        let room = MAX_BODY_CHARS.saturating_sub(alert.link.chars().count() + 1);
        format!("{} {}", cut_chars(&alert.text, room), alert.link)
    }
}

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().expect("a reqwest client with a timeout builds")
}

/// `whatsapp:+E164` from a number with or without the prefix.
fn whatsapp_address(number: &str) -> String {
    format!("{WHATSAPP_PREFIX}{}", number.strip_prefix(WHATSAPP_PREFIX).unwrap_or(number))
}

#[async_trait]
impl Channel for Twilio {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    async fn send(&self, address: &str, alert: &Alert) -> Result<Delivered, SendError> {
        let to = match self.kind {
            ChannelKind::Whatsapp => whatsapp_address(address),
            _ => address.to_string(),
        };
        let url = format!("{}/{API_VERSION}/Accounts/{}/Messages.json", self.cfg.base_url.trim_end_matches('/'), self.cfg.account_sid);
        let body = Twilio::body(alert);
        let form = [("To", to.as_str()), ("From", self.from.as_str()), ("Body", body.as_str())];
        let (status, text) = http_send(self.kind, address, Targets::default(), || {
            self.http.post(url).basic_auth(&self.cfg.account_sid, Some(&self.cfg.auth_token)).form(&form)
        })
        .await?;
        let message: MessageResource =
            serde_json::from_str(&text).map_err(|e| SendError::temporary(format!("unreadable Twilio answer ({status}): {e}")))?;
        Ok(Delivered { provider_id: Some(message.sid) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::channels::Severity;

    fn alert(text: String) -> Alert {
        Alert {
            id: "al_1".into(),
            tenant: "t".into(),
            summary: "s".into(),
            text,
            link: "https://siq.example/s/abc?sig=1".into(),
            severity: Severity::Critical,
            value_cents: 1,
            at_ms: 0,
        }
    }

    #[test]
    fn the_link_survives_a_long_text() {
        assert_eq!(Twilio::body(&alert("Jane is raging.".into())), "Jane is raging. https://siq.example/s/abc?sig=1");
        let body = Twilio::body(&alert("é".repeat(5000)));
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.ends_with("… https://siq.example/s/abc?sig=1"));
    }

    #[test]
    fn whatsapp_addresses_are_prefixed_once() {
        assert_eq!(whatsapp_address("+447700900123"), "whatsapp:+447700900123");
        assert_eq!(whatsapp_address("whatsapp:+447700900123"), "whatsapp:+447700900123");
    }
}
