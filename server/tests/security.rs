//! What a visitor, a member or a viewer sends must not hurt another tenant or the server
//! (docs/security.md): each test here is a finding that once held, reproduced, and now refused.
//! Storage findings run on both backends.

mod common;

use common::*;
use serde_json::json;
use shared_physics::wire::{Frame, Hello, Section};

/// Uploads `csv` as a transactions file; the status.
async fn upload_csv(s: &TestServer, key: &str, csv: &'static str) -> u16 {
    let url = format!("{}/v1/transactions/csv", s.url);
    s.http.post(url).bearer_auth(key).header("content-type", "text/csv").body(csv).send().await.unwrap().status().as_u16()
}

/// One member once stopped the server for every tenant: a transaction near `i64::MAX` on an
/// account that had value answered 500, and from then on the start-up sum of every account
/// overflowed. Amounts are bounded per transaction and per account; the server starts again.
#[tokio::test]
async fn no_amount_a_member_sends_can_overflow_an_account_or_stop_the_server() {
    for backend in BACKENDS {
        let mut s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap().to_string();
        assert_eq!(s.post("/v1/transactions", &sk, json!({"id": "a", "account": "acme", "amount_cents": 2500})).await.0, 201);

        // Past the per-transaction bound, either way: 400 naming the field, nothing recorded.
        for cents in [i64::MAX, i64::MIN, 10_000_000_000_001, -10_000_000_000_001] {
            let (st, e) = s.post("/v1/transactions", &sk, json!({"id": "big", "account": "acme", "amount_cents": cents})).await;
            assert_eq!((st, e["details"]["field"].as_str()), (400, Some("amount_cents")), "{cents}: {e}");
        }
        // Just inside it: accepted.
        assert_eq!(
            s.post("/v1/transactions", &sk, json!({"id": "max", "account": "acme", "amount_cents": 10_000_000_000_000i64})).await.0,
            201
        );

        // Many bounded amounts may not add up past the account's bound ($10 trillion): the one
        // that would is refused with the account named, the ones before it stand.
        let mut refused = None;
        for i in 0..120 {
            let (st, e) = s
                .post("/v1/transactions", &sk, json!({"id": format!("n{i}"), "account": "acme", "amount_cents": 10_000_000_000_000i64}))
                .await;
            if st != 201 {
                assert_eq!((st, e["details"]["account"].as_str()), (409, Some("acme")), "{e}");
                refused = Some(i);
                break;
            }
        }
        assert_eq!(refused, Some(98), "the transaction that takes the account past $10tn");
        // A CSV that would pass the bound is refused whole.
        let csv = "id,account,amount_cents\nc1,globex,5\nc2,acme,10000000000000\n";
        assert_eq!(upload_csv(&s, &sk, csv).await, 409, "a valid file that would pass an account's bound conflicts with what is stored");
        let csv = "id,account,amount_cents\nc3,globex,99999999999999999\n";
        assert_eq!(upload_csv(&s, &sk, csv).await, 422);
        let (_, g) = s.get("/v1/transactions?account=globex", &sk).await;
        assert_eq!(g["items"].as_array().map(Vec::len), Some(0), "nothing of a refused file is recorded: {g}");

        // The server starts again and still knows the account's value.
        s.restart().await;
        let (st, acme) = s.post("/v1/transactions", &sk, json!({"id": "a", "account": "acme", "amount_cents": 2500})).await;
        assert_eq!((st, acme["account_value_cents"].as_i64()), (200, Some(2500 + 99 * 10_000_000_000_000i64)), "{acme}");
        s.stop().await;
    }
}

/// Identity once outlived sign-out: a `Hello` without a token (or with a refused one) kept the
/// visitor an earlier `Hello` proved, so anyone who knew the session id inherited it. Who the
/// visitor is now comes from each `Hello` alone.
#[tokio::test]
async fn a_hello_without_a_token_is_anonymous_whoever_spoke_for_the_session_before() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap().to_string();
        let site = t["site_key"].as_str().unwrap();
        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        let hello = |identity| Frame::Hello(Hello { session: 0x5e55, site_key: site, page: "/", identity });

        // The acknowledgement of `seq`, past any intervention pushed to the session's socket.
        async fn acked(ws: &mut Ws, seq: u32) {
            loop {
                match ws.next().await {
                    In::Intervene(_) => continue,
                    got => return assert_eq!(got, In::Ack(seq)),
                }
            }
        }
        let mut ws = s.ws().await;
        ws.send(0, &hello(Some(&token))).await;
        ws.send(1, &Frame::Detection(rage_frame())).await;
        acked(&mut ws, 1).await;
        drop(ws);
        // Signed out (or a stranger with the session id): same session, no token.
        let mut ws = s.ws().await;
        ws.send(0, &hello(None)).await;
        ws.send(2, &Frame::Detection(rage_frame_at(5_000))).await;
        acked(&mut ws, 2).await;
        // A refused token is anonymous too.
        let mut ws2 = s.ws().await;
        ws2.send(0, &hello(Some("not.a.token"))).await;
        ws2.send(3, &Frame::Detection(rage_frame_at(10_000))).await;
        acked(&mut ws2, 3).await;

        let v = s.eventually("/v1/detections", &sk, |v| v["detections"].as_array().is_some_and(|a| a.len() == 3)).await;
        let by_seq = |seq: u64| v["detections"].as_array().unwrap().iter().find(|d| d["seq"] == seq).unwrap().clone();
        assert_eq!(by_seq(1)["user"], "u_jane", "{backend:?}");
        assert_eq!((by_seq(2)["user"].clone(), by_seq(3)["user"].clone()), (json!(null), json!(null)), "{backend:?}: {v}");
        s.stop().await;
    }
}

/// One frame with `seq = u32::MAX` once ended a session's de-duplication window (every later
/// frame was a "duplicate"). A jump past `MAX_SEQ_JUMP` closes the socket instead.
#[tokio::test]
async fn a_sequence_number_far_ahead_is_refused() {
    let s = TestServer::start(Backend::Embedded).await;
    let t = s.tenant("Shop").await;
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 7, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
    ws.send(1, &Frame::Section(Section { id: 1, name: "a" })).await;
    assert_eq!(ws.next().await, In::Ack(1));
    let jump = 1 + sentientiq_server::ingest::MAX_SEQ_JUMP;
    ws.send(1 + jump, &Frame::Section(Section { id: 2, name: "b" })).await;
    assert_eq!(ws.next().await, In::Closed(sentientiq_server::ingest::CLOSE_MALFORMED));
    // Just inside the jump is fine, on a new socket for the same session.
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 7, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
    ws.send(jump, &Frame::Section(Section { id: 2, name: "b" })).await;
    assert_eq!(ws.next().await, In::Ack(jump));
    s.stop().await;
}

/// Sockets that never say `Hello`, or go silent, once stayed open for ever. The deadlines are
/// the configuration's (`SIQ_HELLO_DEADLINE_MS`, `SIQ_IDLE_TIMEOUT_MS`); made short here.
#[tokio::test]
async fn a_socket_without_hello_or_gone_silent_is_closed() {
    let s = TestServer::start_with(Backend::Embedded, |c| {
        c.hello_deadline_ms = 300;
        c.idle_timeout_ms = 600;
    })
    .await;
    let t = s.tenant("Shop").await;
    let started = std::time::Instant::now();
    let mut ws = s.ws().await;
    assert_eq!(ws.next().await, In::Closed(sentientiq_server::ingest::CLOSE_TIMEOUT));
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 8, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
    ws.send(1, &Frame::Section(Section { id: 1, name: "a" })).await;
    assert_eq!(ws.next().await, In::Ack(1));
    // Past the hello deadline but inside the idle timeout, a frame is still answered…
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    ws.send(2, &Frame::Section(Section { id: 2, name: "b" })).await;
    assert_eq!(ws.next().await, In::Ack(2));
    // …and silence past the idle timeout closes it.
    assert_eq!(ws.next().await, In::Closed(sentientiq_server::ingest::CLOSE_TIMEOUT));
    s.stop().await;
}

/// Every new session id from the public site key once created state kept 30 minutes, without
/// bound. Past the tenant's cap a new session is refused (socket close code, beacon 429);
/// sessions already live go on, and other tenants are untouched.
#[tokio::test]
async fn fresh_session_ids_cannot_grow_memory_past_the_tenants_cap() {
    let s = TestServer::start_with(Backend::Embedded, |c| c.max_sessions_per_tenant = 20).await;
    let a = s.tenant("A").await;
    let b = s.tenant("B").await;
    let beacon = |site: String, session: u64| {
        let http = s.http.clone();
        let url = format!("{}/v1/beacon", s.url);
        async move {
            let hello = encode(0, &Frame::Hello(Hello { session, site_key: &site, page: "/", identity: None }));
            let mut body = (hello.len() as u16).to_le_bytes().to_vec();
            body.extend_from_slice(&hello);
            http.post(url).body(body).send().await.unwrap().status().as_u16()
        }
    };
    let site_a = a["site_key"].as_str().unwrap().to_string();
    for session in 0..20 {
        assert_eq!(beacon(site_a.clone(), 1000 + session).await, 204);
    }
    assert_eq!(beacon(site_a.clone(), 5000).await, 429, "the 21st live session of tenant A");
    assert_eq!(beacon(site_a.clone(), 1000).await, 204, "a live session goes on");
    assert_eq!(beacon(b["site_key"].as_str().unwrap().to_string(), 5000).await, 204, "tenant B is not A's flood");
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 6000, site_key: &site_a, page: "/", identity: None })).await;
    assert_eq!(ws.next().await, In::Closed(sentientiq_server::ingest::CLOSE_OVERLOADED));
    let stats = s.get("/v1/stats", a["secret_key"].as_str().unwrap()).await.1;
    assert_eq!(stats["sessions_refused"], 2, "{stats}");
    s.stop().await;
}

/// Password guessing was once unlimited and every sign-in hashed on an unbounded pool. Five
/// wrong passwords lock the address for the window (429 with `Retry-After`), even for the right
/// password; another address of the same tenant still signs in.
#[tokio::test]
async fn password_guessing_is_throttled_per_address() {
    let s = TestServer::start(Backend::Embedded).await;
    let owner = json!({"email": "owner@shop.example", "password": "correct horse battery staple"});
    let (st, t) = s.post("/v1/admin/tenants", ADMIN, json!({"name": "Shop", "owner": owner})).await;
    assert_eq!(st, 201, "{t}");
    let tenant = t["tenant_id"].as_str().unwrap();
    let sk = t["secret_key"].as_str().unwrap();
    let (st, _) =
        s.post("/v1/users", sk, json!({"email": "member@shop.example", "password": "another long password", "role": "member"})).await;
    assert_eq!(st, 201);
    let login = |email: &'static str, password: &'static str| {
        let http = s.http.clone();
        let url = format!("{}/v1/login", s.url);
        let body = json!({"tenant_id": tenant, "email": email, "password": password});
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
        }
    };
    for _ in 0..sentientiq_server::identity::throttle::MAX_FAILURES_PER_EMAIL {
        assert_eq!(login("owner@shop.example", "wrong").await.0, 401);
    }
    let (st, retry) = login("owner@shop.example", "correct horse battery staple").await;
    assert_eq!(st, 429, "locked, whatever the password");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s > 0 && s <= 900)));
    assert_eq!(login("member@shop.example", "another long password").await.0, 200, "another address signs in");
    let stats = s.get("/v1/stats", sk).await.1;
    assert_eq!(stats["logins_throttled"], 1, "{stats}");
    s.stop().await;
}

/// Contacts and identity settings once accepted any `https://` host and `http://localhost`: a
/// tenant could point the server at the cloud's metadata service or its own private network.
/// Private, link-local and reserved targets are refused where they enter; loopback only when
/// the operator allows it (`SIQ_ALLOW_LOOPBACK_TARGETS`, off by default).
#[tokio::test]
async fn a_tenant_cannot_point_the_server_at_private_networks() {
    let s = TestServer::start_with(Backend::Embedded, |c| c.channels.targets.loopback = false).await;
    let t = s.tenant("Shop").await;
    let sk = t["secret_key"].as_str().unwrap();
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "https://metadata/computeMetadata/v1/",
        "https://redis.default.svc.cluster.local/",
        "http://127.0.0.1:6379/",
        "https://localhost/hook",
        "https://[::ffff:192.168.0.1]/hook",
    ] {
        for channel in ["webhook", "slack"] {
            let (st, e) = s.post("/v1/contacts", sk, json!({"name": "X", "channel": channel, "address": url})).await;
            assert_eq!((st, e["details"]["field"].as_str()), (400, Some("address")), "{channel} {url}: {e}");
        }
        let (st, e) = s.put("/v1/identity-settings", sk, json!({"alg": "RS256", "jwks_url": url})).await;
        assert_eq!((st, e["details"]["field"].as_str()), (400, Some("jwks_url")), "{url}: {e}");
    }
    let (st, e) = s.post("/v1/contacts", sk, json!({"name": "X", "channel": "webhook", "address": "https://hooks.example.com/siq"})).await;
    assert_eq!(st, 201, "a public https URL is fine: {e}");
    s.stop().await;
}

/// `/metrics` once answered anyone, naming every tenant id with its activity. It takes the
/// scrape token or the operator token; without either configured it is off.
#[tokio::test]
async fn metrics_are_for_the_operator_only() {
    let s = TestServer::start_with(Backend::Embedded, |c| c.metrics_token = Some("scrape-token-0123456789".into())).await;
    let t = s.tenant("Shop").await;
    let get = |token: Option<&'static str>| {
        let mut r = s.http.get(format!("{}/metrics", s.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get(None).await.0, 401);
    assert_eq!(get(Some("scrape-token-wrong")).await.0, 401);
    let (st, body) = get(Some("scrape-token-0123456789")).await;
    assert_eq!(st, 200);
    assert!(body.contains("siq_connections"), "{body}");
    assert_eq!(get(Some(ADMIN)).await.0, 200, "the operator token reads them too");
    let (st, body) = get(None).await;
    assert!(st == 401 && !body.contains(t["tenant_id"].as_str().unwrap()));
    s.stop().await;
    let s = TestServer::start_with(Backend::Embedded, |c| c.admin_token = None).await;
    assert_eq!(s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().status().as_u16(), 403);
    s.stop().await;
}

fn escalation(tenant: &str, session: &str, sub: &str, at_ms: i64) -> sentientiq_server::store::EscalationRecord {
    use sentientiq_server::store::{EscalationRecord, EscalationState};
    EscalationRecord {
        id: format!("es_{tenant}_{session}"),
        tenant_id: tenant.into(),
        session: session.into(),
        seq: 1,
        sub: Some(sub.into()),
        person_name: "Jane".into(),
        account_name: "Acme".into(),
        emotion: shared_physics::Emotion::Rage,
        section: String::new(),
        confidence: 0.99,
        value_cents: 10_000_000,
        state: EscalationState::Open,
        step: 0,
        next_at_ms: at_ms,
        claimed_by: None,
        claim_until_ms: 0,
        acked_by: None,
        acked_ms: None,
        detected_ms: at_ms,
        created_ms: at_ms,
        updated_ms: at_ms,
    }
}

/// One visitor token of a valuable account once opened an escalation (a real text message)
/// per fresh session id, and escalations were paged oldest first across tenants, so one
/// tenant's flood delayed another's pages. A person is escalated once per cooldown, and each
/// tenant's oldest due escalation comes before any tenant's second.
#[tokio::test]
async fn pages_are_not_on_demand_and_one_tenants_flood_does_not_delay_anothers() {
    use sentientiq_server::escalation::PERSON_COOLDOWN_MS;
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let state = s.running.as_ref().unwrap().state.clone();
        let (a, b) = (s.tenant("A").await, s.tenant("B").await);
        let (ta, tb) = (a["tenant_id"].as_str().unwrap(), b["tenant_id"].as_str().unwrap());
        let now = state.clock.now_ms();
        // Tenant A: thirty due escalations, all older than tenant B's one.
        for i in 0..30 {
            assert!(state.store.insert_escalation(&escalation(ta, &format!("a{i:02}"), &format!("u{i}"), now - 60_000 + i)).await.unwrap());
        }
        assert!(state.store.insert_escalation(&escalation(tb, "b00", "u_b", now - 1_000)).await.unwrap());
        let due = state.store.due_escalations(now, 4).await.unwrap();
        assert_eq!(due.len(), 4);
        assert!(due.contains(&format!("es_{tb}_b00")), "{backend:?}: B waits behind A's flood: {due:?}");
        assert_eq!(due[0], format!("es_{ta}_a00"), "each tenant's oldest first");

        // A person escalated within the cooldown is not escalated again from another session.
        assert!(state.store.escalated_since(ta, "u3", now - PERSON_COOLDOWN_MS).await.unwrap());
        assert!(!state.store.escalated_since(ta, "u3", now + 1).await.unwrap());
        assert!(!state.store.escalated_since(tb, "u3", now - PERSON_COOLDOWN_MS).await.unwrap(), "another tenant's u3 is another person");
        s.stop().await;
    }
}

/// One `SIQ_WEBHOOK_SECRET` once signed every tenant's webhooks, and each tenant had to be
/// given it to verify theirs: any tenant could forge another's alerts. Each tenant now has a
/// key of its own, derived from the server's secret, read by its owner only.
#[tokio::test]
async fn each_tenant_verifies_its_webhooks_with_a_key_of_its_own() {
    let master = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let s = TestServer::start_with(Backend::Embedded, |c| c.channels.webhook_secret = Some(master.into())).await;
    let (a, b) = (s.tenant("A").await, s.tenant("B").await);
    let (_, ka) = s.get("/v1/webhook-secret", a["secret_key"].as_str().unwrap()).await;
    let (_, kb) = s.get("/v1/webhook-secret", b["secret_key"].as_str().unwrap()).await;
    let (ka, kb) = (ka["secret"].as_str().unwrap(), kb["secret"].as_str().unwrap());
    assert!(ka.starts_with("whsec_") && ka != kb && ka != master && kb != master);
    let ours = sentientiq_server::escalation::channels::webhook::WebhookSecret::parse(master).unwrap();
    assert_eq!(ours.for_tenant(a["tenant_id"].as_str().unwrap()).encoded(), ka, "the key alerts of A are signed with");
    s.stop().await;
    let s = TestServer::start(Backend::Embedded).await;
    let t = s.tenant("C").await;
    assert_eq!(s.get("/v1/webhook-secret", t["secret_key"].as_str().unwrap()).await.0, 404, "no webhooks on this server");
    s.stop().await;
}

/// Variants were once added without the check a variant set must pass: a context could collect
/// any number of them. The sixteenth is the last one a context takes.
#[tokio::test]
async fn a_context_takes_no_more_variants_than_a_set_may_hold() {
    let s = TestServer::start(Backend::Embedded).await;
    let t = s.tenant("Shop").await;
    let sk = t["secret_key"].as_str().unwrap();
    let max = sentientiq_server::interventions::bandit::MAX_VARIANTS;
    for i in 0..max {
        let v = json!({"id": format!("v{i}"), "emotion": "rage", "section": "checkout", "kind": "help", "text": "Need a hand?"});
        let (st, e) = s.post("/v1/variants", sk, v).await;
        assert_eq!(st, 201, "{i}: {e}");
    }
    let v = json!({"id": "one-more", "emotion": "rage", "section": "checkout", "kind": "help", "text": "Need a hand?"});
    let (st, e) = s.post("/v1/variants", sk, v).await;
    assert_eq!(st, 409, "a valid variant the full set has no room for: {e}");
    // Another context has room of its own.
    let v = json!({"id": "one-more", "emotion": "rage", "section": "pricing", "kind": "help", "text": "Need a hand?"});
    assert_eq!(s.post("/v1/variants", sk, v).await.0, 201);
    let v = json!({"id": "long", "emotion": "rage", "section": "x".repeat(65), "kind": "help", "text": "Hi"});
    assert_eq!(s.post("/v1/variants", sk, v).await.0, 400);
    s.stop().await;
}

/// Pages that act (the session view's buttons, the dashboard) could once be framed by any site,
/// and a signed link in the address bar could leak in a `Referer`.
#[tokio::test]
async fn no_page_can_be_framed_and_no_link_leaks_in_a_referer() {
    let s = TestServer::start(Backend::Embedded).await;
    for path in ["/dashboard.html", "/healthz", "/s/00000000000000aa?t=x&exp=1&sig=00"] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        let h = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(h("content-security-policy").contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            (h("x-frame-options"), h("referrer-policy"), h("x-content-type-options")),
            ("DENY".into(), "no-referrer".into(), "nosniff".into()),
            "{path}"
        );
    }
    s.stop().await;
}

/// The tenant's stored secrets, as a copy of the database shows them: `(jwt_secret,
/// token_policy)`.
async fn stored_secrets(s: &TestServer, tenant: &str) -> (String, String) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let row: (String, String) =
        sqlx::query_as("SELECT jwt_secret, token_policy FROM tenants WHERE id = $1").bind(tenant).fetch_one(&pool).await.unwrap();
    pool.close().await;
    row
}

/// The status of `GET /v1/me` with a visitor token signed with `secret`.
async fn me_with(s: &TestServer, site_key: &str, secret: &str) -> u16 {
    let token = visitor_token(secret, "u_jane", "acme");
    let r = s.http.get(format!("{}/v1/me", s.url)).header("x-siq-site-key", site_key).bearer_auth(token).send().await.unwrap();
    r.status().as_u16()
}

/// A copy of the database once minted visitor tokens: `tenants.jwt_secret` and the identity
/// settings' `hs_secret` were stored in plain text. Both are sealed with the keyring now; tokens
/// signed with them verify, before and after a restart; secrets stored before sealing still
/// verify and `rotate-keys` seals them.
#[tokio::test]
async fn a_copy_of_the_database_holds_no_visitor_token_secret() {
    for backend in BACKENDS {
        let mut s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let (id, sk, pk) = (t["tenant_id"].as_str().unwrap(), t["secret_key"].as_str().unwrap(), t["site_key"].as_str().unwrap());
        let jwt = t["jwt_secret"].as_str().unwrap().to_string();
        let (col, _) = stored_secrets(&s, id).await;
        assert!(col.starts_with("enc1:") && !col.contains(&jwt), "{backend:?}: jwt_secret stored as {col:?}");
        assert_eq!(me_with(&s, pk, &jwt).await, 200, "{backend:?}: a token signed with the tenant secret");
        assert_eq!(me_with(&s, pk, "not-the-secret").await, 401, "{backend:?}");

        // Identity settings with a secret of the host's own: sealed too (the whole settings).
        let host = "host-signing-secret-0123456789";
        let (st, p) = s.put("/v1/identity-settings", sk, json!({"alg": "HS256", "hs_secret": host})).await;
        assert_eq!(st, 200, "{backend:?}: {p}");
        let (_, policy) = stored_secrets(&s, id).await;
        assert!(policy.starts_with("enc1:") && !policy.contains(host), "{backend:?}: token_policy stored as {policy:?}");
        assert_eq!(me_with(&s, pk, host).await, 200, "{backend:?}: a token signed with the settings' secret");
        assert_eq!(me_with(&s, pk, &jwt).await, 401, "{backend:?}: the settings' secret replaced the tenant's");
        s.restart().await;
        assert_eq!(me_with(&s, pk, host).await, 200, "{backend:?}: after a restart");
        assert_eq!(me_with(&s, pk, &jwt).await, 401, "{backend:?}: after a restart");

        // A sealed value moved to another tenant's row does not open there: that tenant's tokens
        // are refused (never verified with an empty or foreign secret).
        let other = s.tenant("Other").await;
        let (oid, opk) = (other["tenant_id"].as_str().unwrap(), other["site_key"].as_str().unwrap());
        let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
        sqlx::query("UPDATE tenants SET token_policy = $1 WHERE id = $2").bind(&policy).bind(oid).execute(&pool).await.unwrap();
        // Values stored before sealing: plain text keeps working.
        sqlx::query("UPDATE tenants SET jwt_secret = $1, token_policy = '' WHERE id = $2")
            .bind("legacy-plain-secret")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        s.restart().await;
        assert_eq!(me_with(&s, opk, host).await, 401, "{backend:?}: a moved policy opens nowhere else");
        assert_eq!(me_with(&s, opk, "").await, 401, "{backend:?}");
        assert_eq!(me_with(&s, pk, "legacy-plain-secret").await, 200, "{backend:?}: a secret stored before sealing");

        // `rotate-keys` seals it; tokens still verify, before and after a restart.
        let state = &s.running.as_ref().unwrap().state;
        let report = sentientiq_server::identity::customers::rotate_keys(state.store.as_ref(), &state.keyring).await.unwrap();
        let row = |name: &str| report.iter().find(|r| r.0 == name).map(|r| (r.1, r.3));
        assert_eq!(row("tenants.jwt_secret"), Some((1, 0)), "{backend:?}: {report:?}");
        // The moved policy is sealed with the active key: rotation leaves it without opening it.
        assert_eq!(row("tenants.token_policy"), Some((0, 0)), "{backend:?}: {report:?}");
        let (col, _) = stored_secrets(&s, id).await;
        assert!(col.starts_with("enc1:") && !col.contains("legacy-plain-secret"), "{backend:?}: {col:?}");
        assert_eq!(me_with(&s, pk, "legacy-plain-secret").await, 200, "{backend:?}");
        s.restart().await;
        assert_eq!(me_with(&s, pk, "legacy-plain-secret").await, 200, "{backend:?}: sealed by rotate-keys, after a restart");
        pool.close().await;
        s.stop().await;
    }
}

/// A transactions CSV was parsed whole into memory and recorded in one database transaction,
/// which held SQLite's write lock for the whole file. It is checked whole first (a bad row
/// refuses it all: the test above), then recorded 1,000 rows per transaction: a row that would
/// take an account past its bound stops the upload at its batch, the batches before it stay
/// recorded and the answer says how many rows were; sending the file again records nothing twice.
#[tokio::test]
async fn a_large_csv_is_recorded_in_batches_and_a_late_failure_says_what_stands() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap().to_string();
        let mut csv = String::from("id,account,amount_cents\n");
        for i in 0..1000 {
            csv.push_str(&format!("s{i},small-{},1\n", i % 7));
        }
        // 100 rows of $100bn reach the account bound ($10tn) exactly; the 101st passes it.
        for i in 0..101 {
            csv.push_str(&format!("b{i},acme,10000000000000\n"));
        }
        let send = |csv: String| {
            let r = s.http.post(format!("{}/v1/transactions/csv", s.url)).bearer_auth(&sk).header("content-type", "text/csv").body(csv);
            async move {
                let r = r.send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (st, e) = send(csv.clone()).await;
        assert_eq!(
            (st, e["details"]["account"].as_str(), e["details"]["recorded"].as_u64()),
            (409, Some("acme"), Some(1000)),
            "{backend:?}: {e}"
        );
        let (_, acme) = s.get("/v1/transactions?account=acme", &sk).await;
        assert_eq!(acme["items"].as_array().map(Vec::len), Some(0), "{backend:?}: the failing batch is rolled back: {acme}");
        let (_, small) = s.get("/v1/transactions?account=small-3&limit=500", &sk).await;
        assert_eq!(small["items"].as_array().map(Vec::len), Some(143), "{backend:?}: the batch before it stands");
        // Again, without the row past the bound: the first 1,000 rows are duplicates now.
        let fixed = csv.trim_end().rsplit_once('\n').unwrap().0.to_string() + "\n";
        let (st, ok) = send(fixed).await;
        assert_eq!(
            (st, ok["rows"].as_u64(), ok["recorded"].as_u64(), ok["duplicates"].as_u64(), ok["accounts"].as_u64()),
            (201, Some(1100), Some(100), Some(1000), Some(8)),
            "{backend:?}: {ok}"
        );
        // The account's value as the server knows it: the 100 rows, $10tn.
        let (st, acme) = s.post("/v1/transactions", &sk, json!({"id": "refund", "account": "acme", "amount_cents": -1})).await;
        assert_eq!((st, acme["account_value_cents"].as_i64()), (201, Some(999_999_999_999_999)), "{backend:?}: {acme}");
        s.stop().await;
    }
}

/// The server capped no HTTP connections per client address and gave a new connection no time
/// limit to send its request (`axum::serve` installs no timer): idle sockets from one address
/// could take every file descriptor. The listener counts connections per address (429 past the
/// cap, before HTTP is read) and closes a connection whose first request header has not ended in
/// time; the slots come back as connections close.
#[tokio::test]
async fn connections_are_capped_per_address_and_must_send_their_request_in_time() {
    use sentientiq_server::listener::{Guarded, Limits};
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = Limits { per_ip: 2, header_read: std::time::Duration::from_millis(300), exempt_private: false };
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    // As the server serves: tapped, with each connection's address.
    let listener = axum::serve::ListenerExt::tap_io(Guarded::with_limits(tcp, limits), |io| io.set_nodelay(true).unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
    );
    let served = tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    /// Everything the server sends until it closes ("still open" if it has not closed in 10 s).
    async fn until_closed(c: &mut tokio::net::TcpStream) -> String {
        let mut got = Vec::new();
        match tokio::time::timeout(std::time::Duration::from_secs(10), c.read_to_end(&mut got)).await {
            Ok(_) => String::from_utf8_lossy(&got).into_owned(),
            Err(_) => "still open".into(),
        }
    }

    // Two idle connections take the address's two slots; a third is refused before HTTP.
    let mut idle = [tokio::net::TcpStream::connect(addr).await.unwrap(), tokio::net::TcpStream::connect(addr).await.unwrap()];
    // One byte: the header has begun, not ended.
    idle[1].write_all(b"G").await.unwrap();
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(until_closed(&mut third).await.starts_with("HTTP/1.1 429"), "past the cap");

    // Neither idle connection sent a whole header: both are closed, without an answer.
    for c in &mut idle {
        assert_eq!(until_closed(c).await, "", "closed at the header deadline");
    }
    // Their slots are back: a request is answered, with its address.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let answer = until_closed(&mut c).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("127.0.0.1"), "{answer}");
    served.abort();
}

/// Two tenants whose visitors chose the same session id: each tenant's decision, intervention
/// and escalation is its own (the ids name the tenant; a global primary key never lets one
/// tenant's row take the place of another's).
#[tokio::test]
async fn the_same_session_id_in_two_tenants_keeps_two_records() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let a = s.tenant("A").await;
        let b = s.tenant("B").await;
        for t in [&a, &b] {
            let mut ws = s.ws().await;
            ws.send(0, &Frame::Hello(Hello { session: 0x77, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
            ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
            assert_eq!(ws.next_ack().await, 1);
            ws.send(2, &Frame::Detection(rage_frame())).await;
            assert_eq!(ws.next_ack().await, 2);
        }
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
        for table in ["decisions", "interventions"] {
            let mut tenants: Vec<String> = Vec::new();
            for _ in 0..100 {
                tenants =
                    sqlx::query_scalar(&format!("SELECT tenant_id FROM {table} WHERE session = '0000000000000077' ORDER BY tenant_id"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                if tenants.len() >= 2 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let mut want = vec![a["tenant_id"].as_str().unwrap().to_string(), b["tenant_id"].as_str().unwrap().to_string()];
            want.sort();
            assert_eq!(tenants, want, "{backend:?}: {table} of both tenants");
        }
        pool.close().await;
        s.stop().await;
    }
}

/// A session id alone once bound a socket to a session: whoever learnt a visitor's session id
/// could open a socket with it, take the session's pushes (the newest socket of a session gets
/// them) and speak for it. The SDK's `SecureHello` binds the session to a resume secret at its
/// first `Hello`; a `Hello` without that secret (none, or another) is closed with 4004 before it
/// speaks, counted as `resumes_refused`, also after a restart (the binding is stored, for every
/// instance) and by the beacon (403); the right secret resumes, pushes included.
#[tokio::test]
async fn a_session_id_alone_does_not_bind_a_socket_to_the_session() {
    use futures::SinkExt;
    use sentientiq_server::ingest::CLOSE_WRONG_SECRET;
    use shared_physics::wire::SecureHello;
    use tokio_tungstenite::tungstenite::Message;
    for backend in BACKENDS {
        let mut s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap().to_string();
        let site = t["site_key"].as_str().unwrap().to_string();
        let hello = Hello { session: 0x5ec2e7, site_key: &site, page: "/", identity: None };
        let (right, wrong) = ([0x5a; 16], [0xa5; 16]);
        let secure = |secret| Frame::SecureHello(SecureHello { hello: hello.clone(), secret });
        let bare = Frame::Hello(hello.clone());

        // The visitor opens the session: bound to its secret.
        let mut visitor = s.ws().await;
        visitor.send(0, &secure(right)).await;
        visitor.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(visitor.next().await, In::Ack(1), "{backend:?}");

        // Someone with the session id: its Hello and a frame at once (a refused Hello closes the
        // socket before a second write could land). Without the secret the frame is not taken.
        async fn intrude(s: &TestServer, hello: &Frame<'_>) -> In {
            let mut ws = s.ws().await;
            ws.0.feed(Message::Binary(encode(0, hello).into())).await.unwrap();
            ws.0.feed(Message::Binary(encode(1, &Frame::Section(Section { id: 1, name: "checkout" })).into())).await.unwrap();
            ws.0.flush().await.unwrap();
            ws.next().await
        }
        assert_eq!(intrude(&s, &bare).await, In::Closed(CLOSE_WRONG_SECRET), "{backend:?}: no secret");
        assert_eq!(intrude(&s, &secure(wrong)).await, In::Closed(CLOSE_WRONG_SECRET), "{backend:?}: another secret");

        // The session's push reaches the visitor, and only the visitor.
        visitor.send(2, &Frame::Detection(rage_frame())).await;
        let mut got = vec![visitor.next().await, visitor.next().await];
        got.sort_by_key(|i| format!("{i:?}"));
        assert!(matches!(&got[..], [In::Ack(2), In::Intervene(_)]), "{backend:?}: {got:?}");
        drop(visitor);

        // The binding is stored: after a restart (every session forgotten in memory) the same
        // holds, and the right secret resumes, pushes included.
        s.restart().await;
        assert_eq!(intrude(&s, &secure(wrong)).await, In::Closed(CLOSE_WRONG_SECRET), "{backend:?}: after a restart");
        let mut beacon = Vec::new();
        let frame = encode(0, &bare);
        beacon.extend_from_slice(&(frame.len() as u16).to_le_bytes());
        beacon.extend_from_slice(&frame);
        let status = s.http.post(format!("{}/v1/beacon", s.url)).body(beacon).send().await.unwrap().status().as_u16();
        assert_eq!(status, 403, "{backend:?}: a beacon without the secret");
        let mut resumed = s.ws().await;
        resumed.send(0, &secure(right)).await;
        resumed.send(3, &Frame::Detection(rage_frame_at(60_000))).await;
        let mut got = Vec::new();
        while !got.iter().any(|i| matches!(i, In::Intervene(_))) || !got.contains(&In::Ack(3)) {
            got.push(resumed.next().await);
            assert!(got.len() <= 4 && !got.iter().any(|i| matches!(i, In::Closed(_))), "{backend:?}: {got:?}");
        }

        let stats = s.get("/v1/stats", &sk).await.1;
        assert_eq!(stats["resumes_refused"], 2, "{backend:?}: counted since the restart: {stats}");
        s.stop().await;
    }
}

/// A tenant's secret key was once refused (401) right after the tenant was created: the reload
/// of the identity cache that an earlier change's bus message started could read the store
/// before the new tenant existed and finish after the creation's own reload, putting back a
/// list without it. Reloads now run one at a time, each reading the store after the one before
/// it swapped its list in, so the last list in is never older than a change already answered.
/// Tenants created back to back (each change's message racing the next creation) answer their
/// keys at once.
#[tokio::test]
async fn a_new_tenants_keys_answer_at_once_whatever_reloads_race() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        for i in 0..60 {
            let (st, t) = s.post("/v1/admin/tenants", ADMIN, json!({"name": format!("T{i}")})).await;
            assert_eq!(st, 201, "{t}");
            let (st, e) = s.get("/v1/stats", t["secret_key"].as_str().unwrap()).await;
            assert_eq!(st, 200, "{backend:?}: tenant {i}'s secret key at once: {e}");
        }
        s.stop().await;
    }
}

/// An outcome from any page once counted on the decision's arm and in the uplift: anyone with
/// the public site key could forge conversions and steer the bandit. An anonymous session's
/// page note is recorded (counted as an outcome, on its decision) but teaches nothing, and the
/// host backend's report for the same decision still counts; an identified visitor's page note
/// counts (`ingest.rs::a_valuable_customers_rage_is_confirmed_answered_stored_and_escalated`).
#[tokio::test]
async fn an_anonymous_pages_outcome_does_not_steer_the_bandit() {
    use shared_physics::wire::{note, Note};
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap();
        let mut ws = s.ws().await;
        ws.send(0, &Frame::Hello(Hello { session: 0xf06e, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
        ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(ws.next_ack().await, 1);
        ws.send(2, &Frame::Detection(rage_frame())).await;
        assert_eq!(ws.next_ack().await, 2);
        // A forged conversion, as many times as a script likes, until it is recorded: attributed
        // to the session's decision (once the persister stored it, with NATS).
        let mut seq = 3;
        while s.get("/v1/stats", sk).await.1["outcomes"] != 1 {
            assert!(seq < 200, "{backend:?}: the page's outcome was never attributed");
            ws.send(seq, &Frame::Note(Note { kind: note::OUTCOME, text: "purchase" })).await;
            assert_eq!(ws.next_ack().await, seq);
            seq += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (_, u) = s.get("/v1/uplift", sk).await;
        let conversions = |u: &serde_json::Value| {
            u["emotions"].as_array().map(|e| e.iter().map(|e| e["treated"]["conversions"].as_i64().unwrap()).sum::<i64>())
        };
        assert_eq!(conversions(&u), Some(0), "{backend:?}: an anonymous page moved the uplift: {u}");
        let (_, v) = s.get("/v1/variants", sk).await;
        assert_eq!(v["arms"], json!([]), "{backend:?}: an anonymous page moved an arm: {v}");
        // The host's backend reports the purchase: it takes the decision and teaches the bandit.
        let (st, o) = s.post("/v1/outcomes", sk, json!({"session": "000000000000f06e", "event": "purchase"})).await;
        assert_eq!(st, 201, "{backend:?}: the host's report found no decision: {o}");
        let (_, u) = s.get("/v1/uplift", sk).await;
        assert_eq!(conversions(&u), Some(1), "{backend:?}: {u}");
        let (_, v) = s.get("/v1/variants", sk).await;
        assert_eq!((v["arms"][0]["successes"].as_i64(), v["arms"][0]["failures"].as_i64()), (Some(1), Some(0)), "{backend:?}: {v}");
        // Attributed once: the decision is taken now.
        assert_eq!(s.post("/v1/outcomes", sk, json!({"session": "000000000000f06e", "event": "cancel"})).await.0, 200);
        s.stop().await;
    }
}

/// A visitor token as the host signs it, issued at `iat` (seconds since the epoch).
fn token_issued_at(secret: &str, sub: &str, iat: u64) -> String {
    let claims = json!({"sub": sub, "name": "Jane Doe", "email": "jane@acme.example", "account": "acme", "exp": iat + 3600, "iat": iat});
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// An erased person's tab, left open, once brought them back: its reconnect `Hello` carried the
/// token it had, and the customer row, an identified session and detections about them were
/// stored again. A token issued before its subject's erasure now identifies nobody (the socket
/// is measured as anonymous, the widget answers 401); one the host signs afterwards does.
#[tokio::test]
async fn an_erased_persons_open_tab_does_not_bring_them_back() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let (sk, site, secret) = (t["secret_key"].as_str().unwrap(), t["site_key"].as_str().unwrap(), t["jwt_secret"].as_str().unwrap());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let old = token_issued_at(secret, "u_jane", now - 60);
        let hello = |session, identity| Frame::Hello(Hello { session, site_key: site, page: "/", identity });
        let mut ws = s.ws().await;
        ws.send(0, &hello(0xe1a5, Some(&old))).await;
        ws.send(1, &Frame::Detection(rage_frame())).await;
        assert_eq!(ws.next_ack().await, 1);
        // Stored (with NATS an ack means the bus has it, not yet the database): an event the
        // persister is writing while the erasure runs is another matter (docs/security.md).
        s.eventually("/v1/customers/u_jane", sk, |c| {
            c["customer"]["sub"] == "u_jane" && c["detections"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
        let (st, e) = s.delete("/v1/customers/u_jane", sk).await;
        assert_eq!(st, 200, "{backend:?}: {e}");

        // The tab is still open: it reconnects with the token it holds and goes on.
        drop(ws);
        let mut ws = s.ws().await;
        ws.send(0, &hello(0xe1a5, Some(&old))).await;
        ws.send(2, &Frame::Detection(rage_frame_at(5_000))).await;
        assert_eq!(ws.next_ack().await, 2);
        let v = s.eventually("/v1/detections", sk, |v| v["detections"].as_array().is_some_and(|a| !a.is_empty())).await;
        let users: Vec<&serde_json::Value> = v["detections"].as_array().unwrap().iter().map(|d| &d["user"]).collect();
        assert_eq!(users, [&json!(null)], "{backend:?}: the detection after the erasure is anonymous: {v}");
        assert_eq!(s.get("/v1/customers/u_jane", sk).await.0, 404, "{backend:?}: the person came back");
        let stats = s.get("/v1/stats", sk).await.1;
        assert_eq!(stats["identity_rejected"], 1, "{backend:?}: {stats}");
        let me = s.http.post(format!("{}/v1/me/context", s.url)).header("x-siq-site-key", site).bearer_auth(&old);
        assert_eq!(me.json(&json!({"state": "busy"})).send().await.unwrap().status().as_u16(), 401, "{backend:?}: the widget");

        // The person signs up again: a token issued after the erasure identifies them.
        let fresh = token_issued_at(
            secret,
            "u_jane",
            now.max(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()) + 1,
        );
        let mut ws = s.ws().await;
        ws.send(0, &hello(0xe1a6, Some(&fresh))).await;
        ws.send(1, &Frame::Detection(rage_frame())).await;
        assert_eq!(ws.next_ack().await, 1);
        s.eventually("/v1/customers/u_jane", sk, |c| c["customer"]["sub"] == "u_jane").await;
        s.stop().await;
    }
}

/// One tenant's sockets were bounded only by the instance's 100,000: holders of its public
/// site key could take every socket from the other tenants (many sockets may speak for one
/// session, so the live-session cap does not bound them). Past the tenant's cap of open sockets
/// a `Hello` is closed with 4013; other tenants are untouched and a closed socket's place comes
/// back (`SIQ_MAX_SOCKETS_PER_TENANT`, made small here).
#[tokio::test]
async fn a_site_keys_open_sockets_are_capped_per_instance() {
    let s = TestServer::start_with(Backend::Embedded, |c| c.max_sockets_per_tenant = 3).await;
    let a = s.tenant("A").await;
    let b = s.tenant("B").await;
    let (site_a, site_b) = (a["site_key"].as_str().unwrap(), b["site_key"].as_str().unwrap());
    /// A socket that said `Hello` for `session` and had a frame acknowledged, or its close code.
    async fn open(s: &TestServer, site: &str, session: u64) -> Result<Ws, u16> {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        let mut ws = s.ws().await;
        // Both at once: a refused Hello closes the socket before a second write could land.
        let hello = encode(0, &Frame::Hello(Hello { session, site_key: site, page: "/", identity: None }));
        ws.0.feed(Message::Binary(hello.into())).await.unwrap();
        ws.0.feed(Message::Binary(encode(1, &Frame::Section(Section { id: 1, name: "a" })).into())).await.unwrap();
        ws.0.flush().await.unwrap();
        match ws.next().await {
            In::Ack(1) => Ok(ws),
            In::Closed(code) => Err(code),
            other => panic!("{other:?}"),
        }
    }
    // Three sockets, all for the same session: each takes a place.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open(&s, site_a, 0x5ec).await.expect("inside the cap"));
    }
    assert_eq!(open(&s, site_a, 0x5ec).await.err(), Some(sentientiq_server::ingest::CLOSE_OVERLOADED), "the 4th socket");
    assert_eq!(open(&s, site_a, 0x5ed).await.err(), Some(sentientiq_server::ingest::CLOSE_OVERLOADED), "whatever its session");
    let other = open(&s, site_b, 0x5ec).await;
    assert!(other.is_ok(), "tenant B is not A's flood");
    // A socket closes: its place comes back (once the server has seen it go).
    held.pop().unwrap().0.close(None).await.unwrap();
    let mut again = Err(0);
    for _ in 0..100 {
        again = open(&s, site_a, 0x5ee).await;
        if again.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(again.is_ok(), "a closed socket's place is back: {:?}", again.err());
    let stats = s.get("/v1/stats", a["secret_key"].as_str().unwrap()).await.1;
    assert!(stats["sockets_refused"].as_u64().is_some_and(|n| n >= 2), "{stats}");
    assert_eq!(s.get("/v1/stats", b["secret_key"].as_str().unwrap()).await.1["sockets_refused"], 0);
    s.stop().await;
}

/// After its first request a kept-alive HTTP connection once stayed open for as long as the
/// client liked, holding a slot. Silence past the keep-alive timeout after an answer closes it
/// (`SIQ_KEEP_ALIVE_TIMEOUT_MS`, made short here); a WebSocket, which leaves HTTP at its
/// upgrade, is not closed by it.
#[tokio::test]
async fn a_kept_alive_connection_gone_silent_is_closed_and_a_websocket_is_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(Backend::Embedded, |c| c.keep_alive_timeout_ms = 300).await;
    let t = s.tenant("Shop").await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), c.read_to_end(&mut got)).await.is_ok();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "the request is answered: {got}");
    assert!(!got.to_ascii_lowercase().contains("connection: close"), "kept alive after the answer: {got}");
    assert!(closed, "silence past the keep-alive timeout closes the connection");

    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session: 9, site_key: t["site_key"].as_str().unwrap(), page: "/", identity: None })).await;
    ws.send(1, &Frame::Section(Section { id: 1, name: "a" })).await;
    assert_eq!(ws.next().await, In::Ack(1));
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    ws.send(2, &Frame::Section(Section { id: 2, name: "b" })).await;
    assert_eq!(ws.next().await, In::Ack(2), "a WebSocket silent past the keep-alive timeout is still open");
    s.stop().await;
}
