//! Identity: which tenant a key belongs to, who the visitor is, and what their account is
//! worth. Everything the hot path asks is answered from memory; the cache is loaded at start
//! and refreshed through the bus (`{prefix}.cache.{tenant}`) whenever a tenant, account or
//! transaction changes on any instance.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::auth::{self, TokenError, VisitorClaims};
use crate::store::{Account, Store, StoreError, Tenant};
use crate::thresholds::Thresholds;
use shared_physics::detect::Params;

/// The resolved person behind a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Visitor {
    /// Verified claims.
    pub claims: VisitorClaims,
    /// Their account and its value, when the account is known.
    pub account: Option<Account>,
}

#[derive(Default)]
struct Maps {
    by_site_key: HashMap<String, Arc<Tenant>>,
    by_secret_hash: HashMap<String, Arc<Tenant>>,
    accounts: HashMap<(String, String), Account>,
    /// Each tenant's effective detector thresholds, parsed once per reload.
    params: HashMap<String, Params>,
}

/// The in-memory identity cache.
#[derive(Default)]
pub struct IdentityCache {
    maps: RwLock<Maps>,
}

impl IdentityCache {
    /// Loads every tenant and account from the store.
    pub async fn load(store: &dyn Store) -> Result<IdentityCache, StoreError> {
        let cache = IdentityCache::default();
        cache.reload(store, None).await?;
        Ok(cache)
    }

    /// Reloads tenants and the accounts of `tenant` (or of all tenants).
    pub async fn reload(&self, store: &dyn Store, tenant: Option<&str>) -> Result<(), StoreError> {
        let tenants = store.tenants().await?;
        let accounts = store.all_accounts().await?;
        let mut m = self.maps.write().expect("identity cache lock");
        m.params = tenants.iter().map(|t| (t.id.clone(), Thresholds::parse(&t.thresholds).params())).collect();
        m.by_site_key = tenants.iter().map(|t| (t.site_key.clone(), Arc::new(t.clone()))).collect();
        m.by_secret_hash = tenants.into_iter().map(|t| (t.secret_key_hash.clone(), Arc::new(t))).collect();
        m.accounts.retain(|(t, _), _| tenant.is_some_and(|only| only != t));
        for (t, a) in accounts {
            if tenant.is_none_or(|only| only == t) {
                m.accounts.insert((t, a.account.clone()), a);
            }
        }
        Ok(())
    }

    /// The detector thresholds in effect for `tenant` (the defaults for an unknown one).
    pub fn params(&self, tenant: &str) -> Params {
        self.maps.read().expect("identity cache lock").params.get(tenant).copied().unwrap_or_default()
    }

    /// The tenant owning a publishable site key.
    pub fn tenant_by_site_key(&self, key: &str) -> Option<Arc<Tenant>> {
        self.maps.read().expect("identity cache lock").by_site_key.get(key).cloned()
    }

    /// The tenant owning a secret API key.
    pub fn tenant_by_secret(&self, key: &str) -> Option<Arc<Tenant>> {
        self.maps.read().expect("identity cache lock").by_secret_hash.get(&auth::hash_key(key)).cloned()
    }

    /// An account of a tenant.
    pub fn account(&self, tenant: &str, account: &str) -> Option<Account> {
        self.maps.read().expect("identity cache lock").accounts.get(&(tenant.to_string(), account.to_string())).cloned()
    }

    /// Verifies a visitor token for `tenant` and resolves their account.
    pub fn resolve(&self, tenant: &Tenant, token: &str) -> Result<Visitor, TokenError> {
        let claims = auth::verify_visitor(token, &tenant.jwt_secret)?;
        let account = claims.account.as_deref().and_then(|a| self.account(&tenant.id, a));
        Ok(Visitor { claims, account })
    }
}
