//! Conversation-card openers from an OpenAI-compatible endpoint, against a local one that speaks
//! the Chat Completions API and fails on demand: the model's text is used when it answers, the
//! request carries the model, the messages and the bearer key, and the template writes the
//! opener — with the reason — on a 500, a 429, a hang past the timeout, an empty or overlong
//! answer, a refused key or an endpoint that is gone. Without configuration the template writes
//! it and no request is made.

use std::time::{Duration, Instant};

use futures::future::join_all;
use sentientiq_server::interventions::opener::{Opener, OpenerConfig, OpenerSource, Written, MAX_OPENER_CHARS, MAX_TOKENS};
use sentientiq_server::interventions::{opener as template, CardFacts};
use serde_json::{json, Value};
use shared_physics::Emotion;
use siq_e2e::fakes::openai::{Reply, DEMO_KEY, REPLY_PREFIX};
use siq_e2e::fakes::{Failure, FakeOpenAi};

const MODEL: &str = "gpt-4o-mini";

/// Jane Doe of Acme Corp ($15,000), stuck and raging on checkout.
fn jane() -> CardFacts<'static> {
    CardFacts {
        name: Some("Jane Doe"),
        account: Some("Acme Corp"),
        value_cents: 1_500_000,
        context: Some(sentientiq_server::records::Context::Stuck),
        emotion: Emotion::Rage,
        section: "checkout",
    }
}

/// The configuration a deployment would have, read the way the server reads it.
fn config(fake: &FakeOpenAi, key: Option<&str>, timeout_ms: u64) -> OpenerConfig {
    let url = fake.base_url();
    let timeout = timeout_ms.to_string();
    OpenerConfig::from_lookup(|var| match var {
        "SIQ_CARD_LLM_URL" => Some(url.clone()),
        "SIQ_CARD_LLM_MODEL" => Some(MODEL.into()),
        "SIQ_CARD_LLM_KEY" => key.map(str::to_string),
        "SIQ_CARD_LLM_TIMEOUT_MS" => Some(timeout.clone()),
        _ => None,
    })
    .expect("valid configuration")
    .expect("a model is configured")
}

/// Asserts the opener is the template's, with an error containing each of `reason`.
fn assert_template(w: &Written, facts: &CardFacts<'_>, reason: &[&str]) {
    assert_eq!((w.source, w.text.as_str()), (OpenerSource::Template, template(facts).as_str()), "{w:?}");
    let error = w.error.as_deref().unwrap_or_else(|| panic!("a failed model call says why: {w:?}"));
    for part in reason {
        assert!(error.contains(part), "{part:?} in {error:?}");
    }
}

#[tokio::test]
async fn the_model_writes_the_opener_when_the_endpoint_answers() {
    let fake = FakeOpenAi::start_with_key(DEMO_KEY).await.unwrap();
    let opener = Opener::new(Some(config(&fake, Some(DEMO_KEY), 2000)));
    let w = opener.write(&jane()).await;
    assert_eq!(w, Written { text: format!("{REPLY_PREFIX}Customer: Jane Doe"), source: OpenerSource::Model, error: None });
    assert_ne!(w.text, template(&jane()), "the model's text, not the template's");
}

#[tokio::test]
async fn the_request_carries_the_model_the_messages_and_the_bearer_key() {
    let fake = FakeOpenAi::start_with_key(DEMO_KEY).await.unwrap();
    Opener::new(Some(config(&fake, Some(DEMO_KEY), 2000))).write(&jane()).await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!((r.status, r.authorization.as_deref()), (200, Some(format!("Bearer {DEMO_KEY}").as_str())));
    assert_eq!(r.body["model"], MODEL);
    assert_eq!(r.body["max_tokens"], json!(MAX_TOKENS));
    assert_eq!(r.body["temperature"], json!(0), "deterministic");
    let messages = r.body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user"]);
    assert!(messages[0]["content"].as_str().unwrap().contains("never invent"), "{}", messages[0]["content"]);
    let user = messages[1]["content"].as_str().unwrap();
    for fact in ["Jane Doe", "Acme Corp", "$15,000", "stuck", "rage", "checkout"] {
        assert!(user.contains(fact), "{fact:?} in {user}");
    }
    assert!(user.contains(&template(&jane())), "the template's text goes as the draft: {user}");
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization_header() {
    let fake = FakeOpenAi::start().await.unwrap();
    let w = Opener::new(Some(config(&fake, None, 2000))).write(&jane()).await;
    assert_eq!(w.source, OpenerSource::Model, "{w:?}");
    assert_eq!(fake.requests()[0].authorization, None);
}

#[tokio::test]
async fn each_card_gets_its_own_opener_when_written_at_once() {
    let fake = FakeOpenAi::start().await.unwrap();
    let opener = Opener::new(Some(config(&fake, None, 2000)));
    let names = ["Ada Lovelace", "Grace Hopper", "Alan Turing"];
    let facts: Vec<CardFacts<'_>> = names.iter().map(|n| CardFacts { name: Some(n), ..jane() }).collect();
    let written = join_all(facts.iter().map(|f| opener.write(f))).await;
    for (w, n) in written.iter().zip(names) {
        assert_eq!((w.source, w.text.clone()), (OpenerSource::Model, format!("{REPLY_PREFIX}Customer: {n}")));
    }
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_used() {
    let fake = FakeOpenAi::start().await.unwrap();
    fake.fail_next(1, Failure::Slow(Duration::from_millis(200)));
    let w = Opener::new(Some(config(&fake, None, 2000))).write(&jane()).await;
    assert_eq!(w.source, OpenerSource::Model, "{w:?}");
}

#[tokio::test]
async fn a_server_error_or_a_rate_limit_gives_the_template_and_the_reason() {
    let fake = FakeOpenAi::start().await.unwrap();
    let opener = Opener::new(Some(config(&fake, None, 2000)));
    fake.fail_next(1, Failure::Status(500));
    assert_template(&opener.write(&jane()).await, &jane(), &["500", "server_error"]);
    fake.fail_next(1, Failure::Status(429));
    assert_template(&opener.write(&jane()).await, &jane(), &["429", "rate_limit_exceeded"]);
    // One try per card: the endpoint saw one request for each, then answers again.
    assert_eq!(fake.faults().requests(), 2);
    assert_eq!(opener.write(&jane()).await.source, OpenerSource::Model);
}

#[tokio::test]
async fn a_hang_past_the_timeout_gives_the_template_in_time() {
    let fake = FakeOpenAi::start().await.unwrap();
    fake.fail_next(1, Failure::Timeout);
    let opener = Opener::new(Some(config(&fake, None, 300)));
    let started = Instant::now();
    let w = opener.write(&jane()).await;
    let took = started.elapsed();
    assert_template(&w, &jane(), &["no answer within 300 ms"]);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "gave up after {took:?}");
}

#[tokio::test]
async fn an_empty_null_or_overlong_answer_gives_the_template() {
    let fake = FakeOpenAi::start().await.unwrap();
    let opener = Opener::new(Some(config(&fake, None, 2000)));
    fake.set_reply(Reply::Empty);
    assert_template(&opener.write(&jane()).await, &jane(), &["empty"]);
    fake.set_reply(Reply::Text(" \n\t ".into()));
    assert_template(&opener.write(&jane()).await, &jane(), &["empty"]);
    fake.set_reply(Reply::Null);
    assert_template(&opener.write(&jane()).await, &jane(), &["empty"]);
    fake.set_reply(Reply::Text("x".repeat(MAX_OPENER_CHARS + 1)));
    assert_template(&opener.write(&jane()).await, &jane(), &["501 characters"]);
    fake.set_reply(Reply::Text("x".repeat(MAX_OPENER_CHARS)));
    assert_eq!(opener.write(&jane()).await.source, OpenerSource::Model, "500 characters are accepted");
}

#[tokio::test]
async fn a_refused_key_gives_the_template_without_the_key_in_the_reason() {
    let fake = FakeOpenAi::start_with_key(DEMO_KEY).await.unwrap();
    let wrong = "sk-wrong-key-9876543210";
    let w = Opener::new(Some(config(&fake, Some(wrong), 2000))).write(&jane()).await;
    assert_template(&w, &jane(), &["401", "invalid_api_key"]);
    assert!(!w.error.as_deref().unwrap_or_default().contains("sk-"), "{w:?}");
    let w = Opener::new(Some(config(&fake, None, 2000))).write(&jane()).await;
    assert_template(&w, &jane(), &["401"]);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401]);
}

#[tokio::test]
async fn an_endpoint_that_is_gone_gives_the_template() {
    let fake = FakeOpenAi::start().await.unwrap();
    let cfg = config(&fake, None, 2000);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_template(&Opener::new(Some(cfg)).write(&jane()).await, &jane(), &["request failed"]);
}

#[tokio::test]
async fn without_configuration_the_template_writes_the_opener_and_no_request_is_made() {
    let fake = FakeOpenAi::start().await.unwrap();
    let none = OpenerConfig::from_lookup(|var| (var == "SIQ_CARD_LLM_MODEL").then(|| MODEL.to_string())).unwrap();
    assert_eq!(none, None, "a model name alone turns nothing on");
    let opener = Opener::new(none);
    for facts in [jane(), CardFacts { name: None, account: None, value_cents: 0, context: None, emotion: Emotion::Hesitation, section: "" }]
    {
        assert_eq!(opener.write(&facts).await, Written { text: template(&facts), source: OpenerSource::Template, error: None });
    }
    assert_eq!((fake.faults().requests(), fake.requests().len()), (0, 0));
}

#[tokio::test]
async fn the_fake_speaks_chat_completions() {
    let fake = FakeOpenAi::start_with_key(DEMO_KEY).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", fake.base_url());
    let post = |body: Value| http.post(&url).bearer_auth(DEMO_KEY).json(&body).send();

    let ok = post(json!({"model": MODEL, "messages": [{"role": "user", "content": "Customer: Ada\nmore"}]})).await.unwrap();
    assert_eq!(ok.status(), 200);
    let v: Value = ok.json().await.unwrap();
    assert_eq!((v["object"].as_str(), v["model"].as_str()), (Some("chat.completion"), Some(MODEL)));
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"), "{v}");
    let choice = &v["choices"][0];
    assert_eq!((choice["index"].as_u64(), choice["finish_reason"].as_str()), (Some(0), Some("stop")));
    assert_eq!(choice["message"], json!({"role": "assistant", "content": format!("{REPLY_PREFIX}Customer: Ada"), "refusal": null}));
    let usage = &v["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap())
    );

    let no_model = post(json!({"messages": [{"role": "user", "content": "hi"}]})).await.unwrap();
    assert_eq!(no_model.status(), 400);
    let e: Value = no_model.json().await.unwrap();
    assert_eq!((e["error"]["type"].as_str(), e["error"]["param"].as_str()), (Some("invalid_request_error"), Some("model")));

    let no_key = http.post(&url).json(&json!({"model": MODEL, "messages": []})).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    let e: Value = no_key.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_api_key");
}
