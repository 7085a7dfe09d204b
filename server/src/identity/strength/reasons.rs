//! What the factors say: each [`Reason`] as a short sentence (its `Display`, and the string it
//! serialises as), amounts in the one money format ([`money`]), and the [`top_reasons`] the
//! widget shows.

use std::fmt;

use serde::{Serialize, Serializer};

use super::model::{Context, Factor, Reason, Strength};
use crate::records::format::money;

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
                write!(f, "lifetime value {}, {} in 90 days", money(lifetime_cents), money(revenue_90d_cents))
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

/// What the widget shows: up to `n` factors that help most (at least half their points, fullest
/// first), then up to `n` that hold the score back most (under half their points, emptiest
/// first). Each factor appears at most once; ties keep [`FactorName::ALL`](super::FactorName::ALL) order.
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

#[cfg(test)]
mod tests {
    use super::super::model::fixtures::{regular, NOW};
    use super::super::model::{score, FactorName, Signals};
    use super::super::DAY_MS;
    use super::*;

    #[test]
    fn reasons_read_as_sentences() {
        let s = score(&regular(), NOW);
        let reasons: Vec<String> = s.factors.iter().map(|f| f.reason.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "customer for 400 days",
                "active 12 of the last 30 days, 20 sessions, last seen 2 days ago",
                "6.0 engaged vs 2.0 difficult moments in 30 days; said they are stuck",
                "14 purchases, in 7 of the last 12 months",
                "lifetime value $12,345.67, $1,200 in 90 days",
            ]
        );
        let nobody: Vec<String> = score(&Signals::nobody(), NOW).factors.iter().map(|f| f.reason.to_string()).collect();
        assert_eq!(
            nobody,
            ["not seen yet", "no visits yet", "no strong moments in 30 days", "no purchase yet", "lifetime value $0, $0 in 90 days"]
        );
        let one = Signals {
            first_seen_ms: Some(NOW - DAY_MS),
            sessions_30d: 1,
            active_days_30d: 1,
            last_seen_ms: Some(NOW),
            purchases: 1,
            months_with_purchase_12m: 1,
            ..Signals::nobody()
        };
        let r: Vec<String> = score(&one, NOW).factors.iter().map(|f| f.reason.to_string()).collect();
        assert_eq!(&r[..2], ["customer for 1 day", "active 1 of the last 30 days, 1 session, last seen today"]);
        assert_eq!(r[3], "1 purchase, in 1 of the last 12 months");
        let money = |cents| Reason::Value { lifetime_cents: cents, revenue_90d_cents: 5 }.to_string();
        assert_eq!(money(10_000_000_000), "lifetime value $100,000,000, $0.05 in 90 days");
        assert_eq!(money(i64::MAX), "lifetime value $92,233,720,368,547,758.07, $0.05 in 90 days");
        assert_eq!(money(-150), "lifetime value -$1.50, $0.05 in 90 days");
    }

    fn strength(fills: [f64; 5]) -> Strength {
        let factors = FactorName::ALL.map(|name| Factor {
            name,
            contribution: fills[name as usize] * name.max_points(),
            max: name.max_points(),
            reason: Reason::Tenure { days: None },
        });
        Strength { score: factors.iter().map(|f| f.contribution).sum(), factors }
    }

    #[test]
    fn top_reasons_are_the_strongest_helps_then_the_heaviest_brakes() {
        use FactorName::*;
        let s = strength([1.0, 0.2, 0.8, 0.0, 0.5]);
        let names = |n| top_reasons(&s, n).iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names(1), [Tenure, Loyalty]);
        assert_eq!(names(2), [Tenure, Satisfaction, Loyalty, Engagement]);
        // Half its points counts as helping; every factor at most once.
        assert_eq!(names(5), [Tenure, Satisfaction, Value, Loyalty, Engagement]);
        assert_eq!(names(0), []);
        assert!(top_reasons(&s, 5).iter().take(3).all(|f| f.helps()));
        assert!(top_reasons(&s, 5).iter().skip(3).all(|f| !f.helps()));
        // Ties keep factor order; nothing helps a new customer.
        let new = strength([0.1, 0.0, 0.3, 0.0, 0.0]);
        assert_eq!(top_reasons(&new, 3).iter().map(|f| f.name).collect::<Vec<_>>(), [Engagement, Loyalty, Value]);
    }
}
