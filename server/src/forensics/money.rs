//! Money: emotion → outcome, prevented churn, the quarterly projection and the ROI report.
//!
//! The rows are the intervention policy's decisions (every struggle that reached the
//! intervention bar, the held-out ones included) with their outcomes. A decision **counts**
//! once its outcome is in, or once its outcome window closed without one (then it did not
//! convert) — the same rule as `GET /v1/uplift`. Money is only ever shown as
//! uplift against the holdout × value at risk, with the uplift's 95% interval (Newcombe's
//! hybrid score interval, `interventions::bandit::uplift`) carried through.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{wilson, Figure, DAY_MS};
use crate::interventions::bandit;
use crate::store::DecisionOutcome;

/// Fewest counted decisions in each of the treated group and the holdout before a figure of
/// money is given. Below it the interval spans most of the value at risk and says nothing.
pub const MIN_PER_GROUP: u64 = 20;
/// Fewest days of counted decisions before a quarter is projected from them.
pub const MIN_PROJECTION_DAYS: f64 = 14.0;
/// Days in the projected quarter.
pub const QUARTER_DAYS: f64 = 91.0;
/// Outcomes that are churn (a cancelled subscription, a lost deal) rather than a conversion.
pub const CHURN_OUTCOMES: &[&str] = &["cancel", "churn"];

/// A decision that counts: `(converted, churned)`, or `None` while its window is open.
fn counted(d: &DecisionOutcome, window_ms: i64, now_ms: i64) -> Option<(bool, bool)> {
    match d.converted {
        Some(c) => Some((c, d.outcome.as_deref().is_some_and(|o| CHURN_OUTCOMES.contains(&o)))),
        None if d.created_ms + window_ms <= now_ms => Some((false, false)),
        None => None,
    }
}

/// How a group of decisions converted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rate {
    /// Counted decisions.
    pub n: u64,
    /// Of which converted.
    pub conversions: u64,
    /// Of which ended in churn (`cancel`, `churn`).
    pub churned: u64,
}

impl Rate {
    fn add(&mut self, converted: bool, churned: bool) {
        self.n += 1;
        self.conversions += converted as u64;
        self.churned += churned as u64;
    }

    /// The conversion rate with its Wilson interval.
    pub fn conversion(&self) -> Figure {
        if self.n == 0 {
            return Figure::too_little("no decision has an outcome yet");
        }
        let (l, h) = wilson(self.conversions, self.n);
        Figure::estimate(self.conversions as f64 / self.n as f64, l, h)
    }
}

/// Conversion after a struggle, per emotion and section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Correlation {
    /// Emotion.
    pub emotion: String,
    /// Section (`""`: none).
    pub section: String,
    /// Every counted decision (treated and held out).
    pub all: Rate,
    /// Conversion rate with its interval.
    pub conversion: Figure,
    /// Conversion of the tenant's counted decisions of every emotion and section, the baseline.
    pub baseline: Figure,
}

/// Emotion → outcome: per (emotion, section), how often a struggle was followed by a
/// conversion, against the baseline of every struggle.
pub fn correlations(rows: &[DecisionOutcome], window_ms: i64, now_ms: i64) -> Vec<Correlation> {
    let mut by: BTreeMap<(String, String), Rate> = BTreeMap::new();
    let mut all = Rate::default();
    for d in rows {
        if let Some((c, ch)) = counted(d, window_ms, now_ms) {
            by.entry((d.emotion.clone(), d.section.clone())).or_default().add(c, ch);
            all.add(c, ch);
        }
    }
    let baseline = all.conversion();
    by.into_iter()
        .map(|((emotion, section), r)| Correlation { emotion, section, all: r, conversion: r.conversion(), baseline: baseline.clone() })
        .collect()
}

/// Prevented churn of one emotion (or of all, `emotion` = `"all"`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prevented {
    /// Emotion, or `all`.
    pub emotion: String,
    /// Counted treated decisions.
    pub treated: Rate,
    /// Counted held-out decisions: the control the uplift is measured against.
    pub holdout: Rate,
    /// Conversion uplift of treated over holdout, with its interval (fractions, not %).
    pub uplift: Figure,
    /// Lifetime value of the distinct accounts among the treated decisions, cents.
    pub value_at_risk_cents: i64,
    /// Uplift × value at risk, cents, with its interval.
    pub prevented_cents: Figure,
    /// Interventions counted (treated decisions).
    pub interventions: u64,
}

fn prevented_of(emotion: &str, rows: &[&DecisionOutcome], window_ms: i64, now_ms: i64) -> Prevented {
    let (mut treated, mut holdout) = (Rate::default(), Rate::default());
    let mut at_risk: BTreeMap<&str, i64> = BTreeMap::new();
    for d in rows {
        let Some((c, ch)) = counted(d, window_ms, now_ms) else { continue };
        if d.holdout {
            holdout.add(c, ch);
        } else {
            treated.add(c, ch);
            if let Some(a) = d.account.as_deref() {
                let v = at_risk.entry(a).or_default();
                *v = (*v).max(d.value_cents);
            }
        }
    }
    let value_at_risk_cents: i64 = at_risk.values().sum();
    let (uplift, prevented_cents) = if treated.n < MIN_PER_GROUP || holdout.n < MIN_PER_GROUP {
        let why = format!("{} treated and {} held-out decisions have outcomes; each needs at least {MIN_PER_GROUP}", treated.n, holdout.n);
        (Figure::too_little(why.clone()), Figure::too_little(why))
    } else {
        match bandit::uplift((treated.conversions, treated.n), (holdout.conversions, holdout.n), 0.95) {
            Some(u) => {
                let up = Figure::estimate(u.uplift, u.low, u.high);
                let money = up.scaled(value_at_risk_cents as f64);
                (up, money)
            }
            None => (Figure::too_little("no interval for these counts"), Figure::too_little("no interval for these counts")),
        }
    };
    Prevented { emotion: emotion.to_string(), treated, holdout, uplift, value_at_risk_cents, prevented_cents, interventions: treated.n }
}

/// Prevented churn per emotion, then for all emotions together (`"all"`, last): uplift of the
/// treated over the holdout × the value at risk, each with its interval.
pub fn prevented(rows: &[DecisionOutcome], window_ms: i64, now_ms: i64) -> Vec<Prevented> {
    let mut by: BTreeMap<&str, Vec<&DecisionOutcome>> = BTreeMap::new();
    for d in rows {
        by.entry(d.emotion.as_str()).or_default().push(d);
    }
    let mut out: Vec<Prevented> = by.iter().map(|(e, rs)| prevented_of(e, rs, window_ms, now_ms)).collect();
    let every: Vec<&DecisionOutcome> = rows.iter().collect();
    out.push(prevented_of("all", &every, window_ms, now_ms));
    out
}

/// The quarter projected from what was prevented so far.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Projection {
    /// Days from the first counted decision to now.
    pub observed_days: f64,
    /// Prevented churn over a quarter ([`QUARTER_DAYS`]) at the observed rate, cents, with
    /// the interval of the observed figure scaled alike.
    pub quarter_cents: Figure,
}

/// Projects the `all` row of [`prevented`] to a quarter: × `QUARTER_DAYS / observed days`.
pub fn projection(all: &Prevented, rows: &[DecisionOutcome], window_ms: i64, now_ms: i64) -> Projection {
    let first = rows.iter().filter(|d| counted(d, window_ms, now_ms).is_some()).map(|d| d.created_ms).min();
    let observed_days = first.map_or(0.0, |f| (now_ms - f).max(0) as f64 / DAY_MS as f64);
    let quarter_cents = match &all.prevented_cents {
        Figure::TooLittleData { reason } => Figure::too_little(reason.clone()),
        _ if observed_days < MIN_PROJECTION_DAYS => {
            Figure::too_little(format!("{observed_days:.1} days observed; a projection needs {MIN_PROJECTION_DAYS} days"))
        }
        f => f.scaled(QUARTER_DAYS / observed_days),
    };
    Projection { observed_days, quarter_cents }
}

fn dollars(cents: f64) -> String {
    format!("{:.2}", cents / 100.0)
}

/// The intervention ROI report as CSV: one row per emotion and one for all, with the holdout
/// each figure came from. Money columns are empty, and `status` says why, where there is too
/// little data.
pub fn roi_csv(rows: &[Prevented], holdout_share: f64) -> String {
    let mut out = String::from(
        "emotion,holdout_share,treated_n,treated_conversions,holdout_n,holdout_conversions,uplift,uplift_low,uplift_high,\
         value_at_risk_usd,prevented_usd,prevented_low_usd,prevented_high_usd,prevented_per_intervention_usd,status\n",
    );
    for p in rows {
        let (u, m) = (p.uplift.parts(), p.prevented_cents.parts());
        let f4 = |v: f64| format!("{v:.4}");
        let cells = [
            p.emotion.clone(),
            format!("{holdout_share}"),
            p.treated.n.to_string(),
            p.treated.conversions.to_string(),
            p.holdout.n.to_string(),
            p.holdout.conversions.to_string(),
            u.map(|u| f4(u.0)).unwrap_or_default(),
            u.map(|u| f4(u.1)).unwrap_or_default(),
            u.map(|u| f4(u.2)).unwrap_or_default(),
            dollars(p.value_at_risk_cents as f64),
            m.map(|m| dollars(m.0)).unwrap_or_default(),
            m.map(|m| dollars(m.1)).unwrap_or_default(),
            m.map(|m| dollars(m.2)).unwrap_or_default(),
            m.filter(|_| p.interventions > 0).map(|m| dollars(m.0 / p.interventions as f64)).unwrap_or_default(),
            match &p.prevented_cents {
                Figure::Estimate { .. } => "estimate".to_string(),
                Figure::TooLittleData { reason } => format!("too little data: {reason}"),
            },
        ];
        let quoted: Vec<String> = cells
            .iter()
            .map(|c| if c.contains([',', '"', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
            .collect();
        out += &quoted.join(",");
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(emotion: &str, holdout: bool, converted: Option<bool>, account: &str, value: i64, at: i64) -> DecisionOutcome {
        DecisionOutcome {
            emotion: emotion.into(),
            section: "pricing".into(),
            holdout,
            converted,
            outcome: converted.map(|c| if c { "purchase".into() } else { "cancel".into() }),
            created_ms: at,
            account: Some(account.into()),
            value_cents: value,
        }
    }

    /// 40 treated (30 convert) and 20 held out (10 convert) over 20 days; 4 accounts of $1,000.
    fn measured() -> Vec<DecisionOutcome> {
        let mut v = Vec::new();
        for i in 0..40 {
            v.push(row("rage", false, Some(i < 30), &format!("a{}", i % 4), 100_000, i * DAY_MS / 2));
        }
        for i in 0..20 {
            v.push(row("rage", true, Some(i < 10), "h", 500_000, i * DAY_MS));
        }
        v
    }

    #[test]
    fn too_little_holdout_gives_no_money() {
        let rows: Vec<_> = measured().into_iter().filter(|d| !d.holdout).chain([row("rage", true, Some(true), "h", 1, 0)]).collect();
        let p = prevented(&rows, 1, 100 * DAY_MS);
        assert!(matches!(&p[0].prevented_cents, Figure::TooLittleData { reason } if reason.contains("1 held-out")), "{p:?}");
        let csv = roi_csv(&p, 0.1);
        assert!(csv.lines().nth(1).unwrap().ends_with("1 held-out decisions have outcomes; each needs at least 20"), "{csv}");
        assert!(csv.lines().nth(1).unwrap().contains(",4000.00,,,,,"), "no money without an interval: {csv}");
    }

    #[test]
    fn prevented_churn_is_the_uplift_interval_times_the_value_at_risk() {
        let rows = measured();
        let now = 30 * DAY_MS;
        let p = prevented(&rows, 1, now);
        let all = p.last().unwrap();
        assert_eq!((all.treated.n, all.treated.conversions, all.holdout.n, all.holdout.conversions), (40, 30, 20, 10));
        // Four distinct treated accounts of $1,000: the held-out account is not at risk of the treatment.
        assert_eq!(all.value_at_risk_cents, 400_000);
        let u = bandit::uplift((30, 40), (10, 20), 0.95).unwrap();
        let (v, l, h) = all.prevented_cents.parts().unwrap();
        assert!((v - 0.25 * 400_000.0).abs() < 1e-6 && (l - u.low * 400_000.0).abs() < 1e-6 && (h - u.high * 400_000.0).abs() < 1e-6);
        assert!(l < 0.0 && h > v, "this small a holdout cannot rule out no effect: [{l}, {h}]");
        // 30 days observed: a quarter is 91/30 of it.
        let q = projection(all, &rows, 1, now);
        assert!((q.observed_days - 30.0).abs() < 1e-9);
        let (qv, ql, _) = q.quarter_cents.parts().unwrap();
        assert!((qv - v * 91.0 / 30.0).abs() < 1e-6 && (ql - l * 91.0 / 30.0).abs() < 1e-6);
        // Thirteen days: too few to project.
        assert!(matches!(projection(all, &rows, 1, 13 * DAY_MS).quarter_cents, Figure::TooLittleData { .. }));
    }

    #[test]
    fn open_windows_do_not_count_and_closed_ones_count_as_not_converted() {
        let rows = vec![row("rage", false, None, "a", 1, 0), row("rage", false, None, "a", 1, 900)];
        let c = correlations(&rows, 1000, 1000);
        assert_eq!((c[0].all.n, c[0].all.conversions), (1, 0));
        let c = correlations(&rows, 1000, 999);
        assert!(c.is_empty());
    }

    #[test]
    fn correlation_per_emotion_and_section_against_the_baseline() {
        let mut rows = measured();
        rows.push(DecisionOutcome { section: "checkout".into(), ..row("confusion", false, Some(false), "z", 0, 0) });
        let c = correlations(&rows, 1, 100 * DAY_MS);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].emotion.as_str(), c[0].section.as_str(), c[0].all.n, c[0].all.churned), ("confusion", "checkout", 1, 1));
        let (b, _, _) = c[0].baseline.parts().unwrap();
        assert!((b - 40.0 / 61.0).abs() < 1e-12);
        let (v, l, h) = c[1].conversion.parts().unwrap();
        assert!((v - 40.0 / 60.0).abs() < 1e-12 && l < v && h > v);
    }
}
