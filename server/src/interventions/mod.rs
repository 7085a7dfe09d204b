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
pub mod opener;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use shared_physics::Emotion;

use crate::interventions::bandit::{Arm, Policy, Variant, VariantKind};
use crate::store::{Store, StoreError, VariantRecord};

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

/// What the chosen variant asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The holdout: nothing, on purpose (control).
    Holdout,
    /// Show this text in the page.
    Show(String),
    /// Prepare a conversation card for a human.
    Card,
    /// The variant "nothing" (an arm of its own, unlike the holdout).
    Nothing,
}

/// One choice: the action and the bandit decision behind it (seed, draws, posteriors).
#[derive(Clone, Debug)]
pub struct Choice {
    /// Section key the variants came from (`""`: tenant-wide or built-in).
    pub section: String,
    /// What to do.
    pub action: Action,
    /// The replayable decision.
    pub decision: bandit::Decision,
}

#[derive(Default)]
struct TenantArms {
    variants: Vec<VariantRecord>,
    /// (emotion, section, variant) → (successes, failures).
    counts: HashMap<(String, String, String), (u64, u64)>,
}

/// Variants and arm counts of every tenant, in memory.
#[derive(Default)]
pub struct Learning {
    tenants: RwLock<HashMap<String, TenantArms>>,
}

impl Learning {
    /// Rereads every tenant's variants and arm counts.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut fresh: HashMap<String, TenantArms> = HashMap::new();
        for (t, v) in store.all_variants().await? {
            fresh.entry(t).or_default().variants.push(v);
        }
        for (t, e, s, v, succ, fail) in store.all_arms().await? {
            fresh.entry(t).or_default().counts.insert((e, s, v), (succ.max(0) as u64, fail.max(0) as u64));
        }
        *self.tenants.write().expect("learning lock") = fresh;
        Ok(())
    }

    /// The variants competing for (emotion, section) and their arms: the section's own, else the
    /// tenant-wide ones (section `""`), else the built-in message.
    pub fn arms(&self, tenant: &str, emotion: Emotion, section: &str) -> (String, Vec<Variant>, Vec<Arm>) {
        let m = self.tenants.read().expect("learning lock");
        let t = m.get(tenant);
        let pick = |sec: &str| -> Vec<&VariantRecord> {
            t.map(|t| t.variants.iter().filter(|v| v.emotion == emotion.name() && v.section == sec).collect()).unwrap_or_default()
        };
        let (key, chosen) = match pick(section) {
            v if !v.is_empty() && !section.is_empty() => (section.to_string(), v),
            _ => (String::new(), pick("")),
        };
        let variants: Vec<Variant> = if chosen.is_empty() {
            vec![Variant { id: BUILT_IN.into(), kind: VariantKind::Message, text: message(emotion).into() }]
        } else {
            chosen.iter().map(|v| Variant { id: v.id.clone(), kind: kind_of(&v.kind), text: v.text.clone() }).collect()
        };
        let arms = variants
            .iter()
            .map(|v| {
                let (s, f) =
                    t.and_then(|t| t.counts.get(&(emotion.name().to_string(), key.clone(), v.id.clone()))).copied().unwrap_or((0, 0));
                Arm { variant_id: v.id.clone(), successes: s, failures: f }
            })
            .collect();
        (key, variants, arms)
    }

    /// Chooses for one detection, deterministically from `seed`.
    pub fn choose(&self, tenant: &str, emotion: Emotion, section: &str, holdout_share: f64, seed: u64) -> Choice {
        let (key, variants, arms) = self.arms(tenant, emotion, section);
        let policy = Policy::new(holdout_share).unwrap_or_default();
        let decision = bandit::decide(&arms, &policy, seed);
        let action = match (&decision.chosen, decision.holdout) {
            (_, true) | (None, _) => Action::Holdout,
            (Some(id), false) => match variants.iter().find(|v| &v.id == id) {
                Some(v) if v.kind == VariantKind::Card => Action::Card,
                Some(v) if v.kind == VariantKind::Nothing => Action::Nothing,
                Some(v) => Action::Show(v.text.clone()),
                None => Action::Nothing,
            },
        };
        Choice { section: key, action, decision }
    }
}

/// What a card's opener is written from.
#[derive(Clone, Debug, PartialEq)]
pub struct CardFacts<'a> {
    /// The customer's name, if their token carried one.
    pub name: Option<&'a str>,
    /// Their account's name.
    pub account: Option<&'a str>,
    /// The account's lifetime value, cents.
    pub value_cents: i64,
    /// What they told us (`busy`, `stuck`, `exploring`, `frustrated`).
    pub context: Option<&'a str>,
    /// The emotion detected.
    pub emotion: Emotion,
    /// Where (section name, may be empty).
    pub section: &'a str,
}

/// The opener a human gets on a conversation card: rule-based, from the identity, the shared
/// state and the detection only (no invented facts). The first sentence is for the human
/// (who, worth what, what happened where), the quoted one is what they might say.
pub fn opener(f: &CardFacts<'_>) -> String {
    let who = match (f.name, f.account) {
        (Some(n), Some(a)) => format!("{n} ({a})"),
        (Some(n), None) => n.to_string(),
        (None, Some(a)) => format!("A customer of {a}"),
        (None, None) => "An anonymous visitor".to_string(),
    };
    let worth = if f.value_cents > 0 { format!(", an account worth ${}", f.value_cents / 100) } else { String::new() };
    let place = if f.section.is_empty() { String::new() } else { format!(" on {}", f.section) };
    let what = match f.emotion {
        Emotion::Rage => "is clicking repeatedly at something that does not respond",
        Emotion::Frustration => "keeps clicking things that do nothing",
        Emotion::Confusion => "is going back and forth without finding their way",
        Emotion::Hesitation => "is hesitating between options",
        Emotion::Abandonment => "looks about to leave",
        Emotion::Engaged => "is reading attentively",
    };
    let said = match f.context {
        Some("stuck") => " They told us they are stuck.",
        Some("frustrated") => " They told us they are frustrated.",
        Some("exploring") => " They told us they are just exploring.",
        Some("busy") => " They told us they are busy: keep it short.",
        _ => "",
    };
    let first = f.name.map(|n| n.split_whitespace().next().unwrap_or(n)).unwrap_or("there");
    let line = match f.emotion {
        Emotion::Hesitation => format!("Hi {first}, happy to help you compare{place}: what matters most to you?"),
        Emotion::Abandonment => format!("Hi {first}, before you go: is there anything I can sort out for you right now?"),
        _ => format!("Hi {first}, it looks like something{place} is not working for you. I can fix it with you right now."),
    };
    format!("{who}{worth} {what}{place}.{said} Suggested opener: \"{line}\"")
}

/// A variant kind from its stored name (unknown names read as `message`).
pub fn kind_of(name: &str) -> VariantKind {
    serde_json::from_value(serde_json::Value::String(name.to_string())).unwrap_or(VariantKind::Message)
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
            context: Some("stuck"),
            emotion: Emotion::Rage,
            section: "checkout",
        };
        let o = opener(&f);
        assert!(o.starts_with("Jane Doe (Acme Corp), an account worth $15000 is clicking repeatedly"), "{o}");
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
