//! A local OpenAI-compatible Chat Completions endpoint: `POST /v1/chat/completions` with a JSON
//! body (`model`, `messages`, optional `max_tokens`, `temperature`).
//!
//! Answers like the Chat Completions API: `200` with `id` (`chatcmpl-…`), `object:
//! "chat.completion"`, `created`, `model`, `choices: [{index, message: {role: "assistant",
//! content}, finish_reason: "stop"}]` and `usage`. Errors carry OpenAI's error object
//! `{"error": {message, type, param, code}}`: with a key set, a missing or different `Bearer`
//! key is `401 invalid_api_key`; a body that is not JSON, without a `model` string or without
//! `messages` of `{role, content}` objects, `400 invalid_request_error`. Injected failures
//! ([`FakeOpenAi::fail_next`]): `429 rate_limit_exceeded`, `500 server_error`, hangs, slow
//! answers; [`FakeOpenAi::set_reply`] makes the content empty, `null`, or a fixed text.
//!
//! The content is derived from the request, so a test can tell the model's text from anything
//! else: [`REPLY_PREFIX`] followed by the first line of the last user message. Every request
//! that reaches the endpoint (after injected failures) is recorded, refused ones included.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::faults::{spawn_http, Failure, Faults};

/// What every echoed answer starts with.
pub const REPLY_PREFIX: &str = "From the model: ";
/// The key of [`FakeOpenAi::start_with_key`] in the tests unless they choose another.
pub const DEMO_KEY: &str = "sk-test-0123456789abcdef";

/// What the fake answers to an accepted request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Reply {
    /// [`REPLY_PREFIX`] and the first line of the last user message (default).
    #[default]
    Echo,
    /// `content: ""`.
    Empty,
    /// `content: null`.
    Null,
    /// This text, whatever was asked.
    Text(String),
}

/// One request that reached the endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` if it was not JSON).
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
}

struct Shared {
    api_key: Option<String>,
    reply: Reply,
    requests: Vec<ChatRequest>,
    next_id: u64,
}

/// A running fake OpenAI-compatible endpoint. Dropping it stops the server.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    faults: Faults,
    task: JoinHandle<()>,
}

impl FakeOpenAi {
    /// Starts the fake on a free local port, accepting requests without a key (like a local
    /// model server).
    pub async fn start() -> std::io::Result<FakeOpenAi> {
        Self::serve(None).await
    }

    /// Starts the fake on a free local port, accepting only `Authorization: Bearer {key}`.
    pub async fn start_with_key(key: &str) -> std::io::Result<FakeOpenAi> {
        Self::serve(Some(key.to_string())).await
    }

    async fn serve(api_key: Option<String>) -> std::io::Result<FakeOpenAi> {
        let shared = Arc::new(Mutex::new(Shared { api_key, reply: Reply::Echo, requests: Vec::new(), next_id: 0 }));
        let faults = Faults::new(error_answer);
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), Faults::layer));
        let (addr, task) = spawn_http(app, "openai").await?;
        Ok(FakeOpenAi { addr, shared, faults, task })
    }

    /// The base URL to configure (`http://127.0.0.1:{port}/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request that reached the endpoint so far, oldest first.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.shared.lock().expect("openai lock").requests.clone()
    }

    /// What later accepted requests are answered with.
    pub fn set_reply(&self, reply: Reply) {
        self.shared.lock().expect("openai lock").reply = reply;
    }

    /// The next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.faults.fail_next(n, failure);
    }

    /// The failure queue (and the count of every request seen, failed or not).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// OpenAI's error object.
fn error(status: StatusCode, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Response {
    (status, Json(json!({"error": {"message": message, "type": kind, "param": param, "code": code}}))).into_response()
}

fn error_answer(status: StatusCode) -> Response {
    match status.as_u16() {
        401 => error(status, "Incorrect API key provided.", "invalid_request_error", None, Some("invalid_api_key")),
        429 => error(status, "Rate limit reached for requests.", "requests", None, Some("rate_limit_exceeded")),
        s if s >= 500 => error(status, "The server had an error while processing your request.", "server_error", None, None),
        _ => error(status, "Invalid request.", "invalid_request_error", None, None),
    }
}

/// Why a body is not a Chat Completions request, if it is not.
fn invalid(body: &Value) -> Option<(&'static str, Option<&'static str>)> {
    if !body.is_object() {
        return Some(("We could not parse the JSON body of your request.", None));
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Some(("you must provide a model parameter", Some("model")));
    }
    let messages = body["messages"].as_array().filter(|m| !m.is_empty());
    let well_formed = messages.is_some_and(|m| {
        m.iter()
            .all(|msg| matches!(msg["role"].as_str(), Some("system" | "developer" | "user" | "assistant")) && msg["content"].is_string())
    });
    if !well_formed {
        return Some(("'messages' must be a non-empty array of {role, content} objects", Some("messages")));
    }
    None
}

async fn completions(State(shared): State<Arc<Mutex<Shared>>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = shared.lock().expect("openai lock");
    let response = answer(&mut s, authorization.as_deref(), &json);
    s.requests.push(ChatRequest { authorization, body: json, status: response.status().as_u16() });
    response
}

fn answer(s: &mut Shared, authorization: Option<&str>, body: &Value) -> Response {
    if let Some(key) = &s.api_key {
        if authorization.and_then(|a| a.strip_prefix("Bearer ")) != Some(key.as_str()) {
            let message = match authorization {
                None => "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.",
                Some(_) => "Incorrect API key provided.",
            };
            return error(StatusCode::UNAUTHORIZED, message, "invalid_request_error", None, Some("invalid_api_key"));
        }
    }
    if let Some((message, param)) = invalid(body) {
        return error(StatusCode::BAD_REQUEST, message, "invalid_request_error", param, None);
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or_default();
    let content = match &s.reply {
        Reply::Echo => Value::String(format!("{REPLY_PREFIX}{}", last_user.lines().next().unwrap_or_default())),
        Reply::Empty => Value::String(String::new()),
        Reply::Null => Value::Null,
        Reply::Text(t) => Value::String(t.clone()),
    };
    let prompt_tokens: usize = messages.iter().filter_map(|m| m["content"].as_str()).map(|c| c.split_whitespace().count()).sum();
    let completion_tokens = content.as_str().map_or(0, |c| c.split_whitespace().count());
    s.next_id += 1;
    let id = s.next_id;
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Json(json!({
        "id": format!("chatcmpl-fake{id:08}"),
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }))
    .into_response()
}
