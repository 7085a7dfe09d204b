//! Any bytes on the socket: decoding never panics, and a frame that decodes encodes back to
//! bytes that decode to the same frame.
#![no_main]

use shared_physics::wire::{self, MAX_FRAME_BYTES};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(env) = wire::decode(data) else { return };
    let mut buf = [0u8; MAX_FRAME_BYTES];
    let bytes = wire::encode(env.seq, &env.frame, &mut buf).expect("a decoded frame encodes");
    let again = wire::decode(bytes).expect("an encoded frame decodes");
    assert_eq!(again.seq, env.seq);
    assert_eq!(format!("{:?}", again.frame), format!("{:?}", env.frame));
});
