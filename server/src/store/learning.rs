//! The learning role of the store.

use async_trait::async_trait;

use super::*;

/// What the bandit learns from: variants, decisions, outcomes, uplift counts, conversation cards.
#[async_trait]
pub trait LearningStore: Send + Sync + 'static {
    /// Sets the holdout share and the outcome window.
    async fn set_intervention_policy(&self, tenant: &str, holdout_share: f64, outcome_window_ms: i64) -> Result<(), StoreError>;
    /// Every tenant's variants.
    async fn all_variants(&self) -> Result<Vec<(String, VariantRecord)>, StoreError>;
    /// Adds a variant; false when the id is taken.
    async fn add_variant(&self, tenant: &str, v: &VariantRecord) -> Result<bool, StoreError>;
    /// Deletes a variant; false when there is none.
    async fn delete_variant(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    /// Every arm's counts: `(tenant, emotion, section, variant, successes, failures)`.
    async fn all_arms(&self) -> Result<Vec<ArmRow>, StoreError>;
    /// Records a decision (idempotent by id).
    async fn insert_decision(&self, d: &DecisionRecord) -> Result<(), StoreError>;
    /// Attributes an outcome to the newest decision without one of a session (or else of a
    /// person) made since `since_ms`, and counts it on the chosen variant's arm, in one
    /// transaction. Returns the decision's id, or None when there is none to attribute to.
    async fn record_outcome(
        &self,
        tenant: &str,
        who: OutcomeFor<'_>,
        since_ms: i64,
        outcome: &str,
        converted: bool,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Conversions of treated and held-out decisions whose outcome is in or whose window
    /// closed before `until_ms`, per emotion.
    async fn uplift_counts(&self, tenant: &str, until_ms: i64) -> Result<UpliftCounts, StoreError>;
    /// Queues a card (idempotent by id).
    async fn insert_card(&self, c: &CardRecord) -> Result<(), StoreError>;
    /// A page of cards, optionally in one state, newest first.
    async fn cards(&self, tenant: &str, state: Option<&str>, after: Option<&TimeCursor>, limit: i64)
        -> Result<Vec<CardRecord>, StoreError>;
    /// Whether the tenant has a card with this id.
    async fn card_exists(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    /// Moves a card from one of `from` to `to`; false when it is not in one of them.
    #[allow(clippy::too_many_arguments)] // the transition, named at the call site
    async fn move_card(
        &self,
        tenant: &str,
        id: &str,
        from: &[&str],
        to: &str,
        outcome: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
}
