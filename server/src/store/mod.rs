//! Storage behind the [`Store`] trait.
//!
//! One implementation, [`SqlStore`], serves both backends through sqlx's `Any` driver: the
//! queries are portable SQL (numbered `$n` parameters, `ON CONFLICT DO NOTHING`), and what
//! differs between SQLite and PostgreSQL lives in the per-backend migrations
//! (`migrations/sqlite`, `migrations/postgres`). Every query is scoped by tenant.
//!
//! The hot path never waits on the store: detections, interventions and alerts reach it through
//! the bus and the persister ([`crate::bus::persister`]).

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
    /// A transaction would take its account's value past [`MAX_ACCOUNT_VALUE_CENTS`]; nothing
    /// of the batch was written.
    #[error("account {account:?} would be worth {value_cents} cents, past the limit of {MAX_ACCOUNT_VALUE_CENTS}")]
    AccountValueOutOfRange {
        /// The account.
        account: String,
        /// What it would have summed to (saturated).
        value_cents: i64,
    },
}

pub use crate::records::*;

mod sql;

pub use sql::SqlStore;

use async_trait::async_trait;

/// The persistence the server needs: every role in one. Every method is scoped by tenant. A
/// subsystem holds only the role it uses (`Arc<dyn EscalationStore>`, …); start-up holds the
/// whole.
pub trait Store: TenantStore + CustomerStore + SessionStore + LearningStore + EscalationStore + AuditStore + DashboardStore {}

impl<T: TenantStore + CustomerStore + SessionStore + LearningStore + EscalationStore + AuditStore + DashboardStore> Store for T {}

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
    /// [`TenantStore::add_transactions`] for one batch of a longer upload: `values` holds the
    /// values of accounts as this caller's earlier batches left them (an account missing is
    /// read from the store) and is updated when the batch commits, so a file of many batches
    /// sums each account once, not once per batch.
    async fn add_transaction_batch(
        &self,
        tenant: &str,
        rows: &[TransactionRecord],
        values: &mut std::collections::HashMap<String, i64>,
    ) -> Result<u64, StoreError>;
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

/// Sessions and what happened in them: detections, interventions, alerts.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a session (first hello wins; later hellos fill in the identity).
    async fn upsert_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Records a detection; false when `(tenant, session, seq)` was already recorded.
    async fn insert_detection(&self, d: &DetectionRecord) -> Result<bool, StoreError>;
    /// Records many sessions at once, as [`SessionStore::upsert_session`] would one by one.
    async fn upsert_sessions(&self, sessions: &[SessionRecord]) -> Result<(), StoreError>;
    /// Records acknowledged frames (the ingest journal; a frame already recorded is left as it
    /// is); returns how many were new.
    async fn insert_frames(&self, frames: &[FrameRecord]) -> Result<u64, StoreError>;
    /// Deletes journal rows received before `before_ms`; returns how many.
    async fn prune_frames(&self, before_ms: i64) -> Result<u64, StoreError>;
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
    /// Binds `session` (hex) to `secret_hash` unless it is bound already (the first binding
    /// stands, whichever instance made it), and returns the hash the session is bound to: `None`
    /// only when it is not bound and `secret_hash` is `None`.
    async fn bind_session(&self, tenant: &str, session: &str, secret_hash: Option<&str>, now_ms: i64)
        -> Result<Option<String>, StoreError>;
}

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
    /// person) made since `since_ms`, in one transaction. A `verified` outcome (the host's
    /// backend, an identified visitor's page) is counted on the chosen variant's arm and may take
    /// the place of an unverified one; an unverified outcome (an anonymous page) is recorded on
    /// a decision without any outcome and counted nowhere. Returns the decision's id, or None
    /// when there is none to attribute to.
    #[allow(clippy::too_many_arguments)] // the outcome, named at the call site
    async fn record_outcome(
        &self,
        tenant: &str,
        who: OutcomeFor<'_>,
        since_ms: i64,
        outcome: &str,
        converted: bool,
        verified: bool,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Conversions of treated and held-out decisions whose verified outcome is in or whose
    /// window closed before `until_ms`, per emotion (an unverified outcome counts as none).
    async fn uplift_counts(&self, tenant: &str, until_ms: i64) -> Result<UpliftCounts, StoreError>;
    /// Queues a card (idempotent by id).
    async fn insert_card(&self, c: &CardRecord) -> Result<(), StoreError>;
    /// A page of cards, optionally in one state, newest first.
    async fn cards(
        &self,
        tenant: &str,
        state: Option<CardState>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<CardRecord>, StoreError>;
    /// Whether the tenant has a card with this id.
    async fn card_exists(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
    /// Moves a card from one of `from` to `to`; false when it is not in one of them.
    #[allow(clippy::too_many_arguments)] // the transition, named at the call site
    async fn move_card(
        &self,
        tenant: &str,
        id: &str,
        from: &[CardState],
        to: CardState,
        outcome: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
}

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
    /// Ids of open escalations due at `now_ms` and not claimed (or whose claim lapsed): each
    /// tenant's oldest first, then each tenant's second, and so on, so one tenant's many do not
    /// delay another's.
    async fn due_escalations(&self, now_ms: i64, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Whether `sub` of `tenant` has an escalation created at or after `since_ms`.
    async fn escalated_since(&self, tenant: &str, sub: &str, since_ms: i64) -> Result<bool, StoreError>;
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
        state: EscalationState,
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
        state: Option<EscalationState>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<EscalationRecord>, StoreError>;
}

/// The audit log, sealed fields (key rotation), erasure and retention.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends to the audit log.
    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError>;
    /// A page of the audit log, newest first.
    async fn audit_log(&self, tenant: &str, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every sealed value of `column` (`customers.email`, `users.email`, `contacts.address`,
    /// `tenants.jwt_secret`…) that is not null or empty: `(tenant, row id, stored value)`.
    async fn sealed_fields(&self, column: SealedColumn) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Replaces one sealed field (key rotation); false when the row no longer holds `old`.
    async fn replace_sealed(&self, column: SealedColumn, tenant: &str, row: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Deletes everything about a person (customer, sessions, their detections, interventions
    /// and alerts, contexts, snapshots) in one database transaction, and records the erasure
    /// under the person's pseudonymous reference.
    async fn erase_person(&self, tenant: &str, sub: &str, person_ref: &str, at_ms: i64) -> Result<Removed, StoreError>;
    /// When a person (by pseudonymous reference) was last erased.
    async fn erased_at(&self, tenant: &str, person_ref: &str) -> Result<Option<i64>, StoreError>;
    /// Writes `ev`, an event about the person `person_ref` names, unless that person was erased
    /// at or after the event's time; false when it was not written. The check and the write are
    /// one database transaction that an erasure of the same person
    /// ([`AuditStore::erase_person`]) waits for, or that waits for the erasure: an event being
    /// written while its person is erased is deleted with them or not written at all.
    async fn write_unless_erased(&self, person_ref: &str, ev: &crate::records::events::Event) -> Result<bool, StoreError>;
    /// Deletes the tenant's session data older than `cutoff_ms` (retention).
    async fn purge_before(&self, tenant: &str, cutoff_ms: i64) -> Result<Removed, StoreError>;
}

/// A signed-in dashboard session (`POST /v1/login`), until it expires or is revoked.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardSessionRecord {
    /// `dss_…` (the token names it).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The user signed in.
    pub user_id: String,
    /// Signed in, ms.
    pub created_ms: i64,
    /// Expires, ms.
    pub expires_ms: i64,
    /// Signed out or revoked, ms.
    pub revoked_ms: Option<i64>,
}

/// A detection an operator reported as not a struggle (a false positive).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FalsePositive {
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Session.
    pub session: String,
    /// The detection's sequence number.
    pub seq: i64,
    /// Its emotion.
    pub emotion: String,
    /// Its section.
    pub section: String,
    /// Who reported it (`user:…`, `contact:…`, `key:…`).
    pub reporter: String,
    /// When, ms.
    pub created_ms: i64,
}

/// A decision of the intervention policy with its outcome and what its account was worth at
/// detection time: a row of the revenue forensics.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionOutcome {
    /// Emotion decided on.
    pub emotion: String,
    /// Section.
    pub section: String,
    /// In the holdout (no intervention).
    pub holdout: bool,
    /// Conversion (`None`: no outcome reported, or only an anonymous page's).
    pub converted: Option<bool>,
    /// The outcome's name (`purchase`, `cancel`, …).
    pub outcome: Option<String>,
    /// Decided, ms.
    pub created_ms: i64,
    /// The account, when known.
    pub account: Option<String>,
    /// The account's lifetime value at detection time, cents.
    pub value_cents: i64,
}

/// A confirmed detection without its evidence: what the EVI and the weather read.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectionPoint {
    /// Emotion.
    pub emotion: String,
    /// Section.
    pub section: String,
    /// Server-confirmed confidence.
    pub confidence: f64,
    /// Confirmed, ms.
    pub created_ms: i64,
}

/// What the public failure page counts, with no personal data: delays and deliveries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailureFacts {
    /// Detection confirmed → intervention decided, ms, one per intervention.
    pub intervention_delays_ms: Vec<i64>,
    /// Detection confirmed → alert request answered, ms, with whether it was delivered, one
    /// per alert.
    pub alert_delays_ms: Vec<(i64, bool)>,
    /// Escalations: opened → acknowledged, ms (`None`: not acknowledged), and whether every
    /// contact was paged with nobody taking it.
    pub escalations: Vec<(Option<i64>, bool)>,
    /// "stuck" or "frustrated" shared through the widget with no detection of that person
    /// within [`MISS_WINDOW_MS`] either side: `(state, when)`.
    pub misses: Vec<(String, i64)>,
    /// Interventions pushed.
    pub interventions: i64,
    /// Active session-minutes of sessions started in the window.
    pub active_minutes: i64,
    /// Confirmed detections.
    pub detections: i64,
}

/// One value of a warehouse row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Str(Option<String>),
    /// An integer.
    Int(Option<i64>),
    /// A float.
    Float(Option<f64>),
    /// A flag (stored as an integer).
    Bool(Option<bool>),
}

/// The type of a warehouse column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Text.
    Str,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// Boolean.
    Bool,
}

/// A table of the warehouse export: its name, the stored table and time column it is read
/// from, a filter, and its columns (`(SQL expression, name, type)`). No personal field is
/// exported (no names, emails, addresses or link secrets): people appear by the host's `sub`.
#[derive(Debug)]
pub struct WarehouseTable {
    /// The export's table name (the folder).
    pub name: &'static str,
    /// The stored table.
    pub from: &'static str,
    /// Its time column, ms (what the day partition is taken from).
    pub time: &'static str,
    /// Extra condition (`""` or ` AND …`).
    pub filter: &'static str,
    /// The columns.
    pub columns: &'static [(&'static str, &'static str, CellKind)],
}

/// The tables of the warehouse export.
pub const WAREHOUSE: &[WarehouseTable] = {
    use CellKind::*;
    &[
        WarehouseTable {
            name: "sessions",
            from: "sessions",
            time: "started_ms",
            filter: "",
            columns: &[
                ("session", "session", Str),
                ("user_sub", "sub", Str),
                ("account", "account", Str),
                ("page", "page", Str),
                ("started_ms", "started_ms", Int),
                ("active_minutes", "active_minutes", Int),
            ],
        },
        WarehouseTable {
            name: "detections",
            from: "detections",
            time: "created_ms",
            filter: "",
            columns: &[
                ("session", "session", Str),
                ("seq", "seq", Int),
                ("emotion", "emotion", Str),
                ("confidence", "confidence", Float),
                ("client_confidence", "client_confidence", Float),
                ("section", "section", Str),
                ("user_sub", "sub", Str),
                ("account", "account", Str),
                ("value_cents", "value_cents", Int),
                ("features", "features", Str),
                ("t_ms", "t_ms", Int),
                ("created_ms", "created_ms", Int),
            ],
        },
        WarehouseTable {
            name: "decisions",
            from: "decisions",
            time: "created_ms",
            filter: "",
            columns: &[
                ("id", "id", Str),
                ("session", "session", Str),
                ("seq", "seq", Int),
                ("sub", "sub", Str),
                ("emotion", "emotion", Str),
                ("section", "section", Str),
                ("holdout", "holdout", Bool),
                ("variant_id", "variant_id", Str),
                ("holdout_share", "holdout_share", Float),
                ("created_ms", "created_ms", Int),
            ],
        },
        WarehouseTable {
            name: "outcomes",
            from: "decisions",
            time: "outcome_ms",
            filter: " AND outcome IS NOT NULL",
            columns: &[
                ("id", "decision_id", Str),
                ("session", "session", Str),
                ("sub", "sub", Str),
                ("outcome", "outcome", Str),
                ("converted", "converted", Bool),
                ("outcome_ms", "outcome_ms", Int),
                ("outcome_verified", "verified", Bool),
            ],
        },
        WarehouseTable {
            name: "alerts",
            from: "alerts",
            time: "created_ms",
            filter: "",
            columns: &[
                ("id", "id", Str),
                ("session", "session", Str),
                ("escalation_id", "escalation_id", Str),
                ("contact_id", "contact_id", Str),
                ("channel", "channel", Str),
                ("status", "status", Str),
                ("attempts", "attempts", Int),
                ("created_ms", "created_ms", Int),
            ],
        },
    ]
};

/// How near a detection must be to a shared "stuck"/"frustrated" for it not to count as a
/// miss, ms (2 minutes either side).
pub const MISS_WINDOW_MS: i64 = 120_000;

/// Dashboard sign-in sessions, false-positive reports, the public failure page's opt-in, and
/// the reads of the revenue forensics and the failure page.
#[async_trait]
pub trait DashboardStore: Send + Sync + 'static {
    /// Records a new signed-in session.
    async fn create_dashboard_session(&self, s: &DashboardSessionRecord) -> Result<(), StoreError>;
    /// One session of the tenant.
    async fn dashboard_session(&self, tenant: &str, id: &str) -> Result<Option<DashboardSessionRecord>, StoreError>;
    /// Revokes a session (sign-out); false when there is no such unrevoked session.
    async fn revoke_dashboard_session(&self, tenant: &str, id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Revokes every session of a user; how many.
    async fn revoke_user_sessions(&self, tenant: &str, user: &str, at_ms: i64) -> Result<u64, StoreError>;
    /// Records a false-positive report; false when that detection was already reported.
    async fn report_false_positive(&self, r: &FalsePositive) -> Result<bool, StoreError>;
    /// Reports since `since_ms`, newest first.
    async fn false_positives(&self, tenant: &str, since_ms: i64) -> Result<Vec<FalsePositive>, StoreError>;
    /// Turns the public failure page on or off.
    async fn set_public_failures(&self, tenant: &str, on: bool, at_ms: i64) -> Result<(), StoreError>;
    /// Whether the tenant publishes its failure page.
    async fn public_failures(&self, tenant: &str) -> Result<bool, StoreError>;
    /// Decisions since `since_ms` with their outcomes and their account's value (the
    /// conversion of an unverified outcome, from an anonymous page, reads as none).
    async fn decision_outcomes(&self, tenant: &str, since_ms: i64) -> Result<Vec<DecisionOutcome>, StoreError>;
    /// Confirmed detections since `since_ms`, oldest first.
    async fn detection_points(&self, tenant: &str, since_ms: i64) -> Result<Vec<DetectionPoint>, StoreError>;
    /// `(started_ms, active_minutes)` of the sessions started since `since_ms`.
    async fn session_minutes(&self, tenant: &str, since_ms: i64) -> Result<Vec<(i64, i64)>, StoreError>;
    /// What the failure page counts since `since_ms`.
    async fn failure_facts(&self, tenant: &str, since_ms: i64) -> Result<FailureFacts, StoreError>;
    /// The tenant's rows of a warehouse table whose time is in `[from_ms, to_ms)`, oldest first,
    /// cells in the order of its columns.
    async fn warehouse_rows(&self, tenant: &str, table: &WarehouseTable, from_ms: i64, to_ms: i64) -> Result<Vec<Vec<Cell>>, StoreError>;
}
