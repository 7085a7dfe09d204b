//! SQL of the escalations role.

use async_trait::async_trait;
use sqlx::Row;

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
}
