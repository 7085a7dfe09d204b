//! The lean codec (`wire::lean`, what the browser SDK links) writes exactly the bytes
//! `wire::encode` writes and reads exactly what `wire::decode` accepts, on random frames
//! (a seeded xorshift generator), truncated, extended, bit-flipped and junk input.

use shared_physics::detect::{Detection, Features};
use shared_physics::wire::lean as codec;
use shared_physics::wire::{
    decode, encode, Ack, DetectionFrame, Envelope, Frame, Hello, Intervene, Note, Physics, Section, SecureHello, MAX_FRAME_BYTES,
    SECRET_BYTES,
};
use shared_physics::{detect::MAX_EVIDENCE, Emotion, Kind, Sample};

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
        let secret: [u8; SECRET_BYTES] = core::array::from_fn(|_| rng.num() as u8);
        let f = Frame::SecureHello(SecureHello { hello: Hello { session, site_key: &key, page: &page, identity }, secret });
        let n = codec::hello(&mut buf, session, &secret, key.as_bytes(), page.as_bytes(), token.as_bytes());
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
        let kind = rng.num() as u8 % 2;
        let n = codec::note(&mut buf, seq, kind, name.as_bytes());
        assert_eq!(buf[..n], wire_bytes(seq, &Frame::Note(Note { kind, text: &name }))[..]);

        let kinds = [Kind::Move, Kind::Down, Kind::Up, Kind::Click, Kind::Scroll, Kind::Response, Kind::Leave, Kind::Hidden, Kind::Visible];
        let evidence: Vec<Sample> = (0..rng.next() as usize % (MAX_EVIDENCE + 1))
            .map(|_| Sample {
                t_ms: rng.num(),
                x: rng.num() as i16,
                y: rng.num() as i16,
                kind: kinds[(rng.next() % 9) as usize],
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
