//! What a detection is, for every detector, the wire and the server: the [`Detection`] result,
//! the [`Features`] its confidence was computed from, the confidence ceiling and the logistic
//! function every confidence goes through, the evidence limit, and the click timing that both
//! `rage` ([`crate::detect`]) and `frustration` ([`crate::emotions`]) read.
//!
//! It needs nothing but the crate root, so the detectors and the protocol ([`crate::wire`]) all
//! build on it without depending on each other. [`crate::features`] holds the computations
//! (direction entropy, dispersion, …); [`Features`] here is the record a detection carries.

use crate::Emotion;

/// The most samples a detection carries as evidence (also the wire limit).
pub const MAX_EVIDENCE: usize = 64;
/// Confidence ceiling: no detector claims certainty.
pub const MAX_CONFIDENCE: f32 = 0.99;
/// Clicks closer than this (ms) to the next click of a burst are the same click: faster than a
/// person can click again, they are a `<label>` echoing onto its input or a bouncing switch.
pub const MIN_HUMAN_ICI_MS: u32 = 40;
/// How long after a click (ms) a [`crate::Kind::Response`] still answers it (and before the next
/// click). 300 ms covers a synchronous DOM update, a framework's next render and a CSS-free
/// spinner being inserted; an answer later than that is one a person has already missed.
pub const RESPONSE_WINDOW_MS: u32 = 300;

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
