//! # SentientIQ server
//!
//! The path of a frame:
//!
//! 1. **ingest** ([`ingest`]): the SDK's Web Worker holds a binary WebSocket on `/v1/ws` (or,
//!    when the page goes away, posts its queue to `/v1/beacon`). Frames are postcard
//!    [`shared_physics::wire`] envelopes; the first is `Hello`, which binds the connection to a
//!    tenant (by site key, from the in-memory [`identity`] cache) and, with a verified host JWT,
//!    to a person and account.
//! 2. **confirm** ([`confirm`]): a `Detection` carries its evidence window; the server reruns the
//!    same `shared-physics` detector on it with the tenant's thresholds. The client's confidence
//!    is never trusted; overturned and disagreeing detections are counted ([`telemetry`]).
//! 3. **decide** ([`interventions`]): above the bar and outside the cooldown, an `Intervene`
//!    is published on the bus (`{prefix}.push.{tenant}.{session}`); whichever instance holds the
//!    session's socket pushes it into the page.
//! 4. **escalate** ([`escalation`]): when an identified visitor of an account worth at least the
//!    critical value struggles over more than one burst, an escalation is persisted and the
//!    tenant's chain is paged contact by contact ([`channels`]: SMS, WhatsApp, Slack, PagerDuty,
//!    email, webhooks) with a signed, expiring one-click link to the session view that also
//!    acknowledges ([`auth::sign_link`], [`auth::sign_ack`]).
//! 5. **persist**: sessions, detections, interventions and alerts are published as durable
//!    events (`{prefix}.events.*`, [`bus`]) and written by the persister through the [`store`],
//!    never on the hot path. The dashboard's live feed reads the same events.
//!
//! Backends: [`store::SqlStore`] on SQLite (default) or PostgreSQL; [`bus::MemoryBus`]
//! (default) or [`bus::NatsBus`] (JetStream). [`start`] wires them from a [`config::Config`].

pub mod api;
pub mod auth;
pub mod bandit;
pub mod bus;
pub mod channels;
pub mod company;
pub mod config;
pub mod confirm;
pub mod customers;
pub mod error;
pub mod escalation;
pub mod events;
pub mod identity;
pub mod ingest;
pub mod interventions;
pub mod jwt;
pub mod openapi;
pub mod opener;
pub mod replay;
pub mod secrets;
pub mod store;
pub mod strength;
pub mod telemetry;
pub mod thresholds;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::bus::{Bus, MemoryBus, NatsBus};
use crate::config::Config;
use crate::events::{Event, Push};
use crate::identity::IdentityCache;
use crate::ingest::{PushRegistry, SessionTable};
use crate::store::{SqlStore, Store};
use crate::telemetry::{inc, Metrics};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A random `u32` (ids only; nothing behind an insight is random).
pub fn random_u32() -> u32 {
    rand::random()
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

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
    pub keyring: secrets::Keyring,
    /// Host JWKS key sets, fetched and cached.
    pub jwks: jwt::JwksCache,
    /// Intervention variants and their arm counts.
    pub learning: interventions::Learning,
    /// Writes conversation-card openers (template, or a configured model).
    pub opener: opener::Opener,
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
    pub async fn account_changed(&self, tenant: &str, account: &str) -> Result<(), error::ApiError> {
        if let Some(a) = self.store.account(tenant, account, now_ms()).await? {
            self.identity.set_account(tenant, a.clone());
            let value = Bytes::from(serde_json::to_vec(&a).map_err(error::ApiError::internal)?);
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
                if let Err(e) = customers::rescore(&app, &tenant, &sub).await {
                    tracing::error!(tenant = %tenant, error = %e, "strength recomputation failed");
                }
            }
        });
        Ok(())
    }

    /// Refreshes this instance's identity cache for `tenant` and tells the other instances.
    pub async fn identity_changed(&self, tenant: &str) -> Result<(), error::ApiError> {
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
fn apply_kv(app: &AppState, change: bus::KvChange) {
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

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    let cors =
        SetResponseHeaderLayer::overriding(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, axum::http::HeaderValue::from_static("*"));
    let sdk = Router::new()
        .route_service("/sdk.js", tower_http::services::ServeFile::new(state.config.sdk_dir.join("sdk.js")))
        .route_service("/sdk-worker.js", tower_http::services::ServeFile::new(state.config.sdk_dir.join("sdk-worker.js")))
        .route_service("/sdk.wasm", tower_http::services::ServeFile::new(state.config.sdk_dir.join("sdk.wasm")))
        .route_service("/sdk-emotions.wasm", tower_http::services::ServeFile::new(state.config.sdk_dir.join("sdk-emotions.wasm")))
        .layer(cors);
    // The widget and the customer's own routes are called from the host's pages, on another
    // origin: CORS without credentials (the visitor token travels in a header).
    let widget_cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static("x-siq-site-key"),
        ]);
    let widget = Router::new()
        .nest_service("/widget", ServeDir::new(&state.config.widget_dir))
        .route("/v1/me", get(api::people::me))
        .route("/v1/me/context", post(api::people::my_context))
        .layer(widget_cors);
    let www = ServeDir::new(&state.config.www_dir);
    let static_files = match &state.config.site_dir {
        Some(site) => Router::new().fallback_service(ServeDir::new(site).fallback(www)),
        None => Router::new().fallback_service(www),
    };
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(api::metrics))
        .route("/v1/ws", get(ingest::ws))
        .route("/v1/beacon", post(ingest::beacon))
        .route("/v1/admin/tenants", post(api::create_tenant))
        .route("/v1/accounts", post(api::upsert_account))
        .route("/v1/transactions", post(api::add_transaction))
        .route("/v1/thresholds", get(api::thresholds).put(api::set_thresholds))
        .merge(api::people::routes())
        .merge(api::access::routes())
        .merge(api::learning::routes())
        .merge(api::escalations::routes())
        .route("/v1/detections", get(api::detections))
        .route("/v1/interventions", get(api::interventions))
        .route("/v1/alerts", get(api::alerts))
        .route("/v1/stats", get(api::stats))
        .route("/v1/live", get(api::live))
        .route("/v1/sessions/{session}", get(api::session_json))
        .route("/s/{session}", get(api::session_page))
        .route("/", get(|| async { axum::response::Redirect::temporary("/dashboard.html") }))
        .merge(sdk)
        .merge(widget)
        .merge(static_files)
        .with_state(state)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// A configuration value is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Binding the listen address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running server.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The base URL used in links.
    pub public_url: String,
    /// The shared state (for tests and tools in the same process).
    pub state: AppState,
    shutdown: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, closes connections and background tasks.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        for t in &self.tasks {
            t.abort();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.served).await;
    }

    /// Waits until the server stops (Ctrl-C handling is the binary's).
    pub async fn wait(self) {
        let _ = self.served.await;
    }
}

/// Connects the store and bus, loads the identity cache, starts the background tasks
/// (persister, push dispatcher, cache refresher, session sweeper) and serves.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&config.database_url).await?);
    let bus: Arc<dyn Bus> = match &config.nats_url {
        Some(url) => NatsBus::connect(url, &config.bus_prefix).await?,
        None => Arc::new(MemoryBus::new()),
    };
    let identity = IdentityCache::load(store.as_ref()).await?;
    let learning = interventions::Learning::default();
    learning.reload(store.as_ref()).await?;
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').to_string();
    let config_card_model = config.card_model.clone();
    let channels = escalation::channels(&config.channels).map_err(|e| StartError::Config(e.to_string()))?;
    let keyring = match &config.encryption_keys {
        Some((keys, index)) => secrets::Keyring::parse(keys, index).map_err(|e| StartError::Config(e.to_string()))?,
        None => {
            tracing::warn!("personal fields are sealed with a key derived from the link secret: set SIQ_ENCRYPTION_KEYS and SIQ_INDEX_KEY in production (docs/security.md)");
            secrets::Keyring::derived("sentientiq", &config.link_secret)
        }
    };
    let state = AppState(Arc::new(Inner {
        config,
        public_url: public_url.clone(),
        store,
        bus,
        identity,
        metrics: Metrics::default(),
        sessions: SessionTable::default(),
        sockets: PushRegistry::default(),
        escalation: escalation::Engine::new(channels),
        keyring,
        jwks: jwt::JwksCache::new(),
        opener: opener::Opener::new(config_card_model),
        learning,
    }));
    let prefix = state.config.bus_prefix.clone();
    let mut tasks = Vec::new();

    // Persister: durable events → store.
    let mut events = state.bus.consume("persist", &format!("{prefix}.events.>")).await?;
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(m) = events.next().await {
            persist(&s, &m.payload).await;
            if let Err(e) = m.ack().await {
                tracing::warn!(error = %e, "could not acknowledge an event");
            }
        }
    }));

    // Push dispatcher: interventions → local sockets.
    let mut pushes = state.bus.subscribe(&format!("{prefix}.push.>")).await?;
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(m) = pushes.next().await {
            if let Ok(p) = serde_json::from_slice::<Push>(&m.payload) {
                s.sockets.deliver(&p);
            }
        }
    }));

    // Cache refresher: another instance changed a tenant's identity data.
    let mut changes = state.bus.subscribe(&format!("{prefix}.cache.*")).await?;
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(m) = changes.next().await {
            let tenant = m.subject.rsplit('.').next().unwrap_or_default().to_string();
            if let Err(e) = s.identity.reload(s.store.as_ref()).await {
                tracing::error!(tenant = %tenant, error = %e, "identity cache refresh failed");
            }
        }
    }));

    // Shared identity state: what other instances change, and what they changed before we started.
    let mut kv = state.bus.kv_watch(">").await?;
    for change in state.bus.kv_snapshot(">").await? {
        apply_kv(&state, change);
    }
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(change) = kv.next().await {
            apply_kv(&s, change);
        }
    }));

    // Daily: every customer rescored (tenure and windows move with time; one snapshot a day),
    // and session data past each tenant's retention deleted.
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(DAILY_PASS_CHECK_SECS));
        let mut done_day = None;
        loop {
            every.tick().await;
            let day = strength::day_of(now_ms());
            if done_day == Some(day) {
                continue;
            }
            done_day = Some(day);
            customers::retention_sweep(&s).await;
            for t in s.store.tenants().await.unwrap_or_default() {
                match customers::rescore_all(&s, &t.id).await {
                    Ok(n) => tracing::info!(tenant = %t.id, customers = n, "daily strength pass"),
                    Err(e) => tracing::error!(tenant = %t.id, error = %e, "daily strength pass failed"),
                }
            }
        }
    }));

    // Variants and arm counts: every instance rereads them (outcomes may land on any).
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(interventions::ARMS_REFRESH);
        loop {
            every.tick().await;
            if let Err(e) = s.learning.reload(s.store.as_ref()).await {
                tracing::error!(error = %e, "variants and arms could not be reread");
            }
        }
    }));

    // Escalations: due pages, next contacts, and what a stopped instance left behind.
    tasks.push(tokio::spawn(escalation::run(state.clone())));

    // Session sweeper.
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            s.sessions.sweep();
        }
    }));

    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    // TCP_NODELAY on every connection: the server answers a detection with two small frames
    // (Ack, then Intervene); with Nagle's algorithm the second waited for the browser's delayed
    // ACK of the first, up to 40 ms, on about one detection in ten.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY could not be set");
        }
    });
    let served = tokio::spawn(async move {
        let r = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = r.await {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    tracing::info!(%addr, %public_url, "SentientIQ server listening");
    Ok(Running { addr, public_url, state, shutdown, served, tasks })
}

/// How often the daily pass checks whether a new UTC day began, seconds.
const DAILY_PASS_CHECK_SECS: u64 = 600;

/// Number of write attempts per event before it counts as a persistence failure.
const PERSIST_ATTEMPTS: u32 = 3;

async fn persist(app: &AppState, payload: &[u8]) {
    let ev: Event = match serde_json::from_slice(payload) {
        Ok(e) => e,
        Err(e) => return tracing::error!(error = %e, "unreadable event on the bus"),
    };
    // An event about a person erased after it happened is not written (it was in flight).
    if let Some(sub) = ev.person() {
        match app.store.erased_at(ev.tenant(), &customers::person_ref(app, ev.tenant(), sub)).await {
            Ok(Some(erased)) if erased >= ev.at_ms() => {
                return tracing::info!(tenant = %ev.tenant(), kind = ev.kind(), "event about an erased person dropped");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(tenant = %ev.tenant(), error = %e, "erasure check failed; writing the event"),
        }
    }
    let mut delay = std::time::Duration::from_millis(50);
    for attempt in 1..=PERSIST_ATTEMPTS {
        let r = match &ev {
            Event::Session(s) => app.store.upsert_session(s).await,
            Event::Detection(d) => app.store.insert_detection(d).await.map(|_| ()),
            Event::Intervention(i) => app.store.insert_intervention(i).await,
            Event::Alert(a) => app.store.insert_alert(a).await,
            Event::Customer(c) => app.store.customer_seen(c).await,
            Event::Context(c) => app.store.add_context(c).await,
            Event::Erosion(_) => Ok(()),
            Event::Decision(d) => app.store.insert_decision(d).await,
            Event::Card(c) => app.store.insert_card(c).await,
        };
        match r {
            Ok(()) => {
                // What the person's strength reads changed: recompute it.
                let rescore = match &ev {
                    Event::Detection(_) | Event::Customer(_) | Event::Context(_) => ev.person(),
                    _ => None,
                };
                if let Some(sub) = rescore {
                    if let Err(e) = customers::rescore(app, ev.tenant(), sub).await {
                        tracing::error!(tenant = %ev.tenant(), error = %e, "strength recomputation failed");
                    }
                }
                return;
            }
            Err(e) if attempt == PERSIST_ATTEMPTS => {
                inc(&app.metrics.tenant(ev.tenant()).persist_failed);
                tracing::error!(tenant = %ev.tenant(), kind = ev.kind(), error = %e, "event could not be stored");
            }
            Err(e) => {
                tracing::warn!(tenant = %ev.tenant(), attempt, error = %e, "store write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
    }
}
