//! The SDK's socket, end to end inside the server: a valuable customer's rage burst arrives
//! with its evidence, is recomputed, acknowledged, answered with an intervention, stored and
//! escalated; bad clients get clear close codes. Every test runs on both backends.

mod common;

use common::*;
use serde_json::json;
use shared_physics::wire::{note, DetectionFrame, Frame, Hello, Note, Section};
use shared_physics::{Emotion, Kind, Sample};

async fn valuable_customer(s: &TestServer) -> (serde_json::Value, String) {
    let t = s.tenant("Shop").await;
    let sk = t["secret_key"].as_str().unwrap().to_string();
    assert_eq!(s.post("/v1/accounts", &sk, json!({"account": "acme", "name": "Acme Corp"})).await.0, 201);
    assert_eq!(s.post("/v1/transactions", &sk, json!({"id": "tx-1", "account": "acme", "amount_cents": 10_000_000})).await.0, 201);
    assert_eq!(s.post("/v1/contacts", &sk, json!({"name": "Dana", "role": "CEO", "channel": "sms", "address": "+15550100"})).await.0, 201);
    (t, sk)
}

#[tokio::test]
async fn a_valuable_customers_rage_is_confirmed_answered_stored_and_escalated() {
    use sentientiq_server::clock::ManualClock;
    for backend in BACKENDS {
        // The server times the second burst by its own clock, moved here by hand.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let clock = std::sync::Arc::new(ManualClock::new(now));
        let s = TestServer::start_clocked(backend, clock.clone()).await;
        let (t, sk) = valuable_customer(&s).await;
        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        let mut ws = s.ws().await;
        ws.send(
            0,
            &Frame::Hello(Hello { session: 0xabc, site_key: t["site_key"].as_str().unwrap(), page: "/store", identity: Some(&token) }),
        )
        .await;
        ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(ws.next().await, In::Ack(1));
        let f = rage_frame();
        let client_pct = f.confidence_pct;
        ws.send(2, &Frame::Detection(f.clone())).await;
        let mut got = vec![ws.next().await, ws.next().await];
        got.sort_by_key(|i| format!("{i:?}"));
        assert_eq!(got[0], In::Ack(2), "{backend:?}");
        assert!(matches!(&got[1], In::Intervene(text) if text.contains("help")), "{backend:?}: {got:?}");

        // A resent frame (after a reconnect) is acknowledged, not counted twice.
        ws.send(2, &Frame::Detection(f)).await;
        assert_eq!(ws.next().await, In::Ack(2));

        let v = s.eventually("/v1/detections", &sk, |v| v["detections"].as_array().is_some_and(|a| !a.is_empty())).await;
        let d = &v["detections"][0];
        assert_eq!(d["emotion"], "rage");
        assert_eq!(d["section"], "checkout");
        assert_eq!(d["account"], "acme");
        assert_eq!(d["account_name"], "Acme Corp");
        assert_eq!(d["value_cents"], 10_000_000);
        assert_eq!(d["user"], "u_jane");
        assert_eq!(d["user_name"], "Jane Doe");
        assert_eq!(d["client_confidence"].as_f64().unwrap(), client_pct as f64 / 100.0);
        assert_eq!(d["confidence"], d["client_confidence"], "native recomputation agrees with the detector");
        assert_eq!(d["features"]["clicks"], 5);
        // The reach to the first click arrived without overshoot: critically damped.
        assert_eq!(d["features"]["damping"], 1.0, "{}", d["features"]);
        assert!(d["features"]["natural_freq"].as_f64().is_some_and(|w| w > 0.0));
        // …along a straight line: no curvature.
        assert_eq!(d["features"]["curvature"], 0.0, "{}", d["features"]);
        assert!(d.get("evidence").is_none());
        // One burst is not enough to page a person…
        assert_eq!(s.get("/v1/escalations", &sk).await.1["items"], json!([]), "{backend:?}: one burst paged somebody");
        // A second burst the page says came 5 s later, arriving at once, is the client's word
        // only: nobody is paged…
        ws.send(3, &Frame::Detection(rage_frame_at(5_000))).await;
        assert_eq!(ws.next().await, In::Ack(3));
        assert_eq!(s.get("/v1/escalations", &sk).await.1["items"], json!([]), "{backend:?}: the page's clock paged somebody");
        // …one the server sees 5 s later is: the struggle persisted (no second intervention:
        // the cooldown).
        clock.advance(std::time::Duration::from_secs(5));
        ws.send(4, &Frame::Detection(rage_frame_at(5_000))).await;
        assert_eq!(ws.next().await, In::Ack(4));
        let e = s.eventually("/v1/escalations", &sk, |v| v["items"].as_array().is_some_and(|a| !a.is_empty())).await;
        assert_eq!(e["items"][0]["id"], format!("es_{}_0000000000000abc_4", t["tenant_id"].as_str().unwrap()), "{e}");
        assert_eq!(e["items"][0]["value_cents"], 10_000_000);
        // No SMS provider is configured here: the alert is recorded as failed, never silently lost.
        let a = s.eventually("/v1/alerts", &sk, |v| v["alerts"].as_array().is_some_and(|a| !a.is_empty())).await;
        assert_eq!(a["alerts"][0]["status"], "failed");
        assert!(a["alerts"][0]["error"].as_str().unwrap().contains("not configured"));
        let stats = s.get("/v1/stats", &sk).await.1;
        assert_eq!(
            (stats["confirmed"].as_u64(), stats["duplicates"].as_u64(), stats["interventions"].as_u64()),
            (Some(3), Some(1), Some(1)),
            "{stats}"
        );
        assert_eq!(stats["alerts_failed"], 1);
        let iv = s.eventually("/v1/interventions", &sk, |v| v["interventions"].as_array().is_some_and(|a| a.len() == 1)).await;
        assert_eq!(iv["interventions"][0]["emotion"], "rage");

        // The page reports what happened next (`SentientIQ.track`, `SentientIQ.context`): the
        // outcome lands on the session's decision, the state on Jane; junk is refused, counted.
        ws.send(5, &Frame::Note(Note { kind: note::OUTCOME, text: "purchase" })).await;
        assert_eq!(ws.next().await, In::Ack(5));
        ws.send(6, &Frame::Note(Note { kind: note::CONTEXT, text: "busy" })).await;
        assert_eq!(ws.next().await, In::Ack(6));
        ws.send(7, &Frame::Note(Note { kind: note::CONTEXT, text: "angry" })).await;
        assert_eq!(ws.next().await, In::Ack(7));
        ws.send(8, &Frame::Note(Note { kind: 9, text: "x" })).await;
        assert_eq!(ws.next().await, In::Ack(8));
        let u = s.eventually("/v1/uplift", &sk, |v| v["emotions"][0]["treated"]["conversions"] == 1).await;
        assert_eq!(u["emotions"][0]["treated"]["n"], 1, "{u}");
        let cx = s.eventually("/v1/contexts", &sk, |v| v["items"].as_array().is_some_and(|a| !a.is_empty())).await;
        assert_eq!((cx["items"][0]["sub"].as_str(), cx["items"][0]["state"].as_str()), (Some("u_jane"), Some("busy")), "{cx}");
        let stats = s.get("/v1/stats", &sk).await.1;
        assert_eq!((stats["outcomes"].as_u64(), stats["notes_refused"].as_u64()), (Some(1), Some(2)), "{stats}");
        s.stop().await;
    }
}

#[tokio::test]
async fn a_tenants_own_thresholds_decide_what_is_confirmed_and_other_tenants_keep_theirs() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (strict, strict_sk) = valuable_customer(&s).await;
        let other = s.tenant("Other").await;
        let other_sk = other["secret_key"].as_str().unwrap();

        // Bad input is refused with the field named, and nothing is stored.
        let (code, err) = s.put("/v1/thresholds", &strict_sk, json!({"rage_min_clicks": 1})).await;
        assert_eq!((code, err["error_code"].as_str()), (400, Some("invalid_request")), "{err}");
        assert_eq!(err["details"]["field"], "rage_min_clicks");
        assert_eq!(s.put("/v1/thresholds", &strict_sk, json!({"rage_clicks": 9})).await.0, 400, "unknown fields are refused");
        let (code, v) = s.get("/v1/thresholds", &strict_sk).await;
        assert_eq!((code, &v["set"]), (200, &json!({})));
        assert_eq!(v["effective"]["rage_min_clicks"], 3);

        let (code, v) = s.put("/v1/thresholds", &strict_sk, json!({"rage_min_clicks": 6, "hesitation_min_swings": 4})).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!((v["effective"]["rage_min_clicks"].as_u64(), v["effective"]["rage_max_ici_ms"].as_u64()), (Some(6), Some(900)));
        assert_eq!(s.get("/v1/thresholds", &strict_sk).await.1["set"], json!({"rage_min_clicks": 6, "hesitation_min_swings": 4}));
        assert_eq!(s.get("/v1/thresholds", other_sk).await.1["set"], json!({}), "another tenant's thresholds are its own");

        // The same five-click burst: overturned for the strict tenant, confirmed for the other.
        for (t, sk, confirmed) in [(&strict, strict_sk.as_str(), 0), (&other, other_sk, 1)] {
            let mut ws = s.ws().await;
            ws.send(0, &Frame::Hello(Hello { session: 0xdef, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
            ws.send(1, &Frame::Detection(rage_frame())).await;
            assert_eq!(ws.next_ack().await, 1);
            let stats = s.eventually("/v1/stats", sk, |v| v["detections"] == 1).await;
            assert_eq!((stats["confirmed"].as_u64(), stats["overturned"].as_u64()), (Some(confirmed), Some(1 - confirmed)), "{stats}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn claims_without_evidence_are_overturned_and_anonymous_sessions_never_escalate() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (t, sk) = valuable_customer(&s).await;
        let mut ws = s.ws().await;
        ws.send(
            0,
            &Frame::Hello(Hello { session: 7, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: Some("forged.token.here") }),
        )
        .await;
        // A claim of 99% rage whose evidence is three clicks far apart.
        let mut evidence = heapless::Vec::new();
        for (i, x) in [0i16, 300, 600].into_iter().enumerate() {
            evidence.push(Sample { t_ms: 100 * i as u32, x, y: 0, kind: Kind::Click, section: 0 }).unwrap();
        }
        ws.send(1, &Frame::Detection(DetectionFrame { emotion: Emotion::Rage, confidence_pct: 99, t_ms: 200, section: 0, evidence })).await;
        assert_eq!(ws.next().await, In::Ack(1));
        // A real burst from the anonymous (refused token) session: intervention yes, alert no.
        ws.send(2, &Frame::Detection(rage_frame())).await;
        let a = ws.next().await;
        let b = ws.next().await;
        assert!(matches!((&a, &b), (In::Ack(2), In::Intervene(_)) | (In::Intervene(_), In::Ack(2))), "{a:?} {b:?}");
        let stats = s.eventually("/v1/stats", &sk, |v| v["confirmed"] == 1).await;
        assert_eq!(stats["overturned"], 1);
        assert_eq!(stats["identity_rejected"], 1);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(s.get("/v1/alerts", &sk).await.1["alerts"].as_array().unwrap().len(), 0, "anonymous sessions are never escalated");
        assert_eq!(s.get("/v1/stats", &sk).await.1["alerts_failed"], 0);
        s.stop().await;
    }
}

#[tokio::test]
async fn bad_clients_get_clear_close_codes() {
    let s = TestServer::start(Backend::Embedded).await;
    let t = s.tenant("Shop").await;
    let key = t["site_key"].as_str().unwrap();

    let mut ws = s.ws().await;
    ws.send_raw(vec![9, 0, 0]).await;
    assert_eq!(ws.next().await, In::Closed(4001), "unsupported protocol version");

    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 1, site_key: "pk_nobody", page: "/", identity: None })).await;
    assert_eq!(ws.next().await, In::Closed(4003), "unknown site key");

    let mut ws = s.ws().await;
    ws.send(1, &Frame::Section(Section { id: 1, name: "x" })).await;
    assert_eq!(ws.next().await, In::Closed(4002), "hello first");

    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 1, site_key: key, page: "/", identity: None })).await;
    ws.send_raw(vec![1, 1, 77, 1, 2, 3]).await;
    assert_eq!(ws.next().await, In::Closed(4400), "malformed");

    // Just past the burst limit: the connection is closed for rate.
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 2, site_key: key, page: "/", identity: None })).await;
    let burst = sentientiq_server::ingest::MAX_FRAME_BURST as u32;
    for seq in 1..=burst + 1 {
        ws.send(seq, &Frame::Section(Section { id: 1, name: "x" })).await;
    }
    let mut last = In::Ack(0);
    for _ in 0..=burst {
        last = ws.next().await;
        if matches!(last, In::Closed(_)) {
            break;
        }
    }
    assert_eq!(last, In::Closed(4029));
    s.stop().await;
}

#[tokio::test]
async fn the_beacon_delivers_the_last_frames() {
    let s = TestServer::start(Backend::Embedded).await;
    let (t, sk) = valuable_customer(&s).await;
    let mut body = Vec::new();
    for (seq, f) in [
        (0, Frame::Hello(Hello { session: 99, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })),
        (1, Frame::Detection(rage_frame())),
    ] {
        let b = encode(seq, &f);
        body.extend_from_slice(&(b.len() as u16).to_le_bytes());
        body.extend_from_slice(&b);
    }
    let r = s.http.post(format!("{}/v1/beacon", s.url)).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 204);
    s.eventually("/v1/detections", &sk, |v| v["detections"].as_array().is_some_and(|a| a.len() == 1)).await;
    body.truncate(body.len() - 3);
    let r = s.http.post(format!("{}/v1/beacon", s.url)).body(body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("frame 1"));
    s.stop().await;
}

#[tokio::test]
async fn physics_frames_count_each_active_minute_of_a_session_once() {
    use sentientiq_server::clock::ManualClock;
    use shared_physics::wire::Physics;
    use std::sync::Arc;
    use std::time::Duration;

    let physics = |t_ms: u32, moves: u16| {
        Frame::Physics(Physics { t_ms, moves, clicks: 0, scrolls: 0, mean_speed: 300, peak_jerk_k: 4, entropy_q: 90 })
    };
    for backend in BACKENDS {
        // The start of a wall-clock minute.
        let clock = Arc::new(ManualClock::new(29_000_000 * 60_000));
        let s = TestServer::start_clocked(backend, clock.clone()).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap().to_string();
        let mut ws = s.ws().await;
        ws.send(0, &Frame::Hello(Hello { session: 0xa1, site_key: t["site_key"].as_str().unwrap(), page: "/store", identity: None })).await;
        ws.send(1, &physics(1_000, 12)).await;
        assert_eq!(ws.next().await, In::Ack(1));
        clock.advance(Duration::from_secs(59));
        ws.send(2, &physics(2_000, 3)).await;
        assert_eq!(ws.next().await, In::Ack(2), "the same minute counts once");
        clock.advance(Duration::from_secs(1));
        ws.send(3, &physics(3_000, 5)).await;
        assert_eq!(ws.next().await, In::Ack(3));
        clock.advance(Duration::from_secs(60));
        ws.send(4, &physics(4_000, 0)).await;
        assert_eq!(ws.next().await, In::Ack(4), "a summary without activity is no active minute");

        let stats = s.eventually("/v1/stats", &sk, |v| v["active_minutes"] == 2).await;
        assert_eq!(stats["frames"], 4, "{backend:?}");
        let store = s.running.as_ref().unwrap().state.store.clone();
        let tenant = t["tenant_id"].as_str().unwrap().to_string();
        let mut stored = 0;
        for _ in 0..100 {
            stored = store.session(&tenant, "00000000000000a1").await.unwrap().map_or(0, |r| r.active_minutes);
            if stored == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(stored, 2, "{backend:?}: the session's active minutes are stored");
        s.stop().await;
    }
}

#[tokio::test]
async fn while_paced_the_low_lane_reads_with_a_token_and_a_high_value_visitor_never_waits() {
    use shared_physics::wire::Physics;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let physics =
        |t_ms: u32| Frame::Physics(Physics { t_ms, moves: 4, clicks: 0, scrolls: 0, mean_speed: 300, peak_jerk_k: 4, entropy_q: 90 });
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (t, _sk) = valuable_customer(&s).await;
        let site_key = t["site_key"].as_str().unwrap();
        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        // A visitor of a $100,000 account (above the default critical value), and an anonymous one.
        let mut high = s.ws().await;
        high.send(0, &Frame::Hello(Hello { session: 0xb1, site_key, page: "/store", identity: Some(&token) })).await;
        high.send(1, &physics(1_000)).await;
        assert_eq!(high.next_ack().await, 1);
        let mut low = s.ws().await;
        low.send(0, &Frame::Hello(Hello { session: 0xb2, site_key, page: "/store", identity: None })).await;
        low.send(1, &physics(1_000)).await;
        assert_eq!(low.next_ack().await, 1);

        // The runtime "lags" (this task tells the pacer so every 5 ms) until told to stop.
        let pacer = s.running.as_ref().unwrap().state.ingest.pacer.clone();
        let lagging = Arc::new(AtomicBool::new(true));
        let forcing = tokio::spawn({
            let (pacer, lagging) = (pacer.clone(), lagging.clone());
            async move {
                while lagging.load(Ordering::Relaxed) {
                    pacer.probe(Duration::from_millis(10), Duration::from_millis(200), 0);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        while !pacer.paced() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waits = || pacer.figures().2;
        let before = waits();
        for seq in 2..=4 {
            high.send(seq, &physics(seq * 1_000)).await;
            assert_eq!(high.next_ack().await, seq, "{backend:?}");
        }
        assert_eq!(waits(), before, "{backend:?}: a high-value visitor's reads never wait for the pace");
        for seq in 2..=4 {
            low.send(seq, &physics(seq * 1_000)).await;
            assert_eq!(low.next_ack().await, seq, "{backend:?}: the low lane is slowed, not stopped");
        }
        assert!(waits() >= before + 2, "{backend:?}: the low lane's reads waited for tokens ({} -> {})", before, waits());

        // The lag gone, pacing ends within a calm second or two; then nobody waits.
        lagging.store(false, Ordering::Relaxed);
        forcing.await.unwrap();
        let calm = tokio::time::Instant::now() + Duration::from_secs(20);
        while pacer.paced() {
            assert!(tokio::time::Instant::now() < calm, "{backend:?}: still paced");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        low.send(5, &physics(5_000)).await;
        assert_eq!(low.next_ack().await, 5);
        let after = waits();
        low.send(6, &physics(6_000)).await;
        assert_eq!(low.next_ack().await, 6);
        assert_eq!(waits(), after, "{backend:?}: not paced, the low lane reads without a token");
        s.stop().await;
    }
}
