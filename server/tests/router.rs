//! The router on its own: `app(state)` driven with `tower::ServiceExt::oneshot`, the state that
//! of a real server on SQLite in a temp dir. For every route: who may call it (no credentials,
//! the wrong kind of key, the right one), and for every route that takes a body its limit: one
//! byte past it is a 413, a body past it is refused before it is read whole, and a body at it is
//! not refused for its size. The route table is checked against the OpenAPI document and the
//! routers' sources, so a route added without its entry fails here.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, Request};
use axum::Router;
use common::*;
use sentientiq_server::api::MAX_JSON_BODY_BYTES;
use sentientiq_server::identity::customers::MAX_CSV_BYTES;
use sentientiq_server::identity::tokens;
use sentientiq_server::ingest::MAX_BEACON_BYTES;
use serde_json::{json, Value};
use tower::ServiceExt;

/// What a route asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Auth {
    /// Nothing: an anonymous request without a body gets this status.
    Public(u16),
    /// The operator token (`SIQ_ADMIN_TOKEN`).
    Operator,
    /// A tenant's secret key (or a dashboard session).
    Secret,
    /// The tenant's site key (`X-SIQ-Site-Key`) with a visitor token the host signed.
    Visitor,
    /// A link signed with the server's link secret: in the query (`t`, `exp`, `sig`), or in
    /// the body for `POST /v1/ack`.
    Link,
}

/// The body a route takes, and so its limit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Takes {
    /// No body.
    Nothing,
    /// JSON, up to `MAX_JSON_BODY_BYTES`.
    Json,
    /// The SDK's beacon, up to `MAX_BEACON_BYTES`.
    Beacon,
    /// The transactions CSV, up to `MAX_CSV_BYTES`.
    Csv,
}

use Auth::*;
use Takes::*;

/// The static files under the routes (`fallback_service`): any other path.
const FALLBACK: &str = "(fallback)";

/// Every route: method, path as routed, who may call it, the body it takes.
const ROUTES: &[(&str, &str, Auth, Takes)] = &[
    // server::app(): operations, the SDK, the session link, the pages.
    ("GET", "/healthz", Public(200), Nothing),
    ("GET", "/readyz", Public(200), Nothing),
    ("GET", "/v1/openapi.json", Public(200), Nothing),
    ("GET", "/metrics", Operator, Nothing),
    // The handshake is taken without credentials; oneshot has no connection to upgrade.
    ("GET", "/v1/ws", Public(426), Nothing),
    // An empty beacon carries no frames: accepted.
    ("POST", "/v1/beacon", Public(204), Beacon),
    ("GET", "/s/{session}", Link, Nothing),
    ("GET", "/v1/sessions/{session}", Link, Nothing),
    ("GET", "/", Public(307), Nothing),
    ("GET", "/sdk.js", Public(200), Nothing),
    ("GET", "/sdk-worker.js", Public(200), Nothing),
    ("GET", "/sdk.wasm", Public(200), Nothing),
    ("GET", "/sdk-emotions.wasm", Public(200), Nothing),
    ("GET", "/widget", Public(200), Nothing),
    ("GET", FALLBACK, Public(200), Nothing),
    // server::app(): tenants, revenue, thresholds, activity, the widget's own routes.
    ("POST", "/v1/admin/tenants", Operator, Json),
    ("POST", "/v1/accounts", Secret, Json),
    ("POST", "/v1/transactions", Secret, Json),
    ("GET", "/v1/thresholds", Secret, Nothing),
    ("PUT", "/v1/thresholds", Secret, Json),
    ("GET", "/v1/detections", Secret, Nothing),
    ("GET", "/v1/interventions", Secret, Nothing),
    ("GET", "/v1/alerts", Secret, Nothing),
    ("GET", "/v1/stats", Secret, Nothing),
    ("GET", "/v1/live", Secret, Nothing),
    ("GET", "/v1/me", Visitor, Nothing),
    ("POST", "/v1/me/context", Visitor, Json),
    // api::people::routes()
    ("GET", "/v1/customers", Secret, Nothing),
    ("GET", "/v1/customers/{sub}", Secret, Nothing),
    ("DELETE", "/v1/customers/{sub}", Secret, Nothing),
    ("GET", "/v1/customers/{sub}/export", Secret, Nothing),
    ("GET", "/v1/segments", Secret, Nothing),
    ("GET", "/v1/contexts", Secret, Nothing),
    ("POST", "/v1/contexts", Secret, Json),
    ("GET", "/v1/transactions", Secret, Nothing),
    ("POST", "/v1/transactions/csv", Secret, Csv),
    ("POST", "/v1/confirm", Secret, Json),
    // api::access::routes(); signing in is public (a bad password is its 401).
    ("POST", "/v1/login", Public(400), Json),
    ("POST", "/v1/logout", Secret, Nothing),
    ("DELETE", "/v1/users/{id}/sessions", Secret, Nothing),
    ("GET", "/v1/users", Secret, Nothing),
    ("POST", "/v1/users", Secret, Json),
    ("PATCH", "/v1/users/{id}", Secret, Json),
    ("GET", "/v1/keys", Secret, Nothing),
    ("POST", "/v1/keys", Secret, Json),
    ("DELETE", "/v1/keys/{id}", Secret, Nothing),
    ("GET", "/v1/identity-settings", Secret, Nothing),
    ("PUT", "/v1/identity-settings", Secret, Json),
    ("GET", "/v1/retention", Secret, Nothing),
    ("PUT", "/v1/retention", Secret, Json),
    ("GET", "/v1/audit", Secret, Nothing),
    // api::learning::routes()
    ("GET", "/v1/variants", Secret, Nothing),
    ("POST", "/v1/variants", Secret, Json),
    ("DELETE", "/v1/variants/{id}", Secret, Nothing),
    ("GET", "/v1/intervention-policy", Secret, Nothing),
    ("PUT", "/v1/intervention-policy", Secret, Json),
    ("POST", "/v1/outcomes", Secret, Json),
    ("GET", "/v1/uplift", Secret, Nothing),
    ("GET", "/v1/cards", Secret, Nothing),
    ("POST", "/v1/cards/{id}/action", Secret, Nothing),
    ("POST", "/v1/cards/{id}/complete", Secret, Json),
    // api::escalations::routes()
    ("GET", "/v1/contacts", Secret, Nothing),
    ("POST", "/v1/contacts", Secret, Json),
    ("DELETE", "/v1/contacts/{id}", Secret, Nothing),
    ("GET", "/v1/escalations", Secret, Nothing),
    ("POST", "/v1/escalations/{id}/ack", Secret, Nothing),
    ("POST", "/v1/ack", Link, Json),
    ("GET", "/v1/webhook-secret", Secret, Nothing),
    // api::dashboard::routes()
    ("GET", "/v1/dashboard/me", Secret, Nothing),
    ("GET", "/v1/struggles", Secret, Nothing),
    ("GET", "/v1/dashboard/accounts", Secret, Nothing),
    ("GET", "/v1/dashboard/broken-controls", Secret, Nothing),
    ("GET", "/v1/dashboard/sessions/{session}", Secret, Nothing),
    ("POST", "/v1/dashboard/sessions/{session}/actions", Secret, Json),
    // The alert link's acting capability (`e`, `c`, `ack`) in the query, the action in the body.
    ("POST", "/v1/sessions/{session}/actions", Link, Json),
    // api::forensics::routes(); the public failure page answers 404 until a tenant opts in.
    ("GET", "/v1/forensics", Secret, Nothing),
    ("GET", "/v1/forensics/roi.csv", Secret, Nothing),
    ("GET", "/v1/evi", Secret, Nothing),
    ("GET", "/v1/weather", Secret, Nothing),
    ("GET", "/v1/failures", Secret, Nothing),
    ("PUT", "/v1/failures/public", Secret, Json),
    ("GET", "/v1/public/failures/{tenant}", Public(404), Nothing),
    ("POST", "/v1/export", Secret, Json),
    ("POST", "/v1/weather/mail", Secret, Json),
];

/// Routes served outside the OpenAPI document (files and pages).
const UNDOCUMENTED: &[&str] = &["/", "/sdk.js", "/sdk-worker.js", "/sdk.wasm", "/sdk-emotions.wasm", "/widget", FALLBACK];

/// The session every signed link names.
const SESSION: &str = "00000000000000aa";

impl Takes {
    fn limit(self) -> Option<usize> {
        match self {
            Nothing => None,
            Json => Some(MAX_JSON_BODY_BYTES),
            Beacon => Some(MAX_BEACON_BYTES),
            Csv => Some(MAX_CSV_BYTES),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Nothing | Json => "application/json",
            Beacon => "application/octet-stream",
            Csv => "text/csv",
        }
    }

    /// How a body of this kind starts, and the unit repeated after it. Every length gives a
    /// body the route reads to its end (so a refusal for size cannot hide behind an early parse
    /// error): JSON `{}` then spaces; the CSV header then rows with a bad amount (422 at the
    /// end, nothing stored); beacon zeros (a frame of length 0, refused after reading).
    fn pattern(self) -> (&'static [u8], &'static [u8]) {
        const ROW: &[u8] = b"0123456789012345678901234567890123456789012345678901234567890123456789,acme,not-cents\n";
        match self {
            Nothing | Json => (b"{}", b" "),
            Beacon => (b"", &[0]),
            Csv => (b"id,account,amount_cents\n", ROW),
        }
    }

    /// A body of exactly `len` bytes.
    fn body(self, len: usize) -> Vec<u8> {
        let (head, unit) = self.pattern();
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(head);
        while b.len() < len {
            b.extend_from_slice(unit);
        }
        b.truncate(len);
        b
    }
}

/// A real server's state, its router, and credentials made through the API.
struct Fixture {
    server: TestServer,
    app: Router,
    tenant: String,
    secret_key: String,
    site_key: String,
    visitor: String,
    link_secret: Vec<u8>,
    _files: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let files = tempfile::tempdir().unwrap();
        let (sdk, widget) = (files.path().join("sdk"), files.path().join("widget"));
        std::fs::create_dir_all(&sdk).unwrap();
        std::fs::create_dir_all(&widget).unwrap();
        for f in ["sdk.js", "sdk-worker.js", "sdk.wasm", "sdk-emotions.wasm"] {
            std::fs::write(sdk.join(f), f).unwrap();
        }
        std::fs::write(widget.join("index.html"), "<p>widget</p>").unwrap();
        let server = TestServer::start_with(Backend::Embedded, |c| {
            c.sdk_dir = sdk;
            c.widget_dir = widget;
        })
        .await;
        let t = server.tenant("Router").await;
        let state = server.running.as_ref().unwrap().state.clone();
        let app = sentientiq_server::server::app(state.clone());
        let s = |k: &str| t[k].as_str().unwrap().to_string();
        Fixture {
            app,
            tenant: s("tenant_id"),
            secret_key: s("secret_key"),
            site_key: s("site_key"),
            visitor: visitor_token(&s("jwt_secret"), "router-visitor", "acme"),
            link_secret: state.config.link_secret.clone(),
            server,
            _files: files,
        }
    }

    /// The path with its parameters filled (and, for a signed link, its query).
    fn uri(&self, path: &str, cred: Cred) -> String {
        let concrete = match path {
            FALLBACK => "/dashboard.html".to_string(),
            "/widget" => "/widget/index.html".to_string(),
            p => p.replace("{session}", SESSION).replace("{sub}", "nobody").replace("{id}", "nothing").replace("{tenant}", &self.tenant),
        };
        if !path.contains("{session}") {
            return concrete;
        }
        let exp = now_secs() + 600;
        match cred {
            Cred::None | Cred::WrongKind => concrete,
            Cred::Forged => format!("{concrete}?t={}&exp={exp}&sig=00", self.tenant),
            Cred::Valid if path.ends_with("/actions") => {
                let ack = tokens::sign_ack(&self.link_secret, &self.tenant, "e_nothing", "c_nobody", exp);
                let sig = tokens::sign_link(&self.link_secret, &self.tenant, SESSION, exp);
                format!("{concrete}?t={}&exp={exp}&sig={sig}&e=e_nothing&c=c_nobody&ack={ack}", self.tenant)
            }
            Cred::Valid => {
                format!("{concrete}?t={}&exp={exp}&sig={}", self.tenant, tokens::sign_link(&self.link_secret, &self.tenant, SESSION, exp))
            }
        }
    }

    /// A request to the route with these credentials and this body.
    fn request(&self, (method, path, auth, takes): Route, cred: Cred, body: Body) -> Request<Body> {
        let mut r = Request::builder().method(method).uri(self.uri(path, cred));
        if takes != Nothing {
            r = r.header(header::CONTENT_TYPE, takes.content_type());
        }
        if path == "/v1/ws" {
            r = r
                .header(header::CONNECTION, "upgrade")
                .header(header::UPGRADE, "websocket")
                .header(header::SEC_WEBSOCKET_VERSION, "13")
                .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==");
        }
        let bearer = |k: &str| format!("Bearer {k}");
        r = match (auth, cred) {
            (_, Cred::None) | (Public(_) | Link, _) => r,
            (Operator, Cred::Valid) => r.header(header::AUTHORIZATION, bearer(ADMIN)),
            (Operator | Secret, Cred::WrongKind) => r.header(header::AUTHORIZATION, bearer(&self.site_key)),
            (Operator | Secret, Cred::Forged) => r.header(header::AUTHORIZATION, bearer(&format!("{}x", self.secret_key))),
            (Secret, Cred::Valid) => r.header(header::AUTHORIZATION, bearer(&self.secret_key)),
            (Visitor, Cred::Valid) => r.header("x-siq-site-key", &self.site_key).header(header::AUTHORIZATION, bearer(&self.visitor)),
            // The secret key where the site key belongs, with a good visitor token.
            (Visitor, Cred::WrongKind) => r.header("x-siq-site-key", &self.secret_key).header(header::AUTHORIZATION, bearer(&self.visitor)),
            (Visitor, Cred::Forged) => r.header("x-siq-site-key", &self.site_key).header(header::AUTHORIZATION, bearer("not-a-token")),
        };
        r.body(body).unwrap()
    }

    /// The signed body of `POST /v1/ack`.
    fn ack_body(&self, cred: Cred) -> Body {
        let exp = now_secs() + 600;
        let ack = match cred {
            Cred::Valid => tokens::sign_ack(&self.link_secret, &self.tenant, "e_nothing", "c_nobody", exp),
            _ => "00".into(),
        };
        Body::from(json!({"t": self.tenant, "e": "e_nothing", "c": "c_nobody", "exp": exp, "ack": ack}).to_string())
    }

    /// The status and, when it is JSON, the body of the answer (an event stream is not read).
    async fn send(&self, req: Request<Body>) -> (u16, Value) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let streams = res.headers().get(header::CONTENT_TYPE).is_some_and(|c| c.as_bytes().starts_with(b"text/event-stream"));
        if streams {
            return (status, Value::Null);
        }
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

type Route = (&'static str, &'static str, Auth, Takes);

/// The credentials a request carries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cred {
    /// None at all.
    None,
    /// A real key of the wrong kind: the site key where a secret key or the operator token is
    /// needed, the secret key where the site key is.
    WrongKind,
    /// The right kind, but not valid: an unknown key, a bad visitor token, a bad signature.
    Forged,
    /// The right ones.
    Valid,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Every operation of the OpenAPI document: method, path template, whether it takes a body.
fn openapi_operations() -> BTreeSet<(String, String, bool)> {
    let doc: Value = serde_json::from_str(&sentientiq_server::api::openapi::json()).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.insert((method.to_uppercase(), path.clone(), op.get("requestBody").is_some()));
        }
    }
    ops
}

#[test]
fn the_table_has_every_route_of_the_routers_and_the_document() {
    let table: BTreeSet<(String, String, bool)> =
        ROUTES.iter().filter(|r| !UNDOCUMENTED.contains(&r.1)).map(|&(m, p, _, t)| (m.to_string(), p.to_string(), t != Nothing)).collect();
    // Same operations, and a body limit exactly where the document says a body is taken.
    assert_eq!(table, openapi_operations(), "the table (left) and the OpenAPI document (right) differ");

    // Every path the routers' sources route, documented or not, has its entry.
    let src = [
        include_str!("../src/server.rs"),
        include_str!("../src/api/people.rs"),
        include_str!("../src/api/access.rs"),
        include_str!("../src/api/learning.rs"),
        include_str!("../src/api/escalations.rs"),
        include_str!("../src/api/dashboard.rs"),
        include_str!("../src/api/forensics.rs"),
    ]
    .concat();
    let mut routed = BTreeSet::new();
    for call in [".route(\"", ".route_service(\"", ".nest_service(\""] {
        for (i, _) in src.match_indices(call) {
            let rest = &src[i + call.len()..];
            routed.insert(&rest[..rest.find('"').unwrap()]);
        }
    }
    if src.contains(".fallback_service(") {
        routed.insert(FALLBACK);
    }
    let tabled: BTreeSet<&str> = ROUTES.iter().map(|r| r.1).collect();
    assert_eq!(tabled, routed, "the table (left) and the routers' sources (right) differ");
    let rows: Vec<(&str, &str)> = ROUTES.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(rows.len(), rows.iter().collect::<BTreeSet<_>>().len(), "a route is in the table twice");
}

#[tokio::test]
async fn every_route_asks_for_its_credentials() {
    let f = Fixture::new().await;
    for &route @ (method, path, auth, _) in ROUTES {
        let at = format!("{method} {path}");
        let body = |cred| match path {
            "/v1/ack" => f.ack_body(cred),
            "/v1/sessions/{session}/actions" => Body::from(json!({"action": "acknowledge"}).to_string()),
            _ => Body::empty(),
        };
        let (status, v) = f.send(f.request(route, Cred::None, body(Cred::None))).await;
        match auth {
            Public(expected) => {
                assert_eq!(status, expected, "{at} without credentials: {v}");
                continue;
            }
            Operator | Secret | Visitor => {
                assert_eq!((status, v["error_code"].as_str()), (401, Some("unauthorized")), "{at} without credentials: {v}")
            }
            // No link at all: the query is missing (400); a forged signature in the body (403).
            Link => assert_eq!(status, if path == "/v1/ack" { 403 } else { 400 }, "{at} without a link: {v}"),
        }
        if auth != Link {
            let (status, v) = f.send(f.request(route, Cred::WrongKind, body(Cred::WrongKind))).await;
            assert_eq!((status, v["error_code"].as_str()), (401, Some("unauthorized")), "{at} with the wrong kind of key: {v}");
        }
        let (status, v) = f.send(f.request(route, Cred::Forged, body(Cred::Forged))).await;
        let refused = if auth == Link { (403, Some("forbidden")) } else { (401, Some("unauthorized")) };
        assert_eq!((status, v["error_code"].as_str()), refused, "{at} with forged credentials: {v}");
        // The right credentials pass the gate (what the route then says of an empty body or an
        // unknown id is its own business).
        let (status, v) = f.send(f.request(route, Cred::Valid, body(Cred::Valid))).await;
        assert!(![401, 403].contains(&status), "{at} with valid credentials: {status} {v}");
    }
    f.server.stop().await;
}

#[tokio::test]
async fn a_body_one_byte_past_its_limit_is_413_and_one_at_it_is_taken() {
    let f = Fixture::new().await;
    let mut checked = 0;
    for &route @ (method, path, _, takes) in ROUTES {
        let Some(limit) = takes.limit() else { continue };
        let at = format!("{method} {path}");
        for len in [limit + 1, limit] {
            let mut req = f.request(route, Cred::Valid, Body::from(takes.body(len)));
            req.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            let (status, v) = f.send(req).await;
            if len > limit {
                assert_eq!(status, 413, "{at}, {len} bytes: {v}");
                if takes != Beacon {
                    assert_eq!(v["error_code"], "payload_too_large", "{at}: the API's error shape: {v}");
                    assert!(v["message"].is_string() && v.get("details").is_some(), "{at}: {v}");
                }
            } else {
                assert_ne!(status, 413, "{at}, {len} bytes (the limit): {v}");
                // The CSV was read to its end: its rows are bad, not its size.
                if takes == Csv {
                    assert_eq!((status, v["error_code"].as_str()), (422, Some("invalid_rows")), "{at}: {v}");
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, ROUTES.iter().filter(|r| r.3 != Nothing).count());
    f.server.stop().await;
}

/// A body of `total` bytes sent in `chunk`-byte pieces without a `Content-Length`, counting
/// the bytes the server pulled.
fn streamed(takes: Takes, total: usize, chunk: usize, pulled: Arc<AtomicUsize>) -> Body {
    let (head, unit) = takes.pattern();
    let piece = Bytes::from(unit.repeat(chunk / unit.len()));
    let first = Bytes::from([head, &piece[head.len()..]].concat());
    let count = piece.len();
    let chunks = (0..total / count).map(move |i| {
        let b = if i == 0 { first.clone() } else { piece.clone() };
        pulled.fetch_add(b.len(), Ordering::Relaxed);
        Ok::<_, std::io::Error>(b)
    });
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn a_body_past_its_limit_is_refused_before_it_is_read_whole() {
    const CHUNK: usize = 16 * 1024;
    let f = Fixture::new().await;
    for &route @ (method, path, _, takes) in ROUTES {
        let Some(limit) = takes.limit() else { continue };
        let at = format!("{method} {path}");
        let pulled = Arc::new(AtomicUsize::new(0));
        let total = 2 * limit + 4 * CHUNK;
        let (status, v) = f.send(f.request(route, Cred::Valid, streamed(takes, total, CHUNK, pulled.clone()))).await;
        assert_eq!(status, 413, "{at}, {total} bytes streamed: {v}");
        let read = pulled.load(Ordering::Relaxed);
        assert!(read <= limit + 2 * CHUNK, "{at}: {read} bytes of {total} were pulled for a limit of {limit}");
    }
    f.server.stop().await;
}
