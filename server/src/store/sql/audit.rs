//! SQL of the audit role.

use async_trait::async_trait;
use sqlx::AnyConnection;

use crate::records::events::Event;

use super::*;

#[async_trait]
impl AuditStore for SqlStore {
    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        insert(&self.pool, "audit_log", e, "").await?;
        Ok(())
    }

    async fn audit_log(&self, tenant: &str, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Select::of("audit_log", tenant).page(Order::desc("at_ms", "id"), after, limit).fetch_all(&self.pool).await
    }

    async fn sealed_fields(&self, column: SealedColumn) -> Result<Vec<(String, String, String)>, StoreError> {
        let ((table, id, col), tenant) = (column.sql(), column.tenant_column());
        let sql = format!("SELECT {tenant} AS tenant_id, {id} AS row_id, {col} FROM {table} WHERE {col} IS NOT NULL AND {col} <> ''");
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    async fn replace_sealed(&self, column: SealedColumn, tenant: &str, row: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        let ((table, id, col), tenant_col) = (column.sql(), column.tenant_column());
        let sql = format!("UPDATE {table} SET {col} = $1 WHERE {tenant_col} = $2 AND {id} = $3 AND {col} = $4");
        changed_one(sqlx::query(&sql).bind(new).bind(tenant).bind(row).bind(old), &self.pool).await
    }

    async fn erase_person(&self, tenant: &str, sub: &str, person_ref: &str, at_ms: i64) -> Result<Removed, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Waits for the events about the person being written (`write_unless_erased`): their
        // rows are committed, so the deletes below see them.
        self.exclude_writers(&mut tx, tenant, person_ref, "pg_advisory_xact_lock").await?;
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
                *n += delete_where(&mut tx, table, "session =", tenant, s.as_str()).await?;
            }
        }
        detections += delete_where(&mut tx, "detections", "user_sub =", tenant, sub).await?;
        let mut escalations = 0;
        for (table, n) in [("decisions", &mut decisions), ("cards", &mut cards), ("escalations", &mut escalations)] {
            *n += delete_where(&mut tx, table, "sub =", tenant, sub).await?;
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
            removed.push((table, delete_where(&mut tx, table, &format!("{col} ="), tenant, sub).await?));
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn write_unless_erased(&self, person_ref: &str, ev: &Event) -> Result<bool, StoreError> {
        let tenant = ev.tenant();
        let mut tx = self.pool.begin().await?;
        // PostgreSQL: an erasure of the person in progress is waited for; one that starts now
        // waits for this transaction (a shared lock: writers do not wait for each other).
        self.exclude_writers(&mut tx, tenant, person_ref, "pg_advisory_xact_lock_shared").await?;
        // The write before the check: on SQLite it takes the database's write lock, so no
        // erasure can commit between the check and the commit.
        write_event(&mut *tx, ev).await?;
        let erased: Option<(i64,)> = sqlx::query_as("SELECT at_ms FROM erasures WHERE tenant_id = $1 AND person = $2")
            .bind(tenant)
            .bind(person_ref)
            .fetch_optional(&mut *tx)
            .await?;
        if erased.is_some_and(|(at,)| at >= ev.at_ms()) {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn erased_at(&self, tenant: &str, person_ref: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT at_ms FROM erasures WHERE tenant_id = $1 AND person = $2")
            .bind(tenant)
            .bind(person_ref)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(t,)| t))
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
            ("false_positives", "created_ms"),
            ("dashboard_sessions", "expires_ms"),
            ("detections", "created_ms"),
            ("sessions", "started_ms"),
            ("session_secrets", "created_ms"),
            ("contexts", "expires_ms"),
            ("customers", "last_seen_ms"),
        ] {
            removed.push((table, delete_where(&mut tx, table, &format!("{col} <"), tenant, cutoff_ms).await?));
        }
        let day = cutoff_ms.div_euclid(86_400_000);
        removed.push(("strength_snapshots", delete_where(&mut tx, "strength_snapshots", "day <", tenant, day).await?));
        tx.commit().await?;
        Ok(removed)
    }
}

impl SqlStore {
    /// On PostgreSQL, takes the transaction-scoped advisory lock of `(tenant, person)` with
    /// `function` (`pg_advisory_xact_lock`: exclusive, for the erasure;
    /// `pg_advisory_xact_lock_shared`: for a write about the person), held until the transaction
    /// ends. On SQLite nothing: a transaction whose first statement writes holds the database's
    /// only write lock until it ends.
    async fn exclude_writers(&self, conn: &mut AnyConnection, tenant: &str, person_ref: &str, function: &str) -> Result<(), StoreError> {
        if self.postgres {
            use sha2::{Digest, Sha256};
            let h = Sha256::new().chain_update(b"siq-erasure\0").chain_update(tenant).chain_update([0]).chain_update(person_ref).finalize();
            let key = i64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
            // The lock function returns `void`, which the `Any` driver does not read: counted instead.
            let sql = format!("SELECT count(*) FROM (SELECT {function}($1)) AS locked");
            sqlx::query(&sql).bind(key).execute(conn).await?;
        }
        Ok(())
    }
}

/// `DELETE FROM {table} WHERE tenant_id = $1 AND {cond} $2`, `cond` ending in its operator; how
/// many rows went.
async fn delete_where<'q>(
    conn: &mut AnyConnection,
    table: &str,
    cond: &str,
    tenant: &'q str,
    value: impl 'q + Encode<'q, Any> + Type<Any> + Send,
) -> Result<u64, sqlx::Error> {
    let mut args = AnyArguments::default();
    args.add(tenant).map_err(sqlx::Error::Encode)?;
    args.add(value).map_err(sqlx::Error::Encode)?;
    let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND {cond} $2");
    Ok(sqlx::query_with(&sql, args).execute(conn).await?.rows_affected())
}
