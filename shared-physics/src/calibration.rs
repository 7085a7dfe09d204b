//! Platt calibration of every emotion: the confidence of a detection with score `z` is
//! `σ(a·z + b)`. `a` and `b` are fitted by `cargo xtask eval --fit` (logistic regression of the
//! label on `z`) on the **train** split of the labelled corpus (`corpus/`), plus, for the
//! emotions that do not depend on the page's answers to clicks (confusion, hesitation,
//! abandonment, engaged), the train half of the human recordings as negatives; they are checked
//! on the test split by `cargo xtask eval`. The values below are pasted from its output; an
//! emotion without enough points of both kinds keeps the identity.

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

/// The calibration of `emotion` (for rage, applied before its short-burst cap).
pub fn platt(emotion: Emotion) -> Platt {
    match emotion {
        // Too few negatives in the corpus to fit (every answered burst is no burst at all).
        Emotion::Rage => IDENTITY,
        Emotion::Frustration => Platt { a: 2.0953, b: 0.1599 },
        Emotion::Confusion => Platt { a: 1.9233, b: -0.3197 },
        Emotion::Hesitation => Platt { a: 1.7514, b: -1.6695 },
        Emotion::Abandonment => Platt { a: 1.9023, b: -0.9561 },
        Emotion::Engaged => Platt { a: 2.0323, b: -0.2806 },
    }
}
