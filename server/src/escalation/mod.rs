//! Escalation: when a high-value customer's struggle persists, page the people of the tenant's
//! chain one after the other until one of them acknowledges (docs/escalation.md).
//!
//! * **The bar** (stricter than an in-page intervention, applied in [`crate::ingest`]): the
//!   session is identified by a verified host JWT, its account is worth at least the critical
//!   value (default $10k), and the struggle persisted over more than one burst at or above the
//!   paging confidence ([`shared_physics::paging`]).
//! * **Persisted before sending**: [`open`] writes the escalation (id `es_{session}_{seq}`, so a
//!   detection escalates once however many instances see it) and only then pages anybody.
//! * **The chain**: the tenant's contacts in order, those whose `min_value_cents` the account
//!   reaches. Each page tries the contact's channels in order ([`crate::escalation::channels`]: retries with
//!   back-off on temporary failures, a circuit breaker per channel); when every channel of a
//!   contact fails the next contact is paged at once, otherwise after [`crate::config::Config::ack_timeout_ms`]
//!   (default 60 s) without an acknowledgement. After the last contact's window the escalation is
//!   `exhausted` (counted and shown on the dashboard).
//! * **Acknowledgement**: every alert carries a signed, expiring one-click link to the live session
//!   view; opening it acknowledges for that contact ([`crate::api::auth::sign_ack`]) and nobody else is
//!   paged.
//! * **One instance at a time, and restarts**: an instance pages only the escalations it has
//!   claimed in the store (a conditional update with a lease, [`crate::store::Store::claim_escalation`]).
//!   A claim that lapses (the instance died mid-page) is taken over by any instance, including the
//!   same one after a restart, which sends that page again: delivery is at-least-once, and the
//!   alert id is the providers' de-duplication key where they have one.

pub mod channels;

use std::sync::Arc;
use std::time::Duration;

use crate::api::auth;
use crate::clock::now_ms;
use crate::escalation::channels::{Alert, ChannelKind, Channels, Outcome, RetryPolicy, SendError, Severity};
use crate::records::events::Event;
use crate::state::AppState;
use crate::store::{AlertRecord, Contact, DetectionRecord, Endpoint, EscalationRecord};
use crate::telemetry::inc;

/// How often every instance looks for due escalations (new ones are paged at once; this finds
/// the next contact's turn, and escalations another instance left behind).
pub const POLL: Duration = Duration::from_millis(500);
/// Escalations claimed per look.
const BATCH: i64 = 50;

/// The escalation engine of one instance: its channels, its name in claims, and a bell that
/// wakes its loop.
pub struct Engine {
    /// The providers.
    pub channels: Channels,
    /// This instance's name in claims (random per start).
    pub instance: String,
    /// Retries of one channel.
    pub policy: RetryPolicy,
    wake: tokio::sync::Notify,
}

impl Engine {
    /// An engine over `channels`.
    pub fn new(channels: Channels) -> Engine {
        Engine {
            channels,
            instance: format!("i_{:08x}{:08x}", crate::records::random_u32(), crate::records::random_u32()),
            policy: RetryPolicy::default(),
            wake: tokio::sync::Notify::new(),
        }
    }
}

/// Opens an escalation for a detection that met the paging bar: persisted first, then paged by
/// whichever instance claims it (this one, at once, unless another was quicker). Returns false
/// when the detection had been escalated already.
pub async fn open(app: &AppState, d: &DetectionRecord) -> Result<bool, crate::store::StoreError> {
    let now = now_ms();
    let e = EscalationRecord {
        id: format!("es_{}_{}", d.session, d.seq),
        tenant_id: d.tenant_id.clone(),
        session: d.session.clone(),
        seq: d.seq,
        sub: d.user.clone(),
        person_name: d.user_name.clone().or(d.user.clone()).unwrap_or_default(),
        account_name: d.account_name.clone().or(d.account.clone()).unwrap_or_default(),
        emotion: d.emotion.clone(),
        section: d.section.clone(),
        confidence: d.confidence,
        value_cents: d.value_cents,
        state: "open".into(),
        step: 0,
        next_at_ms: now,
        claimed_by: None,
        claim_until_ms: 0,
        acked_by: None,
        acked_ms: None,
        detected_ms: d.created_ms,
        created_ms: now,
        updated_ms: now,
    };
    if !app.store.insert_escalation(&e).await? {
        return Ok(false);
    }
    inc(&app.metrics.tenant(&e.tenant_id).escalations);
    tracing::info!(tenant = %e.tenant_id, escalation = %e.id, value_cents = e.value_cents, "escalation opened");
    page_due(app, &e.id).await;
    Ok(true)
}

/// The engine's loop: pages every due escalation, then sleeps until [`POLL`] passes or it is woken.
pub async fn run(app: AppState) {
    loop {
        match app.store.due_escalations(now_ms(), BATCH).await {
            Ok(ids) => {
                for id in ids {
                    let app = app.clone();
                    tokio::spawn(async move { page_due(&app, &id).await });
                }
            }
            Err(e) => tracing::error!(error = %e, "due escalations could not be read"),
        }
        let _ = tokio::time::timeout(POLL, app.escalation.wake.notified()).await;
    }
}

/// Claims escalation `id` if it is due and nobody holds it, and takes its next step.
async fn page_due(app: &AppState, id: &str) {
    let now = now_ms();
    let until = now + app.config.escalation_lease_ms as i64;
    let e = match app.store.claim_escalation(id, &app.escalation.instance, now, until).await {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(err) => return tracing::error!(escalation = id, error = %err, "escalation could not be claimed"),
    };
    let tenant = e.tenant_id.clone();
    let counters = app.metrics.tenant(&tenant);
    let contacts = match app.store.contacts(&tenant).await {
        Ok(c) => chain(c, e.value_cents),
        Err(err) => {
            // Released by the lease; the next look tries again.
            return tracing::error!(tenant = %tenant, escalation = %e.id, error = %err, "escalation chain could not be read");
        }
    };
    let Some(contact) = contacts.get(e.step as usize) else {
        let why = if contacts.is_empty() { "no contact of the chain is paged for this value" } else { "nobody acknowledged" };
        inc(&counters.escalations_exhausted);
        tracing::error!(tenant = %tenant, escalation = %e.id, contacts = contacts.len(), why, "escalation exhausted");
        advance(app, &e, e.step, i64::MAX, "exhausted").await;
        return;
    };
    let delivered = page(app, &e, contact).await;
    let next_at = if delivered { now_ms() + app.config.ack_timeout_ms as i64 } else { now_ms() };
    advance(app, &e, e.step + 1, next_at, "open").await;
    if !delivered {
        // Every channel of this contact failed: the next one is due now.
        app.escalation.wake.notify_one();
    }
}

async fn advance(app: &AppState, e: &EscalationRecord, step: i64, next_at: i64, state: &str) {
    match app.store.advance_escalation(&e.id, &app.escalation.instance, step, next_at, state, now_ms()).await {
        Ok(true) => {}
        Ok(false) => tracing::info!(tenant = %e.tenant_id, escalation = %e.id, "escalation acknowledged or taken over meanwhile"),
        Err(err) => tracing::error!(tenant = %e.tenant_id, escalation = %e.id, error = %err, "escalation could not be moved on"),
    }
}

/// The contacts paged for an account worth `value_cents`, in chain order.
pub fn chain(contacts: Vec<Contact>, value_cents: i64) -> Vec<Contact> {
    let mut c: Vec<Contact> = contacts.into_iter().filter(|c| value_cents >= c.min_value_cents).collect();
    c.sort_by_key(|c| c.position);
    c
}

/// Pages one contact: each of its channels in order until one delivers. Records every channel
/// tried as an alert with its attempts. True when one delivered.
async fn page(app: &AppState, e: &EscalationRecord, contact: &Contact) -> bool {
    let tenant = &e.tenant_id;
    let counters = app.metrics.tenant(tenant);
    let exp = (now_ms() / 1000) as u64 + app.config.link_ttl_secs;
    let link = link(app, e, &contact.id, exp);
    let alert = Alert {
        id: format!("al_{}_{}", e.id, e.step),
        tenant: tenant.clone(),
        summary: summary(e),
        text: alert_text(&e.person_name, &e.account_name, e.value_cents, &e.emotion, &e.section, e.confidence),
        link: link.clone(),
        severity: if e.value_cents >= app.config.critical_value_cents { Severity::Critical } else { Severity::Error },
        value_cents: e.value_cents,
        at_ms: e.detected_ms,
    };
    let first = Endpoint { id: contact.id.clone(), channel: contact.channel.clone(), address: contact.address.clone() };
    for (i, ep) in std::iter::once(&first).chain(contact.fallbacks.iter()).enumerate() {
        let address = open_endpoint(app, tenant, ep, i == 0);
        let outcome = match ChannelKind::parse(&ep.channel) {
            Some(kind) => app.escalation.channels.deliver(kind, &address, &alert, &app.escalation.policy).await,
            None => Outcome { result: Err(SendError::InvalidAddress(format!("unknown channel {:?}", ep.channel))), attempts: Vec::new() },
        };
        let ok = outcome.result.is_ok();
        if ok {
            inc(&counters.alerts_sent);
            tracing::info!(tenant = %tenant, escalation = %e.id, contact = %contact.id, channel = %ep.channel, "alert delivered");
        } else {
            inc(&counters.alerts_failed);
            let error = outcome.result.as_ref().err().map(ToString::to_string).unwrap_or_default();
            tracing::error!(tenant = %tenant, escalation = %e.id, contact = %contact.id, channel = %ep.channel, error, "alert not delivered");
        }
        app.publish_event(Event::Alert(AlertRecord {
            id: format!("{}_{i}", alert.id),
            tenant_id: tenant.clone(),
            session: e.session.clone(),
            contact_id: contact.id.clone(),
            channel: ep.channel.clone(),
            address,
            status: if ok { "sent" } else { "failed" }.into(),
            provider_id: outcome.result.as_ref().ok().and_then(|d| d.provider_id.clone()),
            error: outcome.result.as_ref().err().map(ToString::to_string),
            attempts: outcome.attempts.len() as i64,
            link: link.clone(),
            created_ms: now_ms(),
            escalation_id: Some(e.id.clone()),
            attempt_log: serde_json::to_value(&outcome.attempts).unwrap_or_default(),
        }));
        if ok {
            return true;
        }
    }
    false
}

/// An endpoint's address, opened (the first is the contact row's, the others fallback rows').
fn open_endpoint(app: &AppState, tenant: &str, ep: &Endpoint, first: bool) -> String {
    if first {
        crate::identity::customers::open_address(app, tenant, &ep.id, &ep.address)
    } else {
        open_fallback(app, tenant, ep)
    }
}

/// A fallback channel's address, opened.
pub fn open_fallback(app: &AppState, tenant: &str, ep: &Endpoint) -> String {
    if !crate::identity::keyring::is_sealed(&ep.address) {
        return ep.address.clone();
    }
    app.keyring.open(&ep.address, &crate::identity::customers::aad(tenant, "contact_fallbacks", "address", &ep.id)).unwrap_or_else(|err| {
        tracing::error!(tenant, endpoint = %ep.id, error = %err, "a contact address could not be opened");
        String::new()
    })
}

/// The one-click link of an alert to `contact`: the live session view, signed and expiring at
/// `exp`, carrying the contact's acknowledgement.
pub fn link(app: &AppState, e: &EscalationRecord, contact: &str, exp: u64) -> String {
    let secret = &app.config.link_secret;
    let sig = auth::sign_link(secret, &e.tenant_id, &e.session, exp);
    let ack = auth::sign_ack(secret, &e.tenant_id, &e.id, contact, exp);
    format!("{}/s/{}?t={}&exp={exp}&sig={sig}&e={}&c={contact}&ack={ack}", app.public_url, e.session, e.tenant_id, e.id)
}

/// The one line of an alert: who, how valuable, what, where.
pub fn summary(e: &EscalationRecord) -> String {
    format!("{} ({}, {}): {} on {}", e.person_name, e.account_name, dollars(e.value_cents), e.emotion, section_name(&e.section))
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
        dollars(value_cents),
        section_name(section),
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

/// What [`acknowledge`] did.
#[derive(Debug, PartialEq)]
pub enum Acked {
    /// Acknowledged now by this contact.
    Now(EscalationRecord),
    /// It had been acknowledged (or had ended) before; as it is.
    Already(EscalationRecord),
    /// No such escalation in the tenant.
    Unknown,
}

/// Acknowledges escalation `id` of `tenant` for `who` (`contact:{id}` or `user:{id}`): nobody
/// further down the chain is paged.
pub async fn acknowledge(app: &AppState, tenant: &str, id: &str, who: &str) -> Result<Acked, crate::store::StoreError> {
    match app.store.acknowledge_escalation(tenant, id, who, now_ms()).await? {
        None => Ok(Acked::Unknown),
        Some((true, e)) => {
            inc(&app.metrics.tenant(tenant).escalations_acked);
            tracing::info!(tenant, escalation = id, who, "escalation acknowledged");
            Ok(Acked::Now(e))
        }
        Some((false, e)) => Ok(Acked::Already(e)),
    }
}

/// The engine's channels from the configuration, on the system clock.
pub fn channels(cfg: &crate::escalation::channels::ChannelsConfig) -> Result<Channels, crate::escalation::channels::ChannelsConfigError> {
    Channels::new(cfg, Arc::new(crate::escalation::channels::SystemClock))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str, position: i64, min: i64) -> Contact {
        Contact {
            id: id.into(),
            position,
            name: id.into(),
            role: String::new(),
            channel: "sms".into(),
            address: "+15550100".into(),
            min_value_cents: min,
            fallbacks: Vec::new(),
        }
    }

    #[test]
    fn the_chain_holds_the_contacts_the_value_reaches_in_order() {
        let all = vec![contact("am", 2, 0), contact("ceo", 0, 10_000_000), contact("vp", 1, 2_500_000)];
        let ids = |v: i64| chain(all.clone(), v).into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(10_000_000), ["ceo", "vp", "am"]);
        assert_eq!(ids(9_999_999), ["vp", "am"]);
        assert_eq!(ids(1_000_000), ["am"]);
    }

    #[test]
    fn money_and_text() {
        assert_eq!(dollars(10_000_000), "$100,000");
        assert_eq!(dollars(99), "$0");
        assert_eq!(dollars(12_345_678_900), "$123,456,789");
        let t = alert_text("Jane Doe", "Acme Corp", 10_000_000, "rage", "checkout", 0.934);
        assert_eq!(t, "SentientIQ: Jane Doe (Acme Corp, $100,000 lifetime value) is showing rage in the checkout section (93% confidence). Live session:");
    }
}
