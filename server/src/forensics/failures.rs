//! The public failure page: how the product failed a tenant, counted, with no personal data
//! (no name, account, session id, address or page): false positives reported by operators,
//! misses (a customer said "stuck" or "frustrated" and nothing was detected near it), failed
//! and late deliveries, delays, and the share of active session-minutes interrupted.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{percentile, wilson, Figure};
use crate::store::{FailureFacts, FalsePositive};

/// An escalation acknowledged later than this was late, ms (the brief's 60 s).
pub const LATE_ACK_MS: i64 = 60_000;

/// Percentiles of a delay, ms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delays {
    /// How many.
    pub n: usize,
    /// Median.
    pub p50_ms: Option<i64>,
    /// 95th percentile.
    pub p95_ms: Option<i64>,
    /// 99th percentile.
    pub p99_ms: Option<i64>,
    /// Longest.
    pub max_ms: Option<i64>,
}

fn delays(v: &[i64]) -> Delays {
    Delays {
        n: v.len(),
        p50_ms: percentile(v, 50.0),
        p95_ms: percentile(v, 95.0),
        p99_ms: percentile(v, 99.0),
        max_ms: v.iter().copied().max(),
    }
}

/// A share with its Wilson interval.
fn share(x: u64, n: u64, what: &str) -> Figure {
    if n == 0 {
        return Figure::too_little(format!("no {what} yet"));
    }
    let (l, h) = wilson(x.min(n), n);
    Figure::estimate(x.min(n) as f64 / n as f64, l, h)
}

/// What the failure page shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailurePage {
    /// The period, days.
    pub days: i64,
    /// Confirmed detections.
    pub detections: i64,
    /// Detections operators reported as not a struggle.
    pub false_positives: usize,
    /// Of the confirmed detections, the share reported false (a floor: not every one is reviewed).
    pub false_positive_share: Figure,
    /// False positives per emotion.
    pub false_positives_by_emotion: BTreeMap<String, usize>,
    /// False positives per UTC day (`YYYY-MM-DD`).
    pub false_positives_by_day: BTreeMap<String, usize>,
    /// Misses per shared state (`stuck`, `frustrated`).
    pub misses: BTreeMap<String, usize>,
    /// Alerts that failed to be delivered, of all alerts.
    pub alerts_failed: usize,
    /// Alerts sent or tried.
    pub alerts: usize,
    /// Escalations acknowledged after [`LATE_ACK_MS`], or never.
    pub late_acknowledgements: usize,
    /// Escalations that paged every contact with nobody taking them.
    pub exhausted: usize,
    /// Escalations opened.
    pub escalations: usize,
    /// Detection confirmed → intervention decided on the server.
    pub detection_to_intervention: Delays,
    /// Detection confirmed → alert request answered by the provider.
    pub detection_to_alert: Delays,
    /// Interventions per active session-minute (each intervention interrupts one minute).
    pub minutes_interrupted: Figure,
    /// Interventions pushed.
    pub interventions: i64,
    /// Active session-minutes.
    pub active_minutes: i64,
    /// Since when this server instance has been up, ms.
    pub up_since_ms: i64,
    /// What this instance could not store at once since it started (its own counters: another
    /// instance counts its own).
    pub storage: StorageFailures,
}

/// Frames and events this instance could not store at once, since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StorageFailures {
    /// Frames not acknowledged because what they caused could not be stored (the page resent
    /// them).
    pub frames_unstored: u64,
    /// Events the bus did not take for 60 s (given up; their frames were not acknowledged).
    pub events_given_up: u64,
    /// Events refused because too many were waiting for the bus.
    pub events_refused: u64,
    /// Events the database refused for a while and the bus delivered again.
    pub events_redelivered: u64,
}

/// The failure page of `days` days from the store's facts and the operators' reports.
pub fn page(facts: &FailureFacts, reports: &[FalsePositive], days: i64, up_since_ms: i64) -> FailurePage {
    let mut by_emotion = BTreeMap::new();
    let mut by_day = BTreeMap::new();
    for r in reports {
        *by_emotion.entry(r.emotion.clone()).or_insert(0) += 1;
        let (y, m, d) = crate::records::format::civil_from_days(r.created_ms.div_euclid(super::DAY_MS));
        *by_day.entry(format!("{y:04}-{m:02}-{d:02}")).or_insert(0) += 1;
    }
    let mut misses = BTreeMap::new();
    for (state, _) in &facts.misses {
        *misses.entry(state.clone()).or_insert(0) += 1;
    }
    let alert_delays: Vec<i64> = facts.alert_delays_ms.iter().map(|a| a.0).collect();
    FailurePage {
        days,
        detections: facts.detections,
        false_positives: reports.len(),
        false_positive_share: share(reports.len() as u64, facts.detections.max(0) as u64, "confirmed detection"),
        false_positives_by_emotion: by_emotion,
        false_positives_by_day: by_day,
        misses,
        alerts_failed: facts.alert_delays_ms.iter().filter(|a| !a.1).count(),
        alerts: facts.alert_delays_ms.len(),
        late_acknowledgements: facts.escalations.iter().filter(|e| e.0.is_none_or(|ms| ms > LATE_ACK_MS)).count(),
        exhausted: facts.escalations.iter().filter(|e| e.1).count(),
        escalations: facts.escalations.len(),
        detection_to_intervention: delays(&facts.intervention_delays_ms),
        detection_to_alert: delays(&alert_delays),
        minutes_interrupted: share(facts.interventions.max(0) as u64, facts.active_minutes.max(0) as u64, "active session-minute"),
        interventions: facts.interventions,
        active_minutes: facts.active_minutes,
        up_since_ms,
        storage: StorageFailures::default(),
    }
}

static UP_SINCE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// Notes when this instance started (the first call wins).
pub fn mark_started(now_ms: i64) {
    let _ = UP_SINCE.set(now_ms);
}

/// When this instance started, ms (0 if [`mark_started`] was never called).
pub fn up_since_ms() -> i64 {
    UP_SINCE.get().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_counts_every_kind_of_failure() {
        let facts = FailureFacts {
            intervention_delays_ms: vec![3, 1, 2],
            alert_delays_ms: vec![(120, true), (900, false)],
            escalations: vec![(Some(5_000), false), (Some(61_000), false), (None, true)],
            misses: vec![("stuck".into(), 1), ("stuck".into(), 2), ("frustrated".into(), 3)],
            interventions: 3,
            active_minutes: 60,
            detections: 10,
        };
        let fp = FalsePositive {
            tenant_id: "t".into(),
            session: "s".into(),
            seq: 1,
            emotion: "rage".into(),
            section: "checkout".into(),
            reporter: "user:u".into(),
            created_ms: 0,
        };
        let p = page(&facts, &[fp], 30, 7);
        assert_eq!((p.false_positives, p.alerts, p.alerts_failed, p.late_acknowledgements, p.exhausted), (1, 2, 1, 2, 1));
        assert_eq!(p.misses.get("stuck"), Some(&2));
        assert_eq!(p.false_positives_by_day.get("1970-01-01"), Some(&1));
        assert_eq!((p.detection_to_intervention.p50_ms, p.detection_to_alert.max_ms), (Some(2), Some(900)));
        let (v, l, h) = p.minutes_interrupted.parts().unwrap();
        assert!((v - 0.05).abs() < 1e-12 && l < v && h > v);
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("user:u") && !json.contains("\"s\""), "no person or session on a public page: {json}");
    }
}
