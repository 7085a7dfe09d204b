//! Byte-exact golden encodings of every frame, and the promise that decoding arbitrary bytes
//! never panics. A change to any golden vector is a protocol change: bump
//! `PROTOCOL_VERSION` instead.

use proptest::prelude::*;
use shared_physics::wire::*;
use shared_physics::{Emotion, Kind, Sample};

fn roundtrip(seq: u32, frame: Frame<'_>, golden: &[u8]) {
    let mut buf = [0u8; MAX_FRAME_BYTES];
    let bytes = encode(seq, &frame, &mut buf).expect("encodes");
    assert_eq!(&bytes[..], golden, "golden bytes of {frame:?}: {bytes:?}");
    let env = decode(golden).expect("decodes");
    assert_eq!(env, Envelope { version: PROTOCOL_VERSION, seq, frame });
}

#[test]
fn hello() {
    let f = Frame::Hello(Hello { session: 0x0102_0304_0506_0708, site_key: "pk_ab", page: "/x", identity: Some("t") });
    roundtrip(0, f, &[1, 0, 0, 136, 142, 152, 168, 192, 224, 128, 129, 1, 5, 112, 107, 95, 97, 98, 2, 47, 120, 1, 1, 116]);
    let anon = Frame::Hello(Hello { session: 1, site_key: "k", page: "", identity: None });
    roundtrip(0, anon, &[1, 0, 0, 1, 1, 107, 0, 0]);
}

#[test]
fn secure_hello() {
    // Variant 7 (appended): the `Hello`'s fields as they are, then the 16 secret bytes raw.
    let hello = Hello { session: 1, site_key: "k", page: "", identity: Some("t") };
    let secret = [0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff];
    let f = Frame::SecureHello(SecureHello { hello, secret });
    let mut golden = vec![1, 0, 7, 1, 1, 107, 0, 1, 1, 116];
    golden.extend_from_slice(&secret);
    roundtrip(0, f, &golden);
}

#[test]
fn physics() {
    let f = Frame::Physics(Physics { t_ms: 1000, moves: 60, clicks: 1, scrolls: 0, mean_speed: 300, peak_jerk_k: 150_000, entropy_q: 128 });
    roundtrip(7, f, &[1, 7, 1, 232, 7, 60, 1, 0, 172, 2, 240, 147, 9, 128]);
}

#[test]
fn detection_with_evidence() {
    let mut evidence = heapless::Vec::new();
    evidence.push(Sample { t_ms: 1000, x: 400, y: 300, kind: Kind::Click, section: 2 }).unwrap();
    evidence.push(Sample { t_ms: 1180, x: -1, y: 301, kind: Kind::Move, section: 0 }).unwrap();
    let f = Frame::Detection(DetectionFrame { emotion: Emotion::Rage, confidence_pct: 91, t_ms: 1180, section: 2, evidence });
    roundtrip(8, f, &[1, 8, 2, 0, 91, 156, 9, 2, 2, 232, 7, 160, 6, 216, 4, 3, 2, 156, 9, 1, 218, 4, 0, 0]);
}

#[test]
fn detection_with_a_response_in_its_evidence() {
    // The context kinds were appended after `Scroll`: `Response` is variant index 5.
    let mut evidence = heapless::Vec::new();
    evidence.push(Sample { t_ms: 1000, x: 400, y: 300, kind: Kind::Click, section: 2 }).unwrap();
    evidence.push(Sample { t_ms: 1012, x: 0, y: 0, kind: Kind::Response, section: 0 }).unwrap();
    let f = Frame::Detection(DetectionFrame { emotion: Emotion::Rage, confidence_pct: 91, t_ms: 1180, section: 2, evidence });
    roundtrip(8, f, &[1, 8, 2, 0, 91, 156, 9, 2, 2, 232, 7, 160, 6, 216, 4, 3, 2, 244, 7, 0, 0, 5, 0]);
}

#[test]
fn section_ack_intervene() {
    roundtrip(9, Frame::Section(Section { id: 2, name: "cart" }), &[1, 9, 3, 2, 4, 99, 97, 114, 116]);
    roundtrip(10, Frame::Note(Note { kind: 0, text: "buy" }), &[1, 10, 6, 0, 3, 98, 117, 121]);
    roundtrip(0, Frame::Ack(Ack { seq: 300 }), &[1, 0, 4, 172, 2]);
    let iv = Frame::Intervene(Intervene { id: 5, emotion: Emotion::Rage, text: "Hi" });
    roundtrip(1, iv, &[1, 1, 5, 5, 0, 2, 72, 105]);
}

#[test]
fn unknown_versions_and_junk_are_errors() {
    assert_eq!(decode(&[]), Err(WireError::Empty));
    assert_eq!(decode(&[2, 0, 4, 1]), Err(WireError::UnsupportedVersion(2)));
    assert_eq!(decode(&[1, 0, 4]), Err(WireError::Malformed));
    assert_eq!(decode(&[1, 0, 4, 1, 0]), Err(WireError::Malformed), "trailing bytes");
    assert_eq!(decode(&[1, 0, 99]), Err(WireError::Malformed), "unknown variant");
    let big = [1u8; MAX_FRAME_BYTES + 1];
    assert_eq!(decode(&big), Err(WireError::TooLarge));
}

#[test]
fn a_full_buffer_is_an_error_not_a_panic() {
    let mut small = [0u8; 4];
    let f = Frame::Section(Section { id: 1, name: "pricing" });
    assert_eq!(encode(1, &f, &mut small), Err(WireError::BufferFull));
}

#[test]
fn more_evidence_than_the_limit_is_malformed() {
    // A detection claiming MAX_EVIDENCE + 1 samples.
    let mut bytes = vec![1, 1, 2, 0, 50, 0, 0, 65];
    for _ in 0..65 {
        bytes.extend_from_slice(&[0, 0, 0, 0, 0]);
    }
    assert_eq!(decode(&bytes), Err(WireError::Malformed));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decoding_mutated_frames_never_panics(flip in 0usize..24, val in any::<u8>()) {
        let mut g = vec![1, 8, 2, 0, 91, 156, 9, 2, 2, 232, 7, 160, 6, 216, 4, 3, 2, 156, 9, 1, 218, 4, 0, 0];
        g[flip] = val;
        let _ = decode(&g);
    }
}
