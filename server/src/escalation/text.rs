//! What a page says: the one-click link, the summary line and the text, the same on every
//! channel.

use super::Settings;
use crate::identity::tokens;
use crate::records::format::money;
use crate::records::EscalationRecord;

/// The one-click link of an alert to `contact`: the live session view, signed and expiring at
/// `exp`, carrying the contact's acknowledgement.
pub fn link(settings: &Settings, e: &EscalationRecord, contact: &str, exp: u64) -> String {
    let secret = &settings.link_secret;
    let sig = tokens::sign_link(secret, &e.tenant_id, &e.session, exp);
    let ack = tokens::sign_ack(secret, &e.tenant_id, &e.id, contact, exp);
    format!("{}/s/{}?t={}&exp={exp}&sig={sig}&e={}&c={contact}&ack={ack}", settings.public_url, e.session, e.tenant_id, e.id)
}

/// The one line of an alert: who, how valuable, what, where.
pub fn summary(e: &EscalationRecord) -> String {
    format!("{} ({}, {}): {} on {}", e.person_name, e.account_name, money(e.value_cents), e.emotion.name(), section_name(&e.section))
}

fn section_name(section: &str) -> String {
    if section.is_empty() {
        "the product".to_string()
    } else {
        format!("the {section} section")
    }
}

/// The text of an alert (each channel places the link after it).
pub fn alert_text(person: &str, account: &str, value_cents: i64, emotion: &str, section: &str, confidence: f64) -> String {
    format!(
        "SentientIQ: {person} ({account}, {} lifetime value) is showing {emotion} in {} ({:.0}% confidence). Live session:",
        money(value_cents),
        section_name(section),
        confidence * 100.0
    )
}
