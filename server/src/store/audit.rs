//! The audit role of the store.

use async_trait::async_trait;

use super::*;

/// The audit log, sealed fields (key rotation), erasure and retention.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends to the audit log.
    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError>;
    /// A page of the audit log, newest first.
    async fn audit_log(&self, tenant: &str, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every sealed personal field of `column` (`customers.email`, `users.email`,
    /// `contacts.address`): `(tenant, row id, stored value)`.
    async fn sealed_fields(&self, column: SealedColumn) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Replaces one sealed field (key rotation); false when the row no longer holds `old`.
    async fn replace_sealed(&self, column: SealedColumn, tenant: &str, row: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Deletes everything about a person (customer, sessions, their detections, interventions
    /// and alerts, contexts, snapshots) in one database transaction, and records the erasure
    /// under the person's pseudonymous reference.
    async fn erase_person(&self, tenant: &str, sub: &str, person_ref: &str, at_ms: i64) -> Result<Removed, StoreError>;
    /// When a person (by pseudonymous reference) was last erased.
    async fn erased_at(&self, tenant: &str, person_ref: &str) -> Result<Option<i64>, StoreError>;
    /// Deletes the tenant's session data older than `cutoff_ms` (retention).
    async fn purge_before(&self, tenant: &str, cutoff_ms: i64) -> Result<Removed, StoreError>;
}
