//! Start-up and the router: connect the store and the bus, load the caches, start the background
//! tasks, and serve [`app`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::bus::persister::Persister;
use crate::bus::{Bus, MemoryBus, NatsBus, Publisher, Subjects};
use crate::config::Config;
use crate::escalation::Escalation;
use crate::identity::{IdentityCache, People};
use crate::ingest::{PushRegistry, SessionTable, SocketCounts};
use crate::records::events::Push;
use crate::state::{AppState, Inner};
use crate::store::{SqlStore, Store};
use crate::telemetry::Metrics;
use crate::{api, bus, escalation, identity, ingest, interventions, store};

/// The HTTP application. Every route that takes a body has a limit, enforced as the body
/// arrives, so a body past it is answered 413 without being read whole: JSON bodies
/// [`api::MAX_JSON_BODY_BYTES`] (413 `payload_too_large`), the beacon
/// [`ingest::MAX_BEACON_BYTES`], the transactions CSV [`identity::customers::MAX_CSV_BYTES`]
/// (413 `payload_too_large`).
pub fn app(state: AppState) -> Router {
    use axum::extract::DefaultBodyLimit;

    /// `POST /v1/transactions/csv` streams its body into the parser without an extractor, which
    /// `DefaultBodyLimit` does not reach: past [`identity::customers::MAX_CSV_BYTES`], at once
    /// when `Content-Length` says so, else as soon as the streamed bytes pass it, the body ends
    /// (the parser sees an error, then the end) and whatever the handler answered becomes 413.
    async fn csv_limit(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
        use axum::response::IntoResponse;
        use std::sync::atomic::{AtomicBool, Ordering};
        const MAX: usize = identity::customers::MAX_CSV_BYTES;
        let too_large = || {
            tracing::debug!(limit_bytes = MAX, "transactions CSV past its limit");
            api::error::ApiError::payload_too_large(format!("the file is larger than {MAX} bytes"), serde_json::json!({"limit_bytes": MAX}))
                .into_response()
        };
        let declared = req.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX as u64) {
            return too_large();
        }
        let over = Arc::new(AtomicBool::new(false));
        let flag = over.clone();
        let (parts, body) = req.into_parts();
        // The state is the bytes passed on so far, or `None` once an error was passed on (the end).
        let chunks = futures::stream::unfold((body.into_data_stream(), Some(0usize)), move |(mut data, seen)| {
            let flag = flag.clone();
            async move {
                let seen = seen?;
                let (item, seen) = match data.next().await? {
                    Ok(chunk) if seen + chunk.len() > MAX => {
                        flag.store(true, Ordering::Relaxed);
                        (Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "too large")), None)
                    }
                    Ok(chunk) => {
                        let seen = seen + chunk.len();
                        (Ok(chunk), Some(seen))
                    }
                    Err(e) => (Err(std::io::Error::other(e)), None),
                };
                Some((item, (data, seen)))
            }
        });
        let answer = next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(chunks))).await;
        if over.load(Ordering::Relaxed) {
            too_large()
        } else {
            answer
        }
    }

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
        .layer(DefaultBodyLimit::max(api::MAX_JSON_BODY_BYTES))
        .layer(widget_cors);
    let www = ServeDir::new(&state.config.www_dir);
    let static_files = match &state.config.site_dir {
        Some(site) => Router::new().fallback_service(ServeDir::new(site).fallback(www)),
        None => Router::new().fallback_service(www),
    };
    // The REST API: JSON bodies up to MAX_JSON_BODY_BYTES. The people routes also carry the
    // CSV upload's own limit (their JSON routes meet the smaller one first).
    let rest = Router::new()
        .route("/v1/admin/tenants", post(api::create_tenant))
        .route("/v1/accounts", post(api::upsert_account))
        .route("/v1/transactions", post(api::add_transaction))
        .route("/v1/thresholds", get(api::thresholds).put(api::set_thresholds))
        .merge(api::people::routes().layer(axum::middleware::from_fn(csv_limit)))
        .merge(api::access::routes())
        .merge(api::learning::routes())
        .merge(api::escalations::routes())
        .merge(api::dashboard::routes())
        .merge(api::forensics::routes())
        .route("/v1/detections", get(api::detections))
        .route("/v1/interventions", get(api::interventions))
        .route("/v1/alerts", get(api::alerts))
        .route("/v1/stats", get(api::stats))
        .route("/v1/live", get(api::live))
        .route("/v1/sessions/{session}", get(api::dashboard::session_by_link))
        .layer(DefaultBodyLimit::max(api::MAX_JSON_BODY_BYTES));
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(crate::telemetry::readyz))
        .route("/v1/openapi.json", get(api::openapi::openapi_json))
        .route("/metrics", get(api::metrics))
        .route("/v1/ws", get(ingest::ws))
        .route("/v1/beacon", post(ingest::beacon).layer(DefaultBodyLimit::max(ingest::MAX_BEACON_BYTES)))
        .merge(rest)
        .route("/s/{session}", get(api::session_page))
        .route("/", get(|| async { axum::response::Redirect::temporary("/dashboard.html") }))
        .merge(sdk)
        .merge(widget)
        .merge(static_files)
        .with_state(state)
        // On every answer: no page of ours may be framed by another site (the session view and
        // the dashboard carry buttons that act: clickjacking), a signed link in the address bar
        // never leaks in a `Referer`, and no file is sniffed into another type. The SDK and
        // widget files are scripts a host page loads, which these do not hinder. A page may
        // set its own.
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
}

/// `/readyz`'s checks of this server's store and bus (`telemetry` knows neither).
impl axum::extract::FromRef<AppState> for crate::telemetry::Probes {
    fn from_ref(app: &AppState) -> Self {
        let (store, bus) = (app.store.clone(), app.bus.clone());
        crate::telemetry::Probes {
            // A lookup by primary key that finds nothing.
            store: Box::pin(async move { store.user("", "readyz").await.map(|_| ()).map_err(|e| e.to_string()) }),
            // A key-value read: a round trip to NATS JetStream (or the in-process bus).
            bus: Box::pin(async move { bus.kv_get("readyz").await.map(|_| ()).map_err(|e| e.to_string()) }),
        }
    }
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

/// How long [`Running::shutdown`] waits for durable events in flight.
pub const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the ingest journal (`frames`) keeps a frame's row.
pub const FRAME_RETENTION_MS: i64 = 24 * 3600 * 1000;

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
    /// Stops accepting and closes connections, then drains: every durable event a frame caused
    /// reaches the bus (in process: the store) before the background tasks stop, for up to
    /// [`DRAIN_FOR`]; what is still in flight then is logged (its frames were never
    /// acknowledged, so the pages resend them).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.served).await;
        let deadline = tokio::time::Instant::now() + DRAIN_FOR;
        while self.state.events.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        match self.state.events.in_flight() {
            0 => tracing::info!("shutdown: every event stored"),
            left => tracing::error!(left, "shutdown: events still waiting for the bus were given up (their frames were not acknowledged)"),
        }
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Waits until the server stops (Ctrl-C handling is the binary's).
    pub async fn wait(self) {
        let _ = self.served.await;
    }
}

/// Connects the store and bus, loads the identity cache, starts the background tasks
/// (persister, push dispatcher, cache refresher, session sweeper) and serves.
pub async fn start(config: Config) -> Result<Running, StartError> {
    start_with_clock(config, crate::clock::system()).await
}

/// [`start`] on `clock` (tests move time by hand with a [`crate::clock::ManualClock`]).
pub async fn start_with_clock(config: Config, clock: crate::clock::SharedClock) -> Result<Running, StartError> {
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&config.database_url).await?);
    let bus: Arc<dyn Bus> = match &config.nats_url {
        Some(url) => NatsBus::connect(url, &config.bus_prefix).await?,
        None => Arc::new(MemoryBus::new()),
    };
    let learning = interventions::Learning::default();
    learning.reload(store.as_ref()).await?;
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').to_string();
    let config_card_model = config.card_model.clone();
    let channels = escalation::channels(&config.channels).map_err(|e| StartError::Config(e.to_string()))?;
    let keyring = match &config.encryption_keys {
        Some((keys, index)) => identity::keyring::Keyring::parse(keys, index).map_err(|e| StartError::Config(e.to_string()))?,
        None => {
            tracing::warn!("personal fields are sealed with a key derived from the link secret: set SIQ_ENCRYPTION_KEYS and SIQ_INDEX_KEY in production (docs/security.md)");
            identity::keyring::Keyring::derived("sentientiq", &config.link_secret)
        }
    };
    let metrics = Arc::new(Metrics::default());
    let keyring = Arc::new(keyring);
    let identity = Arc::new(IdentityCache::load(store.as_ref(), keyring.clone()).await?);
    let learning = Arc::new(learning);
    let jwks = Arc::new(identity::jwt::JwksCache::new().with_targets(config.channels.targets));
    let opener = interventions::opener::Opener::new(config_card_model);
    let events = Publisher::new(bus.clone(), Subjects::new(&config.bus_prefix), metrics.clone());
    let people = People {
        store: store.clone(),
        keyring: keyring.clone(),
        cache: identity.clone(),
        events: events.clone(),
        critical_value_cents: config.critical_value_cents,
        clock: clock.clone(),
    };
    let escalation = Escalation {
        store: store.clone(),
        keyring: keyring.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        engine: Arc::new(escalation::Engine::new(channels)),
        settings: Arc::new(config.escalation_settings(&public_url)),
        clock: clock.clone(),
    };
    let ingest = ingest::Hub {
        store: store.clone(),
        events: events.clone(),
        people: people.clone(),
        jwks: jwks.clone(),
        metrics: metrics.clone(),
        learning: learning.clone(),
        opener,
        escalation: escalation.clone(),
        settings: Arc::new(config.ingest_settings()),
        sessions: Arc::new(SessionTable::with_cap(config.max_sessions_per_tenant)),
        sockets: Arc::new(PushRegistry::default()),
        tenant_sockets: Arc::new(SocketCounts::with_cap(config.max_sockets_per_tenant)),
        socket: false,
        clock: clock.clone(),
        pacer: Arc::new(ingest::priority::Pacer::default()),
    };
    crate::forensics::failures::mark_started(clock.now_ms());
    let state = AppState(Arc::new(Inner {
        config,
        public_url: public_url.clone(),
        store,
        bus,
        events,
        identity,
        people,
        metrics,
        ingest,
        escalation,
        keyring,
        jwks,
        learning,
        logins: Default::default(),
        clock,
    }));
    let subjects = state.events.subjects().clone();
    let mut tasks = Vec::new();

    // Persister: durable events → store.
    let events = state.bus.consume("persist", &subjects.all_events()).await?;
    let persister = Persister::new(state.store.clone(), Arc::new(state.people.clone()), state.metrics.clone());
    let persisting = tokio::spawn(async move {
        let mut batches = events.ready_chunks(crate::bus::persister::BATCH);
        while let Some(batch) = batches.next().await {
            persister.write_batch(&batch).await;
        }
    });

    // Push dispatcher: interventions → local sockets.
    let mut pushes = state.bus.subscribe(&subjects.all_pushes()).await?;
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(m) = pushes.next().await {
            match serde_json::from_slice::<Push>(&m.payload) {
                Ok(p) => {
                    let _span = tracing::trace_span!(target: crate::telemetry::HOT_PATH, "push", tenant = %p.tenant_id).entered();
                    if s.ingest.sockets.deliver(&p) {
                        crate::telemetry::LATENCY.push_delivered(p.id);
                    }
                }
                Err(e) => tracing::error!(subject = %m.subject, error = %e, "unreadable push on the bus"),
            }
        }
    }));

    // Cache refresher: another instance changed a tenant's identity data.
    let mut changes = state.bus.subscribe(&subjects.all_caches()).await?;
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
        state.people.apply_kv(change);
    }
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(change) = kv.next().await {
            s.people.apply_kv(change);
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
            let day = identity::strength::day_of(s.clock.now_ms());
            if done_day == Some(day) {
                continue;
            }
            done_day = Some(day);
            // Yesterday goes to the warehouse before retention can delete any of it.
            if let Some(dir) = &s.config.export_dir {
                for t in s.store.tenants().await.unwrap_or_default() {
                    match crate::forensics::warehouse::export_day(s.store.as_ref(), &t.id, day - 1, dir).await {
                        Ok(files) => tracing::info!(tenant = %t.id, files = files.len(), "warehouse export of yesterday"),
                        Err(e) => tracing::error!(tenant = %t.id, error = %e, "warehouse export failed"),
                    }
                }
            }
            identity::customers::retention_sweep(&s.people).await;
            for t in s.store.tenants().await.unwrap_or_default() {
                match identity::customers::rescore_all(&s.people, &t.id).await {
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
    tasks.push(tokio::spawn(escalation::run(state.escalation.clone())));

    // The ingest journal keeps a day of frames.
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match s.store.prune_frames(s.clock.now_ms() - FRAME_RETENTION_MS).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "ingest journal pruned"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "ingest journal could not be pruned"),
            }
        }
    }));

    // The runtime's lag, and the low lane's pace while it is high (ingest/priority.rs).
    let events = state.ingest.events.clone();
    tasks.push(tokio::spawn(state.ingest.pacer.clone().run(move || events.in_flight())));

    // Session sweeper.
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            s.ingest.sessions.sweep();
            s.identity.evict_expired_contexts(s.clock.now_ms());
        }
    }));

    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    // TCP_NODELAY on every connection: the server answers a detection with two small frames
    // (Ack, then Intervene); with Nagle's algorithm the second waited for the browser's delayed
    // ACK of the first, up to 40 ms, on about one detection in ten.
    let listener = axum::serve::ListenerExt::tap_io(crate::listener::Guarded::new(listener), |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY could not be set");
        }
    });
    let keep_alive = std::time::Duration::from_millis(state.config.keep_alive_timeout_ms);
    let served = tokio::spawn(async move {
        // With each connection's address: the sign-in throttle counts failures per client.
        crate::listener::serve(listener, router, keep_alive, async move {
            let _ = rx.await;
        })
        .await;
    });
    // Stopped last, after the drain.
    tasks.push(persisting);
    tracing::info!(%addr, %public_url, "SentientIQ server listening");
    Ok(Running { addr, public_url, state, shutdown, served, tasks })
}

/// How often the daily pass checks whether a new UTC day began, seconds.
const DAILY_PASS_CHECK_SECS: u64 = 600;
