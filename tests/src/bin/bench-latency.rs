//! Detection → intervention latency in a real page, run by `cargo xtask bench latency`:
//!
//! ```text
//! bench-latency [--bursts N]    (default 100)
//! ```
//!
//! Starts a local Twilio and the server in-process (embedded backend, temporary folder, short
//! cooldown) and headless Chromium on the Demo Store. Each burst reloads the page (a fresh SDK
//! session), waits until the page streams, and rage-clicks "Apply coupon". A listener added to
//! every document before the page's scripts notes the `click` event's timestamp and, on the
//! SDK's `sentientiq:intervene` event, `performance.now()` minus the timestamp of the latest
//! click. Both clocks are the page's, so the figure covers the click's answer window (the loader
//! waits [`RESPONSE_WINDOW_MS`] for the page's answer before the burst is decided: its quiet
//! row), worker detection, the WebSocket round trip, server confirmation and rendering. The
//! detection → intervention figure is that minus the answer window.
//!
//! Prints p50, p95, p99, max and count of both; the last line is
//! `detection -> intervention p95: X ms over N bursts`. Exits non-zero if any burst got no
//! intervention (each is listed).

use std::process::ExitCode;
use std::time::Duration;

use shared_physics::detect::RESPONSE_WINDOW_MS;
use siq_e2e::browser::Chromium;
use siq_e2e::journey::{self, DEAD_BUTTON};
use siq_e2e::stack::{Backend, Stack};
use siq_e2e::util::percentile;

const USAGE: &str = "usage: bench-latency [--bursts N]";
/// Bursts unless told otherwise.
const DEFAULT_BURSTS: usize = 100;
/// How long a burst waits for its intervention before it counts as missed.
const WAIT: Duration = Duration::from_secs(5);
/// Fixes the pointer paths and jitter of the whole run.
const SEED: u64 = 0xbe4c_0001;

/// Added to every document before its scripts.
const LISTENER_JS: &str = r#"(() => {
  const b = window.__siqBench = { lastClick: null, latency: null };
  addEventListener('click', e => { b.lastClick = e.timeStamp; }, true);
  addEventListener('sentientiq:intervene', () => {
    if (b.latency === null && b.lastClick !== null) b.latency = performance.now() - b.lastClick;
  });
})();"#;

fn parse(argv: &[String]) -> Result<usize, String> {
    match argv {
        [] => Ok(DEFAULT_BURSTS),
        [flag, n] if flag == "--bursts" => n.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("--bursts {n}: not a positive number")),
        _ => Err(USAGE.into()),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let bursts = match parse(&argv) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("bench-latency: {e}");
            return ExitCode::from(2);
        }
    };
    match run(bursts).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench-latency: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the bursts; `Ok(false)` when some got no intervention.
async fn run(bursts: usize) -> Result<bool, String> {
    let stack = Stack::start_with(Backend::Embedded, |c| c.cooldown_secs = 1).await.map_err(|e| e.to_string())?;
    let chromium = Chromium::launch().await.map_err(|e| e.to_string())?;
    let mut tab = chromium.open(&stack.site.store_url, SEED).await.map_err(|e| e.to_string())?;
    tab.add_init_script(LISTENER_JS).await.map_err(|e| e.to_string())?;
    println!("bench-latency: {bursts} rage bursts on {} (Chromium, embedded backend)", stack.site.store_url);

    let mut latencies = Vec::with_capacity(bursts);
    let mut missed = Vec::new();
    let mut frames = 0;
    for burst in 1..=bursts {
        tab.reload().await.map_err(|e| e.to_string())?;
        frames = journey::settle_in(&mut tab, &stack.api, frames).await.map_err(|e| format!("burst {burst}: {e}"))?.frames;
        journey::rage_at(&mut tab, DEAD_BUTTON).await.map_err(|e| format!("burst {burst}: {e}"))?;
        match tab.wait_for::<f64>("window.__siqBench.latency", WAIT).await {
            Ok(ms) => latencies.push(ms),
            Err(e) => missed.push(format!("burst {burst}: {e}")),
        }
        if burst % 10 == 0 {
            let last = latencies.last().map_or("-".into(), |ms| format!("{ms:.1} ms"));
            println!("  {burst}/{bursts} bursts, {} interventions, last {last}", latencies.len());
        }
    }
    chromium.close().await;
    stack.shutdown().await;

    for m in &missed {
        println!("no intervention: {m}");
    }
    latencies.sort_by(f64::total_cmp);
    let Some(p95) = percentile(&latencies, 95.0) else {
        return Err(format!("no burst of {bursts} got an intervention"));
    };
    let stat = |p| percentile(&latencies, p).unwrap_or(f64::NAN);
    let window = f64::from(RESPONSE_WINDOW_MS);
    println!("count {}  missed {}", latencies.len(), missed.len());
    println!("last click -> intervention: p50 {:.1} ms  p95 {p95:.1} ms  p99 {:.1} ms  max {:.1} ms", stat(50.0), stat(99.0), stat(100.0));
    println!(
        "detection (the {window:.0} ms answer window run out) -> intervention: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        stat(50.0) - window,
        p95 - window,
        stat(99.0) - window,
        stat(100.0) - window
    );
    println!("detection -> intervention p95: {:.1} ms over {} bursts", p95 - window, latencies.len());
    Ok(missed.is_empty())
}
