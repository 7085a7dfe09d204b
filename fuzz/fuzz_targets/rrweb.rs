//! Any rrweb recording given to `sentientiq detect`: replayed or refused with an error, never a
//! panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = sentientiq_server::confirm::replay::replay_rrweb(data, "fuzz", &mut out, shared_physics::detect::Params::default());
});
