//! Native tests of the module's logic (the same code runs in the worker as wasm).

use super::*;
use shared_physics::detect::{evidence_window, Detection, Features};
use shared_physics::wire::{decode, encode, Ack, DetectionFrame, Envelope, Frame, Hello, Intervene, Physics, Section, PROTOCOL_VERSION};
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
fn hello_is_seq_zero_and_carries_the_identity() {
    let mut st = State::new();
    let (key, page, token) = (b"pk_live_1", "/pricing/é", b"eyJhbGciOi.x.y");
    write(&mut st, 0, key);
    write(&mut st, key.len(), page.as_bytes());
    let n = st.hello(0x0123_4567_89ab_cdef, key.len() as u32, page.len() as u32, 0);
    let env = frame(&st, n);
    assert_eq!(env.version, PROTOCOL_VERSION);
    assert_eq!(env.seq, 0);
    let Frame::Hello(h) = env.frame else { panic!("not a hello: {env:?}") };
    assert_eq!((h.session, h.site_key, h.page, h.identity), (0x0123_4567_89ab_cdef, "pk_live_1", page, None));

    write(&mut st, key.len() + page.len(), token);
    let n = st.hello(1, key.len() as u32, page.len() as u32, token.len() as u32);
    let Frame::Hello(h) = frame(&st, n).frame else { panic!() };
    assert_eq!(h.identity, Some("eyJhbGciOi.x.y"));
    assert_eq!(st.seq(), 0, "Hello does not consume a sequence number");
}

#[test]
fn invalid_hello_input_gives_no_frame() {
    let mut st = State::new();
    assert_eq!(st.hello(1, 2, IN_CAP as u32, 0), 0, "past the buffer");
    assert_eq!(st.hello(1, 2, u32::MAX, u32::MAX), 0, "overflowing lengths");
    assert_eq!(st.hello(1, (MAX_TEXT_BYTES + 1) as u32, 0, 0), 0, "longer than the protocol allows");
    // Three maximal strings do not fit one frame: no frame rather than a truncated one.
    st.input().fill(b'a');
    let m = MAX_TEXT_BYTES as u32;
    assert_eq!(st.hello(1, m, m, m), 0);
    assert!(st.hello(1, m, 0, 0) > 0);
}

#[test]
fn a_rage_burst_yields_detections_the_server_recomputes() {
    let mut st = State::new();
    let outs = approach_and_click(&mut st, &[2000, 2150, 2300, 2450, 2600]);
    assert!(outs[0].is_empty());
    assert!(outs[1].is_empty(), "two clicks are not a burst");
    let mut last_pct = 0;
    let mut seq = 0;
    for bytes in &outs[2..] {
        let env = check(bytes);
        let Frame::Detection(d) = env.frame else { panic!("not a detection") };
        assert_eq!(d.emotion, Emotion::Rage);
        assert_eq!(d.section, 7);
        assert!(d.confidence_pct > last_pct);
        last_pct = d.confidence_pct;
        assert_eq!(env.seq, seq + 1, "data frames are numbered consecutively");
        seq = env.seq;
        // The evidence is exactly what was detected on: the server's recomputation agrees.
        let again = detect_rage(&d.evidence, &RageParams::default()).expect("re-detects");
        assert_eq!(again.confidence_pct(), d.confidence_pct);
        assert_eq!(again.t_ms, d.t_ms);
        assert_eq!(d.evidence.last().map(|s| s.kind), Some(Kind::Click));
    }
    // The fourth and fifth fast clicks are sent only while the confidence grows; the last one
    // detected is above the intervention bar.
    assert!(last_pct >= 85, "{last_pct}");
    assert_eq!(st.seq(), seq);
}

/// Only a higher confidence within the same burst is sent again; a pause starts a new burst.
#[test]
fn a_burst_is_reported_again_only_when_more_confident() {
    let mut st = State::new();
    // Confidence saturates at 99: a long burst stops producing frames.
    let times: Vec<u32> = (0..14).map(|i| 3000 + i * 120).collect();
    let outs = approach_and_click(&mut st, &times);
    let sent = outs.iter().filter(|f| !f.is_empty()).count();
    assert!(sent >= 3 && sent < outs.len() - 2, "{sent} of {}", outs.len());
    assert!(outs.last().unwrap().is_empty(), "no frame once the confidence stopped rising");
    let frames_before = st.seq();
    // A pause longer than max_ici_ms ends the burst; three new clicks start a new one.
    let t0 = times.last().unwrap() + RageParams::default().max_ici_ms + 1000;
    let outs = approach_and_click(&mut st, &[t0, t0 + 150, t0 + 300]);
    assert!(outs[0].is_empty() && outs[1].is_empty());
    assert!(!outs[2].is_empty(), "a new burst is reported from its first detection");
    assert_eq!(st.seq(), frames_before + 1);
}

#[test]
fn scattered_clicks_send_nothing() {
    let mut st = State::new();
    for i in 0..10u32 {
        assert_eq!(st.sample(CLICK, 1000 + i * 150, i as i32 * 100, 50, 0), 0);
    }
    assert_eq!(st.seq(), 0);
}

#[test]
fn odd_samples_are_ignored_or_clamped() {
    let mut st = State::new();
    assert_eq!(st.sample(9, 10, 0, 0, 0), 0, "unknown kind");
    assert_eq!(st.tick(20), 0, "an unknown kind is not activity");
    assert_eq!(st.sample(SCROLL, 30, 0, 1_000_000, 300), 0);
    assert_eq!(st.ring.get(0).map(|s| (s.y, s.section)), Some((i16::MAX, 0)));
    st.sample(MOVE, 40, -70_000, 5, 3);
    assert_eq!(st.ring.get(1).map(|s| (s.x, s.section)), Some((i16::MIN, 3)));
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
    let n = hello(5, 1, key.len() as u32, 0, 0);
    // SAFETY: `out()` points at the frame just encoded, `n` bytes long.
    let bytes = unsafe { core::slice::from_raw_parts(out(), n) }.to_vec();
    let Frame::Hello(h) = decode(&bytes).unwrap().frame else { panic!() };
    assert_eq!((h.session, h.site_key), ((1 << 32) | 5, "pk_test"));
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

/// A small deterministic generator for the codec comparisons (xorshift32).
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// Mostly small numbers, sometimes the edges of each varint length.
    fn num(&mut self) -> u32 {
        match self.next() % 6 {
            0 => 0,
            1 => self.next() % 128,
            2 => [127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456][(self.next() % 8) as usize],
            3 => u32::MAX - self.next() % 3,
            _ => self.next() >> (self.next() % 32),
        }
    }

    fn text(&mut self, max: usize) -> String {
        let n = self.next() as usize % (max + 1);
        (0..n).map(|_| ['a', 'Z', '/', 'é', '€', '🙂', '_'][(self.next() % 7) as usize]).collect()
    }
}

fn wire_bytes(seq: u32, f: &Frame<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_BYTES];
    encode(seq, f, &mut buf).unwrap().to_vec()
}

#[test]
fn the_hand_codec_writes_what_wire_encode_writes() {
    let mut rng = Rng(0x1234_5678);
    let mut buf = [0u8; MAX_FRAME_BYTES];
    for _ in 0..2000 {
        let session = (rng.num() as u64) << 32 | rng.num() as u64;
        let (key, page, token) = (rng.text(40), rng.text(300), rng.text(200));
        let identity = (!token.is_empty()).then_some(token.as_str());
        let f = Frame::Hello(Hello { session, site_key: &key, page: &page, identity });
        let n = codec::hello(&mut buf, session, key.as_bytes(), page.as_bytes(), token.as_bytes());
        assert_eq!(buf[..n], wire_bytes(0, &f)[..]);

        let seq = rng.num();
        let p = Physics {
            t_ms: rng.num(),
            moves: rng.num() as u16,
            clicks: rng.num() as u16,
            scrolls: rng.num() as u16,
            mean_speed: rng.num() as u16,
            peak_jerk_k: rng.num(),
            entropy_q: rng.num() as u8,
        };
        let n = codec::physics(&mut buf, seq, &p);
        assert_eq!(buf[..n], wire_bytes(seq, &Frame::Physics(p))[..]);

        let name = rng.text(100);
        let id = rng.num() as u8;
        let n = codec::section(&mut buf, seq, id, name.as_bytes());
        assert_eq!(buf[..n], wire_bytes(seq, &Frame::Section(Section { id, name: &name }))[..]);

        let kinds = [Kind::Move, Kind::Down, Kind::Up, Kind::Click, Kind::Scroll];
        let evidence: Vec<Sample> = (0..rng.next() as usize % (MAX_EVIDENCE + 1))
            .map(|_| Sample {
                t_ms: rng.num(),
                x: rng.num() as i16,
                y: rng.num() as i16,
                kind: kinds[(rng.next() % 5) as usize],
                section: rng.num() as u8,
            })
            .collect();
        let d = Detection {
            emotion: Emotion::Rage,
            confidence: (rng.next() % 100) as f32 / 100.0,
            t_ms: rng.num(),
            section: rng.num() as u8,
            features: Features::default(),
        };
        let n = codec::detection(&mut buf, seq, &d, &evidence);
        let f = Frame::Detection(DetectionFrame {
            emotion: d.emotion,
            confidence_pct: d.confidence_pct(),
            t_ms: d.t_ms,
            section: d.section,
            evidence: heapless::Vec::from_slice(&evidence).unwrap(),
        });
        assert_eq!(buf[..n], wire_bytes(seq, &f)[..]);
    }
}

#[test]
fn a_frame_that_does_not_fit_is_no_frame() {
    let mut small = [0u8; 8];
    assert_eq!(codec::section(&mut small, 1, 1, b"a-long-section-name"), 0);
    assert_eq!(codec::section(&mut small, 1, 1, b"ok"), 7);
}

/// The hand-written reader accepts exactly the `Ack`s and `Intervene`s `wire::decode`
/// accepts, at the same offsets.
#[test]
fn the_hand_reader_agrees_with_wire_decode() {
    fn agree(b: &[u8]) {
        let mine = codec::read_server(b);
        let theirs = match decode(b) {
            Ok(Envelope { frame: Frame::Ack(a), .. }) => Some([codec::ACKED, a.seq, 0, 0, 0]),
            Ok(Envelope { frame: Frame::Intervene(iv), .. }) => Some([
                codec::INTERVENED,
                iv.id,
                iv.emotion as u32,
                (iv.text.as_ptr() as usize - b.as_ptr() as usize) as u32,
                iv.text.len() as u32,
            ]),
            _ => None,
        };
        assert_eq!(mine, theirs, "{b:02x?}");
    }
    let mut rng = Rng(0x9e37_79b9);
    let emotions = [Emotion::Rage, Emotion::Frustration, Emotion::Confusion, Emotion::Hesitation, Emotion::Abandonment, Emotion::Engaged];
    for _ in 0..3000 {
        let text = rng.text(60);
        let frames = [
            Frame::Ack(Ack { seq: rng.num() }),
            Frame::Intervene(Intervene { id: rng.num(), emotion: emotions[(rng.next() % 6) as usize], text: &text }),
            Frame::Section(Section { id: 1, name: &text }),
        ];
        for f in &frames {
            let bytes = wire_bytes(rng.num(), f);
            agree(&bytes);
            for cut in 0..bytes.len() {
                agree(&bytes[..cut]);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            agree(&longer);
            // A flipped byte, anywhere but in the text (whose UTF-8 the reader leaves to JS).
            let mut flipped = bytes.clone();
            let at = rng.next() as usize % flipped.len().min(8);
            flipped[at] ^= 1 << (rng.next() % 8);
            if core::str::from_utf8(&flipped).is_ok() || !matches!(f, Frame::Intervene(_)) {
                agree(&flipped);
            }
        }
        let junk: Vec<u8> = (0..rng.next() % 24).map(|i| if i == 0 { 1 } else { rng.next() as u8 }).collect();
        if core::str::from_utf8(&junk).is_ok() {
            agree(&junk);
        }
    }
    // The five-byte varint limits.
    agree(&[1, 0, 4, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    agree(&[1, 0, 4, 0xff, 0xff, 0xff, 0xff, 0x10]);
    agree(&[1, 0, 4, 0xff, 0xff, 0xff, 0xff, 0x8f, 0x00]);
}

#[test]
fn evidence_window_matches_shared_physics() {
    let mut st = State::new();
    let mut rng = Rng(42);
    let mut t = 0u32;
    for i in 0..400 {
        t += rng.next() % 300;
        let kind = if i % 7 == 0 { CLICK } else { MOVE };
        st.sample(kind, t, (rng.next() % 800) as i32, (rng.next() % 600) as i32, 0);
        if kind == CLICK {
            let mut theirs = [st.evidence[0]; MAX_EVIDENCE];
            let theirs = evidence_window(&st.ring, &mut theirs);
            let n = st.ring.copy_since(t.saturating_sub(EVIDENCE_WINDOW_MS), &mut st.evidence);
            assert_eq!(&st.evidence[..n], theirs);
        }
    }
}
