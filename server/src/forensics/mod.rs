//! Revenue forensics: what the struggles the server confirmed were worth, and how it failed.
//!
//! Everything here is a pure function of rows the store returns (decisions with their outcomes,
//! confirmed detections, session-minutes, deliveries), so every figure can be recomputed from
//! the database and tested with exact inputs. No figure of money leaves this module without
//! its interval and the holdout it came from; where the holdout is too small, the figure is
//! [`Figure::TooLittleData`] and says what is missing. The definitions, with each interval,
//! are in `docs/forensics.md`.
//!
//! * [`money`]: emotion → outcome per emotion and section, prevented churn (uplift against the
//!   holdout × value at risk), the quarterly projection, and the ROI report (CSV).
//! * [`evi`]: the emotional volatility index (per tenant, over active session-minutes) and the
//!   daily emotion weather.
//! * [`failures`]: the public failure page (false positives, misses, failed or late deliveries,
//!   latencies, the share of session-minutes interrupted).
//! * [`trace`]: what happened in a session, from the evidence windows of its detections, for
//!   the session view's plot.
//! * [`warehouse`]: the export of sessions, detections, decisions, outcomes and alerts as
//!   Parquet, partitioned by tenant and day.

pub mod evi;
pub mod failures;
pub mod money;
pub mod trace;
pub mod warehouse;

use serde::Serialize;

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// One day, ms.
pub const DAY_MS: i64 = 86_400_000;

/// A figure with its 95% interval, or the reason there is none.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Figure {
    /// The estimate and its interval.
    Estimate {
        /// Point estimate.
        value: f64,
        /// Lower end of the 95% interval.
        low: f64,
        /// Upper end of the 95% interval.
        high: f64,
    },
    /// Not enough data for an honest figure.
    TooLittleData {
        /// What is missing, in words.
        reason: String,
    },
}

impl Figure {
    /// An estimate.
    pub fn estimate(value: f64, low: f64, high: f64) -> Figure {
        Figure::Estimate { value, low, high }
    }

    /// Too little data, because `reason`.
    pub fn too_little(reason: impl Into<String>) -> Figure {
        Figure::TooLittleData { reason: reason.into() }
    }

    /// `(value, low, high)` of an estimate.
    pub fn parts(&self) -> Option<(f64, f64, f64)> {
        match self {
            Figure::Estimate { value, low, high } => Some((*value, *low, *high)),
            Figure::TooLittleData { .. } => None,
        }
    }

    /// Every number multiplied by `k` (a scale or a unit change).
    pub fn scaled(&self, k: f64) -> Figure {
        match self {
            Figure::Estimate { value, low, high } => Figure::estimate(value * k, low * k, high * k),
            other => other.clone(),
        }
    }
}

/// Wilson's 95% score interval of `x` successes in `n` trials (`(0, 1)` when `n` is 0).
pub fn wilson(x: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p, z) = (n as f64, x as f64 / n as f64, Z95);
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

/// The exact (Garwood) 95% interval of the mean of a Poisson count observed as `n`, found by
/// bisection on the Poisson distribution function (above 600, the normal approximation).
pub fn poisson(n: u64) -> (f64, f64) {
    // P(X <= k) for X ~ Poisson(mu), summed in log space.
    fn cdf(k: u64, mu: f64) -> f64 {
        let mut term = (-mu).exp();
        let mut sum = term;
        for i in 1..=k {
            term *= mu / i as f64;
            sum += term;
        }
        sum.min(1.0)
    }
    // The mu in [lo, hi] where `f` (decreasing in mu) crosses `target`.
    fn solve(f: impl Fn(f64) -> f64, target: f64, mut lo: f64, mut hi: f64) -> f64 {
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if f(mid) > target {
                lo = mid
            } else {
                hi = mid
            }
        }
        0.5 * (lo + hi)
    }
    let k = n as f64;
    if n > 600 {
        // exp(-mu) would underflow; the normal approximation is within 0.5% here.
        return (k - Z95 * k.sqrt(), k + 1.0 + Z95 * (k + 1.0).sqrt());
    }
    let top = k + 20.0 * (k + 1.0).sqrt() + 20.0;
    let high = solve(|mu| cdf(n, mu), 0.025, 0.0, top);
    let low = if n == 0 { 0.0 } else { solve(|mu| cdf(n - 1, mu), 0.975, 0.0, top) };
    (low, high)
}

/// The `p`-th percentile (0..=100) of `values` by the nearest rank; `None` when empty.
pub fn percentile(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // 8 of 10: Wilson (0.4902, 0.9433).
        let (l, h) = wilson(8, 10);
        assert!((l - 0.4902).abs() < 1e-4 && (h - 0.9433).abs() < 1e-4, "{l} {h}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (l, h) = wilson(0, 20);
        assert!(l == 0.0 && (h - 0.1611).abs() < 1e-4, "{h}");
    }

    #[test]
    fn poisson_is_near_the_exact_interval() {
        // Exact 95% intervals: n = 1 (0.0253, 5.572), n = 10 (4.795, 18.39), n = 100 (81.36, 121.6).
        for (n, lo, hi) in [(0, 0.0, 3.689), (1, 0.0253, 5.572), (10, 4.795, 18.39), (100, 81.36, 121.63)] {
            let (l, h) = poisson(n);
            assert!((l - lo).abs() <= lo * 0.002 && (h - hi).abs() <= hi * 0.002, "{n}: {l} {h}");
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v = [5, 1, 4, 2, 3];
        assert_eq!((percentile(&v, 50.0), percentile(&v, 95.0), percentile(&v, 0.0)), (Some(3), Some(5), Some(1)));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
