//! The OpenAPI 3 document of the REST API, generated from the handlers' own annotations
//! (`#[utoipa::path]` beside each handler, schemas derived from the request types), served at
//! `GET /v1/openapi.json` and printed by `sentientiq openapi`.

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{self, access, dashboard, escalations, forensics, learning, people, MAX_FIELD_CHARS};

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "SentientIQ API", description = "Errors are `{error_code, message, details}`. Lists are paged with `cursor` and `limit`; `next_cursor` is null on the last page. Another tenant's ids answer 404."),
    paths(
        api::create_tenant, api::upsert_account, api::add_transaction, api::thresholds, api::set_thresholds,
        api::detections, api::interventions, api::alerts, api::stats, api::live, api::session_page,
        api::metrics, api::healthz, crate::telemetry::readyz,
        people::list_customers, people::customer, people::segments, people::list_contexts, people::share_context, people::me,
        people::my_context, people::list_transactions, people::upload_transactions, people::confirm, people::export, people::erase,
        access::login, access::logout, access::revoke_sessions, access::create_user, access::list_users, access::set_role, access::list_keys, access::create_key,
        access::revoke_key, access::token_policy, access::set_token_policy, access::retention, access::set_retention,
        access::audit_log,
        learning::list_variants, learning::add_variant, learning::delete_variant, learning::policy, learning::set_policy,
        learning::outcome, learning::uplift, learning::list_cards, learning::action_card, learning::complete_card,
        escalations::add_contact, escalations::list_contacts, escalations::delete_contact, escalations::list_escalations, escalations::ack_escalation,
        escalations::ack_link, escalations::webhook_secret,
        dashboard::me, dashboard::struggles, dashboard::accounts, dashboard::broken_controls, dashboard::session_for_user,
        dashboard::session_by_link, dashboard::act_as_user, dashboard::act_by_link,
        forensics::report, forensics::roi_csv, forensics::evi_now, forensics::weather, forensics::failures_of_tenant,
        forensics::set_public, forensics::public_failures, forensics::export, forensics::mail_weather,
        crate::ingest::ws, crate::ingest::beacon, openapi_json,
    ),
    components(schemas(ErrorBody, crate::records::CardState, crate::records::EscalationState)),
    modifiers(&Security, &Errors, &Across),
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
    #[schema(value_type = Option<Object>)]
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

/// An https URL on a public host, as `outbound::check_url` takes it: a documented subset (DNS
/// names under common public top-level domains; no IP literal, loopback or private-network name).
pub const PUBLIC_HTTPS_URL: &str = "^https://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+(com|org|net|io|dev|app)(/[A-Za-z0-9._~/-]*)?$";

/// What each channel's address must look like (`escalation::channels::validate_address`); an
/// email's local part stays within the 64 characters an address may have there.
pub fn address_patterns() -> [(&'static str, String); 6] {
    use crate::escalation::channels::{slack, twilio, E164_DIGITS, PAGERDUTY_ROUTING_KEY_LEN};
    let e164 = format!("\\+[0-9]{{{},{}}}", E164_DIGITS.start(), E164_DIGITS.end());
    [
        ("sms", format!("^{e164}$")),
        ("whatsapp", format!("^({})?{e164}$", twilio::WHATSAPP_PREFIX)),
        ("slack", format!("^https://{}(/[A-Za-z0-9._~/-]*)?$", slack::SLACK_WEBHOOK_HOST.replace('.', "\\."))),
        ("pagerduty", format!("^[A-Za-z0-9]{{{PAGERDUTY_ROUTING_KEY_LEN}}}$")),
        (
            "email",
            "^[A-Za-z0-9_%+-]{1,32}(\\.[A-Za-z0-9_%+-]{1,31})?@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}$".into(),
        ),
        ("webhook", PUBLIC_HTTPS_URL.into()),
    ]
}

/// Rules across fields, which a field's own attributes cannot state: an outcome names its
/// session or its customer; a contact's address matches its channel; a JWKS URL is public https
/// and RS256/ES256 need one.
struct Across;

impl Modify for Across {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, Schema};
        use utoipa::openapi::RefOr;
        let Some(c) = doc.components.as_mut() else { return };
        let mut wrap = |name: &str, alternatives: Vec<Object>| {
            if let Some(body) = c.schemas.remove(name) {
                let either = alternatives.into_iter().fold(AnyOfBuilder::new(), |b, o| b.item(o)).build();
                let all = AllOfBuilder::new().item(body).item(Schema::AnyOf(either)).build();
                c.schemas.insert(name.into(), RefOr::T(Schema::AllOf(all)));
            }
        };
        let named = |field: &str| ObjectBuilder::new().property(field, text()).required(field).build();
        wrap("OutcomeBody", vec![named("session"), named("sub")]);
        let channels = || {
            address_patterns()
                .into_iter()
                .map(|(channel, pattern)| {
                    let address = ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_FIELD_CHARS)).pattern(Some(pattern));
                    ObjectBuilder::new().property("channel", one_of(&[channel])).property("address", address).build()
                })
                .collect::<Vec<_>>()
        };
        let shown = ObjectBuilder::new()
            .property("kind", one_of(&crate::api::learning::SHOWN_KINDS))
            .property("text", ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).pattern(Some(NON_BLANK)))
            .required("text")
            .build();
        wrap("NewVariant", vec![shown, ObjectBuilder::new().property("kind", one_of(&["card", "nothing"])).build()]);
        wrap("NewContact", channels());
        wrap("NewEndpoint", channels());
        let url = ObjectBuilder::new().schema_type(Type::String).pattern(Some(PUBLIC_HTTPS_URL));
        wrap(
            "TokenPolicy",
            vec![
                ObjectBuilder::new().property("alg", one_of(&["HS256"])).build(),
                ObjectBuilder::new().property("alg", one_of(&["RS256", "ES256"])).property("jwks_url", url).required("jwks_url").build(),
            ],
        );
        // Present values must be usable: a secret, `aud` or `iss` is not empty; a JWKS URL is public https.
        if let Some(RefOr::T(Schema::AllOf(all))) = c.schemas.get_mut("TokenPolicy") {
            if let Some(RefOr::T(Schema::Object(o))) = all.items.first_mut() {
                for (field, p) in o.properties.iter_mut() {
                    if let RefOr::T(Schema::Object(p)) = p {
                        match field.as_str() {
                            "hs_secret" | "audience" | "issuer" => p.min_length = Some(1),
                            "jwks_url" => p.pattern = Some(PUBLIC_HTTPS_URL.into()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// The answers every operation of a kind can give, stated once: 400 for a malformed query or
/// body (`{error_code, message, details}` naming the field), 413 past the JSON body limit, and
/// 401 and 403 where credentials are needed; every 4xx carries the error body.
struct Errors;

/// Operations whose answers are not JSON (a WebSocket upgrade, the binary beacon).
const NOT_JSON: [&str; 2] = ["/v1/ws", "/v1/beacon"];

impl Modify for Errors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in doc.paths.paths.iter_mut() {
            if NOT_JSON.contains(&path.as_str()) {
                continue;
            }
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
                let query = op.parameters.iter().flatten().any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| ResponseBuilder::new().description(description).build().into());
                };
                if json_body || query || op.request_body.is_some() {
                    add("400", "malformed request: a field missing, of the wrong type or out of range (`details.field` names it)");
                }
                if json_body {
                    add("413", "the body is past the JSON body limit");
                }
                if secured {
                    add("401", "missing, unknown or expired credentials");
                    add("403", "the caller's role does not allow this");
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(r)) = (status.starts_with('4'), response) {
                        if r.content.is_empty() {
                            r.content.insert(
                                "application/json".into(),
                                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                            );
                        }
                    }
                }
            }
        }
    }
}

pub use super::schema::{one_of, optional_text, text, NON_BLANK};

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
        let broken = &doc["paths"]["/v1/dashboard/broken-controls"]["get"]["responses"];
        assert_eq!(broken["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/BrokenControls");
        assert!(broken["401"].is_object() && doc["components"]["schemas"]["BrokenControl"].is_object(), "{broken}");
        let listed = doc["components"]["schemas"]["BrokenControls"]["properties"]["spots"]["maxItems"].as_u64();
        assert_eq!(listed, Some(crate::confirm::crowd::MAX_BROKEN_LISTED as u64));
    }

    fn doc() -> serde_json::Value {
        serde_json::from_str(&json()).unwrap()
    }

    /// The properties of a request body's schema (of every part of an `allOf`).
    fn props(doc: &serde_json::Value, name: &str) -> serde_json::Value {
        let s = &doc["components"]["schemas"][name];
        let parts = s["allOf"].as_array().cloned().unwrap_or_else(|| vec![s.clone()]);
        let mut all = serde_json::Map::new();
        for p in parts {
            all.extend(p["properties"].as_object().cloned().unwrap_or_default());
        }
        serde_json::Value::Object(all)
    }

    #[test]
    fn the_document_states_the_limits_the_handlers_check() {
        use crate::api::{escalations::MAX_FALLBACKS, learning::MAX_OUTCOME_WINDOW_MS, MAX_LIST, MAX_TRANSACTION_CENTS};
        let doc = doc();
        let id = &props(&doc, "NewVariant")["id"];
        let bound = crate::interventions::bandit::MAX_VARIANT_ID_BYTES;
        assert_eq!(id["pattern"], format!("^[A-Za-z0-9_-]{{1,{bound}}}$"), "NewVariant.id: the set's id rule");
        for (body, field) in [("NewAccount", "name"), ("NewTransaction", "id"), ("HostContext", "sub")] {
            let p = &props(&doc, body)[field];
            assert_eq!((p["minLength"].as_u64(), p["maxLength"].as_u64()), (Some(1), Some(MAX_FIELD_CHARS as u64)), "{body}.{field}");
            assert_eq!(p["pattern"], NON_BLANK, "{body}.{field}");
        }
        for path in ["/v1/detections", "/v1/customers", "/v1/audit", "/v1/cards", "/v1/escalations", "/v1/transactions"] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let limit = &params.iter().find(|p| p["name"] == "limit").unwrap()["schema"];
            assert_eq!((limit["minimum"].as_i64(), limit["maximum"].as_i64()), (Some(1), Some(MAX_LIST)), "{path}");
        }
        let amount = &props(&doc, "NewTransaction")["amount_cents"];
        assert_eq!(amount["maximum"].as_f64(), Some(MAX_TRANSACTION_CENTS as f64));
        assert_eq!(amount["minimum"].as_f64(), Some(-MAX_TRANSACTION_CENTS as f64));
        let days = &props(&doc, "Retention")["days"];
        assert_eq!((days["minimum"].as_i64(), days["maximum"].as_i64()), (Some(access::RETENTION_DAYS.0), Some(access::RETENTION_DAYS.1)));
        let policy = props(&doc, "PolicyBody");
        assert_eq!(policy["outcome_window_ms"]["maximum"].as_i64(), Some(MAX_OUTCOME_WINDOW_MS));
        assert_eq!(policy["holdout_share"]["maximum"].as_f64(), Some(crate::interventions::bandit::MAX_HOLDOUT_SHARE));
        let ttl = &props(&doc, "NewContext")["ttl_secs"];
        assert_eq!(ttl["maximum"].as_i64(), Some(crate::identity::customers::MAX_CONTEXT_TTL_MS / 1000));
        let variant = props(&doc, "NewVariant");
        assert_eq!(variant["text"]["maxLength"].as_u64(), Some(crate::interventions::bandit::MAX_VARIANT_TEXT_BYTES as u64));
        assert_eq!(variant["section"]["maxLength"].as_u64(), Some(crate::ingest::MAX_SECTION_NAME as u64));
        assert_eq!(props(&doc, "NewContact")["fallbacks"]["maxItems"].as_u64(), Some(MAX_FALLBACKS as u64));
        let pw = &props(&doc, "NewUser")["password"];
        assert_eq!(pw["minLength"].as_u64(), Some(crate::identity::keyring::MIN_PASSWORD_CHARS as u64));
        assert_eq!(pw["maxLength"].as_u64(), Some(access::MAX_PASSWORD_CHARS as u64));
        const { assert!(access::MAX_PASSWORD_CHARS * 4 <= crate::identity::keyring::MAX_PASSWORD_BYTES) };
    }

    #[test]
    fn the_documented_thresholds_are_the_ranges_validate_enforces() {
        use crate::confirm::thresholds::Thresholds;
        let doc = doc();
        let fields = props(&doc, "Thresholds");
        for (field, p) in fields.as_object().unwrap() {
            let (lo, hi) = (p["minimum"].as_f64().unwrap(), p["maximum"].as_f64().unwrap());
            let valid = |v: f64| {
                let v = if p["type"].to_string().contains("integer") { serde_json::json!(v as i64) } else { serde_json::json!(v) };
                let t: Thresholds = serde_json::from_value(serde_json::json!({ field: v })).unwrap();
                t.validate().is_ok()
            };
            assert!(valid(lo) && valid(hi), "{field}: {lo} and {hi} are allowed");
            assert!(!valid(lo - 1.0) && !valid(hi + 1.0), "{field}: {} and {} are refused", lo - 1.0, hi + 1.0);
        }
    }

    #[test]
    fn non_blank_names_exactly_what_trim_removes() {
        let class = NON_BLANK.trim_start_matches("[^").trim_end_matches(']');
        let blank = |c: char| {
            let named = [('t', '\t'), ('n', '\n'), ('r', '\r')];
            let mut rest = class;
            while !rest.is_empty() {
                let (lo, len) = match rest.strip_prefix('\\') {
                    Some(r) if r.starts_with('x') => (char::from_u32(u32::from_str_radix(&r[1..3], 16).unwrap()).unwrap(), 4),
                    Some(r) if r.starts_with('u') => (char::from_u32(u32::from_str_radix(&r[1..5], 16).unwrap()).unwrap(), 6),
                    Some(r) => (named.iter().find(|(n, _)| r.starts_with(*n)).unwrap().1, 2),
                    None => (rest.chars().next().unwrap(), 1),
                };
                rest = &rest[len..];
                let hi = match rest.strip_prefix('-') {
                    Some(r) => {
                        let r = r.strip_prefix("\\u").unwrap();
                        rest = &r[4..];
                        char::from_u32(u32::from_str_radix(&r[..4], 16).unwrap()).unwrap()
                    }
                    None => lo,
                };
                if (lo..=hi).contains(&c) {
                    return true;
                }
            }
            false
        };
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(blank(c), c.is_whitespace(), "{:?}", c);
        }
    }

    #[test]
    fn each_channel_has_its_address_pattern() {
        let channels: Vec<&str> = address_patterns().iter().map(|(c, _)| *c).collect();
        assert_eq!(channels, crate::escalation::channels::ChannelKind::ALL.map(|k| k.as_str()));
        // The longest addresses each pattern allows are ones the server takes.
        use crate::escalation::channels::{validate_address, ChannelKind};
        let longest_email = format!("{}.{}@{}.example.com", "a".repeat(32), "b".repeat(31), "c".repeat(63));
        let samples = [
            (ChannelKind::Sms, "+123456789012345".to_string()),
            (ChannelKind::Whatsapp, "whatsapp:+12345678".into()),
            (ChannelKind::Slack, "https://hooks.slack.com/services/T0/B0/x-y_z".into()),
            (ChannelKind::Pagerduty, "A".repeat(32)),
            (ChannelKind::Email, longest_email),
            (ChannelKind::Webhook, format!("https://{}.example.io/hook", "d".repeat(63))),
        ];
        let patterns = address_patterns();
        for (kind, address) in samples {
            let pattern = &patterns.iter().find(|(c, _)| *c == kind.as_str()).unwrap().1;
            let anchored = pattern.starts_with('^') && pattern.ends_with('$');
            assert!(anchored, "{pattern}");
            validate_address(kind, &address, crate::outbound::Targets::default()).unwrap_or_else(|e| panic!("{address}: {e}"));
        }
    }
}
