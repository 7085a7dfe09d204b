//! The REST API under `/v1` (JSON; errors `{error_code, message, details}`), the signed session
//! view, the live feed (server-sent events) and the static pages. People, segments, contexts
//! and data rights are in [`people`]; keys, users, roles, identity settings and the audit log in
//! [`access`].

pub mod access;
pub mod dashboard;
pub mod error;
pub mod escalations;
pub mod forensics;
pub mod learning;
pub mod openapi;
pub mod people;
pub mod schema;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::error::ApiError;
use crate::confirm::thresholds::Thresholds;
use crate::identity::tokens;
use crate::records::events::Event;
use crate::state::AppState;
use crate::store::Tenant;

pub use crate::records::{MAX_FIELD_BYTES, MAX_FIELD_CHARS, MAX_TRANSACTION_CENTS};
/// Most rows a list endpoint returns; `limit` outside 1..=this is a 400.
pub const MAX_LIST: i64 = 500;
/// Largest JSON request body, bytes (64 KiB). The largest legitimate ones are a contact with
/// its four fallbacks, an identity-settings document with a JWKS URL, or a variant with its
/// 1000-byte text: a few KiB, even with every character escaped. Past this the body is refused
/// with 413 `payload_too_large` as it arrives, before it is read whole.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// Days of session data a new tenant keeps.
pub const DEFAULT_RETENTION_DAYS: i64 = 365;

fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// What a dashboard user or key may do. Each role can do everything the ones below it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads customers, segments, detections, interventions and alerts.
    Viewer,
    /// Also changes thresholds, contacts, contexts and transactions.
    Member,
    /// Also manages keys, users and roles, identity settings, retention, the audit log, and
    /// exports or erases people. A secret API key acts as an owner.
    Owner,
}

impl Role {
    /// From its name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Owner => "owner",
        }
    }
}

/// The cookie of a signed-in dashboard page: the session token, `HttpOnly` (no script can read
/// it), `SameSite=Strict` (no other site's page sends it).
pub const SESSION_COOKIE: &str = "siq_session";
/// The header a page signed in by cookie sends its CSRF token in, on every request that is not
/// a `GET` or `HEAD` (`tokens::csrf_token`, from `POST /v1/login` or `GET /v1/dashboard/me`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of the cookie `name`, if the request carries it.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Who is calling: a tenant's secret key (`Authorization: Bearer sk_…`) or a signed-in dashboard
/// user (`Authorization: Bearer ds_…`, or the [`SESSION_COOKIE`] with the [`CSRF_HEADER`] on
/// writes; both from `POST /v1/login`).
pub struct Actor {
    /// The tenant acted for.
    pub tenant: Arc<Tenant>,
    /// What they may do.
    pub role: Role,
    /// `key:{id}` or `user:{id}`, as the audit log records it.
    pub id: String,
    /// The dashboard session (`dss_…`) of a signed-in user.
    pub session: Option<String>,
}

impl Actor {
    /// Refuses (403) unless the actor has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this needs the {} role (you have {})", role.as_str(), self.role.as_str())))
        }
    }

    /// Appends to the tenant's audit log (a failure fails the request: an unaudited change is not made).
    pub async fn audit(&self, app: &AppState, action: &str, target: &str, details: serde_json::Value) -> Result<(), ApiError> {
        crate::identity::customers::audit(&app.people, &self.tenant.id, &self.id, action, target, details).await.map_err(ApiError::from)
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let (token, by_cookie) = match bearer(parts) {
            Some(t) => (t, false),
            None => match cookie(parts, SESSION_COOKIE) {
                Some(c) => (c, true),
                None => return Err(ApiError::unauthorized("missing bearer secret key or dashboard session")),
            },
        };
        if token.starts_with("ds_") {
            let now = app.clock.now_ms();
            let ds = tokens::verify_dashboard_session(&app.config.link_secret, token, now as u64 / 1000)
                .ok_or_else(|| ApiError::unauthorized("dashboard session invalid or expired: sign in again"))?;
            // Signed out or revoked sessions end at once, on every instance.
            let live = app.store.dashboard_session(&ds.tenant, &ds.id).await?;
            if !live.is_some_and(|s| s.user_id == ds.user && s.revoked_ms.is_none() && s.expires_ms > now) {
                return Err(ApiError::unauthorized("dashboard session signed out or revoked: sign in again"));
            }
            // A page signed in by cookie proves on every write that it is ours (SameSite=Strict
            // already keeps other sites' pages from sending the cookie at all).
            let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
            if by_cookie && !safe {
                let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
                if !tokens::secrets_equal(sent, &tokens::csrf_token(&app.config.link_secret, &ds.id)) {
                    return Err(ApiError::forbidden("missing or wrong CSRF token: reload the page"));
                }
            }
            let tenant = app.identity.tenant(&ds.tenant).ok_or_else(|| ApiError::unauthorized("unknown tenant"))?;
            // The role is read at every request, so a changed role applies at once.
            let user = app.store.user(&ds.tenant, &ds.user).await?.ok_or_else(|| ApiError::unauthorized("this user no longer exists"))?;
            let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
            return Ok(Actor { tenant, role, id: format!("user:{}", ds.user), session: Some(ds.id) });
        }
        if by_cookie {
            return Err(ApiError::unauthorized("the session cookie holds no dashboard session: sign in again"));
        }
        let e = app.identity.secret_key(token).ok_or_else(|| ApiError::unauthorized("unknown secret key"))?;
        Ok(Actor { tenant: e.tenant, role: Role::Owner, id: format!("key:{}", e.key_id), session: None })
    }
}

/// A request authenticated by a tenant's secret key or dashboard session (any role).
pub struct SecretKey(pub Arc<Tenant>);

impl FromRequestParts<AppState> for SecretKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Actor::from_request_parts(parts, app).await.map(|a| SecretKey(a.tenant))
    }
}

/// A request authenticated by the operator token (`SIQ_ADMIN_TOKEN`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Some(expected) = app.config.admin_token.as_deref() else {
            return Err(ApiError::forbidden("the admin API is disabled: set SIQ_ADMIN_TOKEN"));
        };
        match bearer(parts) {
            Some(t) if tokens::secrets_equal(t, expected) => Ok(Admin),
            _ => Err(ApiError::unauthorized("bad admin token")),
        }
    }
}

/// A text field: 1..=[`MAX_FIELD_CHARS`] characters as sent (what JSON Schema's `maxLength`
/// counts), not only white space; the value kept is trimmed.
fn field<'a>(name: &str, v: &'a str) -> Result<&'a str, ApiError> {
    let t = v.trim();
    if t.is_empty() || v.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiError::bad_request(
            format!("{name} must be 1..={MAX_FIELD_CHARS} characters, not only white space"),
            json!({"field": name}),
        ));
    }
    Ok(t)
}

/// An amount of money a transaction may carry: within ±[`MAX_TRANSACTION_CENTS`].
fn amount(name: &str, cents: i64) -> Result<i64, ApiError> {
    if cents.unsigned_abs() > MAX_TRANSACTION_CENTS as u64 {
        return Err(ApiError::bad_request(
            format!("{name} must be within ±{MAX_TRANSACTION_CENTS} cents"),
            json!({"field": name, "max": MAX_TRANSACTION_CENTS}),
        ));
    }
    Ok(cents)
}

/// The tenant's first dashboard owner, optional in `POST /v1/admin/tenants`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct FirstOwner {
    #[schema(schema_with = access::email_schema)]
    email: String,
    #[schema(schema_with = access::password_schema)]
    password: String,
}

/// Body of `POST /v1/admin/tenants`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTenant {
    #[schema(schema_with = schema::text)]
    name: String,
    #[serde(default)]
    owner: Option<FirstOwner>,
}

/// `POST /v1/admin/tenants`: creates a tenant; its keys are shown once.
#[utoipa::path(post, path = "/v1/admin/tenants", tag = "tenants", request_body = NewTenant, responses((status = 201, description = "the tenant and its keys (the secret key is shown only here)"), (status = 400, description = "bad field"), (status = 401, description = "bad operator token")), security(("operator_token" = [])))]
pub async fn create_tenant(
    State(app): State<AppState>,
    _: Admin,
    body: Result<Json<NewTenant>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let name = field("name", &body.name)?;
    let secret_key = tokens::new_key("sk_");
    let jwt_secret = tokens::new_key("jwt_");
    let id =
        format!("t_{}", hex::encode(crate::records::random_u32().to_be_bytes())) + &hex::encode(crate::records::random_u32().to_be_bytes());
    let t = Tenant {
        // Stored sealed: a copy of the database alone must not mint visitor tokens.
        jwt_secret: app.people.seal_jwt_secret(&id, &jwt_secret),
        id,
        name: name.to_string(),
        site_key: tokens::new_key("pk_"),
        secret_key_hash: tokens::hash_key(&secret_key),
        created_ms: app.clock.now_ms(),
        thresholds: "{}".into(),
        token_policy: String::new(),
        retention_days: DEFAULT_RETENTION_DAYS,
        holdout_share: crate::interventions::bandit::DEFAULT_HOLDOUT_SHARE,
        outcome_window_ms: crate::interventions::DEFAULT_OUTCOME_WINDOW_MS,
    };
    if let Some(o) = &body.owner {
        // Checked before the tenant exists, so a bad owner leaves nothing behind.
        crate::identity::keyring::check_password(&o.password)
            .map_err(|e| ApiError::bad_request(e.to_string(), json!({"field": "owner.password"})))?;
    }
    app.store.create_tenant(&t).await?;
    app.people.identity_changed(&t.id).await?;
    let owner = match &body.owner {
        Some(o) => Some(access::add_user(&app, &t.id, &o.email, &o.password, Role::Owner).await?.id),
        None => None,
    };
    crate::identity::customers::audit(
        &app.people,
        &t.id,
        "operator",
        "tenant.create",
        &format!("tenant:{}", t.id),
        json!({"owner": owner}),
    )
    .await?;
    tracing::info!(tenant = %t.id, "tenant created");
    let body = json!({"tenant_id": t.id, "name": t.name, "site_key": t.site_key, "secret_key": secret_key, "jwt_secret": jwt_secret, "owner_id": owner});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Body of `POST /v1/accounts`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewAccount {
    #[schema(schema_with = schema::text)]
    account: String,
    #[schema(schema_with = schema::text)]
    name: String,
}

/// `POST /v1/accounts`: creates or renames an account.
#[utoipa::path(post, path = "/v1/accounts", tag = "revenue", request_body = NewAccount, responses((status = 201, description = "created or renamed"), (status = 400, description = "bad field"), (status = 403, description = "needs member")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn upsert_account(
    State(app): State<AppState>,
    actor: Actor,
    body: Result<Json<NewAccount>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let t = &actor.tenant;
    let (account, name) = (field("account", &b.account)?, field("name", &b.name)?);
    app.store.upsert_account(&t.id, account, name).await?;
    app.people.account_changed(&t.id, account).await?;
    Ok((StatusCode::CREATED, Json(json!({"account": account, "name": name}))).into_response())
}

/// Body of `POST /v1/transactions`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTransaction {
    /// The host's id of the transaction (idempotency key).
    #[schema(schema_with = schema::text)]
    id: String,
    #[schema(schema_with = schema::text)]
    account: String,
    /// Cents, refunds negative; within ±`MAX_TRANSACTION_CENTS`.
    #[schema(minimum = -10000000000000.0, maximum = 10000000000000.0)]
    amount_cents: i64,
    /// When it happened, ms since the epoch (default: now).
    #[serde(default)]
    at_ms: Option<i64>,
}

/// `POST /v1/transactions`: records revenue for an account, idempotent by the host's id
/// (201 the first time, 200 after).
#[utoipa::path(post, path = "/v1/transactions", tag = "revenue", request_body = NewTransaction, responses((status = 201, description = "recorded"), (status = 200, description = "already recorded (idempotent by id)"), (status = 400, description = "bad field"), (status = 409, description = "the account's total would pass its limit")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn add_transaction(
    State(app): State<AppState>,
    actor: Actor,
    body: Result<Json<NewTransaction>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let t = &actor.tenant;
    let (id, account) = (field("id", &b.id)?, field("account", &b.account)?);
    amount("amount_cents", b.amount_cents)?;
    let inserted = app.store.add_transaction(&t.id, id, account, b.amount_cents, b.at_ms.unwrap_or_else(crate::clock::now_ms)).await?;
    app.people.account_changed(&t.id, account).await?;
    // `account_changed` just put the account's values from the store in the cache: read them there.
    let value = app.identity.account(&t.id, account).map_or(0, |a| a.value_cents);
    let status = if inserted { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"id": id, "account": account, "recorded": inserted, "account_value_cents": value}))).into_response())
}

/// `GET /v1/thresholds`: the detector thresholds in effect for the tenant (`effective`) and the
/// ones it set (`set`; the rest are the documented defaults).
#[utoipa::path(get, path = "/v1/thresholds", tag = "detectors", responses((status = 200, description = "effective and set thresholds")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn thresholds(SecretKey(t): SecretKey) -> Json<serde_json::Value> {
    let set = Thresholds::parse(&t.thresholds);
    Json(json!({"effective": set.effective(), "set": set}))
}

/// `PUT /v1/thresholds`: replaces the thresholds the tenant sets (fields left out go back to the
/// defaults). The confirm step uses them for every detection from then on.
#[utoipa::path(put, path = "/v1/thresholds", tag = "detectors", request_body = crate::confirm::thresholds::Thresholds, responses((status = 200, description = "stored"), (status = 400, description = "out of range"), (status = 403, description = "needs member")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn set_thresholds(
    State(app): State<AppState>,
    actor: Actor,
    body: Result<Json<Thresholds>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(set) = body?;
    actor.require(Role::Member)?;
    let t = &actor.tenant;
    set.validate().map_err(|e| ApiError::bad_request(format!("{} must be {}", e.field, e.expected), json!({"field": e.field})))?;
    let stored = serde_json::to_string(&set).map_err(ApiError::internal)?;
    app.store.set_thresholds(&t.id, &stored).await?;
    app.people.identity_changed(&t.id).await?;
    actor.audit(&app, "thresholds.set", "thresholds", serde_json::to_value(&set).unwrap_or_default()).await?;
    tracing::info!(tenant = %t.id, thresholds = %stored, "detector thresholds changed");
    Ok(Json(json!({"effective": set.effective(), "set": set})).into_response())
}

/// `?limit=` of list endpoints.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Rows, 1..=500 (`MAX_LIST`), default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

fn limit(q: &ListQuery) -> Result<i64, ApiError> {
    checked_limit(q.limit, 100)
}

/// `limit`, or `default` when absent; outside 1..=[`MAX_LIST`] is a 400.
fn checked_limit(l: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match l {
        None => Ok(default),
        Some(l) if (1..=MAX_LIST).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::bad_request(format!("limit must be 1..={MAX_LIST}"), json!({"field": "limit", "max": MAX_LIST}))),
    }
}

fn without_evidence(v: impl serde::Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(v).unwrap_or_default();
    if let Some(a) = v.as_array_mut() {
        for d in a {
            if let Some(o) = d.as_object_mut() {
                o.remove("evidence");
            }
        }
    }
    v
}

/// `GET /v1/detections`: confirmed detections, newest first.
#[utoipa::path(get, path = "/v1/detections", tag = "activity", params(ListQuery), responses((status = 200, description = "newest first")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn detections(
    State(app): State<AppState>,
    SecretKey(t): SecretKey,
    q: Q<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let d = app.store.detections(&t.id, None, limit(&q)?).await?;
    Ok(Json(json!({"detections": without_evidence(d)})))
}

/// `GET /v1/interventions`: interventions pushed, newest first.
#[utoipa::path(get, path = "/v1/interventions", tag = "activity", params(ListQuery), responses((status = 200, description = "newest first")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn interventions(
    State(app): State<AppState>,
    SecretKey(t): SecretKey,
    q: Q<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    Ok(Json(json!({"interventions": app.store.interventions(&t.id, limit(&q)?).await?})))
}

/// `GET /v1/alerts`: alerts and their delivery, newest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "activity", params(ListQuery), responses((status = 200, description = "newest first")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn alerts(State(app): State<AppState>, SecretKey(t): SecretKey, q: Q<ListQuery>) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    Ok(Json(json!({"alerts": app.store.alerts(&t.id, limit(&q)?).await?})))
}

/// `GET /v1/stats`: the tenant's counters on this instance since it started.
#[utoipa::path(get, path = "/v1/stats", tag = "activity", responses((status = 200, description = "counters of this instance, failures included")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn stats(State(app): State<AppState>, SecretKey(t): SecretKey) -> Json<serde_json::Value> {
    let s = app.metrics.tenant(&t.id).snapshot();
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("tenant".into(), json!({"id": t.id, "name": t.name}));
    }
    Json(v)
}

/// `GET /v1/live`: the tenant's events as server-sent events (`event: detection|intervention|alert|session`).
#[utoipa::path(get, path = "/v1/live", tag = "activity", responses((status = 200, description = "server-sent events")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn live(
    State(app): State<AppState>,
    SecretKey(t): SecretKey,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let sub = app.bus.subscribe(&format!("{}.events.*.{}", app.config.bus_prefix, t.id)).await?;
    let stream = sub.filter_map(|m| async move {
        // The ingest journal (one event per frame) is not activity a person watches.
        if m.subject.contains(".events.frame.") {
            return None;
        }
        let ev: Event = serde_json::from_slice(&m.payload).ok()?;
        Some(Ok(SseEvent::default().event(ev.kind()).data(ev.public_json().to_string())))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The query of a signed session link: `t`, `exp`, `sig` let its holder view the session; an
/// alert's link also carries `e`, `c` and `ack`, which let the contact paged act on it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// Tenant.
    pub(crate) t: String,
    /// Expiry, seconds since the epoch.
    #[param(minimum = 0, maximum = 18446744073709551615_u64)]
    pub(crate) exp: u64,
    /// The view signature.
    pub(crate) sig: String,
    /// The escalation (alert links).
    #[serde(default)]
    pub(crate) e: Option<String>,
    /// The contact paged (alert links).
    #[serde(default)]
    pub(crate) c: Option<String>,
    /// The acknowledgement signature (alert links).
    #[serde(default)]
    pub(crate) ack: Option<String>,
}

pub(crate) fn check_link(app: &AppState, session: &str, q: &LinkQuery) -> Result<(), ApiError> {
    let now = app.clock.now_ms() as u64 / 1000;
    if tokens::verify_link(&app.config.link_secret, &q.t, session, q.exp, &q.sig, now) {
        Ok(())
    } else {
        Err(ApiError::forbidden("this session link is invalid or has expired"))
    }
}

/// `GET /s/{session}?t=&exp=&sig=`: the one-click session view for an alerted human.
#[utoipa::path(get, path = "/s/{session}", tag = "sessions", params(("session" = String, Path), LinkQuery), responses((status = 200, description = "the session view page"), (status = 403, description = "invalid or expired link")))]
pub async fn session_page(State(app): State<AppState>, Path(session): Path<String>, q: Q<LinkQuery>) -> Result<Response, ApiError> {
    let Query(q) = q?;
    check_link(&app, &session, &q)?;
    crate::identity::customers::audit(
        &app.people,
        &q.t,
        "link",
        "session.view",
        &format!("session:{session}"),
        json!({"link_expires": q.exp}),
    )
    .await?;
    tracing::info!(tenant = %q.t, session = %session, "session view opened");
    let page = tokio::fs::read_to_string(app.config.www_dir.join("session.html")).await.map_err(ApiError::internal)?;
    Ok(Html(page).into_response())
}

/// A request that may read the operator's metrics: the scrape token (`SIQ_METRICS_TOKEN`,
/// which can read nothing else) or the operator token. The series name every tenant id with
/// its activity, and a tenant id is half of a dashboard sign-in: they are not public.
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let allowed = [app.config.metrics_token.as_deref(), app.config.admin_token.as_deref()];
        if allowed.iter().all(Option::is_none) {
            return Err(ApiError::forbidden("metrics are disabled: set SIQ_METRICS_TOKEN (or SIQ_ADMIN_TOKEN)"));
        }
        match bearer(parts) {
            Some(t) if allowed.into_iter().flatten().any(|expected| tokens::secrets_equal(t, expected)) => Ok(MetricsReader),
            _ => Err(ApiError::unauthorized("bad metrics token")),
        }
    }
}

/// `GET /metrics`: Prometheus text, for the operator's scraper (bearer `SIQ_METRICS_TOKEN` or
/// the operator token).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text"), (status = 401, description = "bad metrics token"), (status = 403, description = "no metrics token configured")), security(("operator_token" = [])))]
pub async fn metrics(State(app): State<AppState>, _: MetricsReader) -> Response {
    let mut text = app.metrics.prometheus();
    let (lag, pace, waited) = app.ingest.pacer.figures();
    text.push_str(&format!(
        "# HELP siq_runtime_lag_seconds How late a task asking to run every 10 ms runs (smoothed).\n# TYPE siq_runtime_lag_seconds gauge\nsiq_runtime_lag_seconds {}\n\
         # HELP siq_low_lane_pace Frames a second the low lane may read while the runtime lags; 0 when not paced.\n# TYPE siq_low_lane_pace gauge\nsiq_low_lane_pace {pace}\n\
         # HELP siq_low_lane_waits_total Low-lane reads that waited for a token.\n# TYPE siq_low_lane_waits_total counter\nsiq_low_lane_waits_total {waited}\n",
        lag.as_secs_f64()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// An opaque page cursor: hex of the JSON of where the next page starts.
pub fn encode_cursor<T: Serialize>(c: &T) -> String {
    hex::encode(serde_json::to_vec(c).unwrap_or_default())
}

/// Reads `?cursor=`; a cursor that is not one of ours is a 400.
pub fn decode_cursor<T: serde::de::DeserializeOwned>(c: Option<&str>) -> Result<Option<T>, ApiError> {
    let Some(c) = c.filter(|c| !c.is_empty()) else { return Ok(None) };
    hex::decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("cursor is not one this API returned", json!({"field": "cursor"})))
}

/// `limit` of a paged list: default 50, 1..=[`MAX_LIST`] (else a 400).
pub fn page_limit(l: Option<i64>) -> Result<i64, ApiError> {
    checked_limit(l, 50)
}

/// A page of items and the cursor of the next page (`null` on the last page).
pub fn page<T: Serialize, C: Serialize>(items: &[T], limit: i64, next: impl Fn(&T) -> C) -> serde_json::Value {
    let next_cursor = if items.len() as i64 == limit { items.last().map(|l| encode_cursor(&next(l))) } else { None };
    json!({"items": items, "next_cursor": next_cursor})
}

/// What a list endpoint answers: a page, or the error.
pub type Listed = Result<Json<serde_json::Value>, ApiError>;

/// One page of a keyset-paged list: reads `?cursor=` and `?limit=`, fetches that page, and
/// answers `{items, next_cursor}` with the cursor `key` makes of the last item.
pub async fn listed<T: Serialize, C: Serialize + serde::de::DeserializeOwned>(
    cursor: Option<&str>,
    limit: Option<i64>,
    fetch: impl AsyncFnOnce(Option<&C>, i64) -> Result<Vec<T>, crate::store::StoreError>,
    key: impl Fn(&T) -> C,
) -> Listed {
    let after: Option<C> = decode_cursor(cursor)?;
    let limit = page_limit(limit)?;
    let rows = fetch(after.as_ref(), limit).await?;
    Ok(Json(page(&rows, limit, key)))
}

/// A JSON body, with serde's complaint as a 400 `{error_code, message, details}`.
pub type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// A query string, with serde's complaint as a 400 `{error_code, message, details}`.
pub type Q<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// A query parameter naming one value of a vocabulary (`state=open`); anything else is a 400
/// with `message`.
pub fn named_param<T: crate::records::Named>(field: &str, value: Option<&str>, message: &str) -> Result<Option<T>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => T::parse(v).map(Some).ok_or_else(|| ApiError::bad_request(message, json!({ "field": field }))),
    }
}

/// Validates a text field (1..=[`MAX_FIELD_CHARS`] characters, not only white space; trimmed).
pub fn text_field<'a>(name: &str, v: &'a str) -> Result<&'a str, ApiError> {
    field(name, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_field_counts_characters_as_sent_and_refuses_only_white_space() {
        let wide = "é".repeat(MAX_FIELD_CHARS);
        assert_eq!(text_field("name", &wide).unwrap(), wide, "256 two-byte characters are within the limit");
        assert!(text_field("name", &format!("{wide}é")).is_err());
        let padded = format!("{} ", "a".repeat(MAX_FIELD_CHARS));
        assert!(text_field("name", &padded).is_err(), "the limit is on what was sent, not on what trimming leaves");
        assert_eq!(text_field("name", "  Acme\u{3000}").unwrap(), "Acme");
        assert!(text_field("name", " \t\u{a0}\u{2028}").is_err());
    }

    #[test]
    fn a_limit_outside_its_range_is_refused_not_clamped() {
        assert_eq!(page_limit(None).unwrap(), 50);
        assert_eq!(page_limit(Some(MAX_LIST)).unwrap(), MAX_LIST);
        assert!(page_limit(Some(MAX_LIST + 1)).is_err());
        assert!(page_limit(Some(0)).is_err());
        assert_eq!(checked_limit(None, 100).unwrap(), 100);
    }
}
