//! Interventions: what to push into the page for a confirmed detection, and how that choice
//! learns (`docs/interventions.md`).
//!
//! A detection at or above the bar (default 0.85), outside the session's cooldown for its
//! emotion, gets a decision: the tenant's variants for its (emotion, section) — or the
//! tenant-wide ones for the emotion, or the built-in message — compete by Thompson sampling on
//! their recorded outcomes ([`crate::interventions::bandit`]), with a fixed holdout share (default 10%) that
//! gets no intervention, so every uplift is measured against control. The seed of each decision
//! is an HMAC of (tenant, session, seq) under the server's secret; the decision, its draws and
//! the posteriors it saw are stored, so it replays exactly. Variants and arm counts are read
//! from memory, refreshed from the store every [`ARMS_REFRESH`] and after every change here.

pub mod bandit;
pub mod cards;
pub mod learning;
pub mod opener;
pub mod outcomes;

pub use cards::{opener, CardFacts};
pub use learning::{kind_of, Action, Choice, Learning};
pub use outcomes::converted_by_default;

use std::time::Duration;

use shared_physics::Emotion;

use crate::records::{Context, DecisionRecord, DetectionRecord, Tenant};

/// How long after a decision an outcome is attributed to it by default, ms (30 minutes).
pub const DEFAULT_OUTCOME_WINDOW_MS: i64 = 30 * 60_000;
/// How often every instance rereads variants and arm counts.
pub const ARMS_REFRESH: Duration = Duration::from_secs(10);
/// The id of the built-in variant used when a tenant defines none.
pub const BUILT_IN: &str = "built-in";

/// The gate before any choice.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Decide (the detection is above the bar, outside the cooldown).
    Intervene(&'static str),
    /// Below the bar.
    BelowBar,
    /// This session got one for this emotion within the cooldown.
    CoolingDown,
}

/// The built-in message for an emotion.
pub fn message(emotion: Emotion) -> &'static str {
    match emotion {
        Emotion::Rage | Emotion::Frustration => "Having trouble? A person can help you right now.",
        Emotion::Confusion | Emotion::Hesitation => "Not sure which way to go? We can walk you through it.",
        Emotion::Abandonment => "Before you go: can we help with anything?",
        Emotion::Engaged => "",
    }
}

/// Whether to decide at all: `confidence` is the server's, `cooling` whether the session is
/// inside its cooldown for this emotion.
pub fn decide(emotion: Emotion, confidence: f32, bar: f32, cooling: bool) -> Decision {
    if confidence < bar || emotion == Emotion::Engaged {
        Decision::BelowBar
    } else if cooling {
        Decision::CoolingDown
    } else {
        Decision::Intervene(message(emotion))
    }
}

/// What the decision step knows about one confirmed detection.
#[derive(Clone, Debug)]
pub struct Situation<'a> {
    /// The tenant (its holdout share).
    pub tenant: &'a Tenant,
    /// The detection as it will be recorded (who, account, value, section, emotion).
    pub detection: &'a DetectionRecord,
    /// Its frame's sequence number.
    pub seq: u32,
    /// The emotion and the server's confidence.
    pub emotion: Emotion,
    /// The server's confidence, 0..=1.
    pub confidence: f32,
    /// Whether this session got an intervention for this emotion within the cooldown.
    pub cooling: bool,
    /// What the customer told us about themselves (`busy` means: do not interrupt).
    pub context: Option<Context>,
    /// Whether the struggle persisted over a second burst at the paging confidence (and no page
    /// went out within the cooldown).
    pub persisted: bool,
    /// The confidence an in-page intervention needs.
    pub bar: f32,
    /// Accounts worth at least this are escalated to a person.
    pub critical_value_cents: i64,
    /// Key of the decision seed.
    pub seed_secret: &'a [u8],
    /// Now, ms since the epoch.
    pub now_ms: i64,
}

/// What to do about one confirmed detection; the connection carries it out.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaction {
    /// The customer said they are busy: no in-page interruption.
    pub suppressed_busy: bool,
    /// The decision, when one was made (stored, replayable).
    pub decision: Option<DecisionRecord>,
    /// What the decision asks for ([`Action::Nothing`] when no decision was made).
    pub act: Action,
    /// Page a person (identified, valuable, persisting).
    pub escalate: bool,
}

/// Decides what to do about one confirmed detection: gate (bar, cooldown, busy), the bandit's
/// choice with its seed, and whether a person is paged. Pure apart from reading `learning`.
pub fn on_detection(learning: &Learning, s: &Situation<'_>) -> Reaction {
    let d = s.detection;
    let suppressed_busy = s.context == Some(Context::Busy);
    let escalate = s.persisted && d.user.is_some() && d.value_cents >= s.critical_value_cents;
    let Decision::Intervene(_) = decide(s.emotion, s.confidence, s.bar, s.cooling || suppressed_busy) else {
        return Reaction { suppressed_busy, decision: None, act: Action::Nothing, escalate };
    };
    let seed = bandit::decision_seed(&s.tenant.id, &d.session, s.seq as u64, s.seed_secret);
    let choice = learning.choose(&s.tenant.id, s.emotion, &d.section, s.tenant.holdout_share, seed);
    let decision = DecisionRecord {
        id: format!("dc_{}_{}_{}", d.tenant_id, d.session, s.seq),
        tenant_id: s.tenant.id.clone(),
        session: d.session.clone(),
        seq: s.seq as i64,
        sub: d.user.clone(),
        emotion: s.emotion,
        section: choice.section.clone(),
        holdout: choice.decision.holdout,
        variant_id: choice.decision.chosen.clone(),
        holdout_share: s.tenant.holdout_share,
        decision: serde_json::to_value(&choice.decision).unwrap_or_default(),
        created_ms: s.now_ms,
    };
    Reaction { suppressed_busy, decision: Some(decision), act: choice.action, escalate }
}

#[cfg(test)]
mod tests {
    use super::bandit::VariantKind;
    use super::*;

    #[test]
    fn intervenes_only_above_the_bar_and_outside_the_cooldown() {
        assert!(matches!(decide(Emotion::Rage, 0.9, 0.85, false), Decision::Intervene(t) if t.contains("help")));
        assert_eq!(decide(Emotion::Rage, 0.84, 0.85, false), Decision::BelowBar);
        assert_eq!(decide(Emotion::Rage, 0.95, 0.85, true), Decision::CoolingDown);
        assert_eq!(decide(Emotion::Engaged, 0.99, 0.85, false), Decision::BelowBar);
    }

    #[test]
    fn without_variants_the_built_in_message_competes_and_the_holdout_gets_nothing() {
        let l = Learning::default();
        let (key, variants, arms) = l.arms("t", Emotion::Rage, "pricing");
        assert_eq!((key.as_str(), variants.len(), arms[0].variant_id.as_str()), ("", 1, BUILT_IN));
        let choices: Vec<Action> = (0..1000).map(|seed| l.choose("t", Emotion::Rage, "pricing", 0.1, seed).action).collect();
        let held = choices.iter().filter(|a| **a == Action::Holdout).count();
        assert!((70..130).contains(&held), "{held} of 1000 held out at 10%");
        assert!(choices.iter().all(|a| *a == Action::Holdout || *a == Action::Show(message(Emotion::Rage).into())));
        assert!((0..200).all(|seed| l.choose("t", Emotion::Rage, "x", 0.0, seed).action != Action::Holdout), "no holdout at 0");
    }

    #[test]
    fn openers_say_who_what_where_and_only_that() {
        let f = CardFacts {
            name: Some("Jane Doe"),
            account: Some("Acme Corp"),
            value_cents: 1_500_000,
            context: Some(Context::Stuck),
            emotion: Emotion::Rage,
            section: "checkout",
        };
        let o = opener(&f);
        assert!(o.starts_with("Jane Doe (Acme Corp), an account worth $15,000 is clicking repeatedly"), "{o}");
        assert!(o.contains(" on checkout.") && o.contains("told us they are stuck") && o.contains("\"Hi Jane,"), "{o}");
        let anon =
            opener(&CardFacts { name: None, account: None, value_cents: 0, context: None, emotion: Emotion::Hesitation, section: "" });
        assert!(anon.starts_with("An anonymous visitor is hesitating") && !anon.contains("worth"), "{anon}");
        assert!(anon.contains("Hi there"), "{anon}");
    }

    #[test]
    fn kinds_read_from_their_names() {
        assert_eq!(kind_of("card"), VariantKind::Card);
        assert_eq!(kind_of("nothing"), VariantKind::Nothing);
        assert_eq!(kind_of("discount"), VariantKind::Discount);
    }
}
