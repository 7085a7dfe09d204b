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
