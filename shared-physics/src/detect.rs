//! The rage detector and the streaming [`Detector`] of every emotion. Each detector is a pure
//! function of an evidence window (a slice of [`Sample`]s), so the server recomputes exactly
//! what the client computed. What they return, [`Detection`], is defined in
//! [`crate::detection`]; the long-window emotions are in [`crate::emotions`].
//!
//! ## `rage`
//!
//! **Signature**: a burst of at least [`RageParams::min_clicks`] clicks, each within
//! [`RageParams::radius_px`] of the burst's last click, consecutive clicks at most
//! [`RageParams::max_ici_ms`] apart, all within [`RageParams::window_ms`].
//!
//! **Evidence window**: every sample from [`EVIDENCE_WINDOW_MS`] before the last click up to
//! and including it, at most [`MAX_EVIDENCE`] samples (the newest are kept).
//!
//! **Features**: click count `n`, mean inter-click interval `ici` (ms), click dispersion `d`
//! (RMS px from the centroid), and, from the α-β-γ filter over the window's pointer moves, peak
//! speed (px/s) and peak smoothed jerk (px/s³); direction entropy of the moves.
//!
//! **Confidence**: `c = σ(z)`, the logistic function of
//! `z = 1.1·(n − 3) + 2.0·(1 − ici/max_ici) + 1.0·(1 − d/radius) + 0.5·min(jerk/JERK_REF, 1) − 0.8`,
//! capped at 0.99, and at [`SHORT_BURST_CAP`] (0.80, below the 0.85 intervention bar) for
//! bursts of fewer than [`MIN_INTERVENTION_CLICKS`] (5) clicks: a double- or triple-click in
//! place is an ordinary gesture, and on the human recordings (`cargo xtask eval`) bursts of four
//! fast clicks are common in ordinary use (map zooming, fast target clicking). Clicks less than [`MIN_HUMAN_ICI_MS`] after the previous one count once.
//! Five fast clicks on the same spot score above 0.9. These weights are set by hand and
//! documented in `docs/detectors.md`; calibration on a labelled corpus is the physics issue's
//! work.
//!
//! **Answered clicks**: a burst click is *answered* when a [`Kind::Response`] sample follows
//! it before the next click and at most [`RESPONSE_WINDOW_MS`] after it (the SDK's loader
//! pushes one `Response` on the page's first visible answer to a click: a DOM mutation, a focus
//! change, a selection change, an input/change event or a navigation). The decision is taken
//! at the burst's last click, whose own answer cannot be known yet, so only the earlier clicks
//! are looked at: the burst is the run of unanswered clicks back from the last one, so a page
//! that answers every click never has one, and clicks after an answered one (a double-click
//! that selected a fake button's text, then the hammering) start a new burst. A stepper, a date picker, a map's zoom buttons and a triple-click selecting text all
//! answer every click; a dead button answers none. The `Response` samples are ordinary ring
//! samples, so they travel in the evidence window and the server's recomputation sees them.
//!
//! **Known failure cases**: a page that answers every click with an error message ("invalid
//! coupon") is answered, so repeated clicks there are not rage; that is `frustration`'s
//! territory (an error after a click), a detector not built yet. A page that answers only after
//! [`RESPONSE_WINDOW_MS`] (a slow server round trip with no spinner) still looks dead.

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
pub use crate::detection::{Detection, Features, MAX_CONFIDENCE, MAX_EVIDENCE, MIN_HUMAN_ICI_MS, RESPONSE_WINDOW_MS};
pub use crate::emotions::EMIT_FLOOR_PCT;

/// How far back (ms) from the triggering click the evidence window reaches.
pub const EVIDENCE_WINDOW_MS: u32 = 2500;
/// Jerk (px/s³) at which the jerk term of the rage confidence saturates.
pub const JERK_REF: f32 = 2.0e6;
/// Bursts of fewer clicks than this are capped at [`SHORT_BURST_CAP`]: a double- or triple-click
/// in place is an ordinary gesture (selecting a word or a line), however fast.
pub const MIN_INTERVENTION_CLICKS: u32 = 5;
/// The most confidence a burst shorter than [`MIN_INTERVENTION_CLICKS`] can have: recorded, but
/// below the 0.85 intervention bar.
pub const SHORT_BURST_CAP: f32 = 0.80;

/// Tenant-tunable thresholds of the rage detector. The defaults are the documented ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RageParams {
    /// The whole burst lies within this many ms before the last click.
    pub window_ms: u32,
    /// Largest gap (ms) between consecutive clicks of a burst.
    pub max_ici_ms: u32,
    /// Largest distance (px) of a burst click from the burst's last click.
    pub radius_px: f32,
    /// Fewest clicks that make a burst.
    pub min_clicks: u8,
}

impl RageParams {
    /// The documented defaults (`docs/detectors.md`).
    pub const DEFAULT: RageParams = RageParams { window_ms: 2000, max_ici_ms: 700, radius_px: 48.0, min_clicks: 3 };
}

impl Default for RageParams {
    fn default() -> Self {
        RageParams::DEFAULT
    }
}

/// Copies the evidence window ending at the newest sample of `ring` into `out` and returns it.
pub fn evidence_window<'a>(ring: &Ring, out: &'a mut [Sample; MAX_EVIDENCE]) -> &'a [Sample] {
    let end = match ring.get(ring.len().wrapping_sub(1)) {
        Some(s) => s.t_ms,
        None => return &out[..0],
    };
    let n = ring.copy_since(end.saturating_sub(EVIDENCE_WINDOW_MS), out);
    // `get` rather than indexing: no panic path, so the SDK's wasm links no formatting code.
    out.get(..n).unwrap_or(&[])
}

/// Recognises rage in an evidence window whose last click triggers it (see the module docs).
/// Returns `None` when the window holds no qualifying burst: the burst is the run of clicks,
/// back from the last, that the page did not answer ([`RESPONSE_WINDOW_MS`]).
pub fn detect_rage(evidence: &[Sample], p: &RageParams) -> Option<Detection> {
    let last = *evidence.iter().rev().find(|s| s.kind == Kind::Click)?;
    let within = |s: &Sample| {
        let (dx, dy) = (s.x as f32 - last.x as f32, s.y as f32 - last.y as f32);
        crate::norm(dx, dy) <= p.radius_px
    };
    // Walk back over the clicks while they keep the burst's shape and the page did not answer
    // them. Evidence comes from clients and may be out of order: time differences saturate
    // instead of wrapping.
    let mut points = [(0.0f32, 0.0f32); MAX_EVIDENCE];
    let mut n: usize = 0;
    let mut first_t = last.t_ms;
    let mut next_t = last.t_ms;
    // The earliest response seen after the click being looked at (and before the later one).
    let mut response: Option<u32> = None;
    for s in evidence.iter().rev() {
        if s.kind == Kind::Response {
            response = Some(s.t_ms);
            continue;
        }
        if s.kind != Kind::Click || s.t_ms > last.t_ms {
            continue;
        }
        let answered = n > 0 && response.is_some_and(|r| r >= s.t_ms && r - s.t_ms <= RESPONSE_WINDOW_MS);
        response = None;
        let gap = next_t.saturating_sub(s.t_ms);
        if n > 0 && gap < MIN_HUMAN_ICI_MS {
            continue;
        }
        if answered || gap > p.max_ici_ms || last.t_ms - s.t_ms > p.window_ms || !within(s) {
            break;
        }
        let Some(slot) = points.get_mut(n) else { break };
        *slot = (s.x as f32, s.y as f32);
        n += 1;
        first_t = s.t_ms;
        next_t = s.t_ms;
    }
    if n < p.min_clicks as usize || n < 2 {
        return None;
    }
    let n = n as u32;
    let mean_ici_ms = (last.t_ms - first_t) as f32 / (n - 1) as f32;
    let dispersion_px = dispersion(points.iter().take(n as usize).copied());

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
        + 2.0 * (1.0 - mean_ici_ms / p.max_ici_ms as f32)
        + 1.0 * (1.0 - dispersion_px / p.radius_px)
        + 0.5 * (peak_jerk / JERK_REF).min(1.0)
        - 0.8;
    let cap = if n < MIN_INTERVENTION_CLICKS { SHORT_BURST_CAP } else { MAX_CONFIDENCE };
    let cal = calibration::platt(Emotion::Rage);
    Some(Detection {
        emotion: Emotion::Rage,
        confidence: sigmoid(cal.a * z + cal.b).min(cap),
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
/// **Rage emit rule**: on every click it cuts the evidence window and runs [`detect_rage`]
/// (capped at [`SHORT_BURST_CAP`] when the source does not record the page's answers,
/// [`TraceParams::answers`] = false: a burst is then not known to be dead). A
/// burst continues while each detection comes within `max_ici_ms` of the previous one; a click
/// without a detection ends it. A detection is emitted when its confidence (in whole percent)
/// is higher than the best one of its burst so far, so a five-click burst emits about three
/// frames (at clicks 3, 4, 5), each with its own evidence.
///
/// **Long-window emit rule**: when the trace keeps a sample, the emotions that sample can
/// change are evaluated over the trace's last [`TRACE_WINDOW_MS`] (frustration when a click's
/// answer window closes or an answer arrives; confusion and engaged on a scroll; confusion and
/// hesitation on a move; abandonment on a leave or hidden). A detection is emitted when it
/// reaches [`EMIT_FLOOR_PCT`] and beats the best of its emotion's episode (an episode ends
/// [`TRACE_WINDOW_MS`] after its last detection). One push returns at most one detection: rage
/// first, else the most confident long-window one.
///
/// `LONG = false` ([`Detector::rage_only`]) skips the trace and the long-window emotions: the
/// SDK's page-start module uses it to stay inside the 8 KB budget (see `docs/detectors.md`).
#[derive(Clone, Debug)]
pub struct Detector<const LONG: bool = true> {
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

impl Detector<true> {
    /// A detector of every emotion with the given thresholds.
    pub const fn new(params: Params) -> Detector<true> {
        Detector::build(params)
    }
}

impl Detector<false> {
    /// A detector of rage alone (no trace, no long-window emotions).
    pub const fn rage_only(params: Params) -> Detector<false> {
        Detector::build(params)
    }
}

impl<const LONG: bool> Detector<LONG> {
    /// A detector of this kind (every emotion or rage alone) with the given thresholds.
    pub const fn build(params: Params) -> Detector<LONG> {
        Detector {
            ring: Ring::new(),
            trace: Trace::new(),
            classes: SectionClasses::new(),
            params,
            burst: None,
            episodes: [None; 5],
            pending_click: None,
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
        let rage = if s.kind == Kind::Click { self.push_click() } else { None };
        if !LONG {
            return rage;
        }

        // The trace: a leave or hidden needs the last position before it.
        if matches!(s.kind, Kind::Leave | Kind::Hidden) {
            if let Some(m) = self.trace.last_move() {
                self.trace.keep(m);
            }
        }
        let closes = s.kind != Kind::Response && self.pending_click.is_some_and(|c| s.t_ms.saturating_sub(c) > RESPONSE_WINDOW_MS);
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

    /// The rage half of [`Detector::push`] for a click already in the ring.
    fn push_click(&mut self) -> Option<Detection> {
        self.evidence_len = evidence_window(&self.ring, &mut self.evidence).len();
        self.from_trace = false;
        let Some(mut d) = detect_rage(self.rage_evidence(), &self.params.rage) else {
            self.burst = None;
            return None;
        };
        // Without the page's answers (a replay of a recorder that did not capture them) a burst
        // cannot be known to be dead: recorded, never claimed at intervention grade.
        if !self.params.trace.answers {
            d.confidence = d.confidence.min(SHORT_BURST_CAP);
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

    /// The raw evidence window of the last click.
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

    #[test]
    fn five_fast_clicks_in_place_are_intervention_grade_rage_and_four_are_not() {
        let ev = [
            mv(900, 380, 290),
            mv(950, 398, 299),
            click(1000, 400, 300),
            click(1180, 402, 301),
            click(1350, 399, 298),
            click(1520, 401, 300),
            click(1690, 400, 299),
        ];
        let d = detect_rage(&ev, &RageParams::default()).expect("rage");
        assert_eq!(d.emotion, Emotion::Rage);
        assert_eq!(d.features.clicks, 5);
        assert_eq!(d.t_ms, 1690);
        assert_eq!(d.section, 2);
        assert!((d.features.mean_ici_ms - 690.0 / 4.0).abs() < 1e-3);
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        // Four such clicks: map zooming and steppers look the same when the page's answers are
        // unknown, so four stay below the bar.
        let four = detect_rage(&ev[..6], &RageParams::default()).expect("rage");
        assert_eq!(four.confidence, SHORT_BURST_CAP);
    }

    #[test]
    fn a_relaxed_triple_click_is_recorded_below_the_intervention_bar() {
        let ev = [click(1000, 400, 300), click(1300, 400, 300), click(1600, 400, 300)];
        let d = detect_rage(&ev, &RageParams::default()).expect("burst of three");
        assert!(d.confidence < 0.85 && d.confidence > 0.5, "{}", d.confidence);
    }

    #[test]
    fn a_fast_triple_click_in_place_stays_below_the_intervention_bar() {
        let ev = [click(1000, 400, 300), click(1100, 400, 300), click(1200, 400, 300)];
        let uncapped = 1.0 / (1.0 + libm::expf(-(2.0 * (1.0 - 100.0 / 700.0) + 1.0 - 0.8)));
        assert!(uncapped > 0.85, "the cap is what keeps it below the bar: {uncapped}");
        let d = detect_rage(&ev, &RageParams::default()).expect("burst of three");
        assert_eq!(d.confidence, SHORT_BURST_CAP);
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
        let d = detect_rage(&ev, &RageParams::default()).expect("burst");
        assert_eq!(d.features.clicks, 3);
        assert!((d.features.mean_ici_ms - 201.5).abs() < 1e-3, "{}", d.features.mean_ici_ms);
        assert!(d.confidence <= SHORT_BURST_CAP);
    }

    #[test]
    fn out_of_order_evidence_from_a_client_is_no_panic() {
        let ev = [click(1000, 400, 300), click(1150, 400, 300), click(1100, 400, 300), click(1200, 400, 300)];
        let _ = detect_rage(&ev, &RageParams::default());
    }

    #[test]
    fn spread_out_or_slow_clicks_are_not_rage() {
        let p = RageParams::default();
        assert!(detect_rage(&[click(0, 0, 0), click(200, 100, 0), click(400, 200, 0)], &p).is_none());
        assert!(detect_rage(&[click(0, 0, 0), click(800, 0, 0), click(1600, 0, 0)], &p).is_none());
        assert!(detect_rage(&[click(0, 0, 0), click(200, 0, 0)], &p).is_none());
        assert!(detect_rage(&[mv(0, 0, 0), mv(16, 5, 5)], &p).is_none());
        assert!(detect_rage(&[], &p).is_none());
    }

    #[test]
    fn tenant_thresholds_change_the_verdict() {
        let ev = [click(0, 0, 0), click(150, 2, 0), click(300, 0, 1)];
        assert!(detect_rage(&ev, &RageParams::default()).is_some());
        let strict = RageParams { min_clicks: 5, ..RageParams::default() };
        assert!(detect_rage(&ev, &strict).is_none());
    }

    #[test]
    fn the_detector_emits_once_per_confidence_step_of_a_burst() {
        let mut d = Detector::new(Params::default());
        let mut emitted = 0;
        for i in 0..6u32 {
            if let Some(det) = d.push(click(1000 + i * 150, 400, 300)) {
                emitted += 1;
                assert_eq!(detect_rage(d.evidence(), &RageParams::default()), Some(det), "evidence re-detects");
            }
        }
        // Clicks 3..=6 each raise the confidence (until the 0.99 cap).
        assert!((2..=4).contains(&emitted), "{emitted}");
        // Ten seconds later a new burst emits again.
        let mut again = 0;
        for i in 0..3u32 {
            again += d.push(click(20_000 + i * 150, 10, 10)).is_some() as u32;
        }
        assert_eq!(again, 1);
    }

    fn response(t: u32) -> Sample {
        Sample { t_ms: t, x: 0, y: 0, kind: Kind::Response, section: 0 }
    }

    /// Five clicks 150 ms apart on one spot, with a response `answer_ms` after each (if any).
    fn burst(answer_ms: Option<u32>) -> ([Sample; 12], usize) {
        let mut ev = [mv(0, 0, 0); 12];
        let mut n = 0;
        ev[n] = mv(900, 398, 299);
        n += 1;
        for i in 0..5u32 {
            let t = 1000 + i * 150;
            ev[n] = click(t, 400 + (i % 2) as i16, 300);
            n += 1;
            if let (Some(a), true) = (answer_ms, i < 4) {
                ev[n] = response(t + a);
                n += 1;
            }
        }
        (ev, n)
    }

    #[test]
    fn a_stepper_whose_clicks_are_answered_is_not_rage() {
        let (ev, n) = burst(Some(12));
        assert!(detect_rage(&ev[..n], &RageParams::default()).is_none());
        let mut d = Detector::default();
        for s in &ev[..n] {
            assert_eq!(d.push(*s), None, "{s:?}");
        }
    }

    #[test]
    fn a_dead_button_without_responses_is_still_rage() {
        let (ev, n) = burst(None);
        let d = detect_rage(&ev[..n], &RageParams::default()).expect("rage");
        assert_eq!(d.features.clicks, 5);
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        let mut det = Detector::default();
        let emitted = ev[..n].iter().filter_map(|s| det.push(*s)).count();
        assert!(emitted >= 2, "{emitted}");
        // Replayed from a recorder that did not capture answers: recorded, never claimed.
        let mut blind = Detector::new(Params { trace: TraceParams { answers: false, ..TraceParams::DEFAULT }, ..Params::DEFAULT });
        let best = ev[..n].iter().filter_map(|s| blind.push(*s)).map(|d| d.confidence).fold(0.0f32, f32::max);
        assert!(best > 0.5 && best <= SHORT_BURST_CAP, "{best}");
    }

    #[test]
    fn a_burst_is_the_run_of_unanswered_clicks_before_the_last() {
        // An answered click ends the burst: two unanswered clicks after it are no burst.
        let ev = [click(1000, 400, 300), click(1150, 400, 300), response(1160), click(1300, 400, 300), click(1450, 400, 300)];
        assert!(detect_rage(&ev, &RageParams::default()).is_none());
        // A fake button made of text: the double-click selected its word (answered), then the
        // hammering goes on unanswered: rage.
        let mut ev: heapless::Vec<Sample, 16> = heapless::Vec::new();
        ev.extend_from_slice(&[click(1000, 400, 300), response(1090), click(1100, 400, 300), response(1190)]).unwrap();
        for i in 0..6 {
            ev.push(click(1240 + i * 140, 401, 300)).unwrap();
        }
        let d = detect_rage(&ev, &RageParams::default()).expect("rage after the selection");
        assert_eq!(d.features.clicks, 6);
        assert!(d.confidence >= 0.85, "{}", d.confidence);
        // An answer to the last click is not known when it is decided (and does not count).
        let ev = [click(1000, 400, 300), click(1150, 400, 300), click(1300, 400, 300), click(1450, 400, 300), response(1460)];
        assert!(detect_rage(&ev, &RageParams::default()).is_some());
        // An answer to a click before the burst does not excuse the burst.
        let ev = [click(0, 10, 10), response(20), click(1000, 400, 300), click(1150, 400, 300), click(1300, 400, 300)];
        assert!(detect_rage(&ev, &RageParams::default()).is_some());
    }

    #[test]
    fn a_response_after_the_window_does_not_count() {
        // Clicks 400 ms apart; each "answer" comes 350 ms later: past RESPONSE_WINDOW_MS.
        let late = RESPONSE_WINDOW_MS + 50;
        let ev = [
            click(1000, 400, 300),
            response(1000 + late),
            click(1400, 400, 300),
            response(1400 + late),
            click(1800, 400, 300),
            response(1800 + late),
            click(2200, 400, 300),
        ];
        let d = detect_rage(&ev, &RageParams::default()).expect("late answers do not count");
        assert_eq!(d.features.clicks, 4);
        // The same answer inside the window does: the answered click is not part of the burst.
        let early = RESPONSE_WINDOW_MS;
        let ev = [click(1000, 400, 300), response(1000 + early), click(1400, 400, 300), click(1800, 400, 300), click(2200, 400, 300)];
        assert_eq!(detect_rage(&ev, &RageParams::default()).expect("three unanswered").features.clicks, 3);
    }

    #[test]
    fn context_kinds_do_not_feed_the_filter_or_the_burst() {
        let base = [mv(900, 380, 290), mv(950, 398, 299), click(1000, 400, 300), click(1180, 402, 301), click(1350, 399, 298)];
        let with = [
            mv(900, 380, 290),
            mv(950, 398, 299),
            Sample { t_ms: 960, x: 0, y: 0, kind: Kind::Leave, section: 0 },
            Sample { t_ms: 970, x: 0, y: 0, kind: Kind::Hidden, section: 0 },
            Sample { t_ms: 980, x: 0, y: 0, kind: Kind::Visible, section: 0 },
            click(1000, 400, 300),
            click(1180, 402, 301),
            click(1350, 399, 298),
        ];
        assert_eq!(detect_rage(&base, &RageParams::default()), detect_rage(&with, &RageParams::default()));
    }

    #[test]
    fn evidence_window_ends_at_the_newest_sample() {
        let mut r = Ring::new();
        for i in 0..100u32 {
            r.push(mv(i * 50, i as i16, 0));
        }
        let mut out = [mv(0, 0, 0); MAX_EVIDENCE];
        let ev = evidence_window(&r, &mut out);
        assert_eq!(ev.last().unwrap().t_ms, 99 * 50);
        assert_eq!(ev.first().unwrap().t_ms, 99 * 50 - EVIDENCE_WINDOW_MS);
        assert_eq!(ev.len(), (EVIDENCE_WINDOW_MS / 50 + 1) as usize);
    }
}
