//! `email` over SMTP (`lettre`, tokio, rustls).
//!
//! Conversation (RFC 5321): connect (implicit TLS for `smtps://`, `STARTTLS` for
//! `?tls=required`, plain for local relays), `EHLO`, `AUTH` when the URL has credentials,
//! `MAIL FROM:<from>`, `RCPT TO:<contact address>`, `DATA`, the message, `.`, `QUIT`. One
//! connection per alert (alerts are rare; no pool to go stale).
//!
//! The message: `From` as configured, `To` the contact,
//! `Subject: [SentientIQ <severity>] <summary>`, `Message-ID: <alert id@from domain>` (so mail
//! clients fold a resend into the first), a plain-text body with the text, the link to the live
//! session and the alert id. The server's final reply to the data (e.g. `2.0.0 Ok: queued as
//! 4F2…`) is the provider id.
//!
//! SMTP's own rule decides retries: 4yz replies are transient (451 local error, 421 service not
//! available, 452 insufficient storage) and retried; 5yz replies are permanent (550 mailbox
//! unavailable, 553 bad address, 554 rejected) and are not. Timeouts, refused connections and
//! TLS failures are temporary.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{cut, cut_chars, validate_address, Alert, Channel, ChannelKind, Delivered, SendError, Targets, MAX_ERROR_BODY};

/// Longest subject line, in characters (RFC 5322 recommends lines under 78).
pub const MAX_SUBJECT_CHARS: usize = 120;

/// Why an email channel cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum EmailConfigError {
    /// The SMTP URL is not one lettre understands (`smtp://`, `smtps://`, `?tls=required`).
    #[error("bad SMTP URL: {0}")]
    Url(String),
    /// The sender is not a mailbox (`Name <address>` or `address`).
    #[error("bad sender {0:?}: {1}")]
    From(String, String),
}

/// An SMTP client sending alert emails.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl Email {
    /// A client of the server at `smtp_url` (see [`crate::escalation::channels::ChannelsConfig::smtp_url`])
    /// sending as `from`, each whole conversation limited to `timeout`.
    pub fn new(smtp_url: &str, from: &str, timeout: Duration) -> Result<Email, EmailConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| EmailConfigError::Url(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        let from: Mailbox = from.parse().map_err(|e: lettre::address::AddressError| EmailConfigError::From(from.into(), e.to_string()))?;
        Ok(Email { transport, from, timeout })
    }

    /// The message of `alert` for `to`.
    pub fn message(&self, to: Mailbox, alert: &Alert) -> Result<Message, SendError> {
        let id: String = alert.id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
        let body = format!(
            "{}\n\n{}\n\nOpen the live session: {}\n\nSeverity: {}\nAlert: {}\n",
            alert.summary,
            alert.text,
            alert.link,
            alert.severity.as_str(),
            alert.id
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(cut_chars(&format!("[SentientIQ {}] {}", alert.severity.as_str(), alert.summary), MAX_SUBJECT_CHARS))
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::InvalidAddress(e.to_string()))
    }
}

/// SMTP's classification: 4yz transient, 5yz permanent; no reply at all is temporary.
fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    let text = cut(&e.to_string(), MAX_ERROR_BODY);
    match e.status().map(u16::from) {
        Some(code) if e.is_permanent() => SendError::Permanent { status: code, body: text },
        code => SendError::Temporary { reason: format!("SMTP: {text}"), status: code, retry_after: None },
    }
}

#[async_trait]
impl Channel for Email {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    async fn send(&self, address: &str, alert: &Alert) -> Result<Delivered, SendError> {
        validate_address(ChannelKind::Email, address, Targets::default()).map_err(SendError::InvalidAddress)?;
        let to: Mailbox = address.parse().map_err(|e: lettre::address::AddressError| SendError::InvalidAddress(e.to_string()))?;
        let message = self.message(to, alert)?;
        let reply = tokio::time::timeout(self.timeout, self.transport.send(message))
            .await
            .map_err(|_| SendError::temporary(format!("SMTP conversation timed out after {} ms", self.timeout.as_millis())))?
            .map_err(smtp_error)?;
        let text = reply.message().collect::<Vec<_>>().join(" ");
        Ok(Delivered { provider_id: Some(text).filter(|t| !t.is_empty()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::channels::Severity;

    #[test]
    fn the_message_has_subject_id_and_link() {
        let mail = Email::new("smtp://127.0.0.1:2525", "SentientIQ <alerts@siq.example>", Duration::from_secs(1)).unwrap();
        let alert = Alert {
            id: "al_1/x".into(),
            tenant: "t".into(),
            summary: "Jane is raging".into(),
            text: "on checkout".into(),
            link: "https://siq.example/s/1".into(),
            severity: Severity::Critical,
            value_cents: 1,
            at_ms: 0,
        };
        let raw = String::from_utf8(mail.message("oncall@example.com".parse().unwrap(), &alert).unwrap().formatted()).unwrap();
        assert!(raw.contains("Subject: [SentientIQ critical] Jane is raging\r\n"), "{raw}");
        assert!(raw.contains("Message-ID: <al_1x@siq.example>\r\n"), "{raw}");
        assert!(raw.contains("To: oncall@example.com\r\n"), "{raw}");
        assert!(raw.contains("Open the live session: https://siq.example/s/1"), "{raw}");
        assert!(Email::new("ftp://x", "a@b.c", Duration::from_secs(1)).is_err());
        assert!(matches!(Email::new("smtp://x", "not a mailbox", Duration::from_secs(1)), Err(EmailConfigError::From(..))));
    }
}
