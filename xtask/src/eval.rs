//! `cargo xtask eval [--human DIR] [--corpus DIR] [--list] [--fit] [--real-only]`: how often
//! the detectors fire on real people's recordings, ours side by side with the peers' published
//! rules, then on the labelled corpus.
//!
//! First the two sets judged on (`eval/real.rs`, split by visitor in `eval/split.rs`): MiniWoB++
//! demos, whose recording knows whether the page answered every click (share of fully answered
//! demos fired on, per task; calibration against their ground truth; the crowd's norm replayed
//! in recording order), and DLRV visits, real browsing with scroll (session-minutes fired on, per
//! emotion, and the worst cases: every click dead, every page a pricing page for hesitation).
//! `--real-only` stops there. Then SapiMouse and iweb, below.
//!
//! DIR defaults to `<workspace>/../shared/data/human` (see its `README.md`). `--list` also prints
//! every intervention-grade firing of ours (session, time, features).
//!
//! ## Data and how clicks are derived
//!
//! * **SapiMouse** (`sapimouse/user*/session_*{1min,3min}.csv`; `user62.2` names its files
//!   `session_2020_10_14_1min.csv`, so the date part is accepted): `Move`/`Drag` → move,
//!   `Pressed` → down, `Released` → up; a `Left` release within [`CLICK_SLOP_PX`] of the pending
//!   `Left` press is also a click at the release. A repeated `Pressed` row (the data has a few)
//!   does not start a second gesture: one click per release at most. `Right`/`Other` buttons never
//!   make clicks. Time: ms since the session's first row; duration: first to last row.
//! * **iweb** (`iweb/dataset/raw_data/raw_data.csv`, one trial per row): the `mouse_clicks`
//!   field is a comma-separated list of `<n>:Down:<epoch_ms>:<x>:<y>:<n>` and
//!   `up:<epoch_ms>:<x>-<y>:<n>` (either coordinate may be negative, e.g. `98--3`). A `Down`
//!   followed by an `up` within [`CLICK_SLOP_PX`] is a click; a `Down` whose `up` lands further
//!   away is a map pan (a drag, not a click); an `up` with no pending `Down` is a click whose
//!   press the page's map controls swallowed: nearly all of them sit on the zoom buttons in the
//!   top-left corner, i.e. they are the zoom clicks. Rows that do not parse are reported with
//!   their line numbers and left out of the totals. Time: ms since the trial's first event.
//!
//! ## Session-minutes
//!
//! A session lasts `max(last − first event, 1 s)`. It is cut into whole minutes from its start,
//! the last one partial; a minute "has a firing" when a firing's triggering click falls into it.
//! "% of session-minutes with ≥ 1 firing" is the summed length of such minutes over the summed
//! length of all sessions, so a 30 s iweb trial with a firing counts 0.5 firing minutes out of 0.5.
//!
//! ## Detectors and once-per-burst counting
//!
//! * **ours**: [`Detector`] fed every sample (moves, downs, ups, clicks) as the SDK would, with
//!   the loader's quiet rows ([`shared_physics::detect::LoaderQuiet`]). These recordings carry
//!   no page answers, so it claims no burst at intervention grade; the figures are what it would
//!   claim if every click were dead ([`IfDead`]): "any" counts bursts with a detection, "≥ 0.85"
//!   bursts that reach the intervention grade, each once, at its first click.
//! * **PostHog** (`PostHog/posthog-js`, `packages/browser/src/extensions/rageclick.ts`, class
//!   `RageClick`, defaults `DEFAULT_THRESHOLD_PX` 30, `DEFAULT_TIMEOUT_MS` 1000,
//!   `DEFAULT_CLICK_COUNT` 3, each overridable by the `rageclick` config's `threshold_px`,
//!   `timeout_ms`, `click_count`): a chain grows while each click is < 1000 ms after the
//!   previous one and < 30 px from it (Manhattan distance, `Math.abs(dx) + Math.abs(dy)`); it
//!   fires when the chain reaches exactly 3 clicks (`=== clickCount`), so once per chain. This
//!   is the `rageclick: true` configuration: the newer config defaults' exclusions by the
//!   element's text or `aria-label` (`content_ignorelist`, `ignore_text_selection`) need the
//!   element, which the event CSV does not carry (`docs/detectors.md`).
//! * **Amplitude / Mixpanel**: ≥ 4 clicks within 1000 ms (inclusive). The "same element" condition
//!   is not observable in these recordings, so no spatial limit (an upper bound). Fires on the
//!   click at which the condition starts to hold, not again while it keeps holding.
//! * **Datadog** (`DataDog/browser-sdk`, RUM click chain and frustration signals, see
//!   [`Datadog`]): a chain grows while each click is on the same element, ≤ 1000 ms after the
//!   previous one and ≤ 100 px from it (Euclidean); the chain is rage when 3 consecutive clicks
//!   of it span ≤ 1000 ms and none of its clicks saw a scroll or a selection change, counted once
//!   per chain. The element is known only in DLRV (its tag), selection changes nowhere.

mod corpus;
mod real;
mod split;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use shared_physics::detect::{Detection, Detector, Params, RageParams};
use shared_physics::emotions::TraceParams;
use shared_physics::{Emotion, Kind, Sample};

/// Largest press→release distance (px) for a press and release to make a click.
pub const CLICK_SLOP_PX: f32 = 5.0;
/// Confidence at which the server intervenes (the default `intervene_confidence`).
pub const INTERVENTION_GRADE: f32 = 0.85;
/// Shortest duration a session is counted with, ms.
const MIN_SESSION_MS: u32 = 1000;
const MINUTE_MS: u32 = 60_000;

const USAGE: &str = "usage: cargo xtask eval [--human DIR] [--corpus DIR] [--list] [--fit] [--real-only]";

/// One recording, ready to replay: every sample in time order, times since its start.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// `user10/session_1min` or `iweb line 12 (subject 1, 600ms, ACR 1)`.
    pub name: String,
    /// Counted duration, ms (already `max(…, 1 s)`).
    pub duration_ms: u32,
    /// Moves, downs, ups and clicks.
    pub samples: Vec<Sample>,
    /// Press→release pairs too far apart to be clicks (drags / map pans).
    pub drags: u32,
    /// Clicks from an `up` with no recorded press (iweb only).
    pub lone_ups: u32,
}

impl Session {
    fn clicks(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(|s| s.kind == Kind::Click)
    }
}

fn sample(t_ms: u32, x: i64, y: i64, kind: Kind) -> Sample {
    let c = |v: i64| v.clamp(i16::MIN as i64, i16::MAX as i64) as i16;
    Sample { t_ms, x: c(x), y: c(y), kind, section: 0 }
}

fn dist(a: (i64, i64), b: (i64, i64)) -> f32 {
    shared_physics::norm((a.0 - b.0) as f32, (a.1 - b.1) as f32)
}

// ---------------------------------------------------------------------------------------------
// Parsers

/// Parses one SapiMouse session file.
pub fn parse_sapimouse(name: &str, text: &str) -> Result<Session, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| format!("{name}: {e}"))?.clone();
    let col = |h: &str| headers.iter().position(|c| c == h).ok_or_else(|| format!("{name}: no column `{h}`"));
    let (ct, cb, cs, cx, cy) = (col("client timestamp")?, col("button")?, col("state")?, col("x")?, col("y")?);
    let mut samples = Vec::new();
    let (mut t0, mut t_last) = (None::<i64>, 0i64);
    let mut press: Option<(i64, i64)> = None;
    let mut drags = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{name}: {e}"))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).ok_or_else(|| format!("{name} line {line}: missing field"));
        let num = |i: usize| field(i)?.parse::<i64>().map_err(|e| format!("{name} line {line}: {e}"));
        let (t, x, y) = (num(ct)?, num(cx)?, num(cy)?);
        let t0 = *t0.get_or_insert(t);
        if t < t_last {
            return Err(format!("{name} line {line}: time goes backwards ({t} after {t_last})"));
        }
        t_last = t;
        let rel = u32::try_from(t - t0).map_err(|_| format!("{name} line {line}: time out of range"))?;
        let left = field(cb)? == "Left";
        match field(cs)? {
            "Move" | "Drag" => samples.push(sample(rel, x, y, Kind::Move)),
            "Pressed" => {
                samples.push(sample(rel, x, y, Kind::Down));
                // A repeated Pressed row keeps the first press of the gesture.
                if left && press.is_none() {
                    press = Some((x, y));
                }
            }
            "Released" => {
                samples.push(sample(rel, x, y, Kind::Up));
                if left {
                    match press.take() {
                        Some(p) if dist(p, (x, y)) <= CLICK_SLOP_PX => samples.push(sample(rel, x, y, Kind::Click)),
                        Some(_) => drags += 1,
                        None => {}
                    }
                }
            }
            other => return Err(format!("{name} line {line}: unknown state `{other}`")),
        }
    }
    let span = t0.map_or(0, |t0| t_last - t0);
    Ok(Session { name: name.to_string(), duration_ms: (span as u32).max(MIN_SESSION_MS), samples, drags, lone_ups: 0 })
}

/// One `mouse_clicks` event of an iweb trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IwebEvent {
    /// `<n>:Down:<epoch_ms>:<x>:<y>:<n>`
    Down { t: u64, x: i64, y: i64 },
    /// `up:<epoch_ms>:<x>-<y>:<n>`
    Up { t: u64, x: i64, y: i64 },
}

/// Parses an iweb `mouse_clicks` field.
pub fn parse_iweb_clicks(field: &str) -> Result<Vec<IwebEvent>, String> {
    let int = |s: &str, what: &str| s.parse::<i64>().map_err(|_| format!("bad {what} `{s}`"));
    let time = |s: &str| s.parse::<u64>().map_err(|_| format!("bad time `{s}`"));
    let mut out = Vec::new();
    for (i, tok) in field.split(',').enumerate() {
        let f: Vec<&str> = tok.split(':').collect();
        let ev = match f.as_slice() {
            [_, "Down", t, x, y, _] => IwebEvent::Down { t: time(t)?, x: int(x, "x")?, y: int(y, "y")? },
            ["up", t, xy, _] => {
                // `x-y` where either may carry its own minus sign: split at the first '-' that
                // is not the leading sign.
                let cut = xy.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(k, _)| k);
                let (x, y) = cut.map(|k| (&xy[..k], &xy[k + 1..])).ok_or_else(|| format!("event {}: bad position `{xy}`", i + 1))?;
                IwebEvent::Up { t: time(t)?, x: int(x, "x")?, y: int(y, "y")? }
            }
            _ => return Err(format!("event {}: unrecognised `{tok}`", i + 1)),
        };
        out.push(ev);
    }
    Ok(out)
}

/// Turns a trial's events into a session (see the module docs for the click rule).
pub fn iweb_session(name: String, events: &[IwebEvent]) -> Result<Session, String> {
    let t_of = |e: &IwebEvent| match *e {
        IwebEvent::Down { t, .. } | IwebEvent::Up { t, .. } => t,
    };
    let (Some(first), Some(last)) = (events.first(), events.last()) else { return Err("no events".into()) };
    let t0 = t_of(first);
    let mut samples = Vec::new();
    let mut press: Option<(i64, i64)> = None;
    let (mut drags, mut lone_ups, mut prev_t) = (0, 0, t0);
    for e in events {
        let t = t_of(e);
        if t < prev_t {
            return Err(format!("time goes backwards ({t} after {prev_t})"));
        }
        prev_t = t;
        let rel = u32::try_from(t - t0).map_err(|_| "time out of range".to_string())?;
        match *e {
            IwebEvent::Down { x, y, .. } => {
                samples.push(sample(rel, x, y, Kind::Down));
                press = Some((x, y));
            }
            IwebEvent::Up { x, y, .. } => {
                samples.push(sample(rel, x, y, Kind::Up));
                match press.take() {
                    Some(p) if dist(p, (x, y)) <= CLICK_SLOP_PX => samples.push(sample(rel, x, y, Kind::Click)),
                    Some(_) => drags += 1,
                    None => {
                        lone_ups += 1;
                        samples.push(sample(rel, x, y, Kind::Click));
                    }
                }
            }
        }
    }
    let span = (t_of(last) - t0) as u32;
    Ok(Session { name, duration_ms: span.max(MIN_SESSION_MS), samples, drags, lone_ups })
}

/// Rows that did not parse: `(line number, reason)`.
pub type BadRows = Vec<(u64, String)>;

/// Parses the iweb `raw_data.csv`: the trials that parse, and the rows that don't.
pub fn parse_iweb(text: &str) -> Result<(Vec<Session>, BadRows), String> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| format!("iweb header: {e}"))?.clone();
    let col = |h: &str| headers.iter().position(|c| c == h).ok_or_else(|| format!("iweb: no column `{h}`"));
    let (cm, cs, cd, ca) = (col("mouse_clicks")?, col("subject")?, col("net_delay")?, col("ACR")?);
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push((e.position().map_or(0, |p| p.line()), e.to_string()));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let get = |i: usize| rec.get(i).unwrap_or("?");
        let name = format!("line {line:>3} (subject {}, {}, ACR {})", get(cs), get(cd), get(ca));
        match rec
            .get(cm)
            .ok_or_else(|| "no mouse_clicks field".to_string())
            .and_then(parse_iweb_clicks)
            .and_then(|ev| iweb_session(name, &ev))
        {
            Ok(s) => ok.push(s),
            Err(e) => bad.push((line, e)),
        }
    }
    Ok((ok, bad))
}

// ---------------------------------------------------------------------------------------------
// Peer rules. Each sees the clicks one by one and returns true when it fires (once per burst).

/// A click as the peer rules see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Click {
    /// ms
    pub t: u32,
    /// px
    pub x: f32,
    /// px
    pub y: f32,
    /// The clicked element as far as the recording tells (a hash of its tag in DLRV), 0 when
    /// it does not say.
    pub target: u32,
}

impl From<&Sample> for Click {
    fn from(s: &Sample) -> Click {
        Click { t: s.t_ms, x: s.x as f32, y: s.y as f32, target: 0 }
    }
}

/// Once-per-burst counting for a condition evaluated at every click: fires on its rising edge.
#[derive(Clone, Copy, Debug, Default)]
pub struct RisingEdge(bool);

impl RisingEdge {
    /// Records whether the condition holds at this click; true when it just started to hold.
    pub fn update(&mut self, holds: bool) -> bool {
        let fire = holds && !self.0;
        self.0 = holds;
        fire
    }
}

/// A peer's published rage-click rule.
pub trait Rule {
    /// Feeds one click; true when the rule fires on it.
    fn click(&mut self, c: Click) -> bool;
}

/// PostHog: 3 clicks, each < 1 s after the previous and < 30 px (Manhattan) from it.
#[derive(Default)]
pub struct PostHog(Vec<Click>);

impl Rule for PostHog {
    fn click(&mut self, c: Click) -> bool {
        let chained = self.0.last().is_some_and(|p| (c.x - p.x).abs() + (c.y - p.y).abs() < 30.0 && c.t - p.t < 1000);
        if !chained {
            self.0.clear();
        }
        self.0.push(c);
        chained && self.0.len() == 3
    }
}

/// Amplitude / Mixpanel: 4 clicks within 1 s.
#[derive(Default)]
pub struct Amplitude {
    recent: std::collections::VecDeque<u32>,
    edge: RisingEdge,
}

impl Rule for Amplitude {
    fn click(&mut self, c: Click) -> bool {
        self.recent.push_back(c.t);
        while self.recent.front().is_some_and(|&t| c.t - t > 1000) {
            self.recent.pop_front();
        }
        self.edge.update(self.recent.len() >= 4)
    }
}

/// Datadog's RUM frustration signals (`DataDog/browser-sdk`, `packages/rum-core/src/domain/action/`):
///
/// * `clickChain.ts`: a click joins the chain when it is on the **same element** as the
///   chain's last click (`first.target === second.target`), at most 100 px from it
///   (`MAX_DISTANCE_BETWEEN_CLICKS`, Euclidean) and within 1 s (`MAX_DURATION_BETWEEN_CLICKS`,
///   enforced by a timer restarted at every appended click); otherwise the chain is finalised
///   and the click starts a new one.
/// * `computeFrustration.ts` (`isRage`): a finalised chain is rage when some 3 consecutive
///   clicks of it (`MIN_CLICKS_PER_SECOND_TO_CONSIDER_RAGE`) span ≤ 1 s, **unless any of its
///   clicks saw a selection change or a scroll** (`getUserActivity().selection || .scroll`,
///   recorded from the click's `pointerdown` to the next one: `listenActionEvents.ts`). One
///   rage action per chain, whether the page answered or not.
///
/// What the event CSV lets this model see: the element only where the recording names it (DLRV:
/// the tag, so two clicks on different tags are different elements and two on the same tag
/// are taken as the same: an upper bound), scrolls (`scroll` rows), and no selection changes (a
/// `response` row does not say what changed): where those are not recorded the rule fires at
/// least as often as Datadog's would. Fires at the click where the chain first holds 3 clicks
/// within 1 s, reported when the chain is finalised ([`Datadog::feed`], [`Datadog::finish`]).
#[derive(Default)]
pub struct Datadog {
    chain: Vec<Click>,
    rage_at: Option<u32>,
    activity: bool,
}

impl Datadog {
    /// Datadog's `MAX_DURATION_BETWEEN_CLICKS`, ms.
    pub const MAX_GAP_MS: u32 = 1000;
    /// Datadog's `MAX_DISTANCE_BETWEEN_CLICKS`, px.
    pub const MAX_DISTANCE_PX: f32 = 100.0;

    /// Feeds one sample of a recording (`target` for clicks, 0 = unknown); returns the time of
    /// the rage click of a chain finalised at it.
    pub fn feed(&mut self, s: &Sample, target: u32) -> Option<u32> {
        let timed_out = self.chain.last().is_some_and(|p| s.t_ms.saturating_sub(p.t) > Self::MAX_GAP_MS);
        let mut fired = if timed_out { self.finish() } else { None };
        match s.kind {
            Kind::Scroll if !self.chain.is_empty() => self.activity = true,
            Kind::Click => {
                let c = Click { target, ..Click::from(s) };
                let similar = self.chain.last().is_some_and(|p| {
                    (p.target == 0 || c.target == 0 || p.target == c.target)
                        && shared_physics::norm(c.x - p.x, c.y - p.y) <= Self::MAX_DISTANCE_PX
                        && c.t.saturating_sub(p.t) <= Self::MAX_GAP_MS
                });
                if !similar {
                    fired = fired.or(self.finish());
                }
                self.chain.push(c);
                let n = self.chain.len();
                if self.rage_at.is_none() && n >= 3 && c.t - self.chain[n - 3].t <= Self::MAX_GAP_MS {
                    self.rage_at = Some(c.t);
                }
            }
            _ => {}
        }
        fired
    }

    /// Finalises the chain (the recording ended, or its timer ran out): the time of its rage
    /// click, if it was rage.
    pub fn finish(&mut self) -> Option<u32> {
        let rage = self.rage_at.filter(|_| !self.activity);
        self.chain.clear();
        self.rage_at = None;
        self.activity = false;
        rage
    }
}

/// OpenReplay's mouse thrashing (`@openreplay/tracker`, `modules/mouse.ts`): a timer every
/// [`OpenReplay::TICK_MS`] (225 ms) compares the pointer's travel in the last interval with the
/// one before; it reports thrashing when the interval held more than 4 changes of the sign of
/// `movementX` (a zero step is a sign of its own, as in their code) and the speed rose by more
/// than 0.008 px/ms per ms. After an interval without travel the counts are not reset (their
/// `if (!velocity)` early return), so they carry into the next interval. Fed the pointer moves
/// of a recording with their own timestamps; ticks run from the recording's time origin.
/// Counted once per run of consecutive firing ticks.
#[derive(Debug, Default)]
pub struct OpenReplay {
    next_tick: u32,
    velocity: f32,
    direction: i32,
    changes: u32,
    distance: f32,
    prev: Option<(i32, i32)>,
    edge: RisingEdge,
}

impl OpenReplay {
    /// Their `shakeCheckInterval`, ms.
    pub const TICK_MS: u32 = 225;
    /// Their `shakeThreshold`, px/ms².
    pub const ACCELERATION: f32 = 0.008;

    /// Runs the timer up to `t_ms`; true when a tick in between starts a thrashing run.
    fn ticks_until(&mut self, t_ms: u32) -> bool {
        let mut fired = false;
        while self.next_tick <= t_ms {
            self.next_tick += Self::TICK_MS;
            let next = self.distance / Self::TICK_MS as f32;
            if self.velocity == 0.0 {
                self.velocity = next;
                self.edge.update(false);
                continue;
            }
            let acceleration = (next - self.velocity) / Self::TICK_MS as f32;
            fired |= self.edge.update(self.changes > 4 && acceleration > Self::ACCELERATION);
            self.distance = 0.0;
            self.changes = 0;
            self.velocity = next;
        }
        fired
    }

    /// Feeds one sample (only moves count); true when thrashing starts at a tick up to it.
    pub fn sample(&mut self, s: &Sample) -> bool {
        let fired = self.ticks_until(s.t_ms);
        if s.kind == Kind::Move {
            let p = (i32::from(s.x), i32::from(s.y));
            let (dx, dy) = self.prev.map_or((0, 0), |q| (p.0 - q.0, p.1 - q.1));
            self.prev = Some(p);
            self.distance += (dx.abs() + dy.abs()) as f32;
            if dx.signum() != self.direction {
                self.direction = dx.signum();
                self.changes += 1;
            }
        }
        fired
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// The detectors, in table order.
const DETECTORS: [&str; 5] = [
    "ours if all dead: any",
    "ours if all dead: >= 0.85",
    "PostHog (3, <1 s, <30 px)",
    "Amplitude/Mixpanel (4 in 1 s)",
    "Datadog (3 in 1 s, <=100 px)",
];

/// One intervention-grade firing of ours, for `--list`.
#[derive(Clone, Debug)]
pub struct Firing {
    /// Session name.
    pub session: String,
    /// ms since session start.
    pub t_ms: u32,
    /// Detection confidence.
    pub confidence: f32,
    /// Burst features.
    pub clicks: u8,
    /// Mean inter-click interval, ms.
    pub mean_ici_ms: f32,
    /// Dispersion, px.
    pub dispersion_px: f32,
}

/// A rage burst as it would be if the page had answered no click (the recording's own answers
/// dropped, the loader's quiet rows added): what rage would claim on a page of dead controls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeadBurst {
    /// Time of the burst's first click.
    pub first_ms: u32,
    /// Whether it reached the intervention grade.
    pub intervened: bool,
    /// Its most confident detection so far.
    pub best: Detection,
}

/// Replays a recording as if its page had answered no click ([`DeadBurst`]), reporting each
/// burst once when it first claims and once more if it later reaches the intervention grade.
pub struct IfDead {
    det: Detector,
    quiet: shared_physics::detect::LoaderQuiet,
    /// The current burst: first click, newest click, and whether it was reported at grade.
    burst: Option<(u32, u32, bool)>,
    max_ici_ms: u32,
}

impl IfDead {
    /// A dead replay with the rage thresholds `rage`.
    pub fn new(rage: RageParams) -> IfDead {
        IfDead {
            det: Detector::new(Params { rage, trace: TraceParams::DEFAULT }),
            quiet: Default::default(),
            burst: None,
            max_ici_ms: rage.max_ici_ms,
        }
    }

    /// Feeds one sample of the recording (its responses are dropped).
    pub fn feed(&mut self, s: &Sample) -> Option<DeadBurst> {
        if s.kind == Kind::Response {
            return None;
        }
        self.quiet.feed(*s).filter_map(|row| self.det.push(row).and_then(|d| self.note(d))).last()
    }

    /// After the last sample.
    pub fn end(&mut self) -> Option<DeadBurst> {
        let q = self.quiet.end()?;
        let d = self.det.push(q)?;
        self.note(d)
    }

    fn note(&mut self, d: Detection) -> Option<DeadBurst> {
        if d.emotion != Emotion::Rage {
            return None;
        }
        let span = (d.features.mean_ici_ms * f32::from(d.features.clicks.saturating_sub(1))).round() as u32;
        let first = d.t_ms.saturating_sub(span);
        let intervened = d.confidence >= INTERVENTION_GRADE;
        match self.burst {
            Some((f, last, graded)) if first <= last.saturating_add(self.max_ici_ms) && d.t_ms >= last => {
                self.burst = Some((f, d.t_ms, graded || intervened));
                (intervened && !graded).then_some(DeadBurst { first_ms: f, intervened, best: d })
            }
            _ => {
                self.burst = Some((first, d.t_ms, intervened));
                Some(DeadBurst { first_ms: first, intervened, best: d })
            }
        }
    }
}

/// Per-session result: firing times (ms) per detector.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Firing times per detector, [`DETECTORS`] order.
    pub firings: [Vec<u32>; 5],
    /// Ours, intervention grade, for `--list`.
    pub interventions: Vec<Firing>,
    /// Every detection of the full detector (all emotions).
    pub detections: Vec<Detection>,
    /// OpenReplay's mouse thrashing rule: firing times (pointer moves only; none in iweb).
    pub thrashing: Vec<u32>,
}

/// Runs every detector over one session.
pub fn run_session(s: &Session) -> Outcome {
    let params = RageParams::DEFAULT;
    let mut out = Outcome::default();
    // These recordings carry no page answers: no click can be known to be dead.
    let mut det = Detector::new(Params { rage: params, trace: TraceParams { answers: false, ..TraceParams::DEFAULT } });
    let mut quiet = shared_physics::detect::LoaderQuiet::default();
    // What rage would claim if every click were dead (the detector above caps what it emits
    // without the page's answers below the intervention bar).
    let mut if_dead = IfDead::new(params);
    let dead = |out: &mut Outcome, b: Option<DeadBurst>| {
        let Some(b) = b else { return };
        if !b.intervened {
            out.firings[0].push(b.first_ms);
            return;
        }
        if !out.firings[0].contains(&b.first_ms) {
            out.firings[0].push(b.first_ms);
        }
        out.firings[1].push(b.first_ms);
        out.interventions.push(Firing {
            session: s.name.clone(),
            t_ms: b.first_ms,
            confidence: b.best.confidence,
            clicks: b.best.features.clicks,
            mean_ici_ms: b.best.features.mean_ici_ms,
            dispersion_px: b.best.features.dispersion_px,
        });
    };
    let (mut ph, mut amp, mut dd) = (PostHog::default(), Amplitude::default(), Datadog::default());
    let mut thrash = OpenReplay::default();
    for smp in &s.samples {
        if thrash.sample(smp) {
            out.thrashing.push(smp.t_ms);
        }
        out.firings[4].extend(dd.feed(smp, 0));
        for row in quiet.feed(*smp) {
            out.detections.extend(det.push(row));
        }
        dead(&mut out, if_dead.feed(smp));
        if smp.kind != Kind::Click {
            continue;
        }
        let c = Click::from(smp);
        for (i, fired) in [ph.click(c), amp.click(c)].into_iter().enumerate() {
            if fired {
                out.firings[2 + i].push(smp.t_ms);
            }
        }
    }
    if let Some(q) = quiet.end() {
        out.detections.extend(det.push(q));
    }
    dead(&mut out, if_dead.end());
    out.firings[4].extend(dd.finish());
    out
}

/// Totals over a set of sessions.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Sessions (or trials).
    pub sessions: u64,
    /// Summed counted duration, ms.
    pub duration_ms: u64,
    /// Clicks.
    pub clicks: u64,
    /// Press→release pairs that were drags, not clicks.
    pub drags: u64,
    /// Clicks from an `up` without a press.
    pub lone_ups: u64,
    /// Firings per detector.
    pub firings: [u64; 5],
    /// Summed length (ms) of session-minutes with ≥ 1 firing, per detector.
    pub firing_minutes_ms: [u64; 5],
    /// Sessions with ≥ 1 firing, per detector.
    pub sessions_firing: [u64; 5],
}

/// Summed length (ms) of the minutes of a `duration_ms` session that hold one of `times`.
pub fn minutes_with_firing_ms(duration_ms: u32, times: &[u32]) -> u64 {
    let last_bin = duration_ms.saturating_sub(1) / MINUTE_MS;
    let mut bins: Vec<u32> = times.iter().map(|t| (t / MINUTE_MS).min(last_bin)).collect();
    bins.sort_unstable();
    bins.dedup();
    bins.iter().map(|&k| u64::from(MINUTE_MS.min(duration_ms - k * MINUTE_MS))).sum()
}

impl Totals {
    fn add(&mut self, s: &Session, o: &Outcome) {
        self.sessions += 1;
        self.duration_ms += u64::from(s.duration_ms);
        self.clicks += s.clicks().count() as u64;
        self.drags += u64::from(s.drags);
        self.lone_ups += u64::from(s.lone_ups);
        for (i, times) in o.firings.iter().enumerate() {
            self.firings[i] += times.len() as u64;
            self.firing_minutes_ms[i] += minutes_with_firing_ms(s.duration_ms, times);
            self.sessions_firing[i] += u64::from(!times.is_empty());
        }
    }

    fn merge(&mut self, o: &Totals) {
        self.sessions += o.sessions;
        self.duration_ms += o.duration_ms;
        self.clicks += o.clicks;
        self.drags += o.drags;
        self.lone_ups += o.lone_ups;
        for i in 0..DETECTORS.len() {
            self.firings[i] += o.firings[i];
            self.firing_minutes_ms[i] += o.firing_minutes_ms[i];
            self.sessions_firing[i] += o.sessions_firing[i];
        }
    }

    /// % of session-minutes with ≥ 1 firing of detector `i`.
    pub fn minute_pct(&self, i: usize) -> f64 {
        100.0 * self.firing_minutes_ms[i] as f64 / (self.duration_ms.max(1)) as f64
    }

    /// Session-minutes.
    pub fn minutes(&self) -> f64 {
        self.duration_ms as f64 / f64::from(MINUTE_MS)
    }

    /// The table for one data set.
    pub fn table(&self, title: &str) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "== {title}: {} sessions, {:.1} session-minutes, {} clicks", self.sessions, self.minutes(), self.clicks);
        let _ = writeln!(
            t,
            "{:<32} {:>8} {:>16} {:>20} {:>16}",
            "detector", "firings", "per 1,000 clicks", "% session-min >= 1", "% sessions >= 1"
        );
        for (i, name) in DETECTORS.iter().enumerate() {
            let per_k = 1000.0 * self.firings[i] as f64 / (self.clicks.max(1)) as f64;
            let sess_pct = 100.0 * self.sessions_firing[i] as f64 / (self.sessions.max(1)) as f64;
            let _ = writeln!(t, "{name:<32} {:>8} {per_k:>16.2} {:>19.2}% {sess_pct:>15.1}%", self.firings[i], self.minute_pct(i));
        }
        t
    }
}

fn sapimouse_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let rd = |d: &Path| std::fs::read_dir(d).map_err(|e| format!("cannot read {}: {e}", d.display()));
    let mut out = Vec::new();
    for user in rd(dir)? {
        let user = user.map_err(|e| e.to_string())?;
        let uname = user.file_name().to_string_lossy().into_owned();
        if !uname.starts_with("user") || !user.path().is_dir() {
            continue;
        }
        for f in rd(&user.path())? {
            let f = f.map_err(|e| e.to_string())?;
            let fname = f.file_name().to_string_lossy().into_owned();
            if fname.starts_with("session_") && (fname.ends_with("1min.csv") || fname.ends_with("3min.csv")) {
                out.push((format!("{uname}/{}", fname.trim_end_matches(".csv")), f.path()));
            }
        }
    }
    // Natural order: user2 < user10 < user62.1 < user62.2.
    let key = |n: &str| {
        let digits: String = n["user".len()..].chars().take_while(char::is_ascii_digit).collect();
        (digits.parse::<u32>().unwrap_or(u32::MAX), n.to_string())
    };
    out.sort_by_key(|(n, _)| key(n));
    Ok(out)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Which half of the human recordings a session belongs to: SapiMouse users whose number is a
/// multiple of 4 and iweb's odd-numbered subjects are the test half; the rest is train.
pub fn human_split(name: &str) -> corpus::Split {
    let number = |after: &str| -> Option<u32> {
        let at = name.find(after)? + after.len();
        name[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
    };
    let test = if name.contains("(subject ") {
        number("subject ").is_some_and(|n| n % 2 == 1)
    } else {
        number("user").is_some_and(|n| n % 4 == 0)
    };
    if test {
        corpus::Split::Test
    } else {
        corpus::Split::Train
    }
}

/// The emotions that lead to an intervention (all but `engaged`).
const STRUGGLE: [Emotion; 5] = [Emotion::Rage, Emotion::Frustration, Emotion::Confusion, Emotion::Hesitation, Emotion::Abandonment];

/// Intervention-grade firing of every struggle emotion on a set of human sessions.
#[derive(Clone, Debug, Default)]
struct HumanTotals {
    sessions: u64,
    duration_ms: u64,
    /// Per [`STRUGGLE`] emotion, then "any": summed length of minutes with a firing.
    firing_ms: [u64; 6],
    /// Summed length of minutes in which a person would have been paged (the server's paging
    /// bar, [`shared_physics::paging`]), and the sessions with such a page.
    paging_ms: u64,
    paged_sessions: u64,
    /// Summed length of minutes with a firing of OpenReplay's thrashing rule, and of the
    /// sessions that have pointer moves for it to read.
    thrashing_ms: u64,
    moves_ms: u64,
}

impl HumanTotals {
    fn add(&mut self, duration_ms: u32, detections: &[Detection], thrashing: &[u32], has_moves: bool) {
        if has_moves {
            self.moves_ms += u64::from(duration_ms);
            self.thrashing_ms += minutes_with_firing_ms(duration_ms, thrashing);
        }
        self.sessions += 1;
        self.duration_ms += u64::from(duration_ms);
        let grade = |e: Option<Emotion>| -> Vec<u32> {
            detections
                .iter()
                .filter(|d| d.confidence >= INTERVENTION_GRADE && e.map_or(d.emotion != Emotion::Engaged, |e| d.emotion == e))
                .map(|d| d.t_ms)
                .collect()
        };
        for (i, e) in STRUGGLE.iter().enumerate() {
            self.firing_ms[i] += minutes_with_firing_ms(duration_ms, &grade(Some(*e)));
        }
        self.firing_ms[5] += minutes_with_firing_ms(duration_ms, &grade(None));
        // The same detections through the paging bar, in page-time order, as the server applies it.
        let mut bar = shared_physics::paging::Persistence::new();
        let mut ordered: Vec<&Detection> = detections.iter().collect();
        ordered.sort_by_key(|d| d.t_ms);
        let pages: Vec<u32> = ordered
            .into_iter()
            .filter(|d| bar.note(d.emotion, d.confidence_pct(), d.t_ms, shared_physics::paging::DEFAULT_CONFIDENCE_PCT))
            .map(|d| d.t_ms)
            .collect();
        self.paging_ms += minutes_with_firing_ms(duration_ms, &pages);
        self.paged_sessions += u64::from(!pages.is_empty());
    }

    fn paging_pct(&self) -> f64 {
        100.0 * self.paging_ms as f64 / self.duration_ms.max(1) as f64
    }

    fn pct(&self, i: usize) -> f64 {
        100.0 * self.firing_ms[i] as f64 / self.duration_ms.max(1) as f64
    }

    fn minutes(&self) -> f64 {
        self.duration_ms as f64 / MINUTE_MS as f64
    }
}

/// `cargo xtask eval [--human DIR] [--corpus DIR] [--list] [--fit]`.
pub fn eval(root: &Path, args: &[&str]) -> Result<(), String> {
    let mut human = root.join("../shared/data/human");
    let mut corpus_dir = root.join("corpus");
    let (mut list, mut fit, mut real_only) = (false, false, false);
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        match a {
            "--human" => human = PathBuf::from(it.next().ok_or(USAGE)?),
            "--corpus" => corpus_dir = PathBuf::from(it.next().ok_or(USAGE)?),
            "--list" => list = true,
            "--fit" => fit = true,
            "--real-only" => real_only = true,
            _ => return Err(USAGE.to_string()),
        }
    }
    if !human.is_dir() {
        return Err(format!("human recordings not found: {} does not exist (pass --human DIR)", human.display()));
    }
    // Real people with the page's answers known, and real browsing: the sets the detectors are
    // judged on first (`eval/real.rs`).
    println!("{}", real::report(&human, list)?);
    if real_only {
        return Ok(());
    }
    let sapi_dir = human.join("sapimouse");
    let iweb_csv = human.join("iweb/dataset/raw_data/raw_data.csv");
    for p in [&sapi_dir, &iweb_csv] {
        if !p.exists() {
            return Err(format!("{} does not exist", p.display()));
        }
    }

    let mut interventions = Vec::new();
    let mut humans: Vec<(Session, Outcome)> = Vec::new();
    let files = sapimouse_files(&sapi_dir)?;
    let mut sapi = Totals::default();
    for (i, (name, path)) in files.iter().enumerate() {
        let s = parse_sapimouse(name, &read(path)?)?;
        let o = run_session(&s);
        sapi.add(&s, &o);
        interventions.extend(o.interventions.iter().cloned());
        humans.push((s, o));
        if (i + 1) % 20 == 0 || i + 1 == files.len() {
            eprintln!("eval: sapimouse {}/{} files", i + 1, files.len());
        }
    }

    let (trials, bad) = parse_iweb(&read(&iweb_csv)?)?;
    eprintln!("eval: iweb {} trials read from {}", trials.len(), iweb_csv.display());
    for (line, why) in &bad {
        eprintln!("eval: iweb line {line}: not parsed: {why}");
    }
    let mut iweb = Totals::default();
    for s in trials {
        let o = run_session(&s);
        iweb.add(&s, &o);
        interventions.extend(o.interventions.iter().cloned());
        humans.push((s, o));
    }

    println!("== rage on human recordings, ours beside the peers' published rules (no page answers in these recordings:");
    println!("   ours is shown as it would score if every click were dead; replayed without answers it claims none of them)\n");
    println!("{}", sapi.table("SapiMouse"));
    println!("   ({} left presses released > {CLICK_SLOP_PX} px away: drags, not clicks)\n", sapi.drags);
    println!("{}", iweb.table("iweb"));
    println!(
        "   (clicks = {} press+release within {CLICK_SLOP_PX} px + {} releases without a recorded press (zoom buttons); {} pans not counted; {} rows not parsed{})\n",
        iweb.clicks - iweb.lone_ups,
        iweb.lone_ups,
        iweb.drags,
        bad.len(),
        if bad.is_empty() { String::new() } else { format!(": lines {}", bad.iter().map(|(l, _)| l.to_string()).collect::<Vec<_>>().join(", ")) }
    );
    let mut both = sapi.clone();
    both.merge(&iweb);
    println!("{}", both.table("both"));
    if list {
        println!("intervention-grade rage firings of ours:");
        for f in &interventions {
            println!(
                "  {:<48} t={:>7.1} s  conf {:.3}  clicks {}  mean ici {:>5.0} ms  dispersion {:>5.1} px",
                f.session,
                f.t_ms as f64 / 1000.0,
                f.confidence,
                f.clicks,
                f.mean_ici_ms,
                f.dispersion_px
            );
        }
        println!("intervention-grade firings of the long-window emotions:");
        for (s, o) in &humans {
            for d in o.detections.iter().filter(|d| d.emotion != Emotion::Rage && d.confidence >= INTERVENTION_GRADE) {
                println!("  {:<48} t={:>7.1} s  {} {:.2} {:?}", s.name, d.t_ms as f64 / 1000.0, d.emotion.name(), d.confidence, d.features);
            }
        }
        println!();
    }

    // iweb's own label: each trial's opinion score (ACR 1 = bad .. 5 = excellent) under an
    // injected network delay. Long delays made people click the map's controls again and again.
    println!("== iweb trials by the subject's opinion score (ACR): share of trials with intervention-grade rage");
    println!("{:<5} {:>7} {:>14} {:>16}", "ACR", "trials", "rage >= 0.85", "median delay ms");
    for acr in 1..=5 {
        let tag = format!("ACR {acr})");
        let these: Vec<&(Session, Outcome)> =
            humans.iter().filter(|(s, _)| s.name.contains("(subject ") && s.name.ends_with(&tag)).collect();
        if these.is_empty() {
            continue;
        }
        let fired = these.iter().filter(|(_, o)| !o.firings[1].is_empty()).count();
        let mut delays: Vec<u32> =
            these.iter().filter_map(|(s, _)| s.name.split(", ").nth(1).and_then(|d| d.trim_end_matches("ms").parse().ok())).collect();
        delays.sort_unstable();
        let median = delays.get(delays.len() / 2).copied().unwrap_or(0);
        println!("{acr:<5} {:>7} {:>13.1}% {median:>16}", these.len(), 100.0 * fired as f64 / these.len() as f64);
    }
    println!();

    // Every struggle emotion, by split.
    let (mut train, mut test) = (HumanTotals::default(), HumanTotals::default());
    let mut human_claims: [Vec<corpus::Claims>; 2] = [Vec::new(), Vec::new()];
    for (s, o) in &humans {
        let split = human_split(&s.name);
        if split == corpus::Split::Test { &mut test } else { &mut train }.add(
            s.duration_ms,
            &o.detections,
            &o.thrashing,
            s.samples.iter().any(|m| m.kind == Kind::Move),
        );
        // Rage and frustration read the page's answers, which these recordings lack: their
        // claims here are out of the corpus's regime and left out of calibration.
        let mut claims = corpus::claims(&o.detections);
        for e in Emotion::ALL.into_iter().filter(|e| needs_answers(*e)) {
            claims[e as usize] = None;
        }
        human_claims[usize::from(split == corpus::Split::Test)].push(claims);
    }
    println!("== every emotion on human recordings, intervention grade (>= {INTERVENTION_GRADE}), % of session-minutes with a firing");
    println!("   (these recordings carry no page answers, so no click counts as dead: frustration's dead clicks cannot be seen)");
    println!(
        "   (beside confusion: OpenReplay's mouse-thrashing rule, > 4 x-direction changes and a speed rise > 0.008 px/ms² per 225 ms;"
    );
    println!("    it reads pointer moves, which only SapiMouse has: its column is a share of the SapiMouse minutes alone)");
    println!(
        "{:<6} {:>8} {:>9} {:>7} {:>12} {:>10} {:>11} {:>12} {:>8}   {:>16}",
        "split", "sessions", "minutes", "rage", "frustration", "confusion", "hesitation", "abandonment", "any", "OpenReplay thrash"
    );
    for (name, h) in [("train", &train), ("test", &test)] {
        println!(
            "{name:<6} {:>8} {:>9.1} {:>6.2}% {:>11.2}% {:>9.2}% {:>10.2}% {:>11.2}% {:>7.2}%   {:>15.2}%",
            h.sessions,
            h.minutes(),
            h.pct(0),
            h.pct(1),
            h.pct(2),
            h.pct(3),
            h.pct(4),
            h.pct(5),
            100.0 * h.thrashing_ms as f64 / h.moves_ms.max(1) as f64
        );
    }
    println!();

    if corpus_dir.join("manifest.csv").is_file() {
        let traces = corpus::load(&corpus_dir)?;
        eprintln!("eval: corpus {} traces read from {}", traces.len(), corpus_dir.display());
        let scored = corpus::score(&traces);
        println!("{}", corpus::report(&scored, corpus::Split::Train, &human_claims[0]));
        println!("{}", corpus::report(&scored, corpus::Split::Test, &human_claims[1]));
        if fit {
            println!("{}", fit_calibration(&traces, &humans));
        }
    } else {
        println!("(no labelled corpus at {}: pass --corpus DIR)\n", corpus_dir.display());
    }

    println!(
        "== the paging bar on human recordings (a struggle >= {}% persisting over a second burst {}-{} s later)",
        shared_physics::paging::DEFAULT_CONFIDENCE_PCT,
        shared_physics::paging::MIN_GAP_MS / 1000,
        shared_physics::paging::WINDOW_MS / 1000
    );
    for (name, h) in [("train", &train), ("test", &test)] {
        println!(
            "{name:<6} {:>5} of {:>4} sessions would page a person; {:.2}% of {:.1} session-minutes",
            h.paged_sessions,
            h.sessions,
            h.paging_pct(),
            h.minutes()
        );
    }
    println!("paging-grade firing on human recordings: {:.2}% of {:.1} session-minutes\n", test.paging_pct(), test.minutes());
    println!("intervention-grade firing on human recordings: {:.2}% of {:.1} session-minutes", test.pct(5), test.minutes());
    Ok(())
}

/// Whether `emotion` can be judged on recordings without page answers (rage and frustration
/// read the page's answers to clicks; the human recordings have none).
pub fn needs_answers(emotion: Emotion) -> bool {
    matches!(emotion, Emotion::Rage | Emotion::Frustration)
}

/// `--fit`: Platt parameters per emotion from the train split (and, for the emotions that do not
/// need page answers, the human train half as negatives), replayed with an emit floor of 1%.
fn fit_calibration(traces: &[corpus::Trace], humans: &[(Session, Outcome)]) -> String {
    let mut params = Params::DEFAULT;
    params.trace.emit_floor_pct = 1;
    let mut points: [Vec<(f32, bool)>; 6] = Default::default();
    let mut add = |detections: &[Detection], label: Option<Emotion>, human: bool| {
        let mut best: [Option<f32>; 6] = [None; 6];
        for d in detections {
            let slot = &mut best[d.emotion as usize];
            *slot = Some(slot.map_or(d.features.score, |b: f32| b.max(d.features.score)));
        }
        for (i, b) in best.iter().enumerate() {
            if let (Some(z), false) = (b, human && needs_answers(Emotion::ALL[i])) {
                points[i].push((*z, label == Some(Emotion::ALL[i])));
            }
        }
    };
    for t in traces.iter().filter(|t| t.split == corpus::Split::Train) {
        add(&corpus::replay(&t.samples, &t.sections, params), t.label, false);
    }
    let mut human_params = params;
    human_params.trace.answers = false;
    for (s, _) in humans.iter().filter(|(s, _)| human_split(&s.name) == corpus::Split::Train) {
        add(&corpus::replay(&s.samples, &[], human_params), None, true);
    }
    let mut out = String::from("== Platt fit on the train split (paste into shared-physics/src/calibration.rs)\n");
    for e in Emotion::ALL {
        let pts = &points[e as usize];
        let positives = pts.iter().filter(|p| p.1).count();
        if positives < 3 || pts.len() - positives < 3 {
            let _ = writeln!(out, "{:<12} {} points ({positives} positive): too few of one kind, identity kept", e.name(), pts.len());
            continue;
        }
        let (a, b) = corpus::fit_platt(pts, 1.0);
        let _ = writeln!(out, "{:<12} {} points ({positives} positive): a = {a:.4}, b = {b:.4}", e.name(), pts.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clicks(rule: &mut dyn Rule, cs: &[(u32, f32, f32)]) -> usize {
        cs.iter().filter(|&&(t, x, y)| rule.click(Click { t, x, y, target: 0 })).count()
    }

    /// Datadog fed clicks (with targets) and other samples; its firings once every chain ends.
    fn datadog(samples: &[(Sample, u32)]) -> Vec<u32> {
        let mut dd = Datadog::default();
        let mut out: Vec<u32> = samples.iter().filter_map(|(s, target)| dd.feed(s, *target)).collect();
        out.extend(dd.finish());
        out
    }

    #[test]
    fn sapimouse_parser_maps_states_and_makes_left_clicks() {
        let text = "client timestamp,button,state,x,y\n\
                    1000,NoButton,Move,10,10\n\
                    1016,Left,Pressed,10,10\n\
                    1017,Left,Pressed,10,10\n\
                    1030,Left,Drag,11,10\n\
                    1080,Left,Released,12,11\n\
                    1200,Right,Pressed,50,50\n\
                    1250,Right,Released,50,50\n\
                    1300,Left,Pressed,50,50\n\
                    1400,Left,Drag,90,50\n\
                    1500,Left,Released,90,50\n\
                    1600,NoButton,Move,40000,-40000\n";
        let s = parse_sapimouse("u/s", text).unwrap();
        let kinds: Vec<Kind> = s.samples.iter().map(|s| s.kind).collect();
        use Kind::*;
        assert_eq!(kinds, [Move, Down, Down, Move, Up, Click, Down, Up, Down, Move, Up, Move]);
        let click = s.clicks().next().unwrap();
        assert_eq!((click.t_ms, click.x, click.y), (80, 12, 11));
        assert_eq!(s.clicks().count(), 1, "duplicate press, right click and drag are one click in all");
        assert_eq!(s.drags, 1);
        assert_eq!(s.duration_ms, 1000);
        assert_eq!((s.samples[11].x, s.samples[11].y), (i16::MAX, i16::MIN));
        assert!(parse_sapimouse("bad", "client timestamp,button,state,x,y\n1,Left,Hover,1,1\n").is_err());
    }

    #[test]
    fn iweb_parser_reads_downs_ups_and_negative_positions() {
        let ev =
            parse_iweb_clicks("-9:Down:1000:101:168:0,up:1100:101-168:0,up:1500:98--3:0,4304:Down:2000:10:10:0,up:2400:-5-300:0").unwrap();
        assert_eq!(
            ev,
            [
                IwebEvent::Down { t: 1000, x: 101, y: 168 },
                IwebEvent::Up { t: 1100, x: 101, y: 168 },
                IwebEvent::Up { t: 1500, x: 98, y: -3 },
                IwebEvent::Down { t: 2000, x: 10, y: 10 },
                IwebEvent::Up { t: 2400, x: -5, y: 300 },
            ]
        );
        let s = iweb_session("t".into(), &ev).unwrap();
        // Down+up in place is a click, a lone up is a click, a far up after a down is a pan.
        let c: Vec<(u32, i16, i16)> = s.clicks().map(|c| (c.t_ms, c.x, c.y)).collect();
        assert_eq!(c, [(100, 101, 168), (500, 98, -3)]);
        assert_eq!((s.drags, s.lone_ups, s.duration_ms), (1, 1, 1400));
        // A one-event trial still counts one second.
        assert_eq!(iweb_session("t".into(), &ev[..1]).unwrap().duration_ms, 1000);
        assert!(parse_iweb_clicks("up:12:34:0").is_err());
        assert!(parse_iweb_clicks("x:Down:1:2:3").is_err());
        assert!(parse_iweb_clicks("").is_err());
    }

    #[test]
    fn iweb_file_reports_bad_rows_by_line() {
        let text = ",typ,iLTs,ACR,net_delay,mouse_clicks,subject\n\
                    0,map,1,1,600ms,\"-9:Down:1:1:1:0,up:2:1-1:0\",1\n\
                    1,map,1,1,600ms,\"garbage\",1\n\
                    2,sat,1,5,1ms,\"up:5:1-1:0,up:9:1-1:0\",2\n";
        let (ok, bad) = parse_iweb(text).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].name, "line   4 (subject 2, 1ms, ACR 5)");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 3);
    }

    #[test]
    fn posthog_fires_on_three_close_fast_clicks_only() {
        assert_eq!(clicks(&mut PostHog::default(), &[(0, 0.0, 0.0), (900, 10.0, 10.0), (1800, 20.0, 15.0)]), 1);
        // 1 s gap, or 30 px Manhattan (20 + 10), breaks the chain.
        assert_eq!(clicks(&mut PostHog::default(), &[(0, 0.0, 0.0), (1000, 0.0, 0.0), (1500, 0.0, 0.0)]), 0);
        assert_eq!(clicks(&mut PostHog::default(), &[(0, 0.0, 0.0), (100, 20.0, 10.0), (200, 40.0, 20.0)]), 0);
    }

    #[test]
    fn amplitude_fires_on_four_clicks_within_a_second_only() {
        assert_eq!(clicks(&mut Amplitude::default(), &[(0, 0.0, 0.0), (300, 500.0, 0.0), (600, 0.0, 900.0), (1000, 5.0, 5.0)]), 1);
        assert_eq!(clicks(&mut Amplitude::default(), &[(0, 0.0, 0.0), (300, 0.0, 0.0), (600, 0.0, 0.0), (1001, 0.0, 0.0)]), 0);
    }

    #[test]
    fn datadog_fires_on_three_clicks_within_a_second_and_100_px_only() {
        let c = |t: u32, x: i64, target: u32| (sample(t, x, 0, Kind::Click), target);
        let none: [u32; 0] = [];
        assert_eq!(datadog(&[c(0, 0, 0), c(400, 90, 0), c(1000, 150, 0)]), [1000]);
        assert_eq!(datadog(&[c(0, 0, 0), c(400, 101, 0), c(800, 101, 0)]), none);
        assert_eq!(datadog(&[c(0, 0, 0), c(600, 0, 0), c(1200, 0, 0)]), none);
        // Another element breaks the chain.
        assert_eq!(datadog(&[c(0, 0, 1), c(200, 0, 2), c(400, 0, 1)]), none);
        // A scroll while the chain's clicks are active: not rage.
        let scroll = (sample(500, 0, 300, Kind::Scroll), 0);
        assert_eq!(datadog(&[c(0, 0, 1), c(200, 0, 1), c(400, 0, 1), scroll]), none);
        // A chain stays one rage however long it grows; its timer ends it.
        let chain: Vec<(Sample, u32)> = (0..8).map(|i| c(i * 200, 0, 1)).chain([c(5000, 0, 1)]).collect();
        assert_eq!(datadog(&chain), [400]);
    }

    /// Moves every 16 ms from `t0` for `n` steps, `step(i)` giving the x offset of step `i`.
    fn moves(t0: u32, n: u32, step: impl Fn(u32) -> i32) -> Vec<Sample> {
        let mut x = 500i64;
        (0..n)
            .map(|i| {
                x += i64::from(step(i));
                sample(t0 + i * 16, x, 300, Kind::Move)
            })
            .collect()
    }

    fn openreplay(samples: &[Sample]) -> Vec<u32> {
        let mut r = OpenReplay::default();
        samples.iter().filter(|s| r.sample(s)).map(|s| s.t_ms).collect()
    }

    #[test]
    fn openreplay_fires_when_the_pointer_starts_shaking_and_not_on_a_fast_sweep() {
        // A slow drift (2 px a step), then shaking: ±60 px every 16 ms for about a second.
        let mut shake = moves(0, 60, |_| 2);
        shake.extend(moves(960, 60, |i| if i % 2 == 0 { 60 } else { -60 }));
        shake.push(sample(3_000, 500, 300, Kind::Move));
        let fired = openreplay(&shake);
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!((960..=1_500).contains(&fired[0]), "{fired:?}");
        // The same speed rise without reversals: a sweep from rest.
        let mut sweep = moves(0, 60, |_| 2);
        sweep.extend(moves(960, 60, |_| 60));
        sweep.push(sample(3_000, 500, 300, Kind::Move));
        assert!(openreplay(&sweep).is_empty());
        // Shaking with no rise in speed (it has been shaking since the start) fires at most once,
        // at its start: the rule looks at a rise, not a level.
        let steady: Vec<Sample> = moves(0, 200, |i| if i % 2 == 0 { 60 } else { -60 });
        assert!(openreplay(&steady).len() <= 1);
    }

    #[test]
    fn every_detector_fires_once_per_burst() {
        // Two bursts of eight fast in-place clicks, ten seconds apart.
        let mut samples = Vec::new();
        for start in [1_000u32, 11_000] {
            for i in 0..8 {
                samples.push(sample(start + i * 120, 400, 300, Kind::Click));
            }
        }
        let s = Session { name: "t".into(), duration_ms: 30_000, samples, drags: 0, lone_ups: 0 };
        let o = run_session(&s);
        for (name, times) in DETECTORS.iter().zip(&o.firings) {
            assert_eq!(times.len(), 2, "{name}: {times:?}");
        }
        // Ours is counted once per burst, at the burst's first click.
        assert_eq!(o.firings[0], [1_000, 11_000]);
        assert!(o.firings[2..].iter().all(|t| t[0] < 2_000 && t[1] > 11_000));
        let mut e = RisingEdge::default();
        assert_eq!([true, true, false, true].map(|h| e.update(h)), [true, false, false, true]);
    }

    #[test]
    fn firing_minutes_are_weighted_by_their_length() {
        // A 150 s session: minutes of 60, 60 and 30 s.
        assert_eq!(minutes_with_firing_ms(150_000, &[]), 0);
        assert_eq!(minutes_with_firing_ms(150_000, &[1_000, 59_000]), 60_000);
        assert_eq!(minutes_with_firing_ms(150_000, &[130_000, 150_000]), 30_000);
        assert_eq!(minutes_with_firing_ms(150_000, &[0, 61_000, 149_000]), 150_000);
        assert_eq!(minutes_with_firing_ms(1_000, &[0]), 1_000);
    }
}
