//! What one pointer event costs the SDK's worker, on a recorded-like stream (moves every 16 ms
//! with a click burst every 64 samples, scrolls in between): `Tracker::push` alone (the
//! page-start module, which detects nothing) and `Tracker::push` + `Detector::push` (the module
//! with every emotion); and the rage detector alone on a full evidence window. Run with
//! `cargo xtask bench physics`.
//! Target: ≤ 1 µs per event, so the worker never falls behind a 1 kHz mouse.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shared_physics::detect::{detect_rage, Detector, Params, RageParams, MAX_EVIDENCE};
use shared_physics::kinematics::Tracker;
use shared_physics::Sample;

/// The benchmarks' deterministic stream (`shared_physics::synthetic::stream`).
fn stream(n: usize) -> Vec<Sample> {
    shared_physics::synthetic::stream(n).collect()
}

fn per_event(c: &mut Criterion) {
    let samples = stream(4096);
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("tracker (no detector, sdk.wasm)", |b| {
        b.iter_batched(
            Tracker::new,
            |mut tracker| {
                for s in &samples {
                    tracker.push(s);
                }
                tracker.take_summary(0)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("tracker+detector (every emotion, sdk-emotions.wasm)", |b| {
        b.iter_batched(
            || (Tracker::new(), Detector::new(Params::DEFAULT)),
            |(mut tracker, mut detector)| {
                let mut emitted = 0u32;
                for s in &samples {
                    tracker.push(s);
                    emitted += detector.push(*s).is_some() as u32;
                }
                (tracker.take_summary(0), emitted)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut window: Vec<Sample> = stream(MAX_EVIDENCE * 2).into_iter().rev().take(MAX_EVIDENCE).collect();
    window.reverse();
    c.bench_function("detect_rage on a full evidence window", |b| {
        b.iter(|| detect_rage(std::hint::black_box(&window), &RageParams::DEFAULT))
    });
}

criterion_group!(benches, per_event);
criterion_main!(benches);
