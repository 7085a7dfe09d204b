//! The customers role of the store.

use async_trait::async_trait;

use super::*;

/// Customers: who was seen, their facts, strength snapshots, segments and one-tap contexts.
#[async_trait]
pub trait CustomerStore: Send + Sync + 'static {
    /// Records that a customer was seen (creates them, or fills in what the token now says).
    async fn customer_seen(&self, c: &CustomerSeen) -> Result<(), StoreError>;
    /// One customer.
    async fn customer(&self, tenant: &str, sub: &str) -> Result<Option<Customer>, StoreError>;
    /// A page of customers, optionally of one segment, ordered by strength then sub.
    async fn customers(
        &self,
        tenant: &str,
        segment: Option<&str>,
        order: CustomerOrder,
        after: Option<&CustomerCursor>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError>;
    /// What the strength model reads, for one customer or (None) every customer of the tenant.
    async fn customer_facts(&self, tenant: &str, sub: Option<&str>, now_ms: i64) -> Result<Vec<CustomerFacts>, StoreError>;
    /// Stores many customers' strengths (the daily pass) in one database transaction.
    async fn set_strengths(&self, tenant: &str, rows: &[StrengthRow], at_ms: i64, day: i64) -> Result<(), StoreError>;
    /// A customer's newest daily snapshots, newest first.
    async fn snapshots(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<SnapshotRecord>, StoreError>;
    /// `(segment, account)` of every customer of the tenant.
    async fn segment_rows(&self, tenant: &str) -> Result<Vec<(String, Option<String>)>, StoreError>;
    /// Records a one-tap state.
    async fn add_context(&self, c: &ContextRecord) -> Result<(), StoreError>;
    /// Unexpired states of the tenant, newest first.
    async fn contexts(&self, tenant: &str, now_ms: i64, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<ContextRecord>, StoreError>;
    /// A customer's states (expired ones too), newest first.
    async fn customer_contexts(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<ContextRecord>, StoreError>;
    /// Every snapshot of the tenant from `since_day` on, as `(sub, day, score)`.
    async fn snapshots_since(&self, tenant: &str, since_day: i64) -> Result<Vec<(String, i64, f64)>, StoreError>;
}
