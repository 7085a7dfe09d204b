//! SQL of the customers role.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl CustomerStore for SqlStore {
    async fn customer_seen(&self, c: &CustomerSeen) -> Result<(), StoreError> {
        sqlx::query(
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn customer(&self, tenant: &str, sub: &str) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CUSTOMER_COLS} FROM customers WHERE tenant_id = $1 AND sub = $2"))
            .bind(tenant)
            .bind(sub)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(customer_from).transpose()?)
    }

    async fn customers(
        &self,
        tenant: &str,
        segment: Option<&str>,
        order: CustomerOrder,
        after: Option<&CustomerCursor>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError> {
        let (cmp, dir) = match order {
            CustomerOrder::StrengthAsc => (">", "ASC"),
            CustomerOrder::StrengthDesc => ("<", "DESC"),
        };
        let mut sql = format!("SELECT {CUSTOMER_COLS} FROM customers WHERE tenant_id = $1");
        let mut n = 1;
        if segment.is_some() {
            n += 1;
            sql += &format!(" AND segment = ${n}");
        }
        if after.is_some() {
            sql += &format!(" AND (strength {cmp} ${} OR (strength = ${} AND sub {cmp} ${}))", n + 1, n + 1, n + 2);
            n += 2;
        }
        sql += &format!(" ORDER BY strength {dir}, sub {dir} LIMIT ${}", n + 1);
        let mut q = sqlx::query(&sql).bind(tenant);
        if let Some(s) = segment {
            q = q.bind(s);
        }
        if let Some(c) = after {
            q = q.bind(c.strength).bind(&c.sub);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(customer_from).collect::<Result<_, _>>()?)
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
        let rows = sqlx::query_as::<_, (i64, f64, String)>(
            "SELECT day, score, factors FROM strength_snapshots WHERE tenant_id = $1 AND sub = $2 ORDER BY day DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(sub)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, score, f)| SnapshotRecord { day, score, factors: serde_json::from_str(&f).unwrap_or_default() })
            .collect())
    }

    async fn segment_rows(&self, tenant: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        Ok(sqlx::query_as("SELECT segment, account FROM customers WHERE tenant_id = $1").bind(tenant).fetch_all(&self.pool).await?)
    }

    async fn add_context(&self, c: &ContextRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO contexts (id, tenant_id, sub, state, set_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING")
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.sub)
            .bind(&c.state)
            .bind(c.set_ms)
            .bind(c.expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn contexts(&self, tenant: &str, now_ms: i64, after: Option<&TimeCursor>, limit: i64) -> Result<Vec<ContextRecord>, StoreError> {
        let page = if after.is_some() { " AND (set_ms < $3 OR (set_ms = $3 AND id < $4))" } else { "" };
        let lim = if after.is_some() { "$5" } else { "$3" };
        let sql = format!(
            "SELECT {CONTEXT_COLS} FROM contexts WHERE tenant_id = $1 AND expires_ms > $2{page} ORDER BY set_ms DESC, id DESC LIMIT {lim}"
        );
        let mut q = sqlx::query(&sql).bind(tenant).bind(now_ms);
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(context_from).collect::<Result<_, _>>()?)
    }

    async fn customer_contexts(&self, tenant: &str, sub: &str, limit: i64) -> Result<Vec<ContextRecord>, StoreError> {
        let sql = format!("SELECT {CONTEXT_COLS} FROM contexts WHERE tenant_id = $1 AND sub = $2 ORDER BY set_ms DESC, id DESC LIMIT $3");
        let rows = sqlx::query(&sql).bind(tenant).bind(sub).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(context_from).collect::<Result<_, _>>()?)
    }

    async fn snapshots_since(&self, tenant: &str, since_day: i64) -> Result<Vec<(String, i64, f64)>, StoreError> {
        Ok(sqlx::query_as("SELECT sub, day, score FROM strength_snapshots WHERE tenant_id = $1 AND day >= $2")
            .bind(tenant)
            .bind(since_day)
            .fetch_all(&self.pool)
            .await?)
    }
}
