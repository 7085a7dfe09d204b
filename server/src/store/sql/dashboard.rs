//! SQL of the dashboard role: sign-in sessions, false-positive reports, the public failure
//! page's opt-in, and the reads of the revenue forensics and the failure page.

use async_trait::async_trait;

use super::*;

const SESSION_COLS: &str = "id, tenant_id, user_id, created_ms, expires_ms, revoked_ms";

fn dashboard_session(r: &AnyRow) -> Result<DashboardSessionRecord, sqlx::Error> {
    Ok(DashboardSessionRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        user_id: r.try_get("user_id")?,
        created_ms: r.try_get("created_ms")?,
        expires_ms: r.try_get("expires_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
    })
}

fn false_positive(r: &AnyRow) -> Result<FalsePositive, sqlx::Error> {
    Ok(FalsePositive {
        tenant_id: r.try_get("tenant_id")?,
        session: r.try_get("session")?,
        seq: r.try_get("seq")?,
        emotion: r.try_get("emotion")?,
        section: r.try_get("section")?,
        reporter: r.try_get("reporter")?,
        created_ms: r.try_get("created_ms")?,
    })
}

#[async_trait]
impl DashboardStore for SqlStore {
    async fn create_dashboard_session(&self, s: &DashboardSessionRecord) -> Result<(), StoreError> {
        sqlx::query(&format!("INSERT INTO dashboard_sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(&s.id)
            .bind(&s.tenant_id)
            .bind(&s.user_id)
            .bind(s.created_ms)
            .bind(s.expires_ms)
            .bind(s.revoked_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dashboard_session(&self, tenant: &str, id: &str) -> Result<Option<DashboardSessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM dashboard_sessions WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(dashboard_session).transpose()?)
    }

    async fn revoke_dashboard_session(&self, tenant: &str, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let q = sqlx::query("UPDATE dashboard_sessions SET revoked_ms = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_ms IS NULL")
            .bind(at_ms)
            .bind(tenant)
            .bind(id);
        changed_one(q, &self.pool).await
    }

    async fn revoke_user_sessions(&self, tenant: &str, user: &str, at_ms: i64) -> Result<u64, StoreError> {
        let q = sqlx::query("UPDATE dashboard_sessions SET revoked_ms = $1 WHERE tenant_id = $2 AND user_id = $3 AND revoked_ms IS NULL")
            .bind(at_ms)
            .bind(tenant)
            .bind(user);
        Ok(q.execute(&self.pool).await?.rows_affected())
    }

    async fn report_false_positive(&self, r: &FalsePositive) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO false_positives (tenant_id, session, seq, emotion, section, reporter, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, session, seq) DO NOTHING",
        )
        .bind(&r.tenant_id)
        .bind(&r.session)
        .bind(r.seq)
        .bind(&r.emotion)
        .bind(&r.section)
        .bind(&r.reporter)
        .bind(r.created_ms);
        changed_one(q, &self.pool).await
    }

    async fn false_positives(&self, tenant: &str, since_ms: i64) -> Result<Vec<FalsePositive>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, session, seq, emotion, section, reporter, created_ms FROM false_positives \
             WHERE tenant_id = $1 AND created_ms >= $2 ORDER BY created_ms DESC",
        )
        .bind(tenant)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(false_positive).collect::<Result<_, _>>()?)
    }

    async fn set_public_failures(&self, tenant: &str, on: bool, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO public_pages (tenant_id, failures, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET failures = excluded.failures, updated_ms = excluded.updated_ms",
        )
        .bind(tenant)
        .bind(on as i64)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn public_failures(&self, tenant: &str) -> Result<bool, StoreError> {
        let on: Option<(i64,)> =
            sqlx::query_as("SELECT failures FROM public_pages WHERE tenant_id = $1").bind(tenant).fetch_optional(&self.pool).await?;
        Ok(on.is_some_and(|(f,)| f != 0))
    }

    async fn decision_outcomes(&self, tenant: &str, since_ms: i64) -> Result<Vec<DecisionOutcome>, StoreError> {
        let rows = sqlx::query(
            "SELECT dc.emotion, dc.section, dc.holdout, CASE WHEN COALESCE(dc.outcome_verified, 1) = 1 THEN dc.converted END AS converted, dc.outcome, dc.created_ms, d.account, \
             CAST(COALESCE(d.value_cents, 0) AS BIGINT) AS value_cents \
             FROM decisions dc LEFT JOIN detections d ON d.tenant_id = dc.tenant_id AND d.session = dc.session AND d.seq = dc.seq \
             WHERE dc.tenant_id = $1 AND dc.created_ms >= $2 ORDER BY dc.created_ms",
        )
        .bind(tenant)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let read = |r: &AnyRow| -> Result<DecisionOutcome, sqlx::Error> {
            Ok(DecisionOutcome {
                emotion: r.try_get("emotion")?,
                section: r.try_get("section")?,
                holdout: r.try_get::<i64, _>("holdout")? != 0,
                converted: r.try_get::<Option<i64>, _>("converted")?.map(|c| c != 0),
                outcome: r.try_get("outcome")?,
                created_ms: r.try_get("created_ms")?,
                account: r.try_get("account")?,
                value_cents: r.try_get("value_cents")?,
            })
        };
        Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
    }

    async fn detection_points(&self, tenant: &str, since_ms: i64) -> Result<Vec<DetectionPoint>, StoreError> {
        let rows: Vec<(String, String, f64, i64)> = sqlx::query_as(
            "SELECT emotion, section, confidence, created_ms FROM detections WHERE tenant_id = $1 AND created_ms >= $2 ORDER BY created_ms",
        )
        .bind(tenant)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(emotion, section, confidence, created_ms)| DetectionPoint { emotion, section, confidence, created_ms })
            .collect())
    }

    async fn session_minutes(&self, tenant: &str, since_ms: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT started_ms, active_minutes FROM sessions WHERE tenant_id = $1 AND started_ms >= $2")
            .bind(tenant)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn failure_facts(&self, tenant: &str, since_ms: i64) -> Result<FailureFacts, StoreError> {
        let intervention_delays: Vec<(i64,)> = sqlx::query_as(
            "SELECT CAST(i.created_ms - d.created_ms AS BIGINT) FROM interventions i JOIN detections d \
             ON d.tenant_id = i.tenant_id AND d.session = i.session AND d.seq = i.seq WHERE i.tenant_id = $1 AND i.created_ms >= $2",
        )
        .bind(tenant)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let alert_delays: Vec<(i64, String)> = sqlx::query_as(
            "SELECT CAST(a.created_ms - e.detected_ms AS BIGINT), a.status FROM alerts a JOIN escalations e \
             ON e.tenant_id = a.tenant_id AND e.id = a.escalation_id WHERE a.tenant_id = $1 AND a.created_ms >= $2",
        )
        .bind(tenant)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let escalations: Vec<(Option<i64>, i64, String)> =
            sqlx::query_as("SELECT acked_ms, created_ms, state FROM escalations WHERE tenant_id = $1 AND created_ms >= $2")
                .bind(tenant)
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await?;
        let misses: Vec<(String, i64)> = sqlx::query_as(
            "SELECT c.state, c.set_ms FROM contexts c WHERE c.tenant_id = $1 AND c.set_ms >= $2 \
             AND c.state IN ('stuck', 'frustrated') AND NOT EXISTS (SELECT 1 FROM detections d WHERE d.tenant_id = c.tenant_id \
             AND d.user_sub = c.sub AND d.created_ms >= c.set_ms - $3 AND d.created_ms <= c.set_ms + $3) ORDER BY c.set_ms",
        )
        .bind(tenant)
        .bind(since_ms)
        .bind(MISS_WINDOW_MS)
        .fetch_all(&self.pool)
        .await?;
        let (interventions,): (i64,) =
            sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM interventions WHERE tenant_id = $1 AND created_ms >= $2")
                .bind(tenant)
                .bind(since_ms)
                .fetch_one(&self.pool)
                .await?;
        let (detections,): (i64,) =
            sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM detections WHERE tenant_id = $1 AND created_ms >= $2")
                .bind(tenant)
                .bind(since_ms)
                .fetch_one(&self.pool)
                .await?;
        let (active_minutes,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(active_minutes), 0) AS BIGINT) FROM sessions WHERE tenant_id = $1 AND started_ms >= $2",
        )
        .bind(tenant)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(FailureFacts {
            intervention_delays_ms: intervention_delays.into_iter().map(|(d,)| d).collect(),
            alert_delays_ms: alert_delays.into_iter().map(|(d, status)| (d, status == "sent")).collect(),
            escalations: escalations
                .into_iter()
                .map(|(acked, created, state)| (acked.map(|a| a - created), state == EscalationState::Exhausted.name()))
                .collect(),
            misses,
            interventions,
            active_minutes,
            detections,
        })
    }

    async fn warehouse_rows(&self, tenant: &str, table: &WarehouseTable, from_ms: i64, to_ms: i64) -> Result<Vec<Vec<Cell>>, StoreError> {
        let cols: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND {t} >= $2 AND {t} < $3{} ORDER BY {t}",
            cols.join(", "),
            table.from,
            table.filter,
            t = table.time
        );
        let rows = sqlx::query(&sql).bind(tenant).bind(from_ms).bind(to_ms).fetch_all(&self.pool).await?;
        let read = |r: &AnyRow| -> Result<Vec<Cell>, sqlx::Error> {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    Ok(match c.2 {
                        CellKind::Str => Cell::Str(r.try_get(i)?),
                        CellKind::Int => Cell::Int(r.try_get(i)?),
                        CellKind::Float => Cell::Float(r.try_get(i)?),
                        CellKind::Bool => Cell::Bool(r.try_get::<Option<i64>, _>(i)?.map(|v| v != 0)),
                    })
                })
                .collect()
        };
        Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
    }
}
