//! SQL of the customers role.

use async_trait::async_trait;

use super::*;

/// One-tap states, newest first.
const CONTEXTS_NEWEST: Order = Order::desc("set_ms", "id");

#[async_trait]
impl CustomerStore for SqlStore {
    async fn customer_seen(&self, c: &CustomerSeen) -> Result<(), StoreError> {
        customer_seen(&self.pool, c).await?;
        Ok(())
    }

    async fn customer(&self, tenant: &str, sub: &str) -> Result<Option<Customer>, StoreError> {
        Select::of("customers", tenant).and("sub =", sub).fetch_optional(&self.pool).await
    }

    async fn customers(
        &self,
        tenant: &str,
        segment: Option<&str>,
        order: CustomerOrder,
        after: Option<&CustomerCursor>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError> {
        let order = match order {
            CustomerOrder::StrengthAsc => Order::asc("strength", "sub"),
            CustomerOrder::StrengthDesc => Order::desc("strength", "sub"),
        };
        Select::of("customers", tenant).and_some("segment =", segment).page(order, after, limit).fetch_all(&self.pool).await
    }

    async fn customer_facts(&self, tenant: &str, sub: Option<&str>, now_ms: i64) -> Result<Vec<CustomerFacts>, StoreError> {
        use std::collections::HashMap;
        const DAY: i64 = 86_400_000;
        let only = if sub.is_some() { " AND sub = $2" } else { "" };
        let sql = format!("SELECT sub, account, first_seen_ms, last_seen_ms, strength FROM customers WHERE tenant_id = $1{only}");
        let mut q = sqlx::query_as::<_, (String, Option<String>, i64, i64, f64)>(&sql).bind(tenant);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        let mut facts: Vec<CustomerFacts> = q
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(sub, account, first_seen_ms, last_seen_ms, strength)| CustomerFacts {
                sub,
                account,
                first_seen_ms,
                last_seen_ms,
                strength,
                ..Default::default()
            })
            .collect();
        if facts.is_empty() {
            return Ok(facts);
        }
        let index: HashMap<String, usize> = facts.iter().enumerate().map(|(i, f)| (f.sub.clone(), i)).collect();
        let only_user = if sub.is_some() { " AND user_sub = $3" } else { "" };
        let since = now_ms - 30 * DAY;

        let sql = format!(
            "SELECT user_sub, CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT started_ms / {DAY}) AS BIGINT) FROM sessions \
             WHERE tenant_id = $1 AND started_ms >= $2 AND user_sub IS NOT NULL{only_user} GROUP BY user_sub"
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64)>(&sql).bind(tenant).bind(since);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        for (u, n, days) in q.fetch_all(&self.pool).await? {
            if let Some(&i) = index.get(&u) {
                (facts[i].sessions_30d, facts[i].active_days_30d) = (n, days);
            }
        }

        let sql = format!(
            "SELECT user_sub, emotion, CAST(SUM(confidence) AS DOUBLE PRECISION) FROM detections \
             WHERE tenant_id = $1 AND created_ms >= $2 AND user_sub IS NOT NULL{only_user} GROUP BY user_sub, emotion"
        );
        let mut q = sqlx::query_as::<_, (String, String, f64)>(&sql).bind(tenant).bind(since);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        for (u, emotion, conf) in q.fetch_all(&self.pool).await? {
            if let Some(&i) = index.get(&u) {
                facts[i].detections_30d.push((emotion, conf));
            }
        }

        let only_ctx = if sub.is_some() { " AND sub = $3" } else { "" };
        let sql = format!("SELECT sub, state FROM contexts WHERE tenant_id = $1 AND expires_ms > $2{only_ctx} ORDER BY set_ms, id");
        let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(tenant).bind(now_ms);
        if let Some(s) = sub {
            q = q.bind(s);
        }
        for (u, state) in q.fetch_all(&self.pool).await? {
            if let Some(&i) = index.get(&u) {
                facts[i].context = Some(state); // ordered oldest first: the newest wins
            }
        }

        let account_filter = match sub.and_then(|_| facts[0].account.clone()) {
            Some(a) => Some(a),
            None if sub.is_some() => return Ok(facts),
            None => None,
        };
        let only_acct = if account_filter.is_some() { " AND account = $4" } else { "" };
        let sql = format!(
            "SELECT account, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount_cents) AS BIGINT), \
             CAST(SUM(CASE WHEN at_ms >= $2 THEN amount_cents ELSE 0 END) AS BIGINT), \
             CAST(COUNT(DISTINCT CASE WHEN at_ms >= $3 THEN at_ms / {} END) AS BIGINT) \
             FROM transactions WHERE tenant_id = $1{only_acct} GROUP BY account",
            30 * DAY
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64, i64, i64)>(&sql).bind(tenant).bind(now_ms - 90 * DAY).bind(now_ms - 360 * DAY);
        if let Some(a) = &account_filter {
            q = q.bind(a);
        }
        let accounts: HashMap<String, (i64, i64, i64, i64)> =
            q.fetch_all(&self.pool).await?.into_iter().map(|(a, n, ltv, r90, months)| (a, (n, ltv, r90, months))).collect();
        for f in &mut facts {
            if let Some(&(n, ltv, r90, months)) = f.account.as_ref().and_then(|a| accounts.get(a)) {
                (f.purchases, f.lifetime_value_cents, f.revenue_90d_cents, f.months_with_purchase_12m) = (n, ltv, r90, months);
            }
        }
        Ok(facts)
    }

    async fn set_strengths(&self, tenant: &str, rows: &[StrengthRow], at_ms: i64, day: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            sqlx::query("UPDATE customers SET strength = $1, segment = $2, factors = $3, scored_ms = $4 WHERE tenant_id = $5 AND sub = $6")
                .bind(r.score)
                .bind(&r.segment)
                .bind(&r.factors)
                .bind(at_ms)
                .bind(tenant)
                .bind(&r.sub)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO strength_snapshots (tenant_id, sub, day, score, factors) SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND sub = $2) \
                 ON CONFLICT (tenant_id, sub, day) DO UPDATE SET score = excluded.score, factors = excluded.factors",
            )
            .bind(tenant)
            .bind(&r.sub)
            .bind(day)
            .bind(r.score)
            .bind(&r.factors)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn snapshots(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<SnapshotRecord>, StoreError> {
        let sql = select::<SnapshotRecord>("strength_snapshots WHERE tenant_id = $1 AND sub = $2 ORDER BY day DESC LIMIT $3");
        Ok(sqlx::query_as(&sql).bind(tenant).bind(sub).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn segment_rows(&self, tenant: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as("SELECT segment, account FROM customers WHERE tenant_id = $1").bind(tenant).fetch_all(&self.pool).await?)
    }

    async fn add_context(&self, c: &ContextRecord) -> Result<(), StoreError> {
        insert(&self.pool, "contexts", c, "ON CONFLICT (id) DO NOTHING").await?;
        Ok(())
    }

    async fn contexts(&self, tenant: &str, now_ms: i64, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<ContextRecord>, StoreError> {
        Select::of("contexts", tenant).and("expires_ms >", now_ms).page(CONTEXTS_NEWEST, after, limit).fetch_all(&self.pool).await
    }

    async fn customer_contexts(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<ContextRecord>, StoreError> {
        Select::of("contexts", tenant).and("sub =", sub).first(CONTEXTS_NEWEST, limit).fetch_all(&self.pool).await
    }

    async fn snapshots_since(&self, tenant: &str, since_day: i64) -> Result<Vec<(String, i64, f64)>, StoreError> {
        Ok(sqlx::query_as("SELECT sub, day, score FROM strength_snapshots WHERE tenant_id = $1 AND day >= $2")
            .bind(tenant)
            .bind(since_day)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// Records that a customer was seen, on `e` (the pool or a transaction); rows written.
pub(super) async fn customer_seen<'c>(e: impl Executor<'c, Database = Any>, c: &CustomerSeen) -> Result<u64, StoreError> {
    Ok(sqlx::query(
            "INSERT INTO customers (tenant_id, sub, account, name, email, email_index, company, first_seen_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (tenant_id, sub) DO UPDATE SET \
             account = COALESCE(excluded.account, customers.account), name = COALESCE(excluded.name, customers.name), \
             email = COALESCE(excluded.email, customers.email), email_index = COALESCE(excluded.email_index, customers.email_index), \
             company = COALESCE(excluded.company, customers.company), \
             first_seen_ms = CASE WHEN excluded.first_seen_ms < customers.first_seen_ms THEN excluded.first_seen_ms ELSE customers.first_seen_ms END, \
             last_seen_ms = CASE WHEN excluded.last_seen_ms > customers.last_seen_ms THEN excluded.last_seen_ms ELSE customers.last_seen_ms END",
        )
        .bind(&c.tenant_id)
        .bind(&c.sub)
        .bind(&c.account)
        .bind(&c.name)
        .bind(&c.email_sealed)
        .bind(&c.email_index)
        .bind(&c.company)
        .bind(c.seen_ms)
        .execute(e)
        .await?
        .rows_affected())
}
