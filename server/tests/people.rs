//! Identity and tenants through the API: keys, users and roles, the audit log, customers
//! resolved from their tokens with strength and segments, contexts, transactions by CSV,
//! tenant isolation for every endpoint, and a person's export and erasure. Both backends.

mod common;

use common::*;
use serde_json::{json, Value};
use shared_physics::wire::{Frame, Hello};

const OWNER_PW: &str = "correct horse battery";

async fn tenant_with_owner(s: &TestServer, name: &str, email: &str) -> Value {
    let (st, t) = s.post("/v1/admin/tenants", ADMIN, json!({"name": name, "owner": {"email": email, "password": OWNER_PW}})).await;
    assert_eq!(st, 201, "{t}");
    t
}

async fn login(s: &TestServer, tenant: &str, email: &str, pw: &str) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/v1/login", s.url))
        .json(&json!({"tenant_id": tenant, "email": email, "password": pw}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// An identified visitor says hello over the SDK's socket.
async fn visit(s: &TestServer, t: &Value, session: u64, sub: &str, account: &str) {
    let token = visitor_token(t["jwt_secret"].as_str().unwrap(), sub, account);
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session, site_key: t["site_key"].as_str().unwrap(), page: "/app", identity: Some(&token) })).await;
    ws.send(1, &Frame::Section(shared_physics::wire::Section { id: 1, name: "pricing" })).await;
    assert_eq!(ws.next().await, In::Ack(1));
}

#[tokio::test]
async fn roles_keys_and_the_audit_log() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = tenant_with_owner(&s, "Shop", "Owner@Shop.example").await;
        let (tid, sk) = (t["tenant_id"].as_str().unwrap(), t["secret_key"].as_str().unwrap());

        assert_eq!(login(&s, tid, "owner@shop.example", "wrong password!").await.0, 401);
        let (st, owner) = login(&s, tid, " owner@shop.example", OWNER_PW).await;
        assert_eq!((st, owner["role"].as_str()), (200, Some("owner")), "{owner}");
        let owner = owner["token"].as_str().unwrap().to_string();

        let (st, e) = s.post("/v1/users", &owner, json!({"email": "v@shop.example", "password": "short", "role": "viewer"})).await;
        assert_eq!((st, e["details"]["field"].as_str()), (400, Some("password")));
        let (st, v) =
            s.post("/v1/users", &owner, json!({"email": "v@shop.example", "password": "viewer password", "role": "viewer"})).await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(
            s.post("/v1/users", &owner, json!({"email": "V@shop.example", "password": "viewer password", "role": "viewer"})).await.0,
            409
        );
        let viewer = login(&s, tid, "v@shop.example", "viewer password").await.1["token"].as_str().unwrap().to_string();

        // A viewer reads but changes nothing; a member may set thresholds; only owners manage keys.
        assert_eq!(s.get("/v1/customers", &viewer).await.0, 200);
        let (st, e) = s.put("/v1/thresholds", &viewer, json!({"rage_min_clicks": 4})).await;
        assert_eq!((st, e["error_code"].as_str()), (403, Some("forbidden")));
        let vid = v["id"].as_str().unwrap();
        assert_eq!(s.patch(&format!("/v1/users/{vid}"), &owner, json!({"role": "member"})).await.0, 200);
        assert_eq!(s.put("/v1/thresholds", &viewer, json!({"rage_min_clicks": 4})).await.0, 200, "the new role applies at once");
        assert_eq!(s.get("/v1/keys", &viewer).await.0, 403);
        let owner_id =
            s.get("/v1/users", &owner).await.1["users"].as_array().unwrap().iter().find(|u| u["role"] == "owner").unwrap()["id"].clone();
        assert_eq!(
            s.patch(&format!("/v1/users/{}", owner_id.as_str().unwrap()), &owner, json!({"role": "viewer"})).await.0,
            409,
            "last owner"
        );

        // A new secret key works at once; revoking the first one shuts it out.
        let (st, k) = s.post("/v1/keys", &owner, json!({"kind": "secret"})).await;
        assert_eq!(st, 201, "{k}");
        let sk2 = k["key"].as_str().unwrap();
        assert_eq!(s.get("/v1/stats", sk2).await.0, 200);
        let keys = s.get("/v1/keys", &owner).await.1;
        assert!(!keys.to_string().contains(sk2) && !keys.to_string().contains(sk), "secret keys are never shown again");
        let first = format!("key_sk_{tid}");
        assert_eq!(s.delete(&format!("/v1/keys/{first}"), sk2).await.0, 200);
        assert_eq!(s.get("/v1/stats", sk).await.0, 401);
        assert_eq!(s.delete(&format!("/v1/keys/{first}"), sk2).await.0, 404, "already revoked");

        // Everything above is in the audit log, newest first, paged.
        let page1 = s.get("/v1/audit?limit=3", sk2).await.1;
        let mut actions: Vec<String> =
            page1["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
        let next = page1["next_cursor"].as_str().unwrap();
        let page2 = s.get(&format!("/v1/audit?limit=50&cursor={next}"), sk2).await.1;
        actions.extend(page2["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()));
        assert_eq!(actions, ["key.revoke", "key.create", "thresholds.set", "user.role", "user.create", "tenant.create"]);
        assert!(page2["next_cursor"].is_null());
        assert_eq!(s.get("/v1/audit?cursor=zz", sk2).await.0, 400);

        // The log is append-only in the database itself.
        let url = s.database_url();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        assert!(sqlx::query("UPDATE audit_log SET actor = 'nobody'").execute(&pool).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_log").execute(&pool).await.is_err());
        pool.close().await;
        s.stop().await;
    }
}

#[tokio::test]
async fn customers_strength_segments_contexts_and_isolation() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let a = tenant_with_owner(&s, "A", "a@a.example").await;
        let b = tenant_with_owner(&s, "B", "b@b.example").await;
        let (ska, skb) = (a["secret_key"].as_str().unwrap(), b["secret_key"].as_str().unwrap());
        s.post("/v1/transactions", ska, json!({"id": "inv-1", "account": "acme", "amount_cents": 1_500_000})).await;
        visit(&s, &a, 0xa1, "jane", "acme").await;

        // The customer appears, resolved and scored.
        let list = s
            .eventually("/v1/customers", ska, |v| {
                v["items"].as_array().is_some_and(|i| i.len() == 1 && i[0]["strength"].as_f64() > Some(0.0))
            })
            .await;
        let c = &list["items"][0];
        assert_eq!((c["sub"].as_str(), c["account"].as_str(), c["name"].as_str()), (Some("jane"), Some("acme"), Some("Jane Doe")));
        assert_eq!(c["factors"].as_array().unwrap().len(), 5);
        let sum: f64 = c["factors"].as_array().unwrap().iter().map(|f| f["contribution"].as_f64().unwrap()).sum();
        assert!((sum - c["strength"].as_f64().unwrap()).abs() < 1e-9, "the factors add up to the score");
        let detail = s.get("/v1/customers/jane", ska).await.1;
        assert_eq!(detail["email"], "jane@acme.example");
        assert_eq!(detail["account"]["value_cents"], 1_500_000);
        assert_eq!(detail["history"].as_array().unwrap().len(), 1, "today's snapshot");
        let segs = s.get("/v1/segments", ska).await.1;
        assert_eq!(segs["segments"].as_array().unwrap().iter().map(|g| g["customers"].as_u64().unwrap()).sum::<u64>(), 1);

        // A context: validated, listed, shown on the customer.
        assert_eq!(s.post("/v1/contexts", ska, json!({"sub": "jane", "state": "angry"})).await.0, 400);
        assert_eq!(s.post("/v1/contexts", ska, json!({"sub": "jane", "state": "busy", "ttl_secs": 0})).await.0, 400);
        let (st, cx) = s.post("/v1/contexts", ska, json!({"sub": "jane", "state": "busy"})).await;
        assert_eq!(st, 201, "{cx}");
        assert_eq!(cx["expires_ms"].as_i64().unwrap() - cx["set_ms"].as_i64().unwrap(), 7 * 86_400_000);
        assert_eq!(s.get("/v1/contexts", ska).await.1["items"][0]["state"], "busy");
        assert_eq!(s.get("/v1/customers/jane", ska).await.1["context"]["state"], "busy");
        let c = s.post("/v1/confirm", ska, json!({"sub": "jane"})).await.1;
        assert_eq!((c["struggling"].as_bool(), c["context"]["state"].as_str()), (Some(false), Some("busy")));

        // Tenant B sees none of it: ids of A are 404 (not 403, not data), lists are empty.
        assert_eq!(s.get("/v1/customers/jane", skb).await.0, 404);
        assert_eq!(s.get("/v1/customers/jane/export", skb).await.0, 404);
        assert_eq!(s.delete("/v1/customers/jane", skb).await.0, 404);
        assert_eq!(s.get("/v1/customers", skb).await.1["items"].as_array().unwrap().len(), 0);
        assert_eq!(s.get("/v1/contexts", skb).await.1["items"].as_array().unwrap().len(), 0);
        assert_eq!(s.get("/v1/transactions?account=acme", skb).await.1["items"].as_array().unwrap().len(), 0);
        assert_eq!(
            s.get("/v1/segments", skb).await.1["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["customers"].as_u64().unwrap())
                .sum::<u64>(),
            0
        );
        let a_user = s.get("/v1/users", ska).await.1["users"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(s.patch(&format!("/v1/users/{a_user}"), skb, json!({"role": "viewer"})).await.0, 404);
        let a_key = format!("key_pk_{}", a["tenant_id"].as_str().unwrap());
        assert_eq!(s.delete(&format!("/v1/keys/{a_key}"), skb).await.0, 404);
        assert_eq!(s.post("/v1/confirm", skb, json!({"sub": "jane"})).await.1["detections_in_window"], 0);
        assert!(s.get("/v1/audit", skb).await.1["items"].as_array().unwrap().iter().all(|e| e["action"] == "tenant.create"));
        // A's dashboard session does not open B.
        let ta = login(&s, a["tenant_id"].as_str().unwrap(), "a@a.example", OWNER_PW).await.1["token"].as_str().unwrap().to_string();
        let forged = ta.replacen(a["tenant_id"].as_str().unwrap(), b["tenant_id"].as_str().unwrap(), 1);
        assert_eq!(s.get("/v1/customers", &forged).await.0, 401);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_transactions_csv_is_taken_whole_or_not_at_all_and_paged() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap();
        let upload = |body: String| {
            let http = s.http.clone();
            let url = format!("{}/v1/transactions/csv", s.url);
            let sk = sk.to_string();
            async move {
                let r = http.post(url).bearer_auth(sk).header("content-type", "text/csv").body(body).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (st, r) = upload("id,account,amount_cents,at_ms\nt1,acme,100,1000\nt2,acme,oops,1000\nt3,,5,1000\n".into()).await;
        assert_eq!((st, r["error_code"].as_str()), (422, Some("invalid_rows")), "{r}");
        assert_eq!(r["details"]["bad_rows"], 2);
        assert_eq!(r["details"]["errors"][0]["line"], 3);
        assert_eq!(s.get("/v1/transactions", sk).await.1["items"].as_array().unwrap().len(), 0, "nothing recorded");

        let mut csv = String::from("id,account,amount_cents,at_ms\n");
        for i in 0..120 {
            csv += &format!("t{i},{},{},{}\n", if i % 2 == 0 { "acme" } else { "globex" }, 100 + i, 1_000_000 + i);
        }
        let (st, r) = upload(csv.clone()).await;
        assert_eq!((st, r["recorded"].as_u64()), (201, Some(120)), "{r}");
        assert_eq!(upload(csv).await.1["duplicates"], 120, "idempotent by id");

        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = s.get(&format!("/v1/transactions?limit=50&cursor={cursor}"), sk).await.1;
            seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 120);
        assert_eq!(seen[0], "t119", "newest first");
        let acme = s.get("/v1/transactions?account=acme&limit=500", sk).await.1;
        assert_eq!(acme["items"].as_array().unwrap().len(), 60);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_person_is_exported_then_erased_from_every_table_and_stream() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        // The event stream keeps an event until every consumer has it (interest retention): a
        // second consumer that never reads (an archive, a lagging instance) keeps them all here,
        // so erasure has stored events to find.
        if let Backend::PostgresNats = backend {
            let prefix = s.running.as_ref().unwrap().state.config.bus_prefix.clone();
            let js = async_nats::jetstream::new(async_nats::connect(NATS_URL).await.unwrap());
            let stream = js.get_stream(format!("{}_EVENTS", prefix.to_uppercase())).await.unwrap();
            stream
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    durable_name: Some("lagging".into()),
                    filter_subject: format!("{prefix}.events.>"),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let t = tenant_with_owner(&s, "Shop", "o@shop.example").await;
        let sk = t["secret_key"].as_str().unwrap();
        visit(&s, &t, 0xe1, "erin-42", "acme").await;
        visit(&s, &t, 0xe2, "keep-7", "acme").await;
        s.eventually("/v1/customers", sk, |v| v["items"].as_array().is_some_and(|i| i.len() == 2)).await;
        s.post("/v1/contexts", sk, json!({"sub": "erin-42", "state": "stuck"})).await;

        let (st, export) = s.get("/v1/customers/erin-42/export", sk).await;
        assert_eq!(st, 200, "{export}");
        assert_eq!(export["customer"]["email"], "jane@acme.example");
        assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
        assert_eq!(export["contexts"][0]["state"], "stuck");

        let (st, r) = s.delete("/v1/customers/erin-42", sk).await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["removed"]["customers"], 1);
        assert_eq!(s.get("/v1/customers/erin-42", sk).await.0, 404);
        assert_eq!(s.get("/v1/customers/keep-7", sk).await.0, 200, "nobody else is touched");

        // No table holds the person's id any more (the audit log names them only by a pseudonym).
        let url = s.database_url();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        for (table, cols) in [
            ("customers", "sub"),
            ("sessions", "user_sub"),
            ("detections", "user_sub"),
            ("contexts", "sub"),
            ("strength_snapshots", "sub"),
            ("audit_log", "target || details"),
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {cols} LIKE '%erin-42%'"))
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(n, 0, "{table} still names the person");
        }
        let kept: i64 =
            sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM sessions WHERE user_sub = 'keep-7'").fetch_one(&pool).await.unwrap();
        assert_eq!(kept, 1);
        pool.close().await;
        let audit = s.get("/v1/audit", sk).await.1;
        assert!(audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "person.erase" && e["target"].as_str().unwrap().starts_with("person:")));

        // With NATS, no stored event names them either (the other customer's still do).
        if let Backend::PostgresNats = backend {
            let prefix = s.running.as_ref().unwrap().state.config.bus_prefix.clone();
            let nc = async_nats::connect(NATS_URL).await.unwrap();
            let js = async_nats::jetstream::new(nc);
            let mut stream = js.get_stream(format!("{}_EVENTS", prefix.to_uppercase())).await.unwrap();
            let info = stream.info().await.unwrap();
            let (first, last) = (info.state.first_sequence, info.state.last_sequence);
            let mut erin = 0;
            let mut keep = 0;
            for seq in first..=last {
                if let Ok(m) = stream.get_raw_message(seq).await {
                    let text = String::from_utf8_lossy(&m.payload).to_string();
                    erin += text.contains("erin-42") as u32;
                    keep += text.contains("keep-7") as u32;
                }
            }
            assert_eq!(erin, 0, "a stored event still names the person");
            assert!(keep > 0, "the check can see other people's events");
        }
        assert_eq!(s.delete("/v1/customers/erin-42", sk).await.0, 404);
        s.stop().await;
    }
}

#[tokio::test]
async fn personal_fields_are_sealed_at_rest_and_survive_a_key_rotation() {
    use sentientiq_server::identity::keyring::Keyring;
    let (k1, k2, index) = (Keyring::generate_key(), Keyring::generate_key(), Keyring::generate_index_key());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("rot.db").display());
    let with_keys = |keys: String, db: String, index: String| {
        move |c: &mut sentientiq_server::config::Config| {
            c.database_url = db;
            c.encryption_keys = Some((keys, index));
            c.link_secret = b"fixed link secret for the test".to_vec();
        }
    };
    let s = TestServer::start_with(Backend::Embedded, with_keys(k1.clone(), db.clone(), index.clone())).await;
    let t = tenant_with_owner(&s, "Shop", "owner@shop.example").await;
    let (tid, sk) = (t["tenant_id"].as_str().unwrap().to_string(), t["secret_key"].as_str().unwrap().to_string());
    assert_eq!(s.post("/v1/contacts", &sk, json!({"name": "Dana", "channel": "sms", "address": "+15550100"})).await.0, 201);
    visit(&s, &t, 0x51, "zoe", "acme").await;
    s.eventually("/v1/customers", &sk, |v| v["items"].as_array().is_some_and(|i| i.len() == 1)).await;
    s.stop().await;

    // At rest, no email or phone number is readable.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db).await.unwrap();
    for (table, col) in [("customers", "email"), ("users", "email"), ("contacts", "address")] {
        let v: Vec<(String,)> = sqlx::query_as(&format!("SELECT {col} FROM {table}")).fetch_all(&pool).await.unwrap();
        assert_eq!(v.len(), 1);
        assert!(v[0].0.starts_with("enc1:") && !v[0].0.contains('@') && !v[0].0.contains("5550100"), "{table}.{col} = {}", v[0].0);
    }
    pool.close().await;

    // Rotate: k2 first, k1 still listed to open; then k1 can go.
    let store = sentientiq_server::store::SqlStore::connect(&db).await.unwrap();
    let ring = Keyring::parse(&format!("{k2},{k1}"), &index).unwrap();
    let report = sentientiq_server::identity::customers::rotate_keys(&store, &ring).await.unwrap();
    assert_eq!(report.iter().map(|r| r.1).sum::<u64>(), 3, "{report:?}");
    let again = sentientiq_server::identity::customers::rotate_keys(&store, &ring).await.unwrap();
    assert_eq!(again.iter().map(|r| (r.1, r.2)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)), (0, 3), "idempotent");

    let s = TestServer::start_with(Backend::Embedded, with_keys(k2, db, index)).await;
    assert_eq!(login(&s, &tid, "owner@shop.example", OWNER_PW).await.0, 200, "the blind index survives rotation");
    assert_eq!(s.get("/v1/customers/zoe", &sk).await.1["email"], "jane@acme.example");
    s.stop().await;
}

#[tokio::test]
async fn the_customer_sees_and_shapes_their_own_record_from_another_origin() {
    let s = TestServer::start(Backend::Embedded).await;
    let t = s.tenant("Shop").await;
    let (pk, sk) = (t["site_key"].as_str().unwrap(), t["secret_key"].as_str().unwrap());
    visit(&s, &t, 0x77, "mia", "acme").await;
    s.eventually("/v1/customers", sk, |v| v["items"].as_array().is_some_and(|i| i.len() == 1)).await;
    let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "mia", "acme");

    // The browser's preflight from the host's origin is answered for the widget's headers.
    let pre = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/me/context", s.url))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type,x-siq-site-key")
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success());
    let allowed = pre.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("x-siq-site-key") && allowed.contains("authorization"), "{allowed}");

    let me = |key: &'static str, token: String| {
        let (http, url, pk) = (s.http.clone(), format!("{}/v1/me", s.url), pk.to_string());
        async move {
            let key = if key == "pk" { pk } else { key.to_string() };
            let r = http
                .get(url)
                .header("x-siq-site-key", key)
                .bearer_auth(token)
                .header("origin", "https://shop.example")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().get("access-control-allow-origin").is_some(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, cors, v) = me("pk", token.clone()).await;
    assert_eq!((st, cors), (200, true), "{v}");
    assert_eq!(v["sub"], "mia");
    assert_eq!(v["factors"].as_array().unwrap().len(), 5);
    assert_eq!(me("pk", "not-a-token".into()).await.0, 401);
    assert_eq!(me("pk_unknown", token.clone()).await.0, 401);

    let r = s
        .http
        .post(format!("{}/v1/me/context", s.url))
        .header("x-siq-site-key", pk)
        .bearer_auth(&token)
        .json(&json!({"state": "exploring"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(s.get("/v1/customers/mia", sk).await.1["context"]["state"], "exploring", "the business sees it");
    s.stop().await;
}
