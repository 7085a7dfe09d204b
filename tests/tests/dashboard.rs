//! The people who buy this, in a real browser: **the head of customer success signs in on the
//! dashboard, watches a $100k customer's rage burst arrive as one card, and the CEO handles it
//! from the SMS on her phone.**
//!
//! Jane Doe of Acme Corp rages twice at the store's dead coupon button (real SDK, real
//! Chromium input). The dashboard, signed in by cookie (no key in the page or its storage),
//! shows the struggle as one card however many detections the bursts made. Dana Reyes, the
//! CEO, opens the texted link on a 390 px phone: the view fits without sideways scrolling,
//! opening it takes nothing, a tap on "I've got it" does; she marks it "not a struggle" and the
//! tenant's published failure page counts it. The ROI report downloads as CSV with "too little
//! data" where there is too little. Every page is checked with axe-core (0 serious or critical
//! violations) and at 360 px (no horizontal scroll); screenshots land in
//! `target/artifacts/dashboard/`.

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::page::ScreenshotParams;
use serde::Deserialize;
use siq_e2e::browser::{Chromium, Tab};
use siq_e2e::host::{OWNER_EMAIL, OWNER_PASSWORD};
use siq_e2e::journey::{self, DEAD_BUTTON, PATIENCE};
use siq_e2e::stack::{Backend, Stack};
use siq_e2e::util::{eventually, workspace_root};

/// Fixes the pointer paths.
const SEED: u64 = 0xda5b_0a2d;
/// The phone: an iPhone 12-14's CSS viewport.
const PHONE: (i64, i64) = (390, 844);
/// The narrowest phone a page must fit without sideways scrolling.
const NARROW: i64 = 360;
/// The desktop.
const DESKTOP: (i64, i64) = (1280, 800);
/// The dashboard's pages (its hash routes).
const PAGES: &[&str] =
    &["struggles", "accounts", "segments", "queue", "interventions", "money", "weather", "chain", "broken", "audit", "failures"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rage_burst_is_one_card_and_the_ceo_takes_it_from_her_phone() {
    journey_on(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rage_burst_is_one_card_and_the_ceo_takes_it_from_her_phone_on_postgres_and_nats() {
    journey_on(Backend::PostgresNats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_emotion_weather_is_mailed_to_the_owner() {
    let smtp = siq_e2e::fakes::smtp::FakeSmtp::start().await.expect("fake SMTP");
    let url = smtp.url();
    let stack = Stack::start_with(Backend::Embedded, |c| {
        c.channels.smtp_url = Some(url);
        c.channels.email_from = Some("SentientIQ <weather@siq.example>".into());
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let v = stack.api.post("/v1/weather/mail", &serde_json::json!({}), &[reqwest::StatusCode::OK]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["sent_to"], serde_json::json!([OWNER_EMAIL]), "{v}");
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec![OWNER_EMAIL.to_string()]);
    let subject = mails[0].header("Subject").unwrap_or_default();
    assert!(subject.contains("Demo Store emotion weather"), "{subject}");
    assert!(mails[0].data.contains("no active session-minute") || mails[0].data.contains("EVI"), "{}", mails[0].data);
    stack.shutdown().await;
}

fn artifacts() -> PathBuf {
    let dir = workspace_root().join("target").join("artifacts").join("dashboard");
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

async fn viewport(tab: &Tab, (w, h): (i64, i64), mobile: bool) {
    tab.page().execute(SetDeviceMetricsOverrideParams::new(w, h, if mobile { 3.0 } else { 1.0 }, mobile)).await.expect("device metrics");
    tokio::time::sleep(Duration::from_millis(150)).await;
}

async fn screenshot(tab: &Tab, name: &str) {
    let png = tab.page().screenshot(ScreenshotParams::builder().full_page(true).build()).await.expect("screenshot");
    std::fs::write(artifacts().join(format!("{name}.png")), png).expect("write screenshot");
}

/// How wide the page is against the viewport (a page wider than its viewport scrolls sideways).
async fn overflow(tab: &Tab) -> (i64, i64) {
    tab.eval("[document.documentElement.scrollWidth, window.innerWidth]").await.expect("widths")
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read through Debug, in the failure message
struct Violation {
    id: String,
    impact: Option<String>,
    help: String,
    nodes: usize,
}

/// axe-core's serious and critical violations on the page as it is now.
async fn axe(tab: &Tab) -> Vec<Violation> {
    let have: bool = tab.eval("typeof window.axe === 'object'").await.unwrap();
    if !have {
        let path = workspace_root().join("tests/axe/node_modules/axe-core/axe.min.js");
        let src = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run `npm ci` in tests/axe: axe-core is pinned in its package-lock.json)", path.display()));
        let _: serde_json::Value = tab.eval(&format!("(() => {{ {src}\n; return true; }})()")).await.expect("inject axe-core");
    }
    let all: Vec<Violation> = tab
        .eval("axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))")
        .await
        .expect("axe.run");
    all.into_iter().filter(|v| matches!(v.impact.as_deref(), Some("serious" | "critical"))).collect()
}

/// Checks a page: no serious or critical axe violation, and no sideways scroll at 360 px.
async fn check(tab: &Tab, name: &str, restore: ((i64, i64), bool)) {
    let bad = axe(tab).await;
    assert!(bad.is_empty(), "{name}: axe-core found serious/critical violations: {bad:#?}");
    viewport(tab, (NARROW, 740), true).await;
    let (scroll, inner) = overflow(tab).await;
    assert!(scroll <= inner, "{name} scrolls sideways at {NARROW} px: {scroll} px wide");
    viewport(tab, restore.0, restore.1).await;
}

/// Shows one of the dashboard's pages (a hash route: no new document).
async fn show(tab: &Tab, page: &str) {
    let _: bool = tab.eval(&format!("(() => {{ location.hash = '#{page}'; return true; }})()")).await.unwrap();
    tab.wait_for::<bool>(&format!("!document.getElementById('page-{page}').hidden"), PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{page}: {e}"));
}

async fn journey_on(backend: Backend) {
    let stack = Stack::start(backend).await.unwrap_or_else(|e| panic!("{e}"));
    let chromium = Chromium::launch().await.unwrap_or_else(|e| panic!("{e}"));
    let site = &stack.site;
    let label = if backend == Backend::Embedded { "embedded" } else { "postgres" };

    // The head of customer success signs in.
    let dash = chromium.open(&site.dashboard_url, SEED).await.unwrap_or_else(|e| panic!("{e}"));
    viewport(&dash, DESKTOP, false).await;
    dash.wait_for::<bool>("!document.getElementById('signin').hidden", PATIENCE).await.expect("the sign-in form");
    check(&dash, "sign-in", (DESKTOP, false)).await;
    let fill = format!(
        "(() => {{ document.getElementById('tenant-id').value = {t}; document.getElementById('email').value = {e}; \
         document.getElementById('password').value = {p}; document.getElementById('signin-button').click(); return true; }})()",
        t = serde_json::to_string(&site.tenant_id).unwrap(),
        e = serde_json::to_string(OWNER_EMAIL).unwrap(),
        p = serde_json::to_string(OWNER_PASSWORD).unwrap(),
    );
    let _: bool = dash.eval(&fill).await.unwrap();
    dash.wait_for::<bool>(
        "!document.getElementById('nav').hidden && document.getElementById('live-state').textContent.includes('live')",
        PATIENCE,
    )
    .await
    .expect("signed in, live feed connected");
    // Nothing secret is readable by the page: the session cookie is HttpOnly, storage holds no key.
    let exposed: String =
        dash.eval("document.cookie + ' ' + JSON.stringify(localStorage) + ' ' + JSON.stringify(sessionStorage)").await.unwrap();
    assert!(!exposed.contains("ds_") && !exposed.contains("sk_") && !exposed.contains("siq_session"), "{exposed}");

    // Jane rages at the dead button, twice (the second burst pages the CEO).
    let mut store = journey::open_recording(&chromium, &site.store_url, SEED).await.unwrap_or_else(|e| panic!("{e}"));
    journey::settle_in(&mut store, &stack.api, 0).await.unwrap_or_else(|e| panic!("{e}"));
    journey::rage_at(&mut store, DEAD_BUTTON).await.unwrap_or_else(|e| panic!("{e}"));
    let card: String = dash
        .wait_for(
            "(() => { const c = document.querySelectorAll('#feed [data-episode]'); return c.length ? c[0].textContent : null; })()",
            PATIENCE,
        )
        .await
        .expect("a card in the live feed");
    assert!(card.contains("rage") && card.contains("Jane Doe") && card.contains("Acme Corp") && card.contains("$100,000"), "{card}");
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    journey::rage_at(&mut store, DEAD_BUTTON).await.unwrap_or_else(|e| panic!("{e}"));
    let sms = stack.twilio.wait_for_messages(1, PATIENCE).await;
    assert_eq!(sms.len(), 1, "{:?}", stack.twilio.rejections());
    let link = journey::session_link(&sms[0].body, stack.url()).expect("a session link in the SMS");

    // However many detections the bursts made, they are one card.
    let detections = eventually(PATIENCE, Duration::from_millis(200), || async {
        let d = stack.api.detections().await.ok()?;
        (d.iter().filter(|d| d.emotion == "rage").count() >= 2).then_some(d.len())
    })
    .await
    .expect("both bursts confirmed");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let cards: usize = dash.eval("document.querySelectorAll('#feed [data-episode]').length").await.unwrap();
    assert_eq!(cards, 1, "{detections} detections of one struggle made {cards} cards");
    let card: String = dash.eval("document.querySelector('#feed [data-episode]').textContent").await.unwrap();
    assert!(card.contains("Done:") && card.contains("shown in the page"), "{card}");
    screenshot(&dash, &format!("{label}-dashboard-desktop")).await;

    // Dana opens the link on her phone: it fits, it names people, and opening it took nothing.
    let mut phone = chromium.open("about:blank", SEED).await.unwrap_or_else(|e| panic!("{e}"));
    viewport(&phone, PHONE, true).await;
    phone.goto(&link).await.unwrap_or_else(|e| panic!("{e}"));
    phone
        .wait_for::<bool>("!document.getElementById('actions').hidden && !document.getElementById('ack').hidden", PATIENCE)
        .await
        .expect("the actions");
    let text: String = phone.eval("document.body.innerText").await.unwrap();
    assert!(text.contains("Jane Doe") && text.contains("Acme Corp") && text.contains("$100,000"), "{text}");
    assert!(!text.contains("u_jane") && !text.contains("contact:") && !text.contains("c_"), "ids on the phone view: {text}");
    let mail: String = phone.eval("document.querySelector('#contact a[href^=\"mailto:\"]').getAttribute('href')").await.unwrap();
    assert_eq!(mail, format!("mailto:{}", site.customer.email));
    let points: usize = phone.eval("document.querySelectorAll('#plot svg path').length").await.unwrap();
    assert!(points >= 3, "the plot has {points} lines");
    let (scroll, inner) = overflow(&phone).await;
    assert!(scroll <= inner && inner == PHONE.0, "the phone view is {scroll} px wide in {inner}");
    let before: serde_json::Value = stack.api.get("/v1/escalations").await.unwrap();
    assert_eq!(before["items"][0]["state"], "open", "opening the link acknowledged: {before}");
    screenshot(&phone, &format!("{label}-session-phone")).await;
    check(&phone, "session view", (PHONE, true)).await;

    // A tap takes it.
    let at = phone.center("#ack").await.unwrap();
    phone.move_to(at).await.unwrap();
    phone.click().await.unwrap();
    let said: String = phone
        .wait_for("(() => { const a = document.getElementById('said'); return a.hidden ? null : a.textContent; })()", PATIENCE)
        .await
        .unwrap();
    assert!(said.starts_with("It is yours"), "{said}");
    let taken: String = phone
        .wait_for(
            "(() => { const t = document.getElementById('escalation').textContent; return t.startsWith('Taken by') ? t : null; })()",
            PATIENCE,
        )
        .await
        .unwrap();
    assert!(taken.contains("Dana Reyes"), "{taken}");

    // It was not a struggle after all, she says.
    let at = phone.center("#fp").await.unwrap();
    phone.move_to(at).await.unwrap();
    phone.click().await.unwrap();
    phone.wait_for::<bool>("document.getElementById('said').textContent.includes('false positive')", PATIENCE).await.expect("reported");

    // The tenant publishes its failure page; it counts the report and names nobody.
    show(&dash, "failures").await;
    dash.wait_for::<bool>("document.querySelectorAll('#failures .stat').length > 0", PATIENCE)
        .await
        .expect("the failure page in the dashboard");
    let _: bool = dash
        .eval("(() => { const c = document.getElementById('public-toggle'); if (!c.checked) c.click(); return true; })()")
        .await
        .unwrap();
    let public = format!("{}/failures.html?t={}", stack.url(), site.tenant_id);
    let page = eventually(PATIENCE, Duration::from_millis(200), || async {
        let p = chromium.open(&public, SEED).await.ok()?;
        let text: String = p
            .wait_for(
                "(() => { const s = document.querySelectorAll('#failures .stat'); return s.length ? document.body.innerText : null; })()",
                Duration::from_secs(3),
            )
            .await
            .ok()?;
        Some((p, text))
    })
    .await
    .expect("the public failure page");
    let (failures_tab, text) = page;
    assert!(text.contains("detections reported as not a struggle"), "{text}");
    let first: String = failures_tab.eval("document.querySelector('#failures .stat b').textContent").await.unwrap();
    assert_eq!(first, "1", "{text}");
    assert!(!text.contains("Jane") && !text.contains("Acme") && !text.contains("Dana"), "personal data on the public page: {text}");
    check(&failures_tab, "public failure page", (DESKTOP, false)).await;
    screenshot(&failures_tab, &format!("{label}-failures")).await;

    // The ROI report downloads, with no money where there is too little data.
    let csv: String = dash
        .eval("fetch(document.getElementById('roi-csv').href, { credentials: 'same-origin' }).then(r => r.ok ? r.text() : 'HTTP ' + r.status)")
        .await
        .unwrap();
    assert!(csv.starts_with("emotion,holdout_share,treated_n") && csv.contains("too little data"), "{csv}");
    std::fs::write(artifacts().join(format!("{label}-roi.csv")), &csv).unwrap();

    // Every page of the dashboard: reachable, accessible, no sideways scroll at 360 px.
    for page in PAGES {
        show(&dash, page).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let err: Option<String> =
            dash.eval("(() => { const e = document.getElementById('error'); return e.hidden ? null : e.textContent; })()").await.unwrap();
        assert_eq!(err, None, "{page} showed an error");
        check(&dash, page, (DESKTOP, false)).await;
    }
    show(&dash, "money").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let money: String = dash.eval("document.getElementById('money-top').textContent").await.unwrap();
    assert!(money.contains("too little data"), "money without an interval: {money}");
    screenshot(&dash, &format!("{label}-money")).await;

    // Sign-out ends the session: the dashboard asks to sign in again.
    show(&dash, "struggles").await;
    dash.wait_for::<bool>("!document.getElementById('sign-out').hidden", PATIENCE).await.unwrap();
    let _: bool = dash.eval("(() => { document.getElementById('sign-out').click(); return true; })()").await.unwrap();
    dash.wait_for::<bool>("!document.getElementById('signin').hidden", PATIENCE).await.expect("signed out");
    dash.reload().await.unwrap();
    dash.wait_for::<bool>("!document.getElementById('signin').hidden", PATIENCE).await.expect("still signed out after a reload");

    chromium.close().await;
    stack.shutdown().await;
}
