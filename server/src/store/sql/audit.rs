//! SQL of the audit role.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl AuditStore for SqlStore {
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
