//! Access: dashboard sign-in, users and roles, API keys (secret keys shown once), how the
//! tenant's visitor tokens are verified, retention, and the audit log. Owners only, except
//! sign-in.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{listed, text_field, Actor, Body, Listed, Role};
use crate::api::error::ApiError;
use crate::identity::jwt::TokenPolicy;
use crate::identity::keyring::{self, normalize_email};
use crate::identity::throttle::Keys;
use crate::identity::tokens;
use crate::records::SealedColumn;
use crate::state::AppState;
use crate::store::{ApiKey, DashboardSessionRecord, KeyKind, TimeCursor, User};
use crate::telemetry::inc;

/// How long a dashboard session lasts, seconds (12 hours).
pub const DASHBOARD_SESSION_SECS: u64 = 12 * 3600;
/// Fewest and most days of retention a tenant may set.
pub const RETENTION_DAYS: (i64, i64) = (1, 3650);
/// Most characters of a new password: a quarter of [`keyring::MAX_PASSWORD_BYTES`], so no
/// password the document allows is past the hash's byte limit.
pub const MAX_PASSWORD_CHARS: usize = keyring::MAX_PASSWORD_BYTES / 4;

/// A new user's email, as [`add_user`] checks it: a text field with an `@` (which is itself
/// the character that is not white space).
pub fn email_schema() -> utoipa::openapi::schema::Object {
    let mut o = super::schema::text();
    o.pattern = Some("@".into());
    o
}

/// A new password: [`keyring::MIN_PASSWORD_CHARS`]..=[`MAX_PASSWORD_CHARS`] characters.
pub fn password_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(keyring::MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .build()
}

fn role_schema() -> utoipa::openapi::schema::Object {
    super::schema::one_of(&[Role::Viewer.as_str(), Role::Member.as_str(), Role::Owner.as_str()])
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/users/{id}/sessions", delete(revoke_sessions))
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/{id}", patch(set_role))
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{id}", delete(revoke_key))
        .route("/v1/identity-settings", get(token_policy).put(set_token_policy))
        .route("/v1/retention", get(retention).put(set_retention))
        .route("/v1/audit", get(audit_log))
}

/// The client's address, when the server runs with connection info (always, outside tests
/// that drive the router directly): the sign-in throttle counts failures per client.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// Body of `POST /v1/login`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    tenant_id: String,
    email: String,
    password: String,
}

/// `POST /v1/login`: signs a dashboard user in with their email and password. The session
/// comes back as an `HttpOnly; SameSite=Strict` cookie (what the dashboard uses: no script can
/// read it), with the CSRF token the page sends on writes, and as a bearer token for API clients.
#[utoipa::path(post, path = "/v1/login", tag = "access", request_body = Login, responses((status = 200, description = "signed in: the session cookie is set; the body has the bearer token, the CSRF token, the user and role"), (status = 401, description = "unknown tenant, email or password"), (status = 429, description = "too many failed sign-ins (per address and per client) or too many at once; `Retry-After` says when to try again")))]
pub async fn login(State(app): State<AppState>, client: ClientAddr, body: Body<Login>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    let refused = || ApiError::unauthorized("unknown tenant, email or password");
    let index = app.keyring.blind_index("email", &normalize_email(&b.email));
    // Throttled per address and per client; the hash waits for a place in a bounded pool.
    let keys = Keys::new(&b.tenant_id, &index, client.0);
    if let Err(wait_secs) = app.logins.check(&keys, app.clock.now_ms()) {
        // Counted for a tenant that exists (the id is the client's word).
        if app.identity.tenant(&b.tenant_id).is_some() {
            inc(&app.metrics.tenant(&b.tenant_id).logins_throttled);
        }
        return Err(ApiError::too_many_requests("too many failed sign-ins; try again later", wait_secs));
    }
    let user = app.store.user_by_email(&b.tenant_id, &index).await?;
    let pw = b.password;
    // Verify against something even for an unknown email, so timing does not tell which emails exist.
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.get_or_init(|| keyring::hash_password("not-a-real-password").unwrap_or_default()).clone());
    let Some(ok) = app.logins.hash(move || keyring::verify_password(&pw, &phc)).await else {
        return Err(ApiError::too_many_requests("too many sign-ins at once; try again shortly", 1));
    };
    if !ok {
        app.logins.failed(&keys, app.clock.now_ms());
    }
    let user = user.filter(|_| ok).ok_or_else(refused)?;
    app.logins.succeeded(&keys);
    let now = app.clock.now_ms();
    let exp = now as u64 / 1000 + DASHBOARD_SESSION_SECS;
    let session = DashboardSessionRecord {
        id: tokens::new_dashboard_session_id(),
        tenant_id: b.tenant_id.clone(),
        user_id: user.id.clone(),
        created_ms: now,
        expires_ms: exp as i64 * 1000,
        revoked_ms: None,
    };
    app.store.create_dashboard_session(&session).await?;
    let token = tokens::sign_dashboard_session(&app.config.link_secret, &b.tenant_id, &user.id, &session.id, exp);
    let csrf = tokens::csrf_token(&app.config.link_secret, &session.id);
    let cookie = session_cookie(&app, &token, DASHBOARD_SESSION_SECS);
    let body = json!({"token": token, "csrf": csrf, "expires_at": exp, "user_id": user.id, "role": user.role, "tenant_id": b.tenant_id});
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The `Set-Cookie` value of a dashboard session (`max_age` 0 clears it). `Secure` when the
/// server is reached over https.
fn session_cookie(app: &AppState, token: &str, max_age: u64) -> String {
    let secure = if app.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", super::SESSION_COOKIE)
}

/// `POST /v1/logout`: ends the caller's dashboard session at once, on every instance, and
/// clears its cookie.
#[utoipa::path(post, path = "/v1/logout", tag = "access", responses((status = 200, description = "signed out; the cookie is cleared"), (status = 400, description = "not a dashboard session: a secret key is revoked, not signed out")), security(("dashboard_session" = [])))]
pub async fn logout(State(app): State<AppState>, actor: Actor) -> Result<Response, ApiError> {
    let Some(session) = &actor.session else {
        return Err(ApiError::bad_request(
            "only a dashboard session signs out (a secret key is revoked with DELETE /v1/keys/{id})",
            json!({}),
        ));
    };
    app.store.revoke_dashboard_session(&actor.tenant.id, session, app.clock.now_ms()).await?;
    actor.audit(&app, "user.logout", &actor.id, json!({})).await?;
    Ok(([(header::SET_COOKIE, session_cookie(&app, "", 0))], Json(json!({"signed_out": true}))).into_response())
}

/// `DELETE /v1/users/{id}/sessions`: signs a user out everywhere (a lost phone, a leaver).
#[utoipa::path(delete, path = "/v1/users/{id}/sessions", tag = "access", params(("id" = String, Path)), responses((status = 200, description = "how many sessions were revoked")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn revoke_sessions(
    State(app): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    let n = app.store.revoke_user_sessions(&actor.tenant.id, &id, app.clock.now_ms()).await?;
    actor.audit(&app, "user.sessions.revoke", &format!("user:{id}"), json!({"revoked": n})).await?;
    Ok(Json(json!({"id": id, "revoked": n})))
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Body of `POST /v1/users`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    #[schema(schema_with = email_schema)]
    email: String,
    #[schema(schema_with = password_schema)]
    password: String,
    #[schema(schema_with = role_schema)]
    role: String,
}

fn role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).ok_or_else(|| ApiError::bad_request("role must be owner, member or viewer", json!({"field": "role"})))
}

/// Creates a dashboard user (the API and the tenant's first owner at creation share this).
pub async fn add_user(app: &AppState, tenant: &str, email: &str, password: &str, role: Role) -> Result<User, ApiError> {
    let email = text_field("email", email)?;
    if !email.contains('@') {
        return Err(ApiError::bad_request("email must be an email address", json!({"field": "email"})));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            format!("password must be at most {MAX_PASSWORD_CHARS} characters"),
            json!({"field": "password"}),
        ));
    }
    let pw = password.to_string();
    let hash = tokio::task::spawn_blocking(move || keyring::hash_password(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::bad_request(e.to_string(), json!({"field": "password"})))?;
    let id = format!("u_{:08x}{:08x}", crate::records::random_u32(), crate::records::random_u32());
    let u = User {
        id: id.clone(),
        tenant_id: tenant.to_string(),
        email_index: app.keyring.blind_index("email", &normalize_email(email)),
        email_sealed: app.keyring.seal_field(SealedColumn::UserEmail, tenant, &id, email),
        password_hash: hash,
        role: role.as_str().into(),
        created_ms: app.clock.now_ms(),
    };
    if !app.store.create_user(&u).await? {
        return Err(ApiError::conflict("a user with this email exists in this tenant"));
    }
    Ok(u)
}

fn user_json(app: &AppState, u: &User) -> serde_json::Value {
    let email = app.keyring.open_field(SealedColumn::UserEmail, &u.tenant_id, &u.id, &u.email_sealed).unwrap_or_default();
    json!({"id": u.id, "email": email, "role": u.role, "created_ms": u.created_ms})
}

/// `POST /v1/users`: adds a dashboard user.
#[utoipa::path(post, path = "/v1/users", tag = "access", request_body = NewUser, responses((status = 201, description = "created"), (status = 400, description = "bad email, password or role"), (status = 409, description = "email taken")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn create_user(State(app): State<AppState>, actor: Actor, body: Body<NewUser>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    let r = role(&b.role)?;
    let u = add_user(&app, &actor.tenant.id, &b.email, &b.password, r).await?;
    actor.audit(&app, "user.create", &format!("user:{}", u.id), json!({"role": u.role})).await?;
    Ok((StatusCode::CREATED, Json(user_json(&app, &u))).into_response())
}

/// `GET /v1/users`.
#[utoipa::path(get, path = "/v1/users", tag = "access", responses((status = 200, description = "the users")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_users(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    let users = app.store.users(&actor.tenant.id).await?;
    Ok(Json(json!({"users": users.iter().map(|u| user_json(&app, u)).collect::<Vec<_>>()})))
}

/// Body of `PATCH /v1/users/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleChange {
    #[schema(schema_with = role_schema)]
    role: String,
}

/// `PATCH /v1/users/{id}`: changes a user's role (the tenant's last owner stays an owner).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "access", request_body = RoleChange, params(("id" = String, Path)), responses((status = 200, description = "changed"), (status = 404, description = "no such user"), (status = 409, description = "last owner")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn set_role(
    State(app): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    body: Body<RoleChange>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    let t = &actor.tenant.id;
    let r = role(&b.role)?;
    let users = app.store.users(t).await?;
    let user = users.iter().find(|u| u.id == id).ok_or_else(|| ApiError::not_found("user"))?;
    let owners = users.iter().filter(|u| u.role == "owner").count();
    if user.role == "owner" && r != Role::Owner && owners == 1 {
        return Err(ApiError::conflict("this is the tenant's last owner"));
    }
    app.store.set_user_role(t, &id, r.as_str()).await?;
    actor.audit(&app, "user.role", &format!("user:{id}"), json!({"from": user.role, "to": r.as_str()})).await?;
    Ok(Json(json!({"id": id, "role": r.as_str()})))
}

/// `GET /v1/keys`: the tenant's keys (never a secret key itself).
#[utoipa::path(get, path = "/v1/keys", tag = "access", responses((status = 200, description = "the keys (never a secret)")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_keys(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    Ok(Json(json!({"keys": app.store.tenant_keys(&actor.tenant.id).await?})))
}

/// Body of `POST /v1/keys`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    kind: KeyKind,
}

/// `POST /v1/keys`: a new publishable or secret key; a secret key is shown only in this answer.
#[utoipa::path(post, path = "/v1/keys", tag = "access", request_body = NewKey, responses((status = 201, description = "the new key (a secret key is shown only here)")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn create_key(State(app): State<AppState>, actor: Actor, body: Body<NewKey>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    let t = &actor.tenant.id;
    let (key, lookup, hint) = match b.kind {
        KeyKind::Publishable => {
            let k = tokens::new_key("pk_");
            let hint = k[k.len() - 4..].to_string();
            (k.clone(), k, hint)
        }
        KeyKind::Secret => {
            let k = tokens::new_key("sk_");
            let h = tokens::hash_key(&k);
            (k, h, String::new())
        }
    };
    let k = ApiKey {
        id: format!("key_{:08x}{:08x}", crate::records::random_u32(), crate::records::random_u32()),
        tenant_id: t.clone(),
        kind: b.kind,
        lookup,
        hint,
        created_ms: app.clock.now_ms(),
        revoked_ms: None,
    };
    app.store.add_api_key(&k).await?;
    app.people.identity_changed(t).await?;
    actor.audit(&app, "key.create", &format!("key:{}", k.id), json!({"kind": k.kind})).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": k.id, "kind": k.kind, "key": key}))).into_response())
}

/// `DELETE /v1/keys/{id}`: revokes a key at once, on every instance.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "access", params(("id" = String, Path)), responses((status = 200, description = "revoked"), (status = 404, description = "no such active key")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn revoke_key(State(app): State<AppState>, actor: Actor, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    let t = &actor.tenant.id;
    if !app.store.revoke_api_key(t, &id, app.clock.now_ms()).await? {
        return Err(ApiError::not_found("key"));
    }
    app.people.identity_changed(t).await?;
    actor.audit(&app, "key.revoke", &format!("key:{id}"), json!({})).await?;
    Ok(Json(json!({"id": id, "revoked": true})))
}

fn policy_json(p: &TokenPolicy) -> serde_json::Value {
    json!({"alg": p.alg, "jwks_url": p.jwks_url, "audience": p.audience, "issuer": p.issuer, "hs_secret_set": p.hs_secret.is_some()})
}

/// `GET /v1/identity-settings`: how the tenant's visitor tokens are verified (secrets never shown).
#[utoipa::path(get, path = "/v1/identity-settings", tag = "access", responses((status = 200, description = "how visitor tokens are verified")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn token_policy(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    Ok(Json(policy_json(&app.identity.policy(&actor.tenant))))
}

/// `PUT /v1/identity-settings`: pins the algorithm (`HS256` with the tenant's secret or one
/// given here, or `RS256`/`ES256` with a JWKS URL) and the expected `aud`/`iss`.
#[utoipa::path(put, path = "/v1/identity-settings", tag = "access", request_body = crate::identity::jwt::TokenPolicy, responses((status = 200, description = "stored"), (status = 400, description = "invalid policy")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn set_token_policy(
    State(app): State<AppState>,
    actor: Actor,
    body: Body<TokenPolicy>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(mut p) = body?;
    actor.require(Role::Owner)?;
    let t = &actor.tenant;
    if p.alg == crate::identity::jwt::HostAlg::Hs256 && p.hs_secret.is_none() {
        p.hs_secret = Some(t.jwt_secret.clone());
    }
    p.validate().map_err(|e| ApiError::bad_request(e.to_string(), json!({})))?;
    if let Some(url) = &p.jwks_url {
        crate::outbound::check_url(url, app.config.channels.targets)
            .map_err(|why| ApiError::bad_request(format!("jwks_url: {why}"), json!({"field": "jwks_url"})))?;
        // Warm the cache; an unreachable URL is reported but not fatal (the host may deploy it next).
        if let Err(e) = app.jwks.prefetch(url).await {
            tracing::warn!(tenant = %t.id, error = %e, "JWKS not reachable yet");
        }
    }
    app.people.set_token_policy(&t.id, &p).await?;
    actor.audit(&app, "identity.policy", "identity-settings", policy_json(&p)).await?;
    Ok(Json(policy_json(&p)))
}

/// `GET /v1/retention`.
#[utoipa::path(get, path = "/v1/retention", tag = "data rights", responses((status = 200, description = "days kept")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn retention(actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    Ok(Json(json!({"days": actor.tenant.retention_days})))
}

/// Body of `PUT /v1/retention`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Retention {
    /// Days kept, `RETENTION_DAYS` (1..=3650).
    #[schema(minimum = 1, maximum = 3650)]
    days: i64,
}

/// `PUT /v1/retention {days}`: session data older than this is deleted by the daily pass.
#[utoipa::path(put, path = "/v1/retention", tag = "data rights", request_body = Retention, responses((status = 200, description = "stored"), (status = 400, description = "out of range")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn set_retention(State(app): State<AppState>, actor: Actor, body: Body<Retention>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    if !(RETENTION_DAYS.0..=RETENTION_DAYS.1).contains(&b.days) {
        return Err(ApiError::bad_request(format!("days must be {}..={}", RETENTION_DAYS.0, RETENTION_DAYS.1), json!({"field": "days"})));
    }
    let t = &actor.tenant.id;
    app.store.set_retention(t, b.days).await?;
    app.people.identity_changed(t).await?;
    actor.audit(&app, "retention.set", "retention", json!({"from": actor.tenant.retention_days, "to": b.days})).await?;
    Ok(Json(json!({"days": b.days})))
}

/// `?cursor=&limit=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Rows, 1..=500 (`MAX_LIST`), default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /v1/audit`: the audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "access", params(AuditQuery), responses((status = 200, description = "a page of the audit log, newest first")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn audit_log(State(app): State<AppState>, actor: Actor, q: super::Q<AuditQuery>) -> Listed {
    let Query(q) = q?;
    actor.require(Role::Owner)?;
    listed(
        q.cursor.as_deref(),
        q.limit,
        async |after: Option<&TimeCursor>, limit| app.store.audit_log(&actor.tenant.id, after, limit).await,
        |e| TimeCursor { ms: e.at_ms, id: e.id.clone() },
    )
    .await
}
