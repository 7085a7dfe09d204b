//! People: customers with their strength, factors and history; segments; the one-tap contexts
//! customers share (from the host backend, or from the widget with the customer's own token);
//! transactions (one by one, or a CSV file taken whole or not at all); the server-side
//! confirmation API; and each person's data rights (export, erasure).

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;

use super::{listed, text_field, Actor, Body, Listed, Role, Q};
use crate::api::error::ApiError;
use crate::identity::customers::{self, DEFAULT_CONTEXT_TTL_MS, MAX_CONTEXT_TTL_MS, MAX_CSV_BYTES};
use crate::records::{Context, SealedColumn};
use crate::state::AppState;
use crate::store::{CustomerCursor, CustomerOrder, TimeCursor, TransactionRecord};

/// Daily snapshots `GET /v1/me` returns (a year and a day: the widget's "your year with us").
pub const ME_HISTORY_DAYS: i64 = 366;

/// How far back `POST /v1/confirm` looks for a confirmed detection, ms.
pub const CONFIRM_WINDOW_MS: i64 = 120_000;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", get(list_customers))
        .route("/v1/customers/{sub}", get(customer).delete(erase))
        .route("/v1/customers/{sub}/export", get(export))
        .route("/v1/segments", get(segments))
        .route("/v1/contexts", get(list_contexts).post(share_context))
        .route("/v1/transactions", get(list_transactions))
        .route("/v1/transactions/csv", post(upload_transactions))
        .route("/v1/confirm", post(confirm))
}

/// `?segment=&order=&cursor=&limit=` of `GET /v1/customers`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Only this segment.
    #[param(schema_with = segment_schema)]
    segment: Option<String>,
    /// `weakest` (default) or `strongest`.
    #[param(schema_with = order_schema)]
    order: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Rows, 1..=500 (`MAX_LIST`), default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The segments `?segment=` takes.
pub const SEGMENTS: [&str; 4] = ["thriving", "steady", "eroding", "at_risk"];

fn segment_schema() -> utoipa::openapi::schema::Object {
    super::schema::one_of(&SEGMENTS)
}

fn order_schema() -> utoipa::openapi::schema::Object {
    super::schema::one_of(&["weakest", "strongest"])
}

/// `GET /v1/customers`: customers by strength (weakest first by default), optionally of one
/// segment, a page at a time.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(CustomerQuery), responses((status = 200, description = "a page of customers and the next cursor"), (status = 400, description = "bad segment, order or cursor")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_customers(State(app): State<AppState>, actor: Actor, q: Q<CustomerQuery>) -> Listed {
    let Query(q) = q?;
    let order = match q.order.as_deref() {
        None | Some("weakest") => CustomerOrder::StrengthAsc,
        Some("strongest") => CustomerOrder::StrengthDesc,
        Some(o) => return Err(ApiError::bad_request(format!("order must be weakest or strongest, got {o:?}"), json!({"field": "order"}))),
    };
    if let Some(s) = q.segment.as_deref() {
        if !SEGMENTS.contains(&s) {
            return Err(ApiError::bad_request("segment must be thriving, steady, eroding or at_risk", json!({"field": "segment"})));
        }
    }
    listed(
        q.cursor.as_deref(),
        q.limit,
        async |after: Option<&CustomerCursor>, limit| {
            app.store.customers(&actor.tenant.id, q.segment.as_deref(), order, after, limit).await
        },
        |c| CustomerCursor { strength: c.strength, sub: c.sub.clone() },
    )
    .await
}

/// `GET /v1/customers/{sub}`: one customer with their factors, strength history, shared
/// states, account values and recent detections. Members and owners see the email.
#[utoipa::path(get, path = "/v1/customers/{sub}", tag = "customers", params(("sub" = String, Path)), responses((status = 200, description = "the customer with factors, history, contexts, account, detections"), (status = 404, description = "no such customer in this tenant")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn customer(State(app): State<AppState>, actor: Actor, Path(sub): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let t = &actor.tenant.id;
    let c = app.store.customer(t, &sub).await?.ok_or_else(|| ApiError::not_found("customer"))?;
    let email = match (&c.email_sealed, actor.role >= Role::Member) {
        (Some(s), true) => Some(app.keyring.open_field(SealedColumn::CustomerEmail, t, &sub, s).map_err(ApiError::internal)?),
        _ => None,
    };
    let account = c.account.as_deref().and_then(|a| app.identity.account(t, a));
    let history = app.store.snapshots(t, &sub, 90).await?;
    let contexts = app.store.customer_contexts(t, &sub, 20).await?;
    let detections = app.store.user_detections(t, &sub, 0, 20).await?;
    Ok(Json(json!({
        "customer": c,
        "email": email,
        "account": account,
        "context": app.identity.context(t, &sub, app.clock.now_ms()),
        "history": history,
        "contexts": contexts,
        "detections": super::without_evidence(detections),
    })))
}

/// `GET /v1/segments`: every segment with its customers and their accounts' value (each
/// account counted once per segment).
#[utoipa::path(get, path = "/v1/segments", tag = "customers", responses((status = 200, description = "the four segments with customers and value")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn segments(State(app): State<AppState>, actor: Actor) -> Result<Json<serde_json::Value>, ApiError> {
    let t = &actor.tenant.id;
    let rows = app.store.segment_rows(t).await?;
    let mut counted = std::collections::HashSet::new();
    let items = rows.iter().filter_map(|(segment, account)| {
        let segment: crate::identity::strength::Segment = serde_json::from_value(json!(segment)).ok()?;
        let value = match account {
            Some(a) if counted.insert((segment, a.as_str())) => app.identity.with_account(t, a, |a| a.value_cents).unwrap_or(0),
            _ => 0,
        };
        Some((segment, value))
    });
    Ok(Json(json!({"segments": crate::identity::strength::summarize(items.collect::<Vec<_>>())})))
}

/// `?cursor=&limit=` of time-ordered lists.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Rows, 1..=500 (`MAX_LIST`), default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Only this account's (transactions).
    account: Option<String>,
}

/// `GET /v1/contexts`: the states customers share now (unexpired), newest first.
#[utoipa::path(get, path = "/v1/contexts", tag = "contexts", params(TimeQuery), responses((status = 200, description = "a page of unexpired states")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_contexts(State(app): State<AppState>, actor: Actor, q: Q<TimeQuery>) -> Listed {
    let Query(q) = q?;
    listed(
        q.cursor.as_deref(),
        q.limit,
        async |after: Option<&TimeCursor>, limit| app.store.contexts(&actor.tenant.id, app.clock.now_ms(), after, limit).await,
        |c| TimeCursor { ms: c.set_ms, id: c.id.clone() },
    )
    .await
}

/// Body of `POST /v1/me/context` (the widget's token names its customer).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewContext {
    #[schema(schema_with = context_schema)]
    state: String,
    /// Seconds until it expires (default 7 days, at most 30: `MAX_CONTEXT_TTL_MS`).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2592000)]
    ttl_secs: Option<i64>,
}

/// Body of `POST /v1/contexts`: the host backend names the customer.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct HostContext {
    /// The customer.
    #[schema(schema_with = super::schema::text)]
    sub: String,
    #[serde(flatten)]
    context: NewContext,
}

fn context_schema() -> utoipa::openapi::schema::Object {
    super::schema::one_of(&Context::names())
}

/// The state and its time to live, ms.
fn context_ttl(b: &NewContext) -> Result<(Context, i64), ApiError> {
    let Some(state) = Context::parse(&b.state) else {
        return Err(ApiError::bad_request(
            "state must be busy, stuck, exploring or frustrated",
            json!({"field": "state", "allowed": Context::names()}),
        ));
    };
    match b.ttl_secs {
        None => Ok((state, DEFAULT_CONTEXT_TTL_MS)),
        Some(s) if s > 0 && s <= MAX_CONTEXT_TTL_MS / 1000 => Ok((state, s * 1000)),
        Some(_) => Err(ApiError::bad_request(format!("ttl_secs must be 1..={}", MAX_CONTEXT_TTL_MS / 1000), json!({"field": "ttl_secs"}))),
    }
}

/// `POST /v1/contexts`: the host backend records a customer's one-tap state.
#[utoipa::path(post, path = "/v1/contexts", tag = "contexts", request_body = HostContext, responses((status = 201, description = "stored and shared"), (status = 400, description = "bad state or ttl")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn share_context(State(app): State<AppState>, actor: Actor, body: Body<HostContext>) -> Result<Response, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let sub = text_field("sub", &b.sub)?.to_string();
    let (state, ttl) = context_ttl(&b.context)?;
    let c = customers::set_context(&app.people, &actor.tenant.id, &sub, state, ttl).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// The customer behind a widget request: `X-SIQ-Site-Key: pk_…` and `Authorization: Bearer`
/// with the visitor token the host app signed.
async fn visitor(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<(std::sync::Arc<crate::store::Tenant>, crate::identity::jwt::VisitorClaims), ApiError> {
    let key =
        headers.get("x-siq-site-key").and_then(|v| v.to_str().ok()).ok_or_else(|| ApiError::unauthorized("missing X-SIQ-Site-Key"))?;
    let tenant = app.identity.tenant_by_site_key(key).ok_or_else(|| ApiError::unauthorized("unknown site key"))?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("missing bearer visitor token"))?;
    let v = app.identity.resolve(&app.jwks, &tenant, token).await.map_err(|e| {
        use crate::identity::jwt::TokenError;
        // A visitor learns that the host's keys could not be had, never why: the fetch's error
        // would make this endpoint a probe of what the server can reach.
        match e {
            TokenError::JwksUnavailable { .. } => {
                tracing::warn!(tenant = %tenant.id, error = %e, "JWKS unavailable for a visitor token");
                ApiError::unauthorized("the host's signing keys could not be fetched")
            }
            e => ApiError::unauthorized(e.to_string()),
        }
    })?;
    // A widget left open across its person's erasure must not bring them back (a state set
    // would be stored about them again): the token identifies nobody now.
    if customers::erased_since_issued(&app.people, &tenant.id, &v.claims).await? {
        return Err(ApiError::unauthorized("identity token issued before this visitor's data was erased: sign a fresh one"));
    }
    Ok((tenant, v.claims))
}

/// `GET /v1/me`: the customer's own view (the widget): their strength with its factors and
/// top reasons, and the state they shared.
#[utoipa::path(get, path = "/v1/me", tag = "widget", responses((status = 200, description = "the customer's own strength, factors, history and state"), (status = 401, description = "bad site key or visitor token")), security(("site_key_and_visitor_token" = [])))]
pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let (tenant, claims) = visitor(&app, &headers).await?;
    let c = app.store.customer(&tenant.id, &claims.sub).await?;
    Ok(Json(json!({
        "sub": claims.sub,
        "name": claims.name,
        "strength": c.as_ref().map(|c| c.strength),
        "segment": c.as_ref().map(|c| c.segment.clone()),
        "factors": c.as_ref().map(|c| c.factors.clone()),
        "history": app.store.snapshots(&tenant.id, &claims.sub, ME_HISTORY_DAYS).await?,
        "context": app.identity.context(&tenant.id, &claims.sub, app.clock.now_ms()),
    })))
}

/// `POST /v1/me/context`: the customer's own one-tap state (the widget).
#[utoipa::path(post, path = "/v1/me/context", tag = "widget", request_body = NewContext, responses((status = 201, description = "stored and shared"), (status = 400, description = "bad state"), (status = 401, description = "bad site key or visitor token")), security(("site_key_and_visitor_token" = [])))]
pub async fn my_context(State(app): State<AppState>, headers: HeaderMap, body: Body<NewContext>) -> Result<Response, ApiError> {
    let (tenant, claims) = visitor(&app, &headers).await?;
    let Json(b) = body?;
    let (state, ttl) = context_ttl(&b)?;
    let c = customers::set_context(&app.people, &tenant.id, &claims.sub, state, ttl).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// `GET /v1/transactions?account=`: transactions, newest first.
#[utoipa::path(get, path = "/v1/transactions", tag = "revenue", params(TimeQuery), responses((status = 200, description = "a page of transactions, newest first")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn list_transactions(State(app): State<AppState>, actor: Actor, q: Q<TimeQuery>) -> Listed {
    let Query(q) = q?;
    listed(
        q.cursor.as_deref(),
        q.limit,
        async |after: Option<&TimeCursor>, limit| app.store.transactions(&actor.tenant.id, q.account.as_deref(), after, limit).await,
        |t| TimeCursor { ms: t.at_ms, id: t.id.clone() },
    )
    .await
}

/// `POST /v1/transactions/csv` (`text/csv` body, header `id,account,amount_cents[,at_ms]`):
/// streamed twice with bounded memory. First the whole file is validated row by row as it
/// arrives (and kept in an unnamed temporary file): any bad row refuses the whole file with a
/// report of every row at fault (422) and nothing is recorded. Then its rows are recorded in
/// batches of [`customers::CSV_BATCH_ROWS`], one database transaction each, so the store's write
/// lock is never held for the whole file. If a batch fails (a row would take an account past
/// its bound: 409 naming the account; a database error: 500), the batches before it stay
/// recorded and the error's `details.recorded` says how many rows were: sending the same file
/// again is safe, ids already recorded count as duplicates.
#[utoipa::path(post, path = "/v1/transactions/csv", tag = "revenue", request_body(content = String, content_type = "text/csv"), responses((status = 201, description = "every row recorded"), (status = 422, description = "invalid rows: nothing recorded, every bad row reported"), (status = 409, description = "a row would take an account past its bound: the batches before it are recorded (`details.recorded`)"), (status = 413, description = "too large")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn upload_transactions(State(app): State<AppState>, actor: Actor, body: HttpBody) -> Result<Response, ApiError> {
    actor.require(Role::Member)?;
    let mut seen = 0usize;
    // Set when the body passed the limit: the parser's report keeps at most MAX_ROW_ERRORS
    // errors, so the cut-off may not be among them.
    let past_limit = Arc::new(AtomicBool::new(false));
    let flag = past_limit.clone();
    let stream = body.into_data_stream().map_err(std::io::Error::other).and_then(move |chunk| {
        seen += chunk.len();
        let over = seen > MAX_CSV_BYTES;
        if over {
            flag.store(true, Ordering::Relaxed);
        }
        async move {
            if over {
                Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "too large"))
            } else {
                Ok(chunk)
            }
        }
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(stream)));
    let now = app.clock.now_ms();
    let checked = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let file = spool()?;
        let again = file.try_clone()?;
        let tee = Tee { from: reader, to: std::io::BufWriter::new(file.try_clone()?) };
        let reread = move || -> std::io::Result<_> {
            let mut f = again;
            f.seek(SeekFrom::Start(0))?;
            Ok(BufReader::new(f))
        };
        Ok((customers::check_transactions(tee, reread, now), file))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let (summary, file) = match checked {
        (Ok(summary), file) => (summary, file),
        (Err(report), _) => {
            if past_limit.load(Ordering::Relaxed) {
                return Err(ApiError::payload_too_large(
                    format!("the file is larger than {MAX_CSV_BYTES} bytes"),
                    json!({"limit_bytes": MAX_CSV_BYTES}),
                ));
            }
            let body = json!({
                "error_code": "invalid_rows",
                "message": format!("{} of {} rows are invalid; nothing was recorded", report.bad_rows, report.rows),
                "details": report,
            });
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
        }
    };

    // The valid file, read again from the temporary file a batch at a time.
    let (batches, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<TransactionRecord>, String>>(2);
    tokio::task::spawn_blocking(move || {
        let mut f = file;
        let rows = match f
            .seek(SeekFrom::Start(0))
            .map_err(|e| e.to_string())
            .and_then(|_| customers::transaction_rows(BufReader::new(f), now).map_err(|e| e.message))
        {
            Ok(rows) => rows,
            Err(e) => return drop(batches.blocking_send(Err(e))),
        };
        let mut batch = Vec::with_capacity(customers::CSV_BATCH_ROWS);
        for (_, row) in rows {
            match row {
                Ok(r) => batch.push(r),
                Err(e) => return drop(batches.blocking_send(Err(e.message))),
            }
            if batch.len() == customers::CSV_BATCH_ROWS && batches.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = batches.blocking_send(Ok(batch));
        }
    });
    let t = &actor.tenant.id;
    let mut recorded = 0u64;
    // The accounts of the batches recorded, with their values as recorded: the store sums each
    // account once per upload, not once per batch; the cache and bus are told of them every
    // MAX_PENDING_ACCOUNTS accounts and at the end.
    let mut changed: HashMap<String, i64> = HashMap::new();
    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        let stored = match batch {
            Ok(batch) => app.store.add_transaction_batch(t, &batch, &mut changed).await.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(format!("the checked file could not be read again: {e}"))),
        };
        match stored {
            Ok(n) => {
                recorded += n;
                if changed.len() >= MAX_PENDING_ACCOUNTS {
                    for (a, _) in changed.drain() {
                        app.people.account_changed(t, &a).await?;
                    }
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(rx);
    for (a, _) in changed.drain() {
        app.people.account_changed(t, &a).await?;
    }
    if let Some(e) = failure {
        tracing::warn!(tenant = %t, rows = summary.rows, recorded, "transactions upload stopped part-way");
        return Err(e.with_detail("recorded", json!(recorded)));
    }
    tracing::info!(tenant = %t, rows = summary.rows, recorded, "transactions uploaded");
    Ok((
        StatusCode::CREATED,
        Json(json!({"rows": summary.rows, "recorded": recorded, "duplicates": summary.rows - recorded, "accounts": summary.accounts})),
    )
        .into_response())
}

/// Accounts of an upload whose new values are shared (cache, bus) once this many are pending,
/// and at the end: each account once per this many, not once per batch, in bounded memory.
const MAX_PENDING_ACCOUNTS: usize = 10_000;

/// An unnamed file for an upload being checked: created in the temporary directory and unlinked
/// at once, so it goes when its last handle closes, whatever happens to the request.
fn spool() -> std::io::Result<std::fs::File> {
    let dir = std::env::temp_dir();
    loop {
        let name = format!("siq-upload-{}-{:08x}{:08x}", std::process::id(), crate::records::random_u32(), crate::records::random_u32());
        let path = dir.join(name);
        match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads `from`, writing what it read to `to` (flushed at the end of `from`).
struct Tee<R, W> {
    from: R,
    to: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buf)?;
        if n == 0 {
            self.to.flush()?;
        } else {
            self.to.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Body of `POST /v1/confirm`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConfirmQuery {
    /// The customer.
    #[schema(schema_with = super::schema::text)]
    sub: String,
}

/// `POST /v1/confirm {sub}`: is this customer struggling now? The newest server-confirmed
/// detection of theirs in the last two minutes, with its confidence and evidence features.
#[utoipa::path(post, path = "/v1/confirm", tag = "customers", request_body = ConfirmQuery, responses((status = 200, description = "struggling now, with the detection and its evidence features")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn confirm(State(app): State<AppState>, actor: Actor, body: Body<ConfirmQuery>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Member)?;
    let sub = text_field("sub", &b.sub)?;
    let now = app.clock.now_ms();
    let recent = app.store.user_detections(&actor.tenant.id, sub, now - CONFIRM_WINDOW_MS, 20).await?;
    let bar = app.config.intervene_confidence as f64;
    let struggling = recent.iter().find(|d| d.emotion != shared_physics::Emotion::Engaged && d.confidence >= bar);
    Ok(Json(json!({
        "sub": sub,
        "struggling": struggling.is_some(),
        "window_ms": CONFIRM_WINDOW_MS,
        "confidence_bar": bar,
        "detection": struggling.map(|d| json!({
            "emotion": d.emotion, "confidence": d.confidence, "section": d.section, "session": d.session,
            "features": d.features, "at_ms": d.created_ms,
        })),
        "detections_in_window": recent.len(),
        "context": app.identity.context(&actor.tenant.id, sub, now),
    })))
}

/// `GET /v1/customers/{sub}/export`: everything stored about a person (owners only; audited).
#[utoipa::path(get, path = "/v1/customers/{sub}/export", tag = "data rights", params(("sub" = String, Path)), responses((status = 200, description = "everything stored about the person"), (status = 404, description = "no such customer")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn export(State(app): State<AppState>, actor: Actor, Path(sub): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    let t = &actor.tenant.id;
    let data = customers::export(&app.people, t, &sub).await?.ok_or_else(|| ApiError::not_found("customer"))?;
    actor.audit(&app, "person.export", &customers::person_ref(&app.people, t, &sub), json!({})).await?;
    Ok(Json(data))
}

/// `DELETE /v1/customers/{sub}`: erases a person from every table, the shared state and the
/// bus's stored events (owners only; audited under a pseudonymous reference).
#[utoipa::path(delete, path = "/v1/customers/{sub}", tag = "data rights", params(("sub" = String, Path)), responses((status = 200, description = "erased; rows removed per table"), (status = 404, description = "no such customer")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn erase(State(app): State<AppState>, actor: Actor, Path(sub): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    actor.require(Role::Owner)?;
    let t = &actor.tenant.id;
    if app.store.customer(t, &sub).await?.is_none() && app.store.sessions_of(t, &sub).await?.is_empty() {
        return Err(ApiError::not_found("customer"));
    }
    let removed = customers::erase(&app.people, t, &sub).await?;
    let removed: serde_json::Map<String, serde_json::Value> = removed.into_iter().map(|(k, n)| (k.to_string(), n.into())).collect();
    actor.audit(&app, "person.erase", &customers::person_ref(&app.people, t, &sub), json!({"removed": removed})).await?;
    Ok(Json(json!({"erased": true, "removed": removed})))
}
