//! The escalation engine against local providers (Twilio, Slack, PagerDuty): a chain paged
//! contact by contact with per-contact value thresholds; the next contact paged when nobody
//! acknowledges; the signed one-click link acknowledging (and nobody paged after it); a failing
//! channel falling back to the contact's next one with every attempt recorded; an escalation left
//! mid-page by a stopped server taken over by the next one; and two servers on one PostgreSQL
//! database paging every step exactly once.
//!
//! Escalations are opened here through the engine's own entry point with a detection record as
//! ingest would pass it (the path from a real page to it runs in `e2e_rage.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use sentientiq_server::config::{Config, TwilioConfig};
use sentientiq_server::escalation::channels::ChannelsConfig;
use sentientiq_server::store::DetectionRecord;
use sentientiq_server::Running;
use serde_json::{json, Value};
use siq_e2e::fakes::{Failure, FakePagerDuty, FakeSlack, FakeTwilio, TwilioCredentials};
use siq_e2e::stack::{PgDatabase, ADMIN_TOKEN, POSTGRES_ADMIN_URL};
use siq_e2e::util::{eventually, TempDir};

const SMS_FROM: &str = "+15550199";
const CEO_PHONE: &str = "+15550100";
const CFO_PHONE: &str = "+15550101";
/// How long a paged contact has to acknowledge in these tests.
const ACK_TIMEOUT_MS: u64 = 1_000;
/// How long a claim lasts in these tests.
const LEASE_MS: u64 = 1_500;
const PATIENCE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

/// The local providers.
struct Providers {
    twilio: FakeTwilio,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
}

impl Providers {
    async fn start() -> Providers {
        Providers {
            twilio: FakeTwilio::start(([127, 0, 0, 1], 0).into(), TwilioCredentials::demo()).await.unwrap(),
            slack: FakeSlack::start().await.unwrap(),
            pagerduty: FakePagerDuty::start().await.unwrap(),
        }
    }

    fn config(&self, database_url: &str) -> Config {
        let creds = self.twilio.credentials().clone();
        Config {
            addr: ([127, 0, 0, 1], 0).into(),
            admin_token: Some(ADMIN_TOKEN.into()),
            database_url: database_url.into(),
            link_secret: b"escalation-test-link-secret".to_vec(),
            channels: ChannelsConfig {
                twilio: Some(TwilioConfig {
                    base_url: self.twilio.base_url(),
                    account_sid: creds.account_sid,
                    auth_token: creds.auth_token,
                    from: SMS_FROM.into(),
                }),
                pagerduty_base_url: self.pagerduty.base_url(),
                request_timeout: Duration::from_millis(500),
                // The fakes of Slack and the webhook receiver listen on loopback.
                targets: sentientiq_server::outbound::Targets { loopback: true },
                ..ChannelsConfig::default()
            },
            ack_timeout_ms: ACK_TIMEOUT_MS,
            escalation_lease_ms: LEASE_MS,
            ..Config::default()
        }
    }
}

/// A tenant on a running server, through its API.
struct Tenant {
    url: String,
    id: String,
    key: String,
    http: reqwest::Client,
}

impl Tenant {
    async fn create(server: &Running) -> Tenant {
        let http = reqwest::Client::new();
        let url = server.public_url.clone();
        let t: Value = http
            .post(format!("{url}/v1/admin/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Acme Shop"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Tenant { url, id: t["tenant_id"].as_str().unwrap().into(), key: t["secret_key"].as_str().unwrap().into(), http }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).bearer_auth(&self.key).json(&body).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.key).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    async fn contact(&self, body: Value) -> String {
        let (s, v) = self.post("/v1/contacts", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    async fn escalation(&self, id: &str) -> Value {
        let page = self.get("/v1/escalations?limit=200").await;
        page["items"].as_array().unwrap().iter().find(|e| e["id"] == id).cloned().unwrap_or(Value::Null)
    }

    async fn alerts(&self, escalation: &str) -> Vec<Value> {
        let v = self.get("/v1/alerts?limit=200").await;
        v["alerts"].as_array().unwrap().iter().filter(|a| a["escalation_id"] == escalation).cloned().collect()
    }
}

/// A confirmed rage detection as ingest records it, for an account worth `value_cents`.
fn detection(tenant: &str, session: &str, value_cents: i64) -> DetectionRecord {
    DetectionRecord {
        tenant_id: tenant.into(),
        session: session.into(),
        seq: 7,
        emotion: shared_physics::Emotion::Rage,
        confidence: 0.95,
        client_confidence: 0.95,
        section: "checkout".into(),
        // One person per session: a person is escalated once per cooldown.
        user: Some(format!("u_{session}")),
        user_name: Some("Jane Doe".into()),
        account: Some("acme".into()),
        account_name: Some("Acme Corp".into()),
        value_cents,
        features: json!({}),
        evidence: Vec::new(),
        t_ms: 9_000,
        created_ms: sentientiq_server::clock::now_ms(),
    }
}

/// The query parameters of the first session link in `text`.
fn link_params(text: &str) -> BTreeMap<String, String> {
    let start = text.find("/s/").expect("a session link");
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
    let query = link.split_once('?').expect("a query").1;
    query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn acknowledge(t: &Tenant, p: &BTreeMap<String, String>) -> (StatusCode, Value) {
    let body = json!({"t": p["t"], "e": p["e"], "c": p["c"], "exp": p["exp"].parse::<u64>().unwrap(), "ack": p["ack"]});
    let r = t.http.post(format!("{}/v1/ack", t.url)).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

fn temp_sqlite() -> (TempDir, String) {
    let dir = TempDir::new("siq-escalation").unwrap();
    let url = format!("sqlite://{}", dir.path().join("siq.db").display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_is_paged_in_turn_by_value_until_someone_acknowledges() {
    let p = Providers::start().await;
    let (_dir, db) = temp_sqlite();
    let server = sentientiq_server::start(p.config(&db)).await.unwrap();
    let t = Tenant::create(&server).await;
    // The CEO only for accounts worth $50k or more; then the VP of Sales on Slack; then the
    // account manager through PagerDuty.
    let ceo =
        t.contact(json!({"name": "Dana Reyes", "role": "CEO", "channel": "sms", "address": CEO_PHONE, "min_value_cents": 5_000_000})).await;
    let vp = t.contact(json!({"name": "Sam Ortiz", "role": "VP Sales", "channel": "slack", "address": p.slack.webhook_url()})).await;
    let am = t
        .contact(json!({"name": "Lee Park", "role": "Account manager", "channel": "pagerduty", "address": p.pagerduty.routing_key()}))
        .await;
    let chain = t.get("/v1/contacts").await;
    let ids: Vec<&str> = chain["contacts"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ceo.as_str(), vp.as_str(), am.as_str()]);
    assert_eq!(chain["contacts"][0]["address"], CEO_PHONE, "addresses are opened for the chain's owners");

    // A $100k account: the CEO is texted first, at once.
    assert!(sentientiq_server::escalation::open(&server.state.escalation, &detection(&t.id, "00000000000000a1", 10_000_000))
        .await
        .unwrap());
    assert!(
        !sentientiq_server::escalation::open(&server.state.escalation, &detection(&t.id, "00000000000000a1", 10_000_000)).await.unwrap(),
        "the same detection escalates once"
    );
    let sms = p.twilio.wait_for_messages(1, PATIENCE).await;
    assert_eq!(sms.len(), 1, "{:?}", p.twilio.rejections());
    assert_eq!(sms[0].to, CEO_PHONE);
    assert!(
        sms[0].body.contains("Jane Doe (Acme Corp, $100,000 lifetime value) is showing rage in the checkout section"),
        "{}",
        sms[0].body
    );
    assert!(p.slack.messages().is_empty(), "the VP was paged before the CEO's minute was up");

    // The CEO does not answer: after the acknowledgement window the VP is paged on Slack.
    let slack = eventually(PATIENCE, POLL, || async { p.slack.messages().first().cloned() }).await.expect("the VP was never paged");
    let text = slack["text"].as_str().unwrap();
    assert!(text.contains("Jane Doe (Acme Corp, $100,000)"), "{text}");

    // The VP opens the link: acknowledged, by them.
    let params = link_params(text);
    assert_eq!(params["c"], vp);
    let mut forged = params.clone();
    forged.insert("c".into(), am.clone());
    assert_eq!(acknowledge(&t, &forged).await.0, StatusCode::FORBIDDEN, "a link acknowledges for its own contact only");
    let (status, v) = acknowledge(&t, &params).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!((v["acknowledged"].as_bool(), v["acked_by"].as_str()), (Some(true), Some(format!("contact:{vp}").as_str())));
    let (_, again) = acknowledge(&t, &params).await;
    assert_eq!(again["acknowledged"], false, "a second click changes nothing");
    let e = t.escalation(&params["e"]).await;
    assert_eq!((e["state"].as_str(), e["step"].as_i64()), (Some("acknowledged"), Some(2)), "{e}");

    // Nobody further down is paged.
    tokio::time::sleep(Duration::from_millis(3 * ACK_TIMEOUT_MS)).await;
    assert!(p.pagerduty.events().is_empty(), "the account manager was paged after the VP acknowledged");
    assert_eq!(p.twilio.messages().len(), 1);

    // Every page is on record with its attempts.
    let alerts = eventually(PATIENCE, POLL, || async {
        let a = t.alerts(&params["e"]).await;
        (a.len() == 2).then_some(a)
    })
    .await
    .expect("two alerts recorded");
    for a in &alerts {
        assert_eq!(a["status"], "sent", "{a}");
        assert_eq!(a["attempt_log"].as_array().map(Vec::len), Some(1), "{a}");
    }

    // A $20k account: below the CEO's threshold, so the chain starts with the VP; nobody
    // acknowledges, the account manager is paged, then the escalation is exhausted.
    let id = &format!("es_{}_00000000000000b2_7", t.id);
    assert!(sentientiq_server::escalation::open(&server.state.escalation, &detection(&t.id, "00000000000000b2", 2_000_000)).await.unwrap());
    let events = eventually(PATIENCE, POLL, || async { Some(p.pagerduty.events()).filter(|e| !e.is_empty()) }).await.expect("paged");
    assert_eq!(p.slack.messages().len(), 2, "the VP was paged first");
    assert_eq!(p.twilio.messages().len(), 1, "the CEO is not paged below their threshold");
    assert_eq!(events[0]["payload"]["severity"], "critical");
    assert_eq!(events[0]["dedup_key"], format!("al_{id}_1"));
    let exhausted = eventually(PATIENCE, POLL, || async { Some(t.escalation(id).await).filter(|e| e["state"] == "exhausted") }).await;
    assert!(exhausted.is_some(), "{}", t.escalation(id).await);
    let stats = t.get("/v1/stats").await;
    assert_eq!((stats["escalations"].as_u64(), stats["escalations_acked"].as_u64()), (Some(2), Some(1)), "{stats}");
    assert_eq!(stats["escalations_exhausted"], 1, "{stats}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_channel_falls_back_to_the_contacts_next_one() {
    let p = Providers::start().await;
    let (_dir, db) = temp_sqlite();
    let server = sentientiq_server::start(p.config(&db)).await.unwrap();
    let t = Tenant::create(&server).await;
    t.contact(json!({"name": "Dana Reyes", "role": "CEO", "channel": "sms", "address": CEO_PHONE,
        "fallbacks": [{"channel": "slack", "address": p.slack.webhook_url()}]}))
        .await;
    // Bad input is refused with the field at fault.
    let (s, v) = t.post("/v1/contacts", json!({"name": "X", "channel": "fax", "address": "1"})).await;
    assert_eq!((s, v["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("address")), "{v}");
    let (s, v) = t.post("/v1/contacts", json!({"name": "X", "channel": "sms", "address": CEO_PHONE, "fallbacks": [{"channel": "slack", "address": "https://example.com/x"}]})).await;
    assert_eq!((s, v["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("fallbacks[0]")), "{v}");

    // Twilio is down: every attempt answers 500.
    p.twilio.fail_next(1_000, Failure::Status(500));
    assert!(sentientiq_server::escalation::open(&server.state.escalation, &detection(&t.id, "00000000000000c3", 10_000_000))
        .await
        .unwrap());
    let slack = eventually(PATIENCE, POLL, || async { p.slack.messages().first().cloned() }).await;
    assert!(slack.is_some(), "the Slack fallback was never used");
    assert!(p.twilio.messages().is_empty());
    let alerts = eventually(PATIENCE, POLL, || async {
        let a = t.alerts(&format!("es_{}_00000000000000c3_7", t.id)).await;
        (a.len() == 2).then_some(a)
    })
    .await
    .expect("both channels recorded");
    let sms = alerts.iter().find(|a| a["channel"] == "sms").unwrap();
    let fallback = alerts.iter().find(|a| a["channel"] == "slack").unwrap();
    assert_eq!(sms["status"], "failed");
    let attempts = sms["attempt_log"].as_array().unwrap();
    assert!(attempts.len() >= 2, "500 is retried: {sms}");
    assert!(attempts.iter().all(|a| a["status"] == 500), "{sms}");
    assert_eq!(sms["attempts"].as_u64(), Some(attempts.len() as u64));
    assert_eq!(fallback["status"], "sent");
    // A viewer reading the alerts learns which address was paged, never the address itself.
    let listed = t.get("/v1/alerts?limit=200").await.to_string();
    for secret in [CEO_PHONE.to_string(), p.slack.webhook_url()] {
        assert!(!listed.contains(&secret), "{secret} is readable in /v1/alerts: {listed}");
    }
    assert_eq!(sms["address"], sentientiq_server::records::redact::mask_address(CEO_PHONE));

    // The contact leaves the chain; an unknown id answers 404.
    let id = t.get("/v1/contacts").await["contacts"][0]["id"].as_str().unwrap().to_string();
    let del = |id: String| {
        let req = t.http.delete(format!("{}/v1/contacts/{id}", t.url)).bearer_auth(&t.key);
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(del(id.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(t.get("/v1/contacts").await["contacts"], json!([]));
    assert_eq!(del(id).await, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_left_mid_page_by_a_stopped_server_is_paged_by_the_next() {
    let p = Providers::start().await;
    let (_dir, db) = temp_sqlite();
    let first = sentientiq_server::start(p.config(&db)).await.unwrap();
    let t = Tenant::create(&first).await;
    t.contact(json!({"name": "Sam Ortiz", "role": "VP Sales", "channel": "slack", "address": p.slack.webhook_url()})).await;

    // Slack hangs; the server is stopped while it waits (the page never finished).
    p.slack.fail_next(1, Failure::Timeout);
    let state = first.state.clone();
    let tenant = t.id.clone();
    let paging = tokio::spawn(async move {
        sentientiq_server::escalation::open(&state.escalation, &detection(&tenant, "00000000000000d4", 10_000_000)).await.unwrap();
    });
    eventually(PATIENCE, POLL, || async { (p.slack.faults().requests() >= 1).then_some(()) }).await.expect("the page started");
    paging.abort();
    first.shutdown().await;
    assert!(p.slack.messages().is_empty(), "nothing was delivered before the stop");

    // The next server on the same database takes the escalation over once the claim lapses.
    let second = sentientiq_server::start(p.config(&db)).await.unwrap();
    let t = Tenant { url: second.public_url.clone(), ..t };
    let delivered = eventually(PATIENCE, POLL, || async { p.slack.messages().first().cloned() }).await;
    assert!(delivered.is_some(), "the escalation was not resumed after the restart");
    let id = format!("es_{}_00000000000000d4_7", t.id);
    let e = eventually(PATIENCE, POLL, || async { Some(t.escalation(&id).await).filter(|e| e["step"] == 1) }).await;
    assert!(e.is_some(), "{}", t.escalation(&id).await);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_page_every_step_exactly_once() {
    let p = Providers::start().await;
    let admin = std::env::var("SIQ_E2E_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_ADMIN_URL.into());
    let database = PgDatabase::create(&admin).await.unwrap_or_else(|e| panic!("{e}"));
    let a = sentientiq_server::start(p.config(&database.url)).await.unwrap();
    let b = sentientiq_server::start(p.config(&database.url)).await.unwrap();
    let t = Tenant::create(&a).await;
    t.contact(json!({"name": "Dana Reyes", "role": "CEO", "channel": "sms", "address": CEO_PHONE})).await;
    t.contact(json!({"name": "Ari Cole", "role": "CFO", "channel": "sms", "address": CFO_PHONE})).await;

    // Ten escalations, each opened on both servers at once (as if both saw the detection).
    const N: usize = 10;
    let mut opened = Vec::new();
    for i in 0..N {
        let d = detection(&t.id, &format!("{:016x}", 0xe0 + i), 10_000_000);
        let (sa, sb) = (a.state.clone(), b.state.clone());
        let (da, db) = (d.clone(), d);
        opened.push(tokio::spawn(async move { sentientiq_server::escalation::open(&sa.escalation, &da).await.unwrap() }));
        opened.push(tokio::spawn(async move { sentientiq_server::escalation::open(&sb.escalation, &db).await.unwrap() }));
    }
    let mut firsts = 0;
    for o in opened {
        firsts += usize::from(o.await.unwrap());
    }
    assert_eq!(firsts, N, "each detection escalated once across both servers");

    // Nobody acknowledges: both contacts of every escalation are paged, each exactly once, by
    // whichever server claimed the step.
    let done = eventually(PATIENCE * 2, POLL, || async {
        let page = t.get("/v1/escalations?state=exhausted&limit=200").await;
        (page["items"].as_array().unwrap().len() == N).then_some(())
    })
    .await;
    assert!(done.is_some(), "{}", t.get("/v1/escalations?limit=200").await);
    let sms = p.twilio.messages();
    let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in &sms {
        let e = link_params(&m.body)["e"].clone();
        *per.entry((e, m.to.clone())).or_default() += 1;
    }
    assert_eq!(sms.len(), 2 * N, "{per:?}");
    assert!(per.values().all(|&n| n == 1), "a step was paged twice: {per:?}");
    a.shutdown().await;
    b.shutdown().await;
    drop(database);
}
