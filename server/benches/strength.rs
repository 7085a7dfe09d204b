//! What scoring costs: [`strength::score`] for 100 000 customers of every kind (the nightly
//! snapshot of a large tenant), and the same with the five reasons formatted, as the API would
//! when it returns factors. Run with
//! `CARGO_TARGET_DIR=/work/main/target cargo bench -p sentientiq-server --bench strength`.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sentientiq_server::identity::strength::{self, Context, Negatives, Signals, DAY_MS};

/// 2026-05-28T00:00:00Z.
const NOW: i64 = 1_779_926_400_000;
/// Customers per iteration.
const CUSTOMERS: usize = 100_000;

/// A deterministic population (xorshift32 with a fixed seed): new, casual, loyal, troubled.
fn population(n: usize) -> Vec<Signals> {
    let mut state = 0x2545_f491u32;
    let mut next = move |m: u32| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state % m
    };
    (0..n)
        .map(|_| Signals {
            first_seen_ms: Some(NOW - next(1000) as i64 * DAY_MS),
            sessions_30d: next(60),
            active_days_30d: next(31),
            last_seen_ms: Some(NOW - next(60) as i64 * DAY_MS),
            negatives_30d: Negatives {
                rage: next(4) as f64 * 0.8,
                frustration: next(3) as f64 * 0.7,
                confusion: next(3) as f64 * 0.6,
                hesitation: next(5) as f64 * 0.5,
                abandonment: next(2) as f64 * 0.9,
            },
            engaged_30d: next(20) as f64 * 0.75,
            context: [None, Some(Context::Busy), Some(Context::Stuck), Some(Context::Exploring), Some(Context::Frustrated)]
                [next(5) as usize],
            purchases: next(40),
            months_with_purchase_12m: next(13),
            lifetime_value_cents: next(5_000_000) as i64,
            revenue_90d_cents: next(500_000) as i64,
            value_scale_cents: strength::DEFAULT_VALUE_SCALE_CENTS,
        })
        .collect()
}

fn scoring(c: &mut Criterion) {
    let customers = population(CUSTOMERS);
    let mut g = c.benchmark_group("strength");
    g.throughput(Throughput::Elements(CUSTOMERS as u64));
    g.sample_size(20);
    g.bench_function("score_100k", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for s in &customers {
                total += strength::score(black_box(s), NOW).score;
            }
            total
        })
    });
    g.bench_function("score_and_format_reasons_100k", |b| {
        let mut text = String::with_capacity(512);
        b.iter(|| {
            let mut bytes = 0;
            for s in &customers {
                text.clear();
                for f in strength::score(black_box(s), NOW).factors {
                    let _ = write!(text, "{}", f.reason);
                }
                bytes += text.len();
            }
            bytes
        })
    });
    g.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
