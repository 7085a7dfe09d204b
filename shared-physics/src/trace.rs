//! The salient trace: a compressed history of the page view that the long-window emotions
//! (`frustration`, `confusion`, `hesitation`, `abandonment`, `engaged`) are read from.
//!
//! The raw ring holds about two seconds of a moving pointer (128 samples at 60 Hz); these
//! emotions need up to [`TRACE_WINDOW_MS`]. The trace keeps what their features are made of and
//! drops the rest:
//!
//! * every down, up, click, response, leave, hidden and visible sample;
//! * the **vertices** of the pointer's path: a move is kept when the pointer turns (the sign of
//!   its x or y step flips, steps under [`VERTEX_MIN_STEP_PX`] ignored as tremor: the kept
//!   sample is the turning point), when it enters another section, or when
//!   [`VERTEX_EVERY_MS`] have passed since the last kept move, so a straight reach costs a few
//!   samples and a thrash keeps every reversal;
//! * the **rests** of the pointer: a move after [`REST_KEEP_MS`] or more without one keeps the
//!   move before it (where the pointer rested) and itself, so a gap between kept moves is the
//!   stillness itself and a slow approach in short hops keeps every hop;
//! * scroll offsets at the same rules (turns of direction, and one per [`VERTEX_EVERY_MS`]).
//!
//! A detection of these emotions carries the trace's newest samples within
//! [`TRACE_WINDOW_MS`] as its evidence (at most [`crate::detection::MAX_EVIDENCE`]), so the server
//! recomputes it from exactly what the client used.

use crate::ring::Ring;
use crate::{Kind, Sample};

/// How far back the long-window emotions look, ms.
pub const TRACE_WINDOW_MS: u32 = 12_000;
/// A move or scroll is kept at least this often while the pointer or page keeps moving, ms.
pub const VERTEX_EVERY_MS: u32 = 250;
/// A move after the pointer was still this long keeps the move before it (where the pointer
/// rested) and itself, so the trace shows every rest of a slow approach in short hops, ms.
pub const REST_KEEP_MS: u32 = 120;
/// Steps shorter than this (px, per axis) do not count as turning: hand tremor.
pub const VERTEX_MIN_STEP_PX: i32 = 3;

/// Direction of the last significant step on one axis: -1, 0 (none yet) or 1.
#[derive(Clone, Copy, Debug, Default)]
struct Axis {
    sign: i8,
}

impl Axis {
    /// Feeds a step; true when it turns against the previous significant step.
    fn turns(&mut self, step: i32) -> bool {
        if step.abs() < VERTEX_MIN_STEP_PX {
            return false;
        }
        let sign = if step > 0 { 1 } else { -1 };
        let turned = self.sign != 0 && self.sign != sign;
        self.sign = sign;
        turned
    }
}

/// Builds the salient trace from the sample stream (see the module docs).
#[derive(Clone, Debug)]
pub struct Trace {
    ring: Ring,
    /// The previous raw move (a candidate turning point) and scroll.
    prev_move: Option<Sample>,
    prev_scroll: Option<Sample>,
    /// Time of the last kept move / scroll.
    kept_move_t: u32,
    kept_scroll_t: u32,
    mx: Axis,
    my: Axis,
    sy: Axis,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl Trace {
    /// An empty trace.
    pub const fn new() -> Trace {
        Trace {
            ring: Ring::new(),
            prev_move: None,
            prev_scroll: None,
            kept_move_t: 0,
            kept_scroll_t: 0,
            mx: Axis { sign: 0 },
            my: Axis { sign: 0 },
            sy: Axis { sign: 0 },
        }
    }

    /// The kept samples, oldest first.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The last raw move seen (kept or not).
    pub fn last_move(&self) -> Option<Sample> {
        self.prev_move
    }

    /// Keeps `s` (a sample the detectors need to see), unless it is already the newest kept
    /// sample or older than it (the trace stays in time order).
    pub fn keep(&mut self, s: Sample) {
        let newest = self.ring.get(self.ring.len().wrapping_sub(1)).copied();
        if newest.is_none_or(|n| n != s && n.t_ms <= s.t_ms) {
            self.ring.push(s);
        }
    }

    /// Feeds one sample; returns true when it (or, for a turn, the turning point before it) was
    /// kept.
    pub fn push(&mut self, s: Sample) -> bool {
        match s.kind {
            Kind::Move => {
                let Some(p) = self.prev_move.replace(s) else {
                    self.kept_move_t = s.t_ms;
                    self.ring.push(s);
                    return true;
                };
                let (dx, dy) = (s.x as i32 - p.x as i32, s.y as i32 - p.y as i32);
                let (tx, ty) = (self.mx.turns(dx), self.my.turns(dy));
                if tx || ty {
                    self.kept_move_t = p.t_ms;
                    self.keep(p);
                }
                // The pointer was still: where it rested, and (below) where it set off again.
                let rested = s.t_ms.saturating_sub(p.t_ms) >= REST_KEEP_MS;
                if rested {
                    self.keep(p);
                }
                if rested || s.section != p.section || s.t_ms.saturating_sub(self.kept_move_t) >= VERTEX_EVERY_MS {
                    self.kept_move_t = s.t_ms;
                    self.ring.push(s);
                    return true;
                }
                tx || ty
            }
            Kind::Scroll => {
                let Some(p) = self.prev_scroll.replace(s) else {
                    self.kept_scroll_t = s.t_ms;
                    self.ring.push(s);
                    return true;
                };
                if self.sy.turns(s.y as i32 - p.y as i32) {
                    self.kept_scroll_t = p.t_ms;
                    self.keep(p);
                }
                if s.t_ms.saturating_sub(self.kept_scroll_t) >= VERTEX_EVERY_MS {
                    self.kept_scroll_t = s.t_ms;
                    self.ring.push(s);
                    return true;
                }
                false
            }
            Kind::Down | Kind::Up | Kind::Click | Kind::Response | Kind::Leave | Kind::Hidden | Kind::Visible | Kind::Quiet => {
                self.ring.push(s);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(t: u32, x: i16, y: i16) -> Sample {
        Sample { t_ms: t, x, y, kind: Kind::Move, section: 0 }
    }

    fn kept(trace: &Trace) -> impl Iterator<Item = Sample> + '_ {
        (0..trace.ring().len()).filter_map(|i| trace.ring().get(i).copied())
    }

    #[test]
    fn a_straight_reach_keeps_few_samples_and_a_thrash_keeps_its_turns() {
        let mut straight = Trace::new();
        for i in 0..60u32 {
            straight.push(mv(i * 16, (i * 10) as i16, 100));
        }
        // 960 ms: the first move and one per 250 ms.
        assert_eq!(kept(&straight).count(), 4);

        let mut thrash = Trace::new();
        for i in 0..60u32 {
            // Left and right every 5 frames, 15 px a frame.
            let x = if (i / 5) % 2 == 0 { (i % 5) * 15 } else { 75 - (i % 5) * 15 };
            thrash.push(mv(i * 16, x as i16, 100));
        }
        let turns: u32 = kept(&thrash).filter(|s| s.x == 75 || s.x == 0).count() as u32;
        assert!(turns >= 10, "kept {:?}", kept(&thrash).map(|s| s.x).collect::<heapless::Vec<i16, 64>>());
    }

    #[test]
    fn a_rest_keeps_where_the_pointer_rested_and_where_it_set_off() {
        let mut t = Trace::new();
        // 10 px a frame for 96 ms, still for 130 ms, then on: the gap is shorter than a vertex
        // period, so only the rest keeps the two moves around it.
        for i in 0..7u32 {
            t.push(mv(i * 16, (i * 10) as i16, 100));
        }
        t.push(mv(226, 62, 100));
        t.push(mv(242, 72, 100));
        let xs: heapless::Vec<(u32, i16), 8> = kept(&t).map(|s| (s.t_ms, s.x)).collect();
        assert_eq!(xs.as_slice(), &[(0, 0), (96, 60), (226, 62)]);
    }

    #[test]
    fn tremor_is_not_a_turn_and_context_samples_are_always_kept() {
        let mut t = Trace::new();
        for i in 0..10u32 {
            t.push(mv(i * 16, 100 + (i % 2) as i16 * 2, 100));
        }
        assert_eq!(kept(&t).count(), 1);
        t.push(Sample { t_ms: 170, x: 0, y: 0, kind: Kind::Leave, section: 0 });
        assert_eq!(kept(&t).last().unwrap().kind, Kind::Leave);
    }
}
