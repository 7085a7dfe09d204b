//! Running it for real: the latency histograms at `/metrics` fill with real traffic (a valuable
//! customer rages twice, is answered in the page and a person is paged on Slack), and `/readyz`
//! tells a load balancer whether the store and the bus answer: 200 on both backends, 503 when the
//! PostgreSQL database is gone or the NATS server stopped.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::process::{Binary, Nats};
use common::*;
use serde_json::{json, Value};
use shared_physics::wire::{Frame, Hello, Section};

/// A fake Slack incoming webhook on loopback: counts the alerts it receives.
async fn fake_slack() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/services/T1/B2/x",
        axum::routing::post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T1/B2/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// `/metrics` as name (with labels) → value.
async fn metrics(s: &TestServer) -> HashMap<String, f64> {
    let r = s.http.get(format!("{}/metrics", s.url)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {l}"));
            (name.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {l}")))
        })
        .collect()
}

const HISTOGRAMS: [&str; 5] =
    ["siq_frame_seconds", "siq_confirm_seconds", "siq_decide_seconds", "siq_push_seconds", "siq_alert_send_seconds"];

#[tokio::test]
async fn real_traffic_fills_every_latency_histogram() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (hook, hits) = fake_slack().await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap();
        assert_eq!(s.post("/v1/accounts", sk, json!({"account": "acme", "name": "Acme Corp"})).await.0, 201);
        assert_eq!(s.post("/v1/transactions", sk, json!({"id": "t1", "account": "acme", "amount_cents": 10_000_000})).await.0, 201);
        let (st, c) = s.post("/v1/contacts", sk, json!({"name": "Dana", "role": "CEO", "channel": "slack", "address": hook})).await;
        assert_eq!(st, 201, "{c}");
        let before = metrics(&s).await;

        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        let mut ws = s.ws().await;
        let site_key = t["site_key"].as_str().unwrap();
        ws.send(0, &Frame::Hello(Hello { session: 0xabc, site_key, page: "/store", identity: Some(&token) })).await;
        ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(ws.next().await, In::Ack(1));
        ws.send(2, &Frame::Detection(rage_frame())).await;
        let mut got = vec![ws.next().await, ws.next().await];
        got.sort_by_key(|i| format!("{i:?}"));
        assert_eq!(got[0], In::Ack(2), "{backend:?}");
        assert!(matches!(&got[1], In::Intervene(_)), "{backend:?}: {got:?}");
        // A second burst 3 s later at the paging bar: a person is paged (on the fake Slack).
        tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
        ws.send(3, &Frame::Detection(rage_frame_at(5_000))).await;
        assert_eq!(ws.next().await, In::Ack(3));
        for _ in 0..100 {
            if hits.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(hits.load(Ordering::SeqCst) > 0, "{backend:?}: the page reached the fake Slack");

        let after = metrics(&s).await;
        for h in HISTOGRAMS {
            let count = after[&format!("{h}_count")];
            let grew = count - before.get(&format!("{h}_count")).copied().unwrap_or(0.0);
            assert!(grew >= 1.0, "{backend:?}: {h}_count grew by {grew} with real traffic");
            assert!(after[&format!("{h}_sum")] > 0.0, "{backend:?}: {h}_sum");
            // Cumulative buckets: never decreasing, and `+Inf` is the count.
            let mut buckets: Vec<(f64, f64)> = after
                .iter()
                .filter_map(|(k, v)| {
                    let le = k.strip_prefix(&format!("{h}_bucket{{le=\""))?.strip_suffix("\"}")?;
                    Some((if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() }, *v))
                })
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(buckets.len(), 17, "{h}: 16 bounds and +Inf");
            assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{h}: cumulative {buckets:?}");
            assert_eq!(buckets.last().unwrap().1, count, "{h}: +Inf is the count");
        }
        // Frames: at least the four this test sent (hello, section, two detections).
        let frames = after["siq_frame_seconds_count"] - before.get("siq_frame_seconds_count").copied().unwrap_or(0.0);
        assert!(frames >= 4.0, "{backend:?}: {frames} frames timed");
        s.stop().await;
    }
}

async fn readyz(s: &TestServer) -> (u16, Value) {
    let r = s.http.get(format!("{}/readyz", s.url)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn readyz_is_200_when_the_store_and_the_bus_answer() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (status, body) = readyz(&s).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["store"]["state"], "ok", "{backend:?}: {body}");
        assert_eq!(body["bus"]["state"], "ok", "{backend:?}: {body}");
        assert!(body["store"].get("error").is_none());
        s.stop().await;
    }
}

#[tokio::test]
async fn readyz_is_503_when_the_postgresql_database_is_gone() {
    let s = TestServer::start(Backend::PostgresNats).await;
    assert_eq!(readyz(&s).await.0, 200);
    // This server's own database dropped (its connections ended): the shared PostgreSQL server
    // and every other database on it are untouched.
    let url = s.database_url();
    let db = url.rsplit('/').next().unwrap();
    let admin = sqlx::PgPool::connect(PG_ADMIN_URL).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)")).execute(&admin).await.unwrap();
    admin.close().await;
    let (status, body) = readyz(&s).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["store"]["state"], "failing", "{body}");
    assert_eq!(body["store"]["error"], "error", "{body}");
    assert_eq!(body["bus"]["state"], "ok", "the bus still answers: {body}");
    assert!(!body.to_string().contains(db), "the body names no database: {body}");
    s.stop().await;
}

#[tokio::test]
async fn readyz_is_503_when_the_nats_server_stops() {
    let mut nats = Nats::start().await;
    let url = nats.url();
    let s = TestServer::start_with(Backend::Embedded, |c| c.nats_url = Some(url)).await;
    let (status, body) = readyz(&s).await;
    assert_eq!(status, 200, "{body}");
    nats.down().await;
    let (status, body) = readyz(&s).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["bus"]["state"], "failing", "{body}");
    assert_eq!(body["store"]["state"], "ok", "the SQLite store still answers: {body}");
    s.stop().await;
}

/// A fake OTLP/HTTP collector: `POST /v1/traces` bodies (protobuf), kept.
async fn fake_collector() -> (String, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let b = b.clone();
            async move {
                b.lock().unwrap().push(body.to_vec());
                ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, bodies)
}

#[tokio::test]
async fn the_hot_path_is_traced_over_otlp_when_an_endpoint_is_set() {
    let (collector, bodies) = fake_collector().await;
    let mut bin = Binary::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector), ("OTEL_SERVICE_NAME", "siq-ops-test")]).await;
    let t = bin.tenant("Shop").await;
    let mut ws = bin.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 0x0de1, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
    ws.send(1, &Frame::Detection(rage_frame())).await;
    let mut got = vec![ws.next().await, ws.next().await];
    got.sort_by_key(|i| format!("{i:?}"));
    assert_eq!(got[0], In::Ack(1));
    assert!(matches!(&got[1], In::Intervene(_)), "{got:?}");
    // Stopping sends the last batch.
    let status = bin.interrupt().await;
    assert!(status.success(), "{status:?}: {}", bin.log());
    let sent = bodies.lock().unwrap().concat();
    assert!(!sent.is_empty(), "the collector received spans; the server logged:\n{}", bin.log());
    // Span names and the service name travel as plain strings in the protobuf.
    let has = |name: &str| sent.windows(name.len()).any(|w| w == name.as_bytes());
    for span in ["frame", "detection", "confirm", "decide", "push", "siq-ops-test"] {
        assert!(has(span), "{span:?} reached the collector");
    }
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_logs_are_json_lines_naming_the_tenant() {
    let mut bin = Binary::start(&[]).await;
    let t = bin.tenant("Shop").await;
    let tenant = t["tenant_id"].as_str().unwrap().to_string();
    let mut ws = bin.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 0x0de2, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
    // A note the server cannot use is logged with the tenant.
    ws.send(1, &Frame::Note(shared_physics::wire::Note { kind: shared_physics::wire::note::OUTCOME, text: "  " })).await;
    assert_eq!(ws.next().await, In::Ack(1));
    let status = bin.interrupt().await;
    assert!(status.success(), "{status:?}: {}", bin.log());
    let lines = bin.lines.lock().unwrap().clone();
    assert!(!lines.is_empty());
    let parsed: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    let refused = parsed.iter().find(|v| v["fields"]["message"] == "note from the page refused").expect("the refusal is logged");
    assert_eq!(refused["fields"]["tenant"], tenant.as_str(), "{refused}");
    assert_eq!(refused["level"], "INFO");
    assert!(!lines.iter().any(|l| l.contains("OTLP")), "no exporter without an endpoint");
}

#[tokio::test]
async fn siq_log_format_text_writes_lines_for_a_terminal() {
    let mut bin = Binary::start(&[("SIQ_LOG_FORMAT", "text")]).await;
    let r = reqwest::get(format!("{}/readyz", bin.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let status = bin.interrupt().await;
    assert!(status.success(), "{status:?}: {}", bin.log());
    let lines = bin.lines.lock().unwrap().clone();
    let listening = lines.iter().find(|l| l.contains("SentientIQ server listening")).unwrap();
    assert!(serde_json::from_str::<Value>(listening).is_err(), "text, not JSON: {listening}");
    assert!(listening.contains("INFO") && listening.contains("addr=127.0.0.1:"), "{listening}");
}
