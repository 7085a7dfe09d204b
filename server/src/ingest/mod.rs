//! Ingest: the SDK's binary WebSocket (`/v1/ws`) and the `sendBeacon` fallback (`/v1/beacon`).
//!
//! A connection's first frame must be `Hello` (protocol version, site key, session, page,
//! optional identity token). Then, per data frame: de-duplicate by `(session, seq)`, and for a
//! `Detection` run the hot path: confirm (recompute from evidence) → decide → push `Intervene`
//! through the bus → escalate by value (spawned) → publish the events for persistence
//! (spawned). Every data frame is answered with a cumulative `Ack`.
//!
//! Close codes: [`CLOSE_UNSUPPORTED_VERSION`], [`CLOSE_UNKNOWN_SITE_KEY`], [`CLOSE_MALFORMED`],
//! [`CLOSE_HELLO_FIRST`], [`CLOSE_RATE_LIMITED`]. A bad frame never panics the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use shared_physics::emotions::{classify, SectionClasses};
use shared_physics::wire::{self, Ack, Frame, Intervene, WireError, MAX_FRAME_BYTES, MAX_TEXT_BYTES};
use shared_physics::Emotion;
use tokio::sync::mpsc;

use crate::confirm::{confirm, Verdict};
use crate::identity::Visitor;
use crate::interventions::{decide, Decision};
use crate::records::events::{Event, Push};
use crate::state::AppState;
use crate::store::{DetectionRecord, InterventionRecord, SessionRecord, Tenant};
use crate::telemetry::{inc, Counters};

/// The first byte names a protocol version this server does not speak.
pub const CLOSE_UNSUPPORTED_VERSION: u16 = 4001;
/// The `Hello` names a site key no tenant owns.
pub const CLOSE_UNKNOWN_SITE_KEY: u16 = 4003;
/// A frame came before `Hello`.
pub const CLOSE_HELLO_FIRST: u16 = 4002;
/// Too many frames: more than [`MAX_FRAME_BURST`] at once or [`MAX_FRAMES_PER_SECOND`] sustained.
pub const CLOSE_RATE_LIMITED: u16 = 4029;
/// Undecodable bytes, a text message, or a frame larger than the protocol allows.
pub const CLOSE_MALFORMED: u16 = 4400;

/// Sustained frames per second a connection may send (an active page sends about 1).
pub const MAX_FRAMES_PER_SECOND: f64 = 20.0;
/// Frames a connection may send at once (a reconnect resends up to 200 queued frames).
pub const MAX_FRAME_BURST: f64 = 256.0;
/// Largest beacon body: the SDK's offline queue, length-prefixed.
pub const MAX_BEACON_BYTES: usize = 256 * 1024;
/// Sections a session may name.
pub const MAX_SECTIONS: usize = 255;
/// Longest section name kept, in bytes.
pub const MAX_SECTION_NAME: usize = 64;
/// A session idle this long is forgotten by the in-memory session table.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Outgoing frames buffered per socket before pushes are dropped (and logged).
pub const PUSH_QUEUE: usize = 32;

/// Why a connection is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    /// WebSocket close code.
    pub code: u16,
    /// Reason sent with it.
    pub reason: &'static str,
}

impl From<WireError> for Close {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedVersion(_) => Close { code: CLOSE_UNSUPPORTED_VERSION, reason: "unsupported protocol version" },
            WireError::TooLarge => Close { code: CLOSE_MALFORMED, reason: "frame too large" },
            _ => Close { code: CLOSE_MALFORMED, reason: "malformed frame" },
        }
    }
}

/// What the server remembers about a live session, across reconnects.
#[derive(Debug)]
pub struct SessionState {
    last_seq: u32,
    sections: HashMap<u8, String>,
    /// The class of each named section, filed when its `Section` frame arrives.
    classes: SectionClasses,
    visitor: Option<Visitor>,
    page: String,
    started_ms: i64,
    last_seen: Instant,
    intervened: HashMap<Emotion, Instant>,
    /// When this session last opened an escalation.
    paged: Option<Instant>,
    /// Its struggle detections, for the paging bar.
    struggle: shared_physics::paging::Persistence,
}

/// `(tenant id, session id)`.
type SessionKey = (String, u64);

/// Live sessions by `(tenant, session)`.
#[derive(Default)]
pub struct SessionTable {
    map: Mutex<HashMap<SessionKey, Arc<Mutex<SessionState>>>>,
}

impl SessionTable {
    fn get_or_insert(&self, tenant: &str, session: u64, page: &str) -> Arc<Mutex<SessionState>> {
        let mut m = self.map.lock().expect("session table lock");
        m.entry((tenant.to_string(), session))
            .or_insert_with(|| {
                Arc::new(Mutex::new(SessionState {
                    last_seq: 0,
                    sections: HashMap::new(),
                    classes: SectionClasses::new(),
                    visitor: None,
                    page: page.to_string(),
                    started_ms: crate::clock::now_ms(),
                    last_seen: Instant::now(),
                    intervened: HashMap::new(),
                    paged: None,
                    struggle: shared_physics::paging::Persistence::new(),
                }))
            })
            .clone()
    }

    /// Forgets sessions idle longer than [`SESSION_IDLE`]; returns how many remain.
    pub fn sweep(&self) -> usize {
        let mut m = self.map.lock().expect("session table lock");
        m.retain(|_, s| s.lock().map(|s| s.last_seen.elapsed() < SESSION_IDLE).unwrap_or(false));
        m.len()
    }
}

/// Local sockets that pushes can reach, by `(tenant, session)`.
#[derive(Default)]
pub struct PushRegistry {
    map: Mutex<HashMap<SessionKey, mpsc::Sender<Bytes>>>,
}

impl PushRegistry {
    fn register(&self, tenant: &str, session: u64, tx: mpsc::Sender<Bytes>) {
        self.map.lock().expect("push registry lock").insert((tenant.to_string(), session), tx);
    }

    fn unregister(&self, tenant: &str, session: u64, tx: &mpsc::Sender<Bytes>) {
        let mut m = self.map.lock().expect("push registry lock");
        let key = (tenant.to_string(), session);
        if m.get(&key).is_some_and(|t| t.same_channel(tx)) {
            m.remove(&key);
        }
    }

    /// Delivers an intervention to the local socket of its session, if this instance has it.
    pub fn deliver(&self, p: &Push) -> bool {
        let Some(tx) = self.map.lock().expect("push registry lock").get(&(p.tenant_id.clone(), p.session)).cloned() else {
            return false;
        };
        let emotion = Emotion::from_name(&p.emotion).unwrap_or(Emotion::Rage);
        let frame = Frame::Intervene(Intervene { id: p.id, emotion, text: &p.text });
        let mut buf = [0u8; MAX_FRAME_BYTES];
        match wire::encode(0, &frame, &mut buf) {
            Ok(b) => tx.try_send(Bytes::copy_from_slice(b)).is_ok(),
            Err(e) => {
                tracing::error!(tenant = %p.tenant_id, error = %e, "intervention does not fit a frame");
                false
            }
        }
    }
}

/// A token bucket for the frame-rate limit.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket { tokens: MAX_FRAME_BURST, at: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * MAX_FRAMES_PER_SECOND).min(MAX_FRAME_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The session a connection speaks for, once it said hello.
struct Bound {
    tenant: Arc<Tenant>,
    counters: Arc<Counters>,
    session: u64,
    hex: String,
    state: Arc<Mutex<SessionState>>,
}

/// One connection's (or one beacon's) frame processor, shared by the WebSocket and the beacon.
pub struct Conn {
    app: AppState,
    bound: Option<Bound>,
    bucket: Bucket,
}

/// What to send back after a frame.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// Nothing.
    None,
    /// A cumulative acknowledgement.
    Ack(u32),
}

impl Conn {
    /// A processor for a new connection.
    pub fn new(app: AppState) -> Conn {
        Conn { app, bound: None, bucket: Bucket::new() }
    }

    /// The session bound by `Hello`, as `(tenant, session)`.
    pub fn session(&self) -> Option<(String, u64)> {
        self.bound.as_ref().map(|b| (b.tenant.id.clone(), b.session))
    }

    /// Handles one frame.
    pub async fn handle(&mut self, bytes: &[u8]) -> Result<Reply, Close> {
        if !self.bucket.take() {
            return Err(Close { code: CLOSE_RATE_LIMITED, reason: "too many frames" });
        }
        let env = match wire::decode(bytes) {
            Ok(env) => env,
            Err(e) => {
                match &self.bound {
                    Some(b) => tracing::debug!(tenant = %b.tenant.id, error = %e, "bad frame"),
                    None => inc(&self.app.metrics.rejected_frames),
                }
                return Err(e.into());
            }
        };
        if let Frame::Hello(h) = &env.frame {
            return self.hello(h).await.map(|_| Reply::None);
        }
        let Some(b) = &self.bound else {
            inc(&self.app.metrics.rejected_frames);
            return Err(Close { code: CLOSE_HELLO_FIRST, reason: "hello first" });
        };
        inc(&b.counters.frames);
        {
            let mut st = b.state.lock().expect("session lock");
            st.last_seen = Instant::now();
            if env.seq <= st.last_seq {
                inc(&b.counters.duplicates);
                return Ok(Reply::Ack(st.last_seq));
            }
            st.last_seq = env.seq;
        }
        match env.frame {
            Frame::Section(s) => {
                if s.id != 0 {
                    let mut st = b.state.lock().expect("session lock");
                    if st.sections.len() < MAX_SECTIONS || st.sections.contains_key(&s.id) {
                        let name = truncate(s.name, MAX_SECTION_NAME);
                        st.classes.set(s.id, classify(name.as_bytes()));
                        st.sections.insert(s.id, name.to_string());
                    }
                }
            }
            Frame::Detection(d) => self.detection(env.seq, &d),
            Frame::Physics(_) => {}
            Frame::Note(n) => self.note(n.kind, n.text),
            // Server-to-client frames sent by a client are ignored, not fatal.
            Frame::Ack(_) | Frame::Intervene(_) | Frame::Hello(_) => {}
        }
        Ok(Reply::Ack(env.seq))
    }

    /// What the host page said (`SentientIQ.track` / `SentientIQ.context`): an outcome for the
    /// session's newest decision within the tenant's window, or the identified visitor's state.
    /// Anything unusable is counted as `notes_refused` and logged with the tenant.
    fn note(&self, kind: u8, text: &str) {
        let Some(b) = &self.bound else { return };
        let text = truncate(text.trim(), MAX_NOTE_BYTES).to_string();
        let refuse = |why: &str| {
            inc(&b.counters.notes_refused);
            tracing::info!(tenant = %b.tenant.id, session = %b.hex, kind, why, "note from the page refused");
        };
        if text.is_empty() {
            return refuse("empty");
        }
        let app = self.app.clone();
        let (tenant, hex, counters) = (b.tenant.clone(), b.hex.clone(), b.counters.clone());
        match kind {
            wire::note::OUTCOME => {
                tokio::spawn(async move {
                    let now = crate::clock::now_ms();
                    let converted = crate::api::learning::converted_by_default(&text);
                    let who = crate::store::OutcomeFor::Session(&hex);
                    match app.store.record_outcome(&tenant.id, who, now - tenant.outcome_window_ms, &text, converted, now).await {
                        Ok(Some(decision)) => {
                            inc(&counters.outcomes);
                            tracing::info!(tenant = %tenant.id, session = %hex, decision, event = %text, "outcome from the page attributed");
                        }
                        Ok(None) => {
                            tracing::debug!(tenant = %tenant.id, session = %hex, "outcome from the page without a decision in the window")
                        }
                        Err(e) => tracing::error!(tenant = %tenant.id, session = %hex, error = %e, "outcome from the page not recorded"),
                    }
                });
            }
            wire::note::CONTEXT => {
                let sub = b.state.lock().expect("session lock").visitor.as_ref().map(|v| v.claims.sub.clone());
                let Some(sub) = sub else { return refuse("context from an anonymous session") };
                if !crate::identity::customers::CONTEXT_STATES.contains(&text.as_str()) {
                    return refuse("unknown context state");
                }
                tokio::spawn(async move {
                    if let Err(e) = crate::identity::customers::set_context(
                        &app,
                        &tenant.id,
                        &sub,
                        &text,
                        crate::identity::customers::DEFAULT_CONTEXT_TTL_MS,
                    )
                    .await
                    {
                        tracing::error!(tenant = %tenant.id, session = %hex, error = ?e, "context from the page not recorded");
                    }
                });
            }
            _ => refuse("unknown note kind"),
        }
    }

    async fn hello(&mut self, h: &wire::Hello<'_>) -> Result<(), Close> {
        if h.site_key.len() > MAX_TEXT_BYTES || h.page.len() > MAX_TEXT_BYTES || h.identity.is_some_and(|t| t.len() > MAX_TEXT_BYTES) {
            return Err(Close { code: CLOSE_MALFORMED, reason: "hello field too long" });
        }
        let Some(tenant) = self.app.identity.tenant_by_site_key(h.site_key) else {
            inc(&self.app.metrics.rejected_frames);
            return Err(Close { code: CLOSE_UNKNOWN_SITE_KEY, reason: "unknown site key" });
        };
        if let Some(b) = &self.bound {
            if b.tenant.id != tenant.id || b.session != h.session {
                return Err(Close { code: CLOSE_MALFORMED, reason: "a connection speaks for one session" });
            }
        }
        let counters = self.app.metrics.tenant(&tenant.id);
        let state = self.app.sessions.get_or_insert(&tenant.id, h.session, h.page);
        let visitor = match h.identity {
            None => None,
            Some(token) => match self.app.identity.resolve(&self.app.jwks, &tenant, token).await {
                Ok(v) => {
                    let seen = crate::identity::customers::seen(&self.app, &tenant.id, &v.claims, crate::clock::now_ms());
                    self.app.publish_event(Event::Customer(seen));
                    Some(v)
                }
                Err(e) => {
                    inc(&counters.identity_rejected);
                    tracing::info!(tenant = %tenant.id, error = %e, "identity token refused; session measured as anonymous");
                    None
                }
            },
        };
        let hex = format!("{:016x}", h.session);
        let record = {
            let mut st = state.lock().expect("session lock");
            st.last_seen = Instant::now();
            if visitor.is_some() {
                st.visitor = visitor;
            }
            SessionRecord {
                tenant_id: tenant.id.clone(),
                session: hex.clone(),
                user: st.visitor.as_ref().map(|v| v.claims.sub.clone()),
                account: st.visitor.as_ref().and_then(|v| v.claims.account.clone()),
                page: st.page.clone(),
                started_ms: st.started_ms,
            }
        };
        self.app.publish_event(Event::Session(record));
        self.bound = Some(Bound { tenant, counters, session: h.session, hex, state });
        Ok(())
    }

    fn detection(&self, seq: u32, frame: &wire::DetectionFrame) {
        let Some(b) = &self.bound else { return };
        let app = &self.app;
        inc(&b.counters.detections);
        let classes = b.state.lock().expect("session lock").classes;
        let d = match confirm(frame, &app.identity.params(&b.tenant.id), &classes) {
            Verdict::Confirmed(d) => d,
            Verdict::Overturned(why) => {
                inc(&b.counters.overturned);
                tracing::info!(tenant = %b.tenant.id, session = %b.hex, seq, why, "detection overturned");
                return;
            }
        };
        inc(&b.counters.confirmed);
        if d.confidence_pct() != frame.confidence_pct {
            inc(&b.counters.disagreed);
            tracing::warn!(tenant = %b.tenant.id, client = frame.confidence_pct, server = d.confidence_pct(), "client and server confidence differ");
        }
        let now = Instant::now();
        let cooldown = Duration::from_secs(app.config.cooldown_secs);
        let page_pct = (app.config.page_confidence * 100.0).round().clamp(0.0, 100.0) as u8;
        let (section, visitor, cooling, persisted) = {
            let mut st = b.state.lock().expect("session lock");
            let section = st.sections.get(&d.section).cloned().unwrap_or_default();
            let cooling = st.intervened.get(&d.emotion).is_some_and(|t| now.duration_since(*t) < cooldown);
            let paged_lately = st.paged.is_some_and(|t| now.duration_since(t) < cooldown);
            let persisted = st.struggle.note(d.emotion, d.confidence_pct(), d.t_ms, page_pct);
            (section, st.visitor.clone(), cooling, persisted && !paged_lately)
        };
        // The account's value now (transactions may have arrived since hello).
        let account = visitor.as_ref().and_then(|v| v.claims.account.as_deref()).and_then(|a| app.identity.account(&b.tenant.id, a));
        let value_cents = account.as_ref().map_or(0, |a| a.value_cents);
        let mut features = serde_json::json!({
            "clicks": d.features.clicks,
            "mean_ici_ms": round2(d.features.mean_ici_ms),
            "dispersion_px": round2(d.features.dispersion_px),
            "peak_speed": round2(d.features.peak_speed),
            "peak_jerk": round2(d.features.peak_jerk),
            "entropy": round2(d.features.entropy),
            "dead_clicks": d.features.dead_clicks,
            "reversals": d.features.reversals,
            "efficiency": round2(d.features.efficiency),
            "dwell_ms": d.features.dwell_ms,
            "score": round2(d.features.score),
        });
        // Informational: the arm-dynamics estimate of the reach to the evidence's first click,
        // and the curvature of the pointer's path over the evidence.
        if let Some(a) = shared_physics::features::reach_before_first_click(&frame.evidence) {
            features["damping"] = round2(a.damping).into();
            features["natural_freq"] = round2(a.natural_freq).into();
        }
        let moves = frame.evidence.iter().filter(|s| s.kind == shared_physics::Kind::Move);
        let curvature = shared_physics::features::curvature(moves.map(|s| (s.x as f32, s.y as f32)));
        // 1/px: four decimals keep radii up to 10,000 px apart.
        features["curvature"] = (((curvature as f64) * 1e4).round() / 1e4).into();
        let mut evidence = vec![0u8; MAX_FRAME_BYTES];
        let evidence = postcard::to_slice(&frame.evidence, &mut evidence).map(|e| e.to_vec()).unwrap_or_default();
        let record = DetectionRecord {
            tenant_id: b.tenant.id.clone(),
            session: b.hex.clone(),
            seq: seq as i64,
            emotion: d.emotion.name().to_string(),
            confidence: (d.confidence_pct() as f64) / 100.0,
            client_confidence: frame.confidence_pct as f64 / 100.0,
            section,
            user: visitor.as_ref().map(|v| v.claims.sub.clone()),
            user_name: visitor.as_ref().and_then(|v| v.claims.name.clone()),
            account: account.as_ref().map(|a| a.account.clone()),
            account_name: account.as_ref().map(|a| a.name.clone()),
            value_cents,
            features,
            evidence,
            t_ms: d.t_ms as i64,
            created_ms: crate::clock::now_ms(),
        };

        // What the customer told us about themselves: "busy" means no in-page interruption.
        let shared = visitor.as_ref().and_then(|v| app.identity.context(&b.tenant.id, &v.claims.sub, crate::clock::now_ms()));
        let busy = shared.as_ref().is_some_and(|c| c.state == "busy");
        if busy {
            inc(&b.counters.suppressed_busy);
        }
        if let Decision::Intervene(_) = decide(d.emotion, d.confidence, app.config.intervene_confidence, cooling || busy) {
            b.state.lock().expect("session lock").intervened.insert(d.emotion, now);
            let seed = crate::interventions::bandit::decision_seed(&b.tenant.id, &b.hex, seq as u64, &app.config.link_secret);
            let choice = app.learning.choose(&b.tenant.id, d.emotion, &record.section, b.tenant.holdout_share, seed);
            let decided_ms = crate::clock::now_ms();
            app.publish_event(Event::Decision(crate::store::DecisionRecord {
                id: format!("dc_{}_{seq}", b.hex),
                tenant_id: b.tenant.id.clone(),
                session: b.hex.clone(),
                seq: seq as i64,
                sub: record.user.clone(),
                emotion: d.emotion.name().into(),
                section: choice.section.clone(),
                holdout: choice.decision.holdout,
                variant_id: choice.decision.chosen.clone(),
                holdout_share: b.tenant.holdout_share,
                decision: serde_json::to_value(&choice.decision).unwrap_or_default(),
                created_ms: decided_ms,
            }));
            match choice.action {
                crate::interventions::Action::Holdout => inc(&b.counters.held_out),
                crate::interventions::Action::Show(text) => {
                    inc(&b.counters.interventions);
                    let id = crate::records::random_u32();
                    let push = Push {
                        tenant_id: b.tenant.id.clone(),
                        session: b.session,
                        id,
                        emotion: d.emotion.name().into(),
                        text: text.clone(),
                    };
                    app.push(push);
                    app.publish_event(Event::Intervention(InterventionRecord {
                        id: format!("iv_{id:08x}_{}", b.hex),
                        tenant_id: b.tenant.id.clone(),
                        session: b.hex.clone(),
                        seq: seq as i64,
                        emotion: d.emotion.name().into(),
                        text,
                        created_ms: decided_ms,
                    }));
                }
                crate::interventions::Action::Card => {
                    inc(&b.counters.cards);
                    // The opener may come from a model (up to its timeout): written off the hot path.
                    let app = app.clone();
                    let counters = b.counters.clone();
                    let (tenant, hex, emotion) = (b.tenant.id.clone(), b.hex.clone(), d.emotion);
                    let (record, context) = (record.clone(), shared.as_ref().map(|c| c.state.clone()));
                    tokio::spawn(async move {
                        let facts = crate::interventions::CardFacts {
                            name: record.user_name.as_deref(),
                            account: record.account_name.as_deref(),
                            value_cents: record.value_cents,
                            context: context.as_deref(),
                            emotion,
                            section: &record.section,
                        };
                        let written = app.opener.write(&facts).await;
                        if let Some(e) = &written.error {
                            inc(&counters.card_model_failed);
                            tracing::warn!(tenant = %tenant, error = %e, "card opener from the model failed; template used");
                        }
                        app.publish_event(Event::Card(crate::store::CardRecord {
                            id: format!("cd_{hex}_{seq}"),
                            tenant_id: tenant,
                            session: hex,
                            sub: record.user.clone(),
                            emotion: emotion.name().into(),
                            section: record.section.clone(),
                            opener: written.text,
                            state: "pending".into(),
                            outcome: None,
                            actor: None,
                            created_ms: decided_ms,
                            updated_ms: decided_ms,
                        }));
                    });
                }
                crate::interventions::Action::Nothing => {}
            }
        }

        // A person is paged on the stricter bar (the module docs of `escalation`): identified,
        // valuable, and a struggle that persisted over a second burst at the paging confidence.
        let escalate = persisted && visitor.is_some() && value_cents >= app.config.critical_value_cents;
        if escalate {
            b.state.lock().expect("session lock").paged = Some(now);
            let app2 = app.clone();
            let rec = record.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::escalation::open(&app2, &rec).await {
                    inc(&app2.metrics.tenant(&rec.tenant_id).alerts_failed);
                    tracing::error!(tenant = %rec.tenant_id, session = %rec.session, error = %e, "escalation could not be opened");
                }
            });
        }
        app.publish_event(Event::Detection(record));
    }
}

/// Longest outcome or state kept from a page, bytes.
pub const MAX_NOTE_BYTES: usize = 64;

fn round2(v: f32) -> f64 {
    ((v as f64) * 100.0).round() / 100.0
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `GET /v1/ws`: upgrades to the SDK's binary WebSocket.
#[utoipa::path(get, path = "/v1/ws", tag = "sdk", responses((status = 101, description = "binary WebSocket of postcard frames (docs/protocol.md)")))]
pub async fn ws(State(app): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.max_message_size(MAX_FRAME_BYTES).max_frame_size(MAX_FRAME_BYTES).on_upgrade(move |socket| run_socket(app, socket))
}

fn ack_bytes(seq: u32) -> Bytes {
    let mut buf = [0u8; 16];
    let b = wire::encode(0, &Frame::Ack(Ack { seq }), &mut buf).expect("an ack fits 16 bytes");
    Bytes::copy_from_slice(b)
}

async fn run_socket(app: AppState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(PUSH_QUEUE);
    app.metrics.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if b.is_empty() {
                break;
            }
            if sink.send(Message::Binary(b)).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut conn = Conn::new(app.clone());
    let mut registered: Option<(String, u64)> = None;
    let mut close: Option<Close> = None;
    while let Some(msg) = stream.next().await {
        let bytes = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
            Ok(Message::Text(_)) => {
                close = Some(Close { code: CLOSE_MALFORMED, reason: "binary frames only" });
                break;
            }
        };
        match conn.handle(&bytes).await {
            Ok(reply) => {
                if registered.is_none() {
                    if let Some((t, s)) = conn.session() {
                        app.sockets.register(&t, s, tx.clone());
                        registered = Some((t, s));
                    }
                }
                if let Reply::Ack(seq) = reply {
                    if tx.send(ack_bytes(seq)).await.is_err() {
                        break;
                    }
                }
            }
            Err(c) => {
                close = Some(c);
                break;
            }
        }
    }
    if let Some((t, s)) = &registered {
        app.sockets.unregister(t, *s, &tx);
    }
    let _ = tx.send(Bytes::new()).await;
    drop(tx);
    if let Ok(mut sink) = writer.await {
        if let Some(c) = close {
            let _ = sink.send(Message::Close(Some(CloseFrame { code: c.code, reason: c.reason.into() }))).await;
        }
        let _ = sink.close().await;
    }
    app.metrics.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// `POST /v1/beacon`: the SDK's last frames when the page goes away. The body is a sequence of
/// `[u16 little-endian length][frame]`, the first frame a `Hello`. Answers 204, or 400 with the
/// offending frame's index.
#[utoipa::path(post, path = "/v1/beacon", tag = "sdk", request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 204, description = "accepted"), (status = 400, description = "malformed")))]
pub async fn beacon(State(app): State<AppState>, body: Bytes) -> Response {
    if body.len() > MAX_BEACON_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "beacon too large").into_response();
    }
    let mut conn = Conn::new(app);
    let mut rest = &body[..];
    let mut index = 0usize;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return (StatusCode::BAD_REQUEST, format!("frame {index}: truncated length")).into_response();
        }
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        if rest.len() < 2 + len {
            return (StatusCode::BAD_REQUEST, format!("frame {index}: truncated")).into_response();
        }
        if let Err(c) = conn.handle(&rest[2..2 + len]).await {
            return (StatusCode::BAD_REQUEST, format!("frame {index}: {}", c.reason)).into_response();
        }
        rest = &rest[2 + len..];
        index += 1;
    }
    StatusCode::NO_CONTENT.into_response()
}
