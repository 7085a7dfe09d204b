//! Storage behind the [`Store`] trait.
//!
//! One implementation, [`SqlStore`], serves both backends through sqlx's `Any` driver: the
//! queries are portable SQL (numbered `$n` parameters, `ON CONFLICT DO NOTHING`), and what
//! differs between SQLite and PostgreSQL lives in the per-backend migrations
//! (`migrations/sqlite`, `migrations/postgres`). Every query is scoped by tenant.
//!
//! The hot path never waits on the store: detections, interventions and alerts reach it through
//! the bus and the persister ([`crate::persist`]).

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

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

/// The persistence the server needs. Every method is scoped by tenant.
#[async_trait]
pub trait Store: Send + Sync + 'static {
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
    /// Appends a contact to the tenant's escalation chain.
    async fn add_contact(&self, tenant: &str, c: &Contact) -> Result<(), StoreError>;
    /// The tenant's escalation chain, in order.
    async fn contacts(&self, tenant: &str) -> Result<Vec<Contact>, StoreError>;
    /// Removes a contact (and its fallback channels) from the chain; false when the tenant has
    /// no such contact.
    async fn delete_contact(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
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
    /// Appends to the audit log.
    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError>;
    /// A page of the audit log, newest first.
    async fn audit_log(&self, tenant: &str, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every snapshot of the tenant from `since_day` on, as `(sub, day, score)`.
    async fn snapshots_since(&self, tenant: &str, since_day: i64) -> Result<Vec<(String, i64, f64)>, StoreError>;
    /// The interventions of one session.
    async fn session_interventions(&self, tenant: &str, session: &str) -> Result<Vec<InterventionRecord>, StoreError>;
    /// The alerts of one session.
    async fn session_alerts(&self, tenant: &str, session: &str) -> Result<Vec<AlertRecord>, StoreError>;
    /// A person's detections since `since_ms`, newest first.
    async fn user_detections(&self, tenant: &str, sub: &str, since_ms: i64, limit: i64) -> Result<Vec<DetectionRecord>, StoreError>;
    /// The customers of an account.
    async fn account_customers(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError>;
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
    /// Every sealed personal field of `column` (`customers.email`, `users.email`,
    /// `contacts.address`): `(tenant, row id, stored value)`.
    async fn sealed_fields(&self, column: SealedColumn) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Replaces one sealed field (key rotation); false when the row no longer holds `old`.
    async fn replace_sealed(&self, column: SealedColumn, tenant: &str, row: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// A person's sessions.
    async fn sessions_of(&self, tenant: &str, sub: &str) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes everything about a person (customer, sessions, their detections, interventions
    /// and alerts, contexts, snapshots) in one database transaction, and records the erasure
    /// under the person's pseudonymous reference.
    async fn erase_person(&self, tenant: &str, sub: &str, person_ref: &str, at_ms: i64) -> Result<Removed, StoreError>;
    /// When a person (by pseudonymous reference) was last erased.
    async fn erased_at(&self, tenant: &str, person_ref: &str) -> Result<Option<i64>, StoreError>;
    /// Deletes the tenant's session data older than `cutoff_ms` (retention).
    async fn purge_before(&self, tenant: &str, cutoff_ms: i64) -> Result<Removed, StoreError>;
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

/// The SQL store (SQLite or PostgreSQL).
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
}

impl SqlStore {
    /// Connects to `url` (`sqlite://path`, created if missing, or `postgres://…`) and applies the
    /// backend's migrations.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, max) = if let Some(path) = url.strip_prefix("sqlite://") {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            let opts = opts
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(5));
            let pool = sqlx::SqlitePool::connect_with(opts).await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            pool.close().await;
            (format!("sqlite://{path}?mode=rwc"), 4)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::PgPool::connect(url).await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            pool.close().await;
            (url.to_string(), 16)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let pool = AnyPoolOptions::new().max_connections(max).connect(&url).await?;
        if url.starts_with("sqlite") {
            sqlx::query("PRAGMA busy_timeout = 5000").execute(&pool).await?;
        }
        Ok(SqlStore { pool })
    }
}

fn tenant_from(r: &AnyRow) -> Result<Tenant, sqlx::Error> {
    Ok(Tenant {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        site_key: r.try_get("site_key")?,
        secret_key_hash: r.try_get("secret_key_hash")?,
        jwt_secret: r.try_get("jwt_secret")?,
        thresholds: r.try_get("thresholds")?,
        created_ms: r.try_get("created_ms")?,
        token_policy: r.try_get("token_policy")?,
        retention_days: r.try_get("retention_days")?,
        holdout_share: r.try_get("holdout_share")?,
        outcome_window_ms: r.try_get("outcome_window_ms")?,
    })
}

const DETECTION_COLS: &str = "tenant_id, session, seq, emotion, confidence, client_confidence, section, user_sub, user_name, account, \
     account_name, value_cents, features, evidence, t_ms, created_ms";

fn detection_from(r: &AnyRow) -> Result<DetectionRecord, sqlx::Error> {
    let features: String = r.try_get("features")?;
    Ok(DetectionRecord {
        tenant_id: r.try_get("tenant_id")?,
        session: r.try_get("session")?,
        seq: r.try_get("seq")?,
        emotion: r.try_get("emotion")?,
        confidence: r.try_get("confidence")?,
        client_confidence: r.try_get("client_confidence")?,
        section: r.try_get("section")?,
        user: r.try_get("user_sub")?,
        user_name: r.try_get("user_name")?,
        account: r.try_get("account")?,
        account_name: r.try_get("account_name")?,
        value_cents: r.try_get("value_cents")?,
        features: serde_json::from_str(&features).unwrap_or(serde_json::Value::Null),
        evidence: r.try_get("evidence")?,
        t_ms: r.try_get("t_ms")?,
        created_ms: r.try_get("created_ms")?,
    })
}

const KEY_COLS: &str = "id, tenant_id, kind, lookup, hint, created_ms, revoked_ms";

fn key_from(r: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(ApiKey {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: KeyKind::parse(&kind).ok_or_else(|| sqlx::Error::Decode(format!("unknown key kind {kind:?}").into()))?,
        lookup: r.try_get("lookup")?,
        hint: r.try_get("hint")?,
        created_ms: r.try_get("created_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
    })
}

const USER_COLS: &str = "id, tenant_id, email_index, email, password_hash, role, created_ms";

fn user_from(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        email_index: r.try_get("email_index")?,
        email_sealed: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        role: r.try_get("role")?,
        created_ms: r.try_get("created_ms")?,
    })
}

const CUSTOMER_COLS: &str = "sub, account, name, email, company, first_seen_ms, last_seen_ms, strength, segment, factors, scored_ms";

fn customer_from(r: &AnyRow) -> Result<Customer, sqlx::Error> {
    let factors: String = r.try_get("factors")?;
    Ok(Customer {
        sub: r.try_get("sub")?,
        account: r.try_get("account")?,
        name: r.try_get("name")?,
        email_sealed: r.try_get("email")?,
        company: r.try_get("company")?,
        first_seen_ms: r.try_get("first_seen_ms")?,
        last_seen_ms: r.try_get("last_seen_ms")?,
        strength: r.try_get("strength")?,
        segment: r.try_get("segment")?,
        factors: serde_json::from_str(&factors).unwrap_or_default(),
        scored_ms: r.try_get("scored_ms")?,
    })
}

const CONTEXT_COLS: &str = "id, tenant_id, sub, state, set_ms, expires_ms";

fn context_from(r: &AnyRow) -> Result<ContextRecord, sqlx::Error> {
    Ok(ContextRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        sub: r.try_get("sub")?,
        state: r.try_get("state")?,
        set_ms: r.try_get("set_ms")?,
        expires_ms: r.try_get("expires_ms")?,
    })
}

const ESCALATION_COLS: &str = "id, tenant_id, session, seq, sub, person_name, account_name, emotion, section, confidence, value_cents, \
     state, step, next_at_ms, claimed_by, claim_until_ms, acked_by, acked_ms, detected_ms, created_ms, updated_ms";

fn escalation_from(r: &AnyRow) -> Result<EscalationRecord, sqlx::Error> {
    Ok(EscalationRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        session: r.try_get("session")?,
        seq: r.try_get("seq")?,
        sub: r.try_get("sub")?,
        person_name: r.try_get("person_name")?,
        account_name: r.try_get("account_name")?,
        emotion: r.try_get("emotion")?,
        section: r.try_get("section")?,
        confidence: r.try_get("confidence")?,
        value_cents: r.try_get("value_cents")?,
        state: r.try_get("state")?,
        step: r.try_get("step")?,
        next_at_ms: r.try_get("next_at_ms")?,
        claimed_by: r.try_get("claimed_by")?,
        claim_until_ms: r.try_get("claim_until_ms")?,
        acked_by: r.try_get("acked_by")?,
        acked_ms: r.try_get("acked_ms")?,
        detected_ms: r.try_get("detected_ms")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

fn alert_from(r: &AnyRow) -> Result<AlertRecord, sqlx::Error> {
    Ok(AlertRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        session: r.try_get("session")?,
        contact_id: r.try_get("contact_id")?,
        channel: r.try_get("channel")?,
        address: r.try_get("address")?,
        status: r.try_get("status")?,
        provider_id: r.try_get("provider_id")?,
        error: r.try_get("error")?,
        attempts: r.try_get("attempts")?,
        link: r.try_get("link")?,
        created_ms: r.try_get("created_ms")?,
        escalation_id: r.try_get("escalation_id")?,
        attempt_log: serde_json::from_str(&r.try_get::<String, _>("attempt_log")?).unwrap_or_default(),
    })
}

/// Accounts with their lifetime value and their revenue since `$1` (ms): one grouped pass over
/// the transactions, joined to the accounts.
const ACCOUNT_VALUE_SQL: &str = "SELECT a.tenant_id, a.account, a.name, \
     CAST(COALESCE(t.value_cents, 0) AS BIGINT) AS value_cents, CAST(COALESCE(t.recent_cents, 0) AS BIGINT) AS recent_cents \
     FROM accounts a LEFT JOIN (SELECT tenant_id, account, SUM(amount_cents) AS value_cents, \
     SUM(CASE WHEN at_ms >= $1 THEN amount_cents ELSE 0 END) AS recent_cents FROM transactions GROUP BY tenant_id, account) t \
     ON t.tenant_id = a.tenant_id AND t.account = a.account";

/// The window of an account's "recent revenue", ms (90 days).
pub const RECENT_REVENUE_MS: i64 = 90 * 86_400_000;

fn account_from(r: &AnyRow) -> Result<(String, Account), sqlx::Error> {
    Ok((
        r.try_get("tenant_id")?,
        Account {
            account: r.try_get("account")?,
            name: r.try_get("name")?,
            value_cents: r.try_get("value_cents")?,
            recent_cents: r.try_get("recent_cents")?,
        },
    ))
}

#[async_trait]
impl Store for SqlStore {
    async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, site_key, secret_key_hash, jwt_secret, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.site_key)
            .bind(&t.secret_key_hash)
            .bind(&t.jwt_secret)
            .bind(t.created_ms)
            .execute(&mut *tx)
            .await?;
        let hint = t.site_key.get(t.site_key.len().saturating_sub(4)..).unwrap_or_default();
        for (id, kind, lookup, hint) in [
            (format!("key_pk_{}", t.id), KeyKind::Publishable, &t.site_key, hint),
            (format!("key_sk_{}", t.id), KeyKind::Secret, &t.secret_key_hash, ""),
        ] {
            sqlx::query("INSERT INTO api_keys (id, tenant_id, kind, lookup, hint, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(&t.id)
                .bind(kind.as_str())
                .bind(lookup)
                .bind(hint)
                .bind(t.created_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, site_key, secret_key_hash, jwt_secret, created_ms, thresholds, token_policy, retention_days, holdout_share, outcome_window_ms FROM tenants",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(tenant_from).collect::<Result<_, _>>()?)
    }

    async fn set_thresholds(&self, tenant: &str, thresholds: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET thresholds = $1 WHERE id = $2").bind(thresholds).bind(tenant).execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_account(&self, tenant: &str, account: &str, name: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, account) DO UPDATE SET name = excluded.name")
            .bind(tenant)
            .bind(account)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_transaction(&self, tenant: &str, host_id: &str, account: &str, amount_cents: i64, at_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $2) ON CONFLICT (tenant_id, account) DO NOTHING")
            .bind(tenant)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("INSERT INTO transactions (tenant_id, host_id, account, amount_cents, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, host_id) DO NOTHING")
            .bind(tenant)
            .bind(host_id)
            .bind(account)
            .bind(amount_cents)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn account(&self, tenant: &str, account: &str, now_ms: i64) -> Result<Option<Account>, StoreError> {
        // One account: its own transactions through the (tenant, account, at_ms) index.
        let sql = "SELECT a.tenant_id, a.account, a.name, CAST(COALESCE(SUM(t.amount_cents), 0) AS BIGINT) AS value_cents, \
                   CAST(COALESCE(SUM(CASE WHEN t.at_ms >= $1 THEN t.amount_cents ELSE 0 END), 0) AS BIGINT) AS recent_cents \
                   FROM accounts a LEFT JOIN transactions t ON t.tenant_id = a.tenant_id AND t.account = a.account \
                   WHERE a.tenant_id = $2 AND a.account = $3 GROUP BY a.tenant_id, a.account, a.name";
        let row = sqlx::query(sql).bind(now_ms - RECENT_REVENUE_MS).bind(tenant).bind(account).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(account_from).transpose()?.map(|(_, a)| a))
    }

    async fn all_accounts(&self, tenant: Option<&str>, now_ms: i64) -> Result<Vec<(String, Account)>, StoreError> {
        let since = now_ms - RECENT_REVENUE_MS;
        let rows = match tenant {
            Some(t) => {
                sqlx::query(&format!("{ACCOUNT_VALUE_SQL} WHERE a.tenant_id = $2")).bind(since).bind(t).fetch_all(&self.pool).await?
            }
            None => sqlx::query(ACCOUNT_VALUE_SQL).bind(since).fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(account_from).collect::<Result<_, _>>()?)
    }

    async fn add_contact(&self, tenant: &str, c: &Contact) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO contacts (id, tenant_id, position, name, role, channel, address, min_value_cents, created_ms) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(position) + 1, 0) FROM contacts WHERE tenant_id = $2), $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.id)
        .bind(tenant)
        .bind(&c.name)
        .bind(&c.role)
        .bind(&c.channel)
        .bind(&c.address)
        .bind(c.min_value_cents)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (i, f) in c.fallbacks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO contact_fallbacks (id, tenant_id, contact_id, priority, channel, address, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&f.id)
            .bind(tenant)
            .bind(&c.id)
            .bind(i as i64 + 1)
            .bind(&f.channel)
            .bind(&f.address)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_contact(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM contact_fallbacks WHERE tenant_id = $1 AND contact_id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn contacts(&self, tenant: &str) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, position, name, role, channel, address, min_value_cents FROM contacts WHERE tenant_id = $1 ORDER BY position",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        let c = |r: &AnyRow| -> Result<Contact, sqlx::Error> {
            Ok(Contact {
                id: r.try_get("id")?,
                position: r.try_get("position")?,
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                channel: r.try_get("channel")?,
                address: r.try_get("address")?,
                min_value_cents: r.try_get("min_value_cents")?,
                fallbacks: Vec::new(),
            })
        };
        let mut contacts: Vec<Contact> = rows.iter().map(c).collect::<Result<_, _>>()?;
        let fallbacks: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT contact_id, id, channel, address FROM contact_fallbacks WHERE tenant_id = $1 ORDER BY contact_id, priority",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        for (contact, id, channel, address) in fallbacks {
            if let Some(c) = contacts.iter_mut().find(|c| c.id == contact) {
                c.fallbacks.push(Endpoint { id, channel, address });
            }
        }
        Ok(contacts)
    }

    async fn upsert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (tenant_id, session, user_sub, account, page, started_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, session) DO UPDATE SET user_sub = COALESCE(excluded.user_sub, sessions.user_sub), \
             account = COALESCE(excluded.account, sessions.account)",
        )
        .bind(&s.tenant_id)
        .bind(&s.session)
        .bind(&s.user)
        .bind(&s.account)
        .bind(&s.page)
        .bind(s.started_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_detection(&self, d: &DetectionRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO detections (tenant_id, session, seq, emotion, confidence, client_confidence, section, user_sub, user_name, account, \
             account_name, value_cents, features, evidence, t_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (tenant_id, session, seq) DO NOTHING",
        )
        .bind(&d.tenant_id)
        .bind(&d.session)
        .bind(d.seq)
        .bind(&d.emotion)
        .bind(d.confidence)
        .bind(d.client_confidence)
        .bind(&d.section)
        .bind(&d.user)
        .bind(&d.user_name)
        .bind(&d.account)
        .bind(&d.account_name)
        .bind(d.value_cents)
        .bind(d.features.to_string())
        .bind(&d.evidence)
        .bind(d.t_ms)
        .bind(d.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_intervention(&self, i: &InterventionRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO interventions (id, tenant_id, session, seq, emotion, text, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING")
            .bind(&i.id)
            .bind(&i.tenant_id)
            .bind(&i.session)
            .bind(i.seq)
            .bind(&i.emotion)
            .bind(&i.text)
            .bind(i.created_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_alert(&self, a: &AlertRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alerts (id, tenant_id, session, contact_id, channel, address, status, provider_id, error, attempts, link, created_ms, escalation_id, attempt_log) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&a.id)
        .bind(&a.tenant_id)
        .bind(&a.session)
        .bind(&a.contact_id)
        .bind(&a.channel)
        .bind(&a.address)
        .bind(&a.status)
        .bind(&a.provider_id)
        .bind(&a.error)
        .bind(a.attempts)
        .bind(&a.link)
        .bind(a.created_ms)
        .bind(&a.escalation_id)
        .bind(a.attempt_log.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn detections(&self, tenant: &str, session: Option<&str>, limit: i64) -> Result<Vec<DetectionRecord>, StoreError> {
        let cols = DETECTION_COLS;
        let rows = match session {
            Some(s) => {
                let sql = format!(
                    "SELECT {cols} FROM detections WHERE tenant_id = $1 AND session = $2 ORDER BY created_ms DESC, seq DESC LIMIT $3"
                );
                sqlx::query(&sql).bind(tenant).bind(s).bind(limit).fetch_all(&self.pool).await?
            }
            None => {
                let sql = format!("SELECT {cols} FROM detections WHERE tenant_id = $1 ORDER BY created_ms DESC, seq DESC LIMIT $2");
                sqlx::query(&sql).bind(tenant).bind(limit).fetch_all(&self.pool).await?
            }
        };
        Ok(rows.iter().map(detection_from).collect::<Result<_, _>>()?)
    }

    async fn interventions(&self, tenant: &str, limit: i64) -> Result<Vec<InterventionRecord>, StoreError> {
        let rows = sqlx::query("SELECT id, tenant_id, session, seq, emotion, text, created_ms FROM interventions WHERE tenant_id = $1 ORDER BY created_ms DESC LIMIT $2")
            .bind(tenant)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let f = |r: &AnyRow| -> Result<InterventionRecord, sqlx::Error> {
            Ok(InterventionRecord {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                session: r.try_get("session")?,
                seq: r.try_get("seq")?,
                emotion: r.try_get("emotion")?,
                text: r.try_get("text")?,
                created_ms: r.try_get("created_ms")?,
            })
        };
        Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
    }

    async fn alerts(&self, tenant: &str, limit: i64) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, session, contact_id, channel, address, status, provider_id, error, attempts, link, created_ms, escalation_id, attempt_log \
             FROM alerts WHERE tenant_id = $1 ORDER BY created_ms DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from).collect::<Result<_, _>>()?)
    }

    async fn session(&self, tenant: &str, session: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, session, user_sub, account, page, started_ms FROM sessions WHERE tenant_id = $1 AND session = $2",
        )
        .bind(tenant)
        .bind(session)
        .fetch_optional(&self.pool)
        .await?;
        let f = |r: &AnyRow| -> Result<SessionRecord, sqlx::Error> {
            Ok(SessionRecord {
                tenant_id: r.try_get("tenant_id")?,
                session: r.try_get("session")?,
                user: r.try_get("user_sub")?,
                account: r.try_get("account")?,
                page: r.try_get("page")?,
                started_ms: r.try_get("started_ms")?,
            })
        };
        Ok(row.as_ref().map(f).transpose()?)
    }

    async fn active_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE revoked_ms IS NULL")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(key_from).collect::<Result<_, _>>()?)
    }

    async fn tenant_keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_ms DESC, id"))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(key_from).collect::<Result<_, _>>()?)
    }

    async fn add_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_keys (id, tenant_id, kind, lookup, hint, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(k.kind.as_str())
            .bind(&k.lookup)
            .bind(&k.hint)
            .bind(k.created_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_api_key(&self, tenant: &str, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE api_keys SET revoked_ms = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_ms IS NULL")
            .bind(at_ms)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_token_policy(&self, tenant: &str, policy: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET token_policy = $1 WHERE id = $2").bind(policy).bind(tenant).execute(&self.pool).await?;
        Ok(())
    }

    async fn set_retention(&self, tenant: &str, days: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET retention_days = $1 WHERE id = $2").bind(days).bind(tenant).execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, u: &User) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO users (id, tenant_id, email_index, email, password_hash, role, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, email_index) DO NOTHING",
        )
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(&u.email_index)
        .bind(&u.email_sealed)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(u.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn user_by_email(&self, tenant: &str, email_index: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND email_index = $2"))
            .bind(tenant)
            .bind(email_index)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    async fn user(&self, tenant: &str, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    async fn users(&self, tenant: &str) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY created_ms, id"))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    async fn set_user_role(&self, tenant: &str, id: &str, role: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET role = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(role)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn customer_seen(&self, c: &CustomerSeen) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO customers (tenant_id, sub, account, name, email, email_index, company, first_seen_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (tenant_id, sub) DO UPDATE SET \
             account = COALESCE(excluded.account, customers.account), name = COALESCE(excluded.name, customers.name), \
             email = COALESCE(excluded.email, customers.email), email_index = COALESCE(excluded.email_index, customers.email_index), \
             company = COALESCE(excluded.company, customers.company), \
             first_seen_ms = CASE WHEN excluded.first_seen_ms < customers.first_seen_ms THEN excluded.first_seen_ms ELSE customers.first_seen_ms END, \
             last_seen_ms = CASE WHEN excluded.last_seen_ms > customers.last_seen_ms THEN excluded.last_seen_ms ELSE customers.last_seen_ms END",
        )
        .bind(&c.tenant_id)
        .bind(&c.sub)
        .bind(&c.account)
        .bind(&c.name)
        .bind(&c.email_sealed)
        .bind(&c.email_index)
        .bind(&c.company)
        .bind(c.seen_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn customer(&self, tenant: &str, sub: &str) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CUSTOMER_COLS} FROM customers WHERE tenant_id = $1 AND sub = $2"))
            .bind(tenant)
            .bind(sub)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(customer_from).transpose()?)
    }

    async fn customers(
        &self,
        tenant: &str,
        segment: Option<&str>,
        order: CustomerOrder,
        after: Option<&CustomerCursor>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError> {
        let (cmp, dir) = match order {
            CustomerOrder::StrengthAsc => (">", "ASC"),
            CustomerOrder::StrengthDesc => ("<", "DESC"),
        };
        let mut sql = format!("SELECT {CUSTOMER_COLS} FROM customers WHERE tenant_id = $1");
        let mut n = 1;
        if segment.is_some() {
            n += 1;
            sql += &format!(" AND segment = ${n}");
        }
        if after.is_some() {
            sql += &format!(" AND (strength {cmp} ${} OR (strength = ${} AND sub {cmp} ${}))", n + 1, n + 1, n + 2);
            n += 2;
        }
        sql += &format!(" ORDER BY strength {dir}, sub {dir} LIMIT ${}", n + 1);
        let mut q = sqlx::query(&sql).bind(tenant);
        if let Some(s) = segment {
            q = q.bind(s);
        }
        if let Some(c) = after {
            q = q.bind(c.strength).bind(&c.sub);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(customer_from).collect::<Result<_, _>>()?)
    }

    async fn customer_facts(&self, tenant: &str, sub: Option<&str>, now_ms: i64) -> Result<Vec<CustomerFacts>, StoreError> {
        use std::collections::HashMap;
        const DAY: i64 = 86_400_000;
        let only = if sub.is_some() { " AND sub = $2" } else { "" };
        let sql = format!("SELECT sub, account, first_seen_ms, last_seen_ms, strength FROM customers WHERE tenant_id = $1{only}");
        let mut q = sqlx::query_as::<_, (String, Option<String>, i64, i64, f64)>(&sql).bind(tenant);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        let mut facts: Vec<CustomerFacts> = q
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(sub, account, first_seen_ms, last_seen_ms, strength)| CustomerFacts {
                sub,
                account,
                first_seen_ms,
                last_seen_ms,
                strength,
                ..Default::default()
            })
            .collect();
        if facts.is_empty() {
            return Ok(facts);
        }
        let index: HashMap<String, usize> = facts.iter().enumerate().map(|(i, f)| (f.sub.clone(), i)).collect();
        let only_user = if sub.is_some() { " AND user_sub = $3" } else { "" };
        let since = now_ms - 30 * DAY;

        let sql = format!(
            "SELECT user_sub, CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT started_ms / {DAY}) AS BIGINT) FROM sessions \
             WHERE tenant_id = $1 AND started_ms >= $2 AND user_sub IS NOT NULL{only_user} GROUP BY user_sub"
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64)>(&sql).bind(tenant).bind(since);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        for (u, n, days) in q.fetch_all(&self.pool).await? {
            if let Some(&i) = index.get(&u) {
                (facts[i].sessions_30d, facts[i].active_days_30d) = (n, days);
            }
        }

        let sql = format!(
            "SELECT user_sub, emotion, CAST(SUM(confidence) AS DOUBLE PRECISION) FROM detections \
             WHERE tenant_id = $1 AND created_ms >= $2 AND user_sub IS NOT NULL{only_user} GROUP BY user_sub, emotion"
        );
        let mut q = sqlx::query_as::<_, (String, String, f64)>(&sql).bind(tenant).bind(since);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        for (u, emotion, conf) in q.fetch_all(&self.pool).await? {
            if let Some(&i) = index.get(&u) {
                facts[i].detections_30d.push((emotion, conf));
            }
        }

        let only_ctx = if sub.is_some() { " AND sub = $3" } else { "" };
        let sql = format!("SELECT sub, state FROM contexts WHERE tenant_id = $1 AND expires_ms > $2{only_ctx} ORDER BY set_ms, id");
        let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(tenant).bind(now_ms);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        for (u, state) in q.fetch_all(&self.pool).await? {
            if let Some(&i) = index.get(&u) {
                facts[i].context = Some(state); // ordered oldest first: the newest wins
            }
        }

        let account_filter = match sub.and_then(|_| facts[0].account.clone()) {
            Some(a) => Some(a),
            None if sub.is_some() => return Ok(facts),
            None => None,
        };
        let only_acct = if account_filter.is_some() { " AND account = $4" } else { "" };
        let sql = format!(
            "SELECT account, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount_cents) AS BIGINT), \
             CAST(SUM(CASE WHEN at_ms >= $2 THEN amount_cents ELSE 0 END) AS BIGINT), \
             CAST(COUNT(DISTINCT CASE WHEN at_ms >= $3 THEN at_ms / {} END) AS BIGINT) \
             FROM transactions WHERE tenant_id = $1{only_acct} GROUP BY account",
            30 * DAY
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64, i64, i64)>(&sql).bind(tenant).bind(now_ms - 90 * DAY).bind(now_ms - 360 * DAY);
        if let Some(a) = &account_filter {
            q = q.bind(a);
        }
        let accounts: HashMap<String, (i64, i64, i64, i64)> =
            q.fetch_all(&self.pool).await?.into_iter().map(|(a, n, ltv, r90, months)| (a, (n, ltv, r90, months))).collect();
        for f in &mut facts {
            if let Some(&(n, ltv, r90, months)) = f.account.as_ref().and_then(|a| accounts.get(a)) {
                (f.purchases, f.lifetime_value_cents, f.revenue_90d_cents, f.months_with_purchase_12m) = (n, ltv, r90, months);
            }
        }
        Ok(facts)
    }

    async fn set_strengths(&self, tenant: &str, rows: &[StrengthRow], at_ms: i64, day: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query("UPDATE customers SET strength = $1, segment = $2, factors = $3, scored_ms = $4 WHERE tenant_id = $5 AND sub = $6")
                .bind(r.score)
                .bind(&r.segment)
                .bind(&r.factors)
                .bind(at_ms)
                .bind(tenant)
                .bind(&r.sub)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO strength_snapshots (tenant_id, sub, day, score, factors) SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND sub = $2) \
                 ON CONFLICT (tenant_id, sub, day) DO UPDATE SET score = excluded.score, factors = excluded.factors",
            )
            .bind(tenant)
            .bind(&r.sub)
            .bind(day)
            .bind(r.score)
            .bind(&r.factors)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn snapshots(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<SnapshotRecord>, StoreError> {
        let rows = sqlx::query_as::<_, (i64, f64, String)>(
            "SELECT day, score, factors FROM strength_snapshots WHERE tenant_id = $1 AND sub = $2 ORDER BY day DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(sub)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, score, f)| SnapshotRecord { day, score, factors: serde_json::from_str(&f).unwrap_or_default() })
            .collect())
    }

    async fn segment_rows(&self, tenant: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as("SELECT segment, account FROM customers WHERE tenant_id = $1").bind(tenant).fetch_all(&self.pool).await?)
    }

    async fn add_context(&self, c: &ContextRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO contexts (id, tenant_id, sub, state, set_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING")
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.sub)
            .bind(&c.state)
            .bind(c.set_ms)
            .bind(c.expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn contexts(&self, tenant: &str, now_ms: i64, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<ContextRecord>, StoreError> {
        let page = if after.is_some() { " AND (set_ms < $3 OR (set_ms = $3 AND id < $4))" } else { "" };
        let lim = if after.is_some() { "$5" } else { "$3" };
        let sql = format!(
            "SELECT {CONTEXT_COLS} FROM contexts WHERE tenant_id = $1 AND expires_ms > $2{page} ORDER BY set_ms DESC, id DESC LIMIT {lim}"
        );
        let mut q = sqlx::query(&sql).bind(tenant).bind(now_ms);
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(context_from).collect::<Result<_, _>>()?)
    }

    async fn customer_contexts(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<ContextRecord>, StoreError> {
        let sql = format!("SELECT {CONTEXT_COLS} FROM contexts WHERE tenant_id = $1 AND sub = $2 ORDER BY set_ms DESC, id DESC LIMIT $3");
        let rows = sqlx::query(&sql).bind(tenant).bind(sub).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(context_from).collect::<Result<_, _>>()?)
    }

    async fn add_transactions(&self, tenant: &str, rows: &[TransactionRecord]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        let mut accounts = std::collections::HashSet::new();
        for r in rows {
            if accounts.insert(r.account.as_str()) {
                sqlx::query(
                    "INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $2) ON CONFLICT (tenant_id, account) DO NOTHING",
                )
                .bind(tenant)
                .bind(&r.account)
                .execute(&mut *tx)
                .await?;
            }
            let q = sqlx::query(
                "INSERT INTO transactions (tenant_id, host_id, account, amount_cents, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, host_id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&r.id)
            .bind(&r.account)
            .bind(r.amount_cents)
            .bind(r.at_ms);
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn transactions(
        &self,
        tenant: &str,
        account: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let mut sql = "SELECT host_id, account, amount_cents, at_ms FROM transactions WHERE tenant_id = $1".to_string();
        let mut n = 1;
        if account.is_some() {
            n += 1;
            sql += &format!(" AND account = ${n}");
        }
        if after.is_some() {
            sql += &format!(" AND (at_ms < ${} OR (at_ms = ${} AND host_id < ${}))", n + 1, n + 1, n + 2);
            n += 2;
        }
        sql += &format!(" ORDER BY at_ms DESC, host_id DESC LIMIT ${}", n + 1);
        let mut q = sqlx::query_as::<_, (String, String, i64, i64)>(&sql).bind(tenant);
        if let Some(a) = account {
            q = q.bind(a);
        }
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id, account, amount_cents, at_ms)| TransactionRecord { id, account, amount_cents, at_ms }).collect())
    }

    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (id, tenant_id, actor, action, target, details, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&e.id)
            .bind(&e.tenant_id)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(e.details.to_string())
            .bind(e.at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn audit_log(&self, tenant: &str, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let page = if after.is_some() { " AND (at_ms < $2 OR (at_ms = $2 AND id < $3))" } else { "" };
        let lim = if after.is_some() { "$4" } else { "$2" };
        let sql = format!(
            "SELECT id, tenant_id, actor, action, target, details, at_ms FROM audit_log WHERE tenant_id = $1{page} ORDER BY at_ms DESC, id DESC LIMIT {lim}"
        );
        let mut q = sqlx::query_as::<_, (String, String, String, String, String, String, i64)>(&sql).bind(tenant);
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(id, tenant_id, actor, action, target, details, at_ms)| AuditEntry {
                id,
                tenant_id,
                actor,
                action,
                target,
                details: serde_json::from_str(&details).unwrap_or_default(),
                at_ms,
            })
            .collect())
    }

    async fn snapshots_since(&self, tenant: &str, since_day: i64) -> Result<Vec<(String, i64, f64)>, StoreError> {
        Ok(sqlx::query_as("SELECT sub, day, score FROM strength_snapshots WHERE tenant_id = $1 AND day >= $2")
            .bind(tenant)
            .bind(since_day)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn session_interventions(&self, tenant: &str, session: &str) -> Result<Vec<InterventionRecord>, StoreError> {
        let rows = sqlx::query_as::<_, (String, String, String, i64, String, String, i64)>(
            "SELECT id, tenant_id, session, seq, emotion, text, created_ms FROM interventions WHERE tenant_id = $1 AND session = $2 ORDER BY created_ms",
        )
        .bind(tenant)
        .bind(session)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, tenant_id, session, seq, emotion, text, created_ms)| InterventionRecord {
                id,
                tenant_id,
                session,
                seq,
                emotion,
                text,
                created_ms,
            })
            .collect())
    }

    async fn session_alerts(&self, tenant: &str, session: &str) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, session, contact_id, channel, address, status, provider_id, error, attempts, link, created_ms, escalation_id, attempt_log \
             FROM alerts WHERE tenant_id = $1 AND session = $2 ORDER BY created_ms",
        )
        .bind(tenant)
        .bind(session)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from).collect::<Result<_, _>>()?)
    }

    async fn user_detections(&self, tenant: &str, sub: &str, since_ms: i64, limit: i64) -> Result<Vec<DetectionRecord>, StoreError> {
        let sql = format!(
            "SELECT {DETECTION_COLS} FROM detections WHERE tenant_id = $1 AND user_sub = $2 AND created_ms >= $3 ORDER BY created_ms DESC, seq DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql).bind(tenant).bind(sub).bind(since_ms).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(detection_from).collect::<Result<_, _>>()?)
    }

    async fn account_customers(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT sub FROM customers WHERE tenant_id = $1 AND account = $2")
            .bind(tenant)
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    async fn set_intervention_policy(&self, tenant: &str, holdout_share: f64, outcome_window_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET holdout_share = $1, outcome_window_ms = $2 WHERE id = $3")
            .bind(holdout_share)
            .bind(outcome_window_ms)
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn all_variants(&self) -> Result<Vec<(String, VariantRecord)>, StoreError> {
        let rows: Vec<(String, String, String, String, String, String, i64)> =
            sqlx::query_as("SELECT tenant_id, id, emotion, section, kind, text, created_ms FROM variants ORDER BY created_ms, id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(t, id, emotion, section, kind, text, created_ms)| (t, VariantRecord { id, emotion, section, kind, text, created_ms }))
            .collect())
    }

    async fn add_variant(&self, tenant: &str, v: &VariantRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO variants (tenant_id, id, emotion, section, kind, text, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .bind(tenant)
        .bind(&v.id)
        .bind(&v.emotion)
        .bind(&v.section)
        .bind(&v.kind)
        .bind(&v.text)
        .bind(v.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_variant(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM variants WHERE tenant_id = $1 AND id = $2").bind(tenant).bind(id).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }

    async fn all_arms(&self) -> Result<Vec<ArmRow>, StoreError> {
        Ok(sqlx::query_as("SELECT tenant_id, emotion, section, variant_id, successes, failures FROM arms").fetch_all(&self.pool).await?)
    }

    async fn insert_decision(&self, d: &DecisionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO decisions (id, tenant_id, session, seq, sub, emotion, section, holdout, variant_id, holdout_share, decision, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&d.id)
        .bind(&d.tenant_id)
        .bind(&d.session)
        .bind(d.seq)
        .bind(&d.sub)
        .bind(&d.emotion)
        .bind(&d.section)
        .bind(d.holdout as i64)
        .bind(&d.variant_id)
        .bind(d.holdout_share)
        .bind(d.decision.to_string())
        .bind(d.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_outcome(
        &self,
        tenant: &str,
        who: OutcomeFor<'_>,
        since_ms: i64,
        outcome: &str,
        converted: bool,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let (col, id) = match who {
            OutcomeFor::Session(s) => ("session", s),
            OutcomeFor::Person(u) => ("sub", u),
        };
        // The write comes first (one UPDATE picking the newest open decision, RETURNING it): a
        // transaction that read first could not upgrade to a write on SQLite while another
        // connection wrote meanwhile ("database is locked").
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, String, String, i64, Option<String>)> = sqlx::query_as(&format!(
            "UPDATE decisions SET outcome = $1, converted = $2, outcome_ms = $3 WHERE tenant_id = $4 AND outcome IS NULL AND id = \
             (SELECT id FROM decisions WHERE tenant_id = $4 AND {col} = $5 AND created_ms >= $6 AND outcome IS NULL \
             ORDER BY created_ms DESC, id DESC LIMIT 1) RETURNING id, emotion, section, holdout, variant_id"
        ))
        .bind(outcome)
        .bind(converted as i64)
        .bind(at_ms)
        .bind(tenant)
        .bind(id)
        .bind(since_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((decision, emotion, section, holdout, variant)) = row else { return Ok(None) };
        if let (0, Some(v)) = (holdout, variant) {
            let (s, f) = if converted { (1i64, 0i64) } else { (0, 1) };
            sqlx::query(
                "INSERT INTO arms (tenant_id, emotion, section, variant_id, successes, failures) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant_id, emotion, section, variant_id) DO UPDATE SET successes = arms.successes + excluded.successes, \
                 failures = arms.failures + excluded.failures",
            )
            .bind(tenant)
            .bind(&emotion)
            .bind(&section)
            .bind(&v)
            .bind(s)
            .bind(f)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(decision))
    }

    async fn uplift_counts(&self, tenant: &str, until_ms: i64) -> Result<UpliftCounts, StoreError> {
        Ok(sqlx::query_as(
            "SELECT emotion, \
             CAST(SUM(CASE WHEN holdout = 0 AND converted = 1 THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN holdout = 0 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN holdout = 1 AND converted = 1 THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN holdout = 1 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM decisions WHERE tenant_id = $1 AND (created_ms < $2 OR outcome IS NOT NULL) GROUP BY emotion ORDER BY emotion",
        )
        .bind(tenant)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn insert_card(&self, c: &CardRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cards (id, tenant_id, session, sub, emotion, section, opener, state, outcome, actor, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.session)
        .bind(&c.sub)
        .bind(&c.emotion)
        .bind(&c.section)
        .bind(&c.opener)
        .bind(&c.state)
        .bind(&c.outcome)
        .bind(&c.actor)
        .bind(c.created_ms)
        .bind(c.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cards(
        &self,
        tenant: &str,
        state: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<CardRecord>, StoreError> {
        let mut sql = "SELECT id, tenant_id, session, sub, emotion, section, opener, state, outcome, actor, created_ms, updated_ms FROM cards WHERE tenant_id = $1".to_string();
        let mut n = 1;
        if state.is_some() {
            n += 1;
            sql += &format!(" AND state = ${n}");
        }
        if after.is_some() {
            sql += &format!(" AND (created_ms < ${} OR (created_ms = ${} AND id < ${}))", n + 1, n + 1, n + 2);
            n += 2;
        }
        sql += &format!(" ORDER BY created_ms DESC, id DESC LIMIT ${}", n + 1);
        let mut q = sqlx::query(&sql).bind(tenant);
        if let Some(st) = state {
            q = q.bind(st);
        }
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        let f = |r: &AnyRow| -> Result<CardRecord, sqlx::Error> {
            Ok(CardRecord {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                session: r.try_get("session")?,
                sub: r.try_get("sub")?,
                emotion: r.try_get("emotion")?,
                section: r.try_get("section")?,
                opener: r.try_get("opener")?,
                state: r.try_get("state")?,
                outcome: r.try_get("outcome")?,
                actor: r.try_get("actor")?,
                created_ms: r.try_get("created_ms")?,
                updated_ms: r.try_get("updated_ms")?,
            })
        };
        Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
    }

    async fn card_exists(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM cards WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    #[allow(clippy::too_many_arguments)]
    async fn move_card(
        &self,
        tenant: &str,
        id: &str,
        from: &[&str],
        to: &str,
        outcome: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let states: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 7)).collect();
        let sql = format!(
            "UPDATE cards SET state = $1, outcome = COALESCE($2, outcome), actor = $3, updated_ms = $4 WHERE tenant_id = $5 AND id = $6 AND state IN ({})",
            states.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(to).bind(outcome).bind(actor).bind(at_ms).bind(tenant).bind(id);
        for f in from {
            q = q.bind(*f);
        }
        Ok(q.execute(&self.pool).await?.rows_affected() == 1)
    }

    async fn sealed_fields(&self, column: SealedColumn) -> Result<Vec<(String, String, String)>, StoreError> {
        let (table, id, col) = column.sql();
        Ok(sqlx::query_as(&format!("SELECT tenant_id, {id}, {col} FROM {table} WHERE {col} IS NOT NULL")).fetch_all(&self.pool).await?)
    }

    async fn replace_sealed(&self, column: SealedColumn, tenant: &str, row: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        let (table, id, col) = column.sql();
        let r = sqlx::query(&format!("UPDATE {table} SET {col} = $1 WHERE tenant_id = $2 AND {id} = $3 AND {col} = $4"))
            .bind(new)
            .bind(tenant)
            .bind(row)
            .bind(old)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn sessions_of(&self, tenant: &str, sub: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query_as::<_, (String, String, Option<String>, Option<String>, String, i64)>(
            "SELECT tenant_id, session, user_sub, account, page, started_ms FROM sessions WHERE tenant_id = $1 AND user_sub = $2 ORDER BY started_ms",
        )
        .bind(tenant)
        .bind(sub)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant_id, session, user, account, page, started_ms)| SessionRecord {
                tenant_id,
                session,
                user,
                account,
                page,
                started_ms,
            })
            .collect())
    }

    async fn insert_escalation(&self, e: &EscalationRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO escalations (id, tenant_id, session, seq, sub, person_name, account_name, emotion, section, confidence, \
             value_cents, state, step, next_at_ms, claimed_by, claim_until_ms, acked_by, acked_ms, detected_ms, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&e.id)
        .bind(&e.tenant_id)
        .bind(&e.session)
        .bind(e.seq)
        .bind(&e.sub)
        .bind(&e.person_name)
        .bind(&e.account_name)
        .bind(&e.emotion)
        .bind(&e.section)
        .bind(e.confidence)
        .bind(e.value_cents)
        .bind(&e.state)
        .bind(e.step)
        .bind(e.next_at_ms)
        .bind(&e.claimed_by)
        .bind(e.claim_until_ms)
        .bind(&e.acked_by)
        .bind(e.acked_ms)
        .bind(e.detected_ms)
        .bind(e.created_ms)
        .bind(e.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn due_escalations(&self, now_ms: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM escalations WHERE state = 'open' AND next_at_ms <= $1 AND claim_until_ms < $1 ORDER BY next_at_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn claim_escalation(&self, id: &str, instance: &str, now_ms: i64, until_ms: i64) -> Result<Option<EscalationRecord>, StoreError> {
        // One conditional UPDATE: PostgreSQL re-checks the condition on the row it locked and
        // SQLite serialises writers, so two instances cannot both see their claim succeed.
        let r = sqlx::query(
            "UPDATE escalations SET claimed_by = $2, claim_until_ms = $3, updated_ms = $4 \
             WHERE id = $1 AND state = 'open' AND next_at_ms <= $4 AND claim_until_ms < $4",
        )
        .bind(id)
        .bind(instance)
        .bind(until_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        let row =
            sqlx::query(&format!("SELECT {ESCALATION_COLS} FROM escalations WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(escalation_from).transpose()?)
    }

    async fn advance_escalation(
        &self,
        id: &str,
        instance: &str,
        step: i64,
        next_at_ms: i64,
        state: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE escalations SET step = $3, next_at_ms = $4, state = $5, claimed_by = NULL, claim_until_ms = 0, updated_ms = $6 \
             WHERE id = $1 AND claimed_by = $2 AND state = 'open'",
        )
        .bind(id)
        .bind(instance)
        .bind(step)
        .bind(next_at_ms)
        .bind(state)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn acknowledge_escalation(
        &self,
        tenant: &str,
        id: &str,
        who: &str,
        now_ms: i64,
    ) -> Result<Option<(bool, EscalationRecord)>, StoreError> {
        let r = sqlx::query(
            "UPDATE escalations SET state = 'acknowledged', acked_by = $3, acked_ms = $4, updated_ms = $4 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
        )
        .bind(tenant)
        .bind(id)
        .bind(who)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(self.escalation(tenant, id).await?.map(|e| (r.rows_affected() == 1, e)))
    }

    async fn escalation(&self, tenant: &str, id: &str) -> Result<Option<EscalationRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ESCALATION_COLS} FROM escalations WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(escalation_from).transpose()?)
    }

    async fn escalations(
        &self,
        tenant: &str,
        state: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<EscalationRecord>, StoreError> {
        let mut sql = format!("SELECT {ESCALATION_COLS} FROM escalations WHERE tenant_id = $1");
        let mut n = 1;
        if state.is_some() {
            n += 1;
            sql += &format!(" AND state = ${n}");
        }
        if after.is_some() {
            sql += &format!(" AND (created_ms < ${} OR (created_ms = ${} AND id < ${}))", n + 1, n + 1, n + 2);
            n += 2;
        }
        sql += &format!(" ORDER BY created_ms DESC, id DESC LIMIT ${}", n + 1);
        let mut q = sqlx::query(&sql).bind(tenant);
        if let Some(st) = state {
            q = q.bind(st);
        }
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(escalation_from).collect::<Result<_, _>>()?)
    }

    async fn erased_at(&self, tenant: &str, person_ref: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT at_ms FROM erasures WHERE tenant_id = $1 AND person = $2")
            .bind(tenant)
            .bind(person_ref)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(t,)| t))
    }

    async fn erase_person(&self, tenant: &str, sub: &str, person_ref: &str, at_ms: i64) -> Result<Removed, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO erasures (tenant_id, person, at_ms) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, person) DO UPDATE SET at_ms = excluded.at_ms")
            .bind(tenant)
            .bind(person_ref)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        let sessions: Vec<(String,)> = sqlx::query_as("SELECT session FROM sessions WHERE tenant_id = $1 AND user_sub = $2")
            .bind(tenant)
            .bind(sub)
            .fetch_all(&mut *tx)
            .await?;
        let (mut interventions, mut alerts, mut detections, mut decisions, mut cards) = (0, 0, 0, 0, 0);
        for (s,) in &sessions {
            for (table, n) in [
                ("interventions", &mut interventions),
                ("alerts", &mut alerts),
                ("detections", &mut detections),
                ("decisions", &mut decisions),
                ("cards", &mut cards),
            ] {
                *n += sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND session = $2"))
                    .bind(tenant)
                    .bind(s)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        detections += sqlx::query("DELETE FROM detections WHERE tenant_id = $1 AND user_sub = $2")
            .bind(tenant)
            .bind(sub)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut escalations = 0;
        for (table, n) in [("decisions", &mut decisions), ("cards", &mut cards), ("escalations", &mut escalations)] {
            *n += sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND sub = $2"))
                .bind(tenant)
                .bind(sub)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let mut removed = vec![
            ("interventions", interventions),
            ("alerts", alerts),
            ("detections", detections),
            ("decisions", decisions),
            ("cards", cards),
            ("escalations", escalations),
        ];
        // The customer row first: a strength recomputation racing with the erasure either
        // finishes before (and its snapshot is deleted below) or finds no customer and writes
        // nothing (`set_strengths` only snapshots existing customers).
        for (table, col) in [("customers", "sub"), ("sessions", "user_sub"), ("contexts", "sub"), ("strength_snapshots", "sub")] {
            let n = sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND {col} = $2"))
                .bind(tenant)
                .bind(sub)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            removed.push((table, n));
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn purge_before(&self, tenant: &str, cutoff_ms: i64) -> Result<Removed, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut removed = Vec::new();
        for (table, col) in [
            ("interventions", "created_ms"),
            ("alerts", "created_ms"),
            ("decisions", "created_ms"),
            ("cards", "created_ms"),
            ("escalations", "created_ms"),
            ("detections", "created_ms"),
            ("sessions", "started_ms"),
            ("contexts", "expires_ms"),
            ("customers", "last_seen_ms"),
        ] {
            let n = sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND {col} < $2"))
                .bind(tenant)
                .bind(cutoff_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            removed.push((table, n));
        }
        let n = sqlx::query("DELETE FROM strength_snapshots WHERE tenant_id = $1 AND day < $2")
            .bind(tenant)
            .bind(cutoff_ms.div_euclid(86_400_000))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        removed.push(("strength_snapshots", n));
        tx.commit().await?;
        Ok(removed)
    }
}
