//! The rage detector and the streaming [`Detector`] of every emotion. Each detector is a pure
//! function of an evidence window (a slice of [`Sample`]s), so the server recomputes exactly
//! what the client computed. What they return, [`Detection`], is defined in
//! [`crate::detection`]; the long-window emotions are in [`crate::emotions`].
//!
//! ## `rage`
//!
//! **Signature**: a burst of at least [`RageParams::min_clicks`] clicks the page did not
//! answer, each within [`RageParams::radius_px`] of the burst's first click, consecutive clicks
//! at most [`RageParams::max_ici_ms`] apart, all within [`RageParams::window_ms`]: three or
//! more presses at a control that did nothing, each within 900 ms of the one before and within
//! 60 px of the first (the rule `corpus/README.md` wrote down before recording `rage_wide`).
//!
//! **Decided, not guessed**: a click is only looked at once it is *decided*, once
//! [`RESPONSE_WINDOW_MS`] has passed after it (the evidence's newest sample is at least that
//! much newer, or is the loader's [`Kind::Quiet`] saying the window closed with no answer). A
//! click is *answered* when a [`Kind::Response`] comes within [`RESPONSE_WINDOW_MS`] after it,
//! whatever other clicks came in between: a page busy loading answers a run of impatient clicks
//! once, when the load ends, and a page that answers each click 300–800 ms late answers every
//! one. The burst is the run of unanswered decided clicks back from the newest decided one, so
//! a page that answers every click never has one and an answered click ends it. A press's own
//! answer ([`OWN_ANSWER`]: something the press itself did while held, a word a double press
//! selected, a text field it focused, a menu opening on the press) answers that press alone;
//! such a press is left out of the burst without ending it. A stepper, a
//! date picker, a map's zoom buttons and a triple-click selecting text all answer; a dead button
//! answers none. The `Response` and `Quiet` samples are ordinary ring samples, so they travel in
//! the evidence and the server's recomputation sees them. The price: rage is known
//! [`RESPONSE_WINDOW_MS`] after the click that decides it.
//!
//! **Evidence window**: every sample from [`EVIDENCE_WINDOW_MS`] before the deciding sample up
//! to it, at most [`MAX_EVIDENCE`] samples; the oldest pointer moves give way first, so every
//! click and answer of the window is kept ([`Ring::copy_since`]).
//!
//! **Features**: click count `n`, mean inter-click interval `ici` (ms), click dispersion `d`
//! (RMS px from the centroid), and, from the α-β-γ filter over the window's pointer moves up to
//! the newest decided click, peak speed (px/s) and peak smoothed jerk (px/s³); direction
//! entropy of the moves.
//!
//! **Confidence**: `c = σ(z)`, capped at 0.99, with
//! `z = 1.1·(n − 3) + 1.0·(1 − ici/max_ici) + 0.5·(1 − d/radius) + 0.5·min(jerk/JERK_REF, 1) + 2.0`.
//! Every burst that meets the signature is a dead control pressed again and again, an
//! intervention-grade claim (σ(2.0) = 0.88 for the slowest, most scattered three presses); the
//! terms order the claims by how emphatic the pressing is. A source that does not record the
//! page's answers cannot know a burst is dead: [`Detector`] then caps it at [`NO_ANSWERS_CAP`],
//! below the bar. Clicks less than [`MIN_HUMAN_ICI_MS`] after the previous one count once.
//!
//! **Known failure cases**: a page that answers every click with an error message ("invalid
//! coupon") is answered, so repeated clicks there are not rage; that is `frustration`'s (the
//! same control, the same answer). A page that answers only after [`RESPONSE_WINDOW_MS`] with
//! no sign of progress still looks dead. Pressing three times on something that never answers
//! and was never meant to (blank space) is claimed too.

use crate::calibration;
use crate::detection::sigmoid;
use crate::emotions::{self, SectionClass, SectionClasses, TraceParams};
use crate::features::{dispersion, DirectionHistogram};
use crate::kinematics::Filter;
use crate::ring::Ring;
use crate::trace::{Trace, TRACE_WINDOW_MS};
use crate::{Emotion, Kind, Sample};

// Owned by lower layers (see the crate docs); re-exported so that the paths the SDK, the server
// and the tools use (`detect::Detection`, `detect::MAX_EVIDENCE`, …) keep working.
pub use crate::detection::{
    answer, answered, answering, Answer, Detection, Features, MAX_CONFIDENCE, MAX_EVIDENCE, MAX_GESTURE_PRESSES, MIN_HUMAN_ICI_MS,
    OWN_ANSWER, RESPONSE_WINDOW_MS,
};
pub use crate::emotions::EMIT_FLOOR_PCT;

/// How far back (ms) from the deciding sample the evidence window reaches: the longest burst a
/// tenant may set ([`MAX_RAGE_WINDOW_MS`]), the answer window after its newest click
/// ([`RESPONSE_WINDOW_MS`]), and 500 ms for the deciding sample to come.
pub const EVIDENCE_WINDOW_MS: u32 = MAX_RAGE_WINDOW_MS + RESPONSE_WINDOW_MS + 500;
/// The longest [`RageParams::window_ms`] a tenant may set.
pub const MAX_RAGE_WINDOW_MS: u32 = 2500;
/// Jerk (px/s³) at which the jerk term of the rage confidence saturates.
pub const JERK_REF: f32 = 2.0e6;
/// The constant term of the rage score: a burst that meets the signature is a claim.
pub const RAGE_BIAS: f32 = 2.0;
/// The most confidence a burst can have when the source does not record the page's answers
/// (a burst then is not known to be dead): recorded, but below the 0.85 intervention bar.
pub const NO_ANSWERS_CAP: f32 = 0.80;

/// Tenant-tunable thresholds of the rage detector. The defaults are the documented ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RageParams {
    /// The whole burst lies within this many ms before the last click.
    pub window_ms: u32,
    /// Largest gap (ms) between consecutive clicks of a burst.
    pub max_ici_ms: u32,
    /// Largest distance (px) of a burst click from the burst's first click.
    pub radius_px: f32,
    /// Fewest clicks that make a burst.
    pub min_clicks: u8,
}

impl RageParams {
    /// The documented defaults (`docs/detectors.md`).
    pub const DEFAULT: RageParams = RageParams { window_ms: 2000, max_ici_ms: 900, radius_px: 60.0, min_clicks: 3 };
}

impl Default for RageParams {
    fn default() -> Self {
        RageParams::DEFAULT
    }
}

/// Copies the evidence window ending at the newest sample of `ring` into `out` and returns it
/// (the oldest moves give way first when it does not fit).
pub fn evidence_window<'a>(ring: &Ring, out: &'a mut [Sample; MAX_EVIDENCE]) -> &'a [Sample] {
    let end = match ring.get(ring.len().wrapping_sub(1)) {
        Some(s) => s.t_ms,
        None => return &out[..0],
    };
    let n = ring.copy_since(end.saturating_sub(EVIDENCE_WINDOW_MS), out);
    // `get` rather than indexing: no panic path, so the SDK's wasm links no formatting code.
    out.get(..n).unwrap_or(&[])
}

/// Recognises rage in an evidence window decided at its newest sample (see the module docs).
/// Returns `None` when the window holds no qualifying burst: the burst is the run of decided
/// clicks, back from the newest decided one, that the page did not answer.
pub fn detect_rage(evidence: &[Sample], p: &RageParams) -> Option<Detection> {
    let now = evidence.last()?.t_ms;
    let decided = |s: &Sample| s.kind == Kind::Click && now.saturating_sub(s.t_ms) >= RESPONSE_WINDOW_MS;
    let last = *evidence.iter().rev().find(|s| decided(s))?;
    // Walk back over the clicks while they keep the burst's shape and the page did not answer
    // them. Evidence comes from clients and may be out of order: time differences saturate
    // instead of wrapping.
    // The run back from the newest decided click, newest first.
    let mut run = [(0.0f32, 0.0f32, 0u32); MAX_EVIDENCE];
    let mut n: usize = 0;
    let mut next_t = last.t_ms;
    for (i, s) in evidence.iter().enumerate().rev() {
        if s.kind != Kind::Click || s.t_ms > last.t_ms {
            continue;
        }
        let answer = answering(evidence.get(i + 1..).unwrap_or(&[]), s.t_ms);
        // A press that got its own answer (a word it selected, a field it focused) is the
        // visitor's own gesture answered: it neither counts nor ends the burst.
        if answer.is_some_and(|a| a.y > 0) {
            continue;
        }
        let gap = next_t.saturating_sub(s.t_ms);
        if n > 0 && gap < MIN_HUMAN_ICI_MS {
            continue;
        }
        if gap > p.max_ici_ms || last.t_ms - s.t_ms > p.window_ms || answer.is_some() {
            break;
        }
        let Some(slot) = run.get_mut(n) else { break };
        *slot = (s.x as f32, s.y as f32, s.t_ms);
        n += 1;
        next_t = s.t_ms;
    }
    // The burst: the longest end of the run whose every click is within the radius of its
    // first (oldest) click.
    let within = |k: usize| {
        let (fx, fy, _) = run.get(k).copied().unwrap_or_default();
        run.iter().take(k).all(|&(x, y, _)| crate::norm(x - fx, y - fy) <= p.radius_px)
    };
    while n > 1 && !within(n - 1) {
        n -= 1;
    }
    if n < p.min_clicks as usize || n < 2 {
        return None;
    }
    let first_t = run.get(n - 1).map_or(last.t_ms, |r| r.2);
    let n = n as u32;
    let mean_ici_ms = (last.t_ms - first_t) as f32 / (n - 1) as f32;
    let dispersion_px = dispersion(run.iter().take(n as usize).map(|r| (r.0, r.1)));

    let mut filter = Filter::new();
    let mut dirs = DirectionHistogram::default();
    let (mut peak_speed, mut peak_jerk) = (0.0f32, 0.0f32);
    let mut prev_move: Option<(i16, i16)> = None;
    for s in evidence.iter().filter(|s| s.kind == Kind::Move && s.t_ms <= last.t_ms) {
        let e = filter.update(s.t_ms, s.x as f32, s.y as f32);
        peak_speed = peak_speed.max(e.speed);
        peak_jerk = peak_jerk.max(e.jerk);
        if let Some((x0, y0)) = prev_move {
            dirs.add(s.x as i32 - x0 as i32, s.y as i32 - y0 as i32);
        }
        prev_move = Some((s.x, s.y));
    }

    let z = 1.1 * (n as f32 - 3.0)
        + 1.0 * (1.0 - mean_ici_ms / p.max_ici_ms as f32)
        + 0.5 * (1.0 - dispersion_px / p.radius_px)
        + 0.5 * (peak_jerk / JERK_REF).min(1.0)
        + RAGE_BIAS;
    let cal = calibration::platt(Emotion::Rage);
    Some(Detection {
        emotion: Emotion::Rage,
        confidence: sigmoid(cal.a * z + cal.b).min(MAX_CONFIDENCE),
        t_ms: last.t_ms,
        section: last.section,
        features: Features {
            clicks: n.min(u8::MAX as u32) as u8,
            mean_ici_ms,
            dispersion_px,
            peak_speed,
            peak_jerk,
            entropy: dirs.entropy(),
            score: z,
            ..Features::default()
        },
    })
}

/// The loader's `quiet` rows, for replaying a recording that does not carry them (one made
/// before the loader wrote them, or by another recorder): after a click the loader's answer
/// window runs [`RESPONSE_WINDOW_MS`] (a later click restarts it, an answer closes it) and, run
/// out, pushes a [`Kind::Quiet`]. Fed each sample in order, [`LoaderQuiet::feed`] yields the
/// rows to push for it (the quiet row the loader would have pushed before it, if any, then the
/// sample), and [`LoaderQuiet::end`] the quiet row after the recording's last sample;
/// [`LoaderQuiet::with_quiet`] does both over a whole recording. A quiet row already in the
/// recording closes the window too.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoaderQuiet {
    open: Option<u32>,
}

impl LoaderQuiet {
    /// The rows to push for `s`, in order: the quiet row due before it, if any, then `s`
    /// (and takes note of `s`).
    pub fn feed(&mut self, s: Sample) -> impl Iterator<Item = Sample> {
        rows(self.before(&s), Some(s))
    }

    /// The quiet row due after the last sample, if any.
    pub fn end(&mut self) -> Option<Sample> {
        self.open.take().map(quiet_after)
    }

    /// `samples`, a whole recording in order, with the loader's quiet rows among them (each
    /// sample's [`LoaderQuiet::feed`], then [`LoaderQuiet::end`]).
    pub fn with_quiet(samples: impl IntoIterator<Item = Sample>) -> impl Iterator<Item = Sample> {
        let mut quiet = LoaderQuiet::default();
        samples.into_iter().map(Some).chain([None]).flat_map(move |s| match s {
            Some(s) => rows(quiet.before(&s), Some(s)),
            None => rows(quiet.end(), None),
        })
    }

    /// The quiet row due before `s`, if any (and takes note of `s`).
    fn before(&mut self, s: &Sample) -> Option<Sample> {
        let due = self.open.filter(|&c| s.t_ms >= c.saturating_add(RESPONSE_WINDOW_MS)).map(quiet_after);
        if due.is_some() {
            self.open = None;
        }
        match s.kind {
            Kind::Click => self.open = Some(s.t_ms),
            // A press's own answer says nothing of the window the clicks before it opened.
            Kind::Response if s.y > 0 => {}
            Kind::Response | Kind::Quiet => self.open = None,
            _ => {}
        }
        due
    }
}

/// `first` then `then`, each if any.
fn rows(first: Option<Sample>, then: Option<Sample>) -> impl Iterator<Item = Sample> {
    [first, then].into_iter().flatten()
}

fn quiet_after(click_ms: u32) -> Sample {
    Sample { t_ms: click_ms.saturating_add(RESPONSE_WINDOW_MS), x: 0, y: 0, kind: Kind::Quiet, section: 0 }
}

/// Every tenant-tunable threshold of the detectors.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Params {
    /// Rage.
    pub rage: RageParams,
    /// The long-window emotions.
    pub trace: TraceParams,
}

impl Params {
    /// The documented defaults.
    pub const DEFAULT: Params = Params { rage: RageParams::DEFAULT, trace: TraceParams::DEFAULT };
}

/// The streaming detector the SDK runs and `sentientiq detect` replays: it keeps the ring of
/// recent samples and the salient trace ([`crate::trace`]), and decides when a detection is
/// worth sending.
///
/// **Rage emit rule**: when a sample decides a click (it comes [`RESPONSE_WINDOW_MS`] or more
/// after the oldest click not yet decided; the loader's [`Kind::Quiet`] is such a sample) it cuts
/// the evidence window and runs [`detect_rage`] (capped at [`NO_ANSWERS_CAP`] when the source
/// does not record the page's answers, [`TraceParams::answers`] = false: a burst is then not
/// known to be dead). A burst continues while each detection comes within `max_ici_ms` of the
/// previous one; a decision without a detection ends it. A detection is emitted when its
/// confidence (in whole percent) is higher than the best one of its burst so far, so a burst
/// that goes on being pressed emits again as it grows, each time with its own evidence.
///
/// **Long-window emit rule**: when the trace keeps a sample, the emotions that sample can
/// change are evaluated over the trace's last [`TRACE_WINDOW_MS`] (frustration when a click's
/// answer window closes or an answer arrives; confusion and engaged on a scroll; confusion and
/// hesitation on a move; abandonment on a leave or hidden). A detection is emitted when it
/// reaches [`EMIT_FLOOR_PCT`] and beats the best of its emotion's episode (an episode ends
/// [`TRACE_WINDOW_MS`] after its last detection). One push returns at most one detection: rage
/// first, else the most confident long-window one.
#[derive(Clone, Debug)]
pub struct Detector {
    ring: Ring,
    trace: Trace,
    classes: SectionClasses,
    params: Params,
    /// The current rage burst: time of its latest detection and the highest confidence seen.
    burst: Option<(u32, u8)>,
    /// Per long-window emotion (`Emotion as usize - 1`): last emission time and best percent.
    episodes: [Option<(u32, u8)>; 5],
    /// The newest click whose answer window is still open.
    pending_click: Option<u32>,
    /// When a click not yet decided for rage will be (its time + [`RESPONSE_WINDOW_MS`]).
    rage_due: Option<u32>,
    /// Time of the newest click.
    last_click: Option<u32>,
    evidence: [Sample; MAX_EVIDENCE],
    evidence_len: usize,
    trace_evidence: [Sample; MAX_EVIDENCE],
    trace_evidence_len: usize,
    /// Whether the last detection returned came from the trace.
    from_trace: bool,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(Params::DEFAULT)
    }
}

const NO_SAMPLE: Sample = Sample { t_ms: 0, x: 0, y: 0, kind: Kind::Move, section: 0 };

impl Detector {
    /// A detector of every emotion with the given thresholds.
    pub const fn new(params: Params) -> Detector {
        Detector {
            ring: Ring::new(),
            trace: Trace::new(),
            classes: SectionClasses::new(),
            params,
            burst: None,
            episodes: [None; 5],
            pending_click: None,
            rage_due: None,
            last_click: None,
            evidence: [NO_SAMPLE; MAX_EVIDENCE],
            evidence_len: 0,
            trace_evidence: [NO_SAMPLE; MAX_EVIDENCE],
            trace_evidence_len: 0,
            from_trace: false,
        }
    }

    /// Files section `id` under `class` (the SDK calls it when it learns a section's name).
    pub fn set_section_class(&mut self, id: u8, class: SectionClass) {
        self.classes.set(id, class);
    }

    /// The section classes learnt so far.
    pub fn classes(&self) -> &SectionClasses {
        &self.classes
    }

    /// Feeds one sample; returns a detection to emit, if any. Its evidence is then
    /// [`Detector::evidence`].
    pub fn push(&mut self, s: Sample) -> Option<Detection> {
        self.ring.push(s);
        if s.kind == Kind::Click {
            self.last_click = Some(s.t_ms);
            self.rage_due = self.rage_due.or(Some(s.t_ms.saturating_add(RESPONSE_WINDOW_MS)));
        }
        let rage = if self.rage_due.is_some_and(|due| s.t_ms >= due) { self.decide(s.t_ms) } else { None };

        // The trace: a leave or hidden needs the last position before it.
        if matches!(s.kind, Kind::Leave | Kind::Hidden) {
            if let Some(m) = self.trace.last_move() {
                self.trace.keep(m);
            }
        }
        let closes = s.kind != Kind::Response && self.pending_click.is_some_and(|c| s.t_ms.saturating_sub(c) >= RESPONSE_WINDOW_MS);
        let mut kept = self.trace.push(s);
        if closes {
            self.trace.keep(s);
            kept = true;
        }
        match s.kind {
            Kind::Click => self.pending_click = Some(s.t_ms),
            Kind::Response => self.pending_click = None,
            _ if closes => self.pending_click = None,
            _ => {}
        }
        if rage.is_some() {
            self.from_trace = false;
            return rage;
        }
        if !kept {
            return None;
        }
        let candidates: &[Emotion] = match s.kind {
            _ if closes => &[Emotion::Frustration],
            Kind::Response => &[Emotion::Frustration],
            Kind::Scroll => &[Emotion::Confusion, Emotion::Engaged],
            Kind::Move => &[Emotion::Confusion, Emotion::Hesitation],
            Kind::Leave | Kind::Hidden => &[Emotion::Abandonment],
            _ => &[],
        };
        if candidates.is_empty() {
            return None;
        }
        self.trace_evidence_len = self.trace.ring().copy_since(s.t_ms.saturating_sub(TRACE_WINDOW_MS), &mut self.trace_evidence);
        let ev = self.trace_evidence.get(..self.trace_evidence_len).unwrap_or(&[]);
        let mut best: Option<Detection> = None;
        for &emotion in candidates {
            let Some(d) = emotions::detect(emotion, ev, &self.params.trace, &self.classes) else { continue };
            let pct = d.confidence_pct();
            let Some(slot) = self.episodes.get_mut((emotion as usize).wrapping_sub(1)) else { continue };
            let floor = match *slot {
                Some((t, b)) if d.t_ms.saturating_sub(t) <= TRACE_WINDOW_MS => b,
                _ => 0,
            };
            if pct < self.params.trace.emit_floor_pct || pct <= floor {
                continue;
            }
            *slot = Some((d.t_ms, pct));
            if best.is_none_or(|b| pct > b.confidence_pct()) {
                best = Some(d);
            }
        }
        if best.is_some() {
            self.from_trace = true;
        }
        best
    }

    /// The rage half of [`Detector::push`], at a sample (already in the ring, at `now`) that
    /// decides one or more clicks.
    fn decide(&mut self, now: u32) -> Option<Detection> {
        // Next: the newest click, if it is not decided yet.
        self.rage_due =
            self.last_click.filter(|&c| now.saturating_sub(c) < RESPONSE_WINDOW_MS).map(|c| c.saturating_add(RESPONSE_WINDOW_MS));
        self.evidence_len = evidence_window(&self.ring, &mut self.evidence).len();
        self.from_trace = false;
        let Some(mut d) = detect_rage(self.rage_evidence(), &self.params.rage) else {
            self.burst = None;
            return None;
        };
        // Without the page's answers (a replay of a recorder that did not capture them) a burst
        // cannot be known to be dead: recorded, never claimed at intervention grade.
        if !self.params.trace.answers {
            d.confidence = d.confidence.min(NO_ANSWERS_CAP);
        }
        let pct = d.confidence_pct();
        let best = match self.burst {
            Some((t0, best)) if d.t_ms.wrapping_sub(t0) <= self.params.rage.max_ici_ms => best,
            _ => 0,
        };
        self.burst = Some((d.t_ms, best.max(pct)));
        (pct > best).then_some(d)
    }

    /// The evidence of the last detection [`Detector::push`] returned (until the next one):
    /// the raw window of a rage detection, the trace window of a long-window one.
    pub fn evidence(&self) -> &[Sample] {
        if self.from_trace {
            self.trace_evidence.get(..self.trace_evidence_len).unwrap_or(&[])
        } else {
            self.rage_evidence()
        }
    }

    /// The raw evidence window of the last rage decision.
    pub fn rage_evidence(&self) -> &[Sample] {
        self.evidence.get(..self.evidence_len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(t: u32, x: i16, y: i16) -> Sample {
        Sample { t_ms: t, x, y, kind: Kind::Click, section: 2 }
    }
    fn mv(t: u32, x: i16, y: i16) -> Sample {
        Sample { t_ms: t, x, y, kind: Kind::Move, section: 0 }
    }
    fn response(t: u32) -> Sample {
        Sample { t_ms: t, x: 0, y: 0, kind: Kind::Response, section: 0 }
    }
    /// A press's own answer (written right after its click).
    fn own(t: u32) -> Sample {
        gesture(t, OWN_ANSWER)
    }
    /// The own answer of the `n`-th press of a multi-click gesture.
    fn gesture(t: u32, n: i16) -> Sample {
        Sample { t_ms: t, x: 77, y: n, kind: Kind::Response, section: 0 }
    }
    /// `ev` decided by the loader's quiet after its newest click.
    fn decided(ev: &[Sample]) -> heapless::Vec<Sample, 32> {
        let mut v: heapless::Vec<Sample, 32> = ev.iter().copied().collect();
        let t = ev.iter().rev().find(|s| s.kind == Kind::Click).map_or(0, |c| c.t_ms);
        v.push(quiet_after(t)).unwrap();
        v
    }

    #[test]
    fn three_presses_of_a_dead_control_are_intervention_grade_rage_once_decided() {
        let ev = [mv(900, 380, 290), mv(950, 398, 299), click(1000, 400, 300), click(1180, 402, 301), click(1350, 399, 298)];
        // Not before the last press's answer window has passed: the page may still answer.
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
        let d = detect_rage(&decided(&ev), &RageParams::default()).expect("rage");
        assert_eq!(d.emotion, Emotion::Rage);
        assert_eq!((d.features.clicks, d.t_ms, d.section), (3, 1350, 2));
        assert!((d.features.mean_ici_ms - 175.0).abs() < 1e-3);
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        // Decided by any sample that comes late enough, not only the loader's quiet.
        let mut late: heapless::Vec<Sample, 8> = ev.iter().copied().collect();
        late.push(mv(1350 + RESPONSE_WINDOW_MS, 10, 10)).unwrap();
        assert_eq!(detect_rage(&late, &RageParams::default()).map(|d| d.features.clicks), Some(3));
        // More presses, faster: more confident.
        let five = [click(1000, 400, 300), click(1150, 400, 300), click(1300, 400, 300), click(1450, 400, 300), click(1600, 400, 300)];
        assert!(detect_rage(&decided(&five), &RageParams::default()).unwrap().confidence > d.confidence);
    }

    #[test]
    fn the_slowest_most_scattered_burst_the_rule_allows_is_still_rage_and_past_it_is_not() {
        let p = RageParams::default();
        // 900 ms apart, each within 60 px of the first.
        let ev = [click(1000, 400, 300), click(1900, 459, 300), click(2800, 400, 359)];
        let d = detect_rage(&decided(&ev), &p).expect("rage");
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        // One press 61 px from the first, or a gap of 901 ms: two presses, no burst.
        assert!(detect_rage(&decided(&[click(1000, 400, 300), click(1900, 461, 300), click(2800, 400, 330)]), &p).is_none());
        assert!(detect_rage(&decided(&[click(1000, 400, 300), click(1901, 400, 300), click(2800, 400, 300)]), &p).is_none());
    }

    #[test]
    fn a_triple_click_selecting_text_is_no_burst() {
        // The selection changes at the second and third press: the first two clicks answered.
        let ev = [click(1000, 400, 300), response(1090), click(1100, 400, 300), response(1190), click(1200, 400, 300)];
        assert!(detect_rage(&decided(&ev), &RageParams::default()).is_none());
    }

    #[test]
    fn a_presss_own_answer_answers_that_press_alone() {
        // The loader as it writes a triple click: the word and the paragraph the second and
        // third presses select are the gesture's answer, reaching back over its presses.
        let triple = [click(1000, 400, 300), click(1100, 400, 300), gesture(1100, 2), click(1200, 400, 300), gesture(1200, 3)];
        let ev = decided(&triple);
        assert!([0, 1, 3].iter().all(|&i| answer(&ev, i) == Answer::Answered(0)), "answered, with no result to compare");
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
        // A press's own answer (reach 1) leaves the press before it unanswered.
        let ev = decided(&[click(1000, 400, 300), click(1100, 400, 300), own(1100)]);
        assert_eq!((answer(&ev, 0), answer(&ev, 1)), (Answer::Dead, Answer::Answered(0)));
        // A dead button pressed four times, one press landing beside it on text and selecting a
        // word: that press is answered, the other three are still a burst.
        let ev = decided(&[click(1000, 400, 300), click(1300, 430, 290), own(1300), click(1600, 401, 300), click(1900, 399, 301)]);
        assert_eq!(detect_rage(&ev, &RageParams::default()).map(|d| d.features.clicks), Some(3));
        // The same answer seen after the click (y = 0) answers every click of the second before it.
        let ev = decided(&[click(1000, 400, 300), click(1300, 430, 290), response(1300), click(1600, 401, 300), click(1900, 399, 301)]);
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
    }

    #[test]
    fn a_frustration_episode_reaches_as_far_as_a_rage_burst() {
        // A burst counts once, as rage: frustration's episode of dead clicks is the burst's reach.
        assert_eq!(emotions::EPISODE_GAP_MS, RageParams::DEFAULT.max_ici_ms);
        assert_eq!(emotions::EPISODE_RADIUS_PX, RageParams::DEFAULT.radius_px);
    }

    #[test]
    fn a_presss_own_answer_leaves_the_loaders_window_open() {
        let mut q = LoaderQuiet::default();
        let mut fed = |s: Sample| q.feed(s).collect::<heapless::Vec<Sample, 2>>();
        assert_eq!(fed(click(1000, 0, 0))[..], [click(1000, 0, 0)]);
        assert_eq!(fed(own(1000))[..], [own(1000)]);
        assert_eq!(fed(mv(2000, 0, 0))[..], [quiet_after(1000), mv(2000, 0, 0)]);
        assert_eq!(fed(click(3000, 0, 0))[..], [click(3000, 0, 0)]);
        assert_eq!(fed(response(3500))[..], [response(3500)]);
        assert_eq!(q.end(), None);
    }

    #[test]
    fn a_whole_recording_gets_the_quiet_rows_feed_and_end_give() {
        let rec = [click(1000, 0, 0), click(1200, 0, 0), mv(2500, 0, 0), click(3000, 0, 0), response(3100), click(4000, 0, 0)];
        let with: heapless::Vec<Sample, 16> = LoaderQuiet::with_quiet(rec).collect();
        let want = [
            click(1000, 0, 0),
            click(1200, 0, 0),
            quiet_after(1200),
            mv(2500, 0, 0),
            click(3000, 0, 0),
            response(3100),
            click(4000, 0, 0),
            quiet_after(4000),
        ];
        assert_eq!(with[..], want);
        let mut q = LoaderQuiet::default();
        let mut fed: heapless::Vec<Sample, 16> = rec.into_iter().flat_map(|s| q.feed(s)).collect();
        fed.extend(q.end());
        assert_eq!(fed[..], want);
    }

    #[test]
    fn echoes_and_bounces_faster_than_a_person_count_once() {
        // Three real clicks, each followed 5-12 ms later by an echo (label → input, or a
        // bouncing switch): three clicks, not six.
        let ev = [
            click(1000, 400, 300),
            click(1005, 400, 300),
            click(1200, 400, 300),
            click(1212, 400, 300),
            click(1400, 400, 300),
            click(1408, 400, 300),
        ];
        let d = detect_rage(&decided(&ev), &RageParams::default()).expect("burst");
        assert_eq!(d.features.clicks, 3);
        assert!((d.features.mean_ici_ms - 201.5).abs() < 1e-3, "{}", d.features.mean_ici_ms);
    }

    #[test]
    fn out_of_order_evidence_from_a_client_is_no_panic() {
        let ev = [click(1000, 400, 300), click(1150, 400, 300), click(1100, 400, 300), click(1200, 400, 300), quiet_after(1200)];
        let _ = detect_rage(&ev, &RageParams::default());
        let _ = detect_rage(&[quiet_after(0), click(5000, 0, 0)], &RageParams::default());
    }

    #[test]
    fn spread_out_or_slow_clicks_are_not_rage() {
        let p = RageParams::default();
        assert!(detect_rage(&decided(&[click(0, 0, 0), click(200, 100, 0), click(400, 200, 0)]), &p).is_none());
        assert!(detect_rage(&decided(&[click(0, 0, 0), click(1000, 0, 0), click(2000, 0, 0)]), &p).is_none());
        assert!(detect_rage(&decided(&[click(0, 0, 0), click(200, 0, 0)]), &p).is_none());
        assert!(detect_rage(&[mv(0, 0, 0), mv(16, 5, 5)], &p).is_none());
        assert!(detect_rage(&[], &p).is_none());
    }

    #[test]
    fn tenant_thresholds_change_the_verdict() {
        let ev = decided(&[click(0, 0, 0), click(150, 2, 0), click(300, 0, 1)]);
        assert!(detect_rage(&ev, &RageParams::default()).is_some());
        let strict = RageParams { min_clicks: 5, ..RageParams::default() };
        assert!(detect_rage(&ev, &strict).is_none());
    }

    #[test]
    fn the_detector_decides_a_burst_when_its_answer_window_passes() {
        let mut d = Detector::new(Params::default());
        for i in 0..6u32 {
            assert_eq!(d.push(click(1000 + i * 150, 400, 300)), None, "undecided clicks claim nothing");
        }
        // The pointer rests; the loader's quiet decides every click at once.
        let det = d.push(quiet_after(1750)).expect("rage");
        assert_eq!((det.features.clicks, det.t_ms), (6, 1750));
        assert_eq!(detect_rage(d.evidence(), &RageParams::default()), Some(det), "evidence re-detects");
        // Ten seconds later a new burst, decided by the pointer's moves while it goes on:
        // emitted when a decision finds it more confident than before.
        let mut emitted: heapless::Vec<u8, 8> = heapless::Vec::new();
        for i in 0..5u32 {
            let t = 20_000 + i * 300;
            let _ = d.push(click(t, 10, 10));
            if let Some(e) = d.push(mv(t + 250, 12, 10)) {
                emitted.push(e.features.clicks).unwrap();
            }
        }
        for i in 0..8u32 {
            if let Some(e) = d.push(mv(21_500 + i * 200, 12, 11)) {
                emitted.push(e.features.clicks).unwrap();
                assert_eq!(detect_rage(d.evidence(), &RageParams::default()), Some(e), "evidence re-detects");
            }
        }
        // Decided at the first press's window (1 press: nothing), then at the newest press's
        // as of then (4 presses), then at the fifth's (no more confident: 99% already).
        assert_eq!(&emitted[..], &[4], "{emitted:?}");
    }

    /// Five clicks 150 ms apart on one spot, with a response `answer_ms` after each (if any),
    /// decided by the loader's quiet.
    fn burst(answer_ms: Option<u32>) -> heapless::Vec<Sample, 16> {
        let mut ev = heapless::Vec::new();
        ev.push(mv(900, 398, 299)).unwrap();
        for i in 0..5u32 {
            let t = 1000 + i * 150;
            ev.push(click(t, 400 + (i % 2) as i16, 300)).unwrap();
            if let Some(a) = answer_ms {
                ev.push(response(t + a)).unwrap();
            }
        }
        if answer_ms.is_none() {
            ev.push(quiet_after(1600)).unwrap();
        } else {
            ev.push(mv(1600 + RESPONSE_WINDOW_MS, 0, 0)).unwrap();
        }
        ev
    }

    #[test]
    fn a_stepper_whose_clicks_are_answered_is_not_rage() {
        let ev = burst(Some(12));
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
        let mut d = Detector::default();
        for s in &ev {
            assert_eq!(d.push(*s), None, "{s:?}");
        }
    }

    #[test]
    fn a_dead_button_without_responses_is_rage_and_a_blind_replay_never_claims_it() {
        let ev = burst(None);
        let d = detect_rage(&ev, &RageParams::default()).expect("rage");
        assert_eq!(d.features.clicks, 5);
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        let mut det = Detector::default();
        assert_eq!(ev.iter().filter_map(|s| det.push(*s)).count(), 1);
        // Replayed from a recorder that did not capture answers: recorded, never claimed.
        let mut blind = Detector::new(Params { trace: TraceParams { answers: false, ..TraceParams::DEFAULT }, ..Params::DEFAULT });
        let best = ev.iter().filter_map(|s| blind.push(*s)).map(|d| d.confidence).fold(0.0f32, f32::max);
        assert!(best > 0.5 && best <= NO_ANSWERS_CAP, "{best}");
    }

    #[test]
    fn a_slow_page_that_answers_late_or_once_per_load_is_not_rage() {
        // Each click answered 300-800 ms after it, the next click coming before the answer.
        let ev = [
            click(1000, 400, 300),
            click(1200, 400, 300),
            response(1500),
            click(1400, 400, 300),
            response(1900),
            response(2200),
            quiet_after(1400),
        ];
        let mut sorted: heapless::Vec<Sample, 8> = ev.iter().copied().collect();
        sorted.sort_unstable_by_key(|s| s.t_ms);
        assert!(detect_rage(&sorted, &RageParams::default()).is_none());
        // Busy: four clicks while a load runs, one answer when it ends, 800 ms after the first.
        let busy =
            [click(1000, 400, 300), click(1200, 400, 300), click(1400, 400, 300), click(1600, 400, 300), response(1800), mv(2700, 0, 0)];
        assert!(detect_rage(&busy, &RageParams::default()).is_none());
        let mut d = Detector::default();
        assert!(busy.iter().all(|s| d.push(*s).is_none()));
    }

    #[test]
    fn a_burst_is_the_run_of_unanswered_clicks_before_the_newest_decided_one() {
        // An answered click ends the burst: two unanswered clicks after it are no burst.
        let ev = decided(&[click(1000, 400, 300), click(1150, 400, 300), response(1160), click(2300, 400, 300), click(2450, 400, 300)]);
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
        // A fake button made of text: the double-click selected its word (answered), then the
        // hammering goes on unanswered for more than the answer window: rage.
        let mut ev: heapless::Vec<Sample, 16> = heapless::Vec::new();
        ev.extend_from_slice(&[click(1000, 400, 300), response(1090), click(1100, 400, 300), response(1190)]).unwrap();
        for i in 0..8 {
            ev.push(click(2200 + i * 140, 401, 300)).unwrap();
        }
        let d = detect_rage(&decided(&ev), &RageParams::default()).expect("rage after the selection");
        assert_eq!(d.features.clicks, 8);
        // An answer to a click long before the burst does not excuse the burst.
        let ev = decided(&[click(0, 10, 10), response(20), click(2000, 400, 300), click(2150, 400, 300), click(2300, 400, 300)]);
        assert!(detect_rage(&ev, &RageParams::default()).is_some());
        // Only decided clicks count: at a sample 1 s after the third of five, three.
        let ev = [
            click(1000, 400, 300),
            click(1150, 400, 300),
            click(1300, 400, 300),
            click(1450, 400, 300),
            click(1600, 400, 300),
            mv(2300, 0, 0),
        ];
        assert_eq!(detect_rage(&ev, &RageParams::default()).map(|d| (d.features.clicks, d.t_ms)), Some((3, 1300)));
    }

    #[test]
    fn a_response_after_the_window_does_not_count() {
        let late = RESPONSE_WINDOW_MS + 50;
        let ev = decided(&[click(1000, 400, 300), click(1400, 400, 300), click(1800, 400, 300), response(1000 + late)]);
        let mut ev = ev;
        ev.sort_unstable_by_key(|s| s.t_ms);
        // 2050 is within the window of the clicks at 1400 and 1800: those two are answered.
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
        let ev =
            decided(&[click(1000, 400, 300), click(1400, 400, 300), click(1800, 400, 300), click(3000, 400, 300), response(3000 + late)]);
        let mut ev = ev;
        ev.sort_unstable_by_key(|s| s.t_ms);
        assert_eq!(detect_rage(&ev, &RageParams::default()).map(|d| d.features.clicks), None, "the 1.2 s gap ends the burst");
    }

    #[test]
    fn context_kinds_do_not_feed_the_filter_or_the_burst() {
        let base = decided(&[mv(900, 380, 290), mv(950, 398, 299), click(1000, 400, 300), click(1180, 402, 301), click(1350, 399, 298)]);
        let with = decided(&[
            mv(900, 380, 290),
            mv(950, 398, 299),
            Sample { t_ms: 960, x: 0, y: 0, kind: Kind::Leave, section: 0 },
            Sample { t_ms: 970, x: 0, y: 0, kind: Kind::Hidden, section: 0 },
            Sample { t_ms: 980, x: 0, y: 0, kind: Kind::Visible, section: 0 },
            click(1000, 400, 300),
            click(1180, 402, 301),
            click(1350, 399, 298),
        ]);
        assert_eq!(detect_rage(&base, &RageParams::default()), detect_rage(&with, &RageParams::default()));
    }

    #[test]
    fn evidence_window_ends_at_the_newest_sample_and_keeps_the_clicks() {
        let mut r = Ring::new();
        for i in 0..100u32 {
            r.push(mv(i * 100, i as i16, 0));
        }
        let mut out = [mv(0, 0, 0); MAX_EVIDENCE];
        let ev = evidence_window(&r, &mut out);
        assert_eq!(ev.last().unwrap().t_ms, 99 * 100);
        assert_eq!(ev.first().unwrap().t_ms, 99 * 100 - EVIDENCE_WINDOW_MS);
        assert_eq!(ev.len(), (EVIDENCE_WINDOW_MS / 100 + 1) as usize);
        // A slow burst with the pointer trembling every 16 ms between presses: the 3.5 s
        // window holds 200 moves, the evidence 64 samples, every press among them.
        let mut d = Detector::default();
        let mut got = None;
        for t in (0..3800u32).step_by(16) {
            let press = [1000, 1850, 2700].iter().any(|&p| (t..t + 16).contains(&p));
            let s = if press { click(t, 400, 300) } else { mv(t, 400 + (t % 3) as i16, 300) };
            got = got.or(d.push(s));
        }
        let det = got.expect("rage");
        assert_eq!(det.features.clicks, 3);
        assert_eq!(d.evidence().len(), MAX_EVIDENCE);
    }
}
