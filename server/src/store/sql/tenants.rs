//! SQL of the tenants role.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, t: &Tenant) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, site_key, secret_key_hash, jwt_secret, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.site_key)
            .bind(&t.secret_key_hash)
            .bind(&t.jwt_secret)
            .bind(t.created_ms)
            .execute(&mut *tx)
            .await?;
        let hint = t.site_key.get(t.site_key.len().saturating_sub(4)..).unwrap_or_default();
        for (id, kind, lookup, hint) in [
            (format!("key_pk_{}", t.id), KeyKind::Publishable, &t.site_key, hint),
            (format!("key_sk_{}", t.id), KeyKind::Secret, &t.secret_key_hash, ""),
        ] {
            sqlx::query("INSERT INTO api_keys (id, tenant_id, kind, lookup, hint, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(&t.id)
                .bind(kind.as_str())
                .bind(lookup)
                .bind(hint)
                .bind(t.created_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, site_key, secret_key_hash, jwt_secret, created_ms, thresholds, token_policy, retention_days, holdout_share, outcome_window_ms FROM tenants",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(tenant_from).collect::<Result<_, _>>()?)
    }

    async fn set_thresholds(&self, tenant: &str, thresholds: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET thresholds = $1 WHERE id = $2").bind(thresholds).bind(tenant).execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_account(&self, tenant: &str, account: &str, name: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, account) DO UPDATE SET name = excluded.name")
            .bind(tenant)
            .bind(account)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_transaction(&self, tenant: &str, host_id: &str, account: &str, amount_cents: i64, at_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $2) ON CONFLICT (tenant_id, account) DO NOTHING")
            .bind(tenant)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("INSERT INTO transactions (tenant_id, host_id, account, amount_cents, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, host_id) DO NOTHING")
            .bind(tenant)
            .bind(host_id)
            .bind(account)
            .bind(amount_cents)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn account(&self, tenant: &str, account: &str, now_ms: i64) -> Result<Option<Account>, StoreError> {
        // One account: its own transactions through the (tenant, account, at_ms) index.
        let sql = "SELECT a.tenant_id, a.account, a.name, CAST(COALESCE(SUM(t.amount_cents), 0) AS BIGINT) AS value_cents, \
                   CAST(COALESCE(SUM(CASE WHEN t.at_ms >= $1 THEN t.amount_cents ELSE 0 END), 0) AS BIGINT) AS recent_cents \
                   FROM accounts a LEFT JOIN transactions t ON t.tenant_id = a.tenant_id AND t.account = a.account \
                   WHERE a.tenant_id = $2 AND a.account = $3 GROUP BY a.tenant_id, a.account, a.name";
        let row = sqlx::query(sql).bind(now_ms - RECENT_REVENUE_MS).bind(tenant).bind(account).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(account_from).transpose()?.map(|(_, a)| a))
    }

    async fn all_accounts(&self, tenant: Option<&str>, now_ms: i64) -> Result<Vec<(String, Account)>, StoreError> {
        let since = now_ms - RECENT_REVENUE_MS;
        let rows = match tenant {
            Some(t) => {
                sqlx::query(&format!("{ACCOUNT_VALUE_SQL} WHERE a.tenant_id = $2")).bind(since).bind(t).fetch_all(&self.pool).await?
            }
            None => sqlx::query(ACCOUNT_VALUE_SQL).bind(since).fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(account_from).collect::<Result<_, _>>()?)
    }

    async fn active_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE revoked_ms IS NULL")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(key_from).collect::<Result<_, _>>()?)
    }

    async fn tenant_keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_ms DESC, id"))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(key_from).collect::<Result<_, _>>()?)
    }

    async fn add_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_keys (id, tenant_id, kind, lookup, hint, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(k.kind.as_str())
            .bind(&k.lookup)
            .bind(&k.hint)
            .bind(k.created_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_api_key(&self, tenant: &str, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE api_keys SET revoked_ms = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_ms IS NULL")
            .bind(at_ms)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_token_policy(&self, tenant: &str, policy: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET token_policy = $1 WHERE id = $2").bind(policy).bind(tenant).execute(&self.pool).await?;
        Ok(())
    }

    async fn set_retention(&self, tenant: &str, days: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tenants SET retention_days = $1 WHERE id = $2").bind(days).bind(tenant).execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, u: &User) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO users (id, tenant_id, email_index, email, password_hash, role, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, email_index) DO NOTHING",
        )
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(&u.email_index)
        .bind(&u.email_sealed)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(u.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn user_by_email(&self, tenant: &str, email_index: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND email_index = $2"))
            .bind(tenant)
            .bind(email_index)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    async fn user(&self, tenant: &str, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }

    async fn users(&self, tenant: &str) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY created_ms, id"))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    async fn set_user_role(&self, tenant: &str, id: &str, role: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET role = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(role)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn add_transactions(&self, tenant: &str, rows: &[TransactionRecord]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        let mut accounts = std::collections::HashSet::new();
        for r in rows {
            if accounts.insert(r.account.as_str()) {
                sqlx::query(
                    "INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $2) ON CONFLICT (tenant_id, account) DO NOTHING",
                )
                .bind(tenant)
                .bind(&r.account)
                .execute(&mut *tx)
                .await?;
            }
            let q = sqlx::query(
                "INSERT INTO transactions (tenant_id, host_id, account, amount_cents, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, host_id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&r.id)
            .bind(&r.account)
            .bind(r.amount_cents)
            .bind(r.at_ms);
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn transactions(
        &self,
        tenant: &str,
        account: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        let mut sql = "SELECT host_id, account, amount_cents, at_ms FROM transactions WHERE tenant_id = $1".to_string();
        let mut n = 1;
        if account.is_some() {
            n += 1;
            sql += &format!(" AND account = ${n}");
        }
        if after.is_some() {
            sql += &format!(" AND (at_ms < ${} OR (at_ms = ${} AND host_id < ${}))", n + 1, n + 1, n + 2);
            n += 2;
        }
        sql += &format!(" ORDER BY at_ms DESC, host_id DESC LIMIT ${}", n + 1);
        let mut q = sqlx::query_as::<_, (String, String, i64, i64)>(&sql).bind(tenant);
        if let Some(a) = account {
            q = q.bind(a);
        }
        if let Some(c) = after {
            q = q.bind(c.ms).bind(&c.id);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id, account, amount_cents, at_ms)| TransactionRecord { id, account, amount_cents, at_ms }).collect())
    }

    async fn account_customers(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT sub FROM customers WHERE tenant_id = $1 AND account = $2")
            .bind(tenant)
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }
}
