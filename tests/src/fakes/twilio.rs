//! A local Twilio that speaks the documented Messages API:
//!
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From` (or
//! `MessagingServiceSid`) and `Body`, HTTP basic auth `AccountSid:AuthToken`.
//!
//! * wrong or missing credentials, or a path account other than the authenticated one:
//!   401 with `WWW-Authenticate` and Twilio's error JSON, code 20003;
//! * missing `To`: 400, code 21604; missing `From`: 400, code 21603; missing `Body`: 400,
//!   code 21602; `To` that is not E.164 (optionally `whatsapp:`-prefixed): 400, code 21211;
//!   `Body` over 1600 characters: 400, code 21617;
//! * any other path: 404, code 20404;
//! * success: 201 with a message resource shaped like Twilio's (`sid` = `SM` + 32 hex,
//!   `status` `queued`, RFC 2822 dates, `uri`, …).
//!
//! Every accepted message is recorded (and optionally printed, for the demo); every refused
//! request is recorded too, so a test waiting for an SMS can say *why* none arrived.
//!
//! Failures on demand ([`FakeTwilio::fail_next`]): 429 is Twilio's error 20429 with
//! `Retry-After`, 5xx its error 20500, or a hang / a slow answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::faults::{Failure, Faults};

/// The API version segment of every Messages API path.
pub const API_VERSION: &str = "2010-04-01";
/// Twilio's longest accepted message body, in characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// The basic-auth pair the fake accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioCredentials {
    /// Account SID (`AC…`): the basic-auth user and the `{AccountSid}` path segment.
    pub account_sid: String,
    /// Auth token: the basic-auth password.
    pub auth_token: String,
}

impl TwilioCredentials {
    /// Credentials used by the demo and the tests unless told otherwise.
    pub fn demo() -> Self {
        TwilioCredentials { account_sid: "AC0123456789abcdef0123456789abcdef".into(), auth_token: "demo-auth-token".into() }
    }
}

/// A message the fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentSms {
    /// `SM` + 32 hex digits.
    pub sid: String,
    /// The account it was sent on.
    pub account_sid: String,
    /// Recipient, as posted.
    pub to: String,
    /// Sender (`From`, or the `MessagingServiceSid` when no `From` was given).
    pub from: String,
    /// Message text.
    pub body: String,
    /// RFC 2822 creation date, as in the response.
    pub date_created: String,
    /// When the request reached the fake (monotonic clock of this process), for latency figures.
    pub received: Instant,
}

/// A request the fake refused, with the Twilio error it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// HTTP status of the answer.
    pub status: u16,
    /// Twilio error code.
    pub code: u32,
    /// Twilio error message.
    pub message: String,
}

struct Shared {
    creds: TwilioCredentials,
    sent: watch::Sender<Vec<SentSms>>,
    rejected: Mutex<Vec<Rejected>>,
    echo: AtomicBool,
}

/// A running fake Twilio. Dropping it stops the server.
pub struct FakeTwilio {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    faults: Faults,
}

impl std::fmt::Debug for FakeTwilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTwilio").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl FakeTwilio {
    /// Starts the fake on `addr` (port 0 picks a free port) accepting `creds`.
    pub async fn start(addr: SocketAddr, creds: TwilioCredentials) -> std::io::Result<FakeTwilio> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared =
            Arc::new(Shared { creds, sent: watch::channel(Vec::new()).0, rejected: Mutex::new(Vec::new()), echo: AtomicBool::new(false) });
        let app = Router::new()
            .route(&format!("/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"), post(create_message))
            .fallback(not_found)
            .with_state(shared.clone());
        let faults = Faults::new(error_answer);
        let app = app.layer(axum::middleware::from_fn_with_state(faults.clone(), Faults::layer));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("fake twilio stopped: {e}");
            }
        });
        Ok(FakeTwilio { addr, shared, stop: Some(stop), task, faults })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure as Twilio's (`http://{addr}`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The credentials the fake accepts.
    pub fn credentials(&self) -> &TwilioCredentials {
        &self.shared.creds
    }

    /// The next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.faults.fail_next(n, failure);
    }

    /// The failure queue (requests seen, `Retry-After`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Prints every accepted message to stdout (for the demo) when `on`.
    pub fn echo_to_stdout(&self, on: bool) {
        self.shared.echo.store(on, Ordering::Relaxed);
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<SentSms> {
        self.shared.sent.borrow().clone()
    }

    /// Every request refused so far, oldest first.
    pub fn rejections(&self) -> Vec<Rejected> {
        self.shared.rejected.lock().expect("rejections lock").clone()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passed, and returns the
    /// messages accepted by then (fewer than `n` on timeout).
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SentSms> {
        let mut rx = self.shared.sent.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|sent| sent.len() >= n)).await;
        self.messages()
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Instant::now();
    if !authenticated(&headers, &shared.creds) || account_sid != shared.creds.account_sid {
        return refuse(&shared, StatusCode::UNAUTHORIZED, 20003, "Authenticate".into());
    }
    // A body that is not a form has no fields: Twilio then reports the first missing one.
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let Some(to) = field("To") else {
        return refuse(&shared, StatusCode::BAD_REQUEST, 21604, "A 'To' phone number is required.".into());
    };
    let Some(from) = field("From").or_else(|| field("MessagingServiceSid")) else {
        return refuse(&shared, StatusCode::BAD_REQUEST, 21603, "A 'From' phone number is required.".into());
    };
    let Some(text) = field("Body") else {
        return refuse(&shared, StatusCode::BAD_REQUEST, 21602, "Message body is required.".into());
    };
    if !is_phone_number(&to) {
        return refuse(&shared, StatusCode::BAD_REQUEST, 21211, format!("The 'To' number {to} is not a valid phone number."));
    }
    if text.chars().count() > MAX_BODY_CHARS {
        return refuse(&shared, StatusCode::BAD_REQUEST, 21617, "The concatenated message body exceeds the 1600 character limit.".into());
    }

    let sid = format!("SM{}", hex::encode(rand::random::<[u8; 16]>()));
    let now = rfc2822(SystemTime::now());
    let resource_uri = format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json");
    let resource = json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": text,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": field("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": segments(&text).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": { "media": format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json") },
        "to": to,
        "uri": resource_uri,
    });
    let sms = SentSms { sid, account_sid, to, from, body: text, date_created: now, received };
    if shared.echo.load(Ordering::Relaxed) {
        println!("[fake twilio] SMS {} from {} to {}:\n    {}", sms.sid, sms.from, sms.to, sms.body);
    }
    tracing::debug!(target: "fake_twilio", path = %uri.path(), sid = %sms.sid, "message accepted");
    shared.sent.send_modify(|sent| sent.push(sms));
    (StatusCode::CREATED, Json(resource)).into_response()
}

async fn not_found(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    refuse(&shared, StatusCode::NOT_FOUND, 20404, format!("The requested resource {} was not found", uri.path()))
}

/// Records a refusal and answers it the way Twilio does.
fn refuse(shared: &Shared, status: StatusCode, code: u32, message: String) -> Response {
    shared.rejected.lock().expect("rejections lock").push(Rejected { status: status.as_u16(), code, message: message.clone() });
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"Twilio API\""));
    }
    response
}

/// Twilio's answer to an injected failure: error 20429 for 429, 20500 otherwise.
fn error_answer(status: StatusCode) -> Response {
    let (code, message) = match status.as_u16() {
        429 => (20429, "Too Many Requests"),
        _ => (20500, "An internal server error has occurred"),
    };
    let body = json!({ "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16() });
    (status, Json(body)).into_response()
}

/// Whether the request carries `Authorization: Basic base64(sid:token)` with the right pair.
fn authenticated(headers: &HeaderMap, creds: &TwilioCredentials) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{}:{}", creds.account_sid, creds.auth_token).as_bytes()
}

/// E.164 (`+` and 8 to 15 digits), optionally prefixed `whatsapp:` as Twilio's WhatsApp API wants.
fn is_phone_number(to: &str) -> bool {
    let number = to.strip_prefix("whatsapp:").unwrap_or(to);
    number.strip_prefix('+').is_some_and(|digits| (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// SMS segments of a GSM-7 text: one of up to 160 characters, else 153 per segment.
fn segments(text: &str) -> usize {
    match text.chars().count() {
        n if n <= 160 => 1,
        n => n.div_ceil(153),
    }
}

/// `Thu, 24 Aug 2023 05:01:45 +0000`, the date format of Twilio's resources.
fn rfc2822(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let (year, month, day) = sentientiq_server::records::format::civil_from_days(days);
    let weekday = DAYS[(days + 4).rem_euclid(7) as usize];
    format!("{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} +0000", MONTHS[month as usize - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_2822_in_utc() {
        let at = |secs| rfc2822(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(at(1_692_853_305), "Thu, 24 Aug 2023 05:01:45 +0000");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert!(is_phone_number("+15550100"));
        assert!(is_phone_number("whatsapp:+447700900123"));
        assert!(!is_phone_number("5550100"));
        assert!(!is_phone_number("+1555-0100"));
        assert!(!is_phone_number("+1234567"));
    }

    #[test]
    fn long_texts_take_153_characters_a_segment() {
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
    }
}
