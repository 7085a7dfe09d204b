//! [`SqlStore`]: every role of the store in portable SQL over sqlx's `Any` driver (SQLite or
//! PostgreSQL); one file per role.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::*;

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

mod audit;
mod customers;
mod escalations;
mod learning;
mod sessions;
mod tenants;
