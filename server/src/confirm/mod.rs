//! Confirm: the server never trusts a client's confidence. It recomputes every detection from
//! the evidence in the frame with the same `shared-physics` code and the tenant's thresholds.

pub mod crowd;
pub mod replay;
pub mod thresholds;

use shared_physics::detect::{detect_rage, Detection, Params};
use shared_physics::emotions::{self, SectionClasses};
use shared_physics::wire::{DetectionFrame, MAX_FRAME_BYTES};
use shared_physics::Emotion;

use crate::records::{Account, DetectionRecord};

/// The server's verdict on a client detection.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The evidence shows the detection; these are the server's numbers.
    Confirmed(Detection),
    /// The evidence does not show it.
    Overturned(&'static str),
}

/// Recomputes `frame`'s detection from its evidence with the tenant's thresholds `params`;
/// `classes` are the session's section classes (from its `Section` frames).
pub fn confirm(frame: &DetectionFrame, params: &Params, classes: &SectionClasses) -> Verdict {
    let recomputed = match frame.emotion {
        Emotion::Rage => detect_rage(&frame.evidence, &params.rage),
        other => emotions::detect(other, &frame.evidence, &params.trace, classes),
    };
    match recomputed {
        Some(d) if d.t_ms == frame.t_ms => Verdict::Confirmed(d),
        Some(_) => Verdict::Overturned("the evidence ends at another time than claimed"),
        None => Verdict::Overturned("the evidence does not show this emotion"),
    }
}

/// Who a detection is about, as far as the session knows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Who<'a> {
    /// The verified visitor's id.
    pub sub: Option<&'a str>,
    /// Their name, if their token carried one.
    pub name: Option<&'a str>,
    /// Their account and its value now.
    pub account: Option<&'a Account>,
}

/// Where a detection happened.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The session, 16 hex digits.
    pub session: &'a str,
    /// The frame's sequence number.
    pub seq: u32,
    /// The section's name (empty when the page named none).
    pub section: &'a str,
}

/// The record of a confirmed detection: the server's numbers and features (with the
/// informational arm-dynamics estimate and curvature over the evidence), the evidence itself,
/// and who it is about.
pub fn record(at: Place<'_>, d: &Detection, frame: &DetectionFrame, who: Who<'_>, now_ms: i64) -> DetectionRecord {
    let mut features = serde_json::json!({
        "clicks": d.features.clicks,
        "mean_ici_ms": round2(d.features.mean_ici_ms),
        "dispersion_px": round2(d.features.dispersion_px),
        "peak_speed": round2(d.features.peak_speed),
        "peak_jerk": round2(d.features.peak_jerk),
        "entropy": round2(d.features.entropy),
        "dead_clicks": d.features.dead_clicks,
        "reversals": d.features.reversals,
        "efficiency": round2(d.features.efficiency),
        "dwell_ms": d.features.dwell_ms,
        "hops": d.features.hops,
        "score": round2(d.features.score),
    });
    // Informational: the arm-dynamics estimate of the reach to the evidence's first click,
    // and the curvature of the pointer's path over the evidence.
    if let Some(a) = shared_physics::features::reach_before_first_click(&frame.evidence) {
        features["damping"] = round2(a.damping).into();
        features["natural_freq"] = round2(a.natural_freq).into();
    }
    let moves = frame.evidence.iter().filter(|s| s.kind == shared_physics::Kind::Move);
    let curvature = shared_physics::features::curvature(moves.map(|s| (s.x as f32, s.y as f32)));
    // 1/px: four decimals keep radii up to 10,000 px apart.
    features["curvature"] = (((curvature as f64) * 1e4).round() / 1e4).into();
    let mut evidence = vec![0u8; MAX_FRAME_BYTES];
    let evidence = postcard::to_slice(&frame.evidence, &mut evidence).map(|e| e.to_vec()).unwrap_or_default();
    DetectionRecord {
        tenant_id: at.tenant.to_string(),
        session: at.session.to_string(),
        seq: at.seq as i64,
        emotion: d.emotion,
        confidence: (d.confidence_pct() as f64) / 100.0,
        client_confidence: frame.confidence_pct as f64 / 100.0,
        section: at.section.to_string(),
        user: who.sub.map(str::to_string),
        user_name: who.name.map(str::to_string),
        account: who.account.map(|a| a.account.clone()),
        account_name: who.account.map(|a| a.name.clone()),
        value_cents: who.account.map_or(0, |a| a.value_cents),
        features,
        evidence,
        t_ms: d.t_ms as i64,
        created_ms: now_ms,
    }
}

fn round2(v: f32) -> f64 {
    ((v as f64) * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_physics::detect::RageParams;
    use shared_physics::{Kind, Sample};

    fn frame(clicks: &[(u32, i16)], claimed_t: u32) -> DetectionFrame {
        let mut evidence = heapless::Vec::new();
        for &(t, x) in clicks {
            evidence.push(Sample { t_ms: t, x, y: 100, kind: Kind::Click, section: 1 }).unwrap();
        }
        // The loader's quiet row: the last click's answer window ran out.
        let last = clicks.last().map_or(0, |c| c.0);
        evidence.push(Sample { t_ms: last + 1000, x: 0, y: 0, kind: Kind::Quiet, section: 0 }).unwrap();
        DetectionFrame { emotion: Emotion::Rage, confidence_pct: 99, t_ms: claimed_t, section: 1, evidence }
    }

    #[test]
    fn confirms_what_the_evidence_shows_with_its_own_confidence() {
        let f = frame(&[(0, 10), (600, 11), (1200, 10)], 1200);
        match confirm(&f, &Params::default(), &SectionClasses::new()) {
            Verdict::Confirmed(d) => {
                assert_eq!(d.features.clicks, 3);
                assert_ne!(d.confidence_pct(), 99, "the client's claim is not copied");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn overturns_claims_the_evidence_does_not_support() {
        let spread = frame(&[(0, 10), (150, 300), (300, 600)], 300);
        assert!(matches!(confirm(&spread, &Params::default(), &SectionClasses::new()), Verdict::Overturned(_)));
        let wrong_time = frame(&[(0, 10), (150, 11), (300, 10)], 9999);
        assert!(matches!(confirm(&wrong_time, &Params::default(), &SectionClasses::new()), Verdict::Overturned(_)));
        let mut other = frame(&[(0, 10), (150, 11), (300, 10)], 300);
        other.emotion = Emotion::Confusion;
        assert!(matches!(confirm(&other, &Params::default(), &SectionClasses::new()), Verdict::Overturned(_)));
        let strict = Params { rage: RageParams { min_clicks: 6, ..RageParams::default() }, ..Params::default() };
        assert!(matches!(confirm(&frame(&[(0, 10), (150, 11), (300, 10)], 300), &strict, &SectionClasses::new()), Verdict::Overturned(_)));
    }

    #[test]
    fn long_window_emotions_are_recomputed_with_the_sessions_section_classes() {
        let mut evidence = heapless::Vec::new();
        for i in 0..16u32 {
            let x = if (i / 2) % 2 == 0 { 300 } else { 700 };
            evidence.push(Sample { t_ms: i * 400, x, y: 400, kind: Kind::Move, section: 1 }).unwrap();
        }
        let f = DetectionFrame { emotion: Emotion::Hesitation, confidence_pct: 90, t_ms: 6000, section: 1, evidence };
        let mut classes = SectionClasses::new();
        assert!(matches!(confirm(&f, &Params::default(), &classes), Verdict::Overturned(_)), "not on a pricing section");
        classes.set(1, emotions::classify(b"pricing"));
        let Verdict::Confirmed(pricing) = confirm(&f, &Params::default(), &classes) else { panic!("not confirmed") };
        assert_eq!(pricing.emotion, Emotion::Hesitation);
        let strict = Params { trace: emotions::TraceParams { min_swings: 9, ..Default::default() }, ..Params::default() };
        assert!(matches!(confirm(&f, &strict, &classes), Verdict::Overturned(_)));
    }
}
