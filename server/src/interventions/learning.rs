//! What the bandit learns from, in memory: every tenant's variants and arm counts, and the
//! choice for one detection.

use std::collections::HashMap;
use std::sync::RwLock;

use shared_physics::Emotion;

use super::bandit::{self, Arm, Policy, Variant, VariantKind};
use super::{message, BUILT_IN};
use crate::store::{LearningStore, StoreError, VariantRecord};

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
    pub async fn reload(&self, store: &dyn LearningStore) -> Result<(), StoreError> {
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
            t.map(|t| t.variants.iter().filter(|v| v.emotion == emotion && v.section == sec).collect()).unwrap_or_default()
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

/// A variant kind from its stored name (unknown names read as `message`).
pub fn kind_of(name: &str) -> VariantKind {
    serde_json::from_value(serde_json::Value::String(name.to_string())).unwrap_or(VariantKind::Message)
}
