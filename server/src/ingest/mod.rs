//! Ingest: the SDK's binary WebSocket (`/v1/ws`) and the `sendBeacon` fallback (`/v1/beacon`).
//!
//! A connection's first frame must be `Hello` (protocol version, site key, session, page,
//! optional identity token). Then, per data frame: de-duplicate by `(session, seq)`, and for a
//! `Detection` run the hot path (in a turn of the [`priority`] gate: high-value visitors first
//! under overload): confirm (recompute from evidence) → decide → push `Intervene`
//! through the bus → escalate by value (spawned) → publish the events for persistence
//! (spawned). Every data frame is answered with a cumulative `Ack`.
//!
//! Close codes: [`CLOSE_UNSUPPORTED_VERSION`], [`CLOSE_UNKNOWN_SITE_KEY`], [`CLOSE_MALFORMED`],
//! [`CLOSE_HELLO_FIRST`], [`CLOSE_WRONG_SECRET`], [`CLOSE_RATE_LIMITED`]. A bad frame never
//! panics the server.
//!
//! A session is bound to the resume secret of its first `SecureHello` (the SDK's `Hello`): the
//! binding is stored (`session_secrets`), so it holds on every instance and across restarts, and
//! a connection that does not present the secret never speaks for the session nor receives its
//! pushes ([`CLOSE_WRONG_SECRET`]). A bare `Hello` (SDKs before the secret, tools) still opens a
//! session that no secret has bound.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::stream::FuturesOrdered;
use futures::{SinkExt, StreamExt};
use shared_physics::wire::{self, Ack, Frame, WireError, MAX_FRAME_BYTES};
use tokio::sync::mpsc;

use crate::bus::Publisher;
use crate::clock::SharedClock;
use crate::escalation::Escalation;
use crate::identity::jwt::JwksCache;
use crate::identity::People;
use crate::interventions::opener::Opener;
use crate::interventions::Learning;
use crate::store::LearningStore;
use crate::telemetry::{inc, Metrics};

/// The first byte names a protocol version this server does not speak.
pub const CLOSE_UNSUPPORTED_VERSION: u16 = 4001;
/// The `Hello` names a site key no tenant owns.
pub const CLOSE_UNKNOWN_SITE_KEY: u16 = 4003;
/// A frame came before `Hello`.
pub const CLOSE_HELLO_FIRST: u16 = 4002;
/// The `Hello` names a session bound to another resume secret, or carries none for a session
/// that is bound: whoever sent it knows the session id, not the secret. Counted as
/// `resumes_refused` and logged with the tenant; a beacon answers 403.
pub const CLOSE_WRONG_SECRET: u16 = 4004;
/// What a frame caused could not be stored (the bus away for longer than the publisher
/// retries): the frame is not acknowledged; the page reconnects and resends it.
pub const CLOSE_NOT_STORED: u16 = 4500;
/// Too many frames: more than [`MAX_FRAME_BURST`] at once or [`MAX_FRAMES_PER_SECOND`] sustained.
pub const CLOSE_RATE_LIMITED: u16 = 4029;
/// Undecodable bytes, a text message, a frame larger than the protocol allows, or a sequence
/// number past [`MAX_SEQ_JUMP`] ahead of the session's.
pub const CLOSE_MALFORMED: u16 = 4400;
/// No `Hello` within [`HELLO_DEADLINE`], or nothing at all (not even a pong) for
/// [`IDLE_TIMEOUT`]. The SDK reconnects when it has something to say.
pub const CLOSE_TIMEOUT: u16 = 4008;
/// The tenant has [`MAX_SESSIONS_PER_TENANT`] live sessions, or [`MAX_SOCKETS_PER_TENANT`] open
/// sockets, on this instance (the close reason says which): try again later (the SDK backs off).
pub const CLOSE_OVERLOADED: u16 = 4013;

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
/// A new socket must say `Hello` within this, or it is closed with [`CLOSE_TIMEOUT`].
pub const HELLO_DEADLINE: Duration = Duration::from_secs(10);
/// The server pings every open socket this often; a browser answers by itself, so an open
/// tab on an idle page stays connected for a few bytes a minute.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// A socket from which nothing arrives (no frame, no pong) for this long is closed with
/// [`CLOSE_TIMEOUT`]: three pings unanswered.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(95);
/// The WebSocket's read buffer per socket, bytes: one largest frame. A frame is at most
/// [`MAX_FRAME_BYTES`] (a longer message grows the buffer for itself); the library's default
/// (128 KiB) made every idle socket cost ~137 KB, 4 KiB cost 14.1 KB, 2 KiB 11.3 KB
/// (`cargo xtask bench load --sessions 10000`).
pub const WS_READ_BUFFER: usize = 2 * 1024;
/// Largest unsent data a socket may hold before writes fail (a reader that stopped reading),
/// bytes.
pub const WS_MAX_WRITE_BUFFER: usize = 64 * 1024;
/// Live sessions one tenant may have in this instance's session table: fresh session ids from
/// the public site key cannot grow memory without bound. Past it a `Hello` for a new session is
/// closed with [`CLOSE_OVERLOADED`] (a beacon answers 429); sessions already live go on.
pub const MAX_SESSIONS_PER_TENANT: usize = 50_000;
/// Open sockets this instance accepts, all tenants together; past it an upgrade is answered
/// 503 before any socket state exists.
pub const MAX_CONNECTIONS: usize = 100_000;
/// Open sockets one tenant (one site key) may have on this instance, so that its visitors, or
/// anyone holding its public site key, cannot take every socket of [`MAX_CONNECTIONS`] from the
/// other tenants: sockets for one session id are not bounded by [`MAX_SESSIONS_PER_TENANT`]. A
/// socket counts from its `Hello` (the site key travels in it, not in the upgrade request;
/// before it a socket is bounded by [`HELLO_DEADLINE`], the instance's cap and the listener's
/// per-address cap) until it closes. Past it the `Hello` is closed with [`CLOSE_OVERLOADED`],
/// counted as `sockets_refused` and logged with the tenant. The beacon is not a socket.
pub const MAX_SOCKETS_PER_TENANT: usize = 50_000;
/// How far ahead of the session's last sequence number a frame may jump. The SDK numbers
/// frames one by one and resends at most its offline queue; a jump past this is refused, so
/// one frame cannot end a session's de-duplication window (`seq = u32::MAX`).
pub const MAX_SEQ_JUMP: u32 = 100_000;

/// What the socket edge is told at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Confidence at which an in-page intervention is shown (tenant thresholds aside).
    pub intervene_confidence: f32,
    /// Confidence of the bursts that count towards paging a person.
    pub page_confidence: f32,
    /// Seconds between two interventions (or pages) for the same session and emotion.
    pub cooldown_secs: u64,
    /// Accounts worth at least this many cents are escalated to a person.
    pub critical_value_cents: i64,
    /// Key of the decision seeds (decisions are replayable from it).
    pub seed_secret: Vec<u8>,
    /// How long a new socket has to say `Hello` ([`HELLO_DEADLINE`] by default).
    pub hello_deadline: Duration,
    /// How long a socket may stay silent ([`IDLE_TIMEOUT`] by default).
    pub idle_timeout: Duration,
}

/// The socket edge with its ports: what a connection needs to carry a frame down the path;
/// cheap to clone.
#[derive(Clone)]
pub struct Hub {
    /// Outcomes from the page.
    pub store: Arc<dyn LearningStore>,
    /// Durable events and pushes.
    pub events: Publisher,
    /// Who the visitor is.
    pub people: People,
    /// Host JWKS key sets.
    pub jwks: Arc<JwksCache>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Variants and arm counts.
    pub learning: Arc<Learning>,
    /// Conversation-card openers.
    pub opener: Opener,
    /// Pages a person.
    pub escalation: Escalation,
    /// Bars and cooldowns.
    pub settings: Arc<Settings>,
    /// Live sessions.
    pub sessions: Arc<SessionTable>,
    /// Sockets on this instance.
    pub sockets: Arc<PushRegistry>,
    /// Open sockets per tenant on this instance, capped.
    pub tenant_sockets: Arc<SocketCounts>,
    /// Whether the connection is a WebSocket (its `Hello` takes a place in
    /// [`Hub::tenant_sockets`]); set by [`ws`], false for the beacon.
    pub socket: bool,
    /// Time.
    pub clock: SharedClock,
    /// Paces the low lane's reads while the runtime lags ([`priority::Pacer`]).
    pub pacer: Arc<priority::Pacer>,
}

pub mod conn;
pub mod priority;
pub mod push;
pub mod sessions;

pub use conn::{Conn, Reply, MAX_NOTE_BYTES};
pub use push::PushRegistry;
pub use sessions::{SessionState, SessionTable, SocketCounts};

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

/// `GET /v1/ws`: upgrades to the SDK's binary WebSocket.
#[utoipa::path(get, path = "/v1/ws", tag = "sdk", responses((status = 101, description = "binary WebSocket of postcard frames (docs/protocol.md)")))]
pub async fn ws(State(app): State<Hub>, upgrade: WebSocketUpgrade) -> Response {
    if app.metrics.connections.load(std::sync::atomic::Ordering::Relaxed) as usize >= MAX_CONNECTIONS {
        inc(&app.metrics.rejected_frames);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    }
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| run_socket(Hub { socket: true, ..app }, socket))
}

fn ack_bytes(seq: u32) -> Bytes {
    let mut buf = [0u8; 16];
    let b = wire::encode(0, &Frame::Ack(Ack { seq }), &mut buf).expect("an ack fits 16 bytes");
    Bytes::copy_from_slice(b)
}

async fn run_socket(app: Hub, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(PUSH_QUEUE);
    app.metrics.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            let msg = tokio::select! {
                b = rx.recv() => match b {
                    Some(b) if !b.is_empty() => Message::Binary(b),
                    _ => break,
                },
                _ = ping.tick() => Message::Ping(Bytes::new()),
            };
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut conn = Conn::new(app.clone());
    let mut registered: Option<(String, u64)> = None;
    let mut close: Option<Close> = None;
    // Frames handled whose events are on their way to the bus, oldest first: each is
    // acknowledged when it and every frame before it are stored.
    let mut storing: FuturesOrdered<futures::future::BoxFuture<'static, (u32, bool)>> = FuturesOrdered::new();
    let mut deadline = tokio::time::Instant::now() + app.settings.hello_deadline;
    // While the instance is paced, a low-lane socket reads a frame only with a token
    // (priority.rs): `token` is its wait, `ready` says it holds one.
    let mut token: Option<futures::future::BoxFuture<'static, ()>> = None;
    let mut ready = false;
    loop {
        let gated = app.pacer.paced() && conn.lane() == priority::Lane::Low;
        if !gated {
            token = None;
        } else if !ready && token.is_none() {
            token = Some(app.pacer.token());
        }
        let msg = tokio::select! {
            Some((seq, stored)) = storing.next(), if !storing.is_empty() => {
                if !stored {
                    conn.unstored(seq);
                    close = Some(Close { code: CLOSE_NOT_STORED, reason: "not stored; resend" });
                    break;
                }
                conn.acked(seq);
                if tx.send(ack_bytes(seq)).await.is_err() {
                    break;
                }
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => {
                let reason = if conn.session().is_some() { "idle" } else { "no hello in time" };
                close = Some(Close { code: CLOSE_TIMEOUT, reason });
                break;
            }
            _ = async { if let Some(t) = token.as_mut() { t.await } }, if token.is_some() => {
                token = None;
                ready = true;
                continue;
            }
            msg = stream.next(), if !gated || ready => match msg {
                Some(msg) => msg,
                None => break,
            },
        };
        ready = false;
        app.pacer.read_one();
        let wait = if conn.session().is_some() { app.settings.idle_timeout } else { app.settings.hello_deadline };
        deadline = tokio::time::Instant::now() + wait;
        let bytes = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(Message::Ping(_)) | Ok(Message::Pong(_)) => continue,
            Ok(Message::Text(_)) => {
                close = Some(Close { code: CLOSE_MALFORMED, reason: "binary frames only" });
                break;
            }
        };
        // Boxed: the socket's task keeps only a pointer to the frame's future (which can hold
        // an identity lookup) between frames instead of reserving its size for every idle socket.
        match Box::pin(conn.handle(&bytes)).await {
            Ok(reply) => {
                if registered.is_none() {
                    if let Some((t, s)) = conn.session() {
                        app.sockets.register(&t, s, tx.clone());
                        registered = Some((t, s));
                        deadline = tokio::time::Instant::now() + app.settings.idle_timeout;
                    }
                }
                match reply {
                    Reply::Ack(seq) => {
                        if tx.send(ack_bytes(seq)).await.is_err() {
                            break;
                        }
                    }
                    Reply::Pending(seq, stored) => storing.push_back(Box::pin(async move { (seq, stored.wait().await) })),
                    Reply::None => {}
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
/// offending frame's index (403 for a `Hello` without its session's secret, 429 past the live
/// sessions' cap, 503 when the session's secret could not be checked).
#[utoipa::path(post, path = "/v1/beacon", tag = "sdk", request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 204, description = "accepted"), (status = 400, description = "malformed"), (status = 403, description = "the Hello lacks its session's resume secret")))]
pub async fn beacon(State(app): State<Hub>, body: Bytes) -> Response {
    if body.len() > MAX_BEACON_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "beacon too large").into_response();
    }
    let mut conn = Conn::new(app);
    let mut storing = Vec::new();
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
        match conn.handle(&rest[2..2 + len]).await {
            Ok(Reply::Pending(seq, stored)) => storing.push((seq, stored)),
            Ok(_) => {}
            Err(c) => {
                let status = match c.code {
                    CLOSE_OVERLOADED => StatusCode::TOO_MANY_REQUESTS,
                    CLOSE_WRONG_SECRET => StatusCode::FORBIDDEN,
                    CLOSE_NOT_STORED => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                return (status, format!("frame {index}: {}", c.reason)).into_response();
            }
        }
        rest = &rest[2 + len..];
        index += 1;
    }
    // Answered once what the frames caused is durable: a 503 tells the page nothing is lost
    // only if it keeps the frames (it does, until a socket acknowledges them).
    for (seq, stored) in storing {
        if !stored.wait().await {
            conn.unstored(seq);
            return (StatusCode::SERVICE_UNAVAILABLE, "not stored; resend").into_response();
        }
        conn.acked(seq);
    }
    StatusCode::NO_CONTENT.into_response()
}
