//! The tenants role of the store.

use async_trait::async_trait;

use super::*;

/// Tenants, their accounts and revenue, API keys and dashboard users.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Creates a tenant.
    async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError>;
    /// All tenants (the identity cache loads them at start).
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Replaces a tenant's detector thresholds (JSON).
    async fn set_thresholds(&self, tenant: &str, thresholds: &str) -> Result<(), StoreError>;
    /// Creates or renames an account.
    async fn upsert_account(&self, tenant: &str, account: &str, name: &str) -> Result<(), StoreError>;
    /// Records a transaction; false when the host id was already recorded (idempotent).
    async fn add_transaction(&self, tenant: &str, host_id: &str, account: &str, amount_cents: i64, at_ms: i64) -> Result<bool, StoreError>;
    /// One account with its lifetime value and its revenue since `now_ms - RECENT_REVENUE_MS`.
    async fn account(&self, tenant: &str, account: &str, now_ms: i64) -> Result<Option<Account>, StoreError>;
    /// Every account of `tenant` (or of every tenant) with its values, as `(tenant, account)`.
    async fn all_accounts(&self, tenant: Option<&str>, now_ms: i64) -> Result<Vec<(String, Account)>, StoreError>;
    /// Every API key of every tenant that is not revoked (the identity cache loads them).
    async fn active_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// A tenant's keys, revoked ones included, newest first.
    async fn tenant_keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError>;
    /// Adds a key.
    async fn add_api_key(&self, k: &ApiKey) -> Result<(), StoreError>;
    /// Revokes a key; false when the tenant has no such active key.
    async fn revoke_api_key(&self, tenant: &str, id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Replaces how the tenant's visitor tokens are verified (JSON).
    async fn set_token_policy(&self, tenant: &str, policy: &str) -> Result<(), StoreError>;
    /// Sets how many days session data is kept.
    async fn set_retention(&self, tenant: &str, days: i64) -> Result<(), StoreError>;
    /// Creates a dashboard user; false when the email is taken in the tenant.
    async fn create_user(&self, u: &User) -> Result<bool, StoreError>;
    /// A user by the blind index of their email.
    async fn user_by_email(&self, tenant: &str, email_index: &str) -> Result<Option<User>, StoreError>;
    /// A user by id.
    async fn user(&self, tenant: &str, id: &str) -> Result<Option<User>, StoreError>;
    /// The tenant's users, oldest first.
    async fn users(&self, tenant: &str) -> Result<Vec<User>, StoreError>;
    /// Changes a user's role; false when no such user.
    async fn set_user_role(&self, tenant: &str, id: &str, role: &str) -> Result<bool, StoreError>;
    /// Records a batch of transactions in one database transaction (all or none); returns how
    /// many were new (the rest had ids already recorded).
    async fn add_transactions(&self, tenant: &str, rows: &[TransactionRecord]) -> Result<u64, StoreError>;
    /// A page of transactions, newest first, optionally of one account.
    async fn transactions(
        &self,
        tenant: &str,
        account: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<TransactionRecord>, StoreError>;
    /// The customers of an account.
    async fn account_customers(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError>;
}
