//! Identity strength: how strong a customer's relationship with the tenant is, 0–100, with the
//! exact share of the score each of five factors earned, a daily trend, erosion events and
//! segments.
//!
//! Why additive: a customer-success manager (and, in the widget, the customer) must be able to
//! read *why* a score is what it is. The score is the plain sum of five terms, each a saturating
//! function of its own signals only, so a term **is** its factor's exact contribution: relative
//! to the "nobody" baseline ([`Signals::nobody`]), the Shapley value of a factor equals its term
//! minus its baseline term (an additive game with no interactions; proved by enumeration in
//! `model::tests::shapley_values_are_the_terms`). Each term lies in `[0, max]` and the maxima
//! sum to 100, so the score is in `0..=100` with no clamping (clamping the sum would break
//! additivity).
//!
//! Everything here is pure and deterministic: no I/O, no clock (`now_ms` is a parameter), no
//! randomness. The store computes [`Signals`] (cheap aggregates over the last 30 days, 12 months
//! and lifetime), the caller scores, keeps one [`Snapshot`] per customer per UTC day, derives the
//! [`Trend`] and the [`Segment`], and publishes an [`Erosion`] when [`erosion`] returns one.
//!
//! # The five terms
//!
//! Notation: `h(x, k) = x / (x + k)` for `x ≥ 0` ("half the points at `k`", never quite all);
//! `days` are fractional days of 86 400 000 ms.
//!
//! | factor | max | term |
//! |---|---|---|
//! | tenure | 15 | `15 · h(days since first seen, 180)` |
//! | engagement | 25 | `25 · (0.6 · h(active days in 30, 6) + 0.4 · h(sessions in 30 days, 8)) · 0.5^(days since last seen / 14)` |
//! | satisfaction | 25 | `25 · (engaged + 2) / (engaged + negative + 4) · context` |
//! | loyalty | 20 | `20 · (0.6 · months with a purchase in 12 / 12 + 0.4 · h(purchases − 1, 3))` |
//! | value | 15 | `15 · (0.7 · v(lifetime value) + 0.3 · v(4 · revenue in 90 days))` |
//!
//! * **Tenure** (15): time is the slowest signal and cannot be earned quickly, so it weighs
//!   least with value; six months give half its points, a year about two thirds.
//! * **Engagement** (25): how often the customer comes (active days weigh more than sessions,
//!   which a single busy day can inflate), discounted by how long ago they last came (the
//!   discount halves every 14 days), so a customer who stopped coming loses it within weeks.
//! * **Satisfaction** (25): the share of good moments among the detections of the last 30 days,
//!   starting from two imaginary good and two imaginary bad ones (so no evidence reads 50 %, and
//!   one rage click does not sink a customer). Good moments are `engaged` detections; bad ones
//!   are negative detections weighted by confidence and by severity ([`SEVERITY_RAGE`] …).
//!   The customer's own latest one-tap context multiplies it: `stuck` × 0.8, `frustrated` ×
//!   0.6, `busy` and `exploring` × 1.
//! * **Loyalty** (20): coming back to buy: regularity (months with a purchase among the last
//!   12) weighs more than the raw count of repeat purchases.
//! * **Value** (15): `v(x) = min(1, ln(1 + x/c) / ln(1001))` with `c` = the tenant's value scale
//!   / 1000: every tenfold counts the same and the term is full at the scale (default
//!   1 000 000 cents = 10 000 in the tenant's currency). Recent revenue is annualised (× 4).
//!
//! The baseline, "nobody", is a customer seen for the first time, with no activity, no
//! detections, no context, no purchases and no value: 0 + 0 + 12.5 + 0 + 0 = **12.5**.
//!
//! Reasons are lazy: [`Reason`] keeps the numbers a factor read and formats them only when
//! displayed or serialised, so [`score`] allocates nothing.
//!
//! # The parts
//!
//! * `model`: the additive model: its constants, what it reads ([`Signals`]), the five terms,
//!   [`score`] and the [`Strength`] it returns, factor by factor.
//! * `reasons`: what the factors say: the text of each [`Reason`] (amounts in the one money
//!   format, [`crate::records::format::money`]) and the [`top_reasons`] the widget shows.
//! * `history`: the score over time: daily [`Snapshot`]s, the [`Trend`], [`Erosion`]s and the
//!   [`Segment`]s with their [`summarize`]d value.
//!
//! Every item is used from here, `crate::identity::strength::…`; the parts are private.

mod history;
mod model;
mod reasons;

pub use history::{
    day_of, erosion, segment, summarize, trend, Erosion, Segment, SegmentSummary, Snapshot, Trend, AT_RISK_BELOW, AT_RISK_FALL,
    ERODING_FALL, EROSION_DROP_POINTS, THRIVING_FROM, TREND_DAYS,
};
pub use model::{
    baseline_score, score, Context, Factor, FactorName, Negatives, Reason, Signals, Strength, ACTIVE_DAYS_HALF, ACTIVE_DAYS_SHARE,
    ANNUALISE_90D, CONTEXT_FRUSTRATED, CONTEXT_STUCK, DEFAULT_VALUE_SCALE_CENTS, ENGAGEMENT_MAX, LIFETIME_SHARE, LOYALTY_MAX, MONTHS_SHARE,
    PRIOR_BAD, PRIOR_GOOD, RECENCY_HALF_LIFE_DAYS, REPEAT_HALF, SATISFACTION_MAX, SESSIONS_HALF, SEVERITY_ABANDONMENT, SEVERITY_CONFUSION,
    SEVERITY_FRUSTRATION, SEVERITY_HESITATION, SEVERITY_RAGE, TENURE_HALF_DAYS, TENURE_MAX, VALUE_DECADES_DIVISOR, VALUE_MAX,
};
pub use reasons::top_reasons;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The parts together: what the API serialises, and a customer's week from scores to segment.
#[cfg(test)]
mod tests {
    use super::model::fixtures::{regular, NOW};
    use super::*;

    #[test]
    fn the_json_names_factors_and_segments_in_lower_case() {
        let v = serde_json::to_value(score(&regular(), NOW)).unwrap();
        assert_eq!(v["factors"][0]["name"], "tenure");
        assert_eq!(v["factors"][2]["reason"], "6.0 engaged vs 2.0 difficult moments in 30 days; said they are stuck");
        assert_eq!(v["factors"][4]["max"], 15.0);
        assert_eq!(serde_json::to_value(Segment::AtRisk).unwrap(), "at_risk");
        assert_eq!(serde_json::to_value(Segment::Thriving).unwrap(), "thriving");
        assert_eq!(serde_json::from_str::<Context>("\"frustrated\"").unwrap(), Context::Frustrated);
        assert_eq!(serde_json::to_value(Context::Exploring).unwrap(), Context::Exploring.name());
    }

    /// A loyal customer hits a broken checkout: a day of rage and frustration, and they say so.
    /// The score falls by more than ten points overnight (an erosion); still above 70, they are
    /// at risk because of the fall, not the level.
    #[test]
    fn a_loyal_customer_who_rages_at_checkout_erodes_and_is_at_risk() {
        let loyal = Signals {
            first_seen_ms: Some(NOW - 730 * DAY_MS),
            sessions_30d: 40,
            active_days_30d: 20,
            last_seen_ms: Some(NOW - DAY_MS),
            engaged_30d: 10.0,
            purchases: 25,
            months_with_purchase_12m: 10,
            lifetime_value_cents: 2_000_000,
            revenue_90d_cents: 300_000,
            ..Signals::nobody()
        };
        let today = day_of(NOW);
        let history: Vec<Snapshot> = (1..=7).map(|d| Snapshot { day: today - d, score: score(&loyal, NOW - d * DAY_MS).score }).collect();
        let before = score(&loyal, NOW);
        let b = Snapshot { day: today, score: before.score };
        assert_eq!(segment(b.score, &trend(&history, &b)), Segment::Thriving, "{b:?}");

        let raging = Signals {
            last_seen_ms: Some(NOW),
            negatives_30d: Negatives { rage: 6.0, frustration: 4.0, ..Negatives::default() },
            context: Some(Context::Frustrated),
            ..loyal
        };
        let after = score(&raging, NOW);
        let a = Snapshot { day: today, score: after.score };
        let e = erosion(history.first(), a.score).expect("an erosion");
        assert!(e.drop > EROSION_DROP_POINTS && a.score >= THRIVING_FROM, "{e:?}");
        assert_eq!(segment(a.score, &trend(&history, &a)), Segment::AtRisk);
        // The widget names satisfaction as what holds the score back.
        let reasons = top_reasons(&after, 1);
        assert_eq!(reasons.last().map(|f| f.name), Some(FactorName::Satisfaction));
        assert_eq!(
            reasons.last().unwrap().reason.to_string(),
            "10.0 engaged vs 10.0 difficult moments in 30 days; said they are frustrated"
        );
    }
}
