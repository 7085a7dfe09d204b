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
use serde::Serialize;
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

/// A tenant as the server needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tenant {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Publishable key the SDK sends in `Hello`.
    pub site_key: String,
    /// SHA-256 (hex) of the secret API key.
    pub secret_key_hash: String,
    /// HS256 secret the host signs visitor JWTs with.
    pub jwt_secret: String,
    /// Creation time, ms.
    pub created_ms: i64,
    /// The detector thresholds the tenant set, JSON (see `thresholds::Thresholds`).
    pub thresholds: String,
}

/// An account with its lifetime value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Account {
    /// The host's account id.
    pub account: String,
    /// Display name.
    pub name: String,
    /// Sum of the account's transactions, cents.
    pub value_cents: i64,
}

/// One person in a tenant's escalation chain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contact {
    /// Stable id.
    pub id: String,
    /// Order in the chain (0 = first paged).
    pub position: i64,
    /// Name.
    pub name: String,
    /// Role, e.g. `CEO`.
    pub role: String,
    /// `sms` (more channels come with the escalation issue).
    pub channel: String,
    /// Phone number (E.164) or other channel address.
    pub address: String,
}

/// A session's identity, recorded when it says hello.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// Tenant.
    pub tenant_id: String,
    /// Session id (16 hex digits).
    pub session: String,
    /// Verified `sub` of the visitor, if identified.
    pub user: Option<String>,
    /// Account of the visitor, if known.
    pub account: Option<String>,
    /// Page path.
    pub page: String,
    /// First hello, ms.
    pub started_ms: i64,
}

/// A server-confirmed detection.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DetectionRecord {
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: String,
    /// Frame sequence number (with the session: the idempotency key).
    pub seq: i64,
    /// Emotion name.
    pub emotion: String,
    /// Server-recomputed confidence, 0..1.
    pub confidence: f64,
    /// What the client claimed, 0..1.
    pub client_confidence: f64,
    /// Section name (empty when none).
    pub section: String,
    /// Visitor, if identified.
    pub user: Option<String>,
    /// The visitor's display name, if their token carried one.
    pub user_name: Option<String>,
    /// Account, if known.
    pub account: Option<String>,
    /// Account name, if known.
    pub account_name: Option<String>,
    /// Account lifetime value at detection time, cents (0 when unknown).
    pub value_cents: i64,
    /// The recomputed features.
    pub features: serde_json::Value,
    /// The evidence window as it arrived (postcard-encoded samples). The API leaves it out.
    pub evidence: Vec<u8>,
    /// Time of the trigger in the page, ms since page start.
    pub t_ms: i64,
    /// When the server confirmed it, ms since the epoch.
    pub created_ms: i64,
}

/// An intervention pushed to a page.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct InterventionRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: String,
    /// Sequence number of the detection it answers.
    pub seq: i64,
    /// Emotion answered.
    pub emotion: String,
    /// Text shown.
    pub text: String,
    /// Decision time, ms.
    pub created_ms: i64,
}

/// An alert to a human and how its delivery went.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AlertRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: String,
    /// Contact paged.
    pub contact_id: String,
    /// Channel used.
    pub channel: String,
    /// Address used.
    pub address: String,
    /// `sent` or `failed`.
    pub status: String,
    /// The provider's id of the message, when sent.
    pub provider_id: Option<String>,
    /// The last error, when failed.
    pub error: Option<String>,
    /// Delivery attempts made.
    pub attempts: i64,
    /// The signed session link in the message.
    pub link: String,
    /// Time, ms.
    pub created_ms: i64,
}

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
    /// One account with its lifetime value.
    async fn account(&self, tenant: &str, account: &str) -> Result<Option<Account>, StoreError>;
    /// Every account of every tenant with its value, as `(tenant, account)`.
    async fn all_accounts(&self) -> Result<Vec<(String, Account)>, StoreError>;
    /// Appends a contact to the tenant's escalation chain.
    async fn add_contact(&self, tenant: &str, c: &Contact) -> Result<(), StoreError>;
    /// The tenant's escalation chain, in order.
    async fn contacts(&self, tenant: &str) -> Result<Vec<Contact>, StoreError>;
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
    })
}

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

const ACCOUNT_VALUE_SQL: &str = "SELECT a.tenant_id, a.account, a.name, \
     CAST(COALESCE((SELECT SUM(t.amount_cents) FROM transactions t WHERE t.tenant_id = a.tenant_id AND t.account = a.account), 0) AS BIGINT) AS value_cents \
     FROM accounts a";

fn account_from(r: &AnyRow) -> Result<(String, Account), sqlx::Error> {
    Ok((
        r.try_get("tenant_id")?,
        Account { account: r.try_get("account")?, name: r.try_get("name")?, value_cents: r.try_get("value_cents")? },
    ))
}

#[async_trait]
impl Store for SqlStore {
    async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tenants (id, name, site_key, secret_key_hash, jwt_secret, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.site_key)
            .bind(&t.secret_key_hash)
            .bind(&t.jwt_secret)
            .bind(t.created_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT id, name, site_key, secret_key_hash, jwt_secret, created_ms, thresholds FROM tenants")
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

    async fn account(&self, tenant: &str, account: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("{ACCOUNT_VALUE_SQL} WHERE a.tenant_id = $1 AND a.account = $2");
        let row = sqlx::query(&sql).bind(tenant).bind(account).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(account_from).transpose()?.map(|(_, a)| a))
    }

    async fn all_accounts(&self) -> Result<Vec<(String, Account)>, StoreError> {
        let rows = sqlx::query(ACCOUNT_VALUE_SQL).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(account_from).collect::<Result<_, _>>()?)
    }

    async fn add_contact(&self, tenant: &str, c: &Contact) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO contacts (id, tenant_id, position, name, role, channel, address, created_ms) \
             VALUES ($1, $2, (SELECT COUNT(*) FROM contacts WHERE tenant_id = $2), $3, $4, $5, $6, $7)",
        )
        .bind(&c.id)
        .bind(tenant)
        .bind(&c.name)
        .bind(&c.role)
        .bind(&c.channel)
        .bind(&c.address)
        .bind(crate::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn contacts(&self, tenant: &str) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query("SELECT id, position, name, role, channel, address FROM contacts WHERE tenant_id = $1 ORDER BY position")
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
            })
        };
        Ok(rows.iter().map(c).collect::<Result<_, _>>()?)
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
            "INSERT INTO alerts (id, tenant_id, session, contact_id, channel, address, status, provider_id, error, attempts, link, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn detections(&self, tenant: &str, session: Option<&str>, limit: i64) -> Result<Vec<DetectionRecord>, StoreError> {
        let cols = "tenant_id, session, seq, emotion, confidence, client_confidence, section, user_sub, user_name, account, account_name, \
                    value_cents, features, evidence, t_ms, created_ms";
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
            "SELECT id, tenant_id, session, contact_id, channel, address, status, provider_id, error, attempts, link, created_ms \
             FROM alerts WHERE tenant_id = $1 ORDER BY created_ms DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let f = |r: &AnyRow| -> Result<AlertRecord, sqlx::Error> {
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
            })
        };
        Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
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
}
