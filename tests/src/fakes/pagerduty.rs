//! A local PagerDuty Events API v2: `POST /v2/enqueue` with a JSON event.
//!
//! Validates what PagerDuty validates and answers the same shapes: `202 {"status": "success",
//! "message": "Event processed", "dedup_key": …}` (the key sent, or a generated one); `400
//! {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for a
//! routing key that is not [`ROUTING_KEY_LEN`] characters or not one the fake knows, an unknown
//! `event_action`, or a trigger without `payload.summary` (at most [`MAX_SUMMARY_CHARS`]),
//! `payload.source` or a valid `payload.severity`. Injected failures: 429 "throttle event",
//! 500, hangs, slow answers.
//!
//! Like PagerDuty it folds triggers with the same `dedup_key` into one open incident:
//! [`FakePagerDuty::incidents`] counts them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::faults::{spawn_http, Failure, Faults};

/// Characters of a routing (integration) key.
pub const ROUTING_KEY_LEN: usize = 32;
/// Longest `payload.summary`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// The routing key the fake knows unless told otherwise.
pub const DEMO_ROUTING_KEY: &str = "R0123456789abcdef0123456789abcde";

#[derive(Default)]
struct Shared {
    routing_key: String,
    events: Vec<Value>,
    /// Open incidents by dedup key: how many triggers each folded in.
    incidents: BTreeMap<String, usize>,
    next_key: u64,
}

/// A running fake PagerDuty. Dropping it stops the server.
pub struct FakePagerDuty {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    faults: Faults,
    task: JoinHandle<()>,
}

impl FakePagerDuty {
    /// Starts the fake on a free local port, knowing [`DEMO_ROUTING_KEY`].
    pub async fn start() -> std::io::Result<FakePagerDuty> {
        let shared = Arc::new(Mutex::new(Shared { routing_key: DEMO_ROUTING_KEY.into(), ..Shared::default() }));
        let faults = Faults::new(error_answer);
        let app = Router::new()
            .route("/v2/enqueue", post(enqueue))
            .with_state(shared.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), Faults::layer));
        let (addr, task) = spawn_http(app, "pagerduty").await?;
        Ok(FakePagerDuty { addr, shared, faults, task })
    }

    /// The base URL to configure as PagerDuty's.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The routing key the fake accepts.
    pub fn routing_key(&self) -> String {
        self.shared.lock().expect("pagerduty lock").routing_key.clone()
    }

    /// Every event accepted so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().expect("pagerduty lock").events.clone()
    }

    /// Open incidents: dedup key → triggers folded into it.
    pub fn incidents(&self) -> BTreeMap<String, usize> {
        self.shared.lock().expect("pagerduty lock").incidents.clone()
    }

    /// The next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.faults.fail_next(n, failure);
    }

    /// The failure queue (requests seen, `Retry-After`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for FakePagerDuty {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error_answer(status: StatusCode) -> Response {
    let body = match status.as_u16() {
        429 => json!({ "status": "throttle event", "message": "Requests for this service are arriving too quickly.  Please retry later." }),
        400 => json!({ "status": "invalid event", "message": "Event object is invalid", "errors": ["injected"] }),
        _ => json!({ "status": "error", "message": "Internal server error" }),
    };
    (status, Json(body)).into_response()
}

fn invalid(errors: Vec<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "status": "invalid event", "message": "Event object is invalid", "errors": errors })))
        .into_response()
}

async fn enqueue(State(shared): State<Arc<Mutex<Shared>>>, body: Bytes) -> Response {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return invalid(vec!["Event object is not valid JSON".into()]);
    };
    let mut shared = shared.lock().expect("pagerduty lock");
    let mut errors = Vec::new();
    let key = event["routing_key"].as_str().unwrap_or_default();
    if key.len() != ROUTING_KEY_LEN {
        errors.push("'routing_key' must be 32 characters".to_string());
    } else if key != shared.routing_key {
        errors.push("'routing_key' is not a known integration key".to_string());
    }
    let action = event["event_action"].as_str().unwrap_or_default();
    if !matches!(action, "trigger" | "acknowledge" | "resolve") {
        errors.push("'event_action' must be one of trigger, acknowledge, resolve".into());
    }
    if action == "trigger" {
        let payload = &event["payload"];
        match payload["summary"].as_str() {
            None | Some("") => errors.push("'payload.summary' is missing or blank".into()),
            Some(s) if s.chars().count() > MAX_SUMMARY_CHARS => errors.push("'payload.summary' is longer than 1024 characters".into()),
            Some(_) => {}
        }
        if payload["source"].as_str().is_none_or(str::is_empty) {
            errors.push("'payload.source' is missing or blank".into());
        }
        if !matches!(payload["severity"].as_str(), Some("critical" | "error" | "warning" | "info")) {
            errors.push("'payload.severity' must be one of critical, error, warning, info".into());
        }
    } else if event["dedup_key"].as_str().is_none() {
        errors.push("'dedup_key' is required to acknowledge or resolve".into());
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let dedup_key = match event["dedup_key"].as_str() {
        Some(k) => k.to_string(),
        None => {
            shared.next_key += 1;
            format!("{:032x}", shared.next_key)
        }
    };
    match action {
        "trigger" => *shared.incidents.entry(dedup_key.clone()).or_default() += 1,
        "resolve" => {
            shared.incidents.remove(&dedup_key);
        }
        _ => {}
    }
    shared.events.push(event);
    (StatusCode::ACCEPTED, Json(json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key }))).into_response()
}
