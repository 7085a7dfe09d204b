//! Headless Chromium driven over the DevTools protocol (`chromiumoxide`), with input that goes
//! through the browser's real input pipeline (`Input.dispatchMouseEvent`): the page sees trusted
//! `pointermove`/`mousedown`/`click`/`wheel` events, exactly what a person's mouse produces.
//!
//! Pointer paths are human-ish — a minimum-jerk profile along a slightly curved path with a
//! little tremor, timed by Fitts' law — and every random choice comes from a seeded generator,
//! so a journey moves the same way on every run.
//!
//! The executable is `SIQ_CHROMIUM`, else `/usr/bin/chromium`; nothing here ever downloads a
//! browser. Each launch gets a fresh profile directory, removed afterwards.

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::input::{DispatchMouseEventParams, DispatchMouseEventType, MouseButton};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::Page;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::util::TempDir;

/// Where Chromium is looked for when `SIQ_CHROMIUM` is not set.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// The window and viewport size, CSS px.
pub const VIEWPORT: (u32, u32) = (1280, 800);
/// Interval between pointer samples on a path (one per frame at 60 Hz), ms.
const MOVE_STEP_MS: u64 = 16;
/// How often [`Tab::wait_for`] re-evaluates its expression.
const POLL: Duration = Duration::from_millis(50);

/// Flags of every launch (the headless mode, `--no-sandbox` and the profile come from the
/// config builder).
const FLAGS: &[&str] = &[
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
];

/// What can go wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No executable at the configured path.
    #[error("Chromium not found at {0} (set SIQ_CHROMIUM, or install it: `apt-get install -y chromium`; `cargo xtask ci` and `cargo xtask bench latency` install it)")]
    Missing(PathBuf),
    /// The profile directory could not be created.
    #[error("Chromium profile directory: {0}")]
    Profile(std::io::Error),
    /// The launch config was refused.
    #[error("Chromium config: {0}")]
    Config(String),
    /// A DevTools call failed.
    #[error("{what}: {source}")]
    Cdp {
        /// What was being done.
        what: String,
        /// The protocol error.
        source: CdpError,
    },
    /// A script's result was not the JSON expected.
    #[error("script `{script}` returned {got}: {reason}")]
    Result {
        /// The expression.
        script: String,
        /// Its JSON result.
        got: String,
        /// Why it did not parse.
        reason: String,
    },
    /// A condition did not come true in time.
    #[error("timed out after {timeout:?} waiting for `{what}` (last value: {last})")]
    Timeout {
        /// The expression waited on.
        what: String,
        /// The wait.
        timeout: Duration,
        /// Its last value.
        last: String,
    },
}

fn cdp(what: impl Into<String>) -> impl FnOnce(CdpError) -> BrowserError {
    let what = what.into();
    move |source| BrowserError::Cdp { what, source }
}

/// A point in viewport (CSS px) coordinates.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
pub struct Point {
    /// From the left edge of the viewport.
    pub x: f64,
    /// From the top edge of the viewport.
    pub y: f64,
}

impl Point {
    /// `(x, y)`.
    pub const fn new(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// A running headless Chromium with its own fresh profile.
pub struct Chromium {
    browser: Browser,
    handler: JoinHandle<()>,
    _profile: TempDir,
}

impl std::fmt::Debug for Chromium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chromium").finish_non_exhaustive()
    }
}

impl Chromium {
    /// `SIQ_CHROMIUM`, else [`DEFAULT_CHROMIUM`].
    pub fn executable() -> PathBuf {
        std::env::var_os("SIQ_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| DEFAULT_CHROMIUM.into())
    }

    /// Launches Chromium headless with a fresh temporary profile.
    pub async fn launch() -> Result<Chromium, BrowserError> {
        let executable = Self::executable();
        if !executable.is_file() {
            return Err(BrowserError::Missing(executable));
        }
        let profile = TempDir::new("siq-chromium").map_err(BrowserError::Profile)?;
        let (width, height) = VIEWPORT;
        let config = BrowserConfig::builder()
            .chrome_executable(&executable)
            .disable_default_args()
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(profile.path())
            .window_size(width, height)
            .viewport(Viewport { width, height, device_scale_factor: Some(1.0), ..Viewport::default() })
            .args(FLAGS.iter().copied())
            .build()
            .map_err(BrowserError::Config)?;
        let (browser, mut handler) = Browser::launch(config).await.map_err(cdp(format!("launching {}", executable.display())))?;
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    tracing::debug!("chromium handler: {e}");
                }
            }
        });
        Ok(Chromium { browser, handler, _profile: profile })
    }

    /// Opens `url` in a new tab and waits until it has loaded. `seed` fixes the tab's pointer
    /// paths and jitter.
    pub async fn open(&self, url: &str, seed: u64) -> Result<Tab, BrowserError> {
        let page = self.browser.new_page(url).await.map_err(cdp(format!("opening {url}")))?;
        let tab = Tab { page, pointer: Point::new(VIEWPORT.0 as f64 / 2.0, 40.0), rng: StdRng::seed_from_u64(seed) };
        tab.wait_loaded().await?;
        Ok(tab)
    }

    /// Closes the browser and removes its profile.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.wait()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.handler).await;
        self.handler.abort();
    }
}

impl Drop for Chromium {
    /// After [`Chromium::close`] there is nothing left to do. When a journey panics instead, the
    /// browser is still running: kill it and give it a moment to exit, so that the profile
    /// directory (dropped right after) is not written to while it is removed.
    fn drop(&mut self) {
        if let Some(child) = self.browser.get_mut_child() {
            if let Ok(None) = child.try_wait() {
                let _ = child.as_mut_inner().start_kill();
                for _ in 0..100 {
                    if !matches!(child.try_wait(), Ok(None)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.handler.abort();
    }
}

/// One tab, with a pointer that moves like a hand.
pub struct Tab {
    page: Page,
    pointer: Point,
    rng: StdRng,
}

impl std::fmt::Debug for Tab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tab").field("pointer", &self.pointer).finish_non_exhaustive()
    }
}

impl Tab {
    /// The underlying page, for anything not wrapped here.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// Where the pointer is, in viewport coordinates.
    pub fn pointer(&self) -> Point {
        self.pointer
    }

    /// Evaluates the JS expression `expr` (awaited if it is a promise) and parses its JSON.
    pub async fn eval<T: DeserializeOwned>(&self, expr: &str) -> Result<T, BrowserError> {
        let json = self.eval_json(expr).await?;
        serde_json::from_str(&json).map_err(|e| BrowserError::Result { script: expr.into(), got: json, reason: e.to_string() })
    }

    /// Evaluates `expr` and returns `JSON.stringify` of its value (`"null"` for `undefined`).
    async fn eval_json(&self, expr: &str) -> Result<String, BrowserError> {
        let script = format!("(async () => JSON.stringify(await ({expr})))()");
        let params =
            EvaluateParams::builder().expression(script).await_promise(true).return_by_value(true).build().map_err(BrowserError::Config)?;
        let result = self.page.evaluate_expression(params).await.map_err(cdp(format!("evaluating `{expr}`")))?;
        Ok(result.value().and_then(Value::as_str).unwrap_or("null").to_string())
    }

    /// Re-evaluates `expr` until it is neither `null`, `undefined` nor `false`, and returns that
    /// value; a [`BrowserError::Timeout`] after `timeout`.
    pub async fn wait_for<T: DeserializeOwned>(&self, expr: &str, timeout: Duration) -> Result<T, BrowserError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let json = self.eval_json(expr).await?;
            if json != "null" && json != "false" {
                return serde_json::from_str(&json).map_err(|e| BrowserError::Result {
                    script: expr.into(),
                    got: json,
                    reason: e.to_string(),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrowserError::Timeout { what: expr.into(), timeout, last: json });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_loaded(&self) -> Result<(), BrowserError> {
        self.wait_for::<bool>("document.readyState === 'complete'", Duration::from_secs(20)).await.map(|_| ())
    }

    /// Adds `script` to every document this tab loads from now on, before the page's scripts.
    pub async fn add_init_script(&self, script: &str) -> Result<(), BrowserError> {
        self.page.evaluate_on_new_document(script.to_string()).await.map(|_| ()).map_err(cdp("adding an init script"))
    }

    /// Navigates to `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.page.goto(url).await.map_err(cdp(format!("navigating to {url}")))?;
        self.wait_loaded().await
    }

    /// Reloads the page (a new document, so a new SDK session) and waits until it has loaded.
    pub async fn reload(&self) -> Result<(), BrowserError> {
        self.page.reload().await.map_err(cdp("reloading"))?;
        self.wait_loaded().await
    }

    /// The center of the first element matching the CSS `selector`, in viewport coordinates.
    pub async fn center(&self, selector: &str) -> Result<Point, BrowserError> {
        let selector_js = serde_json::to_string(selector).expect("a string serialises");
        let expr = format!(
            "(() => {{ const e = document.querySelector({selector_js}); if (!e) return null; \
             const r = e.getBoundingClientRect(); return {{ x: r.left + r.width / 2, y: r.top + r.height / 2 }}; }})()"
        );
        self.wait_for(&expr, Duration::from_secs(5)).await
    }

    /// Scrolls with the wheel, as a person would, until the element matching `selector` is
    /// well inside the viewport, and returns its center.
    pub async fn reveal(&mut self, selector: &str) -> Result<Point, BrowserError> {
        const MARGIN: f64 = 120.0;
        let bottom = VIEWPORT.1 as f64 - MARGIN;
        for _ in 0..40 {
            let c = self.center(selector).await?;
            if (MARGIN..=bottom).contains(&c.y) {
                return Ok(c);
            }
            let off = if c.y < MARGIN { c.y - MARGIN } else { c.y - bottom };
            let notches = (off / 100.0).abs().ceil().clamp(1.0, 4.0) as u32;
            self.wheel(off.signum() * 100.0, notches).await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(BrowserError::Timeout { what: format!("{selector} to scroll into view"), timeout: Duration::ZERO, last: "off screen".into() })
    }

    /// Sends one raw mouse event.
    pub async fn mouse(&self, event: DispatchMouseEventParams) -> Result<(), BrowserError> {
        let what = format!("Input.dispatchMouseEvent {:?}", event.r#type);
        self.page.execute(event).await.map(|_| ()).map_err(cdp(what))
    }

    async fn mouse_at(&self, kind: DispatchMouseEventType, at: Point, pressed: bool, clicks: i64) -> Result<(), BrowserError> {
        let mut event = DispatchMouseEventParams::new(kind.clone(), at.x, at.y);
        event.buttons = Some(i64::from(pressed));
        if kind != DispatchMouseEventType::MouseMoved {
            event.button = Some(MouseButton::Left);
            event.click_count = Some(clicks);
        }
        self.mouse(event).await
    }

    /// Moves the pointer to `to` along a human-ish path: minimum-jerk speed profile, a slight
    /// arc, sub-pixel tremor, one sample per frame, duration from Fitts' law.
    pub async fn move_to(&mut self, to: Point) -> Result<(), BrowserError> {
        let d = self.pointer.distance(to);
        let duration_ms = 250.0 + 110.0 * (1.0 + d / 30.0).log2();
        self.move_path(to, duration_ms, false).await
    }

    /// Moves the pointer to `to` like [`Tab::move_to`] (minimum-jerk profile, arc, tremor), but
    /// taking `duration` instead of the Fitts' law time: a quick flick, or a slow, careful
    /// approach made of several such sub-movements. The path follows the clock rather than a
    /// sample count, so the movement takes `duration` even when each dispatched event takes a
    /// while to reach the page (fewer, farther apart samples instead of a slower movement).
    pub async fn move_to_within(&mut self, to: Point, duration: Duration) -> Result<(), BrowserError> {
        self.move_path(to, (duration.as_millis() as f64).max(1.0), true).await
    }

    /// The path of [`Tab::move_to`] and [`Tab::move_to_within`]: `steps` samples 16 ms apart, or
    /// (`clocked`) samples at whatever pace the browser takes them, placed by the time elapsed.
    async fn move_path(&mut self, to: Point, duration_ms: f64, clocked: bool) -> Result<(), BrowserError> {
        let from = self.pointer;
        let d = from.distance(to);
        let steps = ((duration_ms / MOVE_STEP_MS as f64).ceil() as usize).max(4);
        let bow = self.rng.gen_range(-0.12..0.12) * d;
        let (nx, ny) = if d > 0.0 { (-(to.y - from.y) / d, (to.x - from.x) / d) } else { (0.0, 0.0) };
        let start = tokio::time::Instant::now();
        for i in 1.. {
            let tau = if clocked {
                ((start.elapsed().as_secs_f64() * 1000.0 + MOVE_STEP_MS as f64) / duration_ms).min(1.0)
            } else {
                i as f64 / steps as f64
            };
            let s = tau * tau * tau * (10.0 - 15.0 * tau + 6.0 * tau * tau);
            let arc = bow * (std::f64::consts::PI * tau).sin();
            let tremor = if tau < 1.0 { 0.6 } else { 0.0 };
            let p = Point::new(
                from.x + (to.x - from.x) * s + nx * arc + self.rng.gen_range(-1.0..=1.0) * tremor,
                from.y + (to.y - from.y) * s + ny * arc + self.rng.gen_range(-1.0..=1.0) * tremor,
            );
            self.mouse_at(DispatchMouseEventType::MouseMoved, p, false, 0).await?;
            self.pointer = p;
            tokio::time::sleep(Duration::from_millis(MOVE_STEP_MS)).await;
            if tau >= 1.0 {
                break;
            }
        }
        Ok(())
    }

    /// One press-and-release where the pointer is; `count` is the browser's click count
    /// (1 for a single click, 2 for the second click of a double click, …).
    pub async fn press_release(&mut self, count: i64, hold: Duration) -> Result<(), BrowserError> {
        let at = self.pointer;
        self.mouse_at(DispatchMouseEventType::MousePressed, at, true, count).await?;
        tokio::time::sleep(hold).await;
        self.mouse_at(DispatchMouseEventType::MouseReleased, at, false, count).await
    }

    /// A single, unhurried click where the pointer is.
    pub async fn click(&mut self) -> Result<(), BrowserError> {
        let hold = Duration::from_millis(self.rng.gen_range(70..=120));
        self.press_release(1, hold).await
    }

    /// A burst of `clicks` clicks about `interval` apart (±15 ms), each within `jitter_px` of
    /// where the pointer started — what a frustrated person does to a button that will not answer.
    pub async fn rage_click(&mut self, clicks: u32, interval: Duration, jitter_px: f64) -> Result<(), BrowserError> {
        let anchor = self.pointer;
        let interval_ms = interval.as_millis() as i64;
        for i in 1..=clicks {
            if i > 1 {
                let p = Point::new(
                    anchor.x + self.rng.gen_range(-jitter_px..=jitter_px),
                    anchor.y + self.rng.gen_range(-jitter_px..=jitter_px),
                );
                self.mouse_at(DispatchMouseEventType::MouseMoved, p, false, 0).await?;
                self.pointer = p;
            }
            let hold_ms: i64 = self.rng.gen_range(45..=70);
            self.press_release(i64::from(i), Duration::from_millis(hold_ms as u64)).await?;
            if i < clicks {
                let gap_ms = (interval_ms - hold_ms + self.rng.gen_range(-15..=15)).max(10) as u64;
                tokio::time::sleep(Duration::from_millis(gap_ms)).await;
            }
        }
        Ok(())
    }

    /// Scrolls by `notches` wheel notches of `delta_y` px each (positive scrolls down), where
    /// the pointer is, a few tens of ms apart like a real wheel.
    pub async fn wheel(&mut self, delta_y: f64, notches: u32) -> Result<(), BrowserError> {
        for _ in 0..notches {
            let mut event = DispatchMouseEventParams::new(DispatchMouseEventType::MouseWheel, self.pointer.x, self.pointer.y);
            event.delta_x = Some(0.0);
            event.delta_y = Some(delta_y);
            self.mouse(event).await?;
            tokio::time::sleep(Duration::from_millis(self.rng.gen_range(30..=60))).await;
        }
        Ok(())
    }

    /// A pause of `base` ± 20%, drawn from the tab's seeded generator.
    pub async fn pause(&mut self, base: Duration) {
        let ms = base.as_millis() as f64 * self.rng.gen_range(0.8..1.2);
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
    }
}
