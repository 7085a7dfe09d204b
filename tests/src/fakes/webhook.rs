//! A local webhook receiver that checks Standard Webhooks signatures the way a customer's
//! endpoint should: `POST /hooks/siq` with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`, verified with the product's own [`verify_webhook`] (5-minute tolerance).
//!
//! A verified delivery answers `204`; a missing header `400`; a bad signature or timestamp
//! `401`. Every delivery is recorded with its verdict, and repeated `webhook-id`s are counted as
//! duplicates (what a receiver de-duplicates). Injected failures: 429 with `Retry-After`, 5xx,
//! hangs, slow answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sentientiq_server::escalation::channels::webhook::{verify_webhook, WebhookError, WebhookHeaders, DEFAULT_TOLERANCE_SECS};
use tokio::task::JoinHandle;

use super::faults::{spawn_http, Failure, Faults};

/// The path the receiver listens on.
pub const PATH: &str = "/hooks/siq";

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub body: Bytes,
    /// The verdict of [`verify_webhook`].
    pub verified: Result<(), WebhookError>,
    /// Whether an earlier verified delivery had the same id.
    pub duplicate: bool,
}

struct Shared {
    secret: String,
    deliveries: Mutex<Vec<Delivery>>,
}

/// A running fake webhook receiver. Dropping it stops the server.
pub struct FakeWebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    faults: Faults,
    task: JoinHandle<()>,
}

impl FakeWebhookReceiver {
    /// Starts a receiver verifying with `secret` (`whsec_…`) on a free local port.
    pub async fn start(secret: &str) -> std::io::Result<FakeWebhookReceiver> {
        let shared = Arc::new(Shared { secret: secret.into(), deliveries: Mutex::new(Vec::new()) });
        let faults = Faults::new(|status| (status, "injected failure").into_response());
        let app = Router::new()
            .route(PATH, post(receive))
            .with_state(shared.clone())
            .layer(axum::middleware::from_fn_with_state(faults.clone(), Faults::layer));
        let (addr, task) = spawn_http(app, "webhook").await?;
        Ok(FakeWebhookReceiver { addr, shared, faults, task })
    }

    /// The URL to store as the contact's address.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Every delivery so far (verified or not), oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().expect("webhook lock").clone()
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

impl Drop for FakeWebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(id), Some(timestamp), Some(signature)) = (get("webhook-id"), get("webhook-timestamp"), get("webhook-signature")) else {
        return (StatusCode::BAD_REQUEST, "missing webhook-id, webhook-timestamp or webhook-signature").into_response();
    };
    let now_secs = sentientiq_server::clock::now_ms() / 1000;
    let verified = verify_webhook(
        &shared.secret,
        WebhookHeaders { id: &id, timestamp: &timestamp, signature: &signature },
        &body,
        now_secs,
        DEFAULT_TOLERANCE_SECS,
    );
    let mut deliveries = shared.deliveries.lock().expect("webhook lock");
    let duplicate = verified.is_ok() && deliveries.iter().any(|d| d.id == id && d.verified.is_ok());
    let answer = match &verified {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    deliveries.push(Delivery { id, timestamp, signature, body, verified, duplicate });
    answer
}
