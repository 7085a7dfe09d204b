//! SQL of the tenants role.

use async_trait::async_trait;

use super::*;

/// Transactions written by one `INSERT` (5 parameters a row). Measured with 1,604,707 rows
/// through the debug build (`server/tests/csv_memory.rs`, one machine): a row a statement took
/// 115 s, 200 rows 77 s, 50 rows 69 s; past a few dozen rows SQLite's lookup of a numbered
/// parameter, linear in the statement's parameters, costs more than the round trips it saves
/// (12% of the time at 200 rows).
pub(super) const TRANSACTIONS_PER_INSERT: usize = 50;

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
            let key = ApiKey {
                id,
                tenant_id: t.id.clone(),
                kind,
                lookup: lookup.clone(),
                hint: hint.to_string(),
                created_ms: t.created_ms,
                revoked_ms: None,
            };
            insert(&mut *tx, "api_keys", &key, "").await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        Ok(sqlx::query_as(&select::<Tenant>("tenants")).fetch_all(&self.pool).await?)
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
        let t = TransactionRecord { id: host_id.to_string(), account: account.to_string(), amount_cents, at_ms };
        Ok(self.add_transactions(tenant, &[t]).await? == 1)
    }

    async fn account(&self, tenant: &str, account: &str, now_ms: i64) -> Result<Option<Account>, StoreError> {
        // One account: its own transactions through the (tenant, account, at_ms) index.
        let sql = "SELECT a.tenant_id, a.account, a.name, CAST(COALESCE(SUM(t.amount_cents), 0) AS BIGINT) AS value_cents, \
                   CAST(COALESCE(SUM(CASE WHEN t.at_ms >= $1 THEN t.amount_cents ELSE 0 END), 0) AS BIGINT) AS recent_cents \
                   FROM accounts a LEFT JOIN transactions t ON t.tenant_id = a.tenant_id AND t.account = a.account \
                   WHERE a.tenant_id = $2 AND a.account = $3 GROUP BY a.tenant_id, a.account, a.name";
        Ok(sqlx::query_as(sql).bind(now_ms - RECENT_REVENUE_MS).bind(tenant).bind(account).fetch_optional(&self.pool).await?)
    }

    async fn all_accounts(&self, tenant: Option<&str>, now_ms: i64) -> Result<Vec<(String, Account)>, StoreError> {
        let since = now_ms - RECENT_REVENUE_MS;
        let rows = match tenant {
            Some(t) => {
                sqlx::query(&format!("{ACCOUNT_VALUE_SQL} WHERE a.tenant_id = $2")).bind(since).bind(t).fetch_all(&self.pool).await?
            }
            None => sqlx::query(ACCOUNT_VALUE_SQL).bind(since).fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(with_tenant).collect::<Result<_, _>>()?)
    }

    async fn active_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        Ok(sqlx::query_as(&select::<ApiKey>("api_keys WHERE revoked_ms IS NULL")).fetch_all(&self.pool).await?)
    }

    async fn tenant_keys(&self, tenant: &str) -> Result<Vec<ApiKey>, StoreError> {
        let sql = select::<ApiKey>("api_keys WHERE tenant_id = $1 ORDER BY created_ms DESC, id");
        Ok(sqlx::query_as(&sql).bind(tenant).fetch_all(&self.pool).await?)
    }

    async fn add_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        insert(&self.pool, "api_keys", k, "").await?;
        Ok(())
    }

    async fn revoke_api_key(&self, tenant: &str, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let q = sqlx::query("UPDATE api_keys SET revoked_ms = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_ms IS NULL");
        changed_one(q.bind(at_ms).bind(tenant).bind(id), &self.pool).await
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
        Ok(insert(&self.pool, "users", u, "ON CONFLICT (tenant_id, email_index) DO NOTHING").await? == 1)
    }

    async fn user_by_email(&self, tenant: &str, email_index: &str) -> Result<Option<User>, StoreError> {
        Select::of("users", tenant).and("email_index =", email_index).fetch_optional(&self.pool).await
    }

    async fn user(&self, tenant: &str, id: &str) -> Result<Option<User>, StoreError> {
        Select::of("users", tenant).and("id =", id).fetch_optional(&self.pool).await
    }

    async fn users(&self, tenant: &str) -> Result<Vec<User>, StoreError> {
        let sql = select::<User>("users WHERE tenant_id = $1 ORDER BY created_ms, id");
        Ok(sqlx::query_as(&sql).bind(tenant).fetch_all(&self.pool).await?)
    }

    async fn set_user_role(&self, tenant: &str, id: &str, role: &str) -> Result<bool, StoreError> {
        let q = sqlx::query("UPDATE users SET role = $1 WHERE tenant_id = $2 AND id = $3");
        changed_one(q.bind(role).bind(tenant).bind(id), &self.pool).await
    }

    async fn add_transactions(&self, tenant: &str, rows: &[TransactionRecord]) -> Result<u64, StoreError> {
        self.add_transaction_batch(tenant, rows, &mut std::collections::HashMap::new()).await
    }

    async fn add_transaction_batch(
        &self,
        tenant: &str,
        rows: &[TransactionRecord],
        known: &mut std::collections::HashMap<String, i64>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        // Each account's value as this batch goes, as the caller knows it or read once inside
        // the transaction: a row that would take it past the limit refuses the whole batch
        // (rolled back on drop).
        let mut values: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        for chunk in rows.chunks(TRANSACTIONS_PER_INSERT) {
            for r in chunk {
                if values.contains_key(r.account.as_str()) {
                    continue;
                }
                if let Some(v) = known.get(&r.account) {
                    values.insert(r.account.as_str(), *v);
                    continue;
                }
                sqlx::query(
                    "INSERT INTO accounts (tenant_id, account, name) VALUES ($1, $2, $2) ON CONFLICT (tenant_id, account) DO NOTHING",
                )
                .bind(tenant)
                .bind(&r.account)
                .execute(&mut *tx)
                .await?;
                let (value,): (i64,) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM transactions WHERE tenant_id = $1 AND account = $2",
                )
                .bind(tenant)
                .bind(&r.account)
                .fetch_one(&mut *tx)
                .await?;
                values.insert(r.account.as_str(), value);
            }
            // One statement for the chunk; the ids it returns are the rows it recorded (an id
            // already stored, or earlier in the chunk, is left as it is).
            let sql = format!(
                "INSERT INTO transactions (tenant_id, host_id, account, amount_cents, at_ms) VALUES {} \
                 ON CONFLICT (tenant_id, host_id) DO NOTHING RETURNING host_id",
                value_rows(chunk.len(), 5)
            );
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for r in chunk {
                q = q.bind(tenant).bind(&r.id).bind(&r.account).bind(r.amount_cents).bind(r.at_ms);
            }
            let recorded = q.fetch_all(&mut *tx).await?;
            let mut recorded: std::collections::HashSet<String> = recorded.into_iter().map(|(id,)| id).collect();
            // In the file's order, as if one row at a time: each row is checked against its
            // account's value so far, and only a row recorded adds to it.
            for r in chunk {
                let value = values.get_mut(r.account.as_str()).expect("read above");
                let next = value.saturating_add(r.amount_cents);
                if r.amount_cents.unsigned_abs() > MAX_TRANSACTION_CENTS as u64 || next.unsigned_abs() > MAX_ACCOUNT_VALUE_CENTS as u64 {
                    return Err(StoreError::AccountValueOutOfRange { account: r.account.clone(), value_cents: next });
                }
                if recorded.remove(&r.id) {
                    *value = next;
                    inserted += 1;
                }
            }
        }
        tx.commit().await?;
        for (account, value) in values {
            known.insert(account.to_string(), value);
        }
        Ok(inserted)
    }

    async fn transactions(
        &self,
        tenant: &str,
        account: Option<&str>,
        after: Option<&TimeCursor>,
        limit: i64,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        Select::of("transactions", tenant)
            .and_some("account =", account)
            .page(Order::desc("at_ms", "host_id"), after, limit)
            .fetch_all(&self.pool)
            .await
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
