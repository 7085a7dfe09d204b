//! The dashboard's API: signing in by cookie (HttpOnly, SameSite=Strict, a CSRF token on
//! writes, sign-out and revocation that end the session at once), a rage burst as one episode
//! of the live struggles, the session view and its actions through a signed-in user, "not a
//! struggle" counted on the failure page, which is public only when the tenant says so, the
//! forensics saying "too little data" instead of a figure of money, and a spot where many
//! visitors rage in vain shown as one broken control. Both backends (the crowd's norm, in the
//! instance's memory whatever the backend, on the embedded one).

mod common;

use common::*;
use serde_json::{json, Value};
use shared_physics::wire::{Frame, Hello, Section};

const OWNER_PW: &str = "correct horse battery";

/// A signed-in browser: the cookie the server set, and the CSRF token it gave.
struct Browser {
    cookie: String,
    csrf: String,
    token: String,
}

async fn sign_in(s: &TestServer, tenant: &str) -> Browser {
    let r = s
        .http
        .post(format!("{}/v1/login", s.url))
        .json(&json!({"tenant_id": tenant, "email": "owner@shop.example", "password": OWNER_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(part), "{part} missing from {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("siq_session=ds_"), "{cookie}");
    let v: Value = r.json().await.unwrap();
    Browser { cookie, csrf: v["csrf"].as_str().unwrap().into(), token: v["token"].as_str().unwrap().into() }
}

async fn with_cookie(s: &TestServer, b: &Browser, method: &str, path: &str, csrf: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut r = s.http.request(method.parse().unwrap(), format!("{}{path}", s.url)).header("cookie", &b.cookie);
    if let Some(c) = csrf {
        r = r.header("x-csrf-token", c);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_cookie_session_needs_its_csrf_token_to_write_and_ends_at_sign_out() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (st, t) = s
            .post("/v1/admin/tenants", ADMIN, json!({"name": "Shop", "owner": {"email": "owner@shop.example", "password": OWNER_PW}}))
            .await;
        assert_eq!(st, 201, "{t}");
        let tid = t["tenant_id"].as_str().unwrap();
        let b = sign_in(&s, tid).await;

        let (st, me) = with_cookie(&s, &b, "GET", "/v1/dashboard/me", None, None).await;
        assert_eq!((st, me["role"].as_str(), me["email"].as_str()), (200, Some("owner"), Some("owner@shop.example")), "{me}");
        assert_eq!(me["csrf"].as_str(), Some(b.csrf.as_str()));
        // Reads need no CSRF token; writes do, and only this session's.
        let write = json!({"holdout_share": 0.2});
        let (st, e) = with_cookie(&s, &b, "PUT", "/v1/intervention-policy", None, Some(write.clone())).await;
        assert_eq!((st, e["error_code"].as_str()), (403, Some("forbidden")), "{backend:?}: {e}");
        let other = sign_in(&s, tid).await;
        assert_eq!(with_cookie(&s, &b, "PUT", "/v1/intervention-policy", Some(&other.csrf), Some(write.clone())).await.0, 403);
        assert_eq!(with_cookie(&s, &b, "PUT", "/v1/intervention-policy", Some(&b.csrf), Some(write)).await.0, 200);

        // Sign-out clears the cookie and ends the session, by cookie and as a bearer token.
        let r =
            s.http.post(format!("{}/v1/logout", s.url)).header("cookie", &b.cookie).header("x-csrf-token", &b.csrf).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(with_cookie(&s, &b, "GET", "/v1/dashboard/me", None, None).await.0, 401);
        assert_eq!(s.get("/v1/dashboard/me", &b.token).await.0, 401, "{backend:?}: the bearer form of a signed-out session");
        // The other session lives until the owner signs the user out everywhere.
        assert_eq!(with_cookie(&s, &other, "GET", "/v1/dashboard/me", None, None).await.0, 200);
        let uid = t["owner_id"].as_str().unwrap();
        let (st, v) = s.delete(&format!("/v1/users/{uid}/sessions"), t["secret_key"].as_str().unwrap()).await;
        assert_eq!((st, v["revoked"].as_u64()), (200, Some(1)), "{v}");
        assert_eq!(with_cookie(&s, &other, "GET", "/v1/dashboard/me", None, None).await.0, 401);
        // A secret key never signs out (it is revoked as a key).
        assert_eq!(s.post("/v1/logout", t["secret_key"].as_str().unwrap(), json!({})).await.0, 400);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_burst_is_one_struggle_and_not_a_struggle_reaches_the_public_failure_page() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (st, t) = s
            .post("/v1/admin/tenants", ADMIN, json!({"name": "Shop", "owner": {"email": "owner@shop.example", "password": OWNER_PW}}))
            .await;
        assert_eq!(st, 201, "{t}");
        let (tid, sk) = (t["tenant_id"].as_str().unwrap(), t["secret_key"].as_str().unwrap());
        assert_eq!(s.post("/v1/accounts", sk, json!({"account": "acme", "name": "Acme Corp"})).await.0, 201);
        assert_eq!(s.post("/v1/transactions", sk, json!({"id": "t1", "account": "acme", "amount_cents": 10_000_000})).await.0, 201);
        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        let mut ws = s.ws().await;
        ws.send(
            0,
            &Frame::Hello(Hello { session: 0xabc, site_key: t["site_key"].as_str().unwrap(), page: "/store", identity: Some(&token) }),
        )
        .await;
        ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(ws.next().await, In::Ack(1));
        // The burst as the SDK reports it: the same burst twice as it grows (a frame per step).
        ws.send(2, &Frame::Detection(rage_frame())).await;
        ws.send(3, &Frame::Detection(rage_frame_at(300))).await;
        s.eventually("/v1/detections", sk, |v| v["detections"].as_array().is_some_and(|a| a.len() == 2)).await;

        let b = sign_in(&s, tid).await;
        let (st, v) = with_cookie(&s, &b, "GET", "/v1/struggles", None, None).await;
        assert_eq!(st, 200, "{v}");
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{backend:?}: one burst, one card: {v}");
        let e = &items[0]["episode"];
        assert_eq!(
            (e["who"].as_str(), e["account"].as_str(), e["value_cents"].as_i64()),
            (Some("Jane Doe"), Some("Acme Corp"), Some(10_000_000))
        );
        assert_eq!(e["seqs"], json!([2, 3]));
        assert_eq!(items[0]["page"], "/store", "{v}");
        assert_eq!(with_cookie(&s, &b, "GET", "/v1/struggles?min_value_cents=10000001", None, None).await.1["items"], json!([]));
        assert_eq!(with_cookie(&s, &b, "GET", "/v1/struggles?emotion=confusion", None, None).await.1["items"], json!([]));

        // The session view: names, never ids; the plot from the evidence.
        let (st, view) = with_cookie(&s, &b, "GET", "/v1/dashboard/sessions/0000000000000abc", None, None).await;
        assert_eq!(st, 200, "{view}");
        assert_eq!((view["person"]["name"].as_str(), view["person"]["email"].as_str()), (Some("Jane Doe"), Some("jane@acme.example")));
        assert!(
            view["trace"]["points"].as_array().unwrap().len() >= 5 && view["trace"]["clicks"].as_array().unwrap().len() >= 5,
            "{}",
            view["trace"]
        );
        assert_eq!(view["trace"]["marks"].as_array().unwrap().len(), 2);

        // "Not a struggle", once; the failure page counts it; public only when opted in.
        let act = |body: Value| with_cookie(&s, &b, "POST", "/v1/dashboard/sessions/0000000000000abc/actions", Some(&b.csrf), Some(body));
        let (st, r) = act(json!({"action": "not_a_struggle", "seq": 3})).await;
        assert_eq!((st, r["reported"].as_bool()), (200, Some(true)), "{r}");
        assert_eq!(act(json!({"action": "not_a_struggle", "seq": 3})).await.1["reported"], false);
        let (st, r) = act(json!({"action": "send_help"})).await;
        assert_eq!(st, 200, "{r}");
        let (st, f) = with_cookie(&s, &b, "GET", "/v1/failures", None, None).await;
        assert_eq!((st, f["page"]["false_positives"].as_u64(), f["public"].as_bool()), (200, Some(1), Some(false)), "{f}");
        let public = format!("{}/v1/public/failures/{tid}", s.url);
        assert_eq!(s.http.get(&public).send().await.unwrap().status(), 404);
        assert_eq!(with_cookie(&s, &b, "PUT", "/v1/failures/public", Some(&b.csrf), Some(json!({"public": true}))).await.0, 200);
        let page: Value = s.http.get(&public).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["page"]["false_positives_by_emotion"]["rage"], 1, "{page}");
        let text = page.to_string();
        for private in ["Jane", "jane@", "acme", "abc", "u_jane"] {
            assert!(!text.contains(private), "{private} on the public page: {text}");
        }

        // Money: too little data, said so; the ROI report downloads with the reason.
        let (st, fx) = with_cookie(&s, &b, "GET", "/v1/forensics", None, None).await;
        assert_eq!(st, 200, "{fx}");
        let all = fx["prevented"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((all["emotion"].as_str(), all["prevented_cents"]["status"].as_str()), (Some("all"), Some("too_little_data")), "{all}");
        let r = s.http.get(format!("{}/v1/forensics/roi.csv", s.url)).header("cookie", &b.cookie).send().await.unwrap();
        assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let csv = r.text().await.unwrap();
        assert!(csv.starts_with("emotion,holdout_share,treated_n") && csv.contains("too little data"), "{csv}");
        let (st, evi) = with_cookie(&s, &b, "GET", "/v1/evi", None, None).await;
        assert_eq!((st, evi["series"].as_array().map(Vec::len)), (200, Some(25)), "{evi}");
        let (st, w) = with_cookie(&s, &b, "GET", "/v1/weather", None, None).await;
        assert!(st == 200 && w["summary"].is_string(), "{w}");

        // Retention takes the reports and the expired sign-ins with the rest of the session data.
        let store = s.running.as_ref().unwrap().state.store.clone();
        let far = i64::MAX / 2;
        let removed = store.purge_before(tid, far).await.unwrap();
        let count = |t: &str| removed.iter().find(|r| r.0 == t).map(|r| r.1);
        assert_eq!((count("false_positives"), count("dashboard_sessions")), (Some(1), Some(1)), "{removed:?}");
        assert_eq!(with_cookie(&s, &b, "GET", "/v1/failures", None, None).await.0, 401, "{backend:?}: the purged session signs nobody in");
        s.stop().await;
    }
}

#[tokio::test]
async fn an_alert_link_views_with_sig_and_acts_only_with_its_ack_for_its_own_session() {
    use sentientiq_server::identity::tokens;
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let (tid, sk) = (t["tenant_id"].as_str().unwrap(), t["secret_key"].as_str().unwrap());
        assert_eq!(s.post("/v1/accounts", sk, json!({"account": "acme", "name": "Acme Corp"})).await.0, 201);
        assert_eq!(s.post("/v1/transactions", sk, json!({"id": "t1", "account": "acme", "amount_cents": 10_000_000})).await.0, 201);
        let (st, c) =
            s.post("/v1/contacts", sk, json!({"name": "Dana Reyes", "role": "CEO", "channel": "sms", "address": "+15550100"})).await;
        assert_eq!(st, 201, "{c}");
        let contact = c["id"].as_str().unwrap().to_string();
        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        let mut ws = s.ws().await;
        ws.send(
            0,
            &Frame::Hello(Hello { session: 0xabc, site_key: t["site_key"].as_str().unwrap(), page: "/store", identity: Some(&token) }),
        )
        .await;
        ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(ws.next().await, In::Ack(1));
        ws.send(2, &Frame::Detection(rage_frame())).await;
        tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
        ws.send(3, &Frame::Detection(rage_frame_at(5_000))).await;
        let e = s.eventually("/v1/escalations", sk, |v| v["items"].as_array().is_some_and(|a| !a.is_empty())).await;
        let esc = e["items"][0]["id"].as_str().unwrap().to_string();

        let state = &s.running.as_ref().unwrap().state;
        let secret = state.config.link_secret.clone();
        let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
        let session = "0000000000000abc";
        let view = |sess: &str| format!("t={tid}&exp={exp}&sig={}", tokens::sign_link(&secret, tid, sess, exp));
        let act_q = |sess: &str| format!("{}&e={esc}&c={contact}&ack={}", view(sess), tokens::sign_ack(&secret, tid, &esc, &contact, exp));
        let get = |q: String| {
            let http = s.http.clone();
            let url = format!("{}/v1/sessions/{session}?{q}", s.url);
            async move {
                let r = http.get(url).send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or(Value::Null))
            }
        };
        let act = |sess: &'static str, q: String| {
            let http = s.http.clone();
            let url = format!("{}/v1/sessions/{sess}/actions?{q}", s.url);
            async move {
                let r = http.post(url).json(&json!({"action": "acknowledge"})).send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or(Value::Null))
            }
        };
        // The view-only link shows the session, not the customer's email, and cannot act.
        let (st, v) = get(view(session)).await;
        assert_eq!((st, v["can_act"].as_bool(), v["person"]["email"].as_str()), (200, Some(false), None), "{v}");
        assert_eq!(act(session, view(session)).await.0, 403);
        // The paged contact's link can, for its own session only; opening it acknowledged nothing.
        let (st, v) = get(act_q(session)).await;
        assert_eq!((st, v["can_act"].as_bool(), v["person"]["email"].as_str()), (200, Some(true), Some("jane@acme.example")), "{v}");
        // (No SMS provider here: the chain is paged through at once and ends `exhausted`.)
        assert_ne!(v["escalation"]["state"], "acknowledged", "{backend:?}: opening the link acknowledged");
        let other = "0000000000000abd";
        assert_eq!(act(other, act_q(other)).await.0, 403, "{backend:?}: an ack for another session's escalation");
        let (st, r) = act(session, act_q(session)).await;
        assert_eq!((st, r["action"].as_str()), (200, Some("acknowledge")), "{backend:?}: the contact's own link acts: {r}");
        s.stop().await;
    }
}

/// Six anonymous visitors rage in vain at the same spot of the checkout, a minute apart. Half an
/// hour after the last has gone, the signed-in owner sees one broken control there, with its
/// page, position, visitors and share unanswered; a seventh visitor's rage there is held back
/// and counted on it. Without credentials: 401; another tenant sees none of it.
#[tokio::test]
async fn a_spot_where_many_visitors_rage_in_vain_is_one_broken_control_on_the_dashboard() {
    use sentientiq_server::clock::{Clock, ManualClock};
    use std::time::Duration;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let clock = std::sync::Arc::new(ManualClock::new(now));
    let s = TestServer::start_clocked(Backend::Embedded, clock.clone()).await;
    let (st, t) =
        s.post("/v1/admin/tenants", ADMIN, json!({"name": "Shop", "owner": {"email": "owner@shop.example", "password": OWNER_PW}})).await;
    assert_eq!(st, 201, "{t}");
    let (tid, site) = (t["tenant_id"].as_str().unwrap(), t["site_key"].as_str().unwrap());
    const PATH: &str = "/v1/dashboard/broken-controls";
    let r = s.http.get(format!("{}{PATH}", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let b = sign_in(&s, tid).await;
    assert_eq!(with_cookie(&s, &b, "GET", PATH, None, None).await, (200, json!({"spots": []})));

    let server = &s;
    let rage = |visitor: u64| async move {
        let mut ws = server.ws().await;
        ws.send(0, &Frame::Hello(Hello { session: 0xb0c0 + visitor, site_key: site, page: "/checkout", identity: None })).await;
        ws.send(1, &Frame::Detection(rage_frame())).await;
        assert_eq!(ws.next_ack().await, 1, "visitor {visitor}");
    };
    for visitor in 0..6 {
        rage(visitor).await;
        clock.advance(Duration::from_secs(60));
    }
    // Still going on (a reconnect would continue them): nothing learnt yet.
    assert_eq!(with_cookie(&s, &b, "GET", PATH, None, None).await.1, json!({"spots": []}));
    clock.advance(Duration::from_secs(u64::from(sentientiq_server::confirm::crowd::SESSION_IDLE_SECS)));
    let (st, v) = with_cookie(&s, &b, "GET", PATH, None, None).await;
    assert_eq!(st, 200, "{v}");
    let spots = v["spots"].as_array().unwrap();
    assert_eq!(spots.len(), 1, "{v}");
    // The burst's clicks at (400, 300) and (401, 300): the 16 px square from (400, 288).
    let spot = &spots[0];
    assert_eq!((&spot["page"], &spot["x"], &spot["y"]), (&json!("/checkout"), &json!(400), &json!(288)), "{v}");
    assert!(spot["visitors"].as_f64().is_some_and(|n| (5.9..=6.0).contains(&n)), "{v}");
    assert_eq!(
        (&spot["unanswered_share"], &spot["held_back"], &spot["first_held_ms"], &spot["last_held_ms"]),
        (&json!(1.0), &json!(0), &Value::Null, &Value::Null),
        "{v}"
    );

    // A seventh visitor rages there: a finding about the page, held back, not the visitor's.
    rage(6).await;
    let held_ms = clock.now_ms() / 1000 * 1000;
    let v = with_cookie(&s, &b, "GET", PATH, None, None).await.1;
    assert_eq!((&v["spots"][0]["held_back"], &v["spots"][0]["last_held_ms"]), (&json!(1), &json!(held_ms)), "{v}");
    // The secret key reads the same; another tenant's reads nothing of it.
    assert_eq!(s.get(PATH, t["secret_key"].as_str().unwrap()).await, (200, v));
    let other = s.tenant("Other").await;
    assert_eq!(s.get(PATH, other["secret_key"].as_str().unwrap()).await, (200, json!({"spots": []})));
    s.stop().await;
}
