//! What the dashboard pages read beyond the resources' own routes: who is signed in, the live
//! struggles as episodes, the broken controls the crowd has found, and the session view (for a
//! signed-in user, or through an alert's signed link) with its actions: "I've got it", send help
//! to the page now, "not a struggle".
//!
//! An alert's link carries two separate capabilities: `sig` lets its holder **view** the
//! session (`t`, `exp`, `sig`); `ack` lets the contact it was sent to **act** on that
//! escalation (`e`, `c`, `ack`). Opening the link acts on nothing: acknowledging is a tap.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{text_field, Actor, Body, LinkQuery, Role};
use crate::api::error::ApiError;
use crate::confirm::crowd::{Crowds, CROWDS};
use crate::escalation::{self, Acked};
use crate::records::events::{Event, Push};
use crate::records::{DetectionRecord, EscalationRecord, InterventionRecord, SealedColumn};
use crate::state::AppState;
use crate::store::FalsePositive;

/// Detections of the same session and emotion closer than this belong to one episode, ms: a
/// burst whose confidence climbs 80 → 98 → 99% is one struggle, not three.
pub const EPISODE_GAP_MS: i64 = 60_000;
/// Detections the live struggles are grouped from (the newest).
pub const EPISODE_SOURCE: i64 = 500;
/// What "send help now" shows when the tenant has no `help` variant for the emotion.
pub const DEFAULT_HELP: &str =
    "A person from our team is looking at this with you right now. Stay on this page: we'll reach you in a moment.";

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/dashboard/me", get(me))
        .route("/v1/struggles", get(struggles))
        .route("/v1/dashboard/accounts", get(accounts))
        .route("/v1/dashboard/broken-controls", get(broken_controls))
        .route("/v1/dashboard/sessions/{session}", get(session_for_user))
        .route("/v1/dashboard/sessions/{session}/actions", post(act_as_user))
        .route("/v1/sessions/{session}/actions", post(act_by_link))
}

/// `GET /v1/dashboard/me`: who is signed in, their role, and the CSRF token their page sends
/// on writes.
#[utoipa::path(get, path = "/v1/dashboard/me", tag = "dashboard", responses((status = 200, description = "the tenant, the user, the role and the CSRF token")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn me(State(app): State<AppState>, actor: Actor) -> Json<serde_json::Value> {
    let csrf = actor.session.as_deref().map(|s| crate::identity::tokens::csrf_token(&app.config.link_secret, s));
    let email = match actor.id.strip_prefix("user:") {
        Some(u) => match app.store.user(&actor.tenant.id, u).await {
            Ok(Some(user)) => app.keyring.open_field(SealedColumn::UserEmail, &user.tenant_id, &user.id, &user.email_sealed).ok(),
            _ => None,
        },
        None => None,
    };
    Json(json!({
        "tenant": {"id": actor.tenant.id, "name": actor.tenant.name},
        "actor": actor.id, "email": email, "role": actor.role, "csrf": csrf,
    }))
}

/// One struggle: consecutive detections of one emotion in one session.
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct Episode {
    /// `{session}:{first seq}`: stable while the episode grows.
    pub id: String,
    /// Session.
    pub session: String,
    /// Emotion.
    pub emotion: &'static str,
    /// Section of the latest detection.
    pub section: String,
    /// Highest confirmed confidence.
    pub confidence: f64,
    /// Every detection's confidence, oldest first (80 → 98 → 99).
    pub confidences: Vec<f64>,
    /// Sequence numbers of its detections, oldest first.
    pub seqs: Vec<i64>,
    /// The person's name (or "anonymous visitor").
    pub who: String,
    /// Whether the visitor is identified.
    pub identified: bool,
    /// Account name, if known.
    pub account: Option<String>,
    /// Account value, cents.
    pub value_cents: i64,
    /// First and latest detection, ms.
    pub first_ms: i64,
    /// Latest detection, ms.
    pub last_ms: i64,
    /// The physics of the strongest detection.
    pub features: serde_json::Value,
}

/// Groups detections (any order) into episodes, newest first.
pub fn episodes(mut ds: Vec<DetectionRecord>) -> Vec<Episode> {
    ds.sort_by(|a, b| {
        (a.session.as_str(), a.emotion.name(), a.created_ms, a.seq).cmp(&(b.session.as_str(), b.emotion.name(), b.created_ms, b.seq))
    });
    let mut out: Vec<Episode> = Vec::new();
    for d in ds {
        let joins = out
            .last()
            .is_some_and(|e| e.session == d.session && e.emotion == d.emotion.name() && d.created_ms - e.last_ms <= EPISODE_GAP_MS);
        if joins {
            let e = out.last_mut().expect("checked");
            e.confidences.push(d.confidence);
            e.seqs.push(d.seq);
            e.last_ms = d.created_ms;
            e.section = d.section.clone();
            if d.confidence >= e.confidence {
                e.confidence = d.confidence;
                e.features = d.features.clone();
            }
            if d.value_cents > e.value_cents {
                e.value_cents = d.value_cents;
            }
            continue;
        }
        out.push(Episode {
            id: format!("{}:{}", d.session, d.seq),
            session: d.session.clone(),
            emotion: d.emotion.name(),
            section: d.section.clone(),
            confidence: d.confidence,
            confidences: vec![d.confidence],
            seqs: vec![d.seq],
            who: d.user_name.clone().unwrap_or_else(|| {
                if d.user.is_some() {
                    "an identified customer".into()
                } else {
                    "anonymous visitor".into()
                }
            }),
            identified: d.user.is_some(),
            account: d.account_name.clone().or(d.account.clone()),
            value_cents: d.value_cents,
            first_ms: d.created_ms,
            last_ms: d.created_ms,
            features: d.features.clone(),
        });
    }
    out.sort_by(|a, b| b.last_ms.cmp(&a.last_ms).then(a.id.cmp(&b.id)));
    out
}

/// `?min_value_cents=&emotion=&limit=` of `GET /v1/struggles`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StruggleQuery {
    /// Only accounts worth at least this, cents.
    min_value_cents: Option<i64>,
    /// Only this emotion.
    #[param(pattern = "^(rage|frustration|confusion|hesitation|abandonment|engaged)$")]
    emotion: Option<String>,
    /// At most this many episodes (default 50).
    limit: Option<i64>,
}

/// Names people by what they are called: a contact's or user's name for `contact:…`/`user:…`.
async fn names(app: &AppState, tenant: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut n = HashMap::new();
    for c in app.store.contacts(tenant).await? {
        let role = if c.role.is_empty() { String::new() } else { format!(" ({})", c.role) };
        n.insert(format!("contact:{}", c.id), format!("{}{role}", c.name));
    }
    for u in app.store.users(tenant).await? {
        if let Ok(email) = app.keyring.open_field(SealedColumn::UserEmail, tenant, &u.id, &u.email_sealed) {
            n.insert(format!("user:{}", u.id), email);
        }
    }
    Ok(n)
}

fn named(names: &HashMap<String, String>, who: Option<&str>) -> Option<String> {
    who.map(|w| {
        names.get(w).cloned().unwrap_or_else(|| if w.starts_with("key:") { "the tenant's backend".into() } else { "a colleague".into() })
    })
}

/// `GET /v1/struggles`: the live struggles as episodes, newest first: who, account and value,
/// where, what, and what was done (interventions, escalation and who took it, false-positive
/// reports).
#[utoipa::path(get, path = "/v1/struggles", tag = "dashboard", params(StruggleQuery), responses((status = 200, description = "episodes, newest first")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn struggles(State(app): State<AppState>, actor: Actor, q: super::Q<StruggleQuery>) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let t = &actor.tenant.id;
    let emotion =
        super::named_param::<shared_physics::Emotion>("emotion", q.emotion.as_deref(), "emotion must be one of the six emotions")?;
    let ds = app.store.detections(t, None, EPISODE_SOURCE).await?;
    let interventions = app.store.interventions(t, EPISODE_SOURCE).await?;
    let escalations = app.store.escalations(t, None, None, 200).await?;
    let reported = app.store.false_positives(t, 0).await?;
    let names = names(&app, t).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, super::MAX_LIST) as usize;
    let shown: Vec<Episode> = episodes(ds)
        .into_iter()
        .filter(|e| q.min_value_cents.is_none_or(|m| e.value_cents >= m))
        .filter(|e| emotion.is_none_or(|em| em.name() == e.emotion))
        .take(limit)
        .collect();
    // The page each session was on (one read per session shown).
    let mut pages: HashMap<String, String> = HashMap::new();
    for e in &shown {
        if !pages.contains_key(&e.session) {
            let page = app.store.session(t, &e.session).await?.map(|r| r.page).unwrap_or_default();
            pages.insert(e.session.clone(), page);
        }
    }
    let items: Vec<serde_json::Value> = shown
        .into_iter()
        .map(|e| {
            let done: Vec<&InterventionRecord> = interventions.iter().filter(|i| i.session == e.session && e.seqs.contains(&i.seq)).collect();
            let esc: Option<&EscalationRecord> = escalations.iter().find(|x| x.session == e.session && x.detected_ms >= e.first_ms - EPISODE_GAP_MS);
            let fp = reported.iter().any(|r| r.session == e.session && e.seqs.contains(&r.seq));
            json!({
                "page": pages.get(&e.session),
                "episode": e,
                "interventions": done.iter().map(|i| json!({"text": i.text, "at_ms": i.created_ms})).collect::<Vec<_>>(),
                "escalation": esc.map(|x| json!({"id": x.id, "state": x.state, "step": x.step, "acked_by": named(&names, x.acked_by.as_deref()), "acked_ms": x.acked_ms})),
                "not_a_struggle": fp,
            })
        })
        .collect();
    Ok(Json(json!({"items": items, "episode_gap_ms": EPISODE_GAP_MS})))
}

/// Everything the session view shows, names resolved.
async fn session_view(app: &AppState, tenant: &str, session: &str, can_read_email: bool) -> Result<serde_json::Value, ApiError> {
    let rec = app.store.session(tenant, session).await?.ok_or_else(|| ApiError::not_found("session"))?;
    let now = app.clock.now_ms();
    let detections = app.store.detections(tenant, Some(session), super::MAX_LIST).await?;
    let customer = match &rec.user {
        Some(sub) => app.store.customer(tenant, sub).await?,
        None => None,
    };
    let name = customer.as_ref().and_then(|c| c.name.clone()).or_else(|| detections.iter().find_map(|d| d.user_name.clone()));
    let email = match (&customer, can_read_email) {
        (Some(c), true) => {
            c.email_sealed.as_deref().and_then(|s| app.keyring.open_field(SealedColumn::CustomerEmail, tenant, &c.sub, s).ok())
        }
        _ => None,
    };
    let account = rec.account.as_deref().and_then(|a| app.identity.account(tenant, a));
    let context = rec.user.as_deref().and_then(|sub| app.identity.context(tenant, sub, now));
    let interventions = app.store.session_interventions(tenant, session).await?;
    let escalation = app.store.escalations(tenant, None, None, 200).await?.into_iter().find(|e| e.session == session);
    let cards = app.store.cards(tenant, None, None, 200).await?;
    let card = cards.iter().find(|c| c.session == session);
    let reported: Vec<i64> =
        app.store.false_positives(tenant, 0).await?.into_iter().filter(|r| r.session == session).map(|r| r.seq).collect();
    let names = names(app, tenant).await?;
    let trace = crate::forensics::trace::of(&detections);
    Ok(json!({
        "session": {"session": rec.session, "page": rec.page, "started_ms": rec.started_ms, "active_minutes": rec.active_minutes},
        "person": {
            "name": name.unwrap_or_else(|| if rec.user.is_some() { "An identified customer".into() } else { "An anonymous visitor".into() }),
            "identified": rec.user.is_some(),
            "email": email,
            "company": customer.as_ref().and_then(|c| c.company.clone()),
        },
        "account": account,
        "strength": customer.as_ref().map(|c| json!({"score": c.strength, "segment": c.segment, "factors": c.factors, "scored_ms": c.scored_ms})),
        "context": context,
        "detections": super::without_evidence(&detections),
        "not_a_struggle": reported,
        "trace": trace,
        "interventions": interventions,
        "escalation": escalation.map(|e| json!({
            "id": e.id, "state": e.state, "step": e.step, "acked_by": named(&names, e.acked_by.as_deref()), "acked_ms": e.acked_ms,
            "emotion": e.emotion.name(), "section": e.section, "confidence": e.confidence,
        })),
        "opener": card.map(|c| json!({"id": c.id, "text": c.opener, "state": c.state})),
    }))
}

/// `GET /v1/dashboard/sessions/{session}`: the session view for a signed-in user.
#[utoipa::path(get, path = "/v1/dashboard/sessions/{session}", tag = "dashboard", params(("session" = String, Path)), responses((status = 200, description = "the person, account, strength, context, plot, detections, opener and escalation"), (status = 404, description = "no such session")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn session_for_user(
    State(app): State<AppState>,
    actor: Actor,
    Path(session): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut v = session_view(&app, &actor.tenant.id, &session, actor.role >= Role::Member).await?;
    v["can_act"] = json!(actor.role >= Role::Member);
    Ok(Json(v))
}

/// `GET /v1/sessions/{session}?t=&exp=&sig=[&e=&c=&ack=]`: the session view through an alert's
/// signed link. The paged contact (a valid `ack`) also sees the customer's email, to reach them.
#[utoipa::path(get, path = "/v1/sessions/{session}", tag = "sessions", params(("session" = String, Path), LinkQuery), responses((status = 200, description = "the person, account, strength, context, plot, detections, opener and escalation"), (status = 403, description = "invalid or expired link"), (status = 404, description = "no such session")))]
pub async fn session_by_link(
    State(app): State<AppState>,
    Path(session): Path<String>,
    q: super::Q<LinkQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    super::check_link(&app, &session, &q)?;
    let contact = acting_contact(&app, &session, &q).await.ok();
    let mut v = session_view(&app, &q.t, &session, contact.is_some()).await?;
    v["can_act"] = json!(contact.is_some());
    Ok(Json(v))
}

/// What a person can do from the session view.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// "I've got it": acknowledge the session's escalation (nobody further is paged).
    Acknowledge,
    /// Push help into the customer's page now.
    SendHelp,
    /// "Not a struggle": report the detection as a false positive.
    NotAStruggle,
}

/// Body of the session view's actions.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Action {
    action: ActionKind,
    /// The detection a "not a struggle" is about (default: the session's newest).
    #[serde(default)]
    seq: Option<i64>,
}

async fn act(
    app: &AppState,
    tenant: &str,
    session: &str,
    who: &str,
    escalation_id: Option<&str>,
    a: &Action,
) -> Result<serde_json::Value, ApiError> {
    let names = names(app, tenant).await?;
    match a.action {
        ActionKind::Acknowledge => {
            let id = match escalation_id {
                Some(e) => e.to_string(),
                None => app
                    .store
                    .escalations(tenant, None, None, 200)
                    .await?
                    .into_iter()
                    .find(|e| e.session == session)
                    .map(|e| e.id)
                    .ok_or_else(|| ApiError::not_found("escalation of this session"))?,
            };
            let acked = escalation::acknowledge(&app.escalation, tenant, &id, who).await?;
            let (now, e) = match acked {
                Acked::Now(e) => (true, e),
                Acked::Already(e) => (false, e),
                Acked::Unknown => return Err(ApiError::not_found("escalation")),
            };
            if now {
                crate::identity::customers::audit(
                    &app.people,
                    tenant,
                    who,
                    "escalation.ack",
                    &format!("escalation:{id}"),
                    json!({"via": "session view"}),
                )
                .await?;
            }
            Ok(json!({"action": "acknowledge", "acknowledged": now, "state": e.state, "acked_by": named(&names, e.acked_by.as_deref())}))
        }
        ActionKind::SendHelp => {
            let ds = app.store.detections(tenant, Some(session), 1).await?;
            let d = ds.first().ok_or_else(|| ApiError::not_found("detection in this session"))?;
            let wire =
                u64::from_str_radix(session, 16).map_err(|_| ApiError::bad_request("not a session id", json!({"field": "session"})))?;
            let variants = app.store.all_variants().await?;
            let help = variants
                .iter()
                .filter(|(t, v)| t == tenant && v.kind == "help" && v.emotion == d.emotion && !v.text.is_empty())
                .max_by_key(|(_, v)| (v.section == d.section) as u8)
                .map(|(_, v)| v.text.clone())
                .unwrap_or_else(|| DEFAULT_HELP.to_string());
            let id = crate::records::random_u32();
            let now = app.clock.now_ms();
            app.events.push(Push { tenant_id: tenant.to_string(), session: wire, id, emotion: d.emotion, text: help.clone() });
            app.events.event(Event::Intervention(InterventionRecord {
                id: format!("human_{session}_{id:08x}"),
                tenant_id: tenant.to_string(),
                session: session.to_string(),
                seq: d.seq,
                emotion: d.emotion,
                text: help.clone(),
                created_ms: now,
            }));
            crate::identity::customers::audit(
                &app.people,
                tenant,
                who,
                "session.help",
                &format!("session:{session}"),
                json!({"seq": d.seq}),
            )
            .await?;
            Ok(json!({"action": "send_help", "text": help}))
        }
        ActionKind::NotAStruggle => {
            let ds = app.store.detections(tenant, Some(session), super::MAX_LIST).await?;
            let d = match a.seq {
                Some(seq) => ds.iter().find(|d| d.seq == seq),
                None => ds.first(),
            }
            .ok_or_else(|| ApiError::not_found("detection"))?;
            let r = FalsePositive {
                tenant_id: tenant.to_string(),
                session: session.to_string(),
                seq: d.seq,
                emotion: d.emotion.name().to_string(),
                section: d.section.clone(),
                reporter: who.to_string(),
                created_ms: app.clock.now_ms(),
            };
            let new = app.store.report_false_positive(&r).await?;
            if new {
                crate::identity::customers::audit(
                    &app.people,
                    tenant,
                    who,
                    "detection.false_positive",
                    &format!("session:{session}"),
                    json!({"seq": d.seq, "emotion": r.emotion}),
                )
                .await?;
            }
            Ok(json!({"action": "not_a_struggle", "seq": d.seq, "reported": new}))
        }
    }
}

/// `POST /v1/dashboard/sessions/{session}/actions`: a signed-in member acts on the session.
#[utoipa::path(post, path = "/v1/dashboard/sessions/{session}/actions", tag = "dashboard", params(("session" = String, Path)), request_body = Action, responses((status = 200, description = "done"), (status = 403, description = "needs member, or a missing CSRF token"), (status = 404, description = "no such session, escalation or detection")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn act_as_user(
    State(app): State<AppState>,
    actor: Actor,
    Path(session): Path<String>,
    body: Body<Action>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(a) = body?;
    actor.require(Role::Member)?;
    let session = text_field("session", &session)?.to_string();
    Ok(Json(act(&app, &actor.tenant.id, &session, &actor.id, None, &a).await?))
}

/// The query of an alert's link with the acting capability.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActQuery {
    /// Tenant.
    t: String,
    /// Expiry, seconds since the epoch.
    exp: u64,
    /// The view signature (unused here; the link carries it).
    #[serde(default)]
    #[allow(dead_code)]
    sig: Option<String>,
    /// The escalation.
    e: Option<String>,
    /// The contact paged.
    c: Option<String>,
    /// The acknowledgement signature of `(t, e, c, exp)`.
    ack: Option<String>,
}

/// The contact an alert's link lets act on `session`: its `ack` signs `(t, e, c, exp)` and the
/// escalation `e` is this session's.
async fn acting_contact(app: &AppState, session: &str, q: &LinkQuery) -> Result<(String, String), ApiError> {
    let (Some(e), Some(c), Some(ack)) = (&q.e, &q.c, &q.ack) else {
        return Err(ApiError::forbidden("this link lets you view the session, not act on it"));
    };
    let now = app.clock.now_ms() as u64 / 1000;
    if !crate::identity::tokens::verify_ack(&app.config.link_secret, &q.t, e, c, q.exp, ack, now) {
        return Err(ApiError::forbidden("this link's acknowledgement is not valid or has expired"));
    }
    match app.store.escalation(&q.t, e).await? {
        Some(x) if x.session == session => Ok((e.clone(), format!("contact:{c}"))),
        Some(_) => Err(ApiError::forbidden("this link's escalation is not about this session")),
        None => Err(ApiError::not_found("escalation")),
    }
}

/// `POST /v1/sessions/{session}/actions?t=&exp=&e=&c=&ack=`: the paged contact acts from the
/// session view of their alert's link (a tap, never on opening it).
#[utoipa::path(post, path = "/v1/sessions/{session}/actions", tag = "sessions", params(("session" = String, Path), ActQuery), request_body = Action, responses((status = 200, description = "done"), (status = 403, description = "the link does not let its holder act on this session"), (status = 404, description = "no such session, escalation or detection")))]
pub async fn act_by_link(
    State(app): State<AppState>,
    Path(session): Path<String>,
    q: super::Q<ActQuery>,
    body: Body<Action>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let Json(a) = body?;
    let link = LinkQuery { t: q.t, exp: q.exp, sig: String::new(), e: q.e, c: q.c, ack: q.ack };
    let (escalation, who) = acting_contact(&app, &session, &link).await?;
    Ok(Json(act(&app, &link.t, &session, &who, Some(&escalation), &a).await?))
}

/// `GET /v1/dashboard/accounts`: every account with its value, its last 90 days' revenue, its
/// customers, their mean identity strength and how that mean moved over 30 days (from the
/// daily snapshots; none without two days of them).
#[utoipa::path(get, path = "/v1/dashboard/accounts", tag = "dashboard", responses((status = 200, description = "accounts with value, revenue, people, strength and its 30-day trend")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn accounts(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    let t = &actor.tenant.id;
    let now = app.clock.now_ms();
    let accounts = app.store.all_accounts(Some(t), now).await?;
    let customers = app.store.customers(t, None, crate::store::CustomerOrder::StrengthAsc, None, super::MAX_LIST).await?;
    let today = now.div_euclid(crate::forensics::DAY_MS);
    let snaps = app.store.snapshots_since(t, today - 30).await?;
    // Per customer: (first day, its score, last day, its score) in the window.
    let mut moved: HashMap<&str, (i64, f64, i64, f64)> = HashMap::new();
    for (sub, day, score) in &snaps {
        let e = moved.entry(sub.as_str()).or_insert((*day, *score, *day, *score));
        if *day < e.0 {
            (e.0, e.1) = (*day, *score);
        }
        if *day > e.2 {
            (e.2, e.3) = (*day, *score);
        }
    }
    let items: Vec<serde_json::Value> = accounts
        .iter()
        .map(|(_, a)| {
            let people: Vec<_> = customers.iter().filter(|c| c.account.as_deref() == Some(a.account.as_str())).collect();
            let strength = (!people.is_empty()).then(|| people.iter().map(|c| c.strength).sum::<f64>() / people.len() as f64);
            let deltas: Vec<f64> = people.iter().filter_map(|c| moved.get(c.sub.as_str())).filter(|m| m.2 > m.0).map(|m| m.3 - m.1).collect();
            let trend = (!deltas.is_empty()).then(|| deltas.iter().sum::<f64>() / deltas.len() as f64);
            json!({"account": a.account, "name": a.name, "value_cents": a.value_cents, "recent_cents": a.recent_cents, "customers": people.len(), "strength": strength, "trend": trend})
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

/// The broken controls of a tenant: spots where many visitors' clicks go unanswered, the most
/// visited first.
#[derive(Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BrokenControls {
    /// The spots, the most visited first (at most 100).
    #[schema(max_items = 100)]
    pub spots: Vec<BrokenControl>,
}

/// One broken control: a 16 px spot of a page where at least 5 (decayed) visitors clicked and
/// half or more of them got no answer.
#[derive(Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BrokenControl {
    /// The page's path, as the visitors' pages reported it.
    pub page: String,
    /// The left edge of the spot's 16 px square, viewport px.
    pub x: i32,
    /// The top edge of the spot's 16 px square, viewport px.
    pub y: i32,
    /// Visitors who clicked there, each counting half as much every 7 days (2 decimals).
    #[schema(minimum = 0.0)]
    pub visitors: f64,
    /// Share of them whose clicks there went unanswered (2 decimals).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub unanswered_share: f64,
    /// Rage and frustration detections there that were recorded but not intervened on.
    pub held_back: u32,
    /// When the first of them was, ms since the Unix epoch; null when none was.
    pub first_held_ms: Option<i64>,
    /// When the latest of them was, ms since the Unix epoch; null when none was.
    pub last_held_ms: Option<i64>,
}

/// `tenant`'s broken controls in `crowds` at `now_s` (wall-clock seconds), as the API answers.
pub fn broken_controls_of(crowds: &Crowds, tenant: &str, now_s: u32) -> BrokenControls {
    let two = |v: f32| (f64::from(v) * 100.0).round() / 100.0;
    let spots = crowds
        .broken(tenant, now_s)
        .into_iter()
        .map(|s| BrokenControl {
            page: s.page,
            x: s.x,
            y: s.y,
            visitors: two(s.visitors),
            unanswered_share: two(s.unanswered_share),
            held_back: s.held_back,
            first_held_ms: s.held_s.map(|h| i64::from(h.0) * 1000),
            last_held_ms: s.held_s.map(|h| i64::from(h.1) * 1000),
        })
        .collect();
    BrokenControls { spots }
}

/// `GET /v1/dashboard/broken-controls`: spots where many visitors' clicks go unanswered (at
/// least 5 visitors, half or more of them unanswered), as findings about the page rather than
/// each visitor's rage: the page, where on it, the visitors, their share unanswered and the
/// detections held back there. Each server instance learns from the sessions it holds (once
/// they have been idle 30 minutes), so the list is this instance's.
#[utoipa::path(get, path = "/v1/dashboard/broken-controls", tag = "dashboard", responses((status = 200, description = "this instance's broken controls of the tenant, the most visited first", body = BrokenControls)), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn broken_controls(State(app): State<AppState>, actor: Actor) -> Json<BrokenControls> {
    let now_s = u32::try_from(app.clock.now_ms() / 1000).unwrap_or(u32::MAX);
    Json(broken_controls_of(&CROWDS, &actor.tenant.id, now_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_physics::Emotion;

    fn d(session: &str, seq: i64, emotion: Emotion, confidence: f64, at: i64) -> DetectionRecord {
        DetectionRecord {
            tenant_id: "t".into(),
            session: session.into(),
            seq,
            emotion,
            confidence,
            client_confidence: confidence,
            section: "checkout".into(),
            user: Some("u_jane".into()),
            user_name: Some("Jane Doe".into()),
            account: Some("acme".into()),
            account_name: Some("Acme Corp".into()),
            value_cents: 10_000_000,
            features: json!({"clicks": seq}),
            evidence: vec![],
            t_ms: at,
            created_ms: at,
        }
    }

    #[test]
    fn a_burst_climbing_80_98_99_is_one_episode() {
        let ds = vec![
            d("a", 3, Emotion::Rage, 0.99, 1_300),
            d("a", 1, Emotion::Rage, 0.80, 1_000),
            d("a", 2, Emotion::Rage, 0.98, 1_150),
            // Another emotion in the same session, another session, and the same later on.
            d("a", 4, Emotion::Confusion, 0.9, 2_000),
            d("b", 1, Emotion::Rage, 0.9, 1_000),
            d("a", 9, Emotion::Rage, 0.9, 1_300 + EPISODE_GAP_MS + 1),
        ];
        let e = episodes(ds);
        assert_eq!(e.len(), 4, "{e:?}");
        let burst = e.iter().find(|x| x.id == "a:1").unwrap();
        assert_eq!((burst.confidences.clone(), burst.seqs.clone(), burst.confidence), (vec![0.80, 0.98, 0.99], vec![1, 2, 3], 0.99));
        assert_eq!(
            (burst.who.as_str(), burst.account.as_deref(), burst.features["clicks"].as_i64()),
            ("Jane Doe", Some("Acme Corp"), Some(3))
        );
        assert_eq!(e[0].id, "a:9", "newest first");
    }
}
