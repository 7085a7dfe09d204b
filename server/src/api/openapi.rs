//! The OpenAPI 3 document of the REST API, generated from the handlers' own annotations
//! (`#[utoipa::path]` beside each handler, schemas derived from the request types), served at
//! `GET /v1/openapi.json` and printed by `sentientiq openapi`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{self, access, dashboard, escalations, forensics, learning, people};

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "SentientIQ API", description = "Errors are `{error_code, message, details}`. Lists are paged with `cursor` and `limit`; `next_cursor` is null on the last page. Another tenant's ids answer 404."),
    paths(
        api::create_tenant, api::upsert_account, api::add_transaction, api::thresholds, api::set_thresholds,
        api::detections, api::interventions, api::alerts, api::stats, api::live, api::session_page,
        api::metrics, api::healthz,
        people::list_customers, people::customer, people::segments, people::list_contexts, people::share_context, people::me,
        people::my_context, people::list_transactions, people::upload_transactions, people::confirm, people::export, people::erase,
        access::login, access::logout, access::revoke_sessions, access::create_user, access::list_users, access::set_role, access::list_keys, access::create_key,
        access::revoke_key, access::token_policy, access::set_token_policy, access::retention, access::set_retention,
        access::audit_log,
        learning::list_variants, learning::add_variant, learning::delete_variant, learning::policy, learning::set_policy,
        learning::outcome, learning::uplift, learning::list_cards, learning::action_card, learning::complete_card,
        escalations::add_contact, escalations::list_contacts, escalations::delete_contact, escalations::list_escalations, escalations::ack_escalation,
        escalations::ack_link, escalations::webhook_secret,
        dashboard::me, dashboard::struggles, dashboard::accounts, dashboard::session_for_user, dashboard::session_by_link, dashboard::act_as_user,
        dashboard::act_by_link,
        forensics::report, forensics::roi_csv, forensics::evi_now, forensics::weather, forensics::failures_of_tenant,
        forensics::set_public, forensics::public_failures, forensics::export, forensics::mail_weather,
        crate::ingest::ws, crate::ingest::beacon, openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// Every error's body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the shape `error::ApiError` writes
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_request`, `not_found`.
    error_code: String,
    /// What went wrong, for a person.
    message: String,
    /// Structured details (e.g. the field at fault), or null.
    #[schema(value_type = Object)]
    details: Option<()>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let bearer = |desc: &str| {
            let mut s = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            s.description = Some(desc.to_string());
            SecurityScheme::Http(s)
        };
        c.add_security_scheme("secret_key", bearer("A tenant's secret key `sk_…` (acts as an owner)."));
        c.add_security_scheme("dashboard_session", bearer("A dashboard session `ds_…` from POST /v1/login (the user's role applies); the dashboard sends it as the HttpOnly cookie `siq_session` instead, with its CSRF token in `X-CSRF-Token` on writes."));
        c.add_security_scheme("operator_token", bearer("The operator token (SIQ_ADMIN_TOKEN)."));
        c.add_security_scheme(
            "site_key_and_visitor_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-SIQ-Site-Key",
                "The publishable key, with `Authorization: Bearer <visitor JWT>` signed by the host.",
            ))),
        );
    }
}

/// The document as JSON.
pub fn json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations", responses((status = 200, description = "the OpenAPI 3 document")))]
pub async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_path_is_routed_and_every_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(&json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        let src = [
            include_str!("../server.rs"),
            include_str!("people.rs"),
            include_str!("access.rs"),
            include_str!("learning.rs"),
            include_str!("escalations.rs"),
            include_str!("dashboard.rs"),
            include_str!("forensics.rs"),
        ]
        .concat();
        // Every `.route("…"` in the routers has its document entry, and the reverse.
        let routed: Vec<&str> = src
            .match_indices(".route(\"")
            .map(|(i, _)| {
                let rest = &src[i + 8..];
                &rest[..rest.find('"').unwrap()]
            })
            .filter(|p| *p != "/")
            .collect();
        for r in &routed {
            assert!(paths.contains(r), "{r} is routed but not documented");
        }
        for p in &paths {
            assert!(routed.contains(p) || ["/sdk.js"].contains(p), "{p} is documented but not routed");
        }
        assert!(doc["components"]["securitySchemes"]["secret_key"].is_object());
        assert!(doc["components"]["schemas"]["NewTransaction"].is_object());
    }
}
