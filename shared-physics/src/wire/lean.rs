//! The lean codec: the same frames as [`crate::wire`], written and read without serde.
//!
//! [`crate::wire`] (serde + postcard) is the protocol's definition and the server's codec.
//! Linking its serde/postcard code into the browser SDK costs about 2 KB gzip more than this
//! module (the generic `Frame` (de)serialisers of every variant, plus the `core::fmt` machinery
//! that postcard's bounds-checked varint slicing drags in through its panic path), a quarter of
//! the page budget. So the SDK writes the frames it sends and reads the two it acts on with
//! this module, and `tests/lean.rs` proves the bytes identical to [`crate::wire::encode`] and the
//! reading identical to [`crate::wire::decode`] on valid, truncated and random input.
//!
//! The postcard format, as used by `wire`: `u8` fields are one raw byte; `u16`/`u32`/`u64`
//! and lengths are LEB128 varints; `i16` is zigzag-encoded then a varint; enum variants are a
//! varint index; `Option` is a `0`/`1` byte; `&str` and sequences are a varint length and the
//! items. An envelope is `[version u8][seq varint][variant varint][fields…]`.

use crate::detection::Detection;
use crate::wire::{Physics, MAX_FRAME_BYTES, PROTOCOL_VERSION, SECRET_BYTES};
use crate::Sample;

/// Variant index of `Frame::Hello`.
pub const HELLO: u32 = 0;
/// Variant index of `Frame::Physics`.
pub const PHYSICS: u32 = 1;
/// Variant index of `Frame::Detection`.
pub const DETECTION: u32 = 2;
/// Variant index of `Frame::Section`.
pub const SECTION: u32 = 3;
/// Variant index of `Frame::Ack`.
pub const ACK: u32 = 4;
/// Variant index of `Frame::Intervene`.
pub const INTERVENE: u32 = 5;
/// Variant index of `Frame::Note`.
pub const NOTE: u32 = 6;
/// Variant index of `Frame::SecureHello`.
pub const SECURE_HELLO: u32 = 7;
/// Number of `Emotion` variants.
pub const EMOTIONS: u32 = 6;

/// Writes one frame into a buffer; a frame that does not fit is no frame (length 0).
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    full: bool,
}

impl<'a> Writer<'a> {
    /// Starts the envelope of a frame of `variant` with sequence number `seq`.
    pub fn envelope(buf: &'a mut [u8], seq: u32, variant: u32) -> Writer<'a> {
        let mut w = Writer { buf, len: 0, full: false };
        w.byte(PROTOCOL_VERSION);
        w.var(seq as u64);
        w.var(variant as u64);
        w
    }

    /// A raw byte (a `u8` field, an `Option` tag).
    pub fn byte(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.full = true,
        }
    }

    /// An unsigned varint.
    pub fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// A zigzag-encoded `i16`.
    pub fn zigzag(&mut self, v: i16) {
        self.var(((v << 1) ^ (v >> 15)) as u16 as u64);
    }

    /// A length-prefixed byte string (a `&str`).
    pub fn bytes(&mut self, b: &[u8]) {
        self.var(b.len() as u64);
        self.raw(b);
    }

    /// Bytes as they are, without a length (a fixed-size array).
    pub fn raw(&mut self, b: &[u8]) {
        for &x in b {
            self.byte(x);
        }
    }

    /// A [`Sample`].
    pub fn sample(&mut self, s: &Sample) {
        self.var(s.t_ms as u64);
        self.zigzag(s.x);
        self.zigzag(s.y);
        self.var(s.kind as u64);
        self.byte(s.section);
    }

    /// The frame's length, or 0 when it did not fit.
    pub fn finish(self) -> usize {
        if self.full {
            0
        } else {
            self.len
        }
    }
}

/// `Frame::SecureHello` (always seq 0) of session `session` with its resume `secret`; an empty
/// `token` is an anonymous session.
pub fn hello(buf: &mut [u8], session: u64, secret: &[u8; SECRET_BYTES], key: &[u8], page: &[u8], token: &[u8]) -> usize {
    let mut w = Writer::envelope(buf, 0, SECURE_HELLO);
    w.var(session);
    w.bytes(key);
    w.bytes(page);
    if token.is_empty() {
        w.byte(0);
    } else {
        w.byte(1);
        w.bytes(token);
    }
    w.raw(secret);
    w.finish()
}

/// `Frame::Physics`.
pub fn physics(buf: &mut [u8], seq: u32, p: &Physics) -> usize {
    let mut w = Writer::envelope(buf, seq, PHYSICS);
    w.var(p.t_ms as u64);
    for v in [p.moves, p.clicks, p.scrolls, p.mean_speed] {
        w.var(v as u64);
    }
    w.var(p.peak_jerk_k as u64);
    w.byte(p.entropy_q);
    w.finish()
}

/// `Frame::Detection` of `d` with `evidence` (at most `MAX_EVIDENCE` samples for the server
/// to accept it).
pub fn detection(buf: &mut [u8], seq: u32, d: &Detection, evidence: &[Sample]) -> usize {
    let mut w = Writer::envelope(buf, seq, DETECTION);
    w.var(d.emotion as u64);
    w.byte(d.confidence_pct());
    w.var(d.t_ms as u64);
    w.byte(d.section);
    w.var(evidence.len() as u64);
    for s in evidence {
        w.sample(s);
    }
    w.finish()
}

/// `Frame::Section`.
pub fn section(buf: &mut [u8], seq: u32, id: u8, name: &[u8]) -> usize {
    byte_and_text(buf, seq, SECTION, id, name)
}

/// `Frame::Note`.
pub fn note(buf: &mut [u8], seq: u32, kind: u8, text: &[u8]) -> usize {
    byte_and_text(buf, seq, NOTE, kind, text)
}

/// A frame of `variant` whose fields are one `u8` and one `&str` (`Section`, `Note`).
fn byte_and_text(buf: &mut [u8], seq: u32, variant: u32, b: u8, text: &[u8]) -> usize {
    let mut w = Writer::envelope(buf, seq, variant);
    w.byte(b);
    w.bytes(text);
    w.finish()
}

/// Reads one postcard varint `u32` at `b[*at..]`, advancing `at`.
fn varint(b: &[u8], at: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    let mut shift = 0;
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= ((byte & 0x7f) as u32) << shift;
        if byte < 0x80 {
            // A fifth byte may only hold the top four bits.
            return (shift < 28 || byte < 0x10).then_some(v);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

/// `read_server` result: not an `Ack` or `Intervene`, or malformed.
pub const OTHER: u32 = 0;
/// `read_server` result: an `Ack`.
pub const ACKED: u32 = 1;
/// `read_server` result: an `Intervene`.
pub const INTERVENED: u32 = 2;

/// Reads a server → client frame as `[kind, fields…]`: `[ACKED, seq, 0, 0, 0]`,
/// `[INTERVENED, id, emotion index, text offset, text length]`, or `None`. It is `Some` exactly
/// when `wire::decode` accepts the frame as an `Ack` or an `Intervene`, except that the text's
/// UTF-8 is not checked here (the worker decodes it with `TextDecoder`, which replaces invalid
/// sequences; the server only ever sends a `&str`).
pub fn read_server(b: &[u8]) -> Option<[u32; 5]> {
    if b.first() != Some(&PROTOCOL_VERSION) || b.len() > MAX_FRAME_BYTES {
        return None;
    }
    let mut at = 1;
    varint(b, &mut at)?; // the envelope's seq: 0 from the server, unused
    let variant = varint(b, &mut at)?;
    let first = varint(b, &mut at)?; // Ack: its seq; Intervene: its id
    let fields = match variant {
        ACK => [ACKED, first, 0, 0, 0],
        INTERVENE => {
            let emotion = varint(b, &mut at)?;
            let len = varint(b, &mut at)?;
            let text_at = at as u32;
            at = at.checked_add(len as usize)?;
            if emotion >= EMOTIONS {
                return None;
            }
            [INTERVENED, first, emotion, text_at, len]
        }
        _ => return None,
    };
    (at == b.len()).then_some(fields)
}
