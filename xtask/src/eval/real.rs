//! Real people with the page's answers known (MiniWoB++ demos) and real browsing with scroll
//! (DLRV), both in the event CSV (`docs/event-csv.md`), split by visitor ([`super::split`]).
//!
//! ## MiniWoB++ (`miniwob/events.csv.gz`, `miniwob/demos.csv`)
//!
//! Each demo is one person doing one small task; the recording kept the page state around every
//! mouse handler, so a `response` row follows every click the page answered. A demo is **fully
//! answered** when it has at least one click and the page answered every one of them
//! (`answered == clicks` in `demos.csv`): ordinary use, on which no struggle may be claimed.
//! Demos with an unanswered click, and failed tasks (`reward ≤ 0`), are reported apart: a weak
//! label of trouble. A demo *fires* when any struggle emotion (all but `engaged`) reaches the
//! intervention grade (≥ 0.85) anywhere in it; a peer's rage rule fires when it fires once.
//!
//! ## DLRV (`dlrv/dev.csv.gz`)
//!
//! Visits of a browser study: moves and clicks, scrolls with the scroll offset in `y`, the
//! clicked element's tag in `target`; no page answers. The data's README calls the pointer's
//! coordinates page coordinates, but 84% of the moves made while the page was scrolled by more
//! than 200 px lie above the scroll offset (664,792 of 794,192), which page coordinates cannot:
//! they are replayed as recorded, as viewport coordinates. Times become ms since the visit's
//! first row. Replayed with `answers = false`: frustration is not
//! looked for and rage is never claimed at intervention grade (its bursts are counted apart, as
//! they would score if every click were dead). Firing is measured in session-minutes
//! ([`super::minutes_with_firing_ms`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use shared_physics::detect::{Detection, Detector, LoaderQuiet, Params};
use shared_physics::emotions::{SectionClass, TraceParams};
use shared_physics::{Emotion, Kind, Sample};

use super::corpus::{self, Split};
use super::split::split_of;
use super::{Amplitude, Click, Datadog, OpenReplay, PostHog, Rule, INTERVENTION_GRADE, MINUTE_MS};

/// The emotions that lead to an intervention, in table order.
pub const STRUGGLE: [Emotion; 5] = [Emotion::Rage, Emotion::Frustration, Emotion::Confusion, Emotion::Hesitation, Emotion::Abandonment];

/// One recording of either set.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Its session id.
    pub name: String,
    /// Half.
    pub split: Split,
    /// Samples in time order.
    pub samples: Vec<Sample>,
    /// The element each sample names (`target`: a hash of the tag in DLRV), 0 when none.
    pub targets: Vec<u32>,
    /// First to last row, at least 1 s.
    pub duration_ms: u32,
}

/// One MiniWoB++ demo.
#[derive(Clone, Debug)]
pub struct Demo {
    /// The recording.
    pub rec: Recording,
    /// Task name.
    pub task: String,
    /// Reward (> 0: done).
    pub reward: f64,
    /// Clicks, and how many the page answered (`demos.csv`).
    pub clicks: u32,
    /// See `clicks`.
    pub answered: u32,
}

impl Demo {
    /// Every click answered (and at least one click).
    pub fn fully_answered(&self) -> bool {
        self.clicks > 0 && self.answered == self.clicks
    }
}

fn gz_text(path: &Path) -> Result<String, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut s = String::new();
    flate2::read::GzDecoder::new(f).read_to_string(&mut s).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s)
}

/// Rows of an event CSV grouped by session in order of first appearance: `(session, rows)`,
/// each row `(t_ms, kind, x, y, target)`.
type Rows = Vec<(String, Vec<(u64, Kind, i64, i64, String)>)>;

fn event_rows(name: &str, text: &str) -> Result<Rows, String> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut out: Rows = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{name}: {e}"))?;
        let line = rec.position().map_or(0, |p| p.line());
        let bad = |why: &str| format!("{name} line {line}: {why}");
        let session = rec.get(0).unwrap_or("");
        let t: f64 = rec.get(1).unwrap_or("").parse().map_err(|_| bad("bad t_ms"))?;
        let kind = Kind::from_name(rec.get(2).unwrap_or("")).ok_or_else(|| bad("unknown kind"))?;
        let num = |i: usize| -> Result<i64, String> {
            let v = rec.get(i).unwrap_or("");
            if v.is_empty() {
                Ok(0)
            } else {
                v.parse::<f64>().map(|v| v as i64).map_err(|_| bad("bad coordinate"))
            }
        };
        let row = (t as u64, kind, num(3)?, num(4)?, rec.get(5).unwrap_or("").to_string());
        let i = *index.entry(session.to_string()).or_insert_with(|| {
            out.push((session.to_string(), Vec::new()));
            out.len() - 1
        });
        out[i].1.push(row);
    }
    Ok(out)
}

fn clamp16(v: i64) -> i16 {
    v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

fn recording(name: String, rows: &[(u64, Kind, i64, i64, String)], page_coords: bool) -> Recording {
    let t0 = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let mut scroll_y = 0i64;
    let mut samples = Vec::with_capacity(rows.len());
    let mut sorted: Vec<&(u64, Kind, i64, i64, String)> = rows.iter().collect();
    sorted.sort_by_key(|r| r.0);
    let mut targets = Vec::with_capacity(rows.len());
    for &(t, kind, x, y, ref target) in sorted {
        targets.push(if target.is_empty() || target == "NULL" { 0 } else { super::split::fnv1a(target.as_bytes()) as u32 | 1 });
        let t_ms = u32::try_from(t - t0).unwrap_or(u32::MAX);
        let y = match kind {
            Kind::Scroll => {
                scroll_y = y;
                y
            }
            _ if page_coords && kind.is_pointer() => y - scroll_y,
            _ => y,
        };
        samples.push(Sample { t_ms, x: clamp16(x), y: clamp16(y), kind, section: 0 });
    }
    let span = samples.last().map_or(0, |s| s.t_ms);
    Recording { split: split_of(&name), name, samples, targets, duration_ms: span.max(1000) }
}

/// Reads the MiniWoB++ demos of `dir` (`events.csv.gz` and `demos.csv`).
pub fn load_miniwob(dir: &Path) -> Result<Vec<Demo>, String> {
    let demos_csv = dir.join("demos.csv");
    let text = std::fs::read_to_string(&demos_csv).map_err(|e| format!("cannot read {}: {e}", demos_csv.display()))?;
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut meta: HashMap<String, (String, f64, u32, u32)> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", demos_csv.display()))?;
        let f = |i: usize| rec.get(i).unwrap_or("").to_string();
        let n = |i: usize| rec.get(i).unwrap_or("").parse::<f64>().unwrap_or(0.0);
        meta.insert(f(0), (f(1), n(2), n(3) as u32, n(4) as u32));
    }
    let rows = event_rows("miniwob/events.csv.gz", &gz_text(&dir.join("events.csv.gz"))?)?;
    let mut with_events: HashMap<String, Recording> =
        rows.into_iter().map(|(name, r)| (name.clone(), recording(name, &r, false))).collect();
    let mut out: Vec<Demo> = meta
        .into_iter()
        .map(|(name, (task, reward, clicks, answered))| {
            let rec = with_events.remove(&name).unwrap_or_else(|| Recording {
                split: split_of(&name),
                name: name.clone(),
                samples: Vec::new(),
                targets: Vec::new(),
                duration_ms: 1000,
            });
            Demo { rec, task, reward, clicks, answered }
        })
        .collect();
    out.sort_by(|a, b| a.rec.name.cmp(&b.rec.name));
    Ok(out)
}

/// Tags whose click a live page always answers in the loader's terms: a text field or select
/// takes the focus or moves the caret (`focusin`, `selectionchange`), a label forwards the click
/// to its input, a link navigates.
const ANSWERING_TAGS: [&str; 5] = ["INPUT", "TEXTAREA", "SELECT", "LABEL", "A"];

/// `v` with a `response` row 1 ms after every click on an [`ANSWERING_TAGS`] element: the
/// recording as a live page would answer it if every other click were dead.
fn answering_elements_answer(v: &Recording) -> (Vec<Sample>, Vec<u32>) {
    let answering: Vec<u32> = ANSWERING_TAGS.iter().map(|t| super::split::fnv1a(t.as_bytes()) as u32 | 1).collect();
    let (mut samples, mut targets) = (Vec::with_capacity(v.samples.len()), Vec::with_capacity(v.samples.len()));
    for (s, &t) in v.samples.iter().zip(&v.targets) {
        samples.push(*s);
        targets.push(t);
        if s.kind == Kind::Click && answering.contains(&t) {
            samples.push(Sample { t_ms: s.t_ms + 1, x: 0, y: 0, kind: Kind::Response, section: 0 });
            targets.push(0);
        }
    }
    (samples, targets)
}

/// Reads the DLRV visits of `dir/dev.csv.gz`.
pub fn load_dlrv(dir: &Path) -> Result<Vec<Recording>, String> {
    let rows = event_rows("dlrv/dev.csv.gz", &gz_text(&dir.join("dev.csv.gz"))?)?;
    Ok(rows.into_iter().map(|(name, r)| recording(name, &r, false)).collect())
}

/// What every detector did on one recording.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Every detection of ours, as emitted.
    pub detections: Vec<Detection>,
    /// Firing times of each peer's rage rule (PostHog, Datadog, Amplitude/Mixpanel).
    pub peers: [Vec<u32>; 3],
    /// Firing times of OpenReplay's thrashing rule.
    pub thrashing: Vec<u32>,
    /// Clicks at which our rage detector, ignoring whether the page's answers are known, holds
    /// at intervention grade (first click of each such burst).
    pub rage_if_dead: Vec<u32>,
    /// Times of intervention-grade confusion when the recording is replayed as if every click
    /// were dead (a source without answers read as one whose page answered nothing): the worst
    /// case for confusion's failed-action rule.
    pub confusion_if_dead: Vec<u32>,
    /// The same, with the clicks on elements a live page always answers (text fields, labels,
    /// links: [`ANSWERING_TAGS`]) answered and every other click dead.
    pub confusion_if_controls_dead: Vec<u32>,
    /// Rage, the same way.
    pub rage_if_controls_dead: Vec<u32>,
    /// Times of intervention-grade hesitation when the recording is replayed as if the whole
    /// page were a decision section (a pricing page): the worst case for hesitation, which is
    /// looked for only on decision and checkout sections, none of which a recording without
    /// sections has.
    pub hesitation_if_decision: Vec<u32>,
}

impl Run {
    /// Times of our intervention-grade detections of `e` (or any struggle emotion).
    pub fn fired(&self, e: Option<Emotion>) -> Vec<u32> {
        self.detections
            .iter()
            .filter(|d| d.confidence >= INTERVENTION_GRADE && e.map_or(d.emotion != Emotion::Engaged, |e| d.emotion == e))
            .map(|d| d.t_ms)
            .collect()
    }
}

/// Replays `samples` through our detector with `params`, and through the peers' rules
/// (`targets`: the element each sample names, 0 = not recorded; may be empty). Our detector
/// gets the loader's quiet rows ([`LoaderQuiet`]) the recording does not carry.
pub fn run(samples: &[Sample], targets: &[u32], params: Params) -> Run {
    run_on(samples, targets, params, SectionClass::Other)
}

/// [`run`] with the samples that name no section (section 0) on a section of class `page`.
pub fn run_on(samples: &[Sample], targets: &[u32], params: Params, page: SectionClass) -> Run {
    let mut det = Detector::new(params);
    det.set_section_class(0, page);
    let mut quiet = LoaderQuiet::default();
    let mut if_dead = super::IfDead::new(params.rage);
    let mut out = Run::default();
    let (mut ph, mut dd, mut amp) = (PostHog::default(), Datadog::default(), Amplitude::default());
    let mut thrash = OpenReplay::default();
    for (i, s) in samples.iter().enumerate() {
        if thrash.sample(s) {
            out.thrashing.push(s.t_ms);
        }
        out.peers[1].extend(dd.feed(s, targets.get(i).copied().unwrap_or(0)));
        for row in quiet.feed(*s) {
            out.detections.extend(det.push(row));
        }
        out.rage_if_dead.extend(if_dead.feed(s).filter(|b| b.intervened).map(|b| b.first_ms));
        if s.kind != Kind::Click {
            continue;
        }
        let c = Click::from(s);
        for (i, fired) in [(0, ph.click(c)), (2, amp.click(c))] {
            if fired {
                out.peers[i].push(s.t_ms);
            }
        }
    }
    if let Some(q) = quiet.end() {
        out.detections.extend(det.push(q));
    }
    out.rage_if_dead.extend(if_dead.end().filter(|b| b.intervened).map(|b| b.first_ms));
    out.peers[1].extend(dd.finish());
    out
}

/// Parameters for a source with (or without) the page's answers.
pub fn params(answers: bool) -> Params {
    Params { trace: TraceParams { answers, ..TraceParams::DEFAULT }, ..Params::DEFAULT }
}

/// Counts over a set of demos: how many, and how many each detector fired on.
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoCounts {
    /// Demos.
    pub n: u32,
    /// Ours, any struggle emotion at intervention grade.
    pub ours: u32,
    /// Ours, per [`STRUGGLE`] emotion.
    pub by_emotion: [u32; 5],
    /// Peers (PostHog, Datadog, Amplitude/Mixpanel).
    pub peers: [u32; 3],
}

impl DemoCounts {
    fn add(&mut self, r: &Run) {
        self.n += 1;
        self.ours += u32::from(!r.fired(None).is_empty());
        for (i, e) in STRUGGLE.iter().enumerate() {
            self.by_emotion[i] += u32::from(!r.fired(Some(*e)).is_empty());
        }
        for i in 0..3 {
            self.peers[i] += u32::from(!r.peers[i].is_empty());
        }
    }

    fn pct(k: u32, n: u32) -> f64 {
        100.0 * f64::from(k) / f64::from(n.max(1))
    }

    fn line(&self, label: &str) -> String {
        let emo: Vec<String> =
            STRUGGLE.iter().zip(self.by_emotion).filter(|(_, k)| *k > 0).map(|(e, k)| format!("{} {k}", e.name())).collect();
        format!(
            "{label:<28} {:>6} {:>8.2}% {:>8.2}% {:>8.2}% {:>9.2}%   {}",
            self.n,
            Self::pct(self.ours, self.n),
            Self::pct(self.peers[0], self.n),
            Self::pct(self.peers[1], self.n),
            Self::pct(self.peers[2], self.n),
            if emo.is_empty() { "-".to_string() } else { emo.join(", ") }
        )
    }
}

fn demo_header() -> String {
    format!(
        "{:<28} {:>6} {:>9} {:>9} {:>9} {:>10}   {}",
        "task / set", "demos", "ours", "PostHog", "Datadog", "Amplitude", "ours by emotion (demos)"
    )
}

/// The MiniWoB++ report for one half.
pub fn miniwob_report(demos: &[(&Demo, Run)], split: Split) -> String {
    let which = if split == Split::Test { "test" } else { "train" };
    let these: Vec<&(&Demo, Run)> = demos.iter().filter(|(d, _)| d.rec.split == split).collect();
    let mut t = String::new();
    let answered: Vec<&&(&Demo, Run)> = these.iter().filter(|(d, _)| d.fully_answered()).collect();
    let _ = writeln!(
        t,
        "== MiniWoB++ demos, {which} half ({} demos, {} fully answered): share of demos fired on at intervention grade (ours: any struggle >= {INTERVENTION_GRADE}; peers: their rage rule fired)",
        these.len(),
        answered.len()
    );
    let _ = writeln!(t, "{}", demo_header());
    let mut tasks: Vec<&str> = answered.iter().map(|(d, _)| d.task.as_str()).collect();
    tasks.sort_unstable();
    tasks.dedup();
    let mut small = DemoCounts::default();
    let mut small_tasks = 0;
    for task in &tasks {
        let mut c = DemoCounts::default();
        for (_, r) in answered.iter().filter(|(d, _)| d.task == *task) {
            c.add(r);
        }
        if c.n >= 10 {
            let _ = writeln!(t, "{}", c.line(task));
        } else {
            small_tasks += 1;
            for (_, r) in answered.iter().filter(|(d, _)| d.task == *task) {
                small.add(r);
            }
        }
    }
    if small.n > 0 {
        let _ = writeln!(t, "{}", small.line(&format!("({small_tasks} tasks with < 10)")));
    }
    let mut all = DemoCounts::default();
    for (_, r) in &answered {
        all.add(r);
    }
    let _ = writeln!(t, "{}", all.line("ALL fully answered"));
    let mut unanswered = DemoCounts::default();
    for (_, r) in these.iter().filter(|(d, _)| d.answered < d.clicks) {
        unanswered.add(r);
    }
    let _ = writeln!(t, "{}", unanswered.line("with an unanswered click"));
    let (mut failed, mut done) = (DemoCounts::default(), DemoCounts::default());
    for (d, r) in &these {
        if d.reward > 0.0 { &mut done } else { &mut failed }.add(r);
    }
    let _ = writeln!(t, "{}", failed.line("task failed (reward <= 0)"));
    let _ = writeln!(t, "{}", done.line("task done (reward > 0)"));
    // The peers' bursts on answered controls: clicks they call rage whose every click the page
    // answered.
    let peer_bursts: Vec<usize> = (0..3).map(|i| answered.iter().map(|(_, r)| r.peers[i].len()).sum()).collect();
    let _ = writeln!(
        t,
        "rage bursts on answered controls (fully answered demos): PostHog {}, Datadog {}, Amplitude {}; ours at intervention grade {}",
        peer_bursts[0],
        peer_bursts[1],
        peer_bursts[2],
        answered.iter().map(|(_, r)| r.fired(Some(Emotion::Rage)).len()).sum::<usize>()
    );
    t
}

/// Session-minute totals over a set of visits.
#[derive(Clone, Debug, Default)]
pub struct MinuteTotals {
    /// Visits.
    pub sessions: u64,
    /// Summed duration, ms.
    pub duration_ms: u64,
    /// Per [`STRUGGLE`] emotion then "any": summed length of minutes with a firing of ours.
    pub ours: [u64; 6],
    /// Per peer rage rule.
    pub peers: [u64; 3],
    /// OpenReplay's thrashing.
    pub thrashing: u64,
    /// Rage bursts as they would score if every click were dead.
    pub rage_if_dead: u64,
    /// Confusion as it would score if every click were dead.
    pub confusion_if_dead: u64,
    /// Confusion as it would score if every click but those on answering elements were dead.
    pub confusion_if_controls_dead: u64,
    /// Rage as it would score if every click but those on answering elements were dead.
    pub rage_if_controls_dead: u64,
    /// Hesitation as it would score if the whole page were a decision section.
    pub hesitation_if_decision: u64,
}

impl MinuteTotals {
    /// Adds one visit.
    pub fn add(&mut self, rec: &Recording, r: &Run) {
        let m = |times: &[u32]| super::minutes_with_firing_ms(rec.duration_ms, times);
        self.sessions += 1;
        self.duration_ms += u64::from(rec.duration_ms);
        for (i, e) in STRUGGLE.iter().enumerate() {
            self.ours[i] += m(&r.fired(Some(*e)));
        }
        self.ours[5] += m(&r.fired(None));
        for i in 0..3 {
            self.peers[i] += m(&r.peers[i]);
        }
        self.thrashing += m(&r.thrashing);
        self.rage_if_dead += m(&r.rage_if_dead);
        self.confusion_if_dead += m(&r.confusion_if_dead);
        self.confusion_if_controls_dead += m(&r.confusion_if_controls_dead);
        self.rage_if_controls_dead += m(&r.rage_if_controls_dead);
        self.hesitation_if_decision += m(&r.hesitation_if_decision);
    }

    fn pct(&self, v: u64) -> f64 {
        100.0 * v as f64 / self.duration_ms.max(1) as f64
    }

    /// Session-minutes.
    pub fn minutes(&self) -> f64 {
        self.duration_ms as f64 / f64::from(MINUTE_MS)
    }
}

/// The DLRV report, both halves.
pub fn dlrv_report(visits: &[(&Recording, Run)]) -> String {
    let mut t = String::new();
    let _ =
        writeln!(t, "== DLRV visits (real browsing with scroll; no page answers): % of session-minutes with an intervention-grade firing");
    let _ = writeln!(
        t,
        "   (rage is not claimed without the page's answers; 'rage if dead' = bursts that would reach {INTERVENTION_GRADE} if every click were dead; 'confusion if dead' = confusion replayed as if every click were dead, the worst case for its failed-action rule; '(but inputs)' = rage and confusion replayed with clicks on INPUT, TEXTAREA, SELECT, LABEL and A answered, as a live page answers them, and every other click dead)"
    );
    let _ = writeln!(
        t,
        "{:<6} {:>6} {:>8} | {:>7} {:>12} {:>10} {:>11} {:>12} {:>7} | {:>12} {:>17} {:>20} | {:>8} {:>8} {:>10} {:>11}",
        "half",
        "visits",
        "minutes",
        "rage",
        "frustration",
        "confusion",
        "hesitation",
        "abandonment",
        "any",
        "rage if dead",
        "confusion if dead",
        "(but inputs) rage/conf",
        "PostHog",
        "Datadog",
        "Amplitude",
        "OpenReplay"
    );
    let mut totals = [MinuteTotals::default(), MinuteTotals::default()];
    for (split, m) in [Split::Train, Split::Test].into_iter().zip(&mut totals) {
        for (rec, r) in visits.iter().filter(|(v, _)| v.split == split) {
            m.add(rec, r);
        }
        let _ = writeln!(
            t,
            "{:<6} {:>6} {:>8.1} | {:>6.2}% {:>11.2}% {:>9.2}% {:>10.2}% {:>11.2}% {:>6.2}% | {:>11.2}% {:>16.2}% {:>11.2}% {:>6.2}% | {:>7.2}% {:>7.2}% {:>9.2}% {:>10.2}%",
            if split == Split::Test { "test" } else { "train" },
            m.sessions,
            m.minutes(),
            m.pct(m.ours[0]),
            m.pct(m.ours[1]),
            m.pct(m.ours[2]),
            m.pct(m.ours[3]),
            m.pct(m.ours[4]),
            m.pct(m.ours[5]),
            m.pct(m.rage_if_dead),
            m.pct(m.confusion_if_dead),
            m.pct(m.rage_if_controls_dead),
            m.pct(m.confusion_if_controls_dead),
            m.pct(m.peers[0]),
            m.pct(m.peers[1]),
            m.pct(m.peers[2]),
            m.pct(m.thrashing)
        );
    }
    let [train, test] = totals.map(|m| m.pct(m.hesitation_if_decision));
    let _ = writeln!(
        t,
        "hesitation if every page were a decision section (a pricing page; DLRV names no sections, and hesitation is looked for only on decision and checkout sections): train {train:.2}%, test {test:.2}% of session-minutes"
    );
    t
}

/// Calibration of rage and frustration claims on MiniWoB++ against two labels: the demo had a
/// click the page did not answer, and the task failed. One point per demo and emotion: its most
/// confident claim at ≥ 0.5.
pub fn calibration_report(demos: &[(&Demo, Run)]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "== calibration on MiniWoB++ (one point per demo and emotion: its best claim >= 0.5; bins 0.5-0.6 .. 0.9-1.0 as n:mean conf/share right)"
    );
    let _ = writeln!(t, "{:<6} {:<12} {:<22} {:>5} {:>7} {:>7}   reliability", "half", "emotion", "right when", "n", "Brier", "ECE");
    type Label = fn(&Demo) -> bool;
    let labels: [(&str, Label); 2] =
        [("a click unanswered", |d: &Demo| d.answered < d.clicks), ("the task failed", |d: &Demo| d.reward <= 0.0)];
    for split in [Split::Train, Split::Test] {
        for e in [Emotion::Rage, Emotion::Frustration] {
            for (what, label) in labels {
                let points: Vec<(f32, bool)> = demos
                    .iter()
                    .filter(|(d, _)| d.rec.split == split)
                    .filter_map(|(d, r)| corpus::claims(&r.detections)[e as usize].filter(|(c, _)| *c >= 0.5).map(|(c, _)| (c, label(d))))
                    .collect();
                let cal = corpus::calibration(&points);
                let bins: Vec<String> =
                    cal.bins.iter().map(|&(k, c, a)| if k == 0 { "-".to_string() } else { format!("{k}:{c:.2}/{a:.2}") }).collect();
                let _ = writeln!(
                    t,
                    "{:<6} {:<12} {what:<22} {:>5} {:>7.3} {:>7.3}   {}",
                    if split == Split::Test { "test" } else { "train" },
                    e.name(),
                    cal.n,
                    cal.brier,
                    cal.ece,
                    bins.join("  ")
                );
            }
        }
    }
    // What a calibration fitted on the train half would do: the claims' scores `z` against each
    // label, a Platt fit (`corpus::fit_platt`, L2 1.0 towards the identity), applied to the test
    // half's same claims.
    let _ = writeln!(t, "Platt fitted on the train half's claims (score z -> label), applied to the test half's same claims:");
    for e in [Emotion::Rage, Emotion::Frustration] {
        for (what, label) in labels {
            let points = |split: Split| -> Vec<(f32, bool)> {
                demos
                    .iter()
                    .filter(|(d, _)| d.rec.split == split)
                    .filter_map(|(d, r)| {
                        r.detections
                            .iter()
                            .filter(|x| x.emotion == e && x.confidence >= 0.5)
                            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
                            .map(|x| (x.features.score, label(d)))
                    })
                    .collect()
            };
            let (train, test) = (points(Split::Train), points(Split::Test));
            let negatives = train.iter().filter(|p| !p.1).count();
            if negatives == 0 || negatives == train.len() {
                let _ = writeln!(
                    t,
                    "  {:<12} {what:<22} {} train claims, {negatives} of them wrong: nothing to separate (the fit's limit sends every claim to one value)",
                    e.name(),
                    train.len()
                );
                continue;
            }
            let (a, b) = corpus::fit_platt(&train, 1.0);
            let remapped: Vec<(f32, bool)> =
                test.iter().map(|&(z, y)| ((1.0 / (1.0 + (-(a * f64::from(z) + b)).exp())) as f32, y)).collect();
            let cal = corpus::calibration(&remapped);
            let high = remapped.iter().filter(|p| p.0 >= INTERVENTION_GRADE).count();
            let _ = writeln!(
                t,
                "  {:<12} {what:<22} a = {a:.3}, b = {b:.3}: test ECE {:.3} over {} claims, {high} of them >= {INTERVENTION_GRADE} (confidence {:.2}-{:.2})",
                e.name(),
                cal.ece,
                cal.n,
                remapped.iter().map(|p| p.0).fold(1.0f32, f32::min),
                remapped.iter().map(|p| p.0).fold(0.0f32, f32::max)
            );
        }
    }
    t
}

/// Cells the crowd's norm keeps in the MiniWoB++ replay.
const CROWD_CELLS: usize = 2048;
/// Half-life of the crowd's counts in the replay, in demos.
const CROWD_HALF_LIFE: u32 = 1000;

/// Whether each click of `samples` was answered ([`shared_physics::detect::answer`]; a click
/// the recording ends too soon after to know counts as answered), as the crowd learns it.
fn answered_clicks(samples: &[Sample]) -> Vec<(Sample, bool)> {
    let with_quiet: Vec<Sample> = LoaderQuiet::with_quiet(samples.iter().copied()).collect();
    let answer = |i: usize| shared_physics::detect::answer(&with_quiet, i) != shared_physics::detect::Answer::Dead;
    with_quiet.iter().enumerate().filter(|(_, s)| s.kind == Kind::Click).map(|(i, s)| (*s, answer(i))).collect()
}

/// The MiniWoB++ demos in the order they were recorded, as far as the data tell: batch (its
/// date), then the worker's assignment, then the demo's number.
fn in_time_order(demos: &[(&Demo, Run)]) -> Vec<usize> {
    let key = |d: &Demo| {
        let batch = d.rec.name.split('/').next().unwrap_or("").to_string();
        let visitor = super::split::visitor(&d.rec.name);
        let assignment = visitor.rsplit('_').next().unwrap_or("").to_string();
        (batch, assignment, d.rec.name.clone())
    };
    let mut order: Vec<usize> = (0..demos.len()).collect();
    order.sort_by_cached_key(|&i| key(demos[i].0));
    order
}

/// The crowd's norm on MiniWoB++: every demo, in time order, is judged against what the earlier
/// demos of its task did on the same spot ([`shared_physics::crowd`]), then learnt.
pub fn crowd_report(demos: &[(&Demo, Run)]) -> String {
    use shared_physics::crowd::{cell, Click as CrowdClick, Crowd};
    let mut crowd: Box<Crowd<CROWD_CELLS>> = Box::new(Crowd::new(CROWD_HALF_LIFE));
    // Per half and set (fully answered, with an unanswered click): demos, ours, ours with the
    // norm, PostHog, PostHog with the norm, Datadog, Datadog with the norm.
    let mut counts = [[[0u32; 7]; 2]; 2];
    // Broken cells found: (task, cell x, cell y) -> (first demo index, visitors, dead share).
    let mut findings: HashMap<(String, i16, i16), (usize, f32, f32)> = HashMap::new();
    let mut normal_repeats: HashMap<(String, i16, i16), (f32, f32)> = HashMap::new();
    for (now, &i) in in_time_order(demos).iter().enumerate() {
        let (d, r) = &demos[i];
        let now = now as u32;
        let page = super::split::fnv1a(d.task.as_bytes()) as u32;
        let clicks = answered_clicks(&d.rec.samples);
        let click_at = |t: u32| clicks.iter().rev().find(|(c, _)| c.t_ms <= t).map(|(c, _)| *c);
        let norm_at = |c: &Sample| crowd.norm(now, cell(1, page, c.x, c.y));
        let snap = |c: &Sample| ((c.x as i32).div_euclid(16) as i16 * 16, (c.y as i32).div_euclid(16) as i16 * 16);
        // Ours: a rage or frustration claim on a spot the crowd knows as broken is a finding
        // about the page, not the visitor's struggle.
        let (mut ours, mut ours_crowd) = (false, false);
        for det in r.detections.iter().filter(|x| x.confidence >= INTERVENTION_GRADE && x.emotion != Emotion::Engaged) {
            ours = true;
            let at = click_at(det.t_ms).filter(|_| matches!(det.emotion, Emotion::Rage | Emotion::Frustration));
            match at.map(|c| (c, norm_at(&c))) {
                Some((c, n)) if n.broken() => {
                    let (x, y) = snap(&c);
                    findings.entry((d.task.clone(), x, y)).or_insert((now as usize, n.visitors, n.dead_share));
                }
                _ => ours_crowd = true,
            }
        }
        // The peers' rage rules, and the same with the crowd's norm: a burst on a spot many
        // visitors press again and again, answered, is normal there.
        let peer = |k: usize| -> (bool, bool) {
            let fired = !r.peers[k].is_empty();
            let kept = r.peers[k].iter().any(|&t| {
                click_at(t).is_none_or(|c| {
                    let n = norm_at(&c);
                    if n.repeated_is_normal() {
                        false
                    } else {
                        !n.broken()
                    }
                })
            });
            (fired, kept)
        };
        let ((ph, ph_c), (dd, dd_c)) = (peer(0), peer(1));
        for (c, n) in clicks.iter().map(|(c, _)| (c, norm_at(c))) {
            if n.repeated_is_normal() {
                normal_repeats.insert((d.task.clone(), snap(c).0, snap(c).1), (n.visitors, n.repeated_share));
            }
        }
        let set = if d.fully_answered() {
            0
        } else if d.answered < d.clicks {
            1
        } else {
            usize::MAX
        };
        if set != usize::MAX {
            let row = &mut counts[usize::from(d.rec.split == Split::Test)][set];
            for (k, v) in [true, ours, ours_crowd, ph, ph_c, dd, dd_c].into_iter().enumerate() {
                row[k] += u32::from(v);
            }
        }
        // Then, and only then, the crowd learns this demo.
        let learnt: Vec<CrowdClick> = clicks.iter().map(|(c, a)| CrowdClick { x: c.x, y: c.y, answered: *a }).collect();
        crowd.learn(now, 1, page, &learnt);
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "== the crowd's norm on MiniWoB++: {} demos replayed in recording order (batch, then assignment), each judged against the earlier demos of its task, then learnt",
        demos.len()
    );
    let _ = writeln!(
        t,
        "   (cells of {} px per task; counts per visitor, halving every {CROWD_HALF_LIFE} demos; {CROWD_CELLS} cells at most; a broken spot: >= {} visitors, >= {:.0}% unanswered; repeated pressing normal: >= {:.0}% of them pressed it >= {} times, answered)",
        shared_physics::crowd::CELL_PX,
        shared_physics::crowd::MIN_VISITORS,
        100.0 * shared_physics::crowd::BROKEN_SHARE,
        100.0 * shared_physics::crowd::REPEATED_SHARE,
        shared_physics::crowd::REPEAT_PRESSES
    );
    let _ = writeln!(
        t,
        "{:<6} {:<26} {:>6} {:>8} {:>11} {:>9} {:>14} {:>9} {:>14}",
        "half", "demos", "n", "ours", "ours+crowd", "PostHog", "PostHog+crowd", "Datadog", "Datadog+crowd"
    );
    for (h, half) in ["train", "test"].iter().enumerate() {
        for (k, set) in ["fully answered", "with an unanswered click"].iter().enumerate() {
            let c = counts[h][k];
            let pct = |v: u32| 100.0 * f64::from(v) / f64::from(c[0].max(1));
            let _ = writeln!(
                t,
                "{half:<6} {set:<26} {:>6} {:>7.2}% {:>10.2}% {:>8.2}% {:>13.2}% {:>8.2}% {:>13.2}%",
                c[0],
                pct(c[1]),
                pct(c[2]),
                pct(c[3]),
                pct(c[4]),
                pct(c[5]),
                pct(c[6])
            );
        }
    }
    let mut f: Vec<_> = findings.into_iter().collect();
    f.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    let _ = writeln!(t, "broken spots reported once as findings (not as each visitor's struggle): {}; the most visited:", f.len());
    for ((task, x, y), (first, visitors, share)) in f.iter().take(8) {
        let _ = writeln!(
            t,
            "  {task:<28} cell at ({x:>3}, {y:>3}) px: first at demo #{first}, {visitors:.1} visitors, {:.0}% unanswered",
            100.0 * share
        );
    }
    let mut n: Vec<_> = normal_repeats.into_iter().collect();
    n.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    let _ = writeln!(t, "spots where pressing again and again is normal (answered): {}; the most visited:", n.len());
    for ((task, x, y), (visitors, share)) in n.iter().take(5) {
        let _ =
            writeln!(t, "  {task:<28} cell at ({x:>3}, {y:>3}) px: {visitors:.1} visitors, {:.0}% pressed it >= 3 times", 100.0 * share);
    }
    t
}

/// Runs both sets under `human` and returns the report.
pub fn report(human: &Path, list: bool) -> Result<String, String> {
    let mut out = String::new();
    let miniwob = human.join("miniwob");
    if miniwob.join("demos.csv").is_file() {
        let demos = load_miniwob(&miniwob)?;
        eprintln!("eval: miniwob {} demos read from {}", demos.len(), miniwob.display());
        let runs: Vec<(&Demo, Run)> = demos.iter().map(|d| (d, run(&d.rec.samples, &d.rec.targets, params(true)))).collect();
        for split in [Split::Train, Split::Test] {
            out.push_str(&miniwob_report(&runs, split));
            out.push('\n');
        }
        out.push_str(&calibration_report(&runs));
        out.push('\n');
        out.push_str(&crowd_report(&runs));
        out.push('\n');
        if list {
            let _ = writeln!(out, "intervention-grade firings on fully answered MiniWoB++ demos (train half):");
            for (d, r) in runs.iter().filter(|(d, _)| d.rec.split == Split::Train && d.fully_answered()) {
                for det in r.detections.iter().filter(|x| x.confidence >= INTERVENTION_GRADE && x.emotion != Emotion::Engaged) {
                    let _ =
                        writeln!(out, "  {} t={} {} {:.2} {:?}", d.rec.name, det.t_ms, det.emotion.name(), det.confidence, det.features);
                }
            }
        }
    } else {
        let _ = writeln!(out, "(no MiniWoB++ demos at {})\n", miniwob.display());
    }
    let dlrv = human.join("dlrv");
    if dlrv.join("dev.csv.gz").is_file() {
        let visits = load_dlrv(&dlrv)?;
        eprintln!("eval: dlrv {} visits read from {}", visits.len(), dlrv.display());
        let runs: Vec<(&Recording, Run)> = visits
            .iter()
            .map(|v| {
                let mut r = run(&v.samples, &v.targets, params(false));
                let dead = run(&v.samples, &v.targets, params(true));
                r.confusion_if_dead = dead.fired(Some(Emotion::Confusion));
                let (samples, targets) = answering_elements_answer(v);
                let live = run(&samples, &targets, params(true));
                r.confusion_if_controls_dead = live.fired(Some(Emotion::Confusion));
                r.rage_if_controls_dead = live.fired(Some(Emotion::Rage));
                let pricing = run_on(&v.samples, &v.targets, params(false), SectionClass::Decision);
                r.hesitation_if_decision = pricing.fired(Some(Emotion::Hesitation));
                (v, r)
            })
            .collect();
        out.push_str(&dlrv_report(&runs));
        out.push('\n');
        if list {
            let _ = writeln!(out, "intervention-grade firings on DLRV (train half):");
            for (v, r) in runs.iter().filter(|(v, _)| v.split == Split::Train) {
                for det in r.detections.iter().filter(|x| x.confidence >= INTERVENTION_GRADE && x.emotion != Emotion::Engaged) {
                    let _ = writeln!(out, "  {} t={} {} {:.2} {:?}", v.name, det.t_ms, det.emotion.name(), det.confidence, det.features);
                }
            }
        }
    } else {
        let _ = writeln!(out, "(no DLRV visits at {})\n", dlrv.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlrv_rows_become_viewport_coordinates_and_times_from_the_start() {
        let text = "session,t_ms,kind,x,y,target\n\
                    v#0,1000,scroll,0,0,\n\
                    v#0,1010,move,10,500,\n\
                    v#0,1020,scroll,0,300,\n\
                    v#0,1030,click,10,820,BUTTON\n\
                    w#1,5,move,1,1,\n";
        let rows = event_rows("t", text).unwrap();
        assert_eq!(rows.len(), 2);
        let r = recording(rows[0].0.clone(), &rows[0].1, true);
        let ys: Vec<(u32, i16)> = r.samples.iter().map(|s| (s.t_ms, s.y)).collect();
        assert_eq!(ys, [(0, 0), (10, 500), (20, 300), (30, 520)]);
        assert_eq!(r.duration_ms, 1000);
    }

    #[test]
    fn clicks_on_inputs_labels_and_links_are_answered_in_the_bound_and_others_are_not() {
        let text = "session,t_ms,kind,x,y,target\n\
                    v#0,0,click,10,10,INPUT\n\
                    v#0,500,click,40,10,DIV\n\
                    v#0,900,click,80,10,A\n";
        let rows = event_rows("t", text).unwrap();
        let r = recording(rows[0].0.clone(), &rows[0].1, false);
        let (samples, targets) = answering_elements_answer(&r);
        let kinds: Vec<(u32, Kind)> = samples.iter().map(|s| (s.t_ms, s.kind)).collect();
        assert_eq!(kinds, [(0, Kind::Click), (1, Kind::Response), (500, Kind::Click), (900, Kind::Click), (901, Kind::Response)]);
        assert_eq!(targets.len(), samples.len());
    }

    #[test]
    fn a_page_that_answers_every_click_is_not_fired_on_by_us() {
        // A date picker's arrow pressed eight times 200 ms apart, every press answered.
        let mut samples = Vec::new();
        for i in 0..8u32 {
            samples.push(Sample { t_ms: 1000 + i * 200, x: 120, y: 40, kind: Kind::Click, section: 0 });
            samples.push(Sample { t_ms: 1001 + i * 200, x: 0, y: 0, kind: Kind::Response, section: 0 });
        }
        let r = run(&samples, &[], params(true));
        assert!(r.fired(None).is_empty(), "{:?}", r.detections);
        assert!(!r.peers[0].is_empty() && !r.peers[1].is_empty(), "the peers' rules fire on it");
    }
}
