//! Failures on demand for the fake providers: "answer the next 3 requests with 429", "hang the
//! next one past the client's timeout", "answer the next one slowly".
//!
//! Every HTTP fake puts [`Faults::layer`] in front of its routes; a queued failure is taken by the
//! next request, which then never reaches the provider logic (except [`Failure::Slow`], which
//! delays it and lets it through). The SMTP fake takes failures per connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// How long a [`Failure::Timeout`] hangs: far past any client timeout the tests use.
pub const HANG: Duration = Duration::from_secs(30);
/// `Retry-After` (seconds) sent with a 429 unless changed with [`Faults::set_retry_after`].
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// One failure to inflict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer with this status and the provider's error body for it (429 adds `Retry-After`; for
    /// SMTP, the reply code, e.g. 451 or 550).
    Status(u16),
    /// Accept the request and never answer (until [`HANG`]).
    Timeout,
    /// Answer normally, after this delay.
    Slow(Duration),
}

/// Renders a provider's error answer for a status.
pub type ErrorBody = fn(StatusCode) -> Response;

struct Inner {
    queue: Mutex<VecDeque<Failure>>,
    retry_after_secs: AtomicU64,
    requests: AtomicUsize,
    render: ErrorBody,
}

/// A queue of failures shared between a fake and its test.
#[derive(Clone)]
pub struct Faults(Arc<Inner>);

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").field("queued", &self.0.queue.lock().expect("faults lock").len()).finish()
    }
}

impl Faults {
    /// An empty queue; failures answer with `render`'s body.
    pub fn new(render: ErrorBody) -> Faults {
        Faults(Arc::new(Inner {
            queue: Mutex::new(VecDeque::new()),
            retry_after_secs: AtomicU64::new(DEFAULT_RETRY_AFTER_SECS),
            requests: AtomicUsize::new(0),
            render,
        }))
    }

    /// The next `n` requests fail with `failure` (after any already queued).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.0.queue.lock().expect("faults lock").extend(std::iter::repeat_n(failure, n));
    }

    /// The `Retry-After` seconds of later 429s.
    pub fn set_retry_after(&self, secs: u64) {
        self.0.retry_after_secs.store(secs, Ordering::SeqCst);
    }

    /// The current `Retry-After` seconds.
    pub fn retry_after_secs(&self) -> u64 {
        self.0.retry_after_secs.load(Ordering::SeqCst)
    }

    /// Requests (or SMTP connections) seen so far, failed or not.
    pub fn requests(&self) -> usize {
        self.0.requests.load(Ordering::SeqCst)
    }

    /// Counts a request and takes the failure queued for it, if any.
    pub fn take(&self) -> Option<Failure> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        self.0.queue.lock().expect("faults lock").pop_front()
    }

    /// The error answer for `status`, with `Retry-After` on a 429.
    pub fn error_response(&self, status: StatusCode) -> Response {
        let mut response = (self.0.render)(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_secs()));
        }
        response
    }

    /// The middleware to put in front of a fake's routes
    /// (`router.layer(axum::middleware::from_fn_with_state(faults, Faults::layer))`).
    pub async fn layer(State(faults): State<Faults>, request: Request, next: Next) -> Response {
        match faults.take() {
            None => next.run(request).await,
            Some(Failure::Status(code)) => faults.error_response(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)),
            Some(Failure::Timeout) => {
                tokio::time::sleep(HANG).await;
                faults.error_response(StatusCode::GATEWAY_TIMEOUT)
            }
            Some(Failure::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                next.run(request).await
            }
        }
    }
}

/// Serves `app` on `127.0.0.1:0`; the task ends when aborted.
pub(crate) async fn spawn_http(
    app: axum::Router,
    name: &'static str,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("fake {name} stopped: {e}");
        }
    });
    Ok((addr, task))
}
