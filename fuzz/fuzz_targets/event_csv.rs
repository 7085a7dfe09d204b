//! Any event CSV given to `sentientiq detect`: replayed without a panic, every bad row reported.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = sentientiq_server::confirm::replay::replay_csv(data, &mut out, shared_physics::detect::Params::default());
});
