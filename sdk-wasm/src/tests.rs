//! Native tests of the module's logic (the same code runs in the worker as wasm).

use super::*;
#[cfg(feature = "emotions")]
use shared_physics::detect::{detect_rage, RageParams};
use shared_physics::wire::{decode, encode, Ack, Envelope, Frame, Hello, Intervene, Section, SecureHello, PROTOCOL_VERSION};
use shared_physics::Emotion;

const MOVE: u32 = 0;
const CLICK: u32 = 3;
const SCROLL: u32 = 4;

/// Decodes with the server's decoder and checks the bytes are exactly what `wire::encode`
/// writes for the decoded frame (so the hand-written codec and postcard agree).
fn check(bytes: &[u8]) -> Envelope<'_> {
    let env = decode(bytes).expect("the server decodes what the SDK encodes");
    let mut buf = [0u8; MAX_FRAME_BYTES];
    let again = encode(env.seq, &env.frame, &mut buf).expect("re-encodes");
    assert_eq!(again, bytes, "byte-identical to wire::encode for {env:?}");
    env
}

fn frame(st: &State, n: usize) -> Envelope<'_> {
    assert!(n > 0, "expected a frame");
    check(&st.out()[..n])
}

fn write(st: &mut State, at: usize, bytes: &[u8]) {
    st.input()[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A pointer approaching (400, 300), then clicks at the given times around that spot; the
/// frame each click produced (empty: none).
fn approach_and_click(st: &mut State, clicks: &[u32]) -> Vec<Vec<u8>> {
    for i in 0..20u32 {
        assert_eq!(st.sample(MOVE, 500 + i * 16, 200 + i as i32 * 10, 200 + i as i32 * 5, 0), 0);
    }
    clicks
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let jitter = (i as i32 % 3) - 1;
            st.sample(1, t - 60, 400 + jitter, 300 - jitter, 7);
            st.sample(2, t - 5, 400 + jitter, 300 - jitter, 0);
            let n = st.sample(CLICK, t, 400 + jitter, 300 - jitter, 7);
            st.out()[..n].to_vec()
        })
        .collect()
}

#[test]
fn hello_is_seq_zero_and_carries_the_identity_and_the_secret() {
    let mut st = State::new();
    let (key, page, token) = (b"pk_live_1", "/pricing/é", b"eyJhbGciOi.x.y");
    let secret = *b"0123456789abcdef";
    write(&mut st, 0, key);
    write(&mut st, key.len(), page.as_bytes());
    let n = st.hello(0x0123_4567_89ab_cdef, &secret, key.len() as u32, page.len() as u32, 0);
    let env = frame(&st, n);
    assert_eq!(env.version, PROTOCOL_VERSION);
    assert_eq!(env.seq, 0);
    let Frame::SecureHello(SecureHello { hello: h, secret: s }) = env.frame else { panic!("not a hello: {env:?}") };
    assert_eq!((h.session, h.site_key, h.page, h.identity, s), (0x0123_4567_89ab_cdef, "pk_live_1", page, None, secret));

    write(&mut st, key.len() + page.len(), token);
    let n = st.hello(1, &secret, key.len() as u32, page.len() as u32, token.len() as u32);
    let Frame::SecureHello(SecureHello { hello: h, .. }) = frame(&st, n).frame else { panic!() };
    assert_eq!(h.identity, Some("eyJhbGciOi.x.y"));
    assert_eq!(st.seq(), 0, "Hello does not consume a sequence number");
}

#[test]
fn invalid_hello_input_gives_no_frame() {
    let mut st = State::new();
    let s = &[7; SECRET_BYTES];
    assert_eq!(st.hello(1, s, 2, IN_CAP as u32, 0), 0, "past the buffer");
    assert_eq!(st.hello(1, s, 2, u32::MAX, u32::MAX), 0, "overflowing lengths");
    assert_eq!(st.hello(1, s, (MAX_TEXT_BYTES + 1) as u32, 0, 0), 0, "longer than the protocol allows");
    // Three maximal strings do not fit one frame: no frame rather than a truncated one.
    st.input().fill(b'a');
    let m = MAX_TEXT_BYTES as u32;
    assert_eq!(st.hello(1, s, m, m, m), 0);
    assert!(st.hello(1, s, m, 0, 0) > 0);
}

/// The loader's quiet row (kind 9) 1 s after the click at `t`: the clicks are decided.
const QUIET: u32 = 9;

/// The page-start module (`sdk.wasm`) detects nothing: rows go to the movement summary, the
/// detector is the emotions module's.
#[cfg(not(feature = "emotions"))]
#[test]
fn the_page_start_module_sends_no_detection() {
    let mut st = State::new();
    let mut outs = approach_and_click(&mut st, &[2000, 2150, 2300, 2450, 2600]);
    let n = st.sample(QUIET, 3600, 0, 0, 0);
    outs.push(st.out()[..n].to_vec());
    assert!(outs.iter().all(|o| o.is_empty()), "{outs:?}");
    assert_eq!(st.seq(), 0);
    let n = st.tick(4000);
    let Frame::Physics(p) = frame(&st, n).frame else { panic!("not physics") };
    assert_eq!(p.clicks, 5);
}

#[cfg(feature = "emotions")]
#[test]
fn a_rage_burst_yields_a_detection_the_server_recomputes_once_decided() {
    let mut st = State::new();
    let outs = approach_and_click(&mut st, &[2000, 2150, 2300, 2450, 2600]);
    assert!(outs.iter().all(|o| o.is_empty()), "undecided clicks claim nothing");
    let n = st.sample(QUIET, 3600, 0, 0, 0);
    let env = frame(&st, n);
    let Frame::Detection(d) = env.frame else { panic!("not a detection") };
    assert_eq!((d.emotion, d.section, d.t_ms, env.seq), (Emotion::Rage, 7, 2600, 1));
    assert!(d.confidence_pct >= 85, "{}", d.confidence_pct);
    // The evidence is exactly what was detected on: the server's recomputation agrees.
    let again = detect_rage(&d.evidence, &RageParams::default()).expect("re-detects");
    assert_eq!((again.confidence_pct(), again.t_ms), (d.confidence_pct, d.t_ms));
    assert_eq!(d.evidence.last().map(|s| s.kind), Some(Kind::Quiet));
    assert_eq!(st.seq(), 1);
}

/// Only a higher confidence within the same burst is sent again; a pause starts a new burst.
#[cfg(feature = "emotions")]
#[test]
fn a_burst_is_reported_again_only_when_more_confident() {
    let mut st = State::new();
    let times: Vec<u32> = (0..14).map(|i| 3000 + i * 120).collect();
    let _ = approach_and_click(&mut st, &times);
    let last = *times.last().unwrap();
    assert!(st.sample(QUIET, last + 1000, 0, 0, 0) > 0);
    let frames_before = st.seq();
    // The same burst decided again by a later sample: nothing more confident, nothing sent.
    assert_eq!(st.sample(MOVE, last + 1500, 10, 10, 0), 0);
    // A pause longer than max_ici_ms ends the burst; three new clicks start a new one.
    let t0 = last + RageParams::default().max_ici_ms + 2000;
    let outs = approach_and_click(&mut st, &[t0, t0 + 150, t0 + 300]);
    assert!(outs.iter().all(|o| o.is_empty()));
    assert!(st.sample(QUIET, t0 + 1300, 0, 0, 0) > 0, "a new burst is reported");
    assert_eq!(st.seq(), frames_before + 1);
}

#[test]
fn scattered_clicks_send_nothing() {
    let mut st = State::new();
    for i in 0..10u32 {
        assert_eq!(st.sample(CLICK, 1000 + i * 150, i as i32 * 100, 50, 0), 0);
    }
    assert_eq!(st.sample(QUIET, 3000, 0, 0, 0), 0);
    assert_eq!(st.seq(), 0);
}

#[cfg(feature = "emotions")]
#[test]
fn clicks_the_page_answered_send_nothing_and_context_kinds_are_taken() {
    let mut st = State::new();
    // A stepper: five fast clicks in place, each answered 10 ms later (loader kind 5).
    for i in 0..5u32 {
        assert_eq!(st.sample(CLICK, 1000 + i * 150, 400, 300, 0), 0, "answered click {i}");
        assert_eq!(st.sample(5, 1010 + i * 150, 0, 0, 0), 0);
    }
    // Leave, hidden, visible are taken and are not activity.
    for (kind, t) in [(6, 2000), (7, 2100), (8, 2200)] {
        assert_eq!(st.sample(kind, t, 0, 0, 0), 0);
    }
    assert_eq!(st.seq(), 0);
    // The same clicks unanswered are rage, and the evidence carries the context samples.
    for i in 0..4u32 {
        assert_eq!(st.sample(CLICK, 3000 + i * 150, 400, 300, 0), 0);
    }
    let n = st.sample(QUIET, 4450, 0, 0, 0);
    let Frame::Detection(d) = frame(&st, n).frame else { panic!("a detection") };
    let kinds: Vec<Kind> = d.evidence.iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&Kind::Hidden) && kinds.contains(&Kind::Visible), "{kinds:?}");
}

#[cfg(feature = "emotions")]
#[test]
fn odd_samples_are_ignored_or_clamped() {
    let mut st = State::new();
    assert_eq!(st.sample(10, 10, 0, 0, 0), 0, "unknown kind");
    assert_eq!(st.tick(20), 0, "an unknown kind is not activity");
    assert_eq!(st.sample(SCROLL, 30, 0, 1_000_000, 300), 0);
    for i in 0..4 {
        st.sample(CLICK, 100 + i * 150, -70_000, 5, 3);
    }
    let n = st.sample(QUIET, 1550, 0, 0, 0);
    let Frame::Detection(d) = frame(&st, n).frame else { panic!("a detection") };
    assert_eq!((d.evidence[0].y, d.evidence[0].section), (i16::MAX, 0), "clamped y, section > 255 is none");
    assert_eq!((d.evidence[1].x, d.evidence[1].section), (i16::MIN, 3), "clamped x");
}

#[test]
fn ticks_summarise_activity_only() {
    let mut st = State::new();
    assert_eq!(st.tick(1000), 0);
    for i in 0..30u32 {
        st.sample(MOVE, 1000 + i * 16, i as i32 * 8, 100, 0);
    }
    st.sample(SCROLL, 1500, 0, 640, 0);
    let n = st.tick(2000);
    let env = frame(&st, n);
    assert_eq!(env.seq, 1);
    let Frame::Physics(p) = env.frame else { panic!("not physics") };
    assert_eq!((p.t_ms, p.moves, p.clicks, p.scrolls), (2000, 30, 0, 1));
    assert!(p.mean_speed > 300 && p.mean_speed < 600, "{}", p.mean_speed);
    assert_eq!(st.tick(3000), 0, "idle second: no frame");
    assert_eq!(st.seq(), 1);
}

#[test]
fn sections_are_numbered_data_frames() {
    let mut st = State::new();
    write(&mut st, 0, b"pricing");
    let n = st.section(3, 7);
    let env = frame(&st, n);
    assert_eq!(env.seq, 1);
    assert_eq!(env.frame, Frame::Section(Section { id: 3, name: "pricing" }));
    assert_eq!(st.section(0, 7), 0, "0 means no section");
    assert_eq!(st.section(256, 7), 0);
    assert_eq!(st.section(4, MAX_TEXT_BYTES as u32 + 1), 0, "too long");
    assert_eq!(st.seq(), 1);
}

fn server_frame(st: &mut State, seq: u32, f: &Frame<'_>) -> u32 {
    let mut buf = [0u8; MAX_FRAME_BYTES];
    let bytes = encode(seq, f, &mut buf).unwrap().to_vec();
    write(st, 0, &bytes);
    st.recv(bytes.len() as u32)
}

#[test]
fn recv_reads_acks_and_interventions() {
    let mut st = State::new();
    assert_eq!(server_frame(&mut st, 0, &Frame::Ack(Ack { seq: 42 })), RECV_ACK);
    assert_eq!(st.field(0), 42);
    let text = "Stuck? Here is how the export works — 2 steps.";
    let iv = Frame::Intervene(Intervene { id: 0xdead_beef, emotion: Emotion::Rage, text });
    assert_eq!(server_frame(&mut st, 0, &iv), RECV_INTERVENE);
    assert_eq!(st.field(0), 0xdead_beef);
    assert_eq!(st.field(1), Emotion::Rage as u32);
    let (off, len) = (st.field(2) as usize, st.field(3) as usize);
    assert_eq!(&st.input()[off..off + len], text.as_bytes());
    assert_eq!(st.field(9), 0);
}

#[test]
fn recv_rejects_everything_else_without_trapping() {
    let mut st = State::new();
    write(&mut st, 0, b"pk");
    let hello = Frame::Hello(Hello { session: 1, site_key: "pk", page: "/", identity: None });
    assert_eq!(server_frame(&mut st, 0, &hello), RECV_OTHER);
    assert_eq!(st.recv(0), RECV_OTHER, "empty");
    assert_eq!(st.recv(IN_CAP as u32 + 1), RECV_OTHER, "past the buffer");
    assert_eq!(st.recv(u32::MAX), RECV_OTHER);
    write(&mut st, 0, &[PROTOCOL_VERSION + 1, 0, 4, 1]);
    assert_eq!(st.recv(4), RECV_OTHER, "future version");
    // Every truncation of a valid frame, and garbage, are rejected.
    let mut buf = [0u8; 64];
    let ack = encode(3, &Frame::Ack(Ack { seq: 300 }), &mut buf).unwrap().to_vec();
    for cut in 1..ack.len() {
        write(&mut st, 0, &ack[..cut]);
        assert_eq!(st.recv(cut as u32), RECV_OTHER, "cut at {cut}");
    }
    let mut x = 0x9e37_79b9u32;
    for len in 1..200u32 {
        for b in st.input()[..len as usize].iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        st.input()[0] = PROTOCOL_VERSION;
        let _ = st.recv(len);
    }
}

/// The raw exports drive the single static state exactly like the methods (the only test
/// touching the static: the test harness runs tests on several threads).
#[test]
fn the_exports_share_one_state() {
    let key = b"pk_test";
    // SAFETY: `inp()` points at IN_CAP writable bytes of the static state.
    unsafe { core::ptr::copy_nonoverlapping(key.as_ptr(), inp(), key.len()) };
    let n = hello(5, 1, 0x0302_0100, 0x0706_0504, 0x0b0a_0908, 0x0f0e_0d0c, key.len() as u32, 0, 0);
    // SAFETY: `out()` points at the frame just encoded, `n` bytes long.
    let bytes = unsafe { core::slice::from_raw_parts(out(), n) }.to_vec();
    let Frame::SecureHello(SecureHello { hello: h, secret }) = decode(&bytes).unwrap().frame else { panic!() };
    assert_eq!((h.session, h.site_key), ((1 << 32) | 5, "pk_test"));
    assert_eq!(secret, core::array::from_fn(|i| i as u8), "the secret's words, little-endian, in order");
    for i in 0..5u32 {
        sample(MOVE, 100 + i * 16, i as i32 * 4, 0, 0);
    }
    let n = tick(1000);
    assert!(n > 0);
    assert_eq!(seq(), 1);
    let mut buf = [0u8; 16];
    let ack = encode(0, &Frame::Ack(Ack { seq: 1 }), &mut buf).unwrap().to_vec();
    // SAFETY: as above, the input buffer is IN_CAP bytes.
    unsafe { core::ptr::copy_nonoverlapping(ack.as_ptr(), inp(), ack.len()) };
    assert_eq!(recv(ack.len() as u32), RECV_ACK);
    assert_eq!(field(0), 1);
    assert!(section(1, 0) > 0, "an empty name is still a name");
    assert_eq!(seq(), 2);
}

/// A module loaded after page start continues the first one's numbering.
#[test]
fn set_seq_continues_the_numbering() {
    let mut st = State::new();
    st.set_seq(41);
    write(&mut st, 0, b"pricing");
    let n = st.section(3, 7);
    assert_eq!(frame(&st, n).seq, 42);
    assert_eq!(st.seq(), 42);
    // `learn` sends nothing.
    st.learn(4, 7);
    assert_eq!(st.seq(), 42);
}
