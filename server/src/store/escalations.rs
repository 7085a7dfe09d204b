//! The escalations role of the store.

use async_trait::async_trait;

use super::*;

/// The escalation chain: contacts and escalations, claimed by one instance at a time.
#[async_trait]
pub trait EscalationStore: Send + Sync + 'static {
    /// Appends a contact to the tenant's escalation chain.
    async fn add_contact(&self, tenant: &str, c: &Contact) -> Result<(), StoreError>;
    /// The tenant's escalation chain, in order.
    async fn contacts(&self, tenant: &str) -> Result<Vec<Contact>, StoreError>;
    /// Removes a contact (and its fallback channels) from the chain; false when the tenant has
    /// no such contact.
    async fn delete_contact(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    /// Records an escalation; false when one with its id exists (another instance opened it).
    async fn insert_escalation(&self, e: &EscalationRecord) -> Result<bool, StoreError>;
    /// Ids of open escalations due at `now_ms` and not claimed (or whose claim lapsed), oldest first.
    async fn due_escalations(&self, now_ms: i64, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Claims an open, due, unclaimed escalation for `instance` until `until_ms`; `None` when
    /// another instance holds it, it is not due, or it is no longer open.
    async fn claim_escalation(&self, id: &str, instance: &str, now_ms: i64, until_ms: i64) -> Result<Option<EscalationRecord>, StoreError>;
    /// Moves a claimed escalation on (next step, when it is due, state) and releases the claim;
    /// false when `instance` no longer holds it or it stopped being open (acknowledged).
    async fn advance_escalation(
        &self,
        id: &str,
        instance: &str,
        step: i64,
        next_at_ms: i64,
        state: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Acknowledges an open escalation of the tenant by `who`; returns whether this call
    /// acknowledged it and the escalation as it is afterwards (`None`: no such escalation).
    async fn acknowledge_escalation(
        &self,
        tenant: &str,
        id: &str,
        who: &str,
        now_ms: i64,
    ) -> Result<Option<(bool, EscalationRecord)>, StoreError>;
    /// One escalation of the tenant.
    async fn escalation(&self, tenant: &str, id: &str) -> Result<Option<EscalationRecord>, StoreError>;
    /// A page of the tenant's escalations, optionally in one state, newest first.
    async fn escalations(
        &self,
        tenant: &str,
        state: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<EscalationRecord>, StoreError>;
}
