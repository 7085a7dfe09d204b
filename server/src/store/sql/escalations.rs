//! SQL of the escalations role.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl EscalationStore for SqlStore {
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

    async fn contacts(&self, tenant: &str) -> Result<Vec<Contact>, StoreError> {
        let sql = select::<Contact>("contacts WHERE tenant_id = $1 ORDER BY position");
        let mut contacts: Vec<Contact> = sqlx::query_as(&sql).bind(tenant).fetch_all(&self.pool).await?;
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

    async fn delete_contact(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM contact_fallbacks WHERE tenant_id = $1 AND contact_id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted =
            changed_one(sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2").bind(tenant).bind(id), &mut *tx).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn insert_escalation(&self, e: &EscalationRecord) -> Result<bool, StoreError> {
        Ok(insert(&self.pool, "escalations", e, "ON CONFLICT (id) DO NOTHING").await? == 1)
    }

    async fn due_escalations(&self, now_ms: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM (SELECT id, next_at_ms, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY next_at_ms, id) AS turn \
             FROM escalations WHERE state = 'open' AND next_at_ms <= $1 AND claim_until_ms < $1) due \
             ORDER BY turn, next_at_ms, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn escalated_since(&self, tenant: &str, sub: &str, since_ms: i64) -> Result<bool, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM escalations WHERE tenant_id = $1 AND sub = $2 AND created_ms >= $3 LIMIT 1")
                .bind(tenant)
                .bind(sub)
                .bind(since_ms)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    async fn claim_escalation(&self, id: &str, instance: &str, now_ms: i64, until_ms: i64) -> Result<Option<EscalationRecord>, StoreError> {
        // One conditional UPDATE: PostgreSQL re-checks the condition on the row it locked and
        // SQLite serialises writers, so two instances cannot both see their claim succeed.
        let q = sqlx::query(
            "UPDATE escalations SET claimed_by = $2, claim_until_ms = $3, updated_ms = $4 \
             WHERE id = $1 AND state = 'open' AND next_at_ms <= $4 AND claim_until_ms < $4",
        );
        if !changed_one(q.bind(id).bind(instance).bind(until_ms).bind(now_ms), &self.pool).await? {
            return Ok(None);
        }
        Ok(sqlx::query_as(&select::<EscalationRecord>("escalations WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?)
    }

    async fn advance_escalation(
        &self,
        id: &str,
        instance: &str,
        step: i64,
        next_at_ms: i64,
        state: EscalationState,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE escalations SET step = $3, next_at_ms = $4, state = $5, claimed_by = NULL, claim_until_ms = 0, updated_ms = $6 \
             WHERE id = $1 AND claimed_by = $2 AND state = 'open'",
        )
        .bind(id)
        .bind(instance)
        .bind(step)
        .bind(next_at_ms)
        .bind(state.name())
        .bind(now_ms);
        changed_one(q, &self.pool).await
    }

    async fn acknowledge_escalation(
        &self,
        tenant: &str,
        id: &str,
        who: &str,
        now_ms: i64,
    ) -> Result<Option<(bool, EscalationRecord)>, StoreError> {
        let q = sqlx::query(
            "UPDATE escalations SET state = 'acknowledged', acked_by = $3, acked_ms = $4, updated_ms = $4 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
        );
        let acked = changed_one(q.bind(tenant).bind(id).bind(who).bind(now_ms), &self.pool).await?;
        Ok(self.escalation(tenant, id).await?.map(|e| (acked, e)))
    }

    async fn escalation(&self, tenant: &str, id: &str) -> Result<Option<EscalationRecord>, StoreError> {
        Select::of("escalations", tenant).and("id =", id).fetch_optional(&self.pool).await
    }

    async fn escalations(
        &self,
        tenant: &str,
        state: Option<EscalationState>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<EscalationRecord>, StoreError> {
        Select::of("escalations", tenant)
            .and_some("state =", state.map(EscalationState::name))
            .page(NEWEST_CREATED, after, limit)
            .fetch_all(&self.pool)
            .await
    }
}
