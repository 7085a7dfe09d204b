//! The wire protocol between the SDK and the server: postcard-encoded [`Envelope`]s.
//!
//! Every frame starts with the protocol version byte ([`PROTOCOL_VERSION`]), then the frame's
//! sequence number (varint) and the [`Frame`] (a varint variant index and its fields). The
//! version is checked before anything else is decoded, so a future version is rejected with
//! [`WireError::UnsupportedVersion`] and a clear close code, never misread.
//!
//! Sequence numbers: the SDK numbers its data frames from 1 per session; the server answers
//! with a cumulative [`Ack`] and de-duplicates by `(session, seq)`, so frames resent after a
//! reconnect are counted once. [`Frame::Hello`] and [`Frame::SecureHello`] always travel with
//! `seq = 0`.
//!
//! Compatibility: variants and fields are only ever appended; the golden tests in
//! `tests/golden.rs` pin the exact bytes. [`lean`] writes and reads the same bytes without serde
//! for the browser SDK (`tests/lean.rs` proves them identical).

use serde::{Deserialize, Serialize};

pub mod lean;

use crate::detection::MAX_EVIDENCE;
use crate::{Emotion, Sample};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest frame either side may send, in bytes. Enforced on decode by the server.
pub const MAX_FRAME_BYTES: usize = 2048;
/// Longest site key, page path or identity token accepted in a [`Hello`], in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// A versioned, sequenced frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<'a> {
    /// Always [`PROTOCOL_VERSION`] when encoded by this crate.
    pub version: u8,
    /// Per-session sequence number (0 for `Hello`).
    pub seq: u32,
    /// The frame.
    #[serde(borrow)]
    pub frame: Frame<'a>,
}

/// Every frame of the protocol. Append new variants at the end only.
///
/// `Detection` is much larger than the others (its evidence is inline): without an allocator
/// there is nothing to box it into, and one frame on the stack is under 1 KB.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Frame<'a> {
    /// Client → server, first frame of every connection.
    #[serde(borrow)]
    Hello(Hello<'a>),
    /// Client → server, about once a second while the pointer is active.
    Physics(Physics),
    /// Client → server: a detection with its evidence.
    Detection(DetectionFrame),
    /// Client → server: the name behind a section id, sent once per page.
    #[serde(borrow)]
    Section(Section<'a>),
    /// Server → client: every data frame up to `seq` has been received.
    Ack(Ack),
    /// Server → client: show an intervention.
    #[serde(borrow)]
    Intervene(Intervene<'a>),
    /// Client → server: what the host page said through `SentientIQ.track` or
    /// `SentientIQ.context` (added in the same protocol version: a server that predates it
    /// closes with "malformed frame", so upgrade servers first).
    #[serde(borrow)]
    Note(Note<'a>),
    /// Client → server, first frame of every connection: a [`Hello`] with the session's resume
    /// secret, which the SDK sends instead of a bare `Hello` (appended in version 1: a server
    /// that predates it closes with "malformed frame", so upgrade servers first). The server
    /// binds the session to the secret at its first `SecureHello` and refuses any later
    /// `Hello` or `SecureHello` for that session without it (`docs/protocol.md`).
    #[serde(borrow)]
    SecureHello(SecureHello<'a>),
}

/// Kinds of [`Note`].
pub mod note {
    /// An outcome the host reported (`SentientIQ.track('purchase')`): attributed to the
    /// session's newest decision within the tenant's window, like `POST /v1/outcomes`.
    pub const OUTCOME: u8 = 0;
    /// The visitor's state (`SentientIQ.context('busy')`): `busy`, `stuck`, `exploring` or
    /// `frustrated`, for an identified visitor.
    pub const CONTEXT: u8 = 1;
}

/// A word from the host page: an outcome or the visitor's state ([`note`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note<'a> {
    /// [`note::OUTCOME`] or [`note::CONTEXT`].
    pub kind: u8,
    /// The outcome's event name or the state.
    pub text: &'a str,
}

/// Opens a session on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello<'a> {
    /// Random per-page-view session id chosen by the SDK.
    pub session: u64,
    /// The tenant's publishable site key (`pk_…`).
    pub site_key: &'a str,
    /// The page path.
    pub page: &'a str,
    /// The host app's JWT for the visitor, if it identified them.
    pub identity: Option<&'a str>,
}

/// Length of a session's resume secret, bytes (128 bits).
pub const SECRET_BYTES: usize = 16;

/// A [`Hello`] and the secret that binds its session: only a connection that knows the secret
/// speaks for the session once it is bound. The SDK draws it at random with the session id and
/// keeps it as long as the session id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecureHello<'a> {
    /// The session, site key, page and identity, as in a bare `Hello`.
    #[serde(borrow)]
    pub hello: Hello<'a>,
    /// The session's resume secret: [`SECRET_BYTES`] random bytes, written as they are.
    pub secret: [u8; SECRET_BYTES],
}

/// A quantised physics summary of the last interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Physics {
    /// End of the interval, ms since page start.
    pub t_ms: u32,
    /// Pointer moves in the interval.
    pub moves: u16,
    /// Clicks in the interval.
    pub clicks: u16,
    /// Scroll events in the interval.
    pub scrolls: u16,
    /// Mean filtered speed, px/s.
    pub mean_speed: u16,
    /// Peak smoothed jerk, in units of 1000 px/s³.
    pub peak_jerk_k: u32,
    /// Normalised direction entropy × 255.
    pub entropy_q: u8,
}

/// A detection and the evidence the server recomputes it from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionFrame {
    /// What the client recognised.
    pub emotion: Emotion,
    /// The client's confidence in percent (informational: the server recomputes it).
    pub confidence_pct: u8,
    /// Time of the triggering sample.
    pub t_ms: u32,
    /// Section id of the triggering sample.
    pub section: u8,
    /// The evidence window, oldest first.
    pub evidence: heapless::Vec<Sample, MAX_EVIDENCE>,
}

/// Binds a section id to its name for this session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section<'a> {
    /// The id used in samples (1..=255).
    pub id: u8,
    /// The `data-siq-section` value (or landmark) it stands for.
    pub name: &'a str,
}

/// Cumulative acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Highest data-frame sequence number received in order.
    pub seq: u32,
}

/// An intervention for the page to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intervene<'a> {
    /// The server's id of this intervention decision.
    pub id: u32,
    /// The emotion it answers.
    pub emotion: Emotion,
    /// The text to show (inserted as text, never as HTML).
    pub text: &'a str,
}

/// Why a frame could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Zero bytes.
    Empty,
    /// The first byte names a protocol version this build does not speak.
    UnsupportedVersion(u8),
    /// Larger than [`MAX_FRAME_BYTES`].
    TooLarge,
    /// The bytes are not a valid frame of this version (truncated, bad variant, bad UTF-8,
    /// trailing bytes).
    Malformed,
    /// The output buffer is too small for the frame.
    BufferFull,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Empty => f.write_str("empty frame"),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            WireError::TooLarge => f.write_str("frame larger than the protocol limit"),
            WireError::Malformed => f.write_str("malformed frame"),
            WireError::BufferFull => f.write_str("output buffer too small"),
        }
    }
}

/// Encodes `frame` with sequence number `seq` into `buf`, returning the used prefix.
pub fn encode<'b>(seq: u32, frame: &Frame<'_>, buf: &'b mut [u8]) -> Result<&'b mut [u8], WireError> {
    let env = Envelope { version: PROTOCOL_VERSION, seq, frame: frame.clone() };
    postcard::to_slice(&env, buf).map_err(|_| WireError::BufferFull)
}

/// Decodes one whole frame. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Envelope<'_>, WireError> {
    match bytes.first() {
        None => return Err(WireError::Empty),
        Some(&v) if v != PROTOCOL_VERSION => return Err(WireError::UnsupportedVersion(v)),
        _ => {}
    }
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge);
    }
    match postcard::take_from_bytes::<Envelope<'_>>(bytes) {
        Ok((env, [])) => Ok(env),
        _ => Err(WireError::Malformed),
    }
}
