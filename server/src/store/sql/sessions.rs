//! SQL of the sessions role.

use async_trait::async_trait;

use super::*;

/// A session recorded again: the identity filled in, the most active minutes kept.
pub(super) const SESSION_UPSERT: &str =
    "ON CONFLICT (tenant_id, session) DO UPDATE SET user_sub = COALESCE(excluded.user_sub, sessions.user_sub), \
                              account = COALESCE(excluded.account, sessions.account), \
                              active_minutes = CASE WHEN excluded.active_minutes > sessions.active_minutes \
                              THEN excluded.active_minutes ELSE sessions.active_minutes END";

/// Detections, newest first.
const DETECTIONS_NEWEST: Order = Order::desc("created_ms", "seq");

#[async_trait]
impl SessionStore for SqlStore {
    async fn upsert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        insert(&self.pool, "sessions", s, SESSION_UPSERT).await?;
        Ok(())
    }

    async fn upsert_sessions(&self, sessions: &[SessionRecord]) -> Result<(), StoreError> {
        // One row per session in a statement (PostgreSQL refuses to update a row twice in one):
        // the records of a session merge as applying them in order would.
        let mut merged: Vec<SessionRecord> = Vec::new();
        let mut at: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
        for r in sessions {
            match at.get(&(r.tenant_id.as_str(), r.session.as_str())) {
                Some(&i) => {
                    let m = &mut merged[i];
                    if r.user.is_some() {
                        m.user.clone_from(&r.user);
                    }
                    if r.account.is_some() {
                        m.account.clone_from(&r.account);
                    }
                    m.active_minutes = m.active_minutes.max(r.active_minutes);
                }
                None => {
                    at.insert((r.tenant_id.as_str(), r.session.as_str()), merged.len());
                    merged.push(r.clone());
                }
            }
        }
        // Seven binds a row.
        for chunk in merged.chunks(200) {
            let sql = format!(
                "INSERT INTO sessions (tenant_id, session, user_sub, account, page, started_ms, active_minutes) VALUES {} {SESSION_UPSERT}",
                value_rows(chunk.len(), 7)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(&r.tenant_id)
                    .bind(&r.session)
                    .bind(&r.user)
                    .bind(&r.account)
                    .bind(&r.page)
                    .bind(r.started_ms)
                    .bind(r.active_minutes);
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn bind_session(
        &self,
        tenant: &str,
        session: &str,
        secret_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        if let Some(hash) = secret_hash {
            sqlx::query(
                "INSERT INTO session_secrets (tenant_id, session, secret_hash, created_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, session) DO NOTHING",
            )
            .bind(tenant)
            .bind(session)
            .bind(hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        }
        let row: Option<(String,)> = sqlx::query_as("SELECT secret_hash FROM session_secrets WHERE tenant_id = $1 AND session = $2")
            .bind(tenant)
            .bind(session)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(h,)| h))
    }

    async fn insert_detection(&self, d: &DetectionRecord) -> Result<bool, StoreError> {
        Ok(insert(&self.pool, "detections", d, "ON CONFLICT (tenant_id, session, seq) DO NOTHING").await? == 1)
    }

    async fn insert_frames(&self, frames: &[FrameRecord]) -> Result<u64, StoreError> {
        // Five binds a row: 400 rows stay far below SQLite's and PostgreSQL's bind limits.
        let mut new = 0;
        for chunk in frames.chunks(400) {
            let sql = format!(
                "INSERT INTO frames (tenant_id, session, seq, kind, received_ms) VALUES {} ON CONFLICT (tenant_id, session, seq) DO NOTHING",
                value_rows(chunk.len(), 5)
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q.bind(&f.tenant_id).bind(&f.session).bind(f.seq).bind(&f.kind).bind(f.received_ms);
            }
            new += q.execute(&self.pool).await?.rows_affected();
        }
        Ok(new)
    }

    async fn prune_frames(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM frames WHERE received_ms < $1").bind(before_ms).execute(&self.pool).await?.rows_affected())
    }

    async fn insert_intervention(&self, i: &InterventionRecord) -> Result<(), StoreError> {
        insert(&self.pool, "interventions", i, "ON CONFLICT (id) DO NOTHING").await?;
        Ok(())
    }

    async fn insert_alert(&self, a: &AlertRecord) -> Result<(), StoreError> {
        insert(&self.pool, "alerts", a, "ON CONFLICT (id) DO NOTHING").await?;
        Ok(())
    }

    async fn detections(&self, tenant: &str, session: Option<&str>, limit: i64) -> Result<Vec<DetectionRecord>, StoreError> {
        Select::of("detections", tenant).and_some("session =", session).first(DETECTIONS_NEWEST, limit).fetch_all(&self.pool).await
    }

    async fn interventions(&self, tenant: &str, limit: i64) -> Result<Vec<InterventionRecord>, StoreError> {
        let sql = select::<InterventionRecord>("interventions WHERE tenant_id = $1 ORDER BY created_ms DESC LIMIT $2");
        Ok(sqlx::query_as(&sql).bind(tenant).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn alerts(&self, tenant: &str, limit: i64) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = select::<AlertRecord>("alerts WHERE tenant_id = $1 ORDER BY created_ms DESC LIMIT $2");
        Ok(sqlx::query_as(&sql).bind(tenant).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn session(&self, tenant: &str, session: &str) -> Result<Option<SessionRecord>, StoreError> {
        Select::of("sessions", tenant).and("session =", session).fetch_optional(&self.pool).await
    }

    async fn session_interventions(&self, tenant: &str, session: &str) -> Result<Vec<InterventionRecord>, StoreError> {
        let sql = select::<InterventionRecord>("interventions WHERE tenant_id = $1 AND session = $2 ORDER BY created_ms");
        Ok(sqlx::query_as(&sql).bind(tenant).bind(session).fetch_all(&self.pool).await?)
    }

    async fn session_alerts(&self, tenant: &str, session: &str) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = select::<AlertRecord>("alerts WHERE tenant_id = $1 AND session = $2 ORDER BY created_ms");
        Ok(sqlx::query_as(&sql).bind(tenant).bind(session).fetch_all(&self.pool).await?)
    }

    async fn user_detections(&self, tenant: &str, sub: &str, since_ms: i64, limit: i64) -> Result<Vec<DetectionRecord>, StoreError> {
        Select::of("detections", tenant)
            .and("user_sub =", sub)
            .and("created_ms >=", since_ms)
            .first(DETECTIONS_NEWEST, limit)
            .fetch_all(&self.pool)
            .await
    }

    async fn sessions_of(&self, tenant: &str, sub: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = select::<SessionRecord>("sessions WHERE tenant_id = $1 AND user_sub = $2 ORDER BY started_ms");
        Ok(sqlx::query_as(&sql).bind(tenant).bind(sub).fetch_all(&self.pool).await?)
    }
}
