//! Revenue forensics, the emotional volatility index, the daily emotion weather and the failure
//! page (`crate::forensics` computes; this reads the rows and serves the figures). Every figure
//! of money carries its interval and the holdout it came from, or says there is too little data.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Actor, Body, Role};
use crate::api::error::ApiError;
use crate::forensics::{evi, failures, money, DAY_MS};
use crate::state::AppState;

/// Most days a forensics or failure report looks back.
pub const MAX_DAYS: i64 = 366;
/// Most hours of the EVI chart.
pub const MAX_HOURS: i64 = 24 * 14;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/forensics", get(report))
        .route("/v1/forensics/roi.csv", get(roi_csv))
        .route("/v1/evi", get(evi_now))
        .route("/v1/weather", get(weather))
        .route("/v1/failures", get(failures_of_tenant))
        .route("/v1/failures/public", put(set_public))
        .route("/v1/public/failures/{tenant}", get(public_failures))
        .route("/v1/export", post(export))
        .route("/v1/weather/mail", post(mail_weather))
}

/// `?days=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Days {
    /// How far back, days (default 90 for forensics, 30 for failures; at most 366).
    days: Option<i64>,
}

fn days(d: Option<i64>, default: i64) -> i64 {
    d.unwrap_or(default).clamp(1, MAX_DAYS)
}

struct Money {
    correlations: Vec<money::Correlation>,
    prevented: Vec<money::Prevented>,
    projection: money::Projection,
}

async fn money_of(app: &AppState, actor: &Actor, days: i64) -> Result<Money, ApiError> {
    let t = &actor.tenant;
    let now = app.clock.now_ms();
    let rows = app.store.decision_outcomes(&t.id, now - days * DAY_MS).await?;
    let w = t.outcome_window_ms;
    let prevented = money::prevented(&rows, w, now);
    let all = prevented.last().expect("the all row is always there");
    let projection = money::projection(all, &rows, w, now);
    Ok(Money { correlations: money::correlations(&rows, w, now), prevented, projection })
}

/// `GET /v1/forensics?days=`: emotion → outcome per emotion and section, prevented churn per
/// emotion and in all (uplift against the holdout × value at risk, with the interval), and the
/// quarterly projection (docs/forensics.md).
#[utoipa::path(get, path = "/v1/forensics", tag = "forensics", params(Days), responses((status = 200, description = "correlations, prevented churn and the projection, each with its interval or `too_little_data`")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn report(State(app): State<AppState>, actor: Actor, q: super::Q<Days>) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let days = days(q.days, 90);
    let m = money_of(&app, &actor, days).await?;
    Ok(Json(json!({
        "days": days,
        "holdout_share": actor.tenant.holdout_share,
        "outcome_window_ms": actor.tenant.outcome_window_ms,
        "min_per_group": money::MIN_PER_GROUP,
        "correlations": m.correlations,
        "prevented": m.prevented,
        "projection": m.projection,
    })))
}

/// `GET /v1/forensics/roi.csv?days=`: the intervention ROI report as a CSV download.
#[utoipa::path(get, path = "/v1/forensics/roi.csv", tag = "forensics", params(Days), responses((status = 200, description = "text/csv: one row per emotion and one for all, with the holdout each figure came from")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn roi_csv(State(app): State<AppState>, actor: Actor, q: super::Q<Days>) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let days = days(q.days, 90);
    let m = money_of(&app, &actor, days).await?;
    let csv = money::roi_csv(&m.prevented, actor.tenant.holdout_share);
    let name = format!("attachment; filename=\"sentientiq-roi-{days}d.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], csv).into_response())
}

/// `?hours=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Hours {
    /// Hours of the chart (default 24, at most 336).
    hours: Option<i64>,
}

/// `GET /v1/evi?hours=`: the EVI of the last hour and per hour over the chart, each with its
/// interval.
#[utoipa::path(get, path = "/v1/evi", tag = "forensics", params(Hours), responses((status = 200, description = "the last hour's EVI and the hourly series")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn evi_now(State(app): State<AppState>, actor: Actor, q: super::Q<Hours>) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let hours = q.hours.unwrap_or(24).clamp(1, MAX_HOURS);
    let now = app.clock.now_ms();
    let since = now - hours * evi::HOUR_MS;
    let t = &actor.tenant.id;
    let points = app.store.detection_points(t, since).await?;
    let sessions = app.store.session_minutes(t, since).await?;
    let last: Vec<&crate::store::DetectionPoint> = points.iter().filter(|p| p.created_ms >= now - evi::HOUR_MS).collect();
    let last_minutes: i64 = sessions.iter().filter(|s| s.0 >= now - evi::HOUR_MS).map(|s| s.1).sum();
    Ok(Json(json!({
        "now_ms": now,
        "last_hour": {"evi": evi::evi(&last, last_minutes), "minutes": last_minutes},
        "series": evi::series(&points, &sessions, since, now, evi::HOUR_MS),
    })))
}

/// `?day=YYYY-MM-DD`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// The UTC day, `YYYY-MM-DD` from 1970 (default: today).
    #[param(format = Date, pattern = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    day: Option<String>,
}

fn day_start(day: Option<&str>, now_ms: i64) -> Result<i64, ApiError> {
    match day {
        None => Ok(now_ms - now_ms.rem_euclid(DAY_MS)),
        Some(d) => crate::forensics::warehouse::parse_day(d)
            .map(|days| days * DAY_MS)
            .ok_or_else(|| ApiError::bad_request("day must be YYYY-MM-DD", json!({"field": "day"}))),
    }
}

/// `GET /v1/weather?day=`: the daily emotion weather of a UTC day against the week before.
#[utoipa::path(get, path = "/v1/weather", tag = "forensics", params(DayQuery), responses((status = 200, description = "the day's EVI, sky, trend, emotions, sections and a sentence"), (status = 400, description = "bad day")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn weather(State(app): State<AppState>, actor: Actor, q: super::Q<DayQuery>) -> Result<Json<evi::Weather>, ApiError> {
    let Query(q) = q?;
    let start = day_start(q.day.as_deref(), app.clock.now_ms())?;
    let t = &actor.tenant.id;
    let since = start - 7 * DAY_MS;
    let points = app.store.detection_points(t, since).await?;
    let sessions = app.store.session_minutes(t, since).await?;
    Ok(Json(evi::weather(&points, &sessions, start)))
}

async fn failure_page(app: &AppState, tenant: &str, days: i64) -> Result<failures::FailurePage, ApiError> {
    let since = app.clock.now_ms() - days * DAY_MS;
    let facts = app.store.failure_facts(tenant, since).await?;
    let reports = app.store.false_positives(tenant, since).await?;
    let mut page = failures::page(&facts, &reports, days, crate::forensics::failures::up_since_ms());
    let c = app.metrics.tenant(tenant).snapshot();
    page.storage = failures::StorageFailures {
        frames_unstored: c.frames_unstored,
        events_given_up: c.persist_failed,
        events_refused: c.durable_refused,
        events_redelivered: c.persist_retried,
    };
    Ok(page)
}

/// `GET /v1/failures?days=`: the tenant's failure page, and whether it is public.
#[utoipa::path(get, path = "/v1/failures", tag = "forensics", params(Days), responses((status = 200, description = "false positives, misses, failed and late deliveries, delays, minutes interrupted")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn failures_of_tenant(State(app): State<AppState>, actor: Actor, q: super::Q<Days>) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let page = failure_page(&app, &actor.tenant.id, days(q.days, 30)).await?;
    let public = app.store.public_failures(&actor.tenant.id).await?;
    Ok(Json(json!({"public": public, "public_url": format!("/failures.html?t={}", actor.tenant.id), "page": page})))
}

/// Body of `PUT /v1/failures/public`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Publish {
    /// Whether anyone may read the failure page (no key; no personal data on it).
    public: bool,
}

/// `PUT /v1/failures/public {public}`: the tenant opts its failure page in (or out).
#[utoipa::path(put, path = "/v1/failures/public", tag = "forensics", request_body = Publish, responses((status = 200, description = "stored")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn set_public(State(app): State<AppState>, actor: Actor, body: Body<Publish>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    app.store.set_public_failures(&actor.tenant.id, b.public, app.clock.now_ms()).await?;
    actor.audit(&app, "failures.public", "failures", json!({"public": b.public})).await?;
    Ok(Json(json!({"public": b.public})))
}

/// `GET /v1/public/failures/{tenant}?days=`: a tenant's failure page, for anyone, when the
/// tenant made it public (404 otherwise, the same as an unknown tenant).
#[utoipa::path(get, path = "/v1/public/failures/{tenant}", tag = "forensics", params(("tenant" = String, Path), Days), responses((status = 200, description = "the failure page (no personal data)"), (status = 404, description = "no such public page")))]
pub async fn public_failures(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    q: super::Q<Days>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q?;
    let t = app.identity.tenant(&tenant).ok_or_else(|| ApiError::not_found("public failure page"))?;
    if !app.store.public_failures(&t.id).await? {
        return Err(ApiError::not_found("public failure page"));
    }
    let page = failure_page(&app, &t.id, days(q.days, 30)).await?;
    Ok(Json(json!({"tenant": t.name, "page": page})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_read_exactly() {
        assert_eq!(day_start(Some("1970-01-02"), 0).unwrap(), DAY_MS);
        assert_eq!(day_start(Some("2024-10-04"), 0).unwrap(), 20_000 * DAY_MS);
        assert_eq!(day_start(None, 20_000 * DAY_MS + 5).unwrap(), 20_000 * DAY_MS);
        for bad in ["2024-02-30", "2024-13-01", "24-1-1x", "2024-01", "2024-01-01-01"] {
            assert!(day_start(Some(bad), 0).is_err(), "{bad}");
        }
    }
}

/// Body of `POST /v1/export`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ExportDay {
    /// The UTC day, `YYYY-MM-DD` (default: yesterday).
    #[serde(default)]
    day: Option<String>,
}

/// `POST /v1/export {day}`: writes the tenant's sessions, detections, decisions, outcomes and
/// alerts of a UTC day as Parquet under `SIQ_EXPORT_DIR` (`{table}/tenant=…/day=…/part-0.parquet`),
/// replacing an earlier export of that day.
#[utoipa::path(post, path = "/v1/export", tag = "forensics", request_body = ExportDay, responses((status = 200, description = "the files written and their rows"), (status = 400, description = "bad day"), (status = 409, description = "no export folder configured")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn export(State(app): State<AppState>, actor: Actor, body: Body<ExportDay>) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    let Some(dir) = app.config.export_dir.clone() else {
        return Err(ApiError::conflict("no export folder: set SIQ_EXPORT_DIR"));
    };
    let now = app.clock.now_ms();
    let start = match b.day.as_deref() {
        Some(d) => day_start(Some(d), now)?,
        None => day_start(None, now)? - DAY_MS,
    };
    let day = start / DAY_MS;
    let written =
        crate::forensics::warehouse::export_day(app.store.as_ref(), &actor.tenant.id, day, &dir).await.map_err(ApiError::internal)?;
    actor.audit(&app, "warehouse.export", "export", json!({"day": crate::forensics::warehouse::day_name(day)})).await?;
    Ok(Json(json!({"day": crate::forensics::warehouse::day_name(day), "files": written})))
}

/// `POST /v1/weather/mail {day}`: mails the day's emotion weather (default yesterday) to every
/// owner of the tenant through the SMTP channel (`SIQ_SMTP_URL`, `SIQ_EMAIL_FROM`).
#[utoipa::path(post, path = "/v1/weather/mail", tag = "forensics", request_body = ExportDay, responses((status = 200, description = "to whom it was sent, and the weather"), (status = 409, description = "no SMTP channel configured"), (status = 503, description = "the SMTP server refused or could not be reached")), security(("secret_key" = []), ("dashboard_session" = [])))]
pub async fn mail_weather(State(app): State<AppState>, actor: Actor, body: Body<ExportDay>) -> Result<Json<serde_json::Value>, ApiError> {
    use crate::escalation::channels::{email::Email, Alert, Channel, Severity};
    use crate::records::SealedColumn;
    let Json(b) = body?;
    actor.require(Role::Owner)?;
    let c = &app.config.channels;
    let (Some(url), Some(from)) = (&c.smtp_url, &c.email_from) else {
        return Err(ApiError::conflict("no SMTP channel: set SIQ_SMTP_URL and SIQ_EMAIL_FROM"));
    };
    let mail = Email::new(url, from, c.request_timeout).map_err(ApiError::internal)?;
    let now = app.clock.now_ms();
    let start = match b.day.as_deref() {
        Some(d) => day_start(Some(d), now)?,
        None => day_start(None, now)? - DAY_MS,
    };
    let t = &actor.tenant;
    let points = app.store.detection_points(&t.id, start - 7 * DAY_MS).await?;
    let sessions = app.store.session_minutes(&t.id, start - 7 * DAY_MS).await?;
    let w = evi::weather(&points, &sessions, start);
    let alert = Alert {
        id: format!("weather_{}_{}", t.id, w.day),
        tenant: t.id.clone(),
        summary: format!("{} emotion weather, {}: {}", t.name, w.day, w.sky.unwrap_or("no weather")),
        text: w.summary.clone(),
        link: format!("{}/dashboard.html#weather", app.public_url),
        severity: Severity::Info,
        value_cents: 0,
        at_ms: now,
    };
    let mut sent = Vec::new();
    for u in app.store.users(&t.id).await?.into_iter().filter(|u| u.role == "owner") {
        let Ok(to) = app.keyring.open_field(SealedColumn::UserEmail, &t.id, &u.id, &u.email_sealed) else { continue };
        mail.send(&to, &alert).await.map_err(|e| ApiError::unavailable(format!("the SMTP server refused: {e}")))?;
        sent.push(to);
    }
    actor.audit(&app, "weather.mail", "weather", json!({"day": w.day, "to": sent.len()})).await?;
    Ok(Json(json!({"sent_to": sent, "weather": w})))
}
