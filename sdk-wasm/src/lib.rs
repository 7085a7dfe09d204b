//! # sdk-wasm: the Web Worker's WASM module
//!
//! The worker (`js/worker.js`, served as `/sdk-worker.js`) feeds pointer samples in and gets
//! frames of the wire protocol ([`shared_physics::wire`]) out; it owns the WebSocket, the timers
//! and the offline queue. This module owns the physics: the streaming
//! [`shared_physics::detect::Detector`] (ring of recent samples, rage detector, emit rule), a
//! [`Tracker`] for the once-a-second `Physics` summaries, and the sequence numbers.
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
//! | `hello(session_lo, session_hi, s0, s1, s2, s3, key_len, page_len, token_len) -> out_len` | encodes `Frame::SecureHello` (seq 0) for session `hi << 32 \| lo` with the resume secret `s0..s3` (four random `u32`, written little-endian in that order); site key, page and identity token lie consecutively at `inp()` (UTF-8, as `TextEncoder` writes it; each ≤ [`MAX_TEXT_BYTES`]); `token_len = 0` is anonymous |
//! | `sample(kind, t_ms, x, y, section) -> out_len` | one loader row (kind 0 move, 1 down, 2 up, 3 click, 4 scroll, 5 response, 6 leave, 7 hidden, 8 visible, 9 quiet: [`Kind::from_code`]; `x`, `y` clamped to `i16`; `section` 0..=255). In `sdk-emotions.wasm`, a sample that decides a click (one at least 1 s after it, or a quiet) may yield a `Frame::Detection` (see below) |
//! | `section(id, name_len) -> out_len` | `Frame::Section` binding `id` (1..=255) to the UTF-8 name at `inp()` (≤ [`MAX_TEXT_BYTES`]) |
//! | `note(kind, text_len) -> out_len` | `Frame::Note` of `kind` (0 outcome, 1 context) with the UTF-8 text at `inp()` (1..=[`MAX_TEXT_BYTES`]): `SentientIQ.track` and `SentientIQ.context` |
//! | `learn(id, name_len)` | files section `id` under the class of the name at `inp()` without a frame (a module loaded after page start learns the sections already named) |
//! | `set_seq(seq)` | the next data frame is numbered `seq + 1` (a module loaded after page start continues the first one's numbering) |
//! | `tick(t_ms) -> out_len` | `Frame::Physics` summarising the samples since the last tick, if there were any |
//! | `seq() -> u32` | sequence number of the last data frame encoded (data frames count from 1; `Hello` is always 0) |
//! | `recv(len) -> code` | decodes the server frame at `inp()[..len]`: `1` = `Ack`, `2` = `Intervene`, `0` = anything else or malformed |
//! | `field(i) -> u32` | after `recv`: for an `Ack`, `field(0)` = acked seq; for an `Intervene`, `field(0)` = id, `field(1)` = emotion index, `field(2)` = offset of the text from `inp()`, `field(3)` = its length in bytes |
//!
//! `out_len = 0` means "no frame" (nothing to say, or invalid input: never a trap). Frames are
//! written by [`codec`] ([`shared_physics::wire::lean`]), byte-identical to
//! [`shared_physics::wire::encode`] (tested there).
//!
//! ## Detections
//!
//! Every sample goes through `Detector::push` with `Params::DEFAULT` ([`shared_physics::detect`]):
//! the same emit rules and evidence windows `sentientiq detect` replays, documented in
//! `docs/detectors.md`.
//!
//! The crate builds two modules. `sdk.wasm` (default features), loaded at page start, keeps the
//! movement summary and writes the frames, and detects nothing: the page-start budget (8 KB
//! gzip for the two scripts and the module) stays far from full. `sdk-emotions.wasm` (feature
//! `emotions`) detects every emotion, rage included; the worker loads it a second after page
//! start, hands over to it (`set_seq`, `learn`) and feeds it the rows seen so far, sending what
//! it detects in them, so a burst begun before it arrived is detected whole (a click is decided
//! only 1 s after it anyway). A `Frame::Detection` carries exactly the evidence it was detected
//! on.
#![cfg_attr(target_arch = "wasm32", no_std)]
#![warn(missing_docs)]

#[cfg(feature = "emotions")]
use shared_physics::detect::{Detector, Params};
use shared_physics::kinematics::Tracker;
use shared_physics::wire::lean as codec;
use shared_physics::wire::{MAX_FRAME_BYTES, MAX_TEXT_BYTES, SECRET_BYTES};
use shared_physics::{Kind, Sample};

/// Capacity of the input buffer: a `Hello`'s three strings, or one server frame (the worker
/// drops server frames longer than [`MAX_FRAME_BYTES`] before copying them in).
pub const IN_CAP: usize = 4096;

/// `recv` code: the frame was not an `Ack` or `Intervene`, or was malformed.
pub const RECV_OTHER: u32 = codec::OTHER;
/// `recv` code: an `Ack`; `field(0)` is its seq.
pub const RECV_ACK: u32 = codec::ACKED;
/// `recv` code: an `Intervene`; see `field`.
pub const RECV_INTERVENE: u32 = codec::INTERVENED;

/// The physics of the page view: the movement summary, and (in `sdk-emotions.wasm`) the
/// detector.
struct Engine {
    tracker: Tracker,
    #[cfg(feature = "emotions")]
    detector: Detector,
}

/// The engine in `slot`, created on first use (`ready` says whether it was).
fn engine<'a>(slot: &'a mut core::mem::MaybeUninit<Engine>, ready: &mut bool) -> &'a mut Engine {
    if !*ready {
        slot.write(Engine {
            tracker: Tracker::new(),
            #[cfg(feature = "emotions")]
            detector: Detector::new(Params::DEFAULT),
        });
        *ready = true;
    }
    // SAFETY: written just above or by an earlier call (`ready`).
    unsafe { slot.assume_init_mut() }
}

/// Files section `id` under the class of `name` (the page-start module detects nothing and keeps
/// no classes).
#[allow(unused_variables)]
fn learn_into(engine: &mut Engine, id: u8, name: &[u8]) {
    #[cfg(feature = "emotions")]
    engine.detector.set_section_class(id, shared_physics::emotions::classify(name));
}

/// Everything the module remembers about the page view.
pub struct State {
    input: [u8; IN_CAP],
    out: [u8; MAX_FRAME_BYTES],
    /// Written on first use: keeping `State::new` all zeros puts the static in bss, with no
    /// data segment (the detector's thresholds are not zero, and its ring is 1.5 KB).
    engine: core::mem::MaybeUninit<Engine>,
    engine_ready: bool,
    /// Sequence number of the last data frame encoded.
    seq: u32,
    /// What the last `recv` decoded (see the `field` export).
    fields: [u32; 4],
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// `input[start..start + len]`, if it lies in the buffer and is at most `MAX_TEXT_BYTES` long.
/// Its UTF-8 is not re-checked here: the worker writes it with `TextEncoder`, which only ever
/// writes whole, valid characters, and the server's decoder rejects a frame that is not.
fn text(input: &[u8], start: usize, len: usize) -> Option<&[u8]> {
    if len > MAX_TEXT_BYTES {
        return None;
    }
    input.get(start..start.checked_add(len)?)
}

impl State {
    /// A fresh page view: empty ring, no frames sent.
    pub const fn new() -> State {
        State {
            input: [0; IN_CAP],
            out: [0; MAX_FRAME_BYTES],
            engine: core::mem::MaybeUninit::uninit(),
            engine_ready: false,
            seq: 0,
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

    /// The tracker and detector, created on first use.
    fn engine(&mut self) -> &mut Engine {
        engine(&mut self.engine, &mut self.engine_ready)
    }

    /// Sequence number of the last data frame encoded.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// What the last [`State::recv`] decoded (see the `field` export).
    pub fn field(&self, i: u32) -> u32 {
        self.fields.get(i as usize).copied().unwrap_or(0)
    }

    /// Accounts for a data frame of `n` bytes encoded with sequence number `seq + 1`: the
    /// sequence number advances only when the frame fitted.
    fn sent(&mut self, n: usize) -> usize {
        if n > 0 {
            self.seq = self.seq.wrapping_add(1);
        }
        n
    }

    /// `Frame::SecureHello` (seq 0) of `session` and its resume `secret`, from the three strings
    /// laid out at the start of the input.
    pub fn hello(&mut self, session: u64, secret: &[u8; SECRET_BYTES], key_len: u32, page_len: u32, token_len: u32) -> usize {
        let (k, p, t) = (key_len as usize, page_len as usize, token_len as usize);
        let input = &self.input;
        let (Some(key), Some(page), Some(token)) = (text(input, 0, k), text(input, k, p), text(input, k.wrapping_add(p), t)) else {
            return 0;
        };
        codec::hello(&mut self.out, session, secret, key, page, token)
    }

    /// One loader row; on a click, possibly a `Frame::Detection`.
    pub fn sample(&mut self, kind: u32, t_ms: u32, x: i32, y: i32, section: u32) -> usize {
        let Some(kind) = Kind::from_code(kind) else {
            return 0;
        };
        let clamp = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        let section = u8::try_from(section).unwrap_or(0);
        let s = Sample { t_ms, x: clamp(x), y: clamp(y), kind, section };
        let engine = engine(&mut self.engine, &mut self.engine_ready);
        engine.tracker.push(&s);
        #[cfg(feature = "emotions")]
        if let Some(d) = engine.detector.push(s) {
            let n = codec::detection(&mut self.out, self.seq.wrapping_add(1), &d, engine.detector.evidence());
            return self.sent(n);
        }
        0
    }

    /// `Frame::Section` for the name at the start of the input.
    pub fn section(&mut self, id: u32, name_len: u32) -> usize {
        let (Ok(id @ 1..=255), Some(name)) = (u8::try_from(id), text(&self.input, 0, name_len as usize)) else {
            return 0;
        };
        learn_into(engine(&mut self.engine, &mut self.engine_ready), id, name);
        let n = codec::section(&mut self.out, self.seq.wrapping_add(1), id, name);
        self.sent(n)
    }

    /// `Frame::Note` of `kind` for the text at the start of the input.
    pub fn note(&mut self, kind: u32, text_len: u32) -> usize {
        let (Ok(kind @ 0..=1), Some(text @ [_, ..])) = (u8::try_from(kind), text(&self.input, 0, text_len as usize)) else {
            return 0;
        };
        let n = codec::note(&mut self.out, self.seq.wrapping_add(1), kind, text);
        self.sent(n)
    }

    /// Learns section `id`'s name (at the start of the input) without sending a frame: how the
    /// worker tells a module loaded later the sections the page already named.
    pub fn learn(&mut self, id: u32, name_len: u32) {
        if let (Ok(id @ 1..=255), Some(name)) = (u8::try_from(id), text(&self.input, 0, name_len as usize)) {
            learn_into(engine(&mut self.engine, &mut self.engine_ready), id, name);
        }
    }

    /// Continues the numbering of data frames after `seq` (a module loaded later takes over
    /// from the first).
    pub fn set_seq(&mut self, seq: u32) {
        self.seq = seq;
    }

    /// `Frame::Physics` for the samples since the last tick, if any arrived.
    pub fn tick(&mut self, t_ms: u32) -> usize {
        let tracker = &mut self.engine().tracker;
        if !tracker.active() {
            return 0;
        }
        let p = tracker.take_summary(t_ms);
        let n = codec::physics(&mut self.out, self.seq.wrapping_add(1), &p);
        self.sent(n)
    }

    /// Decodes the server frame at `input[..len]` (see the `recv` export).
    pub fn recv(&mut self, len: u32) -> u32 {
        let [code, fields @ ..] = self.input.get(..len as usize).and_then(codec::read_server).unwrap_or_default();
        self.fields = fields;
        code
    }
}

// ---- the raw exports --------------------------------------------------------------------------

/// The one instance (all zeros: it costs the wasm file nothing).
static mut STATE: State = State::new();

/// The module's state.
fn st() -> &'static mut State {
    // SAFETY: wasm32 without threads runs one export at a time and no export re-enters
    // another, so the reference returned here is the only live one. Natively only one test
    // calls the exports.
    unsafe { &mut *core::ptr::addr_of_mut!(STATE) }
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

/// Encodes `Frame::SecureHello`; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn hello(lo: u32, hi: u32, s0: u32, s1: u32, s2: u32, s3: u32, key_len: u32, page_len: u32, token_len: u32) -> usize {
    // Shifts, not slices: nothing here can panic (a panic path links formatting code).
    let secret = ((s3 as u128) << 96 | (s2 as u128) << 64 | (s1 as u128) << 32 | s0 as u128).to_le_bytes();
    st().hello((hi as u64) << 32 | lo as u64, &secret, key_len, page_len, token_len)
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

/// Encodes `Frame::Note`; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn note(kind: u32, text_len: u32) -> usize {
    st().note(kind, text_len)
}

/// Learns a section's name without a frame; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn learn(id: u32, name_len: u32) {
    st().learn(id, name_len)
}

/// Continues the data-frame numbering after `seq`; see the ABI table.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn set_seq(seq: u32) {
    st().set_seq(seq)
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
