//! Counters (per tenant, and in Prometheus text at `/metrics`), latency histograms of the hot
//! path, readiness (`/readyz`) and log and trace set-up. Failures are counted here so the
//! dashboard can show them. `docs/operations.md` lists every metric.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What is counted, per tenant.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames received (all kinds).
    pub frames: AtomicU64,
    /// Frames that were duplicates of already-processed `(session, seq)`.
    pub duplicates: AtomicU64,
    /// Detection frames received from SDKs.
    pub detections: AtomicU64,
    /// Detections the server's recomputation confirmed.
    pub confirmed: AtomicU64,
    /// Detections the recomputation did not confirm.
    pub overturned: AtomicU64,
    /// Confirmed detections whose recomputed confidence differed from the client's.
    pub disagreed: AtomicU64,
    /// Interventions pushed.
    pub interventions: AtomicU64,
    /// Alerts delivered to a provider.
    pub alerts_sent: AtomicU64,
    /// Alerts that could not be delivered.
    pub alerts_failed: AtomicU64,
    /// Identity tokens refused (session measured as anonymous).
    pub identity_rejected: AtomicU64,
    /// Events the persister failed to write.
    pub persist_failed: AtomicU64,
    /// In-page interventions not shown because the customer said they were busy.
    pub suppressed_busy: AtomicU64,
    /// Decisions in the holdout (control: no intervention, on purpose).
    pub held_out: AtomicU64,
    /// Conversation cards queued for a human.
    pub cards: AtomicU64,
    /// Card openers the configured model failed to write (the template wrote them).
    pub card_model_failed: AtomicU64,
    /// Outcomes reported by pages (`SentientIQ.track`) and attributed to a decision.
    pub outcomes: AtomicU64,
    /// Notes from pages that could not be used (empty, unknown state, context while anonymous).
    pub notes_refused: AtomicU64,
    /// Escalations opened (a struggle met the paging bar).
    pub escalations: AtomicU64,
    /// Session-minutes with activity (a `Physics` frame in a wall-clock minute): the denominator
    /// of "share of session-minutes interrupted".
    pub active_minutes: AtomicU64,
    /// Escalations a person acknowledged.
    pub escalations_acked: AtomicU64,
    /// Escalations that paged the whole chain without an acknowledgement (or had nobody to page).
    pub escalations_exhausted: AtomicU64,
    /// New sessions refused because the tenant had its cap of live sessions on this instance.
    pub sessions_refused: AtomicU64,
    /// Sockets refused at their `Hello` because the tenant had its cap of open sockets on this
    /// instance.
    pub sockets_refused: AtomicU64,
    /// `Hello`s refused because their session is bound to another resume secret (or they
    /// carried none): someone who knew only the session id.
    pub resumes_refused: AtomicU64,
    /// Sign-ins refused by the throttle (too many failures for the address or the client).
    pub logins_throttled: AtomicU64,
    /// Escalations not opened because the same person was escalated within the cooldown.
    pub escalations_suppressed: AtomicU64,
    /// Durable events the bus did not take at the first attempt (retried, same id).
    pub publish_retried: AtomicU64,
    /// Durable events refused because too many were already waiting for the bus (their frames
    /// stay unacknowledged in the page).
    pub durable_refused: AtomicU64,
    /// Events the persister could not write yet and handed back to the bus for redelivery.
    pub persist_retried: AtomicU64,
    /// Frames not acknowledged because an event they caused could not be stored (the socket is
    /// closed, the page resends them).
    pub frames_unstored: AtomicU64,
}

/// A snapshot of [`Counters`] for the API.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct CountersSnapshot {
    #[allow(missing_docs)]
    pub frames: u64,
    #[allow(missing_docs)]
    pub duplicates: u64,
    #[allow(missing_docs)]
    pub detections: u64,
    #[allow(missing_docs)]
    pub confirmed: u64,
    #[allow(missing_docs)]
    pub overturned: u64,
    #[allow(missing_docs)]
    pub disagreed: u64,
    #[allow(missing_docs)]
    pub interventions: u64,
    #[allow(missing_docs)]
    pub alerts_sent: u64,
    #[allow(missing_docs)]
    pub alerts_failed: u64,
    #[allow(missing_docs)]
    pub identity_rejected: u64,
    #[allow(missing_docs)]
    pub persist_failed: u64,
    #[allow(missing_docs)]
    pub suppressed_busy: u64,
    #[allow(missing_docs)]
    pub held_out: u64,
    #[allow(missing_docs)]
    pub cards: u64,
    #[allow(missing_docs)]
    pub card_model_failed: u64,
    #[allow(missing_docs)]
    pub outcomes: u64,
    #[allow(missing_docs)]
    pub notes_refused: u64,
    #[allow(missing_docs)]
    pub escalations: u64,
    #[allow(missing_docs)]
    pub active_minutes: u64,
    #[allow(missing_docs)]
    pub escalations_acked: u64,
    #[allow(missing_docs)]
    pub escalations_exhausted: u64,
    #[allow(missing_docs)]
    pub sessions_refused: u64,
    #[allow(missing_docs)]
    pub sockets_refused: u64,
    #[allow(missing_docs)]
    pub resumes_refused: u64,
    #[allow(missing_docs)]
    pub logins_throttled: u64,
    #[allow(missing_docs)]
    pub escalations_suppressed: u64,
    #[allow(missing_docs)]
    pub publish_retried: u64,
    #[allow(missing_docs)]
    pub durable_refused: u64,
    #[allow(missing_docs)]
    pub persist_retried: u64,
    #[allow(missing_docs)]
    pub frames_unstored: u64,
}

macro_rules! snapshot {
    ($c:expr, $($f:ident),*) => { CountersSnapshot { $($f: $c.$f.load(Relaxed)),* } };
}

impl Counters {
    /// Reads every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        snapshot!(
            self,
            frames,
            duplicates,
            detections,
            confirmed,
            overturned,
            disagreed,
            interventions,
            alerts_sent,
            alerts_failed,
            identity_rejected,
            persist_failed,
            suppressed_busy,
            held_out,
            cards,
            card_model_failed,
            outcomes,
            notes_refused,
            escalations,
            active_minutes,
            escalations_acked,
            escalations_exhausted,
            sessions_refused,
            sockets_refused,
            resumes_refused,
            logins_throttled,
            escalations_suppressed,
            publish_retried,
            durable_refused,
            persist_retried,
            frames_unstored
        )
    }
}

/// Adds one.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Counters of every tenant, plus connection gauges.
#[derive(Default)]
pub struct Metrics {
    tenants: RwLock<HashMap<String, Arc<Counters>>>,
    /// Open WebSocket connections.
    pub connections: AtomicU64,
    /// Frames refused before a tenant was known (bad version, bad key, malformed hello).
    pub rejected_frames: AtomicU64,
}

impl Metrics {
    /// The counters of a tenant (created on first use).
    pub fn tenant(&self, tenant: &str) -> Arc<Counters> {
        if let Some(c) = self.tenants.read().expect("metrics lock").get(tenant) {
            return c.clone();
        }
        self.tenants.write().expect("metrics lock").entry(tenant.to_string()).or_default().clone()
    }

    /// Prometheus text exposition.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("# TYPE siq_connections gauge\nsiq_connections {}\n", self.connections.load(Relaxed)));
        out.push_str(&format!(
            "# TYPE siq_rejected_frames_total counter\nsiq_rejected_frames_total {}\n",
            self.rejected_frames.load(Relaxed)
        ));
        let tenants = self.tenants.read().expect("metrics lock");
        let mut names: Vec<_> = tenants.keys().collect();
        names.sort();
        let snaps: Vec<_> = names.iter().map(|t| (t, tenants[*t].snapshot())).collect();
        type Getter = fn(&CountersSnapshot) -> u64;
        let rows: [(&str, Getter); 30] = [
            ("frames", |s| s.frames),
            ("duplicate_frames", |s| s.duplicates),
            ("detections", |s| s.detections),
            ("confirmed", |s| s.confirmed),
            ("overturned", |s| s.overturned),
            ("disagreed", |s| s.disagreed),
            ("interventions", |s| s.interventions),
            ("alerts_sent", |s| s.alerts_sent),
            ("alerts_failed", |s| s.alerts_failed),
            ("identity_rejected", |s| s.identity_rejected),
            ("persist_failed", |s| s.persist_failed),
            ("suppressed_busy", |s| s.suppressed_busy),
            ("held_out", |s| s.held_out),
            ("cards", |s| s.cards),
            ("card_model_failed", |s| s.card_model_failed),
            ("outcomes", |s| s.outcomes),
            ("notes_refused", |s| s.notes_refused),
            ("escalations", |s| s.escalations),
            ("active_minutes", |s| s.active_minutes),
            ("escalations_acked", |s| s.escalations_acked),
            ("escalations_exhausted", |s| s.escalations_exhausted),
            ("sessions_refused", |s| s.sessions_refused),
            ("sockets_refused", |s| s.sockets_refused),
            ("resumes_refused", |s| s.resumes_refused),
            ("logins_throttled", |s| s.logins_throttled),
            ("escalations_suppressed", |s| s.escalations_suppressed),
            ("publish_retried", |s| s.publish_retried),
            ("durable_refused", |s| s.durable_refused),
            ("persist_retried", |s| s.persist_retried),
            ("frames_unstored", |s| s.frames_unstored),
        ];
        for (name, get) in rows {
            out.push_str(&format!("# TYPE siq_{name}_total counter\n"));
            for (t, s) in &snaps {
                out.push_str(&format!("siq_{name}_total{{tenant=\"{t}\"}} {}\n", get(s)));
            }
        }
        LATENCY.render(&mut out);
        out
    }
}

/// Upper bounds of the latency buckets, microseconds (rendered in seconds, Prometheus' unit):
/// 100 µs to 10 s, roughly ×2.5 apart, so a p99 near the 50 ms target falls between two close
/// bounds. A value past the last lands only in `+Inf`.
pub const LATENCY_BUCKETS_US: [u64; 16] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000];

/// A fixed-bucket latency histogram: two relaxed atomic additions per value (its bucket and the
/// sum), no lock, no allocation, so it can sit on the hot path. Buckets are stored
/// non-cumulative and summed when rendered; the sum is kept in nanoseconds (steps of a
/// microsecond and less are not lost).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    /// An empty histogram (usable in a `static`).
    pub const fn new() -> Histogram {
        Histogram { buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS_US.len() + 1], sum_ns: AtomicU64::new(0) }
    }

    /// Records one value.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US.partition_point(|&b| b * 1_000 < ns);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Records the time since `started`.
    pub fn since(&self, started: Instant) {
        self.observe(started.elapsed());
    }

    /// A guard that records the time until it is dropped (a frame's handling, whatever way it
    /// returns).
    pub fn timer(&'static self) -> Timer {
        Timer { hist: self, started: Instant::now() }
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Appends `name`'s `_bucket`, `_sum` and `_count` lines in Prometheus text.
    fn render(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            match LATENCY_BUCKETS_US.get(i) {
                Some(us) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", *us as f64 / 1e6);
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {cumulative}", self.sum_ns.load(Relaxed) as f64 / 1e9);
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// Records the time from its creation to its drop.
#[must_use = "the time is recorded when the timer is dropped"]
pub struct Timer {
    hist: &'static Histogram,
    started: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.hist.since(self.started);
    }
}

/// Pushes awaiting their delivery to a local socket (the `push` histogram): slots by wire id
/// (random), each holding the id and when its detection was confirmed. A push whose slot another
/// took before its delivery, or delivered by another instance, is simply not measured. 4,096
/// slots (32 KiB): with 300 pushes in flight at once, 1,024 slots left 3 to 8 of them unmeasured.
pub const PENDING_PUSH_SLOTS: usize = 4096;

/// The latency histograms of this process, at `/metrics` as `siq_*_seconds`.
#[derive(Debug)]
pub struct Latency {
    /// Handling one frame (`Conn::handle`: decode to reply, detections included).
    pub frame: Histogram,
    /// Recomputing a detection from its evidence (`confirm`).
    pub confirm: Histogram,
    /// The decision step (`on_detection`).
    pub decide: Histogram,
    /// A confirmed detection to its `Intervene` handed to the session's socket writer on this
    /// instance (through the bus).
    pub push: Histogram,
    /// One request to an alert provider (Twilio, Slack, PagerDuty, email, webhook), per attempt.
    pub alert_send: Histogram,
    pending: [AtomicU64; PENDING_PUSH_SLOTS],
    epoch: std::sync::OnceLock<Instant>,
}

/// The process's latency histograms (one server per process in production; servers started by
/// tests in one process share them).
pub static LATENCY: Latency = Latency {
    frame: Histogram::new(),
    confirm: Histogram::new(),
    decide: Histogram::new(),
    push: Histogram::new(),
    alert_send: Histogram::new(),
    pending: [const { AtomicU64::new(0) }; PENDING_PUSH_SLOTS],
    epoch: std::sync::OnceLock::new(),
};

/// Runs `f` in a trace span of the hot path named for `stage`, recording its time in `hist`.
pub fn timed<T>(hist: &Histogram, stage: Stage, f: impl FnOnce() -> T) -> T {
    let _span = stage.span().entered();
    let started = Instant::now();
    let out = f();
    hist.since(started);
    out
}

/// A step of the hot path, traced as its own span ([`HOT_PATH`] target).
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    /// `confirm`.
    Confirm,
    /// `decide`.
    Decide,
}

impl Stage {
    fn span(self) -> tracing::Span {
        match self {
            Stage::Confirm => tracing::trace_span!(target: "siq_hot_path", "confirm"),
            Stage::Decide => tracing::trace_span!(target: "siq_hot_path", "decide"),
        }
    }
}

/// The tracing target of the hot path's spans (frame, detection, confirm, decide, push): at
/// `trace` level, so they cost nothing unless the OTLP exporter is configured, which alone
/// enables them.
pub const HOT_PATH: &str = "siq_hot_path";

impl Latency {
    fn micros(&self, at: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(Instant::now);
        u64::try_from(at.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX) & 0xffff_ffff
    }

    /// Notes that the push of wire id `id` answers a detection confirmed at `at`.
    pub fn push_started(&self, id: u32, at: Instant) {
        let slot = id as usize % PENDING_PUSH_SLOTS;
        // The start's microseconds are kept modulo 2^32 (71 minutes): far past any push.
        self.pending[slot].store((u64::from(id) << 32) | self.micros(at), Relaxed);
    }

    /// Records the push of wire id `id` as delivered now, if this instance noted its start.
    pub fn push_delivered(&self, id: u32) {
        let slot = id as usize % PENDING_PUSH_SLOTS;
        let v = self.pending[slot].load(Relaxed);
        // Taken only if the slot still holds this push (and only once).
        if v != 0 && (v >> 32) as u32 == id && self.pending[slot].compare_exchange(v, 0, Relaxed, Relaxed).is_ok() {
            let now = self.micros(Instant::now());
            let us = now.wrapping_sub(v & 0xffff_ffff) & 0xffff_ffff;
            self.push.observe(Duration::from_micros(us));
        }
    }

    fn render(&self, out: &mut String) {
        self.frame.render("siq_frame_seconds", "Time to handle one frame from an SDK.", out);
        self.confirm.render("siq_confirm_seconds", "Time to recompute a detection from its evidence.", out);
        self.decide.render("siq_decide_seconds", "Time of the decision step for a confirmed detection.", out);
        self.push.render("siq_push_seconds", "Confirmed detection to its Intervene handed to the socket writer.", out);
        self.alert_send.render("siq_alert_send_seconds", "One request to an alert provider.", out);
    }
}

/// How long `/readyz` waits for the store's query and for the bus's round trip, each.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of one part in `/readyz`.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PartState {
    /// `ok` or `failing`.
    pub state: &'static str,
    /// Why it is failing: `error` (it answered with an error, logged) or `timeout` (no answer
    /// within [`READY_TIMEOUT`]); absent when ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the check took, milliseconds.
    pub ms: u64,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` when every part is ok, else `not_ready`.
    pub status: &'static str,
    /// The store: a lookup by primary key that finds nothing.
    pub store: PartState,
    /// The bus: a key-value read (a round trip to NATS JetStream, or the in-process bus).
    pub bus: PartState,
}

impl Readiness {
    /// Whether every part is ok.
    pub fn ready(&self) -> bool {
        self.store.error.is_none() && self.bus.error.is_none()
    }
}

async fn check(part: &'static str, f: Check) -> PartState {
    let started = Instant::now();
    // The body says only what kind of failure; the error itself (which may name hosts or
    // databases) goes to the log.
    let error = match tokio::time::timeout(READY_TIMEOUT, f).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(part, error = %e, "readiness check failed");
            Some("error".to_string())
        }
        Err(_) => {
            tracing::warn!(part, timeout_ms = READY_TIMEOUT.as_millis() as u64, "readiness check timed out");
            Some("timeout".to_string())
        }
    };
    let ms = started.elapsed().as_millis() as u64;
    PartState { state: if error.is_none() { "ok" } else { "failing" }, error, ms }
}

/// One readiness check: `Ok` when the part works.
pub type Check = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// What `/readyz` asks, made for each request from the server's store and bus (`server.rs`:
/// a lookup by primary key that finds nothing, and a key-value read).
pub struct Probes {
    /// The store's check.
    pub store: Check,
    /// The bus's check.
    pub bus: Check,
}

/// Runs both checks at once, each within [`READY_TIMEOUT`].
pub async fn readiness(p: Probes) -> Readiness {
    let (store, bus) = futures::join!(check("store", p.store), check("bus", p.bus));
    let mut r = Readiness { status: "ready", store, bus };
    if !r.ready() {
        r.status = "not_ready";
    }
    r
}

/// `GET /readyz`: 200 when the store answers a query and the bus a round trip, each within
/// [`READY_TIMEOUT`]; else 503. The body names each part's state. Unauthenticated like
/// `/healthz` (it tells no data); a load balancer sends traffic only to a ready instance.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "store and bus answer", body = Readiness),
    (status = 503, description = "the store or the bus does not answer", body = Readiness)
))]
pub async fn readyz(axum::extract::State(probes): axum::extract::State<Probes>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let r = readiness(probes).await;
    let status = if r.ready() { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(r)).into_response()
}

/// Log lines as JSON (the default: one object per line, `tenant` a field of most) or as text
/// for a terminal. `SIQ_LOG_FORMAT`: `json` or `text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// Reads `SIQ_LOG_FORMAT` (unset or unknown: JSON, with a warning for unknown).
    pub fn from_env() -> LogFormat {
        match std::env::var("SIQ_LOG_FORMAT").ok().as_deref().map(str::trim) {
            Some("text") | Some("pretty") => LogFormat::Text,
            _ => LogFormat::Json,
        }
    }
}

/// What [`init_logging`] set up that needs an orderly end: the trace exporter, whose last
/// batch is sent by [`Telemetry::shutdown`] (also on drop).
#[derive(Default)]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint was configured).
    pub fn exports_traces(&self) -> bool {
        self.traces.is_some()
    }

    /// Sends the spans still batched and stops the exporter.
    pub fn shutdown(&mut self) {
        if let Some(p) = self.traces.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("sentientiq: the last traces could not be sent: {e}");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The OTLP endpoint traces go to: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), the OpenTelemetry variables.
pub fn otlp_endpoint() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| format!("{}/v1/traces", e.trim_end_matches('/'))))
}

/// The exporter of the hot path's spans to `endpoint` over OTLP/HTTP (protobuf), in batches
/// from the SDK's own thread. The service is `OTEL_SERVICE_NAME`, default `sentientiq`;
/// `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` sample as OpenTelemetry documents.
fn trace_provider(endpoint: &str) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(OTLP_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "sentientiq".into());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// How long one export of a batch of spans may take.
pub const OTLP_TIMEOUT: Duration = Duration::from_secs(5);

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as JSON lines unless
/// `SIQ_LOG_FORMAT=text`; and, when an OTLP endpoint is configured ([`otlp_endpoint`]), the hot
/// path's spans ([`HOT_PATH`]: frame → detection → confirm, decide; push) exported as traces.
/// Keep the returned value until exit and call [`Telemetry::shutdown`]. Safe to call twice (the
/// second does nothing).
pub fn init_logging() -> Telemetry {
    use opentelemetry::trace::TracerProvider;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let fmt = match LogFormat::from_env() {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).boxed(),
        // Colours only on a terminal: a file or a pipe gets plain text.
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).boxed()
        }
    };
    let mut telemetry = Telemetry::default();
    let mut failed = None;
    // Only the hot path's spans go to the exporter (at `trace` level, which nothing else
    // enables): without an endpoint they are never created.
    let otel = match otlp_endpoint().map(|e| (trace_provider(&e), e)) {
        Some((Ok(provider), _)) => {
            let tracer = provider.tracer("sentientiq");
            telemetry.traces = Some(provider);
            let only_hot_path = tracing_subscriber::filter::Targets::new().with_target(HOT_PATH, tracing::Level::TRACE);
            Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(only_hot_path))
        }
        Some((Err(e), endpoint)) => {
            failed = Some((e, endpoint));
            None
        }
        None => None,
    };
    if tracing_subscriber::registry().with(fmt.with_filter(filter)).with(otel).try_init().is_err() {
        telemetry.traces = None;
    }
    if let Some(endpoint) = telemetry.traces.as_ref().and(otlp_endpoint()) {
        tracing::info!(%endpoint, "hot-path traces exported over OTLP/HTTP");
    }
    if let Some((error, endpoint)) = failed {
        tracing::error!(%endpoint, %error, "the OTLP trace exporter could not be set up; no traces");
    }
    telemetry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lands_in_the_first_bucket_at_or_above_it_and_renders_cumulative() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(100)); // le="0.0001": a bound includes its own value
        h.observe(Duration::from_micros(101)); // le="0.00025"
        h.observe(Duration::from_secs(11)); // past the last bound: +Inf only
        assert_eq!(h.count(), 3);
        let mut out = String::new();
        h.render("x_seconds", "test", &mut out);
        assert!(out.contains("# TYPE x_seconds histogram\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.0001\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.00025\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum 11.000201\nx_seconds_count 3\n"), "{out}");
    }

    #[test]
    fn a_push_is_timed_once_and_only_when_its_start_was_noted_here() {
        let l = Latency {
            frame: Histogram::new(),
            confirm: Histogram::new(),
            decide: Histogram::new(),
            push: Histogram::new(),
            alert_send: Histogram::new(),
            pending: [const { AtomicU64::new(0) }; PENDING_PUSH_SLOTS],
            epoch: std::sync::OnceLock::new(),
        };
        l.push_delivered(7); // decided on another instance: nothing to time
        assert_eq!(l.push.count(), 0);
        l.push_started(7, Instant::now());
        l.push_started(7 + PENDING_PUSH_SLOTS as u32 * 2, Instant::now()); // same slot: replaces 7
        l.push_delivered(7);
        assert_eq!(l.push.count(), 0, "a reused slot is not taken for another push");
        l.push_delivered(7 + PENDING_PUSH_SLOTS as u32 * 2);
        l.push_delivered(7 + PENDING_PUSH_SLOTS as u32 * 2);
        assert_eq!(l.push.count(), 1, "delivered once, timed once");
    }
}
