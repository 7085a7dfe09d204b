//! The demo store page (`www/store.html`) on its own: it embeds the one-line snippet, identifies
//! its visitor through the queue, loads nothing from elsewhere, marks its sections, is tall
//! enough to scroll, and its "Apply coupon" button is dead while the rest of the shop works.

use std::time::Duration;

use siq_e2e::browser::Chromium;
use siq_e2e::host::{render_store, STORE_PAGE};
use siq_e2e::util::{www_dir, TempDir};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1X2phbmUifQ.c2ln";

fn template() -> String {
    std::fs::read_to_string(www_dir().join(STORE_PAGE)).expect("www/store.html")
}

#[test]
fn the_page_embeds_the_snippet_identifies_through_the_queue_and_loads_nothing_else() {
    let page = template();
    assert!(page.contains(r#"<script src="/sdk.js" data-key="{{SITE_KEY}}" async></script>"#));
    assert!(page.contains(r#"(window.SentientIQ = window.SentientIQ || []).push(['identify', '{{IDENTITY_TOKEN}}']);"#));
    for external in ["http://", "https://", "url(", "@import", "<link", "<img", "<iframe"] {
        assert!(!page.contains(external), "the store page loads something from elsewhere: {external}");
    }
    let rendered = render_store(&page, "pk_test", TOKEN).unwrap();
    assert!(!rendered.contains("{{"), "a placeholder was left unfilled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coupon_button_is_dead_and_the_rest_of_the_shop_works() {
    let dir = TempDir::new("siq-store").unwrap();
    let file = dir.path().join(STORE_PAGE);
    std::fs::write(&file, render_store(&template(), "pk_test", TOKEN).unwrap()).unwrap();
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let mut tab = chromium.open(&format!("file://{}", file.display()), 3).await.unwrap_or_else(|e| panic!("{e}"));

    // The SDK cannot load from a file: the host's identify call waits in the queue.
    let queue: Vec<(String, String)> = tab.eval("window.SentientIQ").await.unwrap();
    assert_eq!(queue, [("identify".to_string(), TOKEN.to_string())]);
    assert_eq!(tab.eval::<String>("document.querySelector('script[data-key]').dataset.key").await.unwrap(), "pk_test");

    // Sections the SDK reports, and room to scroll.
    let products: u32 = tab.eval("document.querySelectorAll('[data-siq-section=catalog] .product .add').length").await.unwrap();
    assert!(products >= 4, "{products} products");
    let coupon_in_checkout: bool = tab.eval("!!document.querySelector('[data-siq-section=checkout] #apply-coupon')").await.unwrap();
    assert!(coupon_in_checkout);
    let pay_in_checkout: bool = tab.eval("!!document.querySelector('[data-siq-section=checkout] #pay-now')").await.unwrap();
    assert!(pay_in_checkout);
    let (height, viewport): (f64, f64) = tab.eval("[document.documentElement.scrollHeight, innerHeight]").await.unwrap();
    assert!(height > 2.0 * viewport, "page {height}px tall in a {viewport}px viewport");

    // Five clicks on "Apply coupon" change nothing.
    let before: String = tab.eval("document.getElementById('checkout').outerHTML").await.unwrap();
    let coupon = tab.reveal("#apply-coupon").await.unwrap();
    tab.move_to(coupon).await.unwrap();
    tab.rage_click(5, Duration::from_millis(150), 2.0).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after: String = tab.eval("document.getElementById('checkout').outerHTML").await.unwrap();
    assert_eq!(before, after, "the coupon button did something");

    // Adding to the cart and paying answer.
    let add = tab.reveal(".product[data-product=huila] .add").await.unwrap();
    tab.move_to(add).await.unwrap();
    tab.click().await.unwrap();
    let count: String = tab
        .wait_for(
            "document.getElementById('cart-count').textContent !== '2' && document.getElementById('cart-count').textContent",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(count, "3");
    let pay = tab.reveal("#pay-now").await.unwrap();
    tab.move_to(pay).await.unwrap();
    tab.click().await.unwrap();
    let status: String = tab.wait_for("document.getElementById('pay-status').textContent || null", Duration::from_secs(5)).await.unwrap();
    assert!(status.contains("thank you"), "{status}");

    chromium.close().await;
}
