//! SQL of the sessions role.

use async_trait::async_trait;
use sqlx::Row;

use super::*;

#[async_trait]
impl SessionStore for SqlStore {
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
}
