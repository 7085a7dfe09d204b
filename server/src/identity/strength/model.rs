//! The additive model: its constants, what it reads about a customer ([`Signals`]), the five
//! terms and [`score`], which returns each factor's exact contribution with the numbers it read
//! ([`Reason`]). The formulas are in the [parent module](super)'s docs.

pub use crate::records::Context;
use serde::{Deserialize, Serialize};

use super::DAY_MS;

/// Maximum points of the tenure term.
pub const TENURE_MAX: f64 = 15.0;
/// Maximum points of the engagement term.
pub const ENGAGEMENT_MAX: f64 = 25.0;
/// Maximum points of the satisfaction term.
pub const SATISFACTION_MAX: f64 = 25.0;
/// Maximum points of the loyalty term.
pub const LOYALTY_MAX: f64 = 20.0;
/// Maximum points of the value term.
pub const VALUE_MAX: f64 = 15.0;

/// Days of tenure that earn half the tenure points.
pub const TENURE_HALF_DAYS: f64 = 180.0;
/// Active days (of the last 30) that earn half the active-days part of engagement.
pub const ACTIVE_DAYS_HALF: f64 = 6.0;
/// Sessions (in the last 30 days) that earn half the sessions part of engagement.
pub const SESSIONS_HALF: f64 = 8.0;
/// Share of engagement from active days (the rest is from sessions).
pub const ACTIVE_DAYS_SHARE: f64 = 0.6;
/// Days since the last visit after which engagement is halved (again every as many days).
pub const RECENCY_HALF_LIFE_DAYS: f64 = 14.0;

/// Imaginary good moments every customer starts with (satisfaction's prior).
pub const PRIOR_GOOD: f64 = 2.0;
/// Imaginary bad moments every customer starts with (satisfaction's prior).
pub const PRIOR_BAD: f64 = 2.0;
/// Severity of a rage detection (per unit of confidence).
pub const SEVERITY_RAGE: f64 = 1.0;
/// Severity of a frustration detection (dead clicks, failed submits).
pub const SEVERITY_FRUSTRATION: f64 = 1.0;
/// Severity of an abandonment detection (exit intent).
pub const SEVERITY_ABANDONMENT: f64 = 0.75;
/// Severity of a confusion detection (scroll thrashing).
pub const SEVERITY_CONFUSION: f64 = 0.5;
/// Severity of a hesitation detection (weighing options is often part of buying).
pub const SEVERITY_HESITATION: f64 = 0.25;
/// Satisfaction multiplier when the customer said they are stuck.
pub const CONTEXT_STUCK: f64 = 0.8;
/// Satisfaction multiplier when the customer said they are frustrated.
pub const CONTEXT_FRUSTRATED: f64 = 0.6;

/// Share of loyalty from regularity (months with a purchase); the rest is from repeat purchases.
pub const MONTHS_SHARE: f64 = 0.6;
/// Repeat purchases (beyond the first) that earn half the repeat part of loyalty.
pub const REPEAT_HALF: f64 = 3.0;

/// The value scale when the tenant sets none: 1 000 000 cents (10 000 in its currency).
pub const DEFAULT_VALUE_SCALE_CENTS: i64 = 1_000_000;
/// The value curve's floor is the scale divided by this (so the curve spans three decades).
pub const VALUE_DECADES_DIVISOR: f64 = 1000.0;
/// Share of value from lifetime value; the rest is from annualised 90-day revenue.
pub const LIFETIME_SHARE: f64 = 0.7;
/// Factor that annualises 90-day revenue.
pub const ANNUALISE_90D: f64 = 4.0;

/// Counts above this are treated as this (keeps garbage input finite).
const MAX_COUNT: f64 = 1e12;

/// The customer's own latest one-tap context (from the widget), at most 30 days old, as the
/// model reads it.
impl Context {
    /// The satisfaction multiplier of this context.
    pub fn multiplier(self) -> f64 {
        match self {
            Context::Busy | Context::Exploring => 1.0,
            Context::Stuck => CONTEXT_STUCK,
            Context::Frustrated => CONTEXT_FRUSTRATED,
        }
    }
}

/// Negative detections of the last 30 days, each kind the sum of the server-confirmed
/// confidences (0..1 each) of its detections. `engaged` is not negative and lives in
/// [`Signals::engaged_30d`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Negatives {
    /// Σ confidence of `rage` detections.
    pub rage: f64,
    /// Σ confidence of `frustration` detections.
    pub frustration: f64,
    /// Σ confidence of `confusion` detections.
    pub confusion: f64,
    /// Σ confidence of `hesitation` detections.
    pub hesitation: f64,
    /// Σ confidence of `abandonment` detections.
    pub abandonment: f64,
}

impl Negatives {
    /// The severity-weighted total: what satisfaction counts as bad moments.
    pub fn weighted(&self) -> f64 {
        SEVERITY_RAGE * count(self.rage)
            + SEVERITY_FRUSTRATION * count(self.frustration)
            + SEVERITY_CONFUSION * count(self.confusion)
            + SEVERITY_HESITATION * count(self.hesitation)
            + SEVERITY_ABANDONMENT * count(self.abandonment)
    }
}

/// Everything the model reads about one customer: plain aggregates the store computes cheaply.
/// Windows end at the `now_ms` given to [`score`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// First time the customer was seen, ms since the epoch (`None`: never). Tenure.
    pub first_seen_ms: Option<i64>,
    /// Sessions in the last 30 days. Engagement.
    pub sessions_30d: u32,
    /// Distinct UTC days with a session in the last 30 days (0..=30; more reads as 30). Engagement.
    pub active_days_30d: u32,
    /// Last time the customer was seen, ms since the epoch (`None`: never). Engagement.
    pub last_seen_ms: Option<i64>,
    /// Negative detections of the last 30 days, confidence-weighted. Satisfaction.
    pub negatives_30d: Negatives,
    /// Σ confidence of `engaged` detections in the last 30 days. Satisfaction.
    pub engaged_30d: f64,
    /// The customer's latest one-tap context of the last 30 days, if any. Satisfaction.
    pub context: Option<Context>,
    /// Purchases ever. Loyalty.
    pub purchases: u32,
    /// Calendar months, of the last 12, with at least one purchase (0..=12; more reads as 12). Loyalty.
    pub months_with_purchase_12m: u32,
    /// Lifetime value, cents of the tenant's currency (negative reads as 0). Value.
    pub lifetime_value_cents: i64,
    /// Revenue in the last 90 days, cents (negative reads as 0). Value.
    pub revenue_90d_cents: i64,
    /// The tenant's value scale: the value at which the value term is full, cents (≤ 0 reads as
    /// [`DEFAULT_VALUE_SCALE_CENTS`]). Value.
    pub value_scale_cents: i64,
}

impl Signals {
    /// The baseline customer, "nobody": seen for the first time, no sessions, no detections, no
    /// context, no purchases, no value, the default value scale. Scores 12.5 (neutral
    /// satisfaction, nothing else).
    pub const fn nobody() -> Signals {
        Signals {
            first_seen_ms: None,
            sessions_30d: 0,
            active_days_30d: 0,
            last_seen_ms: None,
            negatives_30d: Negatives { rage: 0.0, frustration: 0.0, confusion: 0.0, hesitation: 0.0, abandonment: 0.0 },
            engaged_30d: 0.0,
            context: None,
            purchases: 0,
            months_with_purchase_12m: 0,
            lifetime_value_cents: 0,
            revenue_90d_cents: 0,
            value_scale_cents: DEFAULT_VALUE_SCALE_CENTS,
        }
    }
}

impl Default for Signals {
    /// [`Signals::nobody`].
    fn default() -> Self {
        Signals::nobody()
    }
}

/// The five factors, in score order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorName {
    /// Time since first seen.
    Tenure,
    /// Frequency and recency of visits.
    Engagement,
    /// Good versus bad moments, and the customer's own context.
    Satisfaction,
    /// Coming back to buy.
    Loyalty,
    /// Money spent, against the tenant's scale.
    Value,
}

impl FactorName {
    /// Every factor, in the order of [`Strength::factors`].
    pub const ALL: [FactorName; 5] =
        [FactorName::Tenure, FactorName::Engagement, FactorName::Satisfaction, FactorName::Loyalty, FactorName::Value];

    /// The factor's maximum points.
    pub fn max_points(self) -> f64 {
        match self {
            FactorName::Tenure => TENURE_MAX,
            FactorName::Engagement => ENGAGEMENT_MAX,
            FactorName::Satisfaction => SATISFACTION_MAX,
            FactorName::Loyalty => LOYALTY_MAX,
            FactorName::Value => VALUE_MAX,
        }
    }
}

/// The numbers behind a factor, formatted as a short sentence only when displayed or
/// serialised (so scoring allocates nothing; the sentences are in `strength/reasons.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reason {
    /// Whole days since first seen (`None`: not seen yet).
    Tenure {
        /// Whole days.
        days: Option<i64>,
    },
    /// Visits.
    Engagement {
        /// Active days of the last 30.
        active_days: u32,
        /// Sessions in the last 30 days.
        sessions: u32,
        /// Whole days since last seen (`None`: never seen).
        days_since_last: Option<i64>,
    },
    /// Moments and context.
    Satisfaction {
        /// Engaged moments (Σ confidence).
        engaged: f64,
        /// Severity-weighted negative moments.
        negative: f64,
        /// The customer's context.
        context: Option<Context>,
    },
    /// Purchases.
    Loyalty {
        /// Months with a purchase, of the last 12.
        months: u32,
        /// Purchases ever.
        purchases: u32,
    },
    /// Money.
    Value {
        /// Lifetime value, cents.
        lifetime_cents: i64,
        /// Revenue in the last 90 days, cents.
        revenue_90d_cents: i64,
    },
}

/// One factor's part of a score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Factor {
    /// Which factor.
    pub name: FactorName,
    /// Points earned, in `[0, max]`; the factor's exact contribution to the score.
    pub contribution: f64,
    /// The factor's maximum points.
    pub max: f64,
    /// What the factor read, as a short sentence (serialised as a string).
    pub reason: Reason,
}

impl Factor {
    /// The share of its maximum the factor earned, `0..=1`.
    pub fn fill(&self) -> f64 {
        self.contribution / self.max
    }

    /// Whether the factor helps the score: it earned at least half its points.
    pub fn helps(&self) -> bool {
        self.fill() >= 0.5
    }
}

/// A customer's identity strength.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Strength {
    /// `0..=100`, exactly the sum of the factors' contributions (in [`FactorName::ALL`] order).
    pub score: f64,
    /// The factors, in [`FactorName::ALL`] order.
    pub factors: [Factor; 5],
}

impl Strength {
    /// The factor called `name`.
    pub fn factor(&self, name: FactorName) -> &Factor {
        &self.factors[name as usize]
    }
}

/// A count or confidence sum made safe: NaN and negatives read as 0, huge values are capped.
fn count(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, MAX_COUNT)
    }
}

/// `x / (x + k)` for `x ≥ 0`: half at `k`, approaching 1.
fn half_at(x: f64, k: f64) -> f64 {
    x / (x + k)
}

/// Fractional days from `then_ms` to `now_ms`, never negative.
fn days_since(then_ms: i64, now_ms: i64) -> f64 {
    now_ms.saturating_sub(then_ms).max(0) as f64 / DAY_MS as f64
}

/// The tenure term and its reason.
fn tenure(first_seen_ms: Option<i64>, now_ms: i64) -> (f64, Reason) {
    match first_seen_ms {
        None => (0.0, Reason::Tenure { days: None }),
        Some(first) => {
            let days = days_since(first, now_ms);
            (TENURE_MAX * half_at(days, TENURE_HALF_DAYS), Reason::Tenure { days: Some(days as i64) })
        }
    }
}

/// The engagement term and its reason.
fn engagement(sessions_30d: u32, active_days_30d: u32, last_seen_ms: Option<i64>, now_ms: i64) -> (f64, Reason) {
    let active = active_days_30d.min(30);
    let Some(last) = last_seen_ms else {
        return (0.0, Reason::Engagement { active_days: active, sessions: sessions_30d, days_since_last: None });
    };
    let days = days_since(last, now_ms);
    let frequency = ACTIVE_DAYS_SHARE * half_at(active as f64, ACTIVE_DAYS_HALF)
        + (1.0 - ACTIVE_DAYS_SHARE) * half_at(sessions_30d as f64, SESSIONS_HALF);
    let recency = (-days / RECENCY_HALF_LIFE_DAYS).exp2();
    let fraction = (frequency * recency).clamp(0.0, 1.0);
    (ENGAGEMENT_MAX * fraction, Reason::Engagement { active_days: active, sessions: sessions_30d, days_since_last: Some(days as i64) })
}

/// The satisfaction term and its reason.
fn satisfaction(negatives: &Negatives, engaged_30d: f64, context: Option<Context>) -> (f64, Reason) {
    let bad = negatives.weighted();
    let good = count(engaged_30d);
    let share = (good + PRIOR_GOOD) / (good + bad + PRIOR_GOOD + PRIOR_BAD);
    let fraction = (share * context.map_or(1.0, Context::multiplier)).clamp(0.0, 1.0);
    (SATISFACTION_MAX * fraction, Reason::Satisfaction { engaged: good, negative: bad, context })
}

/// The loyalty term and its reason.
fn loyalty(purchases: u32, months_with_purchase_12m: u32) -> (f64, Reason) {
    let months = months_with_purchase_12m.min(12);
    let repeat = purchases.saturating_sub(1) as f64;
    let fraction = (MONTHS_SHARE * (months as f64 / 12.0) + (1.0 - MONTHS_SHARE) * half_at(repeat, REPEAT_HALF)).clamp(0.0, 1.0);
    (LOYALTY_MAX * fraction, Reason::Loyalty { months, purchases })
}

/// `min(1, ln(1 + x/c) / ln(1 + scale/c))` with `c = scale / 1000`: the value curve.
fn value_curve(cents: f64, scale: f64) -> f64 {
    let c = scale / VALUE_DECADES_DIVISOR;
    ((cents / c).ln_1p() / VALUE_DECADES_DIVISOR.ln_1p()).min(1.0)
}

/// The value term and its reason.
fn value(lifetime_value_cents: i64, revenue_90d_cents: i64, value_scale_cents: i64) -> (f64, Reason) {
    let scale = if value_scale_cents > 0 { value_scale_cents } else { DEFAULT_VALUE_SCALE_CENTS } as f64;
    let ltv = lifetime_value_cents.max(0);
    let recent = revenue_90d_cents.max(0);
    let fraction = (LIFETIME_SHARE * value_curve(ltv as f64, scale)
        + (1.0 - LIFETIME_SHARE) * value_curve(ANNUALISE_90D * recent as f64, scale))
    .clamp(0.0, 1.0);
    (VALUE_MAX * fraction, Reason::Value { lifetime_cents: ltv, revenue_90d_cents: recent })
}

/// Scores one customer at `now_ms`. Pure, allocation-free; see the module docs for the terms.
pub fn score(s: &Signals, now_ms: i64) -> Strength {
    let (t, tr) = tenure(s.first_seen_ms, now_ms);
    let (e, er) = engagement(s.sessions_30d, s.active_days_30d, s.last_seen_ms, now_ms);
    let (sa, sr) = satisfaction(&s.negatives_30d, s.engaged_30d, s.context);
    let (l, lr) = loyalty(s.purchases, s.months_with_purchase_12m);
    let (v, vr) = value(s.lifetime_value_cents, s.revenue_90d_cents, s.value_scale_cents);
    let factor = |name: FactorName, contribution: f64, reason: Reason| Factor { name, contribution, max: name.max_points(), reason };
    Strength {
        score: t + e + sa + l + v,
        factors: [
            factor(FactorName::Tenure, t, tr),
            factor(FactorName::Engagement, e, er),
            factor(FactorName::Satisfaction, sa, sr),
            factor(FactorName::Loyalty, l, lr),
            factor(FactorName::Value, v, vr),
        ],
    }
}

/// The score of [`Signals::nobody`] (12.5 points: neutral satisfaction).
pub fn baseline_score() -> f64 {
    score(&Signals::nobody(), 0).score
}

/// Customers the tests of every part share.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;

    /// 2026-05-28T00:00:00Z, a fixed "now".
    pub const NOW: i64 = 1_779_926_400_000;

    /// A customer with a bit of everything (used for the formula and reason vectors).
    pub fn regular() -> Signals {
        Signals {
            first_seen_ms: Some(NOW - 400 * DAY_MS),
            sessions_30d: 20,
            active_days_30d: 12,
            last_seen_ms: Some(NOW - 2 * DAY_MS),
            negatives_30d: Negatives { rage: 1.5, frustration: 0.5, ..Negatives::default() },
            engaged_30d: 6.0,
            context: Some(Context::Stuck),
            purchases: 14,
            months_with_purchase_12m: 7,
            lifetime_value_cents: 1_234_567,
            revenue_90d_cents: 120_000,
            value_scale_cents: DEFAULT_VALUE_SCALE_CENTS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{regular, NOW};
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
    use std::fmt;

    /// Runs a property on `cases` values drawn from a fixed seed (the same values on every run).
    fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
    where
        S::Value: fmt::Debug,
    {
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
        if let Err(e) = runner.run(&strategy, test) {
            panic!("{e}");
        }
    }

    fn count_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![Just(0.0), 0.0..40.0f64]
    }

    fn context_strategy() -> impl Strategy<Value = Option<Context>> {
        prop::option::of(prop::sample::select(vec![Context::Busy, Context::Stuck, Context::Exploring, Context::Frustrated]))
    }

    /// Customers of every kind, including inconsistent and out-of-range input.
    fn signals_strategy() -> impl Strategy<Value = Signals> {
        let time = prop::option::of(NOW - 3 * 365 * DAY_MS..NOW + DAY_MS);
        let negatives = (count_strategy(), count_strategy(), count_strategy(), count_strategy(), count_strategy()).prop_map(
            |(rage, frustration, confusion, hesitation, abandonment)| Negatives { rage, frustration, confusion, hesitation, abandonment },
        );
        (
            (time.clone(), 0..200u32, 0..35u32, time),
            (negatives, count_strategy(), context_strategy()),
            (0..100u32, 0..14u32),
            (-1_000..500_000_000i64, -1_000..100_000_000i64, prop_oneof![Just(DEFAULT_VALUE_SCALE_CENTS), -10..100_000_000i64]),
        )
            .prop_map(
                |((first, sessions, active, last), (negatives, engaged, context), (purchases, months), (ltv, rev, scale))| Signals {
                    first_seen_ms: first,
                    sessions_30d: sessions,
                    active_days_30d: active,
                    last_seen_ms: last,
                    negatives_30d: negatives,
                    engaged_30d: engaged,
                    context,
                    purchases,
                    months_with_purchase_12m: months,
                    lifetime_value_cents: ltv,
                    revenue_90d_cents: rev,
                    value_scale_cents: scale,
                },
            )
    }

    /// `base` with the signals of the factors in `present` (bit `i` = `FactorName::ALL[i]`) taken
    /// from `x`. The exhaustive destructuring fails to compile when a field is added and not
    /// assigned to a factor here.
    fn mix(x: &Signals, base: &Signals, present: u32) -> Signals {
        let Signals {
            first_seen_ms,
            sessions_30d,
            active_days_30d,
            last_seen_ms,
            negatives_30d,
            engaged_30d,
            context,
            purchases,
            months_with_purchase_12m,
            lifetime_value_cents,
            revenue_90d_cents,
            value_scale_cents,
        } = *x;
        let mut m = *base;
        let has = |f: FactorName| present & (1 << f as u32) != 0;
        if has(FactorName::Tenure) {
            m.first_seen_ms = first_seen_ms;
        }
        if has(FactorName::Engagement) {
            (m.sessions_30d, m.active_days_30d, m.last_seen_ms) = (sessions_30d, active_days_30d, last_seen_ms);
        }
        if has(FactorName::Satisfaction) {
            (m.negatives_30d, m.engaged_30d, m.context) = (negatives_30d, engaged_30d, context);
        }
        if has(FactorName::Loyalty) {
            (m.purchases, m.months_with_purchase_12m) = (purchases, months_with_purchase_12m);
        }
        if has(FactorName::Value) {
            (m.lifetime_value_cents, m.revenue_90d_cents, m.value_scale_cents) =
                (lifetime_value_cents, revenue_90d_cents, value_scale_cents);
        }
        m
    }

    fn factorial(n: u32) -> f64 {
        (1..=n).map(f64::from).product()
    }

    /// Exact Shapley values of the game `v(S)` = `game` of `x` with the factors outside `S` taken
    /// from nobody, by enumerating all 2⁵ coalitions.
    fn shapley(x: &Signals, game: impl Fn(&Signals) -> f64) -> [f64; 5] {
        let nobody = Signals::nobody();
        let v = |coalition: u32| game(&mix(x, &nobody, coalition));
        let n = FactorName::ALL.len() as u32;
        let mut phi = [0.0; 5];
        for (i, p) in phi.iter_mut().enumerate() {
            for coalition in (0..1u32 << n).filter(|c| c & (1 << i) == 0) {
                let k = coalition.count_ones();
                let weight = factorial(k) * factorial(n - k - 1) / factorial(n);
                *p += weight * (v(coalition | 1 << i) - v(coalition));
            }
        }
        phi
    }

    #[test]
    fn the_maxima_sum_to_100_and_nobody_scores_the_baseline() {
        assert_eq!(FactorName::ALL.iter().map(|f| f.max_points()).sum::<f64>(), 100.0);
        let s = score(&Signals::nobody(), NOW);
        assert_eq!(s.score, 12.5);
        assert_eq!(baseline_score(), 12.5);
        let contributions: Vec<f64> = s.factors.iter().map(|f| f.contribution).collect();
        assert_eq!(contributions, [0.0, 0.0, 12.5, 0.0, 0.0]);
        assert_eq!(Signals::default(), Signals::nobody());
    }

    #[test]
    fn the_terms_follow_the_documented_formulas() {
        let s = score(&regular(), NOW);
        let h = |x: f64, k: f64| x / (x + k);
        let v = |cents: f64| ((cents / 1000.0).ln_1p() / 1000f64.ln_1p()).min(1.0);
        let expected = [
            15.0 * h(400.0, 180.0),
            25.0 * (0.6 * h(12.0, 6.0) + 0.4 * h(20.0, 8.0)) * 0.5f64.powf(2.0 / 14.0),
            25.0 * (6.0 + 2.0) / (6.0 + 2.0 + 4.0) * 0.8,
            20.0 * (0.6 * 7.0 / 12.0 + 0.4 * h(13.0, 3.0)),
            15.0 * (0.7 * v(1_234_567.0) + 0.3 * v(480_000.0)),
        ];
        for (f, e) in s.factors.iter().zip(expected) {
            assert!((f.contribution - e).abs() < 1e-12, "{:?}: {} vs {e}", f.name, f.contribution);
        }
        // Lifetime value above the scale fills its part: 0.7 of the value term.
        assert!((v(1_234_567.0) - 1.0).abs() < 1e-15);
        assert!((s.score - expected.iter().sum::<f64>()).abs() < 1e-12);
        for (f, name) in s.factors.iter().zip(FactorName::ALL) {
            assert_eq!((f.name, f.max), (name, name.max_points()));
            assert_eq!(s.factor(name), f);
        }
    }

    #[test]
    fn the_score_is_exactly_the_sum_of_bounded_terms() {
        check(2000, signals_strategy(), |x| {
            let s = score(&x, NOW);
            let f = &s.factors;
            // Bit-for-bit: the same additions in the same order, no clamping of the total.
            prop_assert_eq!(
                s.score.to_bits(),
                (f[0].contribution + f[1].contribution + f[2].contribution + f[3].contribution + f[4].contribution).to_bits()
            );
            for f in f {
                prop_assert!(f.contribution >= 0.0 && f.contribution <= f.max, "{:?}", f);
            }
            prop_assert!((0.0..=100.0).contains(&s.score));
            Ok(())
        });
    }

    #[test]
    fn shapley_values_are_the_terms() {
        let base = score(&Signals::nobody(), NOW);
        let verify = |x: Signals| -> Result<(), TestCaseError> {
            let s = score(&x, NOW);
            let phi = shapley(&x, |s| score(s, NOW).score);
            for (i, p) in phi.iter().enumerate() {
                let term = s.factors[i].contribution - base.factors[i].contribution;
                prop_assert!((p - term).abs() <= 1e-9, "{:?}: shapley {} vs term {}", FactorName::ALL[i], p, term);
            }
            // Efficiency: the Shapley values share out exactly the gain over nobody.
            prop_assert!((phi.iter().sum::<f64>() - (s.score - base.score)).abs() <= 1e-9);
            Ok(())
        };
        verify(regular()).unwrap();
        verify(Signals::nobody()).unwrap();
        check(1000, signals_strategy(), verify);
    }

    /// The enumeration can tell: a score with an interaction (engagement counting double for
    /// tenured customers) shares its gain out differently from its terms.
    #[test]
    fn shapley_values_of_a_score_with_an_interaction_are_not_its_terms() {
        let interacting = |s: &Signals| {
            let st = score(s, NOW);
            st.score + st.factor(FactorName::Engagement).contribution * st.factor(FactorName::Tenure).fill()
        };
        let x = regular();
        let phi = shapley(&x, interacting);
        let s = score(&x, NOW);
        let gain = interacting(&x) - interacting(&Signals::nobody());
        assert!((phi.iter().sum::<f64>() - gain).abs() < 1e-9, "efficiency still holds");
        let tenure_term = s.factor(FactorName::Tenure).contribution;
        let engagement_term = s.factor(FactorName::Engagement).contribution;
        let bonus = engagement_term * s.factor(FactorName::Tenure).fill();
        // The interaction's bonus is split evenly between the two factors that make it.
        assert!((phi[0] - (tenure_term + bonus / 2.0)).abs() < 1e-9);
        assert!((phi[1] - (engagement_term + bonus / 2.0)).abs() < 1e-9);
        assert!(bonus > 1.0);
    }

    #[test]
    fn each_factor_reads_only_its_own_signals() {
        check(500, (signals_strategy(), signals_strategy()), |(x, y)| {
            for (i, name) in FactorName::ALL.into_iter().enumerate() {
                // y with only factor i's signals from x: only factor i may change.
                let m = score(&mix(&x, &y, 1 << i), NOW);
                let (sx, sy) = (score(&x, NOW), score(&y, NOW));
                for j in 0..5 {
                    let want = if j == i { sx.factors[j].contribution } else { sy.factors[j].contribution };
                    prop_assert_eq!(m.factors[j].contribution.to_bits(), want.to_bits(), "{:?} leaked into {:?}", name, FactorName::ALL[j]);
                }
            }
            Ok(())
        });
    }

    #[test]
    fn more_of_a_good_thing_never_lowers_its_factor() {
        let deltas = (1..1000u32, 1..1000 * DAY_MS, 0.01..50.0f64, 1..100_000_000i64);
        check(2000, (signals_strategy(), deltas), |(x, (n, ms, c, cents))| {
            let of = |s: &Signals, f: FactorName| score(s, NOW).factor(f).contribution;
            let at_least = |better: Signals, f: FactorName| -> Result<(), TestCaseError> {
                prop_assert!(of(&better, f) >= of(&x, f), "{:?}: {:?} vs {:?}", f, better, x);
                Ok(())
            };
            use FactorName::*;
            // Tenure: seen earlier, or seen at all.
            at_least(Signals { first_seen_ms: Some(x.first_seen_ms.unwrap_or(NOW).saturating_sub(ms)), ..x }, Tenure)?;
            // Engagement: more sessions, more active days, seen more recently.
            at_least(Signals { sessions_30d: x.sessions_30d + n, ..x }, Engagement)?;
            at_least(Signals { active_days_30d: x.active_days_30d + n, ..x }, Engagement)?;
            at_least(Signals { last_seen_ms: Some(x.last_seen_ms.map_or(NOW - 3 * 365 * DAY_MS, |t| t + ms)), ..x }, Engagement)?;
            // Satisfaction: more engaged moments; a neutral context instead of stuck or frustrated.
            at_least(Signals { engaged_30d: x.engaged_30d + c, ..x }, Satisfaction)?;
            if matches!(x.context, Some(Context::Stuck | Context::Frustrated)) {
                at_least(Signals { context: None, ..x }, Satisfaction)?;
                at_least(Signals { context: Some(Context::Busy), ..x }, Satisfaction)?;
            }
            // Loyalty: more purchases, more months with one.
            at_least(Signals { purchases: x.purchases + n, ..x }, Loyalty)?;
            at_least(Signals { months_with_purchase_12m: x.months_with_purchase_12m + n, ..x }, Loyalty)?;
            // Value: more lifetime value, more recent revenue.
            at_least(Signals { lifetime_value_cents: x.lifetime_value_cents + cents, ..x }, Value)?;
            at_least(Signals { revenue_90d_cents: x.revenue_90d_cents + cents, ..x }, Value)?;
            Ok(())
        });
    }

    #[test]
    fn more_trouble_never_raises_satisfaction() {
        check(2000, (signals_strategy(), 0.01..50.0f64, 0..5usize), |(x, c, kind)| {
            let sat = |s: &Signals| score(s, NOW).factor(FactorName::Satisfaction).contribution;
            let mut worse = x;
            let n = &mut worse.negatives_30d;
            *[&mut n.rage, &mut n.frustration, &mut n.confusion, &mut n.hesitation, &mut n.abandonment][kind] += c;
            prop_assert!(sat(&worse) <= sat(&x));
            // Saying "frustrated" is never better than "stuck", which is never better than nothing.
            let with = |context| sat(&Signals { context, ..x });
            prop_assert!(with(Some(Context::Frustrated)) <= with(Some(Context::Stuck)));
            prop_assert!(with(Some(Context::Stuck)) < with(None));
            prop_assert_eq!(with(Some(Context::Busy)), with(None));
            // A higher value scale never raises value.
            let value = |scale| score(&Signals { value_scale_cents: scale, ..x }, NOW).factor(FactorName::Value).contribution;
            prop_assert!(value(x.value_scale_cents.max(1) + 1_000_000) <= value(x.value_scale_cents.max(1)));
            Ok(())
        });
    }

    #[test]
    fn rage_weighs_more_than_hesitation() {
        let sat =
            |n: Negatives| score(&Signals { negatives_30d: n, ..Signals::nobody() }, NOW).factor(FactorName::Satisfaction).contribution;
        let rage = sat(Negatives { rage: 2.0, ..Negatives::default() });
        let hesitation = sat(Negatives { hesitation: 2.0, ..Negatives::default() });
        assert!(rage < hesitation && hesitation < 12.5, "{rage} {hesitation}");
        // Two rage clicks: 2 good of 2 + 2 + 2 bad moments.
        assert!((rage - 25.0 * 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn garbage_input_stays_in_range() {
        let mut x = regular();
        x.engaged_30d = f64::NAN;
        x.negatives_30d.rage = f64::INFINITY;
        x.negatives_30d.confusion = -5.0;
        x.first_seen_ms = Some(NOW + 10 * DAY_MS); // clock skew: first seen in the future
        x.last_seen_ms = Some(i64::MIN);
        x.value_scale_cents = 0;
        x.lifetime_value_cents = i64::MAX;
        let s = score(&x, NOW);
        assert!(s.factors.iter().all(|f| f.contribution.is_finite() && f.contribution >= 0.0 && f.contribution <= f.max), "{s:?}");
        assert_eq!(s.factor(FactorName::Tenure).contribution, 0.0);
        // Infinite rage reads as 10¹² moments: satisfaction all but gone.
        assert!(s.factor(FactorName::Satisfaction).contribution < 1e-9);
        assert_eq!(s.factor(FactorName::Engagement).contribution, 0.0);
    }
}
