//! **A customer shopping ordinarily is left alone.**
//!
//! Jane reads the store's story, scrolls back up, adds two coffees to her cart and pays — single,
//! unhurried clicks more than a second apart. She is measured (the server counts her page's
//! frames) but nothing she does looks like a struggle: no help pops up in her page, no detection
//! at the intervention bar is stored, and nobody is texted.

use std::time::Duration;

use siq_e2e::browser::{Chromium, Tab};
use siq_e2e::journey::{self, InterveneDetail, INTERVENE_EVENTS_JS, INTERVENTION_TEXT_JS};
use siq_e2e::stack::{Backend, Stack};

/// Fixes Jane's pointer paths, pauses and jitter.
const SEED: u64 = 0x0bd1_4a77;
/// The pause between her clicks (±20%): always more than a second.
const BETWEEN_CLICKS: Duration = Duration::from_millis(1400);
/// How long after her last input the product gets to (wrongly) react.
const QUIET: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_shopping_gets_no_help_and_pages_nobody() {
    let stack = Stack::start(Backend::Embedded).await.unwrap_or_else(|e| panic!("{e}"));
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let mut tab = journey::open_recording(&chromium, &stack.site.store_url, SEED).await.unwrap_or_else(|e| panic!("{e}"));
    let settled = journey::settle_in(&mut tab, &stack.api, 0).await.unwrap_or_else(|e| panic!("{e}"));

    shop_ordinarily(&mut tab).await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(QUIET).await;

    // She was measured all along…
    let stats = stack.api.stats().await.expect("GET /v1/stats");
    assert!(stats.frames > settled.frames, "no frames arrived while she shopped, so this test proves nothing: {stats:?}");
    // …and left alone.
    let help: Option<String> = tab.eval(INTERVENTION_TEXT_JS).await.unwrap();
    assert_eq!(help, None, "help was offered to an ordinary shopper");
    let events: Vec<InterveneDetail> = tab.eval(INTERVENE_EVENTS_JS).await.unwrap();
    assert_eq!(events, vec![], "the page was told to intervene");
    let detections = stack.api.detections().await.expect("GET /v1/detections");
    let confident: Vec<_> = detections.iter().filter(|d| d.confidence >= 0.85).collect();
    assert!(confident.is_empty(), "ordinary shopping was taken for a struggle: {confident:?}");
    assert_eq!(stats.interventions, 0, "{stats:?}");
    assert_eq!(stack.twilio.messages(), vec![], "somebody was texted about an ordinary shopper");

    chromium.close().await;
    stack.shutdown().await;
}

/// Reads, scrolls back, adds two coffees, pays.
async fn shop_ordinarily(tab: &mut Tab) -> Result<(), siq_e2e::browser::BrowserError> {
    // Reading the story below the shop, a few notches at a time.
    for _ in 0..3 {
        tab.wheel(100.0, 3).await?;
        tab.pause(Duration::from_millis(1200)).await;
    }
    tab.move_to(siq_e2e::browser::Point::new(700.0, 420.0)).await?;
    tab.pause(Duration::from_millis(800)).await;
    tab.wheel(-100.0, 5).await?;
    tab.pause(Duration::from_millis(1000)).await;

    // Two coffees into the cart, then pay.
    for button in [".product[data-product=yirgacheffe] .add", ".product[data-product=grinder] .add", "#pay-now"] {
        let at = tab.reveal(button).await?;
        tab.move_to(at).await?;
        tab.pause(Duration::from_millis(400)).await;
        tab.click().await?;
        tab.pause(BETWEEN_CLICKS).await;
    }
    Ok(())
}
