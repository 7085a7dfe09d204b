//! A local Slack incoming webhook: `POST /services/{team}/{bot}/{token}` with a JSON message.
//!
//! Answers like Slack: `200 ok` (text/plain) on success; for a hook it does not know, `404
//! no_service`; a body that is not JSON, `400 invalid_payload`; neither `text` nor `blocks`,
//! `400 no_text`; more than [`MAX_BLOCKS`] blocks or a header block over [`MAX_HEADER_CHARS`]
//! characters, `400 invalid_blocks`. Injected failures: `429 rate_limited` with `Retry-After`,
//! `500 rollup_error`, hangs, slow answers. Every accepted message is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::faults::{spawn_http, Failure, Faults};

/// Most blocks Slack accepts in one message.
pub const MAX_BLOCKS: usize = 50;
/// Longest header block text, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// The one webhook path the fake knows.
pub const HOOK_PATH: &str = "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

/// A running fake Slack webhook. Dropping it stops the server.
pub struct FakeSlack {
    addr: SocketAddr,
    posts: Arc<Mutex<Vec<Value>>>,
    faults: Faults,
    task: JoinHandle<()>,
}

impl FakeSlack {
    /// Starts the fake on a free local port.
    pub async fn start() -> std::io::Result<FakeSlack> {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let faults = Faults::new(error_answer);
        let app = Router::new()
            .route("/services/{team}/{bot}/{token}", post(incoming))
            .with_state(posts.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), Faults::layer));
        let (addr, task) = spawn_http(app, "slack").await?;
        Ok(FakeSlack { addr, posts, faults, task })
    }

    /// The webhook URL to store as the contact's address.
    pub fn webhook_url(&self) -> String {
        format!("http://{}/services/{HOOK_PATH}", self.addr)
    }

    /// A URL of the same host that Slack would answer `404 no_service`.
    pub fn unknown_webhook_url(&self) -> String {
        format!("http://{}/services/T0/B0/revoked", self.addr)
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        self.posts.lock().expect("slack lock").clone()
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

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

fn error_answer(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => text(status, "rate_limited"),
        400 => text(status, "invalid_payload"),
        403 => text(status, "action_prohibited"),
        404 => text(status, "no_service"),
        _ => text(status, "rollup_error"),
    }
}

async fn incoming(
    State(posts): State<Arc<Mutex<Vec<Value>>>>,
    Path((team, bot, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if format!("{team}/{bot}/{token}") != HOOK_PATH {
        return text(StatusCode::NOT_FOUND, "no_service");
    }
    let json_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let Some(message) = serde_json::from_slice::<Value>(&body).ok().filter(|v| json_type && v.is_object()) else {
        return text(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    let has_text = message["text"].as_str().is_some_and(|t| !t.trim().is_empty());
    let blocks = message["blocks"].as_array().cloned().unwrap_or_default();
    if !has_text && blocks.is_empty() {
        return text(StatusCode::BAD_REQUEST, "no_text");
    }
    let bad_header =
        blocks.iter().any(|b| b["type"] == "header" && b["text"]["text"].as_str().is_none_or(|t| t.chars().count() > MAX_HEADER_CHARS));
    if blocks.len() > MAX_BLOCKS || bad_header {
        return text(StatusCode::BAD_REQUEST, "invalid_blocks");
    }
    posts.lock().expect("slack lock").push(message);
    text(StatusCode::OK, "ok")
}
