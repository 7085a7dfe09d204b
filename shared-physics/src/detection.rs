//! What a detection is, for every detector, the wire and the server: the [`Detection`] result,
//! the [`Features`] its confidence was computed from, the confidence ceiling and the logistic
//! function every confidence goes through, the evidence limit, and the click timing that both
//! `rage` ([`crate::detect`]) and `frustration` ([`crate::emotions`]) read.
//!
//! It needs nothing but the crate root, so the detectors and the protocol ([`crate::wire`]) all
//! build on it without depending on each other. [`crate::features`] holds the computations
//! (direction entropy, dispersion, …); [`Features`] here is the record a detection carries.

use crate::{Emotion, Kind, Sample};

/// The most samples a detection carries as evidence (also the wire limit).
pub const MAX_EVIDENCE: usize = 64;
/// Confidence ceiling: no detector claims certainty.
pub const MAX_CONFIDENCE: f32 = 0.99;
/// Clicks closer than this (ms) to the next click of a burst are the same click: faster than a
/// person can click again, they are a `<label>` echoing onto its input or a bouncing switch.
pub const MIN_HUMAN_ICI_MS: u32 = 40;
/// How long after a click (ms) the page has to answer it: a [`crate::Kind::Response`] at most
/// this long after a click answers it, whatever other clicks came in between (a page busy
/// loading answers a run of impatient clicks once, when the load ends). A click is *decided*
/// once this long has passed after it (a later sample at least this much newer, or the loader's
/// [`crate::Kind::Quiet`]): answered, or dead. 1 s is the limit of a response time that keeps a
/// person's flow of thought (Nielsen, *Usability Engineering*, 1993, ch. 5): a slower answer
/// with no sign of progress is one a person has already taken for no answer, and one a
/// detector must not take for a dead control before it comes. The price is that rage and dead
/// clicks are known 1 s after the click that decides them.
pub const RESPONSE_WINDOW_MS: u32 = 1000;
/// The `y` of a [`Kind::Response`] the loader saw while the press was still held (between its
/// `down` and its click: a menu opening on the press, a text field taking focus, a word
/// selected by a double press), written right after that press's click: the press's own answer.
/// It answers that click alone, never the clicks before it, which it says nothing about. A press
/// that continues a multi-click gesture (the click count of a double or triple click) writes the
/// count instead, up to [`MAX_GESTURE_PRESSES`]: the paragraph a triple click selects answers its
/// three presses. An ordinary answer (`y` = 0) came after the click and answers every click of
/// the second before it.
pub const OWN_ANSWER: i16 = 1;
/// The most presses a press's own answer answers (its `y`; larger values count as this many).
pub const MAX_GESTURE_PRESSES: i16 = 3;

/// How many presses, back from the one it follows, a response answers: 0 for an ordinary answer
/// (every click of the second before it), else its `y` ([`OWN_ANSWER`], [`MAX_GESTURE_PRESSES`]).
fn reach(s: &Sample) -> usize {
    s.y.clamp(0, MAX_GESTURE_PRESSES) as usize
}

/// What became of a click, as far as an evidence slice knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A [`Kind::Response`] came within [`RESPONSE_WINDOW_MS`] after it (its `x`: the answer's
    /// signature, 0 = not known, or the press's own answer, [`OWN_ANSWER`]).
    Answered(i16),
    /// Its answer window has passed (the slice's newest sample is at least
    /// [`RESPONSE_WINDOW_MS`] after it) with no response in it.
    Dead,
    /// Not decided yet: no response, and nothing in the slice is that much later.
    Open,
}

/// What became of the click at `ev[i]` by the newest sample of `ev`: the first response within
/// [`RESPONSE_WINDOW_MS`] after it answers it, whatever other clicks came in between (a page
/// busy loading answers a run of clicks once), except that a press's own answer
/// ([`OWN_ANSWER`]) answers only the click right before it (a gesture's, the presses of the
/// gesture: as many clicks back as its `y`, at most [`MAX_GESTURE_PRESSES`]). Rage, frustration,
/// confusion, the server's crowd norm and the tools all read answers through this one function.
pub fn answer(ev: &[Sample], i: usize) -> Answer {
    let Some(c) = ev.get(i) else { return Answer::Open };
    let later = ev.get(i + 1..).unwrap_or(&[]);
    match answered(later, c.t_ms) {
        Some(sig) => Answer::Answered(sig),
        None if later.last().is_some_and(|s| s.t_ms.saturating_sub(c.t_ms) >= RESPONSE_WINDOW_MS) => Answer::Dead,
        None => Answer::Open,
    }
}

/// The signature of the first response in `later` (samples after a click at `t_ms`, in time
/// order) within [`RESPONSE_WINDOW_MS`] of the click, if any: [`answer`]'s test, alone. A press's
/// own answer ([`OWN_ANSWER`]) has none (0): what the browser did with the press itself (a
/// selection, a focus, a menu opening on the press) shows the press worked, and is no result of
/// the page's to compare with the last one (the same paragraph selected again is no failing
/// submit).
pub fn answered(later: &[Sample], t_ms: u32) -> Option<i16> {
    answering(later, t_ms).map(|s| if reach(s) == 0 { s.x } else { 0 })
}

/// The response [`answered`] finds: its `x` is the answer's signature, and a `y` above 0 says
/// it was the press's own answer, or its gesture's ([`OWN_ANSWER`]).
pub fn answering(later: &[Sample], t_ms: u32) -> Option<&Sample> {
    // Clicks passed: a press's own answer is this click's only while fewer than its reach.
    let mut passed = 0usize;
    for s in later.iter().take_while(|s| s.t_ms.saturating_sub(t_ms) <= RESPONSE_WINDOW_MS) {
        match s.kind {
            Kind::Response if reach(s) == 0 || passed < reach(s) => return Some(s),
            Kind::Click => passed += 1,
            _ => {}
        }
    }
    None
}

/// The measured features behind a detection.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Features {
    /// Clicks in the burst.
    pub clicks: u8,
    /// Mean interval between the burst's clicks, ms.
    pub mean_ici_ms: f32,
    /// RMS distance of the burst's clicks from their centroid, px.
    pub dispersion_px: f32,
    /// Peak filtered pointer speed in the window, px/s.
    pub peak_speed: f32,
    /// Peak smoothed jerk in the window, px/s³.
    pub peak_jerk: f32,
    /// Normalised direction entropy of the moves in the window, 0..=1.
    pub entropy: f32,
    /// Frustration: dead-click episodes.
    pub dead_clicks: u8,
    /// Reversals (confusion: scroll + pointer; hesitation: swings; engaged: scroll turns;
    /// frustration: repeated answered clicks).
    pub reversals: u8,
    /// Path efficiency (net distance / path length) of the recent moves, 0..=1.
    pub efficiency: f32,
    /// Hesitation: longest dwell, ms; engaged: reading duration, ms; confusion: how long the
    /// pointer has moved since its latest rest (at most the thrash window), ms.
    pub dwell_ms: u32,
    /// Hesitation: hops of the slow approach into the pointer's latest rest.
    pub hops: u8,
    /// The score the confidence is calibrated from (long-window emotions).
    pub score: f32,
}

/// A detection: what, how sure, when, where, and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// The emotion recognised.
    pub emotion: Emotion,
    /// Confidence in `0.0..=MAX_CONFIDENCE`.
    pub confidence: f32,
    /// Time of the triggering sample, ms since page start.
    pub t_ms: u32,
    /// Section id of the triggering sample.
    pub section: u8,
    /// The features the confidence was computed from.
    pub features: Features,
}

impl Detection {
    /// Confidence as a whole percentage, as sent on the wire.
    pub fn confidence_pct(&self) -> u8 {
        libm::roundf(self.confidence * 100.0) as u8
    }
}

/// The logistic function: a detector's calibrated log-odds (`a·z + b`, see
/// [`crate::calibration`]) to a confidence, before the detector caps it.
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + crate::exp2(-z * core::f32::consts::LOG2_E))
}
