//! The bar a human is paged on, stricter than the bar of an in-page intervention.
//!
//! An intervention answers one confident detection. Paging a person costs their attention, so
//! the server pages only when the struggle **persists over more than one burst**: a second
//! confirmed struggle detection (any emotion but `engaged`) at or above the paging confidence,
//! whose page time is at least [`MIN_GAP_MS`] after an earlier one (so the two are separate
//! bursts, not clicks of one burst) and at most [`WINDOW_MS`] after it (so they are one
//! episode). The server applies it per session after its own recomputation; `cargo xtask eval`
//! applies the same code to the human recordings and reports how often it fires there.

use crate::Emotion;

/// Least page time between two bursts that count as separate, ms.
pub const MIN_GAP_MS: u32 = 3_000;
/// Most page time between the first and the second burst of one episode, ms.
pub const WINDOW_MS: u32 = 120_000;
/// Default least confidence (percent) of a detection that counts towards paging.
pub const DEFAULT_CONFIDENCE_PCT: u8 = 90;
/// Earlier struggle detections remembered per session.
const KEPT: usize = 8;

/// Per-session memory of struggle detections for the paging bar.
#[derive(Clone, Debug, Default)]
pub struct Persistence {
    times: [u32; KEPT],
    len: usize,
    next: usize,
}

impl Persistence {
    /// A session with no struggle yet.
    pub const fn new() -> Persistence {
        Persistence { times: [0; KEPT], len: 0, next: 0 }
    }

    /// Notes a confirmed detection of `emotion` at page time `t_ms` with `confidence_pct`;
    /// true when it meets the paging bar of `min_pct` (see the module docs).
    pub fn note(&mut self, emotion: Emotion, confidence_pct: u8, t_ms: u32, min_pct: u8) -> bool {
        if emotion == Emotion::Engaged || confidence_pct < min_pct {
            return false;
        }
        let persisted = self.times.iter().take(self.len).any(|&t| {
            let gap = t_ms.wrapping_sub(t);
            t_ms >= t && (MIN_GAP_MS..=WINDOW_MS).contains(&gap)
        });
        self.times[self.next] = t_ms;
        self.next = (self.next + 1) % KEPT;
        self.len = (self.len + 1).min(KEPT);
        persisted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_burst_never_pages() {
        let mut p = Persistence::new();
        // Five detections of one burst, 300 ms apart.
        for i in 0..5 {
            assert!(!p.note(Emotion::Rage, 97, 10_000 + i * 300, 90));
        }
    }

    #[test]
    fn a_second_burst_pages_within_the_window_only() {
        let mut p = Persistence::new();
        assert!(!p.note(Emotion::Rage, 95, 10_000, 90));
        assert!(!p.note(Emotion::Rage, 95, 12_999, 90), "2,999 ms later is the same burst");
        assert!(p.note(Emotion::Frustration, 91, 13_000, 90), "another struggle 3 s later persists");
        let mut late = Persistence::new();
        assert!(!late.note(Emotion::Rage, 95, 10_000, 90));
        assert!(!late.note(Emotion::Rage, 95, 130_001, 90), "more than 120 s later is a new episode");
        assert!(late.note(Emotion::Rage, 95, 134_000, 90));
    }

    #[test]
    fn weak_or_engaged_detections_do_not_count() {
        let mut p = Persistence::new();
        assert!(!p.note(Emotion::Rage, 89, 0, 90));
        assert!(!p.note(Emotion::Engaged, 99, 1_000, 90));
        assert!(!p.note(Emotion::Rage, 95, 5_000, 90), "neither earlier detection counted");
        assert!(!p.note(Emotion::Engaged, 99, 9_000, 90));
        assert!(p.note(Emotion::Confusion, 90, 9_000, 90));
    }
}
