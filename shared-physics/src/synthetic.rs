//! The deterministic pointer stream the per-event benchmarks feed the physics: natively
//! (`benches/per_event.rs`, criterion) and as the built wasm modules in Chromium
//! (`cargo xtask bench physics`, whose worker script ports it to JS line for line and checks
//! the port by a checksum). Not used by any detector.

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
