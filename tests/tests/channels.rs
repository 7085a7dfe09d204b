//! The escalation channels against local providers that speak each real protocol (Twilio
//! Messages API, Slack incoming webhooks, PagerDuty Events API v2, SMTP, a Standard Webhooks
//! receiver) and fail on demand: every channel delivers with the right fields, retries 429 after
//! `Retry-After`, gives up after its attempts on 5xx with every attempt recorded, tries a
//! permanent refusal once, treats a hang as temporary, and has its breaker open, fail fast and
//! half-open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use sentientiq_server::clock::ManualClock;
use sentientiq_server::config::TwilioConfig;
use sentientiq_server::escalation::channels::retry::BreakerState;
use sentientiq_server::escalation::channels::webhook::{Webhook, WebhookError, WebhookSecret};
use sentientiq_server::escalation::channels::{
    email::Email, pagerduty::PagerDuty, send_with_retry, slack::Slack, twilio::Twilio, Alert, Channel, ChannelKind, Channels,
    CircuitBreaker, Outcome, RetryPolicy, SendError, Severity, SystemClock,
};
use serde_json::Value;
use siq_e2e::fakes::{Failure, FakePagerDuty, FakeSlack, FakeSmtp, FakeTwilio, FakeWebhookReceiver, Faults, TwilioCredentials};

/// The clients' time limit per request in these tests.
const TIMEOUT: Duration = Duration::from_millis(500);
/// The fakes listen on loopback, which the operator allows for them.
const LOOPBACK: sentientiq_server::outbound::Targets = sentientiq_server::outbound::Targets { loopback: true };
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SMS_FROM: &str = "+15550199";
const WHATSAPP_FROM: &str = "+15550198";
const PHONE: &str = "+447700900123";

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

fn alert(id: &str) -> Alert {
    Alert {
        id: id.into(),
        tenant: "acme-shop".into(),
        summary: "Jane Doe (Acme Corp, $100,000) is raging on checkout".into(),
        text: "Jane Doe of Acme Corp is showing rage in the checkout section (93% confidence).".into(),
        link: "https://siq.example/s/sess_1?t=acme-shop&exp=1&sig=abc".into(),
        severity: Severity::Critical,
        value_cents: 10_000_000,
        at_ms: 1_700_000_000_000,
    }
}

/// One channel wired to its fake.
struct Rig {
    kind: ChannelKind,
    channel: Arc<dyn Channel>,
    address: String,
    faults: Faults,
    delivered: Box<dyn Fn() -> usize + Send + Sync>,
}

impl Rig {
    /// The failure code of this protocol: SMTP replies instead of HTTP statuses.
    fn code(&self, http: u16) -> u16 {
        match (self.kind, http) {
            (ChannelKind::Email, 429 | 500) => 451,
            (ChannelKind::Email, 400) => 550,
            (_, c) => c,
        }
    }

    async fn send(&self, breaker: &CircuitBreaker) -> Outcome {
        send_with_retry(self.channel.as_ref(), &self.address, &alert(&format!("al_{}", self.kind)), &policy(), breaker).await
    }
}

fn twilio_config(fake: &FakeTwilio) -> TwilioConfig {
    let creds = fake.credentials();
    TwilioConfig {
        base_url: fake.base_url(),
        account_sid: creds.account_sid.clone(),
        auth_token: creds.auth_token.clone(),
        from: SMS_FROM.into(),
    }
}

async fn rig(kind: ChannelKind) -> Rig {
    match kind {
        ChannelKind::Sms | ChannelKind::Whatsapp => {
            let fake = Arc::new(FakeTwilio::start(([127, 0, 0, 1], 0).into(), TwilioCredentials::demo()).await.unwrap());
            let channel: Arc<dyn Channel> = match kind {
                ChannelKind::Sms => Arc::new(Twilio::sms(twilio_config(&fake), TIMEOUT)),
                _ => Arc::new(Twilio::whatsapp(twilio_config(&fake), WHATSAPP_FROM.into(), TIMEOUT)),
            };
            let faults = fake.faults().clone();
            Rig { kind, channel, address: PHONE.into(), faults, delivered: Box::new(move || fake.messages().len()) }
        }
        ChannelKind::Slack => {
            let fake = Arc::new(FakeSlack::start().await.unwrap());
            let (address, faults) = (fake.webhook_url(), fake.faults().clone());
            Rig {
                kind,
                channel: Arc::new(Slack::new(TIMEOUT, LOOPBACK)),
                address,
                faults,
                delivered: Box::new(move || fake.messages().len()),
            }
        }
        ChannelKind::Pagerduty => {
            let fake = Arc::new(FakePagerDuty::start().await.unwrap());
            let channel = Arc::new(PagerDuty::new(fake.base_url(), "sentientiq".into(), TIMEOUT));
            let (address, faults) = (fake.routing_key(), fake.faults().clone());
            Rig { kind, channel, address, faults, delivered: Box::new(move || fake.events().len()) }
        }
        ChannelKind::Email => {
            let fake = Arc::new(FakeSmtp::start().await.unwrap());
            let channel = Arc::new(Email::new(&fake.url(), "SentientIQ <alerts@siq.example>", TIMEOUT).unwrap());
            let faults = fake.faults().clone();
            Rig { kind, channel, address: "oncall@acme.example".into(), faults, delivered: Box::new(move || fake.messages().len()) }
        }
        ChannelKind::Webhook => {
            let tenant_secret = WebhookSecret::parse(SECRET).unwrap().for_tenant(&alert("x").tenant);
            let fake = Arc::new(FakeWebhookReceiver::start(&tenant_secret.encoded()).await.unwrap());
            let channel = Arc::new(Webhook::new(WebhookSecret::parse(SECRET).unwrap(), TIMEOUT, LOOPBACK));
            let (address, faults) = (fake.url(), fake.faults().clone());
            let delivered = Box::new(move || fake.deliveries().iter().filter(|d| d.verified.is_ok()).count());
            Rig { kind, channel, address, faults, delivered }
        }
    }
}

fn breaker(kind: ChannelKind) -> CircuitBreaker {
    CircuitBreaker::new(kind, Arc::new(SystemClock))
}

/// Runs `scenario` for every channel at once.
async fn for_every_channel<F, Fut>(scenario: F)
where
    F: Fn(Arc<Rig>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Held here, so no fake stops before its scenario ends.
    let rigs: Vec<Arc<Rig>> = join_all(ChannelKind::ALL.map(rig)).await.into_iter().map(Arc::new).collect();
    join_all(rigs.iter().cloned().map(scenario)).await;
}

#[tokio::test]
async fn every_channel_retries_a_rate_limit_after_the_wait_the_provider_asked_for() {
    for_every_channel(|rig| async move {
        rig.faults.fail_next(1, Failure::Status(rig.code(429)));
        let started = Instant::now();
        let out = rig.send(&breaker(rig.kind)).await;
        assert!(out.result.is_ok(), "{}: {:?}", rig.kind, out);
        assert_eq!(out.attempts.len(), 2, "{}", rig.kind);
        assert_eq!(out.attempts[0].status, Some(rig.code(429)), "{}", rig.kind);
        assert_eq!((rig.delivered)(), 1, "{}", rig.kind);
        assert_eq!(rig.faults.requests(), 2, "{}", rig.kind);
        if rig.kind == ChannelKind::Email {
            // SMTP has no Retry-After: the back-off window applies.
            assert!(out.attempts[0].retry_in_ms.unwrap() <= 20, "{out:?}");
        } else {
            assert_eq!(out.attempts[0].retry_in_ms, Some(1000), "{}: Retry-After: 1 honoured", rig.kind);
            assert!(started.elapsed() >= Duration::from_secs(1), "{}", rig.kind);
            assert!(out.attempts[1].at_ms - out.attempts[0].at_ms >= 1000, "{out:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn every_channel_gives_up_on_server_errors_after_its_attempts_and_records_each() {
    for_every_channel(|rig| async move {
        rig.faults.fail_next(4, Failure::Status(rig.code(500)));
        let out = rig.send(&breaker(rig.kind)).await;
        assert!(matches!(out.result, Err(SendError::Temporary { .. })), "{}: {:?}", rig.kind, out.result);
        assert_eq!(out.attempts.len(), 4, "{}", rig.kind);
        assert!(out.attempts.iter().all(|a| a.status == Some(rig.code(500)) && a.error.is_some()), "{out:?}");
        assert!(out.attempts[..3].iter().all(|a| a.retry_in_ms.is_some()) && out.attempts[3].retry_in_ms.is_none(), "{out:?}");
        assert_eq!(out.attempts.iter().map(|a| a.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(rig.faults.requests(), 4, "{}", rig.kind);
        assert_eq!((rig.delivered)(), 0, "{}", rig.kind);
    })
    .await;
}

#[tokio::test]
async fn every_channel_tries_a_permanent_refusal_exactly_once() {
    for_every_channel(|rig| async move {
        rig.faults.fail_next(3, Failure::Status(rig.code(400)));
        let out = rig.send(&breaker(rig.kind)).await;
        match &out.result {
            Err(SendError::Permanent { status, .. }) => assert_eq!(*status, rig.code(400), "{}", rig.kind),
            r => panic!("{}: {r:?}", rig.kind),
        }
        assert_eq!(out.attempts.len(), 1, "{}", rig.kind);
        assert_eq!(rig.faults.requests(), 1, "{}", rig.kind);
    })
    .await;
}

#[tokio::test]
async fn a_hang_is_a_temporary_timeout_and_a_slow_answer_still_delivers() {
    for_every_channel(|rig| async move {
        let once = RetryPolicy { max_attempts: 1, ..policy() };
        let a = alert("al_slow");
        rig.faults.fail_next(1, Failure::Timeout);
        let started = Instant::now();
        let out = send_with_retry(rig.channel.as_ref(), &rig.address, &a, &once, &breaker(rig.kind)).await;
        let waited = started.elapsed();
        assert!(matches!(&out.result, Err(SendError::Temporary { status: None, .. })), "{}: {:?}", rig.kind, out.result);
        assert!(waited >= TIMEOUT && waited < TIMEOUT * 4, "{}: {waited:?} {:?}", rig.kind, out);

        rig.faults.fail_next(1, Failure::Slow(Duration::from_millis(150)));
        let out = send_with_retry(rig.channel.as_ref(), &rig.address, &a, &once, &breaker(rig.kind)).await;
        assert!(out.result.is_ok(), "{}: {:?}", rig.kind, out.result);
        assert!(out.attempts[0].elapsed_ms >= 150, "{out:?}");
    })
    .await;
}

#[tokio::test]
async fn every_breaker_opens_fails_fast_then_half_opens_for_one_trial() {
    for_every_channel(|rig| async move {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let b = CircuitBreaker::new(rig.kind, clock.clone());
        rig.faults.fail_next(5, Failure::Status(rig.code(500)));
        // One alert's 4 attempts, then the next alert's first failure is the fifth in a row.
        assert_eq!(rig.send(&b).await.attempts.len(), 4);
        let out = rig.send(&b).await;
        assert_eq!(out.result, Err(SendError::CircuitOpen(rig.kind)), "{}", rig.kind);
        assert_eq!(out.attempts.len(), 1);
        assert!(matches!(b.state(), BreakerState::Open { .. }), "{}", rig.kind);

        // Open: fails fast, nothing reaches the provider.
        let seen = rig.faults.requests();
        let started = Instant::now();
        let out = rig.send(&b).await;
        assert_eq!(out.result, Err(SendError::CircuitOpen(rig.kind)));
        assert!(out.attempts.is_empty() && started.elapsed() < Duration::from_millis(50));
        assert_eq!(rig.faults.requests(), seen, "{}", rig.kind);

        // After the 30 s cool-down (on the test's clock) one trial goes through and closes it.
        clock.advance(Duration::from_secs(30));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let out = rig.send(&b).await;
        assert!(out.result.is_ok(), "{}: {:?}", rig.kind, out.result);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!((rig.delivered)(), 1, "{}", rig.kind);
    })
    .await;
}

#[tokio::test]
async fn sms_and_whatsapp_reach_twilio_with_the_right_addresses_and_the_link() {
    let fake = FakeTwilio::start(([127, 0, 0, 1], 0).into(), TwilioCredentials::demo()).await.unwrap();
    let b = breaker(ChannelKind::Sms);
    let sms = Twilio::sms(twilio_config(&fake), TIMEOUT);
    let out = send_with_retry(&sms, PHONE, &alert("al_1"), &policy(), &b).await;
    let sid = out.result.unwrap().provider_id.unwrap();
    let whatsapp = Twilio::whatsapp(twilio_config(&fake), format!("whatsapp:{WHATSAPP_FROM}"), TIMEOUT);
    whatsapp.send(PHONE, &alert("al_2")).await.unwrap();

    let sent = fake.messages();
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].sid.as_str(), sent[0].to.as_str(), sent[0].from.as_str()), (sid.as_str(), PHONE, SMS_FROM));
    assert_eq!(sent[0].body, format!("{} {}", alert("al_1").text, alert("al_1").link));
    assert_eq!(sent[1].to, format!("whatsapp:{PHONE}"));
    assert_eq!(sent[1].from, format!("whatsapp:{WHATSAPP_FROM}"));

    // Wrong credentials: Twilio's 401 (code 20003) is permanent.
    let mut bad = twilio_config(&fake);
    bad.auth_token = "wrong".into();
    let out = send_with_retry(&Twilio::sms(bad, TIMEOUT), PHONE, &alert("al_3"), &policy(), &b).await;
    assert!(matches!(out.result, Err(SendError::Permanent { status: 401, .. })), "{:?}", out.result);
    assert_eq!(out.attempts.len(), 1);
    // An address that is not E.164 never leaves the server.
    assert!(matches!(sms.send("07700 900123", &alert("al_4")).await, Err(SendError::InvalidAddress(_))));
    assert_eq!(fake.rejections().len(), 1);
}

#[tokio::test]
async fn slack_gets_text_and_blocks_and_an_unknown_hook_is_permanent() {
    let fake = FakeSlack::start().await.unwrap();
    let slack = Slack::new(TIMEOUT, LOOPBACK);
    let delivered = slack.send(&fake.webhook_url(), &alert("al_1")).await.unwrap();
    assert_eq!(delivered.provider_id, None);
    let posted = fake.messages();
    assert_eq!(posted.len(), 1);
    assert!(posted[0]["text"].as_str().unwrap().starts_with("Jane Doe (Acme Corp, $100,000) is raging on checkout: "));
    let blocks = posted[0]["blocks"].as_array().unwrap();
    assert_eq!(blocks.iter().map(|b| b["type"].as_str().unwrap()).collect::<Vec<_>>(), ["header", "section", "actions", "context"]);
    assert_eq!(blocks[2]["elements"][0]["url"], alert("al_1").link);

    let out = send_with_retry(&slack, &fake.unknown_webhook_url(), &alert("al_2"), &policy(), &breaker(ChannelKind::Slack)).await;
    assert_eq!(out.result, Err(SendError::Permanent { status: 404, body: "no_service".into() }));
    assert_eq!(out.attempts.len(), 1);
}

#[tokio::test]
async fn pagerduty_events_carry_the_alert_id_as_dedup_key_so_a_resend_is_one_incident() {
    let fake = FakePagerDuty::start().await.unwrap();
    let pd = PagerDuty::new(fake.base_url(), "sentientiq".into(), TIMEOUT);
    let key = fake.routing_key();
    let first = pd.send(&key, &alert("al_42")).await.unwrap();
    assert_eq!(first.provider_id.as_deref(), Some("al_42"));
    // At-least-once: the same alert sent again (a retry after a lost answer) folds into it.
    pd.send(&key, &alert("al_42")).await.unwrap();
    assert_eq!(fake.incidents().into_iter().collect::<Vec<_>>(), [("al_42".to_string(), 2)]);

    let event: &Value = &fake.events()[0];
    assert_eq!((event["routing_key"].as_str(), event["event_action"].as_str()), (Some(key.as_str()), Some("trigger")));
    assert_eq!(event["payload"]["severity"], "critical");
    assert_eq!(event["payload"]["source"], "sentientiq/acme-shop");
    assert_eq!(event["payload"]["timestamp"], "2023-11-14T22:13:20.000Z");
    assert_eq!(event["links"][0]["href"], alert("al_42").link);

    // A routing key PagerDuty does not know: 400 "invalid event", tried once.
    let out = send_with_retry(&pd, "Rffffffffffffffffffffffffffffff0", &alert("al_43"), &policy(), &breaker(ChannelKind::Pagerduty)).await;
    assert!(matches!(&out.result, Err(SendError::Permanent { status: 400, body }) if body.contains("invalid event")), "{:?}", out.result);
    assert_eq!(out.attempts.len(), 1);
}

#[tokio::test]
async fn email_goes_over_smtp_with_subject_message_id_and_link() {
    let fake = FakeSmtp::start().await.unwrap();
    let mail = Email::new(&fake.url(), "SentientIQ <alerts@siq.example>", TIMEOUT).unwrap();
    let delivered = mail.send("oncall@acme.example", &alert("al_7")).await.unwrap();
    assert_eq!(delivered.provider_id.as_deref(), Some("2.0.0 Ok: queued as FAKE00001"));
    let got = &fake.messages()[0];
    assert_eq!((got.from.as_str(), got.to.as_slice()), ("alerts@siq.example", &["oncall@acme.example".to_string()][..]));
    assert_eq!(got.header("Subject").unwrap(), "[SentientIQ critical] Jane Doe (Acme Corp, $100,000) is raging on checkout");
    assert_eq!(got.header("Message-ID").unwrap(), "<al_7@siq.example>");
    assert!(got.text().contains(&format!("Open the live session: {}", alert("al_7").link)), "{}", got.text());

    // 550: the mailbox does not exist; SMTP says don't retry.
    fake.fail_next(1, Failure::Status(550));
    let out = send_with_retry(&mail, "nobody@acme.example", &alert("al_8"), &policy(), &breaker(ChannelKind::Email)).await;
    assert!(matches!(&out.result, Err(SendError::Permanent { status: 550, .. })), "{:?}", out.result);
    assert_eq!(out.attempts.len(), 1);
}

#[tokio::test]
async fn webhooks_verify_and_the_receiver_rejects_tampering_stale_timestamps_and_other_secrets() {
    // The server signs with the tenant's own key, derived from its secret; the tenant's
    // receiver holds that key (GET /v1/webhook-secret).
    let tenant_secret = WebhookSecret::parse(SECRET).unwrap().for_tenant(&alert("x").tenant);
    let fake = FakeWebhookReceiver::start(&tenant_secret.encoded()).await.unwrap();
    let hook = Webhook::new(WebhookSecret::parse(SECRET).unwrap(), TIMEOUT, LOOPBACK);
    assert_eq!(hook.send(&fake.url(), &alert("al_9")).await.unwrap().provider_id.as_deref(), Some("al_9"));
    hook.send(&fake.url(), &alert("al_9")).await.unwrap();
    let d = fake.deliveries();
    assert_eq!(d[0].verified, Ok(()));
    assert_eq!(d[0].id, "al_9");
    assert!(!d[0].duplicate && d[1].duplicate, "a receiver sees the resend by its webhook-id");
    let body: Value = serde_json::from_slice(&d[0].body).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["id"].as_str()), (Some("alert.triggered"), Some("al_9")));

    // Another tenant's alert, signed by the same server with that tenant's key: this tenant's
    // receiver refuses it (a tenant's key verifies its own alerts and forges nobody's).
    let mut others = alert("al_9b");
    others.tenant = "another-shop".into();
    let out = send_with_retry(&hook, &fake.url(), &others, &policy(), &breaker(ChannelKind::Webhook)).await;
    assert!(matches!(out.result, Err(SendError::Permanent { status: 401, .. })), "{:?}", out.result);

    // Signed with another secret: 401, permanent.
    let other = Webhook::new(WebhookSecret::parse(&WebhookSecret::encode(&[9u8; 32])).unwrap(), TIMEOUT, LOOPBACK);
    let out = send_with_retry(&other, &fake.url(), &alert("al_10"), &policy(), &breaker(ChannelKind::Webhook)).await;
    assert!(matches!(out.result, Err(SendError::Permanent { status: 401, .. })), "{:?}", out.result);
    assert_eq!(out.attempts.len(), 1);
    assert_eq!(fake.deliveries().last().unwrap().verified, Err(WebhookError::BadSignature));

    // A tampered body, and a correctly signed but stale delivery (a replay), posted by hand.
    let secret = tenant_secret.clone();
    let post = |ts: i64, signed: &'static [u8], sent: &'static [u8]| {
        let (url, sig) = (fake.url(), secret.sign("al_11", ts, signed));
        async move {
            reqwest::Client::new()
                .post(url)
                .header("webhook-id", "al_11")
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(sent)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let now = sentientiq_server::clock::now_ms() / 1000;
    assert_eq!(post(now, b"{\"v\":1}", b"{\"v\":2}").await, 401);
    assert_eq!(fake.deliveries().last().unwrap().verified, Err(WebhookError::BadSignature));
    assert_eq!(post(now - 600, b"{}", b"{}").await, 401);
    assert!(matches!(fake.deliveries().last().unwrap().verified, Err(WebhookError::TooOld(age)) if age >= 600));
    assert_eq!(post(now, b"{}", b"{}").await, 204);
}

#[tokio::test]
async fn when_sms_is_down_its_breaker_sends_the_engine_on_to_slack() {
    let twilio = FakeTwilio::start(([127, 0, 0, 1], 0).into(), TwilioCredentials::demo()).await.unwrap();
    let slack = FakeSlack::start().await.unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let channels = Channels::from_clients(
        vec![Arc::new(Twilio::sms(twilio_config(&twilio), TIMEOUT)), Arc::new(Slack::new(TIMEOUT, LOOPBACK))],
        clock,
    );
    twilio.fail_next(100, Failure::Status(503));
    let chain =
        [(ChannelKind::Sms, PHONE.to_string()), (ChannelKind::Email, "x@acme.example".into()), (ChannelKind::Slack, slack.webhook_url())];
    let mut log = Vec::new();
    for n in 0..3 {
        // What the engine does: walk the chain until one step delivers.
        for (kind, address) in &chain {
            let out = channels.deliver(*kind, address, &alert(&format!("al_{n}")), &policy()).await;
            log.push((n, *kind, out.attempts.len(), out.result.clone().err()));
            if out.result.is_ok() {
                break;
            }
        }
    }
    let short: Vec<(i32, ChannelKind, usize, bool)> = log.iter().map(|(n, k, a, e)| (*n, *k, *a, e.is_none())).collect();
    assert_eq!(
        short,
        [
            (0, ChannelKind::Sms, 4, false),
            (0, ChannelKind::Email, 0, false),
            (0, ChannelKind::Slack, 1, true),
            (1, ChannelKind::Sms, 1, false),
            (1, ChannelKind::Email, 0, false),
            (1, ChannelKind::Slack, 1, true),
            (2, ChannelKind::Sms, 0, false),
            (2, ChannelKind::Email, 0, false),
            (2, ChannelKind::Slack, 1, true),
        ]
    );
    assert_eq!(log[1].3, Some(SendError::NotConfigured(ChannelKind::Email)));
    assert_eq!(log[6].3, Some(SendError::CircuitOpen(ChannelKind::Sms)));
    assert_eq!(twilio.faults().requests(), 5, "the open breaker spared Twilio the third alert");
    assert_eq!(slack.messages().len(), 3);
}
