//! What happened in a session, for the session view's plot: the pointer's speed, jerk and
//! direction entropy over time and its clicks, recomputed with the same `shared-physics` filter
//! from the evidence windows the detections carried (the samples the server confirmed them
//! from), with the detections marked where they fired.

use serde::Serialize;
use shared_physics::detection::MAX_EVIDENCE;
use shared_physics::features::DirectionHistogram;
use shared_physics::kinematics::Filter;
use shared_physics::{Kind, Sample};

use crate::records::DetectionRecord;

/// Moves the entropy is computed over (a sliding window).
pub const ENTROPY_MOVES: usize = 12;

/// One point of the plot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Page time, ms since the page started.
    pub t: i64,
    /// Speed, px/s.
    pub speed: f64,
    /// Smoothed jerk, px/s³.
    pub jerk: f64,
    /// Direction entropy of the last [`ENTROPY_MOVES`] moves, bits (0..=3).
    pub entropy: f64,
}

/// A detection marked on the plot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    /// Page time it fired, ms.
    pub t: i64,
    /// The detection's sequence number.
    pub seq: i64,
    /// Emotion.
    pub emotion: &'static str,
    /// Confirmed confidence.
    pub confidence: f64,
    /// Section.
    pub section: String,
}

/// The plot of a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trace {
    /// Pointer moves, oldest first.
    pub points: Vec<Point>,
    /// Clicks, page time ms.
    pub clicks: Vec<i64>,
    /// Detections.
    pub marks: Vec<Mark>,
}

fn round(v: f32, to: f64) -> f64 {
    ((v as f64) * to).round() / to
}

/// The trace of a session from its detections' evidence (overlapping windows merged).
pub fn of(detections: &[DetectionRecord]) -> Trace {
    let mut samples: Vec<Sample> = Vec::new();
    for d in detections {
        if let Ok(ev) = postcard::from_bytes::<heapless::Vec<Sample, MAX_EVIDENCE>>(&d.evidence) {
            samples.extend(ev.iter().copied());
        }
    }
    samples.sort_by_key(|s| (s.t_ms, s.kind as u8, s.x, s.y));
    samples.dedup_by_key(|s| (s.t_ms, s.kind as u8, s.x, s.y));
    let mut filter = Filter::new();
    let mut moves: Vec<(i16, i16)> = Vec::new();
    let mut trace = Trace::default();
    for s in &samples {
        match s.kind {
            Kind::Move => {
                let e = filter.update(s.t_ms, s.x as f32, s.y as f32);
                moves.push((s.x, s.y));
                let mut h = DirectionHistogram::default();
                let from = moves.len().saturating_sub(ENTROPY_MOVES + 1);
                for w in moves[from..].windows(2) {
                    h.add(w[1].0 as i32 - w[0].0 as i32, w[1].1 as i32 - w[0].1 as i32);
                }
                trace.points.push(Point {
                    t: s.t_ms as i64,
                    speed: round(e.speed, 10.0),
                    jerk: round(e.jerk, 1.0),
                    entropy: round(h.entropy(), 100.0),
                });
            }
            Kind::Click => trace.clicks.push(s.t_ms as i64),
            _ => {}
        }
    }
    let mut marks: Vec<Mark> = detections
        .iter()
        .map(|d| Mark { t: d.t_ms, seq: d.seq, emotion: d.emotion.name(), confidence: d.confidence, section: d.section.clone() })
        .collect();
    marks.sort_by_key(|m| (m.t, m.seq));
    trace.marks = marks;
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, t: i64, samples: &[Sample]) -> DetectionRecord {
        let ev: heapless::Vec<Sample, MAX_EVIDENCE> = samples.iter().copied().collect();
        DetectionRecord {
            tenant_id: "t".into(),
            session: "s".into(),
            seq,
            emotion: shared_physics::Emotion::Rage,
            confidence: 0.9,
            client_confidence: 0.9,
            section: "checkout".into(),
            user: None,
            user_name: None,
            account: None,
            account_name: None,
            value_cents: 0,
            features: serde_json::Value::Null,
            evidence: postcard::to_slice(&ev, &mut [0u8; 1024]).unwrap().to_vec(),
            t_ms: t,
            created_ms: 0,
        }
    }

    fn s(t: u32, x: i16, kind: Kind) -> Sample {
        Sample { t_ms: t, x, y: 100, kind, section: 1 }
    }

    #[test]
    fn overlapping_windows_merge_into_one_trace_with_the_detections_marked() {
        let a = [s(0, 0, Kind::Move), s(16, 10, Kind::Move), s(32, 20, Kind::Move), s(40, 20, Kind::Click)];
        let b = [s(32, 20, Kind::Move), s(40, 20, Kind::Click), s(48, 30, Kind::Move), s(60, 30, Kind::Click)];
        let t = of(&[record(2, 60, &b), record(1, 40, &a)]);
        assert_eq!(t.points.iter().map(|p| p.t).collect::<Vec<_>>(), vec![0, 16, 32, 48]);
        assert_eq!(t.clicks, vec![40, 60]);
        assert_eq!(t.marks.iter().map(|m| (m.t, m.seq)).collect::<Vec<_>>(), vec![(40, 1), (60, 2)]);
        assert!(t.points[2].speed > 0.0, "{:?}", t.points);
        assert_eq!(t.points[3].entropy, 0.0, "a straight line has no direction entropy");
        assert_eq!(of(&[DetectionRecord { evidence: vec![0xff], ..record(1, 0, &[]) }]).points, vec![], "unreadable evidence is skipped");
    }
}
