//! Interventions: what to push into the page for a confirmed detection.
//!
//! Today one message per emotion, pushed when the server-confirmed confidence reaches the
//! configured bar (default 0.85), at most once per session and emotion per cooldown. Tenant
//! variants chosen by Thompson sampling with a holdout arrive with the interventions issue; the
//! seam is [`decide`].

use shared_physics::Emotion;

/// The decision for one confirmed detection.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Push this text.
    Intervene(&'static str),
    /// Below the bar.
    BelowBar,
    /// This session got one for this emotion within the cooldown.
    CoolingDown,
}

/// The message shown for an emotion.
pub fn message(emotion: Emotion) -> &'static str {
    match emotion {
        Emotion::Rage | Emotion::Frustration => "Having trouble? A person can help you right now.",
        Emotion::Confusion | Emotion::Hesitation => "Not sure which way to go? We can walk you through it.",
        Emotion::Abandonment => "Before you go: can we help with anything?",
        Emotion::Engaged => "",
    }
}

/// Decides whether to intervene: `confidence` is the server's, `cooling` whether the session
/// is inside its cooldown for this emotion.
pub fn decide(emotion: Emotion, confidence: f32, bar: f32, cooling: bool) -> Decision {
    if confidence < bar || emotion == Emotion::Engaged {
        Decision::BelowBar
    } else if cooling {
        Decision::CoolingDown
    } else {
        Decision::Intervene(message(emotion))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervenes_only_above_the_bar_and_outside_the_cooldown() {
        assert!(matches!(decide(Emotion::Rage, 0.9, 0.85, false), Decision::Intervene(t) if t.contains("help")));
        assert_eq!(decide(Emotion::Rage, 0.84, 0.85, false), Decision::BelowBar);
        assert_eq!(decide(Emotion::Rage, 0.95, 0.85, true), Decision::CoolingDown);
        assert_eq!(decide(Emotion::Engaged, 0.99, 0.85, false), Decision::BelowBar);
    }
}
