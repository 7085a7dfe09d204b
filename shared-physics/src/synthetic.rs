//! Deterministic input for benchmarks and tests, not used by any detector: the pointer stream
//! the per-event benchmarks feed the physics, natively (`benches/per_event.rs`, criterion) and
//! as the built wasm modules in Chromium (`cargo xtask bench physics`, whose worker script ports
//! it to JS line for line and checks the port by a checksum); and a rage burst's detection frame
//! as the SDK sends it, which the server's tests and the escalation bench send as a visitor's.

use crate::detect::{Detector, Params};
use crate::wire::DetectionFrame;
use crate::{Kind, Sample};

/// `n` samples: a wandering pointer (a move every 16 ms, steps drawn from a xorshift32
/// generator seeded with `0x2545_f491`), scrolls of 40 px at `i % 64` in `20..=29`, and a
/// five-click burst (clicks 136 ms apart) at `i % 64` in `59..`. Section 1 throughout.
pub fn stream(n: usize) -> impl Iterator<Item = Sample> {
    let (mut x, mut y, mut t) = (400i32, 300i32, 0u32);
    let mut state = 0x2545_f491u32;
    (0..n).map(move |i| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        t += 16;
        let kind = match i % 64 {
            59.. => Kind::Click,
            20..=29 => Kind::Scroll,
            _ => Kind::Move,
        };
        if kind == Kind::Scroll {
            y = (y + 40) % 3000;
        } else if kind == Kind::Move {
            x = (x + (state % 21) as i32 - 10).clamp(0, 1400);
            y = (y + ((state >> 8) % 21) as i32 - 10).clamp(0, 900);
        } else {
            t += 120;
        }
        Sample { t_ms: t, x: x as i16, y: y as i16, kind, section: 1 }
    })
}

/// A five-click rage burst in section `section`, `offset_ms` into the page, as the SDK's detector
/// emits it: five moves from `offset_ms + 900`, five clicks 140 ms apart from `offset_ms + 1000`
/// (1 px apart), and the loader's quiet row 1 s after the last click, which decides the burst.
/// Its last detection frame, with the evidence (`None` would mean the detector no longer calls
/// such a burst anything); a second burst 3 s or more later is another.
pub fn rage_burst_frame(offset_ms: u32, section: u8) -> Option<DetectionFrame> {
    let mut det = Detector::new(Params::DEFAULT);
    let moves = (0..5u32).map(|i| Sample { t_ms: offset_ms + 900 + i * 10, x: 300 + i as i16 * 10, y: 200, kind: Kind::Move, section: 0 });
    let clicks =
        (0..5u32).map(|i| Sample { t_ms: offset_ms + 1000 + i * 140, x: 400 + (i % 2) as i16, y: 300, kind: Kind::Click, section });
    let quiet = Sample { t_ms: offset_ms + 1000 + 4 * 140 + 1000, x: 0, y: 0, kind: Kind::Quiet, section: 0 };
    let mut last = None;
    for s in moves.chain(clicks).chain([quiet]) {
        if let Some(d) = det.push(s) {
            last = Some(DetectionFrame {
                emotion: d.emotion,
                confidence_pct: d.confidence_pct(),
                t_ms: d.t_ms,
                section: d.section,
                evidence: det.evidence().iter().copied().collect(),
            });
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rage_burst_frame_is_rage_with_its_five_clicks() {
        for (offset, section) in [(0, 1), (5000, 7)] {
            let f = rage_burst_frame(offset, section).expect("a five-click burst at a dead spot is a detection");
            assert_eq!((f.emotion, f.section, f.t_ms), (crate::Emotion::Rage, section, offset + 1000 + 4 * 140));
            assert!(f.confidence_pct >= 85, "{}", f.confidence_pct);
            assert_eq!(f.evidence.iter().filter(|s| s.kind == Kind::Click).count(), 5);
            assert_eq!(f.evidence.last().map(|s| s.kind), Some(Kind::Quiet));
        }
    }
}
