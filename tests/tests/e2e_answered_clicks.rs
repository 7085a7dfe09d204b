//! **A click the page answered is not a dead click: a quantity stepper clicked fast is not rage.**
//!
//! Jane is on her bag (`www/stepper.html`) and clicks the working "+" of the quantity stepper
//! five times in a row, as fast and in place as the rage journey clicks the dead coupon button.
//! Every click visibly changes the quantity, so the SDK's loader reports a `response` after each
//! one, and the rage detector (in her page and in the server's recomputation) sees bursts whose
//! earlier clicks were answered: no help pops up, no detection is stored, nobody is texted —
//! while her page's frames keep arriving. Then she goes to the checkout and rages at the dead
//! "Apply coupon" button, and help does appear: the same clicks on a page that does not answer
//! are still rage, so this test fails for the right reason.

use std::time::Duration;

use siq_e2e::browser::Chromium;
use siq_e2e::host::render_store;
use siq_e2e::journey::{self, InterveneDetail, DEAD_BUTTON, INTERVENE_EVENTS_JS, INTERVENTION_TEXT_JS, PATIENCE};
use siq_e2e::stack::{Backend, Stack};
use siq_e2e::util::eventually;
use siq_e2e::util::www_dir;

/// Fixes Jane's pointer paths and jitter.
const SEED: u64 = 0x57e9_9e12;
/// The stepper page (a template like the store's).
const STEPPER_PAGE: &str = "stepper.html";
/// The stepper's working "+".
const PLUS: &str = "#qty-plus";
/// How long after her last click the product gets to (wrongly) react.
const QUIET: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_clicks_on_a_working_stepper_are_not_rage_but_the_dead_button_still_is() {
    let stack = Stack::start(Backend::Embedded).await.unwrap_or_else(|e| panic!("{e}"));
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let site = &stack.site;

    // The stepper page, rendered like the store page, next to it in the served site folder.
    let template = std::fs::read_to_string(www_dir().join(STEPPER_PAGE)).expect("read www/stepper.html");
    let page = render_store(&template, &site.site_key, &site.identity_token).unwrap_or_else(|e| panic!("www/stepper.html: {e}"));
    let site_dir = site.store_file.parent().expect("the store page's folder");
    std::fs::write(site_dir.join(STEPPER_PAGE), page).expect("write the rendered stepper page");
    let stepper_url = format!("{}/{STEPPER_PAGE}", stack.url());

    let mut tab = journey::open_recording(&chromium, &stepper_url, SEED).await.unwrap_or_else(|e| panic!("{e}"));
    let settled = journey::settle_in(&mut tab, &stack.api, 0).await.unwrap_or_else(|e| panic!("{e}"));

    // Five fast clicks on "+", exactly like the rage burst; each one lands and is answered.
    journey::rage_at(&mut tab, PLUS).await.unwrap_or_else(|e| panic!("{e}"));
    let qty: String = tab.eval("document.getElementById('qty').textContent").await.unwrap();
    assert_eq!(qty, "6", "the five clicks did not all reach the stepper, so this test proves nothing");
    tokio::time::sleep(QUIET).await;

    // Measured all along…
    let stats = stack.api.stats().await.expect("GET /v1/stats");
    assert!(stats.frames > settled.frames, "no frames arrived while she used the stepper, so this test proves nothing: {stats:?}");
    // …and left alone.
    let help: Option<String> = tab.eval(INTERVENTION_TEXT_JS).await.unwrap();
    assert_eq!(help, None, "help was offered for clicks the page answered");
    let events: Vec<InterveneDetail> = tab.eval(INTERVENE_EVENTS_JS).await.unwrap();
    assert_eq!(events, vec![], "the page was told to intervene");
    let detections = stack.api.detections().await.expect("GET /v1/detections");
    let confident: Vec<_> = detections.iter().filter(|d| d.confidence >= 0.85).collect();
    assert!(confident.is_empty(), "a detection at the intervention bar was stored for answered clicks: {confident:?}");
    let rage: Vec<_> = detections.iter().filter(|d| d.emotion == "rage").collect();
    assert!(rage.is_empty(), "answered clicks were read as rage (below the bar, but still wrong): {rage:?}");
    assert!(stack.twilio.messages().is_empty(), "someone was texted: {:?}", stack.twilio.messages());

    // The checkout's dead "Apply coupon" does not answer: the same burst there is rage.
    tab.goto(&site.store_url).await.unwrap_or_else(|e| panic!("{e}"));
    journey::settle_in(&mut tab, &stack.api, stats.frames).await.unwrap_or_else(|e| panic!("{e}"));
    journey::rage_at(&mut tab, DEAD_BUTTON).await.unwrap_or_else(|e| panic!("{e}"));
    let help: String = tab
        .wait_for(INTERVENTION_TEXT_JS, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("no [data-siq-intervention] appeared after raging at the dead button: {e}"));
    assert!(!help.is_empty());
    // A person is paged when the struggle persists over a second burst.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    journey::rage_at(&mut tab, DEAD_BUTTON).await.unwrap_or_else(|e| panic!("{e}"));
    let sms = stack.twilio.wait_for_messages(1, PATIENCE).await;
    assert_eq!(sms.len(), 1, "expected one SMS for the dead button; Twilio refused: {:?}", stack.twilio.rejections());

    // A member takes it (the dashboard's own journey, signed in by cookie, is
    // `tests/tests/dashboard.rs`): nobody further down the chain is paged.
    let open = eventually(PATIENCE, Duration::from_millis(200), || async {
        let v: serde_json::Value = stack.api.get("/v1/escalations?state=open").await.ok()?;
        v["items"].as_array().and_then(|a| a.first().cloned())
    })
    .await
    .expect("an open escalation for the dead button");
    let id = open["id"].as_str().unwrap();
    assert_eq!((open["person_name"].as_str(), open["value_cents"].as_i64()), (Some("Jane Doe"), Some(10_000_000)), "{open}");
    stack
        .api
        .post(&format!("/v1/escalations/{id}/ack"), &serde_json::json!({}), &[reqwest::StatusCode::OK])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let taken = eventually(PATIENCE, Duration::from_millis(200), || async {
        let v: serde_json::Value = stack.api.get("/v1/escalations?state=acknowledged").await.ok()?;
        v["items"].as_array().and_then(|a| a.first().cloned())
    })
    .await
    .expect("the escalation was not acknowledged");
    assert!(taken["acked_by"].as_str().is_some_and(|by| by.starts_with("key:")), "{taken}");

    chromium.close().await;
    stack.shutdown().await;
}
