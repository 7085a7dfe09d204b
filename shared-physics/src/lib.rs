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
//! Modules: [`kinematics`] (smoothed derivatives), [`features`] (direction entropy, path
//! efficiency, click dispersion), [`detect`] (the emotion detectors), [`ring`] (the sample ring
//! buffer) and [`wire`] (the versioned postcard protocol).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod detect;
pub mod features;
pub mod kinematics;
pub mod ring;
pub mod wire;

use serde::{Deserialize, Serialize};

/// Euclidean length of `(x, y)`: `√(x² + y²)`. Pointer magnitudes (px, px/s, px/s², px/s³)
/// stay far below `√f32::MAX ≈ 1.8·10¹⁹`, so this needs none of `hypotf`'s rescaling, which
/// would cost the SDK several hundred bytes.
pub fn norm(x: f32, y: f32) -> f32 {
    libm::sqrtf(x * x + y * y)
}

/// What happened at a sample. Encoded on the wire as a one-byte varint index: append, never
/// reorder. Pointer kinds (`Move`..=`Scroll`) carry coordinates; the context kinds
/// (`Response`..=`Visible`) carry `x = y = 0`.
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
    /// value change or a navigation), observed within [`detect::RESPONSE_WINDOW_MS`] of it;
    /// `x`, `y` are 0.
    Response,
    /// The pointer left the document; `x`, `y` are 0.
    Leave,
    /// The page became hidden (`visibilitychange`); `x`, `y` are 0.
    Hidden,
    /// The page became visible again; `x`, `y` are 0.
    Visible,
}

impl Kind {
    /// The kind for a loader code (`0..=8`, the variant index), `None` for anything else.
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
            _ => return None,
        })
    }

    /// Every kind, in variant (and loader code) order.
    pub const ALL: [Kind; 9] =
        [Kind::Move, Kind::Down, Kind::Up, Kind::Click, Kind::Scroll, Kind::Response, Kind::Leave, Kind::Hidden, Kind::Visible];

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
        }
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
    /// Dead clicks, failed submits (detector: a later issue).
    Frustration,
    /// Scroll reversals, section ping-pong (detector: a later issue).
    Confusion,
    /// Oscillation between options, dwell without acting (detector: a later issue).
    Hesitation,
    /// Exit intent (detector: a later issue).
    Abandonment,
    /// Steady, productive interaction (detector: a later issue).
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
    fn loader_codes_names_and_variant_order_agree() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(Kind::from_code(i as u32), Some(k));
            assert_eq!(k as usize, i);
            assert_eq!(k.is_pointer(), i <= 4, "{}", k.name());
        }
        assert_eq!(Kind::from_code(Kind::ALL.len() as u32), None);
        let names: [&str; 9] = Kind::ALL.map(Kind::name);
        assert_eq!(names, ["move", "down", "up", "click", "scroll", "response", "leave", "hidden", "visible"]);
    }
}
