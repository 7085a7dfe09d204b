//! Storage behind the [`Store`] trait.
//!
//! One implementation, [`SqlStore`], serves both backends through sqlx's `Any` driver: the
//! queries are portable SQL (numbered `$n` parameters, `ON CONFLICT DO NOTHING`), and what
//! differs between SQLite and PostgreSQL lives in the per-backend migrations
//! (`migrations/sqlite`, `migrations/postgres`). Every query is scoped by tenant.
//!
//! The hot path never waits on the store: detections, interventions and alerts reach it through
//! the bus and the persister ([`crate::persist`]).

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Connecting, migrating or querying failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub use crate::records::*;

mod sql;

pub use sql::SqlStore;

pub use audit::AuditStore;
pub use customers::CustomerStore;
pub use escalations::EscalationStore;
pub use learning::LearningStore;
pub use sessions::SessionStore;
pub use tenants::TenantStore;

/// The persistence the server needs: every role in one. Every method is scoped by tenant. A
/// subsystem holds only the role it uses (`Arc<dyn EscalationStore>`, …); start-up holds the
/// whole.
pub trait Store: TenantStore + CustomerStore + SessionStore + LearningStore + EscalationStore + AuditStore {}

impl<T: TenantStore + CustomerStore + SessionStore + LearningStore + EscalationStore + AuditStore> Store for T {}
mod audit;
mod customers;
mod escalations;
mod learning;
mod sessions;
mod tenants;
