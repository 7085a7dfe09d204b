//! Features over a window of samples: direction-change entropy, path efficiency and click
//! dispersion.

/// Displacements shorter than this (px, Chebyshev) carry no direction and are not counted.
pub const MIN_STEP_PX: i32 = 2;

/// Histogram of movement directions in 8 compass octants.
///
/// The octant is found with comparisons only (signs of dx, dy and |dx| vs 2.414·|dy|, i.e.
/// tan 67.5°), so wasm and native agree exactly and no trigonometry is linked into the SDK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionHistogram {
    bins: [u16; 8],
}

impl DirectionHistogram {
    /// Adds one displacement (screen coordinates: y grows downwards).
    pub fn add(&mut self, dx: i32, dy: i32) {
        if dx.abs().max(dy.abs()) < MIN_STEP_PX {
            return;
        }
        // 2.414 ≈ tan(67.5°) = 1 + √2, as the exact integer comparison 5·|a| > 12·|b|
        // (12/5 = 2.4, within 0.6% of the true boundary).
        let (ax, ay) = (dx.abs(), dy.abs());
        let octant = if 5 * ax > 12 * ay {
            if dx > 0 {
                0
            } else {
                4
            }
        } else if 5 * ay > 12 * ax {
            if dy > 0 {
                2
            } else {
                6
            }
        } else {
            match (dx > 0, dy > 0) {
                (true, true) => 1,
                (false, true) => 3,
                (false, false) => 5,
                (true, false) => 7,
            }
        };
        self.bins[octant] = self.bins[octant].saturating_add(1);
    }

    /// Number of counted displacements.
    pub fn total(&self) -> u32 {
        self.bins.iter().map(|&b| b as u32).sum()
    }

    /// Shannon entropy of the direction distribution, normalised to `0.0..=1.0` (divided by
    /// log2 8 = 3 bits). 0 = one direction only; 1 = all eight equally often. Fewer than two
    /// counted steps give 0.
    pub fn entropy(&self) -> f32 {
        let n = self.total();
        if n < 2 {
            return 0.0;
        }
        let n = n as f32;
        let mut h = 0.0f32;
        for &b in &self.bins {
            if b > 0 {
                let p = b as f32 / n;
                h -= p * crate::log2(p);
            }
        }
        h / 3.0
    }
}

/// Straight-line distance over travelled distance for a sequence of points, in `0.0..=1.0`
/// (1 = perfectly straight). Fewer than two points, or no travel, give 1.
pub fn path_efficiency(points: impl Iterator<Item = (f32, f32)>) -> f32 {
    let mut first = None;
    let mut last = (0.0, 0.0);
    let mut travelled = 0.0f32;
    for p in points {
        if first.is_none() {
            first = Some(p);
        } else {
            travelled += crate::norm(p.0 - last.0, p.1 - last.1);
        }
        last = p;
    }
    match first {
        Some(f) if travelled > 0.0 => (crate::norm(last.0 - f.0, last.1 - f.1) / travelled).min(1.0),
        _ => 1.0,
    }
}

/// Root-mean-square distance (px) of points from their centroid. Empty input gives 0.
pub fn dispersion(points: impl Iterator<Item = (f32, f32)> + Clone) -> f32 {
    let (mut n, mut sx, mut sy) = (0u32, 0.0f32, 0.0f32);
    for (x, y) in points.clone() {
        n += 1;
        sx += x;
        sy += y;
    }
    if n == 0 {
        return 0.0;
    }
    let (cx, cy) = (sx / n as f32, sy / n as f32);
    let ss: f32 = points.map(|(x, y)| (x - cx) * (x - cx) + (y - cy) * (y - cy)).sum();
    crate::sqrt(ss / n as f32)
}

/// Mean unsigned curvature (1/px) of a pointer path: over each three consecutive points at
/// least [`MIN_STEP_PX`] apart, the Menger curvature `κ = 2·|(b − a) × (c − b)| / (|b − a|·|c − b|·|c − a|)`
/// (the inverse radius of the circle through them), averaged with each triple weighted by its
/// path length, so dense sampling does not count a bend more often. A straight path gives 0, an
/// arc of radius r gives 1/r, a reversal on the spot a large value (capped at 1/px: points
/// 2 px apart cannot resolve tighter bends). Points closer than [`MIN_STEP_PX`] to the previous
/// kept one are tremor and skipped. Fewer than three kept points give 0.
pub fn curvature(points: impl Iterator<Item = (f32, f32)>) -> f32 {
    let (mut a, mut b) = (None::<(f32, f32)>, None::<(f32, f32)>);
    let (mut weighted, mut length) = (0.0f32, 0.0f32);
    for c in points {
        let Some(pb) = b else {
            if a.is_none_or(|pa| crate::norm(c.0 - pa.0, c.1 - pa.1) >= MIN_STEP_PX as f32) {
                if a.is_none() {
                    a = Some(c);
                } else {
                    b = Some(c);
                }
            }
            continue;
        };
        let bc = crate::norm(c.0 - pb.0, c.1 - pb.1);
        if bc < MIN_STEP_PX as f32 {
            continue;
        }
        let pa = a.unwrap_or(pb);
        let ab = crate::norm(pb.0 - pa.0, pb.1 - pa.1);
        let ac = crate::norm(c.0 - pa.0, c.1 - pa.1);
        let cross = (pb.0 - pa.0) * (c.1 - pb.1) - (pb.1 - pa.1) * (c.0 - pb.0);
        // Back over the same line (`ac` = 0): the tightest bend there is.
        let k = if ac > 0.0 { (2.0 * cross.abs() / (ab * bc * ac)).min(1.0) } else { 1.0 };
        let w = 0.5 * (ab + bc);
        weighted += k * w;
        length += w;
        (a, b) = (Some(pb), Some(c));
    }
    if length > 0.0 {
        weighted / length
    } else {
        0.0
    }
}

/// The arm-dynamics estimate of one aimed sub-movement: the second-order (mass-spring-damper)
/// system whose step response matches it, the model of the mouse-stress literature (e.g. Sun,
/// Paredes & Canny, CHI 2014: stress stiffens the arm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArmDynamics {
    /// Damping ratio ζ (1 = critically damped; below 1 the hand overshoots the target).
    pub damping: f32,
    /// Natural frequency ωₙ, rad/s.
    pub natural_freq: f32,
    /// Overshoot past the target, as a share of the distance (0 when there was none).
    pub overshoot: f32,
}

/// Fits [`ArmDynamics`] to the reach from `start` to `target` traced by `path` (`(t_ms, x, y)`,
/// in time order, from the start of the reach): the progress along the start→target line is
/// read as a step response. With an overshoot `Mₚ` at time `tₚ`,
/// `ζ = −ln Mₚ / √(π² + ln² Mₚ)` and `ωₙ = π / (tₚ·√(1 − ζ²))`; without one (under 0.5% of the
/// distance), `ζ = 1` and `ωₙ = 3.36 / t_r` from the 10–90% rise time (the critically damped
/// step response). `None` for a reach shorter than 16 px or a path that never gets 90% of the
/// way.
pub fn arm_dynamics(start: (f32, f32), target: (f32, f32), path: impl Iterator<Item = (u32, f32, f32)>) -> Option<ArmDynamics> {
    let (dx, dy) = (target.0 - start.0, target.1 - start.1);
    let dist = crate::norm(dx, dy);
    if dist < 16.0 {
        return None;
    }
    let (ux, uy) = (dx / dist, dy / dist);
    let (mut t0, mut t10, mut t90) = (None::<u32>, None::<u32>, None::<u32>);
    let (mut peak, mut t_peak) = (0.0f32, 0u32);
    for (t, x, y) in path {
        let t0 = *t0.get_or_insert(t);
        let progress = ((x - start.0) * ux + (y - start.1) * uy) / dist;
        if progress >= 0.1 && t10.is_none() {
            t10 = Some(t);
        }
        if progress >= 0.9 && t90.is_none() {
            t90 = Some(t);
        }
        if progress > peak {
            (peak, t_peak) = (progress, t.saturating_sub(t0));
        }
    }
    let (t10, t90) = (t10?, t90?);
    let overshoot = peak - 1.0;
    if overshoot < 0.005 {
        let rise_s = t90.saturating_sub(t10).max(1) as f32 / 1000.0;
        return Some(ArmDynamics { damping: 1.0, natural_freq: 3.36 / rise_s, overshoot: 0.0 });
    }
    let ln = crate::log2(overshoot) * core::f32::consts::LN_2;
    let pi = core::f32::consts::PI;
    let damping = -ln / crate::sqrt(pi * pi + ln * ln);
    let tp_s = t_peak.max(1) as f32 / 1000.0;
    let natural_freq = pi / (tp_s * crate::sqrt(1.0 - damping * damping));
    Some(ArmDynamics { damping, natural_freq, overshoot })
}

/// [`arm_dynamics`] of the reach that ended at the first click of `evidence`: the moves before
/// that click back to the last pause of 100 ms or more (the start of the sub-movement), with
/// the click as its target.
pub fn reach_before_first_click(evidence: &[crate::Sample]) -> Option<ArmDynamics> {
    use crate::Kind;
    let click_at = evidence.iter().position(|s| s.kind == Kind::Click)?;
    let click = evidence[click_at];
    let before = &evidence[..click_at];
    let mut start = None::<usize>;
    let mut next_t = click.t_ms;
    for (i, s) in before.iter().enumerate().rev().filter(|(_, s)| s.kind == Kind::Move) {
        if next_t.saturating_sub(s.t_ms) >= 100 && start.is_some() {
            break;
        }
        start = Some(i);
        next_t = s.t_ms;
    }
    let first = before[start?];
    let path =
        before[start?..].iter().filter(|s| s.kind == Kind::Move).chain(core::iter::once(&click)).map(|s| (s.t_ms, s.x as f32, s.y as f32));
    arm_dynamics((first.x as f32, first.y as f32), (click.x as f32, click.y as f32), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octants_of_the_compass() {
        let dirs = [(10, 0), (10, 10), (0, 10), (-10, 10), (-10, 0), (-10, -10), (0, -10), (10, -10)];
        for (i, (dx, dy)) in dirs.iter().enumerate() {
            let mut h = DirectionHistogram::default();
            h.add(*dx, *dy);
            assert_eq!(h.bins[i], 1, "direction {i}");
        }
    }

    /// The unit step response of `ẍ + 2ζωₙẋ + ωₙ²x = ωₙ²`, sampled every 16 ms for `n` samples.
    fn step_response(zeta: f32, wn: f32, n: u32) -> heapless::Vec<(u32, f32, f32), 128> {
        let mut out = heapless::Vec::new();
        let (mut x, mut v, dt) = (0.0f32, 0.0f32, 0.0005f32);
        let mut t = 0.0f32;
        for k in 0..n {
            let target_t = k as f32 * 0.016;
            while t < target_t {
                let a = wn * wn * (1.0 - x) - 2.0 * zeta * wn * v;
                v += a * dt;
                x += v * dt;
                t += dt;
            }
            // A 300 px reach along a diagonal.
            out.push((k * 16, 100.0 + 300.0 * x * 0.6, 200.0 + 300.0 * x * 0.8)).unwrap();
        }
        out
    }

    #[test]
    fn arm_dynamics_recovers_the_damping_and_frequency_of_a_second_order_reach() {
        for (zeta, wn) in [(0.5f32, 12.0f32), (0.7, 20.0), (0.35, 9.0)] {
            let path = step_response(zeta, wn, 100);
            let a = arm_dynamics((100.0, 200.0), (280.0, 440.0), path.iter().copied()).expect("a reach");
            assert!((a.damping - zeta).abs() < 0.03, "ζ {zeta}: {a:?}");
            // Peak time is read on a 16 ms grid.
            assert!((a.natural_freq - wn).abs() / wn < 0.08, "ωₙ {wn}: {a:?}");
            assert!(a.overshoot > 0.0);
        }
        // Critically damped: no overshoot, ζ = 1, ωₙ from the rise time.
        let a = arm_dynamics((100.0, 200.0), (280.0, 440.0), step_response(1.0, 15.0, 100).iter().copied()).unwrap();
        assert_eq!((a.damping, a.overshoot), (1.0, 0.0));
        assert!((a.natural_freq - 15.0).abs() / 15.0 < 0.1, "{a:?}");
        // Too short, or never arriving.
        assert_eq!(arm_dynamics((0.0, 0.0), (5.0, 5.0), step_response(0.5, 12.0, 10).iter().copied()), None);
        assert_eq!(arm_dynamics((100.0, 200.0), (280.0, 440.0), step_response(0.5, 12.0, 3).iter().copied()), None);
    }

    #[test]
    fn the_reach_before_the_first_click_starts_after_the_last_pause() {
        use crate::{Kind, Sample};
        let mut ev: heapless::Vec<Sample, 160> = heapless::Vec::new();
        let mv = |t: u32, x: f32, y: f32| Sample { t_ms: t, x: x as i16, y: y as i16, kind: Kind::Move, section: 0 };
        // Wandering, a 300 ms pause, then an underdamped reach and a click on its target.
        ev.push(mv(0, 10.0, 10.0)).unwrap();
        ev.push(mv(16, 40.0, 30.0)).unwrap();
        for &(t, x, y) in step_response(0.5, 12.0, 60).iter() {
            ev.push(mv(400 + t, x, y)).unwrap();
        }
        ev.push(Sample { t_ms: 400 + 60 * 16, x: 280, y: 440, kind: Kind::Click, section: 0 }).unwrap();
        ev.push(Sample { t_ms: 2000, x: 280, y: 440, kind: Kind::Click, section: 0 }).unwrap();
        let a = reach_before_first_click(&ev).expect("a reach");
        assert!((a.damping - 0.5).abs() < 0.05, "{a:?}");
        assert!((a.natural_freq - 12.0).abs() / 12.0 < 0.1, "{a:?}");
        assert_eq!(reach_before_first_click(&ev[..2]), None, "no click");
    }

    #[test]
    fn entropy_vectors() {
        let mut h = DirectionHistogram::default();
        for _ in 0..10 {
            h.add(5, 0);
        }
        assert_eq!(h.entropy(), 0.0);
        h.add(1, 0); // below MIN_STEP_PX: ignored
        assert_eq!(h.total(), 10);
        for _ in 0..10 {
            h.add(-5, 0);
        }
        // Two equally likely directions: 1 bit of 3.
        assert!((h.entropy() - 1.0 / 3.0).abs() < 1e-6);
        let mut all = DirectionHistogram::default();
        for (dx, dy) in [(9, 0), (9, 9), (0, 9), (-9, 9), (-9, 0), (-9, -9), (0, -9), (9, -9)] {
            all.add(dx, dy);
        }
        assert!((all.entropy() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn curvature_is_zero_on_a_line_the_inverse_radius_on_an_arc_and_large_on_a_reversal() {
        let line = (0..50).map(|i| (i as f32 * 5.0, i as f32 * 3.0));
        assert!(curvature(line) < 1e-6);
        for r in [50.0f32, 200.0] {
            let arc = (0..60).map(|i| {
                let a = i as f32 * 0.05;
                (r * libm::cosf(a), r * libm::sinf(a))
            });
            let k = curvature(arc);
            assert!((k * r - 1.0).abs() < 0.02, "r {r}: k {k}");
        }
        // Back and forth over the same 40 px: every vertex is a turn on the spot.
        let zigzag = (0..20).map(|i| (if i % 2 == 0 { 0.0 } else { 40.0 }, 0.0));
        assert!(curvature(zigzag) > 0.9);
        // Tremor under MIN_STEP_PX is skipped; too few points give 0.
        let tremor = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (10.0, 0.0), (20.0, 0.0)];
        assert!(curvature(tremor.into_iter()) < 1e-6);
        assert_eq!(curvature([(0.0, 0.0), (10.0, 0.0)].into_iter()), 0.0);
    }

    #[test]
    fn efficiency_and_dispersion_vectors() {
        let straight = [(0.0, 0.0), (3.0, 4.0), (6.0, 8.0)];
        assert!((path_efficiency(straight.iter().copied()) - 1.0).abs() < 1e-6);
        let there_and_back = [(0.0, 0.0), (10.0, 0.0), (0.0, 0.0)];
        assert_eq!(path_efficiency(there_and_back.iter().copied()), 0.0);
        let square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)];
        assert!((dispersion(square.iter().copied()) - libm::sqrtf(2.0)).abs() < 1e-6);
        assert_eq!(dispersion([].iter().copied()), 0.0);
    }
}
