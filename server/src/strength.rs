//! Identity strength: how strong a customer's relationship with the tenant is, 0–100, with the
//! exact share of the score each of five factors earned, a daily trend, erosion events and
//! segments.
//!
//! Why additive: a customer-success manager (and, in the widget, the customer) must be able to
//! read *why* a score is what it is. The score is the plain sum of five terms, each a saturating
//! function of its own signals only, so a term **is** its factor's exact contribution: relative
//! to the "nobody" baseline ([`Signals::nobody`]), the Shapley value of a factor equals its term
//! minus its baseline term (an additive game with no interactions; proved by enumeration in
//! `tests::shapley_values_are_the_terms`). Each term lies in `[0, max]` and the maxima sum to
//! 100, so the score is in `0..=100` with no clamping (clamping the sum would break additivity).
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

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

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

/// A drop of strictly more than this many points from the previous snapshot is an erosion.
pub const EROSION_DROP_POINTS: f64 = 10.0;
/// Days over which [`trend`] measures the change.
pub const TREND_DAYS: i64 = 7;
/// Below this score a customer is at risk, whatever the trend.
pub const AT_RISK_BELOW: f64 = 40.0;
/// A fall of strictly more than this many points in [`TREND_DAYS`] puts a customer at risk.
pub const AT_RISK_FALL: f64 = 10.0;
/// A fall of strictly more than this many points in [`TREND_DAYS`] makes a customer eroding.
pub const ERODING_FALL: f64 = 3.0;
/// From this score (and not eroding) a customer is thriving.
pub const THRIVING_FROM: f64 = 70.0;

/// Counts above this are treated as this (keeps garbage input finite).
const MAX_COUNT: f64 = 1e12;

/// The customer's own latest one-tap context (from the widget), at most 30 days old.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// "I'm busy": neutral.
    Busy,
    /// "I'm stuck": satisfaction × [`CONTEXT_STUCK`].
    Stuck,
    /// "Just exploring": neutral.
    Exploring,
    /// "I'm frustrated": satisfaction × [`CONTEXT_FRUSTRATED`].
    Frustrated,
}

impl Context {
    /// The satisfaction multiplier of this context.
    pub fn multiplier(self) -> f64 {
        match self {
            Context::Busy | Context::Exploring => 1.0,
            Context::Stuck => CONTEXT_STUCK,
            Context::Frustrated => CONTEXT_FRUSTRATED,
        }
    }

    /// The lower-case name (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            Context::Busy => "busy",
            Context::Stuck => "stuck",
            Context::Exploring => "exploring",
            Context::Frustrated => "frustrated",
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
    pub fn max(self) -> f64 {
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
/// serialised (so scoring allocates nothing).
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

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Tenure { days: None } => f.write_str("not seen yet"),
            Reason::Tenure { days: Some(0) } => f.write_str("new today"),
            Reason::Tenure { days: Some(1) } => f.write_str("customer for 1 day"),
            Reason::Tenure { days: Some(d) } => write!(f, "customer for {d} days"),
            Reason::Engagement { days_since_last: None, .. } => f.write_str("no visits yet"),
            Reason::Engagement { active_days, sessions, days_since_last: Some(d) } => {
                write!(f, "active {active_days} of the last 30 days, {sessions} session{}, ", plural(sessions as i64))?;
                match d {
                    0 => f.write_str("last seen today"),
                    1 => f.write_str("last seen yesterday"),
                    d => write!(f, "last seen {d} days ago"),
                }
            }
            Reason::Satisfaction { engaged, negative, context } => {
                if engaged == 0.0 && negative == 0.0 {
                    f.write_str("no strong moments in 30 days")?;
                } else {
                    write!(f, "{engaged:.1} engaged vs {negative:.1} difficult moments in 30 days")?;
                }
                match context {
                    Some(Context::Stuck) => f.write_str("; said they are stuck"),
                    Some(Context::Frustrated) => f.write_str("; said they are frustrated"),
                    _ => Ok(()),
                }
            }
            Reason::Loyalty { purchases: 0, .. } => f.write_str("no purchase yet"),
            Reason::Loyalty { months, purchases } => {
                write!(f, "{purchases} purchase{}, in {months} of the last 12 months", plural(purchases as i64))
            }
            Reason::Value { lifetime_cents, revenue_90d_cents } => {
                f.write_str("lifetime value ")?;
                money(f, lifetime_cents)?;
                f.write_str(", ")?;
                money(f, revenue_90d_cents)?;
                f.write_str(" in 90 days")
            }
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Cents as `12,345.67` (the tenant's currency; no symbol).
fn money(f: &mut fmt::Formatter<'_>, cents: i64) -> fmt::Result {
    let c = cents.unsigned_abs();
    if cents < 0 {
        f.write_str("-")?;
    }
    let units = c / 100;
    let mut groups = [0u64; 7];
    let (mut n, mut u) = (0, units);
    loop {
        groups[n] = u % 1000;
        n += 1;
        u /= 1000;
        if u == 0 {
            break;
        }
    }
    write!(f, "{}", groups[n - 1])?;
    for g in groups[..n - 1].iter().rev() {
        write!(f, ",{g:03}")?;
    }
    write!(f, ".{:02}", c % 100)
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
    let fraction =
        (MONTHS_SHARE * (months as f64 / 12.0) + (1.0 - MONTHS_SHARE) * half_at(repeat, REPEAT_HALF)).clamp(0.0, 1.0);
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
    let factor = |name: FactorName, contribution: f64, reason: Reason| Factor { name, contribution, max: name.max(), reason };
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

/// What the widget shows: up to `n` factors that help most (at least half their points, fullest
/// first), then up to `n` that hold the score back most (under half their points, emptiest
/// first). Each factor appears at most once; ties keep [`FactorName::ALL`] order.
pub fn top_reasons(s: &Strength, n: usize) -> Vec<&Factor> {
    let mut helps: Vec<&Factor> = s.factors.iter().filter(|f| f.helps()).collect();
    let mut holds: Vec<&Factor> = s.factors.iter().filter(|f| !f.helps()).collect();
    // Stable sorts: equal fills keep factor order.
    helps.sort_by(|a, b| b.fill().total_cmp(&a.fill()));
    holds.sort_by(|a, b| a.fill().total_cmp(&b.fill()));
    helps.truncate(n);
    holds.truncate(n);
    helps.extend(holds);
    helps
}

/// A customer's score on one UTC day (the last score of that day).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Days since the Unix epoch, UTC (see [`day_of`]).
    pub day: i64,
    /// The score, `0..=100`.
    pub score: f64,
}

/// The UTC day (days since the Unix epoch) of a time in ms; floors, so instants before 1970
/// fall on negative days.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// How a score moved over the last [`TREND_DAYS`] days.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// Points gained (negative: lost) since `since_day`; 0 when there is no earlier snapshot.
    pub change_7d: f64,
    /// The day of the snapshot compared with, if any.
    pub since_day: Option<i64>,
}

/// The change of `today`'s score from the **earliest** snapshot in the window of the
/// [`TREND_DAYS`] days before it (`today.day − 7 ..= today.day − 1`). With daily snapshots that
/// is the score of exactly a week ago; for a customer younger than a week, the change since
/// their first snapshot; with no snapshot in the window, no change. `history` may be in any
/// order; snapshots outside the window are ignored.
pub fn trend(history: &[Snapshot], today: &Snapshot) -> Trend {
    let from = today.day - TREND_DAYS;
    let reference =
        history.iter().filter(|s| s.day >= from && s.day < today.day).min_by_key(|s| s.day);
    match reference {
        Some(r) => Trend { change_7d: today.score - r.score, since_day: Some(r.day) },
        None => Trend { change_7d: 0.0, since_day: None },
    }
}

/// A drop of strictly more than [`EROSION_DROP_POINTS`] from the previous snapshot: what the
/// caller publishes on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Erosion {
    /// The day of the previous snapshot.
    pub from_day: i64,
    /// The previous score.
    pub from: f64,
    /// The current score.
    pub to: f64,
    /// `from − to`, more than [`EROSION_DROP_POINTS`].
    pub drop: f64,
}

/// The erosion from `previous` to `current`, if the score fell by strictly more than
/// [`EROSION_DROP_POINTS`]; `None` without a previous snapshot.
pub fn erosion(previous: Option<&Snapshot>, current: f64) -> Option<Erosion> {
    let p = previous?;
    let drop = p.score - current;
    (drop > EROSION_DROP_POINTS).then_some(Erosion { from_day: p.day, from: p.score, to: current, drop })
}

/// A group of customers by strength band and trend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Strong (≥ [`THRIVING_FROM`]) and not falling by more than [`ERODING_FALL`].
    Thriving,
    /// Everything else: between the bands, or strong and barely moving.
    Steady,
    /// Falling by more than [`ERODING_FALL`] points in a week (but not at risk).
    Eroding,
    /// Below [`AT_RISK_BELOW`], or falling by more than [`AT_RISK_FALL`] points in a week.
    AtRisk,
}

impl Segment {
    /// Every segment, in the order of [`summarize`].
    pub const ALL: [Segment; 4] = [Segment::Thriving, Segment::Steady, Segment::Eroding, Segment::AtRisk];
}

/// The segment of a score and its trend; the first matching row wins:
///
/// | segment | when |
/// |---|---|
/// | at_risk | score < 40, or change in 7 days < −10 |
/// | eroding | change in 7 days < −3 |
/// | thriving | score ≥ 70 |
/// | steady | otherwise |
pub fn segment(score: f64, trend: &Trend) -> Segment {
    let fall = -trend.change_7d;
    if score < AT_RISK_BELOW || fall > AT_RISK_FALL {
        Segment::AtRisk
    } else if fall > ERODING_FALL {
        Segment::Eroding
    } else if score >= THRIVING_FROM {
        Segment::Thriving
    } else {
        Segment::Steady
    }
}

/// One segment's size and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSummary {
    /// The segment.
    pub segment: Segment,
    /// Customers in it.
    pub customers: u64,
    /// Σ of their value, cents (saturating).
    pub value_cents: i64,
}

/// Counts customers and sums their value per segment: all four segments, always in
/// [`Segment::ALL`] order, empty ones with zeros.
pub fn summarize<I: IntoIterator<Item = (Segment, i64)>>(customers: I) -> Vec<SegmentSummary> {
    let mut out: Vec<SegmentSummary> =
        Segment::ALL.iter().map(|&segment| SegmentSummary { segment, customers: 0, value_cents: 0 }).collect();
    for (segment, value_cents) in customers {
        let s = &mut out[segment as usize];
        s.customers += 1;
        s.value_cents = s.value_cents.saturating_add(value_cents);
    }
    out
}
