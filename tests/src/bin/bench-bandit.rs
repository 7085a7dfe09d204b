//! Thompson sampling against uniform A/B and the oracle on a simulated shop with known conversion
//! rates, run by `cargo xtask bench bandit`.
//!
//! Four variants convert at 5% ("nothing"), 6% (message), 7.5% (help) and 9% (discount); the
//! holdout (no intervention) converts at 5%. Each run makes 10,000 decisions with the product's
//! default 10% holdout; 20 runs, each with its own fixed seed, so the output is the same every
//! time. Each decision's seed comes from [`bandit::decision_seed`], as in the server, and the
//! same decisions are held out under every strategy. One uniform draw per decision decides
//! whether the visitor converts, shared by the three strategies (common random numbers), so their
//! differences are the strategies', not the dice's.
//!
//! * **Thompson**: [`bandit::decide`] on the arms, [`bandit::update`] after every outcome.
//! * **Uniform A/B**: each treated decision serves a variant chosen uniformly (seeded).
//! * **Oracle**: each treated decision serves the best variant.
//!
//! Regret is `Σ (best rate − served variant's rate)` over treated decisions (holdout decisions
//! count as neither), i.e. the conversions a strategy expects to lose to the oracle. The true
//! uplift of a run is the mean true rate of the variants it actually served minus the control
//! rate; the estimate is treated conversions / treated decisions minus holdout conversions /
//! holdout decisions, with Newcombe's 95% interval ([`bandit::uplift`]). Progress goes to stderr,
//! the tables to stdout.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sentientiq_server::interventions::bandit::{self, Arm, Policy};

/// The variants and their true conversion rates; the last is the best.
const VARIANTS: [(&str, f64); 4] = [("nothing", 0.05), ("message", 0.06), ("help", 0.075), ("discount", 0.09)];
/// Conversion rate with no intervention (the holdout).
const CONTROL_RATE: f64 = 0.05;
/// Decisions per run.
const DECISIONS: usize = 10_000;
/// Where cumulative regret is reported (decisions made, holdout included).
const CHECKPOINTS: [usize; 3] = [1_000, 5_000, 10_000];
/// Runs; run `r` uses seed `r` for its world and its A/B draws.
const RUNS: u64 = 20;
/// Confidence of the uplift interval.
const CONFIDENCE: f64 = 0.95;
/// Server secret of the simulated decisions' seeds.
const SECRET: &[u8] = b"bench-bandit";
/// Keeps the A/B stream apart from the conversion stream of the same run.
const AB_STREAM: u64 = 0xab00_0000;

#[derive(Clone, Copy, PartialEq)]
enum Strategy {
    Thompson,
    Uniform,
    Oracle,
}

const STRATEGIES: [(Strategy, &str); 3] =
    [(Strategy::Thompson, "Thompson"), (Strategy::Uniform, "uniform A/B"), (Strategy::Oracle, "oracle")];

/// What one run of one strategy gave.
#[derive(Default, Clone)]
struct Run {
    regret_at: [f64; CHECKPOINTS.len()],
    treated: (u64, u64),
    control: (u64, u64),
    served_rate_sum: f64,
    decide_time: Duration,
}

impl Run {
    fn true_uplift(&self) -> f64 {
        self.served_rate_sum / self.treated.1 as f64 - CONTROL_RATE
    }
}

fn simulate(strategy: Strategy, run: u64) -> Run {
    let policy = Policy::default();
    let best = VARIANTS.len() - 1;
    let mut arms: Vec<Arm> = VARIANTS.iter().map(|(id, _)| Arm::new(id)).collect();
    let mut world = StdRng::seed_from_u64(run);
    let mut ab = StdRng::seed_from_u64(AB_STREAM ^ run);
    let session = format!("run-{run}");
    let mut out = Run::default();
    let mut regret = 0.0;
    for i in 0..DECISIONS {
        let seed = bandit::decision_seed("bench", &session, i as u64, SECRET);
        let u: f64 = world.gen();
        let served = match strategy {
            Strategy::Thompson => {
                let t = Instant::now();
                let d = bandit::decide(&arms, &policy, seed);
                out.decide_time += t.elapsed();
                d.chosen.and_then(|id| arms.iter().position(|a| a.variant_id == id))
            }
            _ if bandit::in_holdout(&policy, seed) => None,
            Strategy::Uniform => Some(ab.gen_range(0..VARIANTS.len())),
            Strategy::Oracle => Some(best),
        };
        match served {
            None => {
                out.control.1 += 1;
                out.control.0 += u64::from(u < CONTROL_RATE);
            }
            Some(k) => {
                let converted = u < VARIANTS[k].1;
                out.treated.1 += 1;
                out.treated.0 += u64::from(converted);
                out.served_rate_sum += VARIANTS[k].1;
                regret += VARIANTS[best].1 - VARIANTS[k].1;
                if strategy == Strategy::Thompson {
                    if let Err(e) = bandit::update(&mut arms, VARIANTS[k].0, converted) {
                        panic!("the bench's own arm is unknown: {e}");
                    }
                }
            }
        }
        if let Some(c) = CHECKPOINTS.iter().position(|&c| c == i + 1) {
            out.regret_at[c] = regret;
        }
    }
    out
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0.0);
    for x in xs {
        s += x;
        n += 1.0;
    }
    s / n
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: bench-bandit (no arguments)");
        return ExitCode::FAILURE;
    }
    println!(
        "bandit simulation: {} variants {:?}, control {:.1}%, holdout {:.0}%, {DECISIONS} decisions x {RUNS} runs",
        VARIANTS.len(),
        VARIANTS.iter().map(|(id, r)| format!("{id} {:.1}%", r * 100.0)).collect::<Vec<_>>(),
        CONTROL_RATE * 100.0,
        Policy::default().holdout_share() * 100.0
    );
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); STRATEGIES.len()];
    for run in 0..RUNS {
        for (s, (strategy, _)) in STRATEGIES.iter().enumerate() {
            results[s].push(simulate(*strategy, run));
        }
        let t = &results[0][run as usize];
        eprintln!(
            "run {}/{RUNS}: Thompson regret {:.1}, uniform {:.1}",
            run + 1,
            t.regret_at[CHECKPOINTS.len() - 1],
            results[1][run as usize].regret_at[CHECKPOINTS.len() - 1]
        );
    }

    println!();
    println!("cumulative regret (expected conversions lost to the oracle), mean over {RUNS} runs");
    println!("{:<12} {:>12} {:>12} {:>12} {:>20} {:>20}", "strategy", "@1k", "@5k", "@10k", "treated conv / n", "holdout conv / n");
    for (s, (_, name)) in STRATEGIES.iter().enumerate() {
        let r = &results[s];
        let at = |c: usize| mean(r.iter().map(|x| x.regret_at[c]));
        let tc = mean(r.iter().map(|x| x.treated.0 as f64));
        let tn = mean(r.iter().map(|x| x.treated.1 as f64));
        let cc = mean(r.iter().map(|x| x.control.0 as f64));
        let cn = mean(r.iter().map(|x| x.control.1 as f64));
        println!(
            "{name:<12} {:>12.1} {:>12.1} {:>12.1} {:>20} {:>20}",
            at(0),
            at(1),
            at(2),
            format!("{tc:.1} / {tn:.0}"),
            format!("{cc:.1} / {cn:.0}")
        );
    }

    println!();
    println!("uplift, treated vs holdout, {:.0}% Newcombe interval, mean over {RUNS} runs", CONFIDENCE * 100.0);
    println!("{:<12} {:>10} {:>22} {:>12} {:>16}", "strategy", "estimate", "interval", "true", "interval covers");
    let mut first_interval = Vec::new();
    for (s, (_, name)) in STRATEGIES.iter().enumerate() {
        let ups: Vec<_> = results[s]
            .iter()
            .map(|x| (bandit::uplift(x.treated, x.control, CONFIDENCE).expect("both groups have decisions"), x.true_uplift()))
            .collect();
        let covered = ups.iter().filter(|(u, truth)| u.covers(*truth)).count();
        let pct = |x: f64| format!("{:+.2}%", x * 100.0);
        println!(
            "{name:<12} {:>10} {:>22} {:>12} {:>16}",
            pct(mean(ups.iter().map(|(u, _)| u.uplift))),
            format!("[{}, {}]", pct(mean(ups.iter().map(|(u, _)| u.low))), pct(mean(ups.iter().map(|(u, _)| u.high)))),
            pct(mean(ups.iter().map(|(_, t)| *t))),
            format!("{covered}/{RUNS}")
        );
        first_interval.push((name, ups[0]));
    }
    println!();
    println!("run 0 in detail:");
    for (name, (u, truth)) in first_interval {
        println!(
            "{name:<12} treated {}/{} = {:.2}%, holdout {}/{} = {:.2}%, uplift {:+.2}% [{:+.2}%, {:+.2}%], true {:+.2}%",
            (u.treated_rate * u.treated_n as f64).round(),
            u.treated_n,
            u.treated_rate * 100.0,
            (u.control_rate * u.control_n as f64).round(),
            u.control_n,
            u.control_rate * 100.0,
            u.uplift * 100.0,
            u.low * 100.0,
            u.high * 100.0,
            truth * 100.0
        );
    }
    let decide_total: Duration = results[0].iter().map(|r| r.decide_time).sum();
    let decisions = RUNS as f64 * DECISIONS as f64;
    println!();
    println!(
        "bandit::decide with {} arms: {:.2} µs per decision ({decisions:.0} decisions)",
        VARIANTS.len(),
        decide_total.as_secs_f64() * 1e6 / decisions
    );
    ExitCode::SUCCESS
}
