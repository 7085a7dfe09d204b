//! # shared-physics
//!
//! One implementation of SentientIQ's physics, used by the browser SDK (compiled to WASM inside
//! a Web Worker), by the server (which recomputes every detection from its evidence) and by the
//! tests. It is `#![no_std]` and needs no allocator: every buffer is fixed-size and a full buffer
//! is an error value, never a panic.
//!
//! The path of a pointer sample:
//!
//! 1. The SDK's loader copies `(kind, t, x, y, section)` from a DOM event into a typed array; the
//!    worker turns each row into a [`Sample`] and pushes it into a [`ring::Ring`] and a
//!    [`kinematics::Tracker`].
//! 2. On every click, the worker cuts the evidence window ([`detect::evidence_window`]) out of the
//!    ring and runs [`detect::detect_rage`] over exactly that slice.
//! 3. A detection travels as a [`wire::Frame::Detection`] with the evidence; the server calls the
//!    same [`detect::detect_rage`] on the same slice with the tenant's [`detect::RageParams`] and
//!    gets bit-identical features, so it never has to trust the client's confidence.
//!
//! ## Modules, in layers
//!
//! A module uses only the crate root and modules listed before it; `cargo xtask deps` checks
//! that the module graph has no cycle.
//!
//! 1. The crate root: the vocabulary every module shares ([`Sample`], [`Kind`], [`Emotion`])
//!    and the small deterministic math ([`norm`], [`sqrt`], [`exp2`], [`log2`]).
//! 2. What a detection is and how sure it may be: [`detection`] (the
//!    [`detection::Detection`] result and its [`detection::Features`], the confidence ceiling
//!    and the logistic function, the evidence limit, the click and answer timing) and
//!    [`calibration`] (each emotion's Platt scaling).
//! 3. Measurements over samples: [`features`] (direction entropy, path efficiency, click
//!    dispersion, curvature, arm dynamics), [`ring`] (the sample ring buffer) and [`trace`] (the
//!    salient trace, kept in a ring).
//! 4. [`wire`]: the versioned postcard protocol, frames made of samples and detection
//!    vocabulary, and [`wire::lean`], its serde-free codec for the SDK.
//! 5. [`kinematics`]: smoothed derivatives, and the [`kinematics::Tracker`] that fills a
//!    [`wire::Physics`] summary.
//! 6. The detectors: [`emotions`] (the long-window emotions, their section classes and
//!    thresholds), then [`detect`] (rage, and the streaming [`detect::Detector`] that runs every
//!    emotion over a ring and a trace with the tenant's [`detect::Params`]).
//!
//! Beside the layers, on the crate root alone: [`paging`] (the bar a human is paged on),
//! [`crowd`] (the crowd's norm of each spot of a page) and [`synthetic`] (the benchmark stream). `detect` re-exports what moved down to `detection`
//! (and `emotions::EMIT_FLOOR_PCT`), so `detect::Detection`, `detect::MAX_EVIDENCE` and the
//! other earlier paths still name the same items.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calibration;
pub mod crowd;
pub mod detect;
pub mod detection;
pub mod emotions;
pub mod features;
pub mod kinematics;
pub mod paging;
pub mod ring;
pub mod synthetic;
pub mod trace;
pub mod wire;

use serde::{Deserialize, Serialize};

/// Euclidean length of `(x, y)`: `√(x² + y²)`. Pointer magnitudes (px, px/s, px/s², px/s³)
/// stay far below `√f32::MAX ≈ 1.8·10¹⁹`, so this needs none of `hypotf`'s rescaling, which
/// would cost the SDK several hundred bytes.
pub fn norm(x: f32, y: f32) -> f32 {
    sqrt(x * x + y * y)
}

/// `√v` for `v ≥ 0` (0 for anything else), within an ulp or two: three Newton steps from the
/// classic exponent-halving first guess. Plain f32 arithmetic in a fixed order, so identical
/// natively and in wasm; libm's correctly rounded software `sqrtf` costs the SDK about 470 bytes
/// and the wasm `f32.sqrt` instruction is not reachable from stable `no_std` Rust.
pub fn sqrt(v: f32) -> f32 {
    if v.is_nan() || v <= 0.0 {
        return 0.0;
    }
    let mut g = f32::from_bits((v.to_bits() >> 1) + 0x1fbd_1df5);
    for _ in 0..3 {
        g = 0.5 * (g + v / g);
    }
    g
}

/// `2^x` for `x` in about `-126..128`, within 2·10⁻⁶ relative (a degree-7 polynomial for the
/// fraction, the integer part put straight into the exponent bits). Plain f32 arithmetic in a
/// fixed order, so native and wasm give the same bits; a few dozen bytes of wasm instead of
/// libm's `expf` (about 600).
pub fn exp2(x: f32) -> f32 {
    let x = x.clamp(-126.0, 127.0);
    let i = x as i32 - i32::from(x < 0.0 && x != (x as i32) as f32);
    let f = x - i as f32;
    // Taylor series of 2^f = e^(f·ln 2) on [0, 1).
    let t = f * core::f32::consts::LN_2;
    let p = 1.0 + t * (1.0 + t * (0.5 + t * (1.0 / 6.0 + t * (1.0 / 24.0 + t * (1.0 / 120.0 + t * (1.0 / 720.0 + t * (1.0 / 5040.0)))))));
    p * f32::from_bits(((i + 127) as u32) << 23)
}

/// `log2(x)` for positive normal `x`, within about 2·10⁻⁵ (exponent bits plus a polynomial of
/// the mantissa); see [`exp2`] for why not libm.
pub fn log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // 1 ≤ m < 2
                                                                // log2(m) for m in [1, 2): an odd series in s = (m − 1)/(m + 1).
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    e as f32 + s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0)))) * core::f32::consts::LOG2_E
}

/// What happened at a sample. Encoded on the wire as a one-byte varint index: append, never
/// reorder. Pointer kinds (`Move`..=`Scroll`) carry coordinates; the context kinds
/// (`Response`..=`Quiet`) carry `x = y = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Pointer moved (coalesced to at most one per animation frame by the loader).
    Move,
    /// Pointer button pressed.
    Down,
    /// Pointer button released.
    Up,
    /// A click (press and release on the same element).
    Click,
    /// The page scrolled; `y` holds the vertical scroll offset in px (clamped to `i16`).
    Scroll,
    /// The page visibly answered the most recent click (a DOM change, a focus, a selection, a
    /// value change or a navigation), observed within [`detection::RESPONSE_WINDOW_MS`] of it;
    /// `x`, `y` are 0.
    Response,
    /// The pointer left the document; `x`, `y` are 0.
    Leave,
    /// The page became hidden (`visibilitychange`); `x`, `y` are 0.
    Hidden,
    /// The page became visible again; `x`, `y` are 0.
    Visible,
    /// The answer window of the most recent click closed with no answer:
    /// [`detection::RESPONSE_WINDOW_MS`] passed after it without a [`Kind::Response`] or another
    /// click. It makes "unanswered" something the loader saw, at a known time, rather than the
    /// absence of a later sample; `x`, `y` are 0.
    Quiet,
}

impl Kind {
    /// The kind for a loader code (`0..=9`, the variant index), `None` for anything else.
    pub fn from_code(code: u32) -> Option<Kind> {
        // A match rather than `ALL.get(..)`: 21 gzip bytes smaller in the SDK's wasm.
        Some(match code {
            0 => Kind::Move,
            1 => Kind::Down,
            2 => Kind::Up,
            3 => Kind::Click,
            4 => Kind::Scroll,
            5 => Kind::Response,
            6 => Kind::Leave,
            7 => Kind::Hidden,
            8 => Kind::Visible,
            9 => Kind::Quiet,
            _ => return None,
        })
    }

    /// Every kind, in variant (and loader code) order.
    pub const ALL: [Kind; 10] = [
        Kind::Move,
        Kind::Down,
        Kind::Up,
        Kind::Click,
        Kind::Scroll,
        Kind::Response,
        Kind::Leave,
        Kind::Hidden,
        Kind::Visible,
        Kind::Quiet,
    ];

    /// The lowercase name used in the event CSV (`docs/event-csv.md`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Move => "move",
            Kind::Down => "down",
            Kind::Up => "up",
            Kind::Click => "click",
            Kind::Scroll => "scroll",
            Kind::Response => "response",
            Kind::Leave => "leave",
            Kind::Hidden => "hidden",
            Kind::Visible => "visible",
            Kind::Quiet => "quiet",
        }
    }

    /// The kind called `name` (see [`Kind::name`]).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True for the pointer kinds (`Move`..=`Scroll`), which carry coordinates.
    pub fn is_pointer(self) -> bool {
        (self as u8) <= Kind::Scroll as u8
    }
}

/// One quantised pointer sample: integer milliseconds since page start and integer CSS pixels
/// in the viewport. The same struct is stored in the ring, sent as evidence and recomputed by the
/// server, so what the client saw and what the server checks are the same numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since the page's time origin (`performance.now()`, rounded down).
    pub t_ms: u32,
    /// Viewport x in CSS px.
    pub x: i16,
    /// Viewport y in CSS px (for [`Kind::Scroll`]: the scroll offset).
    pub y: i16,
    /// What happened.
    pub kind: Kind,
    /// Interned section id of the event target (`0` = no section).
    pub section: u8,
}

/// The emotional vocabulary. Encoded as a one-byte varint index: append, never reorder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Emotion {
    /// Rapid repeated clicks in a small radius (see [`detect::detect_rage`]).
    Rage,
    /// Dead clicks, failed submits (see [`emotions::detect_frustration`]).
    Frustration,
    /// Scroll reversals, thrashing (see [`emotions::detect_confusion`]).
    Confusion,
    /// Oscillation between options, dwell without acting (see [`emotions::detect_hesitation`]).
    Hesitation,
    /// Exit intent (see [`emotions::detect_abandonment`]).
    Abandonment,
    /// Steady reading (see [`emotions::detect_engaged`]).
    Engaged,
}

impl Emotion {
    /// Every emotion, in variant order.
    pub const ALL: [Emotion; 6] =
        [Emotion::Rage, Emotion::Frustration, Emotion::Confusion, Emotion::Hesitation, Emotion::Abandonment, Emotion::Engaged];

    /// The emotion called `name` (see [`Emotion::name`]).
    pub fn from_name(name: &str) -> Option<Emotion> {
        Emotion::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The lowercase name used in APIs, logs and the dashboard.
    pub fn name(self) -> &'static str {
        match self {
            Emotion::Rage => "rage",
            Emotion::Frustration => "frustration",
            Emotion::Confusion => "confusion",
            Emotion::Hesitation => "hesitation",
            Emotion::Abandonment => "abandonment",
            Emotion::Engaged => "engaged",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_small_math_is_close_to_libm() {
        for i in 0..2000 {
            let v = i as f32 * 7.3 + 0.01;
            assert!((sqrt(v) - libm::sqrtf(v)).abs() <= 2.0 * f32::EPSILON * libm::sqrtf(v), "sqrt {v}");
            let x = i as f32 / 50.0 - 20.0;
            let (ours, theirs) = (exp2(x), libm::exp2f(x));
            assert!((ours - theirs).abs() <= 2e-6 * theirs, "exp2 {x}: {ours} vs {theirs}");
            let p = (i + 1) as f32 / 1000.0;
            assert!((log2(p) - libm::log2f(p)).abs() <= 3e-5, "log2 {p}");
        }
        assert_eq!((sqrt(0.0), sqrt(-1.0), sqrt(f32::NAN)), (0.0, 0.0, 0.0));
    }

    #[test]
    fn loader_codes_names_and_variant_order_agree() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(Kind::from_code(i as u32), Some(k));
            assert_eq!(k as usize, i);
            assert_eq!(k.is_pointer(), i <= 4, "{}", k.name());
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("hover"), None);
        assert_eq!(Kind::from_code(Kind::ALL.len() as u32), None);
        let names: [&str; 10] = Kind::ALL.map(Kind::name);
        assert_eq!(names, ["move", "down", "up", "click", "scroll", "response", "leave", "hidden", "visible", "quiet"]);
    }
}
