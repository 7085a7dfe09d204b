//! A labelled corpus of pointer traces, recorded by driving the real SDK in real headless
//! Chromium through scripted scenarios (`cargo run --release -p siq-e2e --bin record-corpus`).
//!
//! For every (scenario, seed) a fresh tab opens one of the pages of `tests/pages/` (served by the
//! real server, with the tenant's snippet), with [`TRACE_INIT_JS`] installed before any page
//! script: it wraps `Worker.prototype.postMessage` and copies every batch the SDK's loader hands
//! to its worker (`{b: ArrayBuffer of Int32 rows (kind, t, x, y, section), s: [[id, name], …]}`)
//! before the buffer is transferred. The scenario then moves, clicks, scrolls and leaves like a
//! person (seeded minimum-jerk paths timed by Fitts' law, [`crate::browser`]), and the copied rows
//! are written, unchanged, as an event CSV (`docs/event-csv.md`). Nothing here makes up a row:
//! every row is one the loader produced.
//!
//! Each scenario has the label a detector should give its episode (the span, on the trace's own
//! clock, where the labelled behaviour happens): `rage`, `frustration`, `confusion`,
//! `hesitation`, `abandonment`, `engaged`, or `none` for things that look like trouble to naive
//! rules but are not (a stepper clicked fast, a map zoomed, a paragraph triple-clicked).
//! Seeds 1–7 are the `train` split (detectors are tuned on them), later seeds the `test` split (only
//! reported). `corpus/README.md` describes every scenario.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::input::{DispatchMouseEventParams, DispatchMouseEventType};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use shared_physics::{Emotion, Kind};

use crate::browser::{BrowserError, Chromium, Point, Tab, VIEWPORT};
use crate::host::render_store;
use crate::stack::{Backend, Stack};

/// The seeds of every scenario.
pub const SEEDS: std::ops::RangeInclusive<u64> = 1..=20;
/// The last seed of the `train` split; later seeds are `test`.
pub const LAST_TRAIN_SEED: u64 = 7;
/// The shortest trace kept, ms (from the page's time origin to its last row).
pub const MIN_SPAN_MS: i64 = 6_000;
/// The longest trace kept, ms.
pub const MAX_SPAN_MS: i64 = 20_000;
/// The manifest's header.
pub const MANIFEST_HEADER: &str = "file,scenario,label,split,seed,episode_start_ms,episode_end_ms";
/// The event CSV's header (`docs/event-csv.md`).
pub const CSV_HEADER: &str = "session,t_ms,kind,x,y,target";
/// Where the rendered pages are served from, under the server's site folder.
pub const PAGES_PREFIX: &str = "corpus-pages";
/// The pages folder of this crate.
pub fn pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pages")
}

/// Installed before any script of the page: copies every batch the loader posts to its worker
/// into `window.__siqTrace` (`rows`: the Int32 values, 5 a row; `names`: section id → name),
/// before the batch's buffer is transferred (and so emptied) by `postMessage`.
pub const TRACE_INIT_JS: &str = r#"(() => {
  const trace = (window.__siqTrace = { rows: [], names: {}, batches: 0 });
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (m, t) {
    try {
      if (m && m.b instanceof ArrayBuffer) {
        const copy = new Int32Array(m.b.slice(0));
        for (let i = 0; i < copy.length; i++) trace.rows.push(copy[i]);
        (m.s || []).forEach(([id, name]) => (trace.names[id] = name));
        trace.batches += 1;
      }
    } catch (e) {}
    return post.apply(this, arguments);
  };
})();"#;

/// JS: true once the loader has run (it replaces the queue array with its API object).
const SDK_READY_JS: &str = "!!(window.SentientIQ && !Array.isArray(window.SentientIQ) && window.__siqTrace)";
/// JS: the copied trace.
const TRACE_JS: &str = "window.__siqTrace";
/// JS: the page's clock, ms since its time origin (the trace's clock).
const NOW_JS: &str = "Math.floor(performance.now())";

/// What a detector should say about a scenario's episode: an emotion, or `None` for the
/// must-not-fire scenarios (ordinary use that naive rules mistake for trouble).
pub type Label = Option<Emotion>;

/// The manifest's name of a label (`none` for must-not-fire).
pub fn label_name(label: Label) -> &'static str {
    label.map_or("none", Emotion::name)
}

/// The label called `name` in the manifest.
pub fn label_from_name(name: &str) -> Option<Label> {
    if name == "none" {
        Some(None)
    } else {
        Emotion::from_name(name).map(Some)
    }
}

/// One scripted scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Its name (file names, manifest).
    pub name: &'static str,
    /// What its episode is.
    pub label: Label,
    /// The page under `tests/pages/`.
    pub page: &'static str,
}

/// Every scenario, in recording order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "rage_dead_button", label: Some(Emotion::Rage), page: "dead_button.html" },
    Scenario { name: "failed_submits", label: Some(Emotion::Frustration), page: "broken_form.html" },
    Scenario { name: "dead_clicks", label: Some(Emotion::Frustration), page: "broken_form.html" },
    Scenario { name: "thrash_form", label: Some(Emotion::Confusion), page: "broken_form.html" },
    Scenario { name: "scroll_hunt", label: Some(Emotion::Confusion), page: "catalog.html" },
    Scenario { name: "pricing_pingpong", label: Some(Emotion::Hesitation), page: "pricing.html" },
    Scenario { name: "exit_checkout", label: Some(Emotion::Abandonment), page: "checkout.html" },
    Scenario { name: "reading", label: Some(Emotion::Engaged), page: "article.html" },
    Scenario { name: "stepper", label: None, page: "stepper.html" },
    Scenario { name: "date_picker", label: None, page: "date_picker.html" },
    Scenario { name: "triple_click", label: None, page: "article.html" },
    Scenario { name: "map_zoom", label: None, page: "map.html" },
    Scenario { name: "browse", label: None, page: "catalog.html" },
    Scenario { name: "exit_wide", label: Some(Emotion::Abandonment), page: "checkout.html" },
    Scenario { name: "thrash_wide", label: Some(Emotion::Confusion), page: "broken_form.html" },
    Scenario { name: "rage_wide", label: Some(Emotion::Rage), page: "dead_button.html" },
    Scenario { name: "answers_late", label: None, page: "slow_results.html" },
    Scenario { name: "exit_flick", label: Some(Emotion::Abandonment), page: "checkout.html" },
    Scenario { name: "leave_side", label: None, page: "checkout.html" },
];

/// The scenario named `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// `train` for seeds up to [`LAST_TRAIN_SEED`], else `test`.
pub fn split(seed: u64) -> &'static str {
    if seed <= LAST_TRAIN_SEED {
        "train"
    } else {
        "test"
    }
}

/// The file stem (and CSV session) of a trace.
pub fn session_name(scenario: &str, seed: u64) -> String {
    format!("{scenario}-{seed}")
}

/// One row as the loader sent it, section resolved to its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// ms since the page's time origin.
    pub t_ms: i64,
    /// What happened.
    pub kind: Kind,
    /// Viewport CSS px (0 for context kinds).
    pub x: i32,
    /// Viewport CSS px, or the scroll offset (0 for context kinds).
    pub y: i32,
    /// The section's name, empty for none.
    pub target: String,
}

/// A recorded trace and its labelled episode.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The scenario.
    pub scenario: &'static Scenario,
    /// Its seed.
    pub seed: u64,
    /// The loader's rows, in the order it sent them.
    pub rows: Vec<TraceRow>,
    /// Where the labelled behaviour starts and ends, trace clock (ms).
    pub episode: (i64, i64),
    /// Batches the loader posted.
    pub batches: u64,
}

impl Recording {
    /// The file stem and session.
    pub fn session(&self) -> String {
        session_name(self.scenario.name, self.seed)
    }

    /// The trace as an event CSV (`docs/event-csv.md`).
    pub fn to_csv(&self) -> String {
        let session = self.session();
        let mut out = format!("{CSV_HEADER}\n");
        for r in &self.rows {
            if r.kind.is_pointer() {
                let _ = writeln!(out, "{session},{},{},{},{},{}", r.t_ms, r.kind.name(), r.x, r.y, r.target);
            } else if r.kind == Kind::Leave && (r.x, r.y) != (0, 0) {
                // Where the pointer left (the mouseout's clientX / clientY).
                let _ = writeln!(out, "{session},{},leave,{},{},{}", r.t_ms, r.x, r.y, r.target);
            } else if r.kind == Kind::Response && r.x != 0 {
                // The answer's signature, as the loader wrote it, and 1-3 for a press's own
                // answer (docs/event-csv.md).
                let own = if r.y != 0 { r.y.to_string() } else { String::new() };
                let _ = writeln!(out, "{session},{},{},{},{own},{}", r.t_ms, r.kind.name(), r.x, r.target);
            } else {
                let _ = writeln!(out, "{session},{},{},,,{}", r.t_ms, r.kind.name(), r.target);
            }
        }
        out
    }

    /// The manifest line.
    pub fn manifest_line(&self) -> String {
        format!(
            "{}.csv,{},{},{},{},{},{}",
            self.session(),
            self.scenario.name,
            label_name(self.scenario.label),
            split(self.seed),
            self.seed,
            self.episode.0,
            self.episode.1
        )
    }

    /// Rows per kind, in [`Kind::ALL`] order.
    pub fn counts(&self) -> [usize; Kind::ALL.len()] {
        let mut c = [0; Kind::ALL.len()];
        for r in &self.rows {
            c[r.kind as usize] += 1;
        }
        c
    }
}

/// What the page's trace recorder holds.
#[derive(Debug, Deserialize)]
struct RawTrace {
    rows: Vec<i64>,
    names: HashMap<String, String>,
    batches: u64,
}

/// Turns the loader's raw Int32 rows into [`TraceRow`]s, naming the sections.
fn decode(raw: RawTrace) -> Result<Vec<TraceRow>, String> {
    if !raw.rows.len().is_multiple_of(5) {
        return Err(format!("{} values is not a whole number of 5-value rows", raw.rows.len()));
    }
    raw.rows
        .chunks(5)
        .map(|r| {
            let kind = u32::try_from(r[0]).ok().and_then(Kind::from_code).ok_or_else(|| format!("unknown kind code {}", r[0]))?;
            let target = if r[4] == 0 {
                String::new()
            } else {
                raw.names.get(&r[4].to_string()).cloned().ok_or_else(|| format!("section id {} was never named", r[4]))?
            };
            Ok(TraceRow { t_ms: r[1], kind, x: r[2] as i32, y: r[3] as i32, target })
        })
        .collect()
}

/// The pages, rendered with the tenant's snippet into the server's site folder.
#[derive(Clone, Debug)]
pub struct Pages {
    base_url: String,
}

impl Pages {
    /// Renders every page of [`pages_dir`] into `<site>/`[`PAGES_PREFIX`]`/` of `stack`.
    pub fn render(stack: &Stack) -> Result<Pages, String> {
        let site = stack.site.store_file.parent().ok_or("the store page has no folder")?;
        let dir = site.join(PAGES_PREFIX);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let src = pages_dir();
        let entries = std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|e| e == "html") {
                let template = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let page = render_store(&template, &stack.site.site_key, &stack.site.identity_token)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let name = path.file_name().ok_or("a page without a name")?;
                std::fs::write(dir.join(name), page).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
        }
        Ok(Pages { base_url: format!("{}/{PAGES_PREFIX}", stack.url().trim_end_matches('/')) })
    }

    /// The URL of `page`.
    pub fn url(&self, page: &str) -> String {
        format!("{}/{page}", self.base_url)
    }
}

/// A scenario's failure.
fn fail(e: BrowserError) -> String {
    e.to_string()
}

/// A generator for the scenario's own choices (counts, intervals, targets), separate from the
/// tab's motion generator but fixed by the same seed.
fn choices(scenario: &Scenario, seed: u64) -> StdRng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    StdRng::seed_from_u64(h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Records one trace: a fresh tab, the trace recorder, the scenario, the rows.
pub async fn record(chromium: &Chromium, pages: &Pages, scenario: &'static Scenario, seed: u64) -> Result<Recording, String> {
    let tab = chromium.open("about:blank", seed).await.map_err(fail)?;
    let page = tab.page().clone();
    let result = record_in(chromium, tab, pages, scenario, seed).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), page.close()).await;
    result
}

async fn record_in(chromium: &Chromium, mut tab: Tab, pages: &Pages, scenario: &'static Scenario, seed: u64) -> Result<Recording, String> {
    tab.add_init_script(TRACE_INIT_JS).await.map_err(fail)?;
    tab.goto(&pages.url(scenario.page)).await.map_err(fail)?;
    tab.wait_for::<bool>(SDK_READY_JS, Duration::from_secs(10)).await.map_err(|e| format!("the SDK did not load: {e}"))?;
    let mut rng = choices(scenario, seed);
    lead_in(&mut tab, &mut rng).await.map_err(fail)?;
    let episode = run(chromium, &mut tab, &mut rng, scenario, seed).await.map_err(fail)?;
    // Let the loader flush its last batch (it posts at most once per animation frame).
    tab.pause(Duration::from_millis(400)).await;
    let raw: RawTrace = tab.eval(TRACE_JS).await.map_err(fail)?;
    let batches = raw.batches;
    let rows = decode(raw)?;
    Ok(Recording { scenario, seed, rows, episode, batches })
}

/// The trace clock now.
async fn now(tab: &Tab) -> Result<i64, BrowserError> {
    tab.eval::<i64>(NOW_JS).await
}

fn ms(rng: &mut StdRng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.gen_range(lo..=hi))
}

/// A point near `p`, within `r` px on each axis.
fn near(rng: &mut StdRng, p: Point, r: f64) -> Point {
    Point::new(p.x + rng.gen_range(-r..=r), p.y + rng.gen_range(-r..=r))
}

/// Settling in: the pointer comes in and wanders over the page a little.
async fn lead_in(tab: &mut Tab, rng: &mut StdRng) -> Result<(), BrowserError> {
    tab.pause(ms(rng, 200, 500)).await;
    for _ in 0..rng.gen_range(2..=3) {
        let to = Point::new(rng.gen_range(200.0..1080.0), rng.gen_range(150.0..600.0));
        tab.move_to(to).await?;
        tab.pause(ms(rng, 100, 350)).await;
    }
    Ok(())
}

/// Runs the scripted part of `scenario` and returns its labelled episode (trace clock).
async fn run(chromium: &Chromium, tab: &mut Tab, rng: &mut StdRng, scenario: &Scenario, seed: u64) -> Result<(i64, i64), BrowserError> {
    match scenario.name {
        "rage_dead_button" => rage_dead_button(tab, rng).await,
        "failed_submits" => failed_submits(tab, rng).await,
        "dead_clicks" => dead_clicks(tab, rng).await,
        "thrash_form" => thrash_form(tab, rng).await,
        "scroll_hunt" => scroll_hunt(tab, rng).await,
        "pricing_pingpong" => pricing_pingpong(tab, rng).await,
        "exit_checkout" => exit_checkout(chromium, tab, rng, seed).await,
        "reading" => reading(tab, rng).await,
        "stepper" => stepper(tab, rng).await,
        "date_picker" => date_picker(tab, rng).await,
        "triple_click" => triple_click(tab, rng).await,
        "map_zoom" => map_zoom(tab, rng).await,
        "browse" => browse(tab, rng).await,
        "exit_wide" => exit_wide(tab, rng).await,
        "thrash_wide" => thrash_wide(tab, rng).await,
        "rage_wide" => rage_wide(tab, rng).await,
        "answers_late" => answers_late(tab, rng, seed).await,
        "exit_flick" => exit_flick(tab, rng).await,
        "leave_side" => leave_side(tab, rng).await,
        other => unreachable!("no script for scenario {other}"),
    }
}

/// Targets closer than this to the top edge are approached in two movements, px.
const TOP_BAND_PX: f64 = 80.0;

/// Reach for `selector` (scrolling it into view first) and stop near its center.
async fn reach(tab: &mut Tab, rng: &mut StdRng, selector: &str, r: f64) -> Result<Point, BrowserError> {
    let c = tab.center(selector).await?;
    let c = if (20.0..=VIEWPORT.1 as f64 - 20.0).contains(&c.y) { c } else { tab.reveal(selector).await? };
    let to = near(rng, c, r);
    if to.y < TOP_BAND_PX && tab.pointer().y > to.y + TOP_BAND_PX {
        // Things near the top edge are reached from below: a long bowed path could arc out of
        // the window, and the page would see the pointer leave.
        tab.move_to(near(rng, Point::new(to.x, to.y + TOP_BAND_PX), 10.0)).await?;
    }
    tab.move_to(to).await?;
    Ok(to)
}

/// Rage: a burst of 5–9 clicks, 90–220 ms apart, 1–4 px of jitter, at a dead button; on some
/// seeds one single click and a pause come first.
async fn rage_dead_button(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    reach(tab, rng, "#apply-coupon", 6.0).await?;
    tab.pause(ms(rng, 250, 600)).await;
    let start = now(tab).await?;
    if rng.gen_bool(0.4) {
        tab.click().await?;
        tab.pause(ms(rng, 500, 1500)).await;
    }
    let clicks = rng.gen_range(5..=9);
    let interval = ms(rng, 90, 220);
    let jitter = rng.gen_range(1.0..=4.0);
    tab.rage_click(clicks, interval, jitter).await?;
    let end = now(tab).await?;
    tab.pause(ms(rng, 800, 1500)).await;
    let away = near(rng, Point::new(640.0, 300.0), 150.0);
    tab.move_to(away).await?;
    tab.pause(ms(rng, 300, 800)).await;
    Ok((start, end))
}

/// Frustration: the address form is filled in (the pointer visits its fields), then submitted
/// 3–4 times, 1–3 s apart; each submit is answered by the same error.
async fn failed_submits(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let mut fields = vec!["#first", "#last", "#street", "#zip", "#city", "#phone"];
    fields.truncate(rng.gen_range(2..=3));
    for f in fields {
        reach(tab, rng, f, 30.0).await?;
        tab.pause(ms(rng, 200, 450)).await;
    }
    let submit = tab.center("#submit").await?;
    tab.move_to(near(rng, submit, 8.0)).await?;
    tab.pause(ms(rng, 200, 500)).await;
    let start = now(tab).await?;
    let submits = rng.gen_range(3..=4);
    for i in 0..submits {
        if i > 0 {
            // Reads the error, comes back, tries again.
            let error = tab.center("#error").await?;
            tab.move_to_within(near(rng, error, 40.0), ms(rng, 250, 450)).await?;
            tab.pause(ms(rng, 150, 700)).await;
            tab.move_to_within(near(rng, submit, 8.0), ms(rng, 300, 450)).await?;
        }
        tab.click().await?;
        tab.pause(ms(rng, 200, 500)).await;
    }
    let end = now(tab).await? - 200;
    tab.pause(ms(rng, 500, 1000)).await;
    Ok((start, end))
}

/// Frustration: single clicks on 4–6 different things that look clickable but do nothing,
/// 0.6–2 s apart.
async fn dead_clicks(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let mut targets =
        vec!["#continue", "#terms", "#tile-delivery", "#badge", "#help-icon", "#step-pay", "#returns", "#tile-returns", "#step-cart"];
    targets.shuffle(rng);
    targets.truncate(rng.gen_range(4..=6));
    let mut start = None;
    for sel in targets {
        let gap = tokio::time::Instant::now() + ms(rng, 600, 2000);
        reach(tab, rng, sel, 3.0).await?;
        tokio::time::sleep_until(gap).await;
        if start.is_none() {
            start = Some(now(tab).await?);
        }
        tab.click().await?;
    }
    let end = now(tab).await?;
    tab.pause(ms(rng, 600, 1200)).await;
    Ok((start.unwrap_or(end), end))
}

/// Confusion: erratic movement over the form for 3–6 s (quick flicks in changing directions,
/// little net progress), no clicks.
async fn thrash_form(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let form = tab.center("#ship").await?;
    tab.move_to(near(rng, form, 60.0)).await?;
    let start = now(tab).await?;
    let until = tokio::time::Instant::now() + ms(rng, 3000, 6000);
    let anchor = near(rng, form, 80.0);
    while tokio::time::Instant::now() < until {
        let to = Point::new(
            (anchor.x + rng.gen_range(-260.0..=260.0)).clamp(10.0, VIEWPORT.0 as f64 - 10.0),
            (anchor.y + rng.gen_range(-200.0..=200.0)).clamp(10.0, VIEWPORT.1 as f64 - 10.0),
        );
        tab.move_to_within(to, ms(rng, 110, 260)).await?;
        if rng.gen_bool(0.25) {
            tab.pause(ms(rng, 60, 250)).await;
        }
    }
    let end = now(tab).await?;
    tab.pause(ms(rng, 400, 900)).await;
    Ok((start, end))
}

/// Confusion: scrolling down and up the catalog again and again (at least 4 reversals),
/// crossing its sections, looking for something.
async fn scroll_hunt(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    tab.move_to(near(rng, Point::new(640.0, 420.0), 120.0)).await?;
    let start = now(tab).await?;
    let legs = rng.gen_range(5..=7);
    for leg in 0..legs {
        let down = leg % 2 == 0;
        let notches = rng.gen_range(3..=6);
        let delta = if down { 100.0 } else { -100.0 };
        tab.wheel(delta, notches).await?;
        tab.pause(ms(rng, 250, 700)).await;
        if rng.gen_bool(0.5) {
            let p = tab.pointer();
            tab.move_to(near(rng, p, 120.0)).await?;
        }
    }
    let end = now(tab).await?;
    tab.pause(ms(rng, 400, 900)).await;
    Ok((start, end))
}

/// Hesitation: back and forth between the plans 3–6 times, a slow approach to one call to action
/// with corrections, and a 1.5–4 s dwell next to it without clicking.
async fn pricing_pingpong(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let plans = ["#plan-starter", "#plan-team", "#plan-business"];
    let mut centers = Vec::new();
    for p in plans {
        centers.push(tab.center(p).await?);
    }
    let start = now(tab).await?;
    let mut at = rng.gen_range(0..3);
    for _ in 0..rng.gen_range(3..=6) {
        // From a side plan to the middle one, from the middle one to either side.
        let next = if at != 1 {
            1
        } else if rng.gen_bool(0.5) {
            0
        } else {
            2
        };
        at = next;
        tab.move_to_within(near(rng, centers[at], 60.0), ms(rng, 350, 650)).await?;
        tab.pause(ms(rng, 250, 700)).await;
    }
    // A slow approach in sub-movements, with an overshoot and a correction.
    let cta = tab.center(["#cta-starter", "#cta-team", "#cta-business"][at]).await?;
    let from = tab.pointer();
    for f in [0.45, 0.75] {
        let p = Point::new(from.x + (cta.x - from.x) * f, from.y + (cta.y - from.y) * f);
        tab.move_to_within(near(rng, p, 10.0), ms(rng, 400, 700)).await?;
        tab.pause(ms(rng, 150, 400)).await;
    }
    let over = Point::new(cta.x + rng.gen_range(-70.0..=70.0), cta.y + rng.gen_range(25.0..=45.0));
    tab.move_to_within(over, ms(rng, 400, 700)).await?;
    tab.pause(ms(rng, 150, 400)).await;
    tab.move_to_within(near(rng, Point::new(cta.x, cta.y + 30.0), 20.0), ms(rng, 400, 700)).await?;
    // The dwell: small drifts beside the button, no click.
    let until = tokio::time::Instant::now() + ms(rng, 1500, 4000);
    let dwell = tab.pointer();
    while tokio::time::Instant::now() < until {
        tab.move_to_within(near(rng, dwell, 6.0), ms(rng, 150, 300)).await?;
        tab.pause(ms(rng, 150, 500)).await;
    }
    let end = now(tab).await?;
    tab.pause(ms(rng, 300, 700)).await;
    Ok((start, end))
}

/// Abandonment: a look at the checkout, then either a fast flick up and out of the window (the
/// page gets a `mouseout` without `relatedTarget`) or, on every third seed, another tab in front
/// (the page is hidden, then shown again).
async fn exit_checkout(chromium: &Chromium, tab: &mut Tab, rng: &mut StdRng, seed: u64) -> Result<(i64, i64), BrowserError> {
    for sel in ["#card", "#total", "#pay"] {
        reach(tab, rng, sel, 25.0).await?;
        tab.pause(ms(rng, 300, 800)).await;
    }
    let start = now(tab).await?;
    if seed.is_multiple_of(3) {
        // Switches to another tab, stays there a moment, comes back.
        let other = chromium.open("about:blank", seed).await?;
        other.page().bring_to_front().await.map_err(|source| BrowserError::Cdp { what: "bringing a tab to front".into(), source })?;
        tokio::time::sleep(ms(rng, 1500, 3000)).await;
        let end = now(tab).await?;
        let _ = other.page().clone().close().await;
        tab.page().bring_to_front().await.map_err(|source| BrowserError::Cdp { what: "bringing a tab to front".into(), source })?;
        tab.pause(ms(rng, 500, 900)).await;
        Ok((start, end))
    } else {
        // A flick to the top edge, then out through it.
        let p = tab.pointer();
        let edge = Point::new(p.x + rng.gen_range(-200.0..=200.0), rng.gen_range(2.0..=8.0));
        tab.move_to_within(edge, ms(rng, 140, 260)).await?;
        let out = DispatchMouseEventParams::new(DispatchMouseEventType::MouseMoved, edge.x, -rng.gen_range(5.0..=40.0));
        tab.mouse(out).await?;
        let end = now(tab).await?;
        tab.pause(ms(rng, 800, 1500)).await;
        Ok((start, end))
    }
}

/// Abandonment, parameters drawn from wide ranges (the rule, written before any was recorded: a
/// visitor who looked at the checkout and whose pointer then leaves the window through its top
/// edge is leaving, whatever the speed a person uses to reach the tab bar). Starts anywhere on
/// the page after 2–4 looks at the checkout's fields; the exit takes 150–900 ms to the edge,
/// straight or in two legs (a turn half-way, on a third of the seeds), leaves 0–300 px to either
/// side of where it started, and goes 2–60 px above the viewport.
async fn exit_wide(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    look_at_checkout(tab, rng).await?;
    let start = now(tab).await?;
    let p = tab.pointer();
    let x = (p.x + rng.gen_range(-300.0..=300.0)).clamp(5.0, VIEWPORT.0 as f64 - 5.0);
    let edge = Point::new(x, rng.gen_range(1.0..=10.0));
    let total = rng.gen_range(150..=900);
    if rng.gen_bool(1.0 / 3.0) {
        let mid = Point::new((p.x + x) / 2.0 + rng.gen_range(-120.0..=120.0), p.y / 2.0);
        tab.move_to_within(mid, Duration::from_millis(total / 2)).await?;
        tab.move_to_within(edge, Duration::from_millis(total - total / 2)).await?;
    } else {
        tab.move_to_within(edge, Duration::from_millis(total)).await?;
    }
    let out = DispatchMouseEventParams::new(DispatchMouseEventType::MouseMoved, edge.x, -rng.gen_range(2.0..=60.0));
    tab.mouse(out).await?;
    let end = now(tab).await?;
    tab.pause(ms(rng, 800, 1500)).await;
    Ok((start, end))
}

/// 2–4 looks at the checkout's fields in a random order, a 0.3–1.5 s pause at each (the start
/// of [`exit_wide`], [`exit_flick`] and [`leave_side`]).
async fn look_at_checkout(tab: &mut Tab, rng: &mut StdRng) -> Result<(), BrowserError> {
    let mut looks = vec!["#card", "#expiry", "#cvc", "#total", "#pay"];
    looks.shuffle(rng);
    for sel in looks.into_iter().take(rng.gen_range(2..=4)) {
        reach(tab, rng, sel, 25.0).await?;
        tab.pause(ms(rng, 300, 1500)).await;
    }
    Ok(())
}

/// Abandonment (the rule of [`exit_wide`], corpus/README.md): after 2–4 looks at the checkout,
/// one flick from where the last look ended straight to 20–150 px above the viewport, 0–300 px
/// to either side, in 120–600 ms. The page sees the last sampled move inside wherever the flick
/// put it, well below the edge when it is fast, and the `leave` where it crossed the edge.
async fn exit_flick(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    look_at_checkout(tab, rng).await?;
    let start = now(tab).await?;
    let p = tab.pointer();
    let x = (p.x + rng.gen_range(-300.0..=300.0)).clamp(5.0, VIEWPORT.0 as f64 - 5.0);
    tab.move_to_within(Point::new(x, -rng.gen_range(20.0..=150.0)), ms(rng, 120, 600)).await?;
    let end = now(tab).await?;
    tab.pause(ms(rng, 800, 1500)).await;
    Ok((start, end))
}

/// None (corpus/README.md: leaving through a side or the bottom is not exit intent): after 2–4
/// looks at the checkout, the pointer leaves through the right edge (at 120 px or more below the
/// top) or the bottom edge, to 20–150 px past it, in 150–900 ms.
async fn leave_side(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    look_at_checkout(tab, rng).await?;
    let start = now(tab).await?;
    let (w, h) = (VIEWPORT.0 as f64, VIEWPORT.1 as f64);
    let past = rng.gen_range(20.0..=150.0);
    let to = if rng.gen_bool(0.5) {
        Point::new(w + past, rng.gen_range(120.0..=h - 20.0))
    } else {
        Point::new(rng.gen_range(20.0..=w - 20.0), h + past)
    };
    tab.move_to_within(to, ms(rng, 150, 900)).await?;
    let end = now(tab).await?;
    tab.pause(ms(rng, 800, 1500)).await;
    Ok((start, end))
}

/// Confusion, parameters drawn from wide ranges (the rule, written before any was recorded: a
/// visitor who clicked something that did nothing and then moves the pointer back and forth
/// without getting anywhere and without clicking is thrashing). One click on the dead
/// "Continue" button, a 0–1.5 s pause, then 2–8 s of flicks to random points 40–400 px from an
/// anchor near the form, each flick 80–500 ms, with a pause of up to 300 ms after 0–40% of them.
async fn thrash_wide(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    reach(tab, rng, "#continue", 3.0).await?;
    tab.click().await?;
    let start = now(tab).await?;
    tab.pause(ms(rng, 0, 1500)).await;
    let form = tab.center("#ship").await?;
    let anchor = near(rng, form, 120.0);
    let pause_share = rng.gen_range(0.0..=0.4);
    let until = tokio::time::Instant::now() + ms(rng, 2000, 8000);
    while tokio::time::Instant::now() < until {
        let (r, a) = (rng.gen_range(40.0..=400.0), rng.gen_range(0.0..std::f64::consts::TAU));
        let to = Point::new(
            (anchor.x + r * a.cos()).clamp(10.0, VIEWPORT.0 as f64 - 10.0),
            (anchor.y + r * a.sin()).clamp(10.0, VIEWPORT.1 as f64 - 10.0),
        );
        tab.move_to_within(to, ms(rng, 80, 500)).await?;
        if rng.gen_bool(pause_share) {
            tab.pause(ms(rng, 0, 300)).await;
        }
    }
    let end = now(tab).await?;
    tab.pause(ms(rng, 400, 900)).await;
    Ok((start, end))
}

/// Pauses until the trace is at least [`MIN_SPAN_MS`] long (and a little more), so that a short
/// script still makes a trace the recorder keeps.
async fn linger(tab: &mut Tab) -> Result<(), BrowserError> {
    let t = now(tab).await?;
    if t < MIN_SPAN_MS + 500 {
        tokio::time::sleep(Duration::from_millis((MIN_SPAN_MS + 500 - t) as u64)).await;
    }
    Ok(())
}

/// Presses further apart than this, or farther apart than [`DOUBLE_PRESS_PX`], start a new
/// click count (as a system's double-click time does), ms.
const DOUBLE_PRESS_MS: u64 = 500;
/// See [`DOUBLE_PRESS_MS`], px.
const DOUBLE_PRESS_PX: f64 = 4.0;

/// Rage, parameters drawn from wide ranges (the rule, written before any was recorded in
/// `corpus/README.md`: three or more presses at a control that did not answer, each within
/// 900 ms of the one before and within 60 px of the first, are rage). 3–12 presses at the dead
/// "Apply coupon" button, a gap drawn per trace from 60–900 ms (each gap ±20% of it, kept in
/// 60–900 ms, press to press), each press after the first in a disc of radius 0–60 px (drawn per
/// trace) around the first.
async fn rage_wide(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    reach(tab, rng, "#apply-coupon", 6.0).await?;
    tab.pause(ms(rng, 250, 600)).await;
    let presses = rng.gen_range(3..=12);
    let gap: f64 = rng.gen_range(60.0..=900.0);
    let scatter: f64 = rng.gen_range(0.0..=60.0);
    let gaps: Vec<u64> = (1..presses).map(|_| (gap * rng.gen_range(0.8..=1.2)).clamp(60.0, 900.0) as u64).collect();
    let first = tab.pointer();
    let start = now(tab).await?;
    let mut at = tokio::time::Instant::now();
    let (mut count, mut last) = (0, first);
    for i in 0..presses as usize {
        if i > 0 {
            at += Duration::from_millis(gaps[i - 1]);
            let (r, a) = (scatter * rng.gen_range(0.0f64..=1.0).sqrt(), rng.gen_range(0.0..std::f64::consts::TAU));
            let to = Point::new(first.x + r * a.cos(), first.y + r * a.sin());
            if r >= 1.0 {
                // The hand moves to the next press within part of the gap.
                let budget = gaps[i - 1].saturating_sub(60).clamp(16, 250);
                tab.move_to_within(to, Duration::from_millis(rng.gen_range(16..=budget))).await?;
            }
            tokio::time::sleep_until(at).await;
        }
        let p = tab.pointer();
        let again = i > 0 && gaps[i - 1] <= DOUBLE_PRESS_MS && (p.x - last.x).hypot(p.y - last.y) <= DOUBLE_PRESS_PX;
        count = if again { count + 1 } else { 1 };
        last = p;
        // A press is released before the next one starts.
        let hold = rng.gen_range(45..=90).min(gaps.get(i).map_or(90, |g| g.saturating_sub(20).max(30)));
        tab.press_release(count, Duration::from_millis(hold)).await?;
    }
    let end = now(tab).await?;
    tab.pause(ms(rng, 600, 1000)).await;
    let away = near(rng, Point::new(640.0, 300.0), 150.0);
    tab.move_to(away).await?;
    tab.pause(ms(rng, 200, 500)).await;
    linger(tab).await?;
    Ok((start, end))
}

/// Must not fire, parameters drawn from wide ranges (the rule, written before any was recorded
/// in `corpus/README.md`: clicking again and again at a control whose page answers the request,
/// late or once per load, is impatience with a working page). The page answers 300–800 ms after
/// each click (`late`) or once per load, ignoring clicks while it loads (`busy`), drawn per
/// trace; 2–3 rounds of 2–5 clicks 150–900 ms apart, each round waiting for its answer and
/// looking at the results.
async fn answers_late(tab: &mut Tab, rng: &mut StdRng, seed: u64) -> Result<(i64, i64), BrowserError> {
    let mode = if rng.gen_bool(0.5) { "late" } else { "busy" };
    tab.eval::<bool>(&format!("window.siqSlow('{mode}', {})", rng.gen_range(1..=1_000_000u32) ^ seed as u32)).await?;
    let start = now(tab).await?;
    for round in 0..rng.gen_range(2..=3) {
        // A round lasts at most about 9 s: none starts past 9.5 s of trace.
        if round > 0 && now(tab).await? > 9_500 {
            break;
        }
        reach(tab, rng, "#more", 8.0).await?;
        tab.pause(ms(rng, 150, 400)).await;
        let clicks = rng.gen_range(2..=5);
        let gap = rng.gen_range(150..=900);
        for i in 0..clicks {
            if i > 0 {
                let p = tab.pointer();
                if rng.gen_bool(0.3) {
                    tab.move_to_within(near(rng, p, 3.0), Duration::from_millis(40)).await?;
                }
                tokio::time::sleep(Duration::from_millis((gap as f64 * rng.gen_range(0.8..=1.2)) as u64)).await;
            }
            tab.click().await?;
        }
        // Waits for the answer (at most 800 ms after the last click), then reads the list.
        tokio::time::sleep(ms(rng, 850, 1300)).await;
        let list = tab.center("#list").await?;
        tab.move_to(near(rng, list, 80.0)).await?;
        tab.pause(ms(rng, 400, 900)).await;
    }
    let end = now(tab).await?;
    linger(tab).await?;
    Ok((start, end))
}

/// Engaged: reading the article, scrolling down in small wheel steps with pauses, then a smooth
/// reach and a click on "read next".
async fn reading(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    tab.move_to(Point::new(rng.gen_range(980.0..1150.0), rng.gen_range(300.0..500.0))).await?;
    let start = now(tab).await?;
    for _ in 0..40 {
        let c = tab.center("#read-next").await?;
        if c.y < VIEWPORT.1 as f64 - 150.0 {
            break;
        }
        tab.wheel(rng.gen_range(80.0..=120.0), rng.gen_range(1..=2)).await?;
        tab.pause(ms(rng, 300, 700)).await;
        if rng.gen_bool(0.2) {
            let p = tab.pointer();
            tab.move_to(near(rng, p, 40.0)).await?;
        }
    }
    reach(tab, rng, "#read-next", 4.0).await?;
    tab.pause(ms(rng, 150, 400)).await;
    tab.click().await?;
    let end = now(tab).await?;
    tab.pause(ms(rng, 500, 1000)).await;
    Ok((start, end))
}

/// Must not fire: 5–10 fast clicks on a working + or − of the quantity stepper, 120–250 ms apart.
async fn stepper(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let start = now(tab).await?;
    let sel = ["#qty-plus", "#qty-minus", "#qty2-plus", "#qty2-minus"][rng.gen_range(0..4)];
    reach(tab, rng, sel, 5.0).await?;
    tab.pause(ms(rng, 200, 500)).await;
    let clicks = rng.gen_range(5..=10);
    tab.rage_click(clicks, ms(rng, 120, 250), rng.gen_range(1.0..=3.0)).await?;
    tab.pause(ms(rng, 600, 1200)).await;
    tab.move_to(near(rng, Point::new(640.0, 500.0), 100.0)).await?;
    tab.pause(ms(rng, 600, 1200)).await;
    let end = now(tab).await?;
    Ok((start, end))
}

/// Must not fire: picking days in a calendar, and fast repeated clicks on its next-month arrow.
async fn date_picker(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let start = now(tab).await?;
    for _ in 0..rng.gen_range(2..=3) {
        let day = rng.gen_range(1..=28);
        reach(tab, rng, &format!("[data-day=\"{day}\"]"), 4.0).await?;
        tab.pause(ms(rng, 150, 400)).await;
        tab.click().await?;
        tab.pause(ms(rng, 400, 1000)).await;
    }
    reach(tab, rng, "#next-month", 4.0).await?;
    tab.pause(ms(rng, 200, 400)).await;
    tab.rage_click(rng.gen_range(3..=6), ms(rng, 150, 300), rng.gen_range(1.0..=3.0)).await?;
    tab.pause(ms(rng, 400, 900)).await;
    let day = rng.gen_range(1..=28);
    reach(tab, rng, &format!("[data-day=\"{day}\"]"), 4.0).await?;
    tab.pause(ms(rng, 150, 400)).await;
    tab.click().await?;
    tab.pause(ms(rng, 500, 1000)).await;
    let end = now(tab).await?;
    Ok((start, end))
}

/// Must not fire: a triple click selects a paragraph, several times.
async fn triple_click(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let start = now(tab).await?;
    let mut paragraphs: Vec<usize> = (0..6).collect();
    paragraphs.shuffle(rng);
    paragraphs.truncate(rng.gen_range(2..=4));
    paragraphs.sort_unstable();
    for i in paragraphs {
        let c = tab.reveal(&format!("article section:nth-of-type({}) p:nth-of-type({})", i / 3 + 1, i % 3 + 1)).await?;
        tab.move_to(near(rng, c, 30.0)).await?;
        tab.pause(ms(rng, 200, 500)).await;
        for count in 1..=3 {
            if count > 1 {
                tab.pause(ms(rng, 80, 150)).await;
            }
            tab.press_release(count, ms(rng, 50, 90)).await?;
        }
        tab.pause(ms(rng, 800, 1800)).await;
    }
    let end = now(tab).await?;
    Ok((start, end))
}

/// Must not fire: 4–8 fast clicks on the map's zoom +, then on −; every click redraws it.
async fn map_zoom(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let start = now(tab).await?;
    for sel in ["#zoom-in", "#zoom-out"] {
        reach(tab, rng, sel, 5.0).await?;
        tab.pause(ms(rng, 200, 500)).await;
        tab.rage_click(rng.gen_range(4..=8), ms(rng, 130, 260), rng.gen_range(1.0..=3.0)).await?;
        tab.pause(ms(rng, 700, 1400)).await;
    }
    let end = now(tab).await?;
    Ok((start, end))
}

/// Must not fire: ordinary browsing of the catalog, with a few clicks on things that work.
async fn browse(tab: &mut Tab, rng: &mut StdRng) -> Result<(i64, i64), BrowserError> {
    let start = now(tab).await?;
    if rng.gen_bool(0.35) {
        reach(tab, rng, "#tab-coffee", 6.0).await?;
        tab.pause(ms(rng, 150, 400)).await;
        tab.click().await?;
        tab.pause(ms(rng, 500, 900)).await;
        reach(tab, rng, "#tab-all", 6.0).await?;
        tab.pause(ms(rng, 150, 400)).await;
        tab.click().await?;
        tab.pause(ms(rng, 400, 800)).await;
    }
    let mut items: Vec<usize> = (0..6).collect();
    items.shuffle(rng);
    for (n, i) in items.into_iter().take(2).enumerate() {
        reach(tab, rng, &format!("#item-{i} .img"), 40.0).await?;
        tab.pause(ms(rng, 300, 700)).await;
        let sel = if n % 2 == 0 { format!("#item-{i} .more") } else { format!("#item-{i} .add") };
        reach(tab, rng, &sel, 5.0).await?;
        tab.pause(ms(rng, 200, 500)).await;
        tab.click().await?;
        tab.pause(ms(rng, 500, 1000)).await;
    }
    tab.wheel(100.0, rng.gen_range(2..=4)).await?;
    tab.pause(ms(rng, 400, 800)).await;
    let end = now(tab).await?;
    Ok((start, end))
}

/// A recorded trace, or the name of one that could not be recorded and why.
type Outcome = Result<Recording, (String, String)>;

/// Recorder options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Output folder (`traces/` and `manifest.csv` go there).
    pub out: PathBuf,
    /// Browsers recording at once, one tab each.
    pub jobs: usize,
    /// Only these scenarios (all when empty).
    pub only: Vec<String>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Attempts per trace before giving up on it.
    pub attempts: u32,
}

/// A recorded corpus: the manifest lines, in scenario then seed order.
#[derive(Debug, Default)]
pub struct Summary {
    /// Manifest lines written.
    pub manifest: Vec<String>,
    /// Rows written.
    pub rows: usize,
    /// Traces that could not be recorded, with why.
    pub failed: Vec<(String, String)>,
}

/// Starts the embedded stack, renders the pages, and records every (scenario, seed) of `opts`
/// with `opts.jobs` browsers in parallel, writing `traces/<scenario>-<seed>.csv` and
/// `manifest.csv` under `opts.out`. Progress goes to stderr.
pub async fn record_corpus(opts: &Options) -> Result<Summary, String> {
    let started = Instant::now();
    let stack = Stack::start(Backend::Embedded).await.map_err(|e| e.to_string())?;
    let pages = Pages::render(&stack)?;
    let traces = opts.out.join("traces");
    std::fs::create_dir_all(&traces).map_err(|e| format!("{}: {e}", traces.display()))?;

    let mut jobs = VecDeque::new();
    for s in SCENARIOS.iter().filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| o == s.name)) {
        for &seed in &opts.seeds {
            jobs.push_back((s, seed));
        }
    }
    let total = jobs.len();
    let queue = Arc::new(Mutex::new(jobs));
    let done: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..opts.jobs.max(1) {
        let (queue, done, pages, traces, attempts) = (queue.clone(), done.clone(), pages.clone(), traces.clone(), opts.attempts.max(1));
        workers.push(tokio::spawn(async move {
            let chromium = Chromium::launch().await.map_err(|e| e.to_string())?;
            loop {
                let Some((scenario, seed)) = queue.lock().expect("queue").pop_front() else { break };
                let name = session_name(scenario.name, seed);
                let t0 = Instant::now();
                let mut outcome = Err(String::new());
                for attempt in 1..=attempts {
                    outcome = record(&chromium, &pages, scenario, seed).await.and_then(|r| check(&r).map(|()| r));
                    match &outcome {
                        Ok(_) => break,
                        Err(e) => eprintln!("  {name}: attempt {attempt} failed: {e}"),
                    }
                }
                let result = match outcome {
                    Ok(r) => {
                        let file = traces.join(format!("{name}.csv"));
                        std::fs::write(&file, r.to_csv()).map_err(|e| format!("{}: {e}", file.display()))?;
                        let c = r.counts();
                        let mut done = done.lock().expect("done");
                        done.push(Ok(r.clone()));
                        eprintln!(
                            "[{:>3}/{total}] {name:<22} {:>5} rows ({} clicks, {} responses, {} scrolls, {} leave, {} hidden) in {:.1} s, span {:.1} s",
                            done.len(),
                            r.rows.len(),
                            c[Kind::Click as usize],
                            c[Kind::Response as usize],
                            c[Kind::Scroll as usize],
                            c[Kind::Leave as usize],
                            c[Kind::Hidden as usize],
                            t0.elapsed().as_secs_f64(),
                            r.rows.last().map_or(0, |l| l.t_ms) as f64 / 1000.0,
                        );
                        continue;
                    }
                    Err(e) => Err((name.clone(), e)),
                };
                let mut done = done.lock().expect("done");
                done.push(result);
                eprintln!("[{:>3}/{total}] {name}: FAILED", done.len());
            }
            chromium.close().await;
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    stack.shutdown().await;

    let mut recorded: Vec<Outcome> = std::mem::take(&mut *done.lock().expect("done"));
    let order = |s: &str| SCENARIOS.iter().position(|x| x.name == s).unwrap_or(usize::MAX);
    let key = |r: &Outcome| match r {
        Ok(r) => (order(r.scenario.name), r.seed, String::new()),
        Err((n, _)) => (usize::MAX, 0, n.clone()),
    };
    recorded.sort_by_key(key);
    let mut summary = Summary::default();
    for r in recorded {
        match r {
            Ok(r) => {
                summary.rows += r.rows.len();
                summary.manifest.push(r.manifest_line());
            }
            Err(f) => summary.failed.push(f),
        }
    }
    // A partial run (some scenarios or seeds) keeps the manifest lines of the other traces.
    let manifest_path = opts.out.join("manifest.csv");
    let mut lines: Vec<String> = Vec::new();
    if let Ok(old) = std::fs::read_to_string(&manifest_path) {
        let fresh: Vec<&str> = summary.manifest.iter().map(|l| l.split(',').next().unwrap_or("")).collect();
        lines
            .extend(old.lines().skip(1).filter(|l| !l.is_empty() && !fresh.contains(&l.split(',').next().unwrap_or(""))).map(String::from));
    }
    lines.extend(summary.manifest.iter().cloned());
    lines.sort_by_key(|l| {
        let mut f = l.split(',');
        let _file = f.next();
        let scenario = f.next().unwrap_or("");
        let seed: u64 = f.nth(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        (order(scenario), seed)
    });
    let mut text = format!("{MANIFEST_HEADER}\n");
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    std::fs::write(&manifest_path, text).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    eprintln!(
        "recorded {} traces ({} rows) in {:.0} s; {} failed",
        summary.manifest.len(),
        summary.rows,
        started.elapsed().as_secs_f64(),
        summary.failed.len()
    );
    Ok(summary)
}

/// The checks a recorded trace must pass to be kept: the rows exist, keep time order, and
/// show what the scenario is about (a click the page answered, a leave or a hidden page, …).
pub fn check(r: &Recording) -> Result<(), String> {
    let c = r.counts();
    if r.rows.is_empty() {
        return Err("no rows".into());
    }
    if let Some(w) = r.rows.windows(2).find(|w| w[1].t_ms < w[0].t_ms) {
        return Err(format!("time goes backwards: {:?} then {:?}", w[0], w[1]));
    }
    let span = r.rows.last().map_or(0, |l| l.t_ms);
    if !(MIN_SPAN_MS..=MAX_SPAN_MS).contains(&span) {
        return Err(format!("the trace spans {span} ms"));
    }
    if r.episode.1 < r.episode.0 {
        return Err(format!("episode ends before it starts: {:?}", r.episode));
    }
    match r.scenario.name {
        "leave_side" | "exit_flick" if c[Kind::Leave as usize] != 1 => Err(format!("{} leave rows", c[Kind::Leave as usize])),
        "exit_checkout" | "exit_wide" if c[Kind::Leave as usize] + c[Kind::Hidden as usize] == 0 => Err("no leave or hidden row".into()),
        "rage_wide" | "answers_late" if c[Kind::Click as usize] < 2 => Err(format!("{} clicks", c[Kind::Click as usize])),
        "stepper" | "date_picker" | "map_zoom" | "browse" | "triple_click" if c[Kind::Response as usize] == 0 => {
            Err("no response row".into())
        }
        _ => Ok(()),
    }
}
