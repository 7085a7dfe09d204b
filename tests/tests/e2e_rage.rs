//! The north-star journey: **a $100k customer rages on the checkout and the CEO is texted.**
//!
//! Jane Doe of Acme Corp (lifetime value $100,000) is on the Demo Store's checkout. The
//! "Apply coupon" button is dead; she clicks it five times in a row. In her page, the SDK's
//! worker recognises rage and sends the detection with its evidence; the server recomputes it,
//! agrees, knows who she is and what Acme is worth, and pushes help into her page. A person is
//! paged on a stricter bar: she tries again a few seconds later, the struggle has persisted over
//! a second burst, and the CEO, Dana Reyes, is texted a signed link to watch the session — which
//! opens, and which a forged signature does not.
//!
//! The same journey runs on the embedded backend (SQLite + in-process bus) and on PostgreSQL +
//! NATS JetStream.

use std::time::Duration;

use siq_e2e::browser::Chromium;
use siq_e2e::host::StoredDetection;
use siq_e2e::journey::{self, InterveneDetail, DEAD_BUTTON, INTERVENE_EVENTS_JS, INTERVENTION_TEXT_JS, PATIENCE};
use siq_e2e::stack::{Backend, Stack, SMS_FROM};
use siq_e2e::util::eventually;

/// Fixes Jane's pointer paths and jitter.
const SEED: u64 = 0x5eed_ca11;
/// The pause before her second burst: longer than the 3 s that separate two bursts of the
/// paging bar (`shared_physics::paging::MIN_GAP_MS`).
const SECOND_BURST_AFTER: Duration = Duration::from_millis(3_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_customer_rages_on_checkout_and_the_ceo_is_texted() {
    rages_and_the_ceo_is_texted(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_customer_rages_on_checkout_and_the_ceo_is_texted_on_postgres_and_nats() {
    rages_and_the_ceo_is_texted(Backend::PostgresNats).await;
}

async fn rages_and_the_ceo_is_texted(backend: Backend) {
    let stack = Stack::start(backend).await.unwrap_or_else(|e| panic!("{e}"));
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let site = &stack.site;

    // Jane opens the store, identified by the shop's backend, and looks around the catalog.
    let mut tab = journey::open_recording(&chromium, &site.store_url, SEED).await.unwrap_or_else(|e| panic!("{e}"));
    journey::settle_in(&mut tab, &stack.api, 0).await.unwrap_or_else(|e| panic!("{e}"));
    let nothing_yet: Option<String> = tab.eval(INTERVENTION_TEXT_JS).await.unwrap();
    assert_eq!(nothing_yet, None, "help was offered before Jane struggled");

    // She goes for the coupon, and the button does nothing. Five clicks.
    journey::rage_at(&mut tab, DEAD_BUTTON).await.unwrap_or_else(|e| panic!("{e}"));

    // Help appears in her page.
    let help: String = tab
        .wait_for(INTERVENTION_TEXT_JS, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("no [data-siq-intervention] element with text appeared in the page: {e}"));
    assert!(!help.is_empty());
    let events: Vec<InterveneDetail> = tab.eval(INTERVENE_EVENTS_JS).await.unwrap();
    assert_eq!(events.len(), 1, "one burst, one intervention: {events:?}");
    assert_eq!((events[0].emotion.as_str(), events[0].text.as_str()), ("rage", help.as_str()));

    // The server confirmed rage on the checkout from the evidence, above the bar, and knows
    // whose it is.
    let confirmed =
        eventually(PATIENCE, Duration::from_millis(200), || async { confirmed_rage_on_checkout(stack.api.detections().await.ok()?) }).await;
    let Some(detection) = confirmed else {
        panic!("no rage detection in section checkout with confidence >= 0.85 was stored; stored: {:?}", stack.api.detections().await)
    };
    assert_eq!(detection.user.as_deref(), Some(site.customer.user.as_str()), "{detection:?}");
    assert_eq!(detection.account.as_deref(), Some("acme"), "{detection:?}");
    assert_eq!(detection.account_name.as_deref(), Some("Acme Corp"), "{detection:?}");
    assert_eq!(detection.value_cents, 10_000_000, "{detection:?}");
    // The page's WASM and the server's native build of the same physics agree.
    assert_eq!(
        detection.client_confidence_pct(),
        detection.confidence_pct(),
        "the server's recomputation disagrees with the client: {detection:?}"
    );

    // The intervention is on record with the text Jane saw.
    let recorded = eventually(PATIENCE, Duration::from_millis(200), || async {
        stack.api.interventions().await.ok()?.into_iter().find(|i| i.session == detection.session && i.emotion == "rage")
    })
    .await
    .unwrap_or_else(|| panic!("no rage intervention stored for session {}", detection.session));
    assert_eq!(recorded.text, help);

    // One burst pages nobody; she tries again a few seconds later.
    tokio::time::sleep(SECOND_BURST_AFTER).await;
    assert_eq!(stack.twilio.messages(), vec![], "one burst paged the CEO");
    journey::rage_at(&mut tab, DEAD_BUTTON).await.unwrap_or_else(|e| panic!("{e}"));

    // The CEO is texted, once, with a link to the session.
    let sms = stack.twilio.wait_for_messages(1, PATIENCE).await;
    assert_eq!(sms.len(), 1, "expected one SMS; Twilio refused: {:?}", stack.twilio.rejections());
    assert_eq!(sms[0].to, site.contact.address);
    assert_eq!(sms[0].from, SMS_FROM);
    let link = journey::session_link(&sms[0].body, stack.url())
        .unwrap_or_else(|| panic!("the SMS holds no {}/s/… link: {:?}", stack.url(), sms[0].body));
    assert!(link.contains(&format!("/s/{}?", detection.session)), "link {link} is not to session {}", detection.session);

    // Dana's link opens the session view; a forged signature does not.
    let http = reqwest::Client::new();
    let view = http.get(&link).send().await.expect("GET the signed link");
    assert_eq!(view.status(), 200, "GET {link}");
    let content_type = view.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(content_type.starts_with("text/html"), "GET {link}: content-type {content_type:?}");
    let forged = journey::tamper_signature(&link).expect("the link has a sig");
    let refused = http.get(&forged).send().await.expect("GET the forged link");
    assert_eq!(refused.status(), 403, "GET {forged}");

    // The alert is on record as sent, with that link.
    let alert = eventually(PATIENCE, Duration::from_millis(200), || async {
        stack.api.alerts().await.ok()?.into_iter().find(|a| a.session == detection.session)
    })
    .await
    .unwrap_or_else(|| panic!("no alert stored for session {}", detection.session));
    // What the record keeps of the address and the link (every role reads it): enough to
    // recognise them, nothing that texts Dana or opens and acknowledges as her.
    assert_eq!((alert.channel.as_str(), alert.address.as_str(), alert.status.as_str()), ("sms", "+1•••••0100", "sent"));
    assert_eq!(alert.link, link.split_once('?').expect("a signed link has a query").0);

    // Dana opens her link in a browser: opening it takes nothing; a tap on "I've got it" does.
    let mut view = chromium.open(&link, SEED).await.unwrap_or_else(|e| panic!("{e}"));
    view.wait_for::<bool>(
        "(() => { const b = document.getElementById('ack'); return !!b && !b.hidden && !document.getElementById('actions').hidden; })()",
        PATIENCE,
    )
    .await
    .unwrap_or_else(|e| panic!("the session view offered no \"I've got it\": {e}"));
    let before: serde_json::Value = stack.api.get("/v1/escalations").await.expect("GET /v1/escalations");
    assert_eq!(before["items"][0]["state"], "open", "opening the link acknowledged: {before}");
    let at = view.center("#ack").await.unwrap_or_else(|e| panic!("{e}"));
    view.move_to(at).await.unwrap_or_else(|e| panic!("{e}"));
    view.click().await.unwrap_or_else(|e| panic!("{e}"));
    let said: String = view
        .wait_for(
            "(() => { const a = document.getElementById('said'); return a && !a.hidden && a.textContent ? a.textContent : null; })()",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|e| panic!("the tap did not acknowledge: {e}"));
    assert!(said.starts_with("It is yours"), "{said}");
    let escalations: serde_json::Value = stack.api.get("/v1/escalations").await.expect("GET /v1/escalations");
    let e = &escalations["items"][0];
    assert_eq!((e["state"].as_str(), e["session"].as_str()), (Some("acknowledged"), Some(detection.session.as_str())), "{escalations}");
    assert!(e["acked_by"].as_str().is_some_and(|by| by.starts_with("contact:")), "{e}");

    // Still exactly one text and one intervention: the rest of the bursts did not page Dana or
    // pop up help again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.twilio.messages().len(), 1, "{:?}", stack.twilio.messages());
    let events: Vec<InterveneDetail> = tab.eval(INTERVENE_EVENTS_JS).await.unwrap();
    assert_eq!(events.len(), 1, "help was pushed into the page again: {events:?}");

    chromium.close().await;
    stack.shutdown().await;
}

/// The most confident rage detection in section `checkout` at or above the intervention bar.
fn confirmed_rage_on_checkout(detections: Vec<StoredDetection>) -> Option<StoredDetection> {
    detections
        .into_iter()
        .filter(|d| d.emotion == "rage" && d.section == "checkout" && d.confidence >= 0.85)
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
}
