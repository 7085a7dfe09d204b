//! Counters (per tenant, and in Prometheus text at `/metrics`) and log set-up. Failures are
//! counted here so the dashboard can show them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

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
        let rows: [(&str, Getter); 28] = [
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
        out
    }
}

/// JSON logs to stderr, filtered by `RUST_LOG` (default `info`). Safe to call twice.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
