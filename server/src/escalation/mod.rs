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
//!   reaches. Each page tries the contact's channels in order
//!   ([`crate::escalation::channels`](mod@crate::escalation::channels): retries with back-off on
//!   temporary failures, a circuit breaker per channel); when every channel of a
//!   contact fails the next contact is paged at once, otherwise after [`Settings::ack_timeout_ms`]
//!   (default 60 s) without an acknowledgement. After the last contact's window the escalation is
//!   `exhausted` (counted and shown on the dashboard).
//! * **Acknowledgement**: every alert carries a signed, expiring one-click link to the live session
//!   view; a tap on "I've got it" there acknowledges for that contact
//!   ([`crate::identity::tokens::sign_ack`]) and nobody else is paged (opening it changes nothing).
//! * **One instance at a time, and restarts**: an instance pages only the escalations it has
//!   claimed in the store (a conditional update with a lease, [`crate::store::EscalationStore::claim_escalation`]).
//!   A claim that lapses (the instance died mid-page) is taken over by any instance, including the
//!   same one after a restart, which sends that page again: delivery is at-least-once, and the
//!   alert id is the providers' de-duplication key where they have one.

pub mod channels;
pub mod text;

use std::sync::Arc;
use std::time::Duration;

use crate::bus::Publisher;
use crate::clock::SharedClock;
use crate::escalation::channels::{Alert, ChannelKind, Channels, Outcome, RetryPolicy, SendError, Severity};
use crate::identity::keyring::Keyring;
use crate::records::events::Event;
use crate::records::redact;
use crate::store::EscalationStore;
use crate::store::{AlertRecord, Contact, DetectionRecord, Endpoint, EscalationRecord, EscalationState, SealedColumn};
use crate::telemetry::{inc, Metrics};
pub use text::{alert_text, link, summary};

/// How often every instance looks for due escalations (new ones are paged at once; this finds
/// the next contact's turn, and escalations another instance left behind).
pub const POLL: Duration = Duration::from_millis(500);
/// Escalations claimed per look.
const BATCH: i64 = 50;

/// What the escalation subsystem is told at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base URL of the one-click links.
    pub public_url: String,
    /// Key of the links' and acknowledgements' signatures.
    pub link_secret: Vec<u8>,
    /// How long a link holds, seconds.
    pub link_ttl_secs: u64,
    /// Accounts worth at least this many cents are paged as critical.
    pub critical_value_cents: i64,
    /// How long a paged contact has to acknowledge before the next is paged, ms.
    pub ack_timeout_ms: u64,
    /// How long a claim on an escalation holds, ms (a stopped instance's are taken over after it).
    pub escalation_lease_ms: u64,
}

/// The escalation subsystem with its ports; cheap to clone.
#[derive(Clone)]
pub struct Escalation {
    /// Escalations and contacts.
    pub store: Arc<dyn EscalationStore>,
    /// Opens sealed contact addresses.
    pub keyring: Arc<Keyring>,
    /// Alerts as durable events.
    pub events: Publisher,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Channels, this instance's name in claims, the loop's bell.
    pub engine: Arc<Engine>,
    /// Links, bars and timeouts.
    pub settings: Arc<Settings>,
    /// Time.
    pub clock: SharedClock,
}

/// The escalation engine of one instance: its channels, its name in claims, and a bell that
/// wakes its loop.
pub struct Engine {
    /// The providers.
    pub channels: Channels,
    /// This instance's name in claims (random per start).
    pub instance: String,
    /// Retries of one channel.
    pub policy: RetryPolicy,
    pub(crate) wake: tokio::sync::Notify,
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

/// The escalation a detection opens, at `now`: its id names the tenant, the session and the
/// detection's seq (the same detection opens it once; another tenant's session of the same id
/// opens its own).
pub fn record_for(d: &DetectionRecord, now: i64) -> EscalationRecord {
    EscalationRecord {
        id: format!("es_{}_{}_{}", d.tenant_id, d.session, d.seq),
        tenant_id: d.tenant_id.clone(),
        session: d.session.clone(),
        seq: d.seq,
        sub: d.user.clone(),
        person_name: d.user_name.clone().or(d.user.clone()).unwrap_or_default(),
        account_name: d.account_name.clone().or(d.account.clone()).unwrap_or_default(),
        emotion: d.emotion,
        section: d.section.clone(),
        confidence: d.confidence,
        value_cents: d.value_cents,
        state: EscalationState::Open,
        step: 0,
        next_at_ms: now,
        claimed_by: None,
        claim_until_ms: 0,
        acked_by: None,
        acked_ms: None,
        detected_ms: d.created_ms,
        created_ms: now,
        updated_ms: now,
    }
}

/// Opens an escalation for a detection that met the paging bar: persisted first, then paged by
/// whichever instance claims it (this one, at once, unless another was quicker). Returns false
/// when the detection had been escalated already.
///
/// One person is paged about at most once per [`PERSON_COOLDOWN_MS`], whatever the sessions:
/// a visitor token of a valuable account cannot open escalation after escalation (each a real
/// text message) by opening fresh sessions.
pub async fn open(app: &Escalation, d: &DetectionRecord) -> Result<bool, crate::store::StoreError> {
    let now = app.clock.now_ms();
    if let Some(sub) = &d.user {
        if app.store.escalated_since(&d.tenant_id, sub, now - PERSON_COOLDOWN_MS).await? {
            inc(&app.metrics.tenant(&d.tenant_id).escalations_suppressed);
            tracing::info!(tenant = %d.tenant_id, session = %d.session, "escalation not opened: this person was escalated lately");
            return Ok(false);
        }
    }
    let e = record_for(d, now);
    if !app.store.insert_escalation(&e).await? {
        return Ok(false);
    }
    inc(&app.metrics.tenant(&e.tenant_id).escalations);
    tracing::info!(tenant = %e.tenant_id, escalation = %e.id, value_cents = e.value_cents, "escalation opened");
    page_due(app, &e.id).await;
    Ok(true)
}

/// How long after an escalation about a person no other is opened about them, ms (30 min).
pub const PERSON_COOLDOWN_MS: i64 = 30 * 60_000;

/// The engine's loop: pages every due escalation, then sleeps until [`POLL`] passes or it is woken.
pub async fn run(app: Escalation) {
    loop {
        match app.store.due_escalations(app.clock.now_ms(), BATCH).await {
            Ok(ids) => {
                for id in ids {
                    let app = app.clone();
                    tokio::spawn(async move { page_due(&app, &id).await });
                }
            }
            Err(e) => tracing::error!(error = %e, "due escalations could not be read"),
        }
        let _ = tokio::time::timeout(POLL, app.engine.wake.notified()).await;
    }
}

/// Claims escalation `id` if it is due and nobody holds it, and takes its next step.
async fn page_due(app: &Escalation, id: &str) {
    let now = app.clock.now_ms();
    let until = now + app.settings.escalation_lease_ms as i64;
    let e = match app.store.claim_escalation(id, &app.engine.instance, now, until).await {
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
        advance(app, &e, e.step, i64::MAX, EscalationState::Exhausted).await;
        return;
    };
    let delivered = page(app, &e, contact).await;
    let next_at = if delivered { app.clock.now_ms() + app.settings.ack_timeout_ms as i64 } else { app.clock.now_ms() };
    advance(app, &e, e.step + 1, next_at, EscalationState::Open).await;
    if !delivered {
        // Every channel of this contact failed: the next one is due now.
        app.engine.wake.notify_one();
    }
}

async fn advance(app: &Escalation, e: &EscalationRecord, step: i64, next_at: i64, state: EscalationState) {
    match app.store.advance_escalation(&e.id, &app.engine.instance, step, next_at, state, app.clock.now_ms()).await {
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
async fn page(app: &Escalation, e: &EscalationRecord, contact: &Contact) -> bool {
    let tenant = &e.tenant_id;
    let counters = app.metrics.tenant(tenant);
    let exp = (app.clock.now_ms() / 1000) as u64 + app.settings.link_ttl_secs;
    let link = link(&app.settings, e, &contact.id, exp);
    let alert = Alert {
        id: format!("al_{}_{}", e.id, e.step),
        tenant: tenant.clone(),
        summary: summary(e),
        text: alert_text(&e.person_name, &e.account_name, e.value_cents, e.emotion.name(), &e.section, e.confidence),
        link: link.clone(),
        severity: if e.value_cents >= app.settings.critical_value_cents { Severity::Critical } else { Severity::Error },
        value_cents: e.value_cents,
        at_ms: e.detected_ms,
    };
    let first = Endpoint { id: contact.id.clone(), channel: contact.channel.clone(), address: contact.address.clone() };
    for (i, ep) in std::iter::once(&first).chain(contact.fallbacks.iter()).enumerate() {
        let address = open_endpoint(app, tenant, ep, i == 0);
        let outcome = match ChannelKind::parse(&ep.channel) {
            Some(kind) => app.engine.channels.deliver(kind, &address, &alert, &app.engine.policy).await,
            None => Outcome { result: Err(SendError::InvalidAddress(format!("unknown channel {:?}", ep.channel))), attempts: Vec::new() },
        };
        let ok = outcome.result.is_ok();
        if ok {
            inc(&counters.alerts_sent);
            tracing::info!(tenant = %tenant, escalation = %e.id, contact = %contact.id, channel = %ep.channel, "alert delivered");
        } else {
            inc(&counters.alerts_failed);
        }
        // What the record may say of a failure: no URL (it may carry the endpoint's token), and
        // nothing of what a tenant's own webhook answered (a reader of the alerts list must not
        // be able to read a page of a host the server can reach).
        let webhook = ChannelKind::parse(&ep.channel) == Some(ChannelKind::Webhook);
        let public = |status: Option<u16>, text: &str| match status {
            Some(status) if webhook => format!("the endpoint answered HTTP {status}"),
            _ => redact::error_without_urls(text),
        };
        let error = outcome.result.as_ref().err().map(|err| public(err.status(), &err.to_string()));
        let attempts: Vec<_> = outcome
            .attempts
            .iter()
            .cloned()
            .map(|mut a| {
                a.error = a.error.as_deref().map(|text| public(a.status, text));
                a
            })
            .collect();
        if let Some(error) = &error {
            tracing::error!(tenant = %tenant, escalation = %e.id, contact = %contact.id, channel = %ep.channel, error, "alert not delivered");
        }
        app.events.event(Event::Alert(AlertRecord {
            id: format!("{}_{i}", alert.id),
            tenant_id: tenant.clone(),
            session: e.session.clone(),
            contact_id: contact.id.clone(),
            channel: ep.channel.clone(),
            address: redact::mask_address(&address),
            status: if ok { "sent" } else { "failed" }.into(),
            provider_id: outcome.result.as_ref().ok().and_then(|d| d.provider_id.clone()),
            error,
            attempts: attempts.len() as i64,
            link: redact::link_without_secrets(&link),
            created_ms: app.clock.now_ms(),
            escalation_id: Some(e.id.clone()),
            attempt_log: serde_json::to_value(&attempts).unwrap_or_default(),
        }));
        if ok {
            return true;
        }
    }
    false
}

/// An endpoint's address, opened (the first is the contact row's, the others fallback rows').
fn open_endpoint(app: &Escalation, tenant: &str, ep: &Endpoint, first: bool) -> String {
    let column = if first { SealedColumn::ContactAddress } else { SealedColumn::FallbackAddress };
    app.keyring.open_stored(column, tenant, &ep.id, &ep.address)
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
pub async fn acknowledge(app: &Escalation, tenant: &str, id: &str, who: &str) -> Result<Acked, crate::store::StoreError> {
    match app.store.acknowledge_escalation(tenant, id, who, app.clock.now_ms()).await? {
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
    fn an_escalations_id_names_its_tenant() {
        let d = |tenant: &str| DetectionRecord {
            tenant_id: tenant.into(),
            session: "0000000000000077".into(),
            seq: 2,
            emotion: shared_physics::Emotion::Rage,
            confidence: 0.9,
            client_confidence: 0.9,
            section: "checkout".into(),
            user: None,
            user_name: None,
            account: None,
            account_name: None,
            value_cents: 0,
            features: serde_json::json!({}),
            evidence: Vec::new(),
            t_ms: 0,
            created_ms: 1,
        };
        let (a, b) = (record_for(&d("t_a"), 5), record_for(&d("t_b"), 5));
        assert_ne!(a.id, b.id, "the same session id and seq in two tenants are two escalations");
        assert_eq!(record_for(&d("t_a"), 9).id, a.id, "the same detection opens one");
    }

    #[test]
    fn alert_text_names_who_what_where_and_the_value() {
        let t = alert_text("Jane Doe", "Acme Corp", 10_000_000, "rage", "checkout", 0.934);
        assert_eq!(t, "SentientIQ: Jane Doe (Acme Corp, $100,000 lifetime value) is showing rage in the checkout section (93% confidence). Live session:");
    }
}
