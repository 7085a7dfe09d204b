//! The score over time: one [`Snapshot`] per customer per UTC day, the [`Trend`] over the last
//! week, the [`Erosion`] a sharp drop publishes, and the [`Segment`] a customer falls in, with
//! each segment's size and value ([`summarize`]).

use serde::{Deserialize, Serialize};

use super::DAY_MS;

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
    let reference = history.iter().filter(|s| s.day >= from && s.day < today.day).min_by_key(|s| s.day);
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

#[cfg(test)]
mod tests {
    use super::super::model::fixtures::NOW;
    use super::*;

    #[test]
    fn days_are_utc_and_floor() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(NOW), 20_601);
        assert_eq!(day_of(NOW + 23 * 3_600_000), 20_601);
    }

    #[test]
    fn the_trend_is_the_change_over_the_last_seven_days() {
        let today = Snapshot { day: 100, score: 60.0 };
        // Daily history, days 80..=99, scores rising one point a day to 59 yesterday.
        let daily: Vec<Snapshot> = (80..100).map(|day| Snapshot { day, score: day as f64 - 40.0 }).collect();
        assert_eq!(trend(&daily, &today), Trend { change_7d: 7.0, since_day: Some(93) });
        // Order does not matter; today's and later snapshots are ignored.
        let mut shuffled: Vec<Snapshot> = daily.iter().rev().copied().collect();
        shuffled.push(Snapshot { day: 100, score: 0.0 });
        shuffled.push(Snapshot { day: 101, score: 0.0 });
        assert_eq!(trend(&shuffled, &today), Trend { change_7d: 7.0, since_day: Some(93) });
        // A customer three days old: the change since their first snapshot.
        let young = [Snapshot { day: 98, score: 70.0 }, Snapshot { day: 97, score: 75.0 }, Snapshot { day: 99, score: 64.0 }];
        assert_eq!(trend(&young, &today), Trend { change_7d: -15.0, since_day: Some(97) });
        // A snapshot older than the window says nothing about this week.
        assert_eq!(trend(&[Snapshot { day: 92, score: 10.0 }], &today), Trend { change_7d: 0.0, since_day: None });
        assert_eq!(trend(&[], &today), Trend { change_7d: 0.0, since_day: None });
    }

    #[test]
    fn erosion_is_a_drop_of_strictly_more_than_ten_points() {
        let yesterday = Snapshot { day: 9, score: 50.0 };
        assert_eq!(erosion(Some(&yesterday), 40.0), None);
        let e = erosion(Some(&yesterday), 39.99).expect("10.01 points is an erosion");
        assert_eq!((e.from_day, e.from, e.to), (9, 50.0, 39.99));
        assert!((e.drop - 10.01).abs() < 1e-9);
        assert_eq!(erosion(None, 0.0), None);
        assert_eq!(erosion(Some(&yesterday), 80.0), None);
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["from_day"], 9);
    }

    #[test]
    fn segments_follow_the_table() {
        let t = |change_7d| Trend { change_7d, since_day: Some(0) };
        use Segment::*;
        let cases = [
            (39.99, 5.0, AtRisk),
            (40.0, 0.0, Steady),
            (95.0, -10.01, AtRisk),
            (95.0, -10.0, Eroding),
            (50.0, -3.01, Eroding),
            (70.0, -3.0, Thriving),
            (70.0, -3.01, Eroding),
            (69.99, 20.0, Steady),
            (100.0, 0.0, Thriving),
        ];
        for (score, change, want) in cases {
            assert_eq!(segment(score, &t(change)), want, "score {score}, change {change}");
        }
        assert_eq!(segment(80.0, &Trend { change_7d: 0.0, since_day: None }), Thriving);
    }

    #[test]
    fn summaries_cover_every_segment_in_order() {
        let s = summarize([(Segment::AtRisk, 500), (Segment::Thriving, 1_000), (Segment::AtRisk, 250), (Segment::AtRisk, i64::MAX)]);
        assert_eq!(
            s,
            [
                SegmentSummary { segment: Segment::Thriving, customers: 1, value_cents: 1_000 },
                SegmentSummary { segment: Segment::Steady, customers: 0, value_cents: 0 },
                SegmentSummary { segment: Segment::Eroding, customers: 0, value_cents: 0 },
                SegmentSummary { segment: Segment::AtRisk, customers: 3, value_cents: i64::MAX },
            ]
        );
        assert_eq!(summarize(std::iter::empty()).iter().map(|s| s.segment).collect::<Vec<_>>(), Segment::ALL);
    }
}
