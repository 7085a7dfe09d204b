//! # sdk-wasm: the Web Worker's WASM module
//!
//! The worker (`js/worker.js`, served as `/sdk-worker.js`) feeds pointer samples in and gets
//! postcard frames ([`shared_physics::wire`]) out; it owns the WebSocket, the timers and the
//! offline queue. This module owns the physics: a [`Ring`] of recent samples, a [`Tracker`] for
//! the once-a-second [`Physics`] summaries, the rage detector and the sequence numbers.
//!
//! Built for `wasm32-unknown-unknown` with `--profile wasm`: `no_std`, no allocator, no
//! wasm-bindgen, no float formatting. It also builds natively (the exports are then ordinary,
//! mangled functions) so its logic is unit-tested with `cargo test`.
//!
//! ## ABI
//!
//! All integers are wasm `i32` (JS numbers are converted with ToInt32; `u32` values above
//! 2³¹ read back negative in JS, use `>>> 0`). The module exports its `memory`; it never grows.
//!
//! | export | meaning |
//! |---|---|
//! | `inp() -> ptr` | the input buffer ([`IN_CAP`] bytes): strings and incoming frames are written here |
//! | `out() -> ptr` | the output buffer: every `… -> out_len` call leaves its frame at `out()[..out_len]` |
//! | `hello(session_lo, session_hi, key_len, page_len, token_len) -> out_len` | encodes `Frame::Hello` (seq 0) for session `hi << 32 \| lo`; site key, page and identity token lie consecutively at `inp()`; `token_len = 0` is anonymous. Each string ≤ [`MAX_TEXT_BYTES`] of UTF-8 |
//! | `sample(kind, t_ms, x, y, section) -> out_len` | one loader row (kind 0 move, 1 down, 2 up, 3 click, 4 scroll; `x`, `y` clamped to `i16`; `section` 0..=255). A click may yield a `Frame::Detection` (see below) |
//! | `section(id, name_len) -> out_len` | `Frame::Section` binding `id` (1..=255) to the UTF-8 name at `inp()` |
//! | `tick(t_ms) -> out_len` | `Frame::Physics` summarising the samples since the last tick, if there were any |
//! | `seq() -> u32` | sequence number of the last data frame encoded (data frames count from 1; `Hello` is always 0) |
//! | `recv(len) -> code` | decodes the server frame at `inp()[..len]`: `1` = `Ack`, `2` = `Intervene`, `0` = anything else or malformed |
//! | `field(i) -> u32` | after `recv`: for an `Ack`, `field(0)` = acked seq; for an `Intervene`, `field(0)` = id, `field(1)` = emotion index, `field(2)` = offset of the text from `inp()`, `field(3)` = its length in bytes |
//!
//! `out_len = 0` means "no frame" (nothing to say, or invalid input: never a trap).
//!
//! ## Detections
//!
//! On every click the evidence window ([`evidence_window`]) is cut from the ring and
//! [`detect_rage`] runs on exactly that slice with [`RageParams::default`]. A burst continues
//! while each detection comes within `max_ici_ms` of the previous one; within a burst a
//! `Frame::Detection` is sent only when its `confidence_pct` beats the highest already sent, so
//! a long burst costs a handful of frames, each carrying the evidence it was detected on.
#![cfg_attr(target_arch = "wasm32", no_std)]
#![warn(missing_docs)]

use shared_physics::detect::{detect_rage, evidence_window, RageParams, MAX_EVIDENCE};
use shared_physics::kinematics::Tracker;
use shared_physics::ring::Ring;
use shared_physics::wire::{
    self, DetectionFrame, Frame, Hello, Physics, Section, MAX_FRAME_BYTES, MAX_TEXT_BYTES,
};
use shared_physics::{Kind, Sample};

/// Capacity of the input buffer: a `Hello`'s three strings, or one server frame (the worker
/// drops server frames longer than [`MAX_FRAME_BYTES`] before copying them in).
pub const IN_CAP: usize = 4096;

/// `recv` code: the frame was not an `Ack` or `Intervene`, or was malformed.
pub const RECV_OTHER: u32 = 0;
/// `recv` code: an `Ack`; `field(0)` is its seq.
pub const RECV_ACK: u32 = 1;
/// `recv` code: an `Intervene`; see `field`.
pub const RECV_INTERVENE: u32 = 2;

/// Everything the module remembers about the page view.
pub struct State {
    input: [u8; IN_CAP],
    out: [u8; MAX_FRAME_BYTES],
    ring: Ring,
    tracker: Tracker,
    evidence: [Sample; MAX_EVIDENCE],
    /// Sequence number of the last data frame encoded.
    seq: u32,
    /// The current rage burst: time of its last detection and the highest confidence sent.
    burst: Option<(u32, u8)>,
    /// What the last `recv` decoded (see the `field` export).
    fields: [u32; 4],
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// The UTF-8 text at `input[start..start + len]`, if it is valid and at most `MAX_TEXT_BYTES`.
fn text(input: &[u8], start: usize, len: usize) -> Option<&str> {
    if len > MAX_TEXT_BYTES {
        return None;
    }
    utf8(input.get(start..start.checked_add(len)?)?)
}

/// `bytes` as text, if they are valid UTF-8.
fn utf8(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}

/// Encodes `frame` with `seq` into `out`; the length, or 0 when it does not fit.
fn put(out: &mut [u8], seq: u32, frame: &Frame<'_>) -> usize {
    wire::encode(seq, frame, out).map_or(0, |b| b.len())
}

/// Encodes a data frame with the next sequence number; `seq` advances only when it fits.
fn data(out: &mut [u8], seq: &mut u32, frame: &Frame<'_>) -> usize {
    let n = put(out, seq.wrapping_add(1), frame);
    if n > 0 {
        *seq = seq.wrapping_add(1);
    }
    n
}

impl State {
    /// A fresh page view: empty ring, no frames sent.
    pub fn new() -> State {
        let blank = Sample { t_ms: 0, x: 0, y: 0, kind: Kind::Move, section: 0 };
        State {
            input: [0; IN_CAP],
            out: [0; MAX_FRAME_BYTES],
            ring: Ring::new(),
            tracker: Tracker::new(),
            evidence: [blank; MAX_EVIDENCE],
            seq: 0,
            burst: None,
            fields: [0; 4],
        }
    }

    /// The input buffer.
    pub fn input(&mut self) -> &mut [u8; IN_CAP] {
        &mut self.input
    }

    /// The output buffer (the last frame is its prefix).
    pub fn out(&self) -> &[u8; MAX_FRAME_BYTES] {
        &self.out
    }

    /// Sequence number of the last data frame encoded.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// What the last [`State::recv`] decoded (see the `field` export).
    pub fn field(&self, i: u32) -> u32 {
        self.fields.get(i as usize).copied().unwrap_or(0)
    }

    /// `Frame::Hello` (seq 0) from the three strings laid out at the start of the input.
    pub fn hello(&mut self, session: u64, key_len: u32, page_len: u32, token_len: u32) -> usize {
        let (k, p, t) = (key_len as usize, page_len as usize, token_len as usize);
        let input = &self.input;
        let (Some(site_key), Some(page), Some(token)) =
            (text(input, 0, k), text(input, k, p), text(input, k + p, t))
        else {
            return 0;
        };
        let identity = (t > 0).then_some(token);
        put(&mut self.out, 0, &Frame::Hello(Hello { session, site_key, page, identity }))
    }

    /// One loader row; on a click, possibly a `Frame::Detection`.
    pub fn sample(&mut self, kind: u32, t_ms: u32, x: i32, y: i32, section: u32) -> usize {
        let Some(kind) = Kind::from_code(kind) else {
            return 0;
        };
        let clamp = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        let section = u8::try_from(section).unwrap_or(0);
        let s = Sample { t_ms, x: clamp(x), y: clamp(y), kind, section };
        self.ring.push(s);
        self.tracker.push(&s);
        if kind == Kind::Click {
            self.on_click()
        } else {
            0
        }
    }

    /// Runs the rage detector over the evidence window ending at the click just pushed.
    fn on_click(&mut self) -> usize {
        let params = RageParams::default();
        let evidence = evidence_window(&self.ring, &mut self.evidence);
        let Some(d) = detect_rage(evidence, &params) else {
            self.burst = None;
            return 0;
        };
        let pct = d.confidence_pct();
        let sent = match self.burst {
            Some((t0, best)) if d.t_ms.wrapping_sub(t0) <= params.max_ici_ms => best,
            _ => 0,
        };
        self.burst = Some((d.t_ms, sent.max(pct)));
        if pct <= sent {
            return 0;
        }
        let Ok(evidence) = heapless::Vec::from_slice(evidence) else {
            return 0;
        };
        let frame = DetectionFrame {
            emotion: d.emotion,
            confidence_pct: pct,
            t_ms: d.t_ms,
            section: d.section,
            evidence,
        };
        data(&mut self.out, &mut self.seq, &Frame::Detection(frame))
    }

    /// `Frame::Section` for the name at the start of the input.
    pub fn section(&mut self, id: u32, name_len: u32) -> usize {
        let (Ok(id @ 1..=255), Some(name)) = (u8::try_from(id), text(&self.input, 0, name_len as usize))
        else {
            return 0;
        };
        data(&mut self.out, &mut self.seq, &Frame::Section(Section { id, name }))
    }

    /// `Frame::Physics` for the samples since the last tick, if any arrived.
    pub fn tick(&mut self, t_ms: u32) -> usize {
        if !self.tracker.active() {
            return 0;
        }
        let p: Physics = self.tracker.take_summary(t_ms);
        data(&mut self.out, &mut self.seq, &Frame::Physics(p))
    }

    /// Decodes the server frame at `input[..len]` (see the `recv` export).
    pub fn recv(&mut self, len: u32) -> u32 {
        match self.input.get(..len as usize).and_then(server_frame) {
            Some(ServerFrame::Ack(seq)) => {
                self.fields = [seq, 0, 0, 0];
                RECV_ACK
            }
            Some(ServerFrame::Intervene { id, emotion, text_at, text_len }) => {
                self.fields = [id, emotion, text_at as u32, text_len as u32];
                RECV_INTERVENE
            }
            None => RECV_OTHER,
        }
    }
}

/// The two server → client frames the SDK acts on, as [`server_frame`] reads them.
#[derive(Debug, PartialEq)]
enum ServerFrame {
    /// `Frame::Ack` with its seq.
    Ack(u32),
    /// `Frame::Intervene`; the text is `bytes[text_at..text_at + text_len]`.
    Intervene { id: u32, emotion: u32, text_at: usize, text_len: usize },
}

/// Variant index of `Frame::Ack` in the postcard encoding.
const ACK_VARIANT: u32 = 4;
/// Variant index of `Frame::Intervene`.
const INTERVENE_VARIANT: u32 = 5;
/// Number of `Emotion` variants.
const EMOTIONS: u32 = 6;

/// Reads one postcard varint `u32` at `b[*at..]`, advancing `at`.
fn varint(b: &[u8], at: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    let mut shift = 0;
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= ((byte & 0x7f) as u32) << shift;
        if byte < 0x80 {
            // The fifth byte holds only the top four bits.
            return (shift < 28 || byte < 0x10).then_some(v);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

/// Decodes a server → client frame the SDK acts on, or `None` for anything else.
///
/// This is [`wire::decode`] restricted to `Ack` and `Intervene`: the full decoder would link
/// the deserialisers of every client → server frame into the SDK (about 4 KB of wasm) only to
/// reject them. The tests check it against [`wire::decode`] on valid, truncated and random
/// input, so the two cannot drift apart unnoticed.
fn server_frame(b: &[u8]) -> Option<ServerFrame> {
    if b.first() != Some(&wire::PROTOCOL_VERSION) || b.len() > MAX_FRAME_BYTES {
        return None;
    }
    let mut at = 1;
    varint(b, &mut at)?; // the envelope's seq: always 0 from the server, not used
    let frame = match varint(b, &mut at)? {
        ACK_VARIANT => ServerFrame::Ack(varint(b, &mut at)?),
        INTERVENE_VARIANT => {
            let id = varint(b, &mut at)?;
            let emotion = varint(b, &mut at)?;
            let text_len = varint(b, &mut at)? as usize;
            let text_at = at;
            at = at.checked_add(text_len)?;
            if emotion >= EMOTIONS || utf8(b.get(text_at..at)?).is_none() {
                return None;
            }
            ServerFrame::Intervene { id, emotion, text_at, text_len }
        }
        _ => return None,
    };
    (at == b.len()).then_some(frame)
}

// ---- the raw exports --------------------------------------------------------------------------

/// The one instance, created on first use (`Tracker::new` is not `const`, and an all-zero
/// `MaybeUninit` keeps the ~7 KB state out of the wasm data section).
static mut STATE: core::mem::MaybeUninit<State> = core::mem::MaybeUninit::uninit();
static mut READY: bool = false;

/// The module's state.
fn st() -> &'static mut State {
    // SAFETY: wasm32 without threads runs one export at a time and no export re-enters
    // another, so the reference returned here is the only live one; `READY` guarantees the
    // state is written once before it is read. Natively only one test calls the exports.
    unsafe {
        let s = &mut *core::ptr::addr_of_mut!(STATE);
        if !READY {
            s.write(State::new());
            READY = true;
        }
        s.assume_init_mut()
    }
}

/// Pointer to the input buffer ([`IN_CAP`] bytes).
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn inp() -> *mut u8 {
    st().input.as_mut_ptr()
}

/// Pointer to the output buffer.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn out() -> *const u8 {
    st().out.as_ptr()
}

/// Encodes `Frame::Hello`; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn hello(lo: u32, hi: u32, key_len: u32, page_len: u32, token_len: u32) -> usize {
    st().hello((hi as u64) << 32 | lo as u64, key_len, page_len, token_len)
}

/// Takes one sample; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn sample(kind: u32, t_ms: u32, x: i32, y: i32, section: u32) -> usize {
    st().sample(kind, t_ms, x, y, section)
}

/// Encodes `Frame::Section`; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn section(id: u32, name_len: u32) -> usize {
    st().section(id, name_len)
}

/// Encodes `Frame::Physics` when there was activity; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn tick(t_ms: u32) -> usize {
    st().tick(t_ms)
}

/// Sequence number of the last data frame encoded.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn seq() -> u32 {
    st().seq
}

/// Decodes a server frame from the input buffer; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn recv(len: u32) -> u32 {
    st().recv(len)
}

/// A field of the last frame `recv` decoded; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn field(i: u32) -> u32 {
    st().field(i)
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests;
