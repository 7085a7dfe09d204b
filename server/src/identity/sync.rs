//! Sharing identity state between instances: an account's values
//! and a customer's one-tap state travel through the bus's key-value bucket, "this tenant's keys
//! changed" through `{prefix}.cache.{tenant}`.

use bytes::Bytes;

use super::{customers, IdentityError, People, SharedContext};
use crate::bus;
use crate::records::Account;

/// Key-value prefix of an account's values (`acct.{tenant}.{account}`).
pub const KV_ACCOUNT: &str = "acct";
/// Key-value prefix of a customer's one-tap state (`ctx.{tenant}.{sub}`).
pub const KV_CONTEXT: &str = "ctx";

impl People {
    /// Re-reads one account's values, puts them in this instance's cache and in the bus's
    /// key-value bucket (every other instance applies them), and recomputes the strength of the
    /// account's customers in the background.
    pub async fn account_changed(&self, tenant: &str, account: &str) -> Result<(), IdentityError> {
        if let Some(a) = self.store.account(tenant, account, self.now_ms()).await? {
            self.cache.set_account(tenant, a.clone());
            let value = Bytes::from(serde_json::to_vec(&a)?);
            self.events.bus().kv_put(&bus::kv_key(&[KV_ACCOUNT, tenant, account]), value).await?;
        }
        let people = self.clone();
        let (tenant, account) = (tenant.to_string(), account.to_string());
        tokio::spawn(async move {
            let subs = match people.store.account_customers(&tenant, &account).await {
                Ok(s) => s,
                Err(e) => return tracing::error!(tenant = %tenant, error = %e, "cannot list an account's customers"),
            };
            for sub in subs {
                if let Err(e) = customers::rescore(&people, &tenant, &sub).await {
                    tracing::error!(tenant = %tenant, error = %e, "strength recomputation failed");
                }
            }
        });
        Ok(())
    }

    /// Refreshes this instance's identity cache for `tenant` and tells the other instances.
    pub async fn identity_changed(&self, tenant: &str) -> Result<(), IdentityError> {
        self.cache.reload(self.store.as_ref()).await?;
        self.events.bus().publish(self.events.subjects().cache(tenant), Bytes::new()).await?;
        Ok(())
    }

    /// Sets (or clears) a customer's one-tap state in this instance's cache and in the bus's
    /// key-value bucket, so every instance's decision step sees it. A failure is logged: the
    /// state is stored, and other instances see it after their next start.
    pub async fn share_context(&self, tenant: &str, sub: &str, ctx: Option<SharedContext>) {
        self.cache.set_context(tenant, sub, ctx.clone());
        let key = bus::kv_key(&[KV_CONTEXT, tenant, sub]);
        let bus = self.events.bus();
        let r = match ctx {
            Some(c) => bus.kv_put(&key, Bytes::from(serde_json::to_vec(&c).unwrap_or_default())).await.map(|_| ()),
            None => bus.kv_delete(&key).await,
        };
        if let Err(e) = r {
            tracing::error!(tenant, error = %e, "a customer's state could not be shared with other instances");
        }
    }

    /// Applies a change another instance made to the shared identity state.
    pub fn apply_kv(&self, change: bus::KvChange) {
        let Some(parts) = bus::kv_key_parts(&change.key) else { return };
        match (parts.first().map(String::as_str), &parts[..], change.value) {
            (Some(KV_ACCOUNT), [_, tenant, _], Some(v)) => match serde_json::from_slice::<Account>(&v) {
                Ok(a) => self.cache.set_account(tenant, a),
                Err(e) => tracing::warn!(tenant = %tenant, error = %e, "unreadable shared account"),
            },
            (Some(KV_CONTEXT), [_, tenant, sub], v) => {
                self.cache.set_context(tenant, sub, v.and_then(|v| serde_json::from_slice(&v).ok()));
            }
            _ => {}
        }
    }
}

#[async_trait::async_trait]
impl crate::bus::persister::AboutPeople for People {
    fn person_ref(&self, tenant: &str, sub: &str) -> String {
        customers::person_ref(self, tenant, sub)
    }

    async fn changed(&self, tenant: &str, sub: &str) {
        if let Err(e) = customers::rescore(self, tenant, sub).await {
            tracing::error!(tenant, error = %e, "strength recomputation failed");
        }
    }
}
