//! The shared state of the edges (the API handlers, the socket connection, the router and
//! start-up): every subsystem's handle in one cheap-to-clone value.

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

use crate::bus::{self, Bus};
use crate::clock::now_ms;
use crate::config::Config;
use crate::identity::IdentityCache;
use crate::ingest::{PushRegistry, SessionTable};
use crate::records::events::{Event, Push};
use crate::store::{self, Store};
use crate::telemetry::{inc, Metrics};
use crate::{api, escalation, identity, interventions};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The shared state behind [`AppState`].
pub struct Inner {
    /// Configuration.
    pub config: Config,
    /// Base URL for links.
    pub public_url: String,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Event bus.
    pub bus: Arc<dyn Bus>,
    /// Tenants, keys and account values in memory.
    pub identity: IdentityCache,
    /// Counters.
    pub metrics: Metrics,
    /// Live sessions.
    pub sessions: SessionTable,
    /// Sockets on this instance.
    pub sockets: PushRegistry,
    /// Escalation engine: channels and this instance's claims.
    pub escalation: escalation::Engine,
    /// Keys that seal personal fields at rest.
    pub keyring: identity::keyring::Keyring,
    /// Host JWKS key sets, fetched and cached.
    pub jwks: identity::jwt::JwksCache,
    /// Intervention variants and their arm counts.
    pub learning: interventions::Learning,
    /// Writes conversation-card openers (template, or a configured model).
    pub opener: interventions::opener::Opener,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Publishes a durable event without waiting (a failure is logged and counted).
    pub fn publish_event(&self, ev: Event) {
        let app = self.clone();
        tokio::spawn(async move {
            let subject = ev.subject(&app.config.bus_prefix);
            let payload = match serde_json::to_vec(&ev) {
                Ok(p) => Bytes::from(p),
                Err(e) => return tracing::error!(error = %e, "event not serialisable"),
            };
            if let Err(e) = app.bus.publish(subject, payload).await {
                inc(&app.metrics.tenant(ev.tenant()).persist_failed);
                tracing::error!(tenant = %ev.tenant(), error = %e, "event could not be published");
            }
        });
    }

    /// Sends an intervention towards the session's socket, wherever it is.
    pub fn push(&self, p: Push) {
        let app = self.clone();
        tokio::spawn(async move {
            let subject = format!("{}.push.{}.{}", app.config.bus_prefix, p.tenant_id, p.session);
            let payload = Bytes::from(serde_json::to_vec(&p).unwrap_or_default());
            if let Err(e) = app.bus.publish(subject, payload).await {
                tracing::error!(tenant = %p.tenant_id, error = %e, "intervention could not be published");
            }
        });
    }

    /// Re-reads one account's values, puts them in this instance's cache and in the bus's
    /// key-value bucket (every other instance applies them), and recomputes the strength of the
    /// account's customers in the background.
    pub async fn account_changed(&self, tenant: &str, account: &str) -> Result<(), api::error::ApiError> {
        if let Some(a) = self.store.account(tenant, account, now_ms()).await? {
            self.identity.set_account(tenant, a.clone());
            let value = Bytes::from(serde_json::to_vec(&a).map_err(api::error::ApiError::internal)?);
            self.bus.kv_put(&bus::kv_key(&[KV_ACCOUNT, tenant, account]), value).await?;
        }
        let app = self.clone();
        let (tenant, account) = (tenant.to_string(), account.to_string());
        tokio::spawn(async move {
            let subs = match app.store.account_customers(&tenant, &account).await {
                Ok(s) => s,
                Err(e) => return tracing::error!(tenant = %tenant, error = %e, "cannot list an account's customers"),
            };
            for sub in subs {
                if let Err(e) = identity::customers::rescore(&app, &tenant, &sub).await {
                    tracing::error!(tenant = %tenant, error = %e, "strength recomputation failed");
                }
            }
        });
        Ok(())
    }

    /// Refreshes this instance's identity cache for `tenant` and tells the other instances.
    pub async fn identity_changed(&self, tenant: &str) -> Result<(), api::error::ApiError> {
        self.identity.reload(self.store.as_ref()).await?;
        self.bus.publish(format!("{}.cache.{tenant}", self.config.bus_prefix), Bytes::new()).await?;
        Ok(())
    }
}

/// Key-value prefix of an account's values (`acct.{tenant}.{account}`).
pub const KV_ACCOUNT: &str = "acct";
/// Key-value prefix of a customer's one-tap state (`ctx.{tenant}.{sub}`).
pub const KV_CONTEXT: &str = "ctx";

/// Sets (or clears) a customer's one-tap state in this instance's cache and in the bus's
/// key-value bucket, so every instance's decision step sees it. A failure is logged: the state
/// is stored, and other instances see it after their next start.
pub async fn share_context(app: &AppState, tenant: &str, sub: &str, ctx: Option<identity::SharedContext>) {
    app.identity.set_context(tenant, sub, ctx.clone());
    let key = bus::kv_key(&[KV_CONTEXT, tenant, sub]);
    let r = match ctx {
        Some(c) => app.bus.kv_put(&key, Bytes::from(serde_json::to_vec(&c).unwrap_or_default())).await.map(|_| ()),
        None => app.bus.kv_delete(&key).await,
    };
    if let Err(e) = r {
        tracing::error!(tenant, error = %e, "a customer's state could not be shared with other instances");
    }
}

/// Applies a change another instance made to the shared identity state.
pub fn apply_kv(app: &AppState, change: bus::KvChange) {
    let Some(parts) = bus::kv_key_parts(&change.key) else { return };
    match (parts.first().map(String::as_str), &parts[..], change.value) {
        (Some(KV_ACCOUNT), [_, tenant, _], Some(v)) => match serde_json::from_slice::<store::Account>(&v) {
            Ok(a) => app.identity.set_account(tenant, a),
            Err(e) => tracing::warn!(tenant = %tenant, error = %e, "unreadable shared account"),
        },
        (Some(KV_CONTEXT), [_, tenant, sub], v) => {
            app.identity.set_context(tenant, sub, v.and_then(|v| serde_json::from_slice(&v).ok()));
        }
        _ => {}
    }
}
