//! `webhook`: an HTTP POST signed the Standard Webhooks way, and its verification.
//!
//! Request: `POST {contact URL}`, `Content-Type: application/json`, body
//! `{"type": "alert.triggered", "timestamp": "<ISO 8601>", "data": <the alert>}` and headers
//!
//! * `webhook-id`: the alert id, the same on every retry: receivers drop ids they have seen;
//! * `webhook-timestamp`: Unix seconds at the attempt (each retry signs afresh);
//! * `webhook-signature`: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, where the
//!   key is the base64 part of the secret `whsec_<base64>`.
//!
//! Each tenant's alerts are signed with a key of its own, [`WebhookSecret::for_tenant`]:
//! HMAC-SHA256 of the server's `SIQ_WEBHOOK_SECRET` over `webhook|{tenant id}`. The tenant's
//! owner reads it as `whsec_…` from `GET /v1/webhook-secret`; knowing it lets a tenant verify its
//! own alerts and forge nobody else's.
//!
//! Receivers check with [`verify_webhook`]: the timestamp within a tolerance (default
//! [`DEFAULT_TOLERANCE_SECS`], both ways) against replays, then any of the space-separated
//! `v1,` signatures in constant time (several signatures let a secret be rotated).
//!
//! Retried: 408, 429 (with `Retry-After`), 5xx, timeouts, connection errors. Not retried: other
//! 4xx, and 3xx (redirects are not followed: a signed alert goes only where it was addressed).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{http_send, iso8601_ms, Alert, Channel, ChannelKind, Delivered, SendError, Targets};

/// Prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest key bytes a secret may decode to (the spec asks for 24 to 64).
pub const MIN_SECRET_BYTES: usize = 24;
/// Most key bytes a secret may decode to.
pub const MAX_SECRET_BYTES: usize = 64;
/// How far a `webhook-timestamp` may be from the receiver's clock, in seconds, unless told.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// The signature scheme this crate writes and reads (symmetric HMAC-SHA256).
pub const SIGNATURE_VERSION: &str = "v1";
/// The event type of an alert.
pub const EVENT_TYPE: &str = "alert.triggered";

/// Why a webhook secret or delivery does not check out.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// The secret is not `whsec_` followed by base64 of 24 to 64 bytes.
    #[error("invalid webhook secret: {0}")]
    Secret(String),
    /// `webhook-timestamp` is not a number of seconds.
    #[error("invalid webhook-timestamp {0:?}")]
    BadTimestamp(String),
    /// The timestamp is older than the tolerance (a replay, or a very late retry).
    #[error("webhook-timestamp is {0} s old, beyond the tolerance")]
    TooOld(i64),
    /// The timestamp is further in the future than the tolerance.
    #[error("webhook-timestamp is {0} s in the future, beyond the tolerance")]
    TooNew(i64),
    /// No `v1,` signature matches (tampered body or headers, or another secret).
    #[error("no matching webhook signature")]
    BadSignature,
}

/// A signing key, parsed from `whsec_<base64>`.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (standard alphabet, padded).
    pub fn parse(secret: &str) -> Result<WebhookSecret, WebhookError> {
        let Some(encoded) = secret.trim().strip_prefix(SECRET_PREFIX) else {
            return Err(WebhookError::Secret(format!("it must start with {SECRET_PREFIX}")));
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| WebhookError::Secret(format!("the part after {SECRET_PREFIX} is not base64 ({e})")))?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(WebhookError::Secret(format!("it holds {} bytes, expected {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}", key.len())));
        }
        Ok(WebhookSecret(key))
    }

    /// The secret of `key` in `whsec_<base64>` form (e.g. to show a tenant once).
    pub fn encode(key: &[u8]) -> String {
        format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(key))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The key of `tenant`'s webhooks, derived from this (the server's) secret.
    pub fn for_tenant(&self, tenant: &str) -> WebhookSecret {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(b"webhook|");
        mac.update(tenant.as_bytes());
        WebhookSecret(mac.finalize().into_bytes().to_vec())
    }

    /// The secret as `whsec_<base64>`, for its holder.
    pub fn encoded(&self) -> String {
        WebhookSecret::encode(&self.0)
    }

    /// `v1,<base64 signature>` of a delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, &timestamp.to_string(), body).finalize().into_bytes();
        format!("{SIGNATURE_VERSION},{}", base64::engine::general_purpose::STANDARD.encode(tag))
    }
}

/// The three headers of a delivery, as received.
#[derive(Clone, Copy, Debug)]
pub struct WebhookHeaders<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp` (Unix seconds).
    pub timestamp: &'a str,
    /// `webhook-signature` (space-separated `version,base64` entries).
    pub signature: &'a str,
}

/// Verifies a delivery: `secret` is `whsec_<base64>`; `now_secs` the receiver's clock;
/// `tolerance_secs` how far the timestamp may be off either way (use
/// [`DEFAULT_TOLERANCE_SECS`]). Accepts when any `v1,` signature in the header matches.
pub fn verify_webhook(
    secret: &str,
    headers: WebhookHeaders<'_>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let secret = WebhookSecret::parse(secret)?;
    let ts: i64 = headers.timestamp.trim().parse().map_err(|_| WebhookError::BadTimestamp(headers.timestamp.into()))?;
    if now_secs - ts > tolerance_secs {
        return Err(WebhookError::TooOld(now_secs - ts));
    }
    if ts - now_secs > tolerance_secs {
        return Err(WebhookError::TooNew(ts - now_secs));
    }
    let expected = secret.mac(headers.id, headers.timestamp.trim(), body);
    let matches = headers.signature.split_whitespace().filter_map(|entry| entry.split_once(',')).any(|(version, sig)| {
        version == SIGNATURE_VERSION
            && base64::engine::general_purpose::STANDARD.decode(sig).is_ok_and(|tag| expected.clone().verify_slice(&tag).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// A signed-webhook client.
#[derive(Clone)]
pub struct Webhook {
    http: reqwest::Client,
    secret: WebhookSecret,
    targets: Targets,
}

impl Webhook {
    /// A client signing with `secret`, each request limited to `timeout`.
    /// Requests go to public hosts only (and loopback ones when `targets` allow it), never
    /// redirected ([`crate::outbound`]).
    pub fn new(secret: WebhookSecret, timeout: Duration, targets: Targets) -> Webhook {
        Webhook { http: crate::outbound::client(timeout, targets), secret, targets }
    }

    /// The JSON body of `alert`.
    pub fn body(alert: &Alert) -> Vec<u8> {
        serde_json::to_vec(&json!({ "type": EVENT_TYPE, "timestamp": iso8601_ms(alert.at_ms), "data": alert }))
            .expect("an alert serialises")
    }
}

#[async_trait]
impl Channel for Webhook {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    async fn send(&self, address: &str, alert: &Alert) -> Result<Delivered, SendError> {
        let body = Webhook::body(alert);
        let timestamp = crate::clock::now_ms().div_euclid(1000);
        let signature = self.secret.for_tenant(&alert.tenant).sign(&alert.id, timestamp, &body);
        http_send(ChannelKind::Webhook, address, self.targets, || {
            self.http
                .post(address)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("webhook-id", &alert.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
        })
        .await?;
        Ok(Delivered { provider_id: Some(alert.id.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> WebhookHeaders<'a> {
        WebhookHeaders { id, timestamp: ts, signature: sig }
    }

    #[test]
    fn signs_id_timestamp_and_body_as_the_spec_example() {
        // The example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &sig);
        assert_eq!(verify_webhook(SECRET, h, body, 1_614_265_330, DEFAULT_TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn rejects_tampering_stale_or_future_timestamps_and_other_secrets() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let now = 1_700_000_000;
        let sig = secret.sign("al_1", now, b"{}");
        let ts = now.to_string();
        assert_eq!(verify_webhook(SECRET, headers("al_1", &ts, &sig), b"{ }", now, 300), Err(WebhookError::BadSignature));
        assert_eq!(verify_webhook(SECRET, headers("al_2", &ts, &sig), b"{}", now, 300), Err(WebhookError::BadSignature));
        assert_eq!(verify_webhook(SECRET, headers("al_1", &ts, &sig), b"{}", now + 301, 300), Err(WebhookError::TooOld(301)));
        assert_eq!(verify_webhook(SECRET, headers("al_1", &ts, &sig), b"{}", now + 300, 300), Ok(()));
        assert_eq!(verify_webhook(SECRET, headers("al_1", &ts, &sig), b"{}", now - 301, 300), Err(WebhookError::TooNew(301)));
        let other = WebhookSecret::encode(&[7u8; 32]);
        assert_eq!(verify_webhook(&other, headers("al_1", &ts, &sig), b"{}", now, 300), Err(WebhookError::BadSignature));
        assert_eq!(verify_webhook(SECRET, headers("al_1", "soon", &sig), b"{}", now, 300), Err(WebhookError::BadTimestamp("soon".into())));
        // Several signatures (a rotation): any match is enough; other versions are skipped.
        let rotated = format!("v1a,abc v1,{} {sig}", base64::engine::general_purpose::STANDARD.encode([0u8; 32]));
        assert_eq!(verify_webhook(SECRET, headers("al_1", &ts, &rotated), b"{}", now, 300), Ok(()));
        assert_eq!(verify_webhook(SECRET, headers("al_1", &ts, "v2,xyz"), b"{}", now, 300), Err(WebhookError::BadSignature));
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_to_64_bytes() {
        assert!(WebhookSecret::parse(SECRET).is_ok());
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err().to_string().contains("whsec_"));
        assert!(WebhookSecret::parse("whsec_!!!").unwrap_err().to_string().contains("not base64"));
        assert!(WebhookSecret::parse(&WebhookSecret::encode(&[1u8; 16])).unwrap_err().to_string().contains("16 bytes"));
        assert!(WebhookSecret::parse(&WebhookSecret::encode(&[1u8; 65])).is_err());
        assert!(format!("{:?}", WebhookSecret::parse(SECRET).unwrap()).contains('…'), "never printed");
    }
}
