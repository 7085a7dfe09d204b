//! [`SqlStore`]: every role of the store in portable SQL over sqlx's `Any` driver (SQLite or
//! PostgreSQL); one file per role. What the roles share lives here: which columns hold a record
//! ([`Columns`], read by `FromRow` and written by [`insert`]), the tenant's list query with its
//! keyset pages ([`Select`]), and running a statement for whether it changed a row
//! ([`changed_one`]).

use std::marker::PhantomData;

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Arguments, Encode, Executor, FromRow, Row, Type};

use super::*;
use crate::records::events::Event;

/// The SQL store (SQLite or PostgreSQL).
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    /// PostgreSQL (else SQLite): how [`AuditStore::erase_person`] and
    /// [`AuditStore::write_unless_erased`] exclude each other.
    postgres: bool,
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
        let sqlite = url.starts_with("sqlite");
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Every connection (pragmas are per connection): wait for the writer
                        // rather than fail, and in WAL mode sync at checkpoints, not at every
                        // commit: a commit survives the process dying (what an ack promises with
                        // the embedded store), not the machine losing power.
                        sqlx::Executor::execute(&mut *conn, "PRAGMA busy_timeout = 5000").await?;
                        sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(SqlStore { pool, postgres: !sqlite })
    }
}

/// A record stored whole in the columns of one table.
trait Columns: for<'r> FromRow<'r, AnyRow> + Send + Sync + Unpin {
    /// Its columns, comma-separated, as `SELECT` and `INSERT` name them.
    const COLS: &'static str;
    /// Its fields, bound in the order of [`Columns::COLS`].
    fn args(&self) -> Result<AnyArguments<'_>, BoxDynError>;
}

/// `SELECT` the columns of `T` `FROM` the rest (`"users WHERE id = $1"`).
fn select<T: Columns>(from: &str) -> String {
    format!("SELECT {} FROM {from}", T::COLS)
}

/// `INSERT INTO {table}` the columns of a record `VALUES` its fields, then `tail` (`ON
/// CONFLICT …`); how many rows it changed.
async fn insert<'c, T: Columns>(e: impl Executor<'c, Database = Any>, table: &str, row: &T, tail: &str) -> Result<u64, StoreError> {
    let args = row.args().map_err(sqlx::Error::Encode)?;
    let values: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
    let sql = format!("INSERT INTO {table} ({}) VALUES ({}) {tail}", T::COLS, values.join(", "));
    Ok(sqlx::query_with(sql.trim_end(), args).execute(e).await?.rows_affected())
}

/// The placeholders of a multi-row `VALUES`: `rows` rows of `cols` each, numbered row by row
/// (`($1, $2), ($3, $4)` for two rows of two), the order the rows' fields are bound in.
fn value_rows(rows: usize, cols: usize) -> String {
    let row = |r: usize| {
        let fields: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
        format!("({})", fields.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// Writes one durable event's row as the store's method for its kind does (a row already there is
/// left or merged the same way), on `e`: the pool, or a transaction's connection.
async fn write_event<'c>(e: impl Executor<'c, Database = Any>, ev: &Event) -> Result<(), StoreError> {
    match ev {
        Event::Session(s) => insert(e, "sessions", s, sessions::SESSION_UPSERT).await?,
        Event::Detection(d) => insert(e, "detections", d, "ON CONFLICT (tenant_id, session, seq) DO NOTHING").await?,
        Event::Intervention(i) => insert(e, "interventions", i, "ON CONFLICT (id) DO NOTHING").await?,
        Event::Alert(a) => insert(e, "alerts", a, "ON CONFLICT (id) DO NOTHING").await?,
        Event::Customer(c) => customers::customer_seen(e, c).await?,
        Event::Context(c) => insert(e, "contexts", c, "ON CONFLICT (id) DO NOTHING").await?,
        Event::Erosion(_) => 0,
        Event::Decision(d) => learning::insert_decision(e, d).await?,
        Event::Card(c) => insert(e, "cards", c, "ON CONFLICT (id) DO NOTHING").await?,
        Event::Frame(f) => sqlx::query(
            "INSERT INTO frames (tenant_id, session, seq, kind, received_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, session, seq) DO NOTHING",
        )
        .bind(&f.tenant_id)
        .bind(&f.session)
        .bind(f.seq)
        .bind(&f.kind)
        .bind(f.received_ms)
        .execute(e)
        .await?
        .rows_affected(),
    };
    Ok(())
}

/// Declares, record by record, which column holds each field: `field` the column of that name,
/// `field: column` another one; `=> codec` (`json`, `key_kind`) when the column holds the field
/// as `codec::write` writes it and `codec::read` reads it back; after a `;`, fields that no
/// column holds, with their value. Each record gets [`Columns`] and [`FromRow`].
macro_rules! columns {
    (@col $field:ident) => { stringify!($field) };
    (@col $field:ident $col:ident) => { stringify!($col) };
    (@get $r:ident, $col:expr) => { $r.try_get($col)? };
    (@get $r:ident, $col:expr, $codec:ident) => { $codec::read($r, $col)? };
    (@put $v:expr) => { &$v };
    (@put $v:expr, $codec:ident) => { $codec::write(&$v) };
    (@one $ty:ident {
        $f0:ident $(: $c0:ident)? $(=> $d0:ident)?
        $(, $f:ident $(: $c:ident)? $(=> $d:ident)?)* $(,)?
        $(; $($extra:ident: $value:expr),+)?
    }) => {
        impl Columns for $ty {
            const COLS: &'static str = concat!(columns!(@col $f0 $($c0)?) $(, ", ", columns!(@col $f $($c)?))*);

            fn args(&self) -> Result<AnyArguments<'_>, BoxDynError> {
                let mut args = AnyArguments::default();
                args.add(columns!(@put self.$f0 $(, $d0)?))?;
                $(args.add(columns!(@put self.$f $(, $d)?))?;)*
                Ok(args)
            }
        }

        impl<'r> FromRow<'r, AnyRow> for $ty {
            fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
                Ok($ty {
                    $f0: columns!(@get r, columns!(@col $f0 $($c0)?) $(, $d0)?),
                    $($f: columns!(@get r, columns!(@col $f $($c)?) $(, $d)?),)*
                    $($($extra: $value,)+)?
                })
            }
        }
    };
    ($($ty:ident { $($body:tt)* })*) => { $(columns!(@one $ty { $($body)* });)* };
}

columns! {
    Tenant {
        id, name, site_key, secret_key_hash, jwt_secret, created_ms, thresholds, token_policy, retention_days, holdout_share,
        outcome_window_ms
    }
    Account { account, name, value_cents, recent_cents }
    ApiKey { id, tenant_id, kind => name, lookup, hint, created_ms, revoked_ms }
    User { id, tenant_id, email_index, email_sealed: email, password_hash, role, created_ms }
    Customer {
        sub, account, name, email_sealed: email, company, first_seen_ms, last_seen_ms, strength, segment, factors => json, scored_ms
    }
    ContextRecord { id, tenant_id, sub, state => name, set_ms, expires_ms }
    SnapshotRecord { day, score, factors => json }
    SessionRecord { tenant_id, session, user: user_sub, account, page, started_ms, active_minutes }
    DetectionRecord {
        tenant_id, session, seq, emotion => name, confidence, client_confidence, section, user: user_sub, user_name, account, account_name,
        value_cents, features => json, evidence, t_ms, created_ms
    }
    InterventionRecord { id, tenant_id, session, seq, emotion => name, text, created_ms }
    AlertRecord {
        id, tenant_id, session, contact_id, channel, address, status, provider_id, error, attempts, link, created_ms, escalation_id,
        attempt_log => json
    }
    VariantRecord { id, emotion => name, section, kind, text, created_ms }
    CardRecord { id, tenant_id, session, sub, emotion => name, section, opener, state => name, outcome, actor, created_ms, updated_ms }
    Contact { id, position, name, role, channel, address, min_value_cents; fallbacks: Vec::new() }
    EscalationRecord {
        id, tenant_id, session, seq, sub, person_name, account_name, emotion => name, section, confidence, value_cents, state => name, step,
        next_at_ms, claimed_by, claim_until_ms, acked_by, acked_ms, detected_ms, created_ms, updated_ms
    }
    AuditEntry { id, tenant_id, actor, action, target, details => json, at_ms }
    TransactionRecord { id: host_id, account, amount_cents, at_ms }
}

/// JSON in a text column; text that does not parse reads as the default (JSON `null`).
mod json {
    use super::*;

    pub(super) fn read<T: serde::de::DeserializeOwned + Default>(r: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
        Ok(serde_json::from_str(&r.try_get::<String, _>(col)?).unwrap_or_default())
    }

    pub(super) fn write(v: &serde_json::Value) -> String {
        v.to_string()
    }
}

/// A [`Named`] value (emotion, state, key kind) by its name.
mod name {
    use super::*;

    pub(super) fn read<T: Named>(r: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
        let name: String = r.try_get(col)?;
        T::parse(&name).ok_or_else(|| sqlx::Error::Decode(format!("unknown {col} {name:?}").into()))
    }

    pub(super) fn write<T: Named>(v: &T) -> &'static str {
        v.name()
    }
}

/// A record with the tenant it belongs to (`tenant_id`), for reads across tenants.
fn with_tenant<T: Columns>(r: &AnyRow) -> Result<(String, T), sqlx::Error> {
    Ok((r.try_get("tenant_id")?, T::from_row(r)?))
}

/// Runs a statement; whether it changed exactly one row (it was new, it was there, it was in
/// the state the statement asked for).
async fn changed_one<'q, 'c>(q: Query<'q, Any, AnyArguments<'q>>, e: impl Executor<'c, Database = Any>) -> Result<bool, StoreError> {
    Ok(q.execute(e).await?.rows_affected() == 1)
}

/// How a list is ordered: by two keys, the second unique among equal firsts (an id), both in
/// one direction. A keyset page starts after the last row's pair.
#[derive(Clone, Copy, Debug)]
struct Order {
    keys: [&'static str; 2],
    desc: bool,
}

impl Order {
    /// Greatest first.
    const fn desc(first: &'static str, second: &'static str) -> Order {
        Order { keys: [first, second], desc: true }
    }

    /// Least first.
    const fn asc(first: &'static str, second: &'static str) -> Order {
        Order { keys: [first, second], desc: false }
    }
}

/// Newest first by creation time, then by id.
const NEWEST_CREATED: Order = Order::desc("created_ms", "id");

/// Where a keyset page starts: the `(first key, id)` of the last row of the page before.
trait Cursor: Sync {
    /// The first key's type.
    type Key: 'static + for<'q> Encode<'q, Any> + Type<Any> + Send;
    /// The pair.
    fn key(&self) -> (Self::Key, &str);
}

impl Cursor for TimeCursor {
    type Key = i64;
    fn key(&self) -> (i64, &str) {
        (self.ms, &self.id)
    }
}

impl Cursor for CustomerCursor {
    type Key = f64;
    fn key(&self) -> (f64, &str) {
        (self.strength, &self.sub)
    }
}

/// A query for one tenant's `T` rows of a table, built clause by clause: `SELECT cols FROM
/// table WHERE tenant_id = $1 [AND cond $n]… [AND keyset after the cursor] [ORDER BY … LIMIT
/// $n]`. It numbers its placeholders and binds their values itself, in the order it writes them.
struct Select<'a, T> {
    sql: String,
    args: Result<AnyArguments<'a>, BoxDynError>,
    n: usize,
    row: PhantomData<fn() -> T>,
}

impl<'a, T: Columns> Select<'a, T> {
    /// The tenant's rows of `table`.
    fn of(table: &str, tenant: &'a str) -> Self {
        let mut q = Select { sql: String::new(), args: Ok(AnyArguments::default()), n: 0, row: PhantomData };
        let p = q.bind(tenant);
        q.sql = select::<T>(&format!("{table} WHERE tenant_id = ${p}"));
        q
    }

    /// Binds `value` to the next placeholder; its number.
    fn bind(&mut self, value: impl 'a + Encode<'a, Any> + Type<Any>) -> usize {
        if let Err(e) = self.args.as_mut().map_or(Ok(()), |args| args.add(value)) {
            self.args = Err(e);
        }
        self.n += 1;
        self.n
    }

    /// ` AND {cond} $n`, `cond` ending in its operator (`"expires_ms >"`).
    fn and(mut self, cond: &str, value: impl 'a + Encode<'a, Any> + Type<Any>) -> Self {
        let p = self.bind(value);
        self.sql += &format!(" AND {cond} ${p}");
        self
    }

    /// [`Select::and`] when there is a value (`Some`), else nothing.
    fn and_some(self, cond: &str, value: Option<impl 'a + Encode<'a, Any> + Type<Any>>) -> Self {
        match value {
            Some(v) => self.and(cond, v),
            None => self,
        }
    }

    /// The page of at most `limit` rows in `order` after the cursor (from the first without
    /// one): ` AND (k1 < $a OR (k1 = $a AND k2 < $b)) ORDER BY k1 DESC, k2 DESC LIMIT $n`
    /// (`>` and `ASC` least first).
    fn page(mut self, order: Order, after: Option<&'a impl Cursor>, limit: i64) -> Self {
        if let Some((key, id)) = after.map(Cursor::key) {
            let ([k1, k2], cmp) = (order.keys, if order.desc { "<" } else { ">" });
            let (a, b) = (self.bind(key), self.bind(id));
            self.sql += &format!(" AND ({k1} {cmp} ${a} OR ({k1} = ${a} AND {k2} {cmp} ${b}))");
        }
        self.first(order, limit)
    }

    /// The first `limit` rows in `order`: ` ORDER BY k1 DESC, k2 DESC LIMIT $n`.
    fn first(mut self, order: Order, limit: i64) -> Self {
        let ([k1, k2], dir) = (order.keys, if order.desc { "DESC" } else { "ASC" });
        let p = self.bind(limit);
        self.sql += &format!(" ORDER BY {k1} {dir}, {k2} {dir} LIMIT ${p}");
        self
    }

    /// Every row the query selects.
    async fn fetch_all(self, pool: &AnyPool) -> Result<Vec<T>, StoreError> {
        Ok(sqlx::query_as_with(&self.sql, self.args.map_err(sqlx::Error::Encode)?).fetch_all(pool).await?)
    }

    /// The row the query selects, if any.
    async fn fetch_optional(self, pool: &AnyPool) -> Result<Option<T>, StoreError> {
        Ok(sqlx::query_as_with(&self.sql, self.args.map_err(sqlx::Error::Encode)?).fetch_optional(pool).await?)
    }
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

mod audit;
mod customers;
mod dashboard;
mod escalations;
mod learning;
mod sessions;
mod tenants;

#[cfg(test)]
mod tests;
