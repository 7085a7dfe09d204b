//! Identity: which tenant a key belongs to, who the visitor is, what their account is worth and
//! what they told us about themselves. Everything the hot path asks is answered from memory
//! without allocating: tenants and keys are loaded at start and reloaded when one changes
//! (`{prefix}.cache.{tenant}` on the bus); each account's values and each customer's one-tap
//! state are updated one entry at a time as they change, on every instance (the bus's key-value
//! facility: a JetStream KV bucket with NATS).

pub mod company;
pub mod customers;
pub mod jwt;
pub mod keyring;
pub mod strength;
pub mod sync;
pub mod throttle;
pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::bus::Publisher;
use crate::clock::SharedClock;
use crate::confirm::thresholds::Thresholds;
use crate::identity::jwt::{JwksCache, TokenError, TokenPolicy, VisitorClaims};
use crate::identity::keyring::Keyring;
use crate::records::SealedColumn;
use crate::store::{Account, ApiKey, KeyKind, Store, StoreError, Tenant};
use shared_physics::detect::Params;

/// The identity subsystem; cheap to clone.
#[derive(Clone)]
pub struct People {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Keys that seal personal fields at rest.
    pub keyring: Arc<Keyring>,
    /// Tenants, keys, account values and one-tap states in memory.
    pub cache: Arc<IdentityCache>,
    /// Durable events and the bus itself.
    pub events: Publisher,
    /// The account value the strength model scales by, cents (the critical-value bar).
    pub critical_value_cents: i64,
    /// Time.
    pub clock: SharedClock,
}

impl People {
    /// Milliseconds since the epoch, from this subsystem's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus (the key-value bucket, the cache subject, erasing events).
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// A sealed field could not be opened (a key is missing or the value was tampered with).
    #[error("sealed field: {0}")]
    Sealed(#[from] keyring::SecretError),
    /// A value could not be encoded for the bus.
    #[error("encoding: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The resolved person behind a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Visitor {
    /// Verified claims.
    pub claims: VisitorClaims,
    /// Their account and its value, when the account is known.
    pub account: Option<Account>,
}

/// A customer's one-tap state as the decision step sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedContext {
    /// What they said.
    pub state: crate::records::Context,
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
}

/// A tenant's secret key as the cache holds it.
#[derive(Clone, Debug)]
pub struct SecretKeyEntry {
    /// The tenant.
    pub tenant: Arc<Tenant>,
    /// The key's id (for the audit log).
    pub key_id: String,
}

#[derive(Default)]
struct Maps {
    tenants: HashMap<String, Arc<Tenant>>,
    by_site_key: HashMap<String, Arc<Tenant>>,
    by_secret_hash: HashMap<String, SecretKeyEntry>,
    /// tenant → account → values.
    accounts: HashMap<String, HashMap<String, Account>>,
    /// tenant → customer → their latest one-tap state.
    contexts: HashMap<String, HashMap<String, SharedContext>>,
    /// Each tenant's effective detector thresholds, parsed once per reload.
    params: HashMap<String, Params>,
    /// How each tenant's visitor tokens are verified.
    policies: HashMap<String, Arc<TokenPolicy>>,
}

/// The in-memory identity cache.
#[derive(Default)]
pub struct IdentityCache {
    maps: RwLock<Maps>,
    /// Opens the tenants' visitor-token secrets as they are loaded (none: sealed secrets stay
    /// closed and their tenants' tokens are refused).
    keyring: Option<Arc<Keyring>>,
    /// Held by [`IdentityCache::reload`] from its first read to its swap: one reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl IdentityCache {
    /// Loads every tenant, key and account from the store; `keyring` opens the tenants' sealed
    /// visitor-token secrets.
    pub async fn load(store: &dyn Store, keyring: Arc<Keyring>) -> Result<IdentityCache, StoreError> {
        let cache = IdentityCache { keyring: Some(keyring), ..IdentityCache::default() };
        cache.reload(store).await?;
        cache.load_accounts(store).await?;
        Ok(cache)
    }

    /// Loads every account's values (at start; afterwards each account is updated on its own,
    /// see [`IdentityCache::set_account`]).
    ///
    /// One tenant's bad data never stops the server for the others: if summing every account at
    /// once fails, each tenant is loaded on its own and a tenant that still fails is logged and
    /// left without account values (its visitors are measured, valued at 0, until it is fixed).
    pub async fn load_accounts(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let now = crate::clock::now_ms();
        let accounts = match store.all_accounts(None, now).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "loading every account at once failed; loading tenant by tenant");
                let mut all = Vec::new();
                for t in store.tenants().await? {
                    match store.all_accounts(Some(&t.id), now).await {
                        Ok(a) => all.extend(a),
                        Err(e) => tracing::error!(tenant = %t.id, error = %e, "this tenant's accounts could not be loaded"),
                    }
                }
                all
            }
        };
        let n = accounts.len();
        let mut by_tenant: HashMap<String, HashMap<String, Account>> = HashMap::new();
        for (t, a) in accounts {
            by_tenant.entry(t).or_default().insert(a.account.clone(), a);
        }
        self.maps.write().expect("identity cache lock").accounts = by_tenant;
        Ok(n)
    }

    /// Reloads tenants, keys, thresholds and token policies (a tenant changed, here or on
    /// another instance). Accounts are not reloaded: they change one at a time.
    ///
    /// Reloads run one at a time, each from its first read to its swap. Two at once could
    /// finish out of order: one that read the store before a tenant was created (started by an
    /// earlier change's bus message) swapped its list in after the creation's own reload, and
    /// the new tenant's keys were refused (401) until the next change. In turn, each reload
    /// reads the store after the one before it is in, so the list left in is never older than a
    /// change whose reload has returned.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let _one_at_a_time = self.reloading.lock().await;
        let mut tenants = store.tenants().await?;
        let keys = store.active_api_keys().await?;
        let policies: HashMap<String, Arc<TokenPolicy>> =
            tenants.iter_mut().map(|t| (t.id.clone(), Arc::new(open_secrets(self.keyring.as_deref(), t)))).collect();
        let mut m = self.maps.write().expect("identity cache lock");
        m.params = tenants.iter().map(|t| (t.id.clone(), Thresholds::parse(&t.thresholds).params())).collect();
        m.policies = policies;
        m.tenants = tenants.into_iter().map(|t| (t.id.clone(), Arc::new(t))).collect();
        let (mut sites, mut secrets) = (HashMap::new(), HashMap::new());
        for ApiKey { id, tenant_id, kind, lookup, .. } in keys {
            let Some(t) = m.tenants.get(&tenant_id).cloned() else { continue };
            match kind {
                KeyKind::Publishable => {
                    sites.insert(lookup, t);
                }
                KeyKind::Secret => {
                    secrets.insert(lookup, SecretKeyEntry { tenant: t, key_id: id });
                }
            }
        }
        (m.by_site_key, m.by_secret_hash) = (sites, secrets);
        Ok(())
    }

    /// Replaces one account's values (a transaction arrived, here or on another instance).
    pub fn set_account(&self, tenant: &str, account: Account) {
        let mut m = self.maps.write().expect("identity cache lock");
        m.accounts.entry(tenant.to_string()).or_default().insert(account.account.clone(), account);
    }

    /// Sets (or with `None` clears) a customer's one-tap state.
    pub fn set_context(&self, tenant: &str, sub: &str, ctx: Option<SharedContext>) {
        let mut m = self.maps.write().expect("identity cache lock");
        match ctx {
            Some(c) => {
                m.contexts.entry(tenant.to_string()).or_default().insert(sub.to_string(), c);
            }
            None => {
                if let Some(t) = m.contexts.get_mut(tenant) {
                    t.remove(sub);
                }
            }
        }
    }

    /// Forgets every one-tap state expired at `now_ms` (the session sweeper calls it each minute,
    /// so states set once and never cleared do not pile up); returns how many.
    pub fn evict_expired_contexts(&self, now_ms: i64) -> usize {
        let mut m = self.maps.write().expect("identity cache lock");
        let mut gone = 0;
        m.contexts.retain(|_, people| {
            let before = people.len();
            people.retain(|_, c| c.expires_ms > now_ms);
            gone += before - people.len();
            !people.is_empty()
        });
        gone
    }

    /// A customer's one-tap state, if set and not expired at `now_ms`.
    pub fn context(&self, tenant: &str, sub: &str, now_ms: i64) -> Option<SharedContext> {
        let m = self.maps.read().expect("identity cache lock");
        m.contexts.get(tenant)?.get(sub).filter(|c| c.expires_ms > now_ms).cloned()
    }

    /// The detector thresholds in effect for `tenant` (the defaults for an unknown one).
    pub fn params(&self, tenant: &str) -> Params {
        self.maps.read().expect("identity cache lock").params.get(tenant).copied().unwrap_or_default()
    }

    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.maps.read().expect("identity cache lock").tenants.get(id).cloned()
    }

    /// The tenant owning a publishable site key.
    pub fn tenant_by_site_key(&self, key: &str) -> Option<Arc<Tenant>> {
        self.maps.read().expect("identity cache lock").by_site_key.get(key).cloned()
    }

    /// The tenant owning a secret API key, and the key's id.
    pub fn secret_key(&self, key: &str) -> Option<SecretKeyEntry> {
        self.maps.read().expect("identity cache lock").by_secret_hash.get(&tokens::hash_key(key)).cloned()
    }

    /// The tenant owning a secret API key.
    pub fn tenant_by_secret(&self, key: &str) -> Option<Arc<Tenant>> {
        self.secret_key(key).map(|e| e.tenant)
    }

    /// An account of a tenant (a copy; [`IdentityCache::with_account`] reads without one).
    pub fn account(&self, tenant: &str, account: &str) -> Option<Account> {
        self.maps.read().expect("identity cache lock").accounts.get(tenant)?.get(account).cloned()
    }

    /// Runs `f` on an account of a tenant without cloning it.
    pub fn with_account<R>(&self, tenant: &str, account: &str, f: impl FnOnce(&Account) -> R) -> Option<R> {
        self.maps.read().expect("identity cache lock").accounts.get(tenant)?.get(account).map(f)
    }

    /// Number of accounts cached for a tenant.
    pub fn account_count(&self, tenant: &str) -> usize {
        self.maps.read().expect("identity cache lock").accounts.get(tenant).map_or(0, HashMap::len)
    }

    /// How `tenant`'s visitor tokens are verified.
    pub fn policy(&self, tenant: &Tenant) -> Arc<TokenPolicy> {
        let cached = self.maps.read().expect("identity cache lock").policies.get(&tenant.id).cloned();
        cached.unwrap_or_else(|| Arc::new(open_secrets(self.keyring.as_deref(), &mut tenant.clone())))
    }

    /// Verifies a visitor token with the tenant's pinned algorithm (HS256 without the network;
    /// RS256/ES256 against the cached JWKS) and resolves their account.
    pub async fn resolve(&self, jwks: &JwksCache, tenant: &Tenant, token: &str) -> Result<Visitor, TokenError> {
        let policy = self.policy(tenant);
        let claims = jwks.verify(token, &policy).await?;
        let account = claims.account.as_deref().and_then(|a| self.account(&tenant.id, a));
        Ok(Visitor { claims, account })
    }
}

/// Opens a stored tenant's sealed visitor-token secret and identity settings in place (a value
/// stored before sealing reads as it is) and returns how its tokens are verified: its stored
/// policy, or with none (or an unreadable one, logged) HS256 with its secret. A secret that does
/// not open (a missing key, a tampered value: logged) reads as empty, and an empty secret
/// verifies no token.
fn open_secrets(keyring: Option<&Keyring>, t: &mut Tenant) -> TokenPolicy {
    let open = |column: SealedColumn, stored: &str| -> Option<String> {
        if !keyring::is_sealed(stored) {
            return Some(stored.to_string());
        }
        let Some(k) = keyring else {
            tracing::error!(tenant = %t.id, column = ?column, "a sealed tenant secret and no keyring to open it");
            return None;
        };
        k.open_field(column, &t.id, &t.id, stored)
            .map_err(|e| tracing::error!(tenant = %t.id, column = ?column, error = %e, "a tenant secret could not be opened"))
            .ok()
    };
    t.jwt_secret = open(SealedColumn::TenantJwtSecret, &t.jwt_secret).unwrap_or_default();
    let Some(policy) = open(SealedColumn::TenantTokenPolicy, &t.token_policy) else {
        t.token_policy = String::new();
        return TokenPolicy { hs_secret: None, ..TokenPolicy::hs256("") };
    };
    t.token_policy = policy;
    if t.token_policy.trim().is_empty() {
        return TokenPolicy::hs256(t.jwt_secret.clone());
    }
    serde_json::from_str(&t.token_policy).unwrap_or_else(|e| {
        tracing::error!(tenant = %t.id, error = %e, "stored token policy unreadable; HS256 with the tenant secret applies");
        TokenPolicy::hs256(t.jwt_secret.clone())
    })
}

impl People {
    /// Seals a tenant's visitor-token secret (`tenants.jwt_secret`) for storage.
    pub fn seal_jwt_secret(&self, tenant: &str, secret: &str) -> String {
        self.keyring.seal_field(SealedColumn::TenantJwtSecret, tenant, tenant, secret)
    }

    /// Stores a tenant's identity settings (JSON of [`TokenPolicy`], `hs_secret` included)
    /// sealed, and refreshes every instance's cache.
    pub async fn set_token_policy(&self, tenant: &str, policy: &TokenPolicy) -> Result<(), IdentityError> {
        let json = serde_json::to_string(policy)?;
        let sealed = self.keyring.seal_field(SealedColumn::TenantTokenPolicy, tenant, tenant, &json);
        self.store.set_token_policy(tenant, &sealed).await?;
        self.identity_changed(tenant).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_one_tap_states_are_forgotten() {
        let cache = IdentityCache::default();
        let ctx = |expires_ms| Some(SharedContext { state: crate::records::Context::Busy, expires_ms });
        cache.set_context("t", "old", ctx(10));
        cache.set_context("t", "new", ctx(30));
        cache.set_context("u", "old", ctx(5));
        assert_eq!(cache.evict_expired_contexts(20), 2);
        assert!(cache.context("t", "new", 20).is_some());
        assert_eq!(cache.maps.read().unwrap().contexts.len(), 1, "a tenant with no state left is forgotten too");
        assert_eq!(cache.evict_expired_contexts(20), 0);
    }
}
