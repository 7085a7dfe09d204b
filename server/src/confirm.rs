//! Confirm: the server never trusts a client's confidence. It recomputes every detection from
//! the evidence in the frame with the same `shared-physics` code and the tenant's thresholds.

use shared_physics::detect::{detect_rage, Detection, RageParams};
use shared_physics::wire::DetectionFrame;
use shared_physics::Emotion;

/// The server's verdict on a client detection.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The evidence shows the detection; these are the server's numbers.
    Confirmed(Detection),
    /// The evidence does not show it.
    Overturned(&'static str),
}

/// Recomputes `frame`'s detection from its evidence.
pub fn confirm(frame: &DetectionFrame, rage: &RageParams) -> Verdict {
    match frame.emotion {
        Emotion::Rage => match detect_rage(&frame.evidence, rage) {
            Some(d) if d.t_ms == frame.t_ms => Verdict::Confirmed(d),
            Some(_) => Verdict::Overturned("the evidence's burst ends at another time than claimed"),
            None => Verdict::Overturned("the evidence holds no rage burst"),
        },
        _ => Verdict::Overturned("no server-side detector for this emotion yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_physics::{Kind, Sample};

    fn frame(clicks: &[(u32, i16)], claimed_t: u32) -> DetectionFrame {
        let mut evidence = heapless::Vec::new();
        for &(t, x) in clicks {
            evidence.push(Sample { t_ms: t, x, y: 100, kind: Kind::Click, section: 1 }).unwrap();
        }
        DetectionFrame { emotion: Emotion::Rage, confidence_pct: 99, t_ms: claimed_t, section: 1, evidence }
    }

    #[test]
    fn confirms_what_the_evidence_shows_with_its_own_confidence() {
        let f = frame(&[(0, 10), (150, 11), (300, 10), (450, 12)], 450);
        match confirm(&f, &RageParams::default()) {
            Verdict::Confirmed(d) => {
                assert_eq!(d.features.clicks, 4);
                assert_ne!(d.confidence_pct(), 99, "the client's claim is not copied");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn overturns_claims_the_evidence_does_not_support() {
        let spread = frame(&[(0, 10), (150, 300), (300, 600)], 300);
        assert!(matches!(confirm(&spread, &RageParams::default()), Verdict::Overturned(_)));
        let wrong_time = frame(&[(0, 10), (150, 11), (300, 10)], 9999);
        assert!(matches!(confirm(&wrong_time, &RageParams::default()), Verdict::Overturned(_)));
        let mut other = frame(&[(0, 10), (150, 11), (300, 10)], 300);
        other.emotion = Emotion::Confusion;
        assert!(matches!(confirm(&other, &RageParams::default()), Verdict::Overturned(_)));
        let strict = RageParams { min_clicks: 6, ..RageParams::default() };
        assert!(matches!(confirm(&frame(&[(0, 10), (150, 11), (300, 10)], 300), &strict), Verdict::Overturned(_)));
    }
}
