//! Interventions that learn: the tenant's variants, its holdout share and outcome window,
//! outcomes reported by the host backend, and the uplift against the holdout with its interval.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{listed, text_field, Actor, Body, Listed, Role};
use crate::api::error::ApiError;
use crate::interventions::bandit::{self, MAX_VARIANT_TEXT_BYTES};
use crate::interventions::outcomes;
use crate::state::AppState;
use crate::store::{CardState, OutcomeFor, TimeCursor, VariantRecord};

/// Longest outcome window a tenant may set, ms (7 days).
pub const MAX_OUTCOME_WINDOW_MS: i64 = 7 * 86_400_000;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/variants", get(list_variants).post(add_variant))
        .route("/v1/variants/{id}", delete(delete_variant))
        .route("/v1/intervention-policy", get(policy).put(set_policy))
        .route("/v1/outcomes", post(outcome))
        .route("/v1/uplift", get(uplift))
        .route("/v1/cards", get(list_cards))
        .route("/v1/cards/{id}/action", post(action_card))
        .route("/v1/cards/{id}/complete", post(complete_card))
}

/// `GET /v1/variants`: the tenant's intervention variants.
#[utoipa::path(get, path = "/v1/variants", tag = "interventions", responses((status = 200, description = "the variants")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_variants(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    let all = app.store.all_variants().await?;
    let mine: Vec<&VariantRecord> = all.iter().filter(|(t, _)| *t == actor.tenant.id).map(|(_, v)| v).collect();
    let arms: Vec<serde_json::Value> = app
        .store
        .all_arms()
        .await?
        .into_iter()
        .filter(|a| a.0 == actor.tenant.id)
        .map(|(_, emotion, section, variant, successes, failures)| json!({"emotion": emotion, "section": section, "variant_id": variant, "successes": successes, "failures": failures}))
        .collect();
    Ok(Json(json!({"variants": mine, "arms": arms})))
}

/// Body of `POST /v1/variants`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewVariant {
    /// Unique within its context: letters, digits, `_` and `-`, at most `MAX_VARIANT_ID_BYTES`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    id: String,
    /// Any emotion but `engaged`.
    #[schema(schema_with = emotion_schema)]
    emotion: String,
    /// A section name, or empty/absent for every section without its own variants.
    #[serde(default)]
    #[schema(max_length = 64)] // ingest::MAX_SECTION_NAME: longer names are cut on the wire
    section: String,
    /// `message`, `help`, `discount`, `callback` and their text, or `card` or `nothing`.
    #[schema(schema_with = kind_schema)]
    kind: String,
    /// What is shown: required, not only white space, for `message`, `help`, `discount` and
    /// `callback`; at most `MAX_VARIANT_TEXT_BYTES` (1000) characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    text: String,
}

/// The kinds of variant that show a text.
pub const SHOWN_KINDS: [&str; 4] = ["message", "help", "discount", "callback"];

fn emotion_schema() -> utoipa::openapi::schema::Object {
    let names: Vec<&str> =
        shared_physics::Emotion::ALL.iter().filter(|e| **e != shared_physics::Emotion::Engaged).map(|e| e.name()).collect();
    super::schema::one_of(&names)
}

fn kind_schema() -> utoipa::openapi::schema::Object {
    super::schema::one_of(&[&SHOWN_KINDS[..], &["card", "nothing"]].concat())
}

/// `POST /v1/variants`: adds a variant for (emotion, section); it starts with a uniform prior.
#[utoipa::path(post, path = "/v1/variants", tag = "interventions", request_body = NewVariant, responses((status = 201, description = "added"), (status = 400, description = "bad field"), (status = 409, description = "id taken")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn add_variant(State(app): State<AppState>, actor: Actor, body: Body<NewVariant>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let id = text_field("id", &b.id)?;
    let Some(emotion) = shared_physics::Emotion::from_name(&b.emotion).filter(|e| *e != shared_physics::Emotion::Engaged) else {
        return Err(ApiError::bad_request(
            "emotion must be rage, frustration, confusion, hesitation or abandonment",
            json!({"field": "emotion"}),
        ));
    };
    let kind: bandit::VariantKind = serde_json::from_value(json!(b.kind))
        .map_err(|_| ApiError::bad_request("kind must be message, help, discount, callback, card or nothing", json!({"field": "kind"})))?;
    let shows = matches!(
        kind,
        bandit::VariantKind::Message | bandit::VariantKind::Help | bandit::VariantKind::Discount | bandit::VariantKind::Callback
    );
    if b.text.chars().count() > MAX_VARIANT_TEXT_BYTES || (shows && b.text.trim().is_empty()) {
        return Err(ApiError::bad_request(
            format!("text must be 1..={MAX_VARIANT_TEXT_BYTES} characters, not only white space, for a {} variant", b.kind),
            json!({"field": "text"}),
        ));
    }
    if b.section.chars().count() > super::MAX_FIELD_CHARS {
        return Err(ApiError::bad_request(
            format!("section must be at most {} characters", super::MAX_FIELD_CHARS),
            json!({"field": "section"}),
        ));
    }
    let v = VariantRecord {
        id: id.to_string(),
        emotion,
        section: b.section.trim().to_string(),
        kind: b.kind.clone(),
        // A `nothing` variant shows nothing: a text sent with it is dropped, not refused.
        text: if kind == bandit::VariantKind::Nothing { String::new() } else { b.text.trim().to_string() },
        created_ms: app.clock.now_ms(),
    };
    if v.section.len() > crate::ingest::MAX_SECTION_NAME {
        return Err(ApiError::bad_request(
            format!("section must be at most {} bytes (longer names are cut on the wire)", crate::ingest::MAX_SECTION_NAME),
            json!({"field": "section"}),
        ));
    }
    // The context's set with the new variant must be a valid set (at most MAX_VARIANTS, ids
    // and texts within bounds): the API once added variants without this check.
    let (key, mut variants, _) = app.learning.arms(&actor.tenant.id, emotion, &v.section);
    if key != v.section {
        variants.clear(); // the context has none of its own yet (those were the fallback's)
    }
    variants.retain(|x| x.id != crate::interventions::BUILT_IN);
    variants.push(bandit::Variant { id: v.id.clone(), kind, text: v.text.clone() });
    let set = bandit::VariantSet { context: bandit::ContextKey { emotion: emotion.name().into(), section: v.section.clone() }, variants };
    match set.validate() {
        Ok(()) => {}
        // A valid request that conflicts with what exists: the id is taken, or the set is full.
        Err(e @ (bandit::BanditError::DuplicateVariant(_) | bandit::BanditError::TooManyVariants { .. })) => {
            return Err(ApiError::conflict(e.to_string()))
        }
        Err(e) => return Err(ApiError::bad_request(e.to_string(), json!({"field": "id"}))),
    }
    if !app.store.add_variant(&actor.tenant.id, &v).await? {
        return Err(ApiError::conflict("a variant with this id exists"));
    }
    app.learning.reload(app.store.as_ref()).await?;
    actor
        .audit(&app, "variant.add", &format!("variant:{}", v.id), json!({"emotion": v.emotion, "section": v.section, "kind": v.kind}))
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `DELETE /v1/variants/{id}`.
#[utoipa::path(delete, path = "/v1/variants/{id}", tag = "interventions", params(("id" = String, Path)), responses((status = 200, description = "deleted"), (status = 404, description = "no such variant")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn delete_variant(
    State(app): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Member)?;
    if !app.store.delete_variant(&actor.tenant.id, &id).await? {
        return Err(ApiError::not_found("variant"));
    }
    app.learning.reload(app.store.as_ref()).await?;
    actor.audit(&app, "variant.delete", &format!("variant:{id}"), json!({})).await?;
    Ok(Json(json!({"id": id, "deleted": true})))
}

/// `GET /v1/intervention-policy`.
#[utoipa::path(get, path = "/v1/intervention-policy", tag = "interventions", responses((status = 200, description = "holdout share and outcome window")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn policy(actor: Actor) -> Json<serde_json::Value> {
    Json(json!({"holdout_share": actor.tenant.holdout_share, "outcome_window_ms": actor.tenant.outcome_window_ms}))
}

/// Body of `PUT /v1/intervention-policy`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PolicyBody {
    /// Share of decisions held out as control, 0..=0.5 (default 0.1).
    #[schema(minimum = 0.0, maximum = 0.5)]
    holdout_share: f64,
    /// How long after a decision an outcome counts for it, ms, 60000..=`MAX_OUTCOME_WINDOW_MS`
    /// (default: unchanged; a new tenant's is 30 minutes).
    #[serde(default)]
    #[schema(minimum = 60000, maximum = 604800000)]
    outcome_window_ms: Option<i64>,
}

/// `PUT /v1/intervention-policy`.
#[utoipa::path(put, path = "/v1/intervention-policy", tag = "interventions", request_body = PolicyBody, responses((status = 200, description = "stored"), (status = 400, description = "out of range")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn set_policy(State(app): State<AppState>, actor: Actor, body: Body<PolicyBody>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    bandit::Policy::new(b.holdout_share).map_err(|e| ApiError::bad_request(e.to_string(), json!({"field": "holdout_share"})))?;
    let window = b.outcome_window_ms.unwrap_or(actor.tenant.outcome_window_ms);
    if !(60_000..=MAX_OUTCOME_WINDOW_MS).contains(&window) {
        return Err(ApiError::bad_request(
            format!("outcome_window_ms must be 60000..={MAX_OUTCOME_WINDOW_MS}"),
            json!({"field": "outcome_window_ms"}),
        ));
    }
    let t = &actor.tenant.id;
    app.store.set_intervention_policy(t, b.holdout_share, window).await?;
    app.people.identity_changed(t).await?;
    let after = json!({"holdout_share": b.holdout_share, "outcome_window_ms": window});
    actor.audit(&app, "interventions.policy", "intervention-policy", after.clone()).await?;
    Ok(Json(after))
}

/// Body of `POST /v1/outcomes`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct OutcomeBody {
    /// The session (16 hex digits) the outcome happened in, or
    #[serde(default)]
    #[schema(schema_with = super::schema::optional_text)]
    session: Option<String>,
    /// the customer it happened to (one of the two is required).
    #[serde(default)]
    #[schema(schema_with = super::schema::optional_text)]
    sub: Option<String>,
    /// What happened, e.g. `purchase`, `cancel`, `signup`.
    #[schema(schema_with = super::schema::text)]
    event: String,
    /// Whether it is a conversion (default: true for anything but `cancel`/`churn`).
    #[serde(default)]
    converted: Option<bool>,
}

/// `POST /v1/outcomes`: what happened after a decision, from the host backend; attributed to
/// the newest decision of the session (or person) within the tenant's outcome window, once.
#[utoipa::path(post, path = "/v1/outcomes", tag = "interventions", request_body = OutcomeBody, responses((status = 201, description = "attributed to a decision"), (status = 200, description = "no decision in the window to attribute to"), (status = 400, description = "bad field")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn outcome(State(app): State<AppState>, actor: Actor, body: Body<OutcomeBody>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let event = text_field("event", &b.event)?;
    // Both are checked when both are given, though the session wins.
    let session = b.session.as_deref().map(|s| text_field("session", s)).transpose()?;
    let sub = b.sub.as_deref().map(|u| text_field("sub", u)).transpose()?;
    let who = match (session, sub) {
        (Some(s), _) => OutcomeFor::Session(s),
        (None, Some(u)) => OutcomeFor::Person(u),
        (None, None) => {
            return Err(ApiError::bad_request("give the session or the sub the outcome belongs to", json!({"field": "session"})))
        }
    };
    let recorded =
        outcomes::record(app.store.as_ref(), &actor.tenant, who, event, b.converted, outcomes::Vouch::Verified, app.clock.now_ms()).await?;
    let converted = recorded.converted;
    match recorded.decision {
        Some(decision) => {
            app.learning.reload(app.store.as_ref()).await?;
            Ok((StatusCode::CREATED, Json(json!({"decision": decision, "event": event, "converted": converted}))).into_response())
        }
        None => Ok(Json(
            json!({"decision": null, "event": event, "converted": converted, "reason": "no decision without an outcome in the window"}),
        )
        .into_response()),
    }
}

/// `GET /v1/uplift`: per emotion, the conversion of treated decisions against the holdout,
/// the uplift and its 95% interval (Newcombe), over decisions whose outcome is in or whose
/// window has closed.
#[utoipa::path(get, path = "/v1/uplift", tag = "interventions", responses((status = 200, description = "uplift per emotion with its interval")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn uplift(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    let t = &actor.tenant;
    let rows = app.store.uplift_counts(&t.id, app.clock.now_ms() - t.outcome_window_ms).await?;
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(emotion, tc, tn, hc, hn)| {
            let u = bandit::uplift((tc.max(0) as u64, tn.max(0) as u64), (hc.max(0) as u64, hn.max(0) as u64), 0.95);
            json!({"emotion": emotion, "treated": {"conversions": tc, "n": tn}, "holdout": {"conversions": hc, "n": hn}, "uplift": u})
        })
        .collect();
    Ok(Json(json!({"holdout_share": t.holdout_share, "emotions": items})))
}

/// `?state=&cursor=&limit=` of `GET /v1/cards`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardQuery {
    /// `pending`, `actioned` or `completed`.
    #[param(value_type = Option<CardState>)]
    state: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Rows, 1..=500 (`MAX_LIST`), default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /v1/cards`: conversation cards for the tenant's people, newest first.
#[utoipa::path(get, path = "/v1/cards", tag = "interventions", params(CardQuery), responses((status = 200, description = "a page of cards")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_cards(State(app): State<AppState>, actor: Actor, q: super::Q<CardQuery>) -> Listed {
    let Query(q) = q?;
    let state = super::named_param::<CardState>("state", q.state.as_deref(), "state must be pending, actioned or completed")?;
    listed(
        q.cursor.as_deref(),
        q.limit,
        async |after: Option<&TimeCursor>, limit| app.store.cards(&actor.tenant.id, state, after, limit).await,
        |c| TimeCursor { ms: c.created_ms, id: c.id.clone() },
    )
    .await
}

/// `POST /v1/cards/{id}/action`: a human took the card (pending → actioned).
#[utoipa::path(post, path = "/v1/cards/{id}/action", tag = "interventions", params(("id" = String, Path)), responses((status = 200, description = "actioned"), (status = 404, description = "no such card"), (status = 409, description = "not pending")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn action_card(State(app): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Member)?;
    move_card(&app, &actor, &id, &[CardState::Pending], CardState::Actioned, None).await
}

/// Body of `POST /v1/cards/{id}/complete`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CardOutcome {
    /// How it ended, e.g. `saved`, `lost`, `no_answer`.
    #[schema(schema_with = super::schema::text)]
    outcome: String,
}

/// `POST /v1/cards/{id}/complete {outcome}`: the conversation happened (pending or actioned →
/// completed, with its outcome).
#[utoipa::path(post, path = "/v1/cards/{id}/complete", tag = "interventions", params(("id" = String, Path)), request_body = CardOutcome, responses((status = 200, description = "completed"), (status = 404, description = "no such card"), (status = 409, description = "already completed")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn complete_card(
    State(app): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    body: Body<CardOutcome>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let outcome = text_field("outcome", &b.outcome)?.to_string();
    move_card(&app, &actor, &id, &[CardState::Pending, CardState::Actioned], CardState::Completed, Some(&outcome)).await
}

async fn move_card(
    app: &AppState,
    actor: &Actor,
    id: &str,
    from: &[CardState],
    to: CardState,
    outcome: Option<&str>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = &actor.tenant.id;
    if app.store.move_card(t, id, from, to, outcome, &actor.id, app.clock.now_ms()).await? {
        return Ok(Json(json!({"id": id, "state": to, "outcome": outcome})));
    }
    // Either no such card in this tenant (404) or not in a state that allows the move (409).
    if app.store.card_exists(t, id).await? {
        Err(ApiError::conflict(format!("the card cannot become {} from its current state", to.name())))
    } else {
        Err(ApiError::not_found("card"))
    }
}
