//! The sessions role of the store.

use async_trait::async_trait;

use super::*;

/// Sessions and what happened in them: detections, interventions, alerts.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a session (first hello wins; later hellos fill in the identity).
    async fn upsert_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Records a detection; false when `(tenant, session, seq)` was already recorded.
    async fn insert_detection(&self, d: &DetectionRecord) -> Result<bool, StoreError>;
    /// Records an intervention (idempotent by id).
    async fn insert_intervention(&self, i: &InterventionRecord) -> Result<(), StoreError>;
    /// Records an alert (idempotent by id).
    async fn insert_alert(&self, a: &AlertRecord) -> Result<(), StoreError>;
    /// Newest detections of a tenant, optionally of one session.
    async fn detections(&self, tenant: &str, session: Option<&str>, limit: i64) -> Result<Vec<DetectionRecord>, StoreError>;
    /// Newest interventions of a tenant.
    async fn interventions(&self, tenant: &str, limit: i64) -> Result<Vec<InterventionRecord>, StoreError>;
    /// Newest alerts of a tenant.
    async fn alerts(&self, tenant: &str, limit: i64) -> Result<Vec<AlertRecord>, StoreError>;
    /// A session of a tenant.
    async fn session(&self, tenant: &str, session: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// The interventions of one session.
    async fn session_interventions(&self, tenant: &str, session: &str) -> Result<Vec<InterventionRecord>, StoreError>;
    /// The alerts of one session.
    async fn session_alerts(&self, tenant: &str, session: &str) -> Result<Vec<AlertRecord>, StoreError>;
    /// A person's detections since `since_ms`, newest first.
    async fn user_detections(&self, tenant: &str, sub: &str, since_ms: i64, limit: i64) -> Result<Vec<DetectionRecord>, StoreError>;
    /// A person's sessions.
    async fn sessions_of(&self, tenant: &str, sub: &str) -> Result<Vec<SessionRecord>, StoreError>;
}
