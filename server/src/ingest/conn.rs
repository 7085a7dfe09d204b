//! One connection's frame processor ([`Conn`]), shared by the WebSocket and the beacon: it
//! carries each frame down the path and does what the decision step says.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared_physics::emotions::classify;
use shared_physics::wire::{self, Frame, MAX_TEXT_BYTES, SECRET_BYTES};
use shared_physics::Emotion;

use super::sessions::SessionState;
use super::*;
use crate::confirm::crowd::{Judgement, CROWDS};
use crate::confirm::{confirm, Place, Verdict, Who};
use crate::interventions::{on_detection, Action, CardFacts, Reaction, Situation};
use crate::records::events::{Event, Push};
use crate::store::{CardRecord, DetectionRecord, FrameRecord, InterventionRecord, Tenant};
use crate::telemetry::{inc, timed, Counters, Stage, LATENCY};
use tokio::task::JoinHandle;

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
    /// A socket's place in its tenant's count of open sockets (none for a beacon).
    slot: Option<super::sessions::SocketSlot>,
}

/// One connection's (or one beacon's) frame processor, shared by the WebSocket and the beacon.
pub struct Conn {
    app: Hub,
    bound: Option<Bound>,
    bucket: Bucket,
    /// The durable events the frame being handled caused.
    caused: RefCell<Vec<JoinHandle<bool>>>,
}

/// What to send back after a frame.
#[derive(Debug)]
pub enum Reply {
    /// Nothing (a `Hello`, or a repeat of a frame whose events are still on their way).
    None,
    /// A cumulative acknowledgement, now: everything up to it is durable.
    Ack(u32),
    /// A cumulative acknowledgement once [`Stored::wait`] says the frame's events are durable.
    Pending(u32, Stored),
}

/// The durable events one frame caused (its journal row among them), on their way to the bus.
pub struct Stored(Vec<JoinHandle<bool>>);

impl Stored {
    /// Whether every one of them is stored (the publisher retries for
    /// [`crate::bus::publisher::DURABLE_RETRY_FOR`] before it says no).
    pub async fn wait(self) -> bool {
        for h in self.0 {
            if !h.await.unwrap_or(false) {
                return false;
            }
        }
        true
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stored({} events)", self.0.len())
    }
}

impl Conn {
    /// A processor for a new connection.
    pub fn new(app: Hub) -> Conn {
        Conn { app, bound: None, bucket: Bucket::new(), caused: RefCell::new(Vec::new()) }
    }

    /// Publishes a durable event the frame being handled caused: the frame is acknowledged only
    /// once it is stored.
    fn durable(&self, ev: Event) {
        self.caused.borrow_mut().push(self.app.events.durable(ev));
    }

    /// Everything up to `seq` of the bound session is durable and acknowledged: a `Hello` on a
    /// new connection resumes from here.
    pub fn acked(&self, seq: u32) {
        if let Some(b) = &self.bound {
            let mut st = b.state.lock().expect("session lock");
            st.acked = st.acked.max(seq);
        }
    }

    /// A frame's events could not be stored: counted and logged with the tenant.
    pub fn unstored(&self, seq: u32) {
        if let Some(b) = &self.bound {
            inc(&b.counters.frames_unstored);
            tracing::error!(tenant = %b.tenant.id, session = %b.hex, seq, "a frame's events could not be stored; not acknowledged, the page resends it");
        }
    }

    /// The lane of this connection's frames ([`super::priority`]): low until a `Hello` names a
    /// visitor of an account worth the critical value.
    pub fn lane(&self) -> super::priority::Lane {
        match &self.bound {
            Some(b) => super::priority::lane(&self.app, &b.tenant.id, &b.state),
            None => super::priority::Lane::Low,
        }
    }

    /// The session bound by `Hello`, as `(tenant, session)`.
    pub fn session(&self) -> Option<(String, u64)> {
        self.bound.as_ref().map(|b| (b.tenant.id.clone(), b.session))
    }

    /// Handles one frame.
    #[tracing::instrument(target = "siq_hot_path", name = "frame", level = "trace", skip_all)]
    pub async fn handle(&mut self, bytes: &[u8]) -> Result<Reply, Close> {
        let _timer = LATENCY.frame.timer();
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
        match &env.frame {
            Frame::Hello(h) => return self.hello(h, None).await.map(|_| Reply::None),
            Frame::SecureHello(s) => return self.hello(&s.hello, Some(&s.secret)).await.map(|_| Reply::None),
            _ => {}
        }
        let Some(b) = &self.bound else {
            inc(&self.app.metrics.rejected_frames);
            return Err(Close { code: CLOSE_HELLO_FIRST, reason: "hello first" });
        };
        inc(&b.counters.frames);
        let repeat = {
            let mut st = b.state.lock().expect("session lock");
            st.last_seen = Instant::now();
            if env.seq <= st.last_seq {
                inc(&b.counters.duplicates);
                Some(if env.seq <= st.acked { Reply::Ack(st.acked) } else { Reply::None })
            } else if env.seq - st.last_seq > MAX_SEQ_JUMP {
                return Err(Close { code: CLOSE_MALFORMED, reason: "sequence number jumps too far" });
            } else {
                st.last_seq = env.seq;
                None
            }
        };
        // A section's name is state, not an event: the page names its sections again after
        // every Hello (with their first sequence numbers), so an instance that never saw them
        // learns them, and one that did is told the same again.
        if let Frame::Section(s) = &env.frame {
            if s.id != 0 {
                let mut st = b.state.lock().expect("session lock");
                if st.sections.len() < MAX_SECTIONS || st.sections.contains_key(&s.id) {
                    let name = truncate(s.name, MAX_SECTION_NAME);
                    st.classes.set(s.id, classify(name.as_bytes()));
                    st.sections.insert(s.id, name.to_string());
                }
            }
        }
        if let Some(reply) = repeat {
            return Ok(reply);
        }
        let kind = match env.frame {
            Frame::Section(_) => "section",
            Frame::Detection(d) => {
                // Under overload, identified visitors of high-value accounts go first (priority.rs).
                let _turn = super::priority::DETECTIONS.turn(super::priority::lane(&self.app, &b.tenant.id, &b.state)).await;
                self.detection(env.seq, &d);
                "detection"
            }
            Frame::Physics(p) => {
                self.activity(&p);
                "physics"
            }
            Frame::Note(n) => {
                self.note(n.kind, n.text);
                "note"
            }
            // Server-to-client frames sent by a client are ignored, not fatal.
            Frame::Ack(_) | Frame::Intervene(_) | Frame::Hello(_) | Frame::SecureHello(_) => "ignored",
        };
        // The journal row: what was acknowledged, countable in the store.
        self.durable(Event::Frame(FrameRecord {
            tenant_id: b.tenant.id.clone(),
            session: b.hex.clone(),
            seq: i64::from(env.seq),
            kind: kind.into(),
            received_ms: self.app.clock.now_ms(),
        }));
        Ok(Reply::Pending(env.seq, Stored(std::mem::take(&mut *self.caused.borrow_mut()))))
    }

    /// A `Physics` summary: the page was active. The first in each wall-clock minute counts a
    /// session-minute (`active_minutes`), recorded on the session.
    fn activity(&self, p: &wire::Physics) {
        let Some(b) = &self.bound else { return };
        if p.moves == 0 && p.clicks == 0 && p.scrolls == 0 {
            return;
        }
        let minute = self.app.clock.now_ms().div_euclid(60_000);
        let record = {
            let mut st = b.state.lock().expect("session lock");
            if st.last_active_minute == Some(minute) {
                return;
            }
            st.last_active_minute = Some(minute);
            st.active_minutes += 1;
            st.record(&b.tenant.id, &b.hex)
        };
        inc(&b.counters.active_minutes);
        self.durable(Event::Session(record));
    }

    /// What the host page said (`SentientIQ.track` / `SentientIQ.context`): an outcome for the
    /// session's newest decision within the tenant's window, or the identified visitor's state.
    /// An outcome teaches the bandit only from an identified visitor's page: an anonymous one's
    /// is recorded, unverified (`interventions::outcomes`). Anything unusable is counted as
    /// `notes_refused` and logged with the tenant.
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
                use crate::interventions::outcomes::{self, Vouch};
                let identified = b.state.lock().expect("session lock").visitor.is_some();
                let vouch = if identified { Vouch::Verified } else { Vouch::Unverified };
                tokio::spawn(async move {
                    let now = app.clock.now_ms();
                    let who = crate::store::OutcomeFor::Session(&hex);
                    match outcomes::record(app.store.as_ref(), &tenant, who, &text, None, vouch, now).await.map(|r| r.decision) {
                        Ok(Some(decision)) => {
                            inc(&counters.outcomes);
                            tracing::info!(tenant = %tenant.id, session = %hex, decision, event = %text, ?vouch, "outcome from the page attributed");
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
                let Some(state) = crate::records::Context::parse(&text) else {
                    return refuse("unknown context state");
                };
                tokio::spawn(async move {
                    if let Err(e) = crate::identity::customers::set_context(
                        &app.people,
                        &tenant.id,
                        &sub,
                        state,
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

    /// Binds the connection to the session `h` names, with the resume `secret` of a
    /// `SecureHello` (`None` for a bare `Hello`): refused when the session is bound to another
    /// secret, or to one and `secret` is `None`.
    async fn hello(&mut self, h: &wire::Hello<'_>, secret: Option<&[u8; SECRET_BYTES]>) -> Result<(), Close> {
        if h.site_key.len() > MAX_TEXT_BYTES || h.page.len() > MAX_TEXT_BYTES || h.identity.is_some_and(|t| t.len() > MAX_TEXT_BYTES) {
            return Err(Close { code: CLOSE_MALFORMED, reason: "hello field too long" });
        }
        let Some(tenant) = self.app.people.cache.tenant_by_site_key(h.site_key) else {
            inc(&self.app.metrics.rejected_frames);
            return Err(Close { code: CLOSE_UNKNOWN_SITE_KEY, reason: "unknown site key" });
        };
        if let Some(b) = &self.bound {
            if b.tenant.id != tenant.id || b.session != h.session {
                return Err(Close { code: CLOSE_MALFORMED, reason: "a connection speaks for one session" });
            }
        }
        let counters = self.app.metrics.tenant(&tenant.id);
        // A socket takes a place in its tenant's count at its first Hello and keeps it.
        let slot = match self.bound.as_mut() {
            Some(b) => b.slot.take(),
            None if self.app.socket => match self.app.tenant_sockets.take(&tenant.id) {
                Some(slot) => Some(slot),
                None => {
                    let n = counters.sockets_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        let limit = self.app.tenant_sockets.cap();
                        tracing::warn!(tenant = %tenant.id, refused = n, limit, "open-socket cap reached; new sockets refused");
                    }
                    return Err(Close { code: CLOSE_OVERLOADED, reason: "too many open sockets for this site" });
                }
            },
            None => None,
        };
        let over_cap = || {
            // Counted every time; logged on the 1st, 2nd, 4th, 8th… refusal, so a flood
            // cannot turn into a flood of log lines.
            let n = counters.sessions_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(tenant = %tenant.id, refused = n, "live-session cap reached; new sessions refused");
            }
            Close { code: CLOSE_OVERLOADED, reason: "too many live sessions" }
        };
        let hex = format!("{:016x}", h.session);
        // A new session past the cap is refused before its secret costs the store anything.
        let live = self.app.sessions.get(&tenant.id, h.session);
        if live.is_none() && !self.app.sessions.has_room(&tenant.id) {
            return Err(over_cap());
        }
        let bound = resume(&self.app, &tenant.id, &hex, live.as_ref(), secret, &counters).await?;
        let Some(state) = self.app.sessions.get_or_insert(&tenant.id, h.session, h.page, self.app.clock.now_ms()) else {
            return Err(over_cap());
        };
        let visitor = match h.identity {
            None => None,
            Some(token) => match self.app.people.cache.resolve(&self.app.jwks, &tenant, token).await {
                // A token issued before its subject was erased (a tab left open across the
                // erasure) is anonymous: it must not bring the person back. If that cannot be
                // checked, anonymous too: the erasure is the promise kept.
                Ok(v) => match crate::identity::customers::erased_since_issued(&self.app.people, &tenant.id, &v.claims).await {
                    Ok(false) => {
                        let seen = crate::identity::customers::seen(&self.app.people, &tenant.id, &v.claims, self.app.clock.now_ms());
                        self.app.events.event(Event::Customer(seen));
                        Some(v)
                    }
                    Ok(true) => {
                        inc(&counters.identity_rejected);
                        tracing::info!(tenant = %tenant.id, "identity token issued before its subject was erased; session measured as anonymous");
                        None
                    }
                    Err(e) => {
                        inc(&counters.identity_rejected);
                        tracing::warn!(tenant = %tenant.id, error = %e, "erasure check failed; session measured as anonymous");
                        None
                    }
                },
                Err(e) => {
                    inc(&counters.identity_rejected);
                    tracing::info!(tenant = %tenant.id, error = %e, "identity token refused; session measured as anonymous");
                    None
                }
            },
        };
        let record = {
            let mut st = state.lock().expect("session lock");
            st.last_seen = Instant::now();
            if bound.is_some() {
                st.bound = bound;
            }
            // Who the visitor is comes from this Hello alone: no token, or a refused one, is an
            // anonymous visitor (signed out), never the identity an earlier Hello proved.
            st.visitor = visitor;
            // A new connection resumes after the last frame acknowledged: the page resends the
            // rest, and they are processed again (what they cause is stored once, by id).
            st.last_seq = st.acked;
            st.record(&tenant.id, &hex)
        };
        self.app.events.event(Event::Session(record));
        self.bound = Some(Bound { tenant, counters, session: h.session, hex, state, slot });
        Ok(())
    }

    /// A detection down the path: confirm (recompute from the evidence) → the decision
    /// ([`on_detection`]) → carry out what it says (push, card, page) → persist.
    #[tracing::instrument(target = "siq_hot_path", name = "detection", level = "trace", skip_all, fields(seq = seq))]
    fn detection(&self, seq: u32, frame: &wire::DetectionFrame) {
        let Some(b) = &self.bound else { return };
        let app = &self.app;
        inc(&b.counters.detections);
        let classes = b.state.lock().expect("session lock").classes;
        let d = match timed(&LATENCY.confirm, Stage::Confirm, || confirm(frame, &app.people.cache.params(&b.tenant.id), &classes)) {
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
        let now_ms = app.clock.now_ms();
        let cooldown = Duration::from_secs(app.settings.cooldown_secs);
        let page_pct = (app.settings.page_confidence * 100.0).round().clamp(0.0, 100.0) as u8;
        let (section, visitor, cooling, persisted) = {
            let mut st = b.state.lock().expect("session lock");
            let section = st.sections.get(&d.section).cloned().unwrap_or_default();
            let cooling = st.intervened.get(&d.emotion).is_some_and(|t| now.duration_since(*t) < cooldown);
            let paged_lately = st.paged.is_some_and(|t| now.duration_since(t) < cooldown);
            // The second burst is timed by the server, from the session's start: the page's own
            // clock (`d.t_ms`) is the client's word and could claim "3 s later" at once.
            let since_start = (now_ms - st.started_ms).clamp(0, i64::from(u32::MAX)) as u32;
            let persisted = st.struggle.note(d.emotion, d.confidence_pct(), since_start, page_pct);
            (section, st.visitor.clone(), cooling, persisted && !paged_lately)
        };
        let claims = visitor.as_ref().map(|v| &v.claims);
        // The account's value now (transactions may have arrived since hello).
        let account = claims.and_then(|c| c.account.as_deref()).and_then(|a| app.people.cache.account(&b.tenant.id, a));
        let who = Who { sub: claims.map(|c| c.sub.as_str()), name: claims.and_then(|c| c.name.as_deref()), account: account.as_ref() };
        let at = Place { tenant: &b.tenant.id, session: &b.hex, seq, section: &section };
        let record = crate::confirm::record(at, &d, frame, who, now_ms);
        // What the customer told us about themselves.
        let shared = claims.and_then(|c| app.people.cache.context(&b.tenant.id, &c.sub, now_ms));
        let situation = Situation {
            tenant: &b.tenant,
            detection: &record,
            seq,
            emotion: d.emotion,
            confidence: d.confidence,
            cooling,
            context: shared.as_ref().map(|c| c.state),
            persisted,
            bar: app.settings.intervene_confidence,
            critical_value_cents: app.settings.critical_value_cents,
            seed_secret: &app.settings.seed_secret,
            now_ms,
        };
        // A spot where many other visitors' clicks went unanswered is a broken control: recorded,
        // counted as held back on the spot's finding (the dashboard's broken controls), not this
        // visitor's struggle to intervene on (confirm/crowd.rs).
        let page = b.state.lock().expect("session lock").page.clone();
        let now_s = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        if let Judgement::BrokenControl(n) = CROWDS.judge(&b.tenant.id, b.session, &page, &d, &frame.evidence, now_s) {
            tracing::info!(tenant = %b.tenant.id, session = %b.hex, page, visitors = n.visitors, "broken control: no intervention");
            self.durable(Event::Detection(record));
            return;
        }
        let reaction = timed(&LATENCY.decide, Stage::Decide, || on_detection(&app.learning, &situation));
        self.carry_out(b, d.emotion, &record, shared.map(|c| c.state), reaction, now);
        self.durable(Event::Detection(record));
    }

    /// Does what the decision step said: the decision stored, the push or the card, the page.
    fn carry_out(
        &self,
        b: &Bound,
        emotion: Emotion,
        record: &DetectionRecord,
        context: Option<crate::records::Context>,
        r: Reaction,
        now: Instant,
    ) {
        let app = &self.app;
        if r.suppressed_busy {
            inc(&b.counters.suppressed_busy);
        }
        if let Some(decision) = r.decision {
            b.state.lock().expect("session lock").intervened.insert(emotion, now);
            let decided_ms = decision.created_ms;
            self.durable(Event::Decision(decision));
            match r.act {
                Action::Holdout => inc(&b.counters.held_out),
                Action::Show(text) => {
                    inc(&b.counters.interventions);
                    // The same detection processed again (resent after a reconnect) gives the
                    // same intervention id: stored once.
                    let id = intervention_id(&b.tenant.id, b.session, record.seq);
                    LATENCY.push_started(id, now);
                    // Straight to the socket when this instance holds it (the bus may be away);
                    // through the bus to whichever instance does otherwise.
                    let push = Push { tenant_id: b.tenant.id.clone(), session: b.session, id, emotion, text: text.clone() };
                    let local = {
                        let _span = tracing::trace_span!(target: crate::telemetry::HOT_PATH, "push", tenant = %push.tenant_id).entered();
                        app.sockets.deliver(&push)
                    };
                    if local {
                        LATENCY.push_delivered(id);
                    } else {
                        app.events.push(push);
                    }
                    self.durable(Event::Intervention(InterventionRecord {
                        id: format!("iv_{}_{}_{id:08x}", b.tenant.id, b.hex),
                        tenant_id: b.tenant.id.clone(),
                        session: b.hex.clone(),
                        seq: record.seq,
                        emotion,
                        text,
                        created_ms: decided_ms,
                    }));
                }
                Action::Card => {
                    inc(&b.counters.cards);
                    // The opener may come from a model (up to its timeout): written off the hot path.
                    let app = app.clone();
                    let counters = b.counters.clone();
                    let record = record.clone();
                    tokio::spawn(async move {
                        let facts = CardFacts {
                            name: record.user_name.as_deref(),
                            account: record.account_name.as_deref(),
                            value_cents: record.value_cents,
                            context,
                            emotion,
                            section: &record.section,
                        };
                        let written = app.opener.write(&facts).await;
                        if let Some(e) = &written.error {
                            inc(&counters.card_model_failed);
                            tracing::warn!(tenant = %record.tenant_id, error = %e, "card opener from the model failed; template used");
                        }
                        app.events.event(Event::Card(CardRecord {
                            id: format!("cd_{}_{}_{}", record.tenant_id, record.session, record.seq),
                            tenant_id: record.tenant_id.clone(),
                            session: record.session.clone(),
                            sub: record.user.clone(),
                            emotion,
                            section: record.section.clone(),
                            opener: written.text,
                            state: crate::records::CardState::Pending,
                            outcome: None,
                            actor: None,
                            created_ms: decided_ms,
                            updated_ms: decided_ms,
                        }));
                    });
                }
                Action::Nothing => {}
            }
        }
        // A person is paged on the stricter bar (the module docs of `escalation`): identified,
        // valuable, and a struggle that persisted over a second burst at the paging confidence.
        if r.escalate {
            b.state.lock().expect("session lock").paged = Some(now);
            let app = app.clone();
            let rec = record.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::escalation::open(&app.escalation, &rec).await {
                    inc(&app.metrics.tenant(&rec.tenant_id).alerts_failed);
                    tracing::error!(tenant = %rec.tenant_id, session = %rec.session, error = %e, "escalation could not be opened");
                }
            });
        }
    }
}

/// The wire id of the intervention answering detection `seq` of a session: the first four bytes
/// of SHA-256 over tenant, session and seq.
fn intervention_id(tenant: &str, session: u64, seq: i64) -> u32 {
    use sha2::{Digest, Sha256};
    let h = Sha256::new()
        .chain_update(tenant.as_bytes())
        .chain_update([0])
        .chain_update(session.to_le_bytes())
        .chain_update(seq.to_le_bytes())
        .finalize();
    u32::from_le_bytes([h[0], h[1], h[2], h[3]])
}

/// Checks the resume secret a `Hello` for session `hex` presents against the one the session
/// is bound to, binding it when the session has none (the first `SecureHello` wins); returns
/// the binding. Asks the store unless `live` already knows it; a store that cannot answer
/// refuses the `Hello` with [`CLOSE_NOT_STORED`] (the page reconnects).
async fn resume(
    app: &Hub,
    tenant: &str,
    hex: &str,
    live: Option<&Arc<Mutex<SessionState>>>,
    secret: Option<&[u8; SECRET_BYTES]>,
    counters: &Counters,
) -> Result<Option<String>, Close> {
    let presented = secret.map(|s| secret_hash(tenant, hex, s));
    let known = live.and_then(|s| s.lock().expect("session lock").bound.clone());
    let bound = match known {
        Some(b) => Some(b),
        None => match app.people.store.bind_session(tenant, hex, presented.as_deref(), app.clock.now_ms()).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(tenant = %tenant, session = %hex, error = %e, "the session's resume secret could not be checked; hello refused");
                return Err(Close { code: CLOSE_NOT_STORED, reason: "session not checked; reconnect" });
            }
        },
    };
    match (&bound, &presented) {
        (Some(b), Some(p)) if same(b.as_bytes(), p.as_bytes()) => Ok(bound),
        (None, None) => Ok(None),
        _ => {
            // Counted every time; logged on the 1st, 2nd, 4th… refusal of the tenant.
            let n = counters.resumes_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tracing::debug!(tenant = %tenant, session = %hex, with_secret = secret.is_some(), "hello without its session's resume secret refused");
            if n.is_power_of_two() {
                tracing::warn!(tenant = %tenant, refused = n, "hellos without their session's resume secret refused");
            }
            Err(Close { code: CLOSE_WRONG_SECRET, reason: "not this session's secret" })
        }
    }
}

/// The stored form of a session's resume secret: SHA-256 over the secret bound to its tenant
/// and session, hex. Not keyed by a server secret, on purpose: the secret is 128 random bits, so
/// a copy of the database cannot guess it whatever the hash speed (as with secret API keys), and
/// a server key would tie every live session to that key's life (a rotated index key, or a
/// development server with a random link secret, would refuse every open page at its next
/// reconnect). Bound to its place, so a row copied to another session matches nothing.
pub(crate) fn secret_hash(tenant: &str, session_hex: &str, secret: &[u8; SECRET_BYTES]) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::new()
        .chain_update(b"siq-resume-v1\0")
        .chain_update(tenant.as_bytes())
        .chain_update([0])
        .chain_update(session_hex.as_bytes())
        .chain_update([0])
        .chain_update(secret)
        .finalize();
    hex::encode(h)
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Longest outcome or state kept from a page, bytes.
pub const MAX_NOTE_BYTES: usize = 64;

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
