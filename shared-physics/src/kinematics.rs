//! Smoothed kinematics: velocity, acceleration and jerk of the pointer.
//!
//! Raw finite differences of 1-px-quantised, irregularly timed samples are mostly noise (a
//! second difference of a 1 px jitter at 16 ms is already 4,000 px/s²). We use an α-β-γ tracking
//! filter per axis, the classic fixed-gain Kalman steady state for a constant-acceleration model,
//! which handles the irregular intervals of browser events:
//!
//! ```text
//! predict: p' = p + v·dt + a·dt²/2     v' = v + a·dt     a' = a
//! correct: r = z − p'
//!          p = p' + α·r               v = v' + β·r/dt   a = a' + 2γ·r/dt²
//! ```
//!
//! with the critically damped gains α = 0.6, β = 2(2 − α) − 4√(1 − α) ≈ 0.2702 and
//! γ = β²/(2α) ≈ 0.0608. Jerk is the derivative of the filtered acceleration, itself smoothed by an
//! exponential moving average (weight [`JERK_EMA`]). A gap longer than [`RESET_GAP_MS`] starts a
//! new sub-movement: the filter re-initialises at the new position with zero velocity; samples
//! less than [`MIN_DT_MS`] after the last update are skipped.
//!
//! Units: time in seconds internally, positions in px, so velocity is px/s, acceleration px/s²
//! and jerk px/s³. Tolerance: on a constant-velocity track the velocity estimate is within 0.1%
//! after 120 samples (about two seconds); on a constant-acceleration track the acceleration is within 1% after 60
//! samples (tests below).

use crate::{Kind, Sample};

/// Position gain.
pub const ALPHA: f32 = 0.6;
/// Velocity gain (critically damped for [`ALPHA`]).
pub const BETA: f32 = 0.270_178_8;
/// Acceleration gain (`BETA² / (2·ALPHA)`).
pub const GAMMA: f32 = 0.060_830_47;
/// Weight of the newest jerk value in its moving average.
pub const JERK_EMA: f32 = 0.3;
/// A pause longer than this (ms) ends a sub-movement and resets the filter: moves arrive about
/// every 16 ms while the pointer travels, so a longer gap means it stopped.
pub const RESET_GAP_MS: u32 = 100;
/// Samples closer than this (ms) to the last update are not differentiated: the fixed gains
/// assume comparable intervals, and a 1 ms step after a 16 ms one amplifies a 1 px jitter into
/// thousands of px/s.
pub const MIN_DT_MS: u32 = 4;

#[derive(Clone, Copy, Debug, Default)]
struct Axis {
    p: f32,
    v: f32,
    a: f32,
}

impl Axis {
    fn reset(&mut self, z: f32) {
        *self = Axis { p: z, v: 0.0, a: 0.0 };
    }

    fn step(&mut self, z: f32, dt: f32) {
        let p = self.p + self.v * dt + 0.5 * self.a * dt * dt;
        let v = self.v + self.a * dt;
        let r = z - p;
        self.p = p + ALPHA * r;
        self.v = v + BETA * r / dt;
        self.a += 2.0 * GAMMA * r / (dt * dt);
    }
}

/// The α-β-γ filter over a 2-D pointer track.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    x: Axis,
    y: Axis,
    last_t: Option<u32>,
    jerk: f32,
}

/// The filter's estimate after a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Speed, px/s.
    pub speed: f32,
    /// Magnitude of acceleration, px/s².
    pub accel: f32,
    /// Smoothed magnitude of jerk, px/s³.
    pub jerk: f32,
}

impl Filter {
    /// A filter that has seen nothing.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Feeds one position at `t_ms`. Samples less than [`MIN_DT_MS`] after the previous update,
    /// or older than it, are ignored.
    pub fn update(&mut self, t_ms: u32, x: f32, y: f32) -> Estimate {
        match self.last_t {
            Some(t0) if t_ms >= t0 && t_ms - t0 < MIN_DT_MS => {}
            Some(t0) if t_ms > t0 && t_ms - t0 <= RESET_GAP_MS => {
                let dt = (t_ms - t0) as f32 / 1000.0;
                let (ax0, ay0) = (self.x.a, self.y.a);
                self.x.step(x, dt);
                self.y.step(y, dt);
                let j = crate::norm(self.x.a - ax0, self.y.a - ay0) / dt;
                self.jerk += JERK_EMA * (j - self.jerk);
                self.last_t = Some(t_ms);
            }
            Some(t0) if t_ms <= t0 => {}
            _ => {
                self.x.reset(x);
                self.y.reset(y);
                self.jerk = 0.0;
                self.last_t = Some(t_ms);
            }
        }
        self.estimate()
    }

    /// The current estimate.
    pub fn estimate(&self) -> Estimate {
        Estimate { speed: crate::norm(self.x.v, self.y.v), accel: crate::norm(self.x.a, self.y.a), jerk: self.jerk }
    }
}

/// Running kinematic summary of a pointer stream between two [`Tracker::take_summary`] calls:
/// what the SDK sends about once a second as a [`crate::wire::Physics`] frame.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    filter: Filter,
    moves: u16,
    clicks: u16,
    scrolls: u16,
    speed_sum: f32,
    peak_jerk: f32,
    dirs: crate::features::DirectionHistogram,
    last_move: Option<(i16, i16)>,
}

impl Tracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Accounts for one sample.
    pub fn push(&mut self, s: &Sample) {
        match s.kind {
            Kind::Scroll => self.scrolls = self.scrolls.saturating_add(1),
            Kind::Click => self.clicks = self.clicks.saturating_add(1),
            Kind::Move => {
                let e = self.filter.update(s.t_ms, s.x as f32, s.y as f32);
                self.moves = self.moves.saturating_add(1);
                self.speed_sum += e.speed;
                self.peak_jerk = self.peak_jerk.max(e.jerk);
                if let Some((x0, y0)) = self.last_move {
                    self.dirs.add(s.x as i32 - x0 as i32, s.y as i32 - y0 as i32);
                }
                self.last_move = Some((s.x, s.y));
            }
            Kind::Down | Kind::Up | Kind::Response | Kind::Leave | Kind::Hidden | Kind::Visible | Kind::Quiet => {}
        }
    }

    /// True if any sample arrived since the last summary.
    pub fn active(&self) -> bool {
        self.moves + self.clicks + self.scrolls > 0
    }

    /// The summary since the last call, quantised for the wire, and a fresh start.
    pub fn take_summary(&mut self, t_ms: u32) -> crate::wire::Physics {
        let mean_speed = if self.moves > 0 { self.speed_sum / self.moves as f32 } else { 0.0 };
        let p = crate::wire::Physics {
            t_ms,
            moves: self.moves,
            clicks: self.clicks,
            scrolls: self.scrolls,
            mean_speed: quantise(mean_speed, 1.0) as u16,
            peak_jerk_k: quantise(self.peak_jerk, 1000.0),
            entropy_q: quantise(self.dirs.entropy() * 255.0, 1.0) as u8,
        };
        let filter = self.filter;
        *self = Tracker { filter, ..Tracker::default() };
        p
    }
}

/// `value / unit` rounded to the nearest integer and clamped to `0..=u16::MAX as u32`-ish
/// ranges by the caller's cast; negative and NaN values become 0.
pub fn quantise(value: f32, unit: f32) -> u32 {
    let q = libm::roundf(value / unit);
    if q.is_nan() || q <= 0.0 {
        0
    } else if q >= u32::MAX as f32 {
        u32::MAX
    } else {
        q as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_are_critically_damped() {
        let beta = 2.0 * (2.0 - ALPHA) - 4.0 * libm::sqrtf(1.0 - ALPHA);
        assert!((beta - BETA).abs() < 1e-6);
        assert!((BETA * BETA / (2.0 * ALPHA) - GAMMA).abs() < 1e-6);
    }

    #[test]
    fn constant_velocity_converges_within_a_tenth_of_a_percent() {
        let mut f = Filter::new();
        let mut e = Estimate::default();
        // 500 px/s along x, 16 ms frames with jittered timing (15/17 ms).
        let mut t = 0u32;
        for i in 0..120 {
            t += if i % 2 == 0 { 15 } else { 17 };
            e = f.update(t, 0.5 * t as f32, 100.0);
        }
        assert!((e.speed - 500.0).abs() / 500.0 < 0.001, "speed {}", e.speed);
        assert!(e.jerk < 50.0, "jerk {}", e.jerk);
    }

    #[test]
    fn constant_acceleration_converges_within_one_percent() {
        let mut f = Filter::new();
        let mut e = Estimate::default();
        // x = ½·a·t², a = 2000 px/s², 10 ms steps for 0.6 s.
        for i in 1..=60u32 {
            let t = i * 10;
            let s = t as f32 / 1000.0;
            e = f.update(t, 1000.0 * s * s, 0.0);
        }
        assert!((e.accel - 2000.0).abs() / 2000.0 < 0.01, "accel {}", e.accel);
    }

    #[test]
    fn a_long_pause_starts_a_new_sub_movement() {
        let mut f = Filter::new();
        for i in 1..20u32 {
            f.update(i * 16, i as f32 * 10.0, 0.0);
        }
        let e = f.update(20 * 16 + RESET_GAP_MS + 1, 5000.0, 0.0);
        assert_eq!(e, Estimate::default());
    }

    #[test]
    fn jitter_at_tiny_intervals_does_not_blow_up() {
        // A move every 16 ms, then the press/release/click triple 0-1 ms apart with 1 px of
        // jitter, repeated: speed stays at human scale.
        let mut f = Filter::new();
        let mut t = 0;
        let mut e = Estimate::default();
        for i in 0..10u32 {
            t += 16;
            e = f.update(t, 300.0 + i as f32 * 8.0, 200.0);
        }
        for burst in 0..5u32 {
            t += 90;
            for dt in [0, 1, 1] {
                t += dt;
                e = f.update(t, 380.0 + (burst % 2) as f32, 200.0);
            }
        }
        assert!(e.speed < 2000.0, "speed {}", e.speed);
        assert!(e.jerk < 1.0e7, "jerk {}", e.jerk);
    }

    #[test]
    fn summary_counts_and_resets() {
        let mut tr = Tracker::new();
        for i in 1..=10u32 {
            tr.push(&Sample { t_ms: i * 16, x: (i * 8) as i16, y: 0, kind: Kind::Move, section: 0 });
        }
        tr.push(&Sample { t_ms: 200, x: 80, y: 0, kind: Kind::Click, section: 1 });
        assert!(tr.active());
        let p = tr.take_summary(1000);
        assert_eq!((p.moves, p.clicks, p.scrolls), (10, 1, 0));
        assert!(p.mean_speed > 200 && p.mean_speed <= 600, "{}", p.mean_speed);
        assert_eq!(p.entropy_q, 0, "a straight line has one direction");
        assert!(!tr.active());
    }
}
