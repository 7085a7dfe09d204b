//! Escalation chains and escalations: the contacts paged for valuable accounts (with value
//! thresholds and channels in order), the escalations opened and who acknowledged them, and the
//! acknowledgement behind an alert's one-click link (docs/escalation.md).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{listed, text_field, Actor, Body, Listed, Role};
use crate::api::error::ApiError;
use crate::escalation::channels::webhook::WebhookSecret;
use crate::escalation::channels::{validate_address, ChannelKind};
use crate::escalation::{self, Acked};
use crate::records::{EscalationState, SealedColumn};
use crate::state::AppState;
use crate::store::{Contact, Endpoint, TimeCursor};

/// Most further channels per contact.
pub const MAX_FALLBACKS: usize = 4;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts", get(list_contacts).post(add_contact))
        .route("/v1/contacts/{id}", delete(delete_contact))
        .route("/v1/escalations", get(list_escalations))
        .route("/v1/escalations/{id}/ack", post(ack_escalation))
        .route("/v1/ack", post(ack_link))
        .route("/v1/webhook-secret", get(webhook_secret))
}

/// `GET /v1/webhook-secret` (owner): the `whsec_…` key this tenant's webhook alerts are signed
/// with, its own (derived from the server's `SIQ_WEBHOOK_SECRET` and the tenant id), to verify
/// them with any Standard Webhooks library.
#[utoipa::path(get, path = "/v1/webhook-secret", tag = "escalation", responses((status = 200, description = "the tenant's webhook signing secret"), (status = 403, description = "needs owner"), (status = 404, description = "webhooks are not configured on this server")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn webhook_secret(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    let master = app.config.channels.webhook_secret.as_deref().and_then(|s| WebhookSecret::parse(s).ok());
    let Some(master) = master else {
        return Err(ApiError::not_found("webhook secret (webhooks are not configured on this server)"));
    };
    Ok(Json(json!({"secret": master.for_tenant(&actor.tenant.id).encoded()})))
}

/// A channel and address of a contact.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewEndpoint {
    /// `sms`, `whatsapp`, `slack`, `pagerduty`, `email` or `webhook`.
    #[schema(schema_with = channel_schema)]
    channel: String,
    /// E.164 number, Slack webhook URL, PagerDuty routing key, email address or https URL.
    address: String,
}

/// Body of `POST /v1/contacts`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewContact {
    #[schema(schema_with = super::schema::text)]
    name: String,
    /// Their role, shown in alerts (cut to 256 characters).
    #[serde(default)]
    role: String,
    /// The first channel tried.
    #[schema(schema_with = channel_schema)]
    channel: String,
    address: String,
    /// Paged only for accounts worth at least this, cents (default 0: every escalation).
    #[serde(default)]
    #[schema(minimum = 0)]
    min_value_cents: i64,
    /// Further channels, tried in order when the ones before fail (at most `MAX_FALLBACKS`, 4).
    #[serde(default)]
    #[schema(max_items = 4)]
    fallbacks: Vec<NewEndpoint>,
}

fn channel_schema() -> utoipa::openapi::schema::Object {
    super::schema::one_of(&ChannelKind::ALL.map(ChannelKind::as_str))
}

fn endpoint(app: &AppState, field: &str, channel: &str, address: &str) -> Result<(String, String), ApiError> {
    let kind = ChannelKind::parse(channel).ok_or_else(|| {
        ApiError::bad_request(
            format!("{field}: unknown channel {channel:?}"),
            json!({"field": field, "supported": ChannelKind::ALL.map(ChannelKind::as_str)}),
        )
    })?;
    let address = address.trim();
    validate_address(kind, address, app.config.channels.targets)
        .map_err(|why| ApiError::bad_request(format!("{field}: {why}"), json!({"field": field})))?;
    Ok((kind.as_str().to_string(), address.to_string()))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:08x}{:08x}", crate::records::random_u32(), crate::records::random_u32())
}

/// `POST /v1/contacts`: appends a person to the escalation chain.
#[utoipa::path(post, path = "/v1/contacts", tag = "escalation", request_body = NewContact, responses((status = 201, description = "appended to the chain"), (status = 400, description = "bad channel, address or threshold")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn add_contact(State(app): State<AppState>, actor: Actor, body: Body<NewContact>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let t = &actor.tenant;
    let (channel, address) = endpoint(&app, "address", &b.channel, &b.address)?;
    if b.min_value_cents < 0 {
        return Err(ApiError::bad_request("min_value_cents must be 0 or more", json!({"field": "min_value_cents"})));
    }
    if b.fallbacks.len() > MAX_FALLBACKS {
        return Err(ApiError::bad_request(format!("at most {MAX_FALLBACKS} fallbacks"), json!({"field": "fallbacks"})));
    }
    let id = new_id("c");
    let mut fallbacks = Vec::new();
    for (i, f) in b.fallbacks.iter().enumerate() {
        let (channel, address) = endpoint(&app, &format!("fallbacks[{i}]"), &f.channel, &f.address)?;
        let fid = new_id("cf");
        let sealed = app.keyring.seal_field(SealedColumn::FallbackAddress, &t.id, &fid, &address);
        fallbacks.push(Endpoint { id: fid, channel, address: sealed });
    }
    let c = Contact {
        address: app.keyring.seal_field(SealedColumn::ContactAddress, &t.id, &id, &address),
        id,
        position: 0,
        name: text_field("name", &b.name)?.to_string(),
        role: b.role.trim().chars().take(super::MAX_FIELD_BYTES).collect(),
        channel,
        min_value_cents: b.min_value_cents,
        fallbacks,
    };
    app.store.add_contact(&t.id, &c).await?;
    let channels: Vec<&str> = std::iter::once(c.channel.as_str()).chain(c.fallbacks.iter().map(|f| f.channel.as_str())).collect();
    actor
        .audit(
            &app,
            "contact.add",
            &format!("contact:{}", c.id),
            json!({"name": c.name, "role": c.role, "channels": channels, "min_value_cents": c.min_value_cents}),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": c.id}))).into_response())
}

/// `GET /v1/contacts`: the escalation chain in order, with each contact's channels.
#[utoipa::path(get, path = "/v1/contacts", tag = "escalation", responses((status = 200, description = "the chain")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_contacts(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Member)?;
    let t = &actor.tenant.id;
    let mut contacts = app.store.contacts(t).await?;
    for c in &mut contacts {
        c.address = app.keyring.open_stored(SealedColumn::ContactAddress, t, &c.id, &c.address);
        for f in &mut c.fallbacks {
            f.address = app.keyring.open_stored(SealedColumn::FallbackAddress, t, &f.id, &f.address);
        }
    }
    Ok(Json(json!({"contacts": contacts})))
}

/// `DELETE /v1/contacts/{id}`: removes a person from the chain (open escalations skip them from
/// their next step on).
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "escalation", params(("id" = String, Path)), responses((status = 204, description = "removed"), (status = 404, description = "no such contact")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn delete_contact(State(app): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<Response, ApiError> {
    actor.require(Role::Member)?;
    if !app.store.delete_contact(&actor.tenant.id, &id).await? {
        return Err(ApiError::not_found("contact"));
    }
    actor.audit(&app, "contact.delete", &format!("contact:{id}"), json!({})).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `?state=&cursor=&limit=` of `GET /v1/escalations`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EscalationQuery {
    /// `open`, `acknowledged` or `exhausted`.
    #[param(value_type = Option<EscalationState>)]
    state: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Rows, 1..=500 (`MAX_LIST`), default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /v1/escalations`: escalations, newest first, with who acknowledged them.
#[utoipa::path(get, path = "/v1/escalations", tag = "escalation", params(EscalationQuery), responses((status = 200, description = "a page of escalations"), (status = 400, description = "bad state or cursor")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_escalations(State(app): State<AppState>, actor: Actor, q: super::Q<EscalationQuery>) -> Listed {
    let Query(q) = q?;
    let state = super::named_param::<EscalationState>("state", q.state.as_deref(), "state must be open, acknowledged or exhausted")?;
    listed(
        q.cursor.as_deref(),
        q.limit,
        async |after: Option<&TimeCursor>, limit| app.store.escalations(&actor.tenant.id, state, after, limit).await,
        |e| TimeCursor { ms: e.created_ms, id: e.id.clone() },
    )
    .await
}

fn acked_json(a: Acked) -> Result<Json<serde_json::Value>, ApiError> {
    match a {
        Acked::Now(e) => Ok(Json(json!({"acknowledged": true, "escalation": e}))),
        Acked::Already(e) => Ok(Json(json!({"acknowledged": false, "escalation": e}))),
        Acked::Unknown => Err(ApiError::not_found("escalation")),
    }
}

/// `POST /v1/escalations/{id}/ack`: a dashboard user (or the backend) takes the escalation;
/// nobody further down the chain is paged.
#[utoipa::path(post, path = "/v1/escalations/{id}/ack", tag = "escalation", params(("id" = String, Path)), responses((status = 200, description = "`acknowledged`: whether this call did it, and the escalation"), (status = 404, description = "no such escalation")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn ack_escalation(
    State(app): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Member)?;
    let acked = escalation::acknowledge(&app.escalation, &actor.tenant.id, &id, &actor.id).await?;
    if matches!(acked, Acked::Now(_)) {
        actor.audit(&app, "escalation.ack", &format!("escalation:{id}"), json!({})).await?;
    }
    acked_json(acked)
}

/// Body of `POST /v1/ack`: the query of an alert's one-click link.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AckLink {
    /// Tenant (`t`).
    t: String,
    /// Escalation (`e`).
    e: String,
    /// Contact paged (`c`).
    c: String,
    /// Expiry of the link, seconds since the epoch.
    #[schema(minimum = 0, maximum = 18446744073709551615_u64)]
    exp: u64,
    /// The acknowledgement signature (`ack`).
    ack: String,
}

/// `POST /v1/ack`: the paged contact acknowledges through the signed link of their alert (the
/// session view posts it when it opens).
#[utoipa::path(post, path = "/v1/ack", tag = "escalation", request_body = AckLink, responses((status = 200, description = "`acknowledged`: whether this call did it, and who had"), (status = 403, description = "bad or expired signature"), (status = 404, description = "no such escalation")))]
pub async fn ack_link(State(app): State<AppState>, body: Body<AckLink>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    let now = (app.clock.now_ms() / 1000) as u64;
    if !crate::identity::tokens::verify_ack(&app.config.link_secret, &b.t, &b.e, &b.c, b.exp, &b.ack, now) {
        return Err(ApiError::forbidden("this acknowledgement link is not valid or has expired"));
    }
    let who = format!("contact:{}", b.c);
    let acked = escalation::acknowledge(&app.escalation, &b.t, &b.e, &who).await?;
    if matches!(acked, Acked::Now(_)) {
        crate::identity::customers::audit(
            &app.people,
            &b.t,
            &who,
            "escalation.ack",
            &format!("escalation:{}", b.e),
            json!({"via": "link"}),
        )
        .await?;
    }
    // The contact sees only the state and who acknowledged, not the customer's details.
    let Json(v) = acked_json(acked)?;
    Ok(Json(json!({
        "acknowledged": v["acknowledged"],
        "state": v["escalation"]["state"],
        "acked_by": v["escalation"]["acked_by"],
    })))
}
