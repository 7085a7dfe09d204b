//! SQL of the learning role.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl LearningStore for SqlStore {
    async fn set_intervention_policy(&self, tenant: &str, holdout_share: f64, outcome_window_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET holdout_share = $1, outcome_window_ms = $2 WHERE id = $3")
            .bind(holdout_share)
            .bind(outcome_window_ms)
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn all_variants(&self) -> Result<Vec<(String, VariantRecord)>, StoreError> {
        let sql = format!("SELECT tenant_id, {} FROM variants ORDER BY created_ms, id", VariantRecord::COLS);
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(with_tenant).collect::<Result<_, _>>()?)
    }

    async fn add_variant(&self, tenant: &str, v: &VariantRecord) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO variants (tenant_id, id, emotion, section, kind, text, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .bind(tenant)
        .bind(&v.id)
        .bind(v.emotion.name())
        .bind(&v.section)
        .bind(&v.kind)
        .bind(&v.text)
        .bind(v.created_ms);
        changed_one(q, &self.pool).await
    }

    async fn delete_variant(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        changed_one(sqlx::query("DELETE FROM variants WHERE tenant_id = $1 AND id = $2").bind(tenant).bind(id), &self.pool).await
    }

    async fn all_arms(&self) -> Result<Vec<ArmRow>, StoreError> {
        Ok(sqlx::query_as("SELECT tenant_id, emotion, section, variant_id, successes, failures FROM arms").fetch_all(&self.pool).await?)
    }

    async fn insert_decision(&self, d: &DecisionRecord) -> Result<(), StoreError> {
        insert_decision(&self.pool, d).await?;
        Ok(())
    }

    async fn record_outcome(
        &self,
        tenant: &str,
        who: OutcomeFor<'_>,
        since_ms: i64,
        outcome: &str,
        converted: bool,
        verified: bool,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let (col, id) = match who {
            OutcomeFor::Session(s) => ("session", s),
            OutcomeFor::Person(u) => ("sub", u),
        };
        // A decision is open to a verified outcome until it has one (an anonymous page's word
        // does not close it: it could be a forgery ahead of the host's report); to an
        // unverified one only while it has none.
        let open = if verified { "(outcome IS NULL OR outcome_verified = 0)" } else { "outcome IS NULL" };
        // The write comes first (one UPDATE picking the newest open decision, RETURNING it): a
        // transaction that read first could not upgrade to a write on SQLite while another
        // connection wrote meanwhile ("database is locked").
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, String, String, i64, Option<String>)> = sqlx::query_as(&format!(
            "UPDATE decisions SET outcome = $1, converted = $2, outcome_ms = $3, outcome_verified = $7 WHERE tenant_id = $4 AND {open} AND id = \
             (SELECT id FROM decisions WHERE tenant_id = $4 AND {col} = $5 AND created_ms >= $6 AND {open} \
             ORDER BY created_ms DESC, id DESC LIMIT 1) RETURNING id, emotion, section, holdout, variant_id"
        ))
        .bind(outcome)
        .bind(converted as i64)
        .bind(at_ms)
        .bind(tenant)
        .bind(id)
        .bind(since_ms)
        .bind(verified as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((decision, emotion, section, holdout, variant)) = row else { return Ok(None) };
        if let (0, Some(v), true) = (holdout, variant, verified) {
            let (s, f) = if converted { (1i64, 0i64) } else { (0, 1) };
            sqlx::query(
                "INSERT INTO arms (tenant_id, emotion, section, variant_id, successes, failures) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant_id, emotion, section, variant_id) DO UPDATE SET successes = arms.successes + excluded.successes, \
                 failures = arms.failures + excluded.failures",
            )
            .bind(tenant)
            .bind(&emotion)
            .bind(&section)
            .bind(&v)
            .bind(s)
            .bind(f)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(decision))
    }

    async fn uplift_counts(&self, tenant: &str, until_ms: i64) -> Result<UpliftCounts, StoreError> {
        Ok(sqlx::query_as(
            "SELECT emotion, \
             CAST(SUM(CASE WHEN holdout = 0 AND converted = 1 AND COALESCE(outcome_verified, 1) = 1 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN holdout = 0 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN holdout = 1 AND converted = 1 AND COALESCE(outcome_verified, 1) = 1 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN holdout = 1 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM decisions WHERE tenant_id = $1 AND (created_ms < $2 OR (outcome IS NOT NULL AND COALESCE(outcome_verified, 1) = 1)) \
             GROUP BY emotion ORDER BY emotion",
        )
        .bind(tenant)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn insert_card(&self, c: &CardRecord) -> Result<(), StoreError> {
        insert(&self.pool, "cards", c, "ON CONFLICT (id) DO NOTHING").await?;
        Ok(())
    }

    async fn cards(
        &self,
        tenant: &str,
        state: Option<CardState>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<CardRecord>, StoreError> {
        Select::of("cards", tenant)
            .and_some("state =", state.map(CardState::name))
            .page(NEWEST_CREATED, after, limit)
            .fetch_all(&self.pool)
            .await
    }

    async fn card_exists(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM cards WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    #[allow(clippy::too_many_arguments)]
    async fn move_card(
        &self,
        tenant: &str,
        id: &str,
        from: &[CardState],
        to: CardState,
        outcome: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let states: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 7)).collect();
        let sql = format!(
            "UPDATE cards SET state = $1, outcome = COALESCE($2, outcome), actor = $3, updated_ms = $4 WHERE tenant_id = $5 AND id = $6 AND state IN ({})",
            states.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(to.name()).bind(outcome).bind(actor).bind(at_ms).bind(tenant).bind(id);
        for f in from {
            q = q.bind(f.name());
        }
        changed_one(q, &self.pool).await
    }
}

/// Records a decision (idempotent by id), on `e` (the pool or a transaction); rows written.
pub(super) async fn insert_decision<'c>(e: impl Executor<'c, Database = Any>, d: &DecisionRecord) -> Result<u64, StoreError> {
    Ok(sqlx::query(
            "INSERT INTO decisions (id, tenant_id, session, seq, sub, emotion, section, holdout, variant_id, holdout_share, decision, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&d.id)
        .bind(&d.tenant_id)
        .bind(&d.session)
        .bind(d.seq)
        .bind(&d.sub)
        .bind(d.emotion.name())
        .bind(&d.section)
        .bind(d.holdout as i64)
        .bind(&d.variant_id)
        .bind(d.holdout_share)
        .bind(d.decision.to_string())
        .bind(d.created_ms)
        .execute(e)
        .await?
        .rows_affected())
}
