//! `cargo xtask fuzz [--seconds N] [TARGET…]`: the coverage-guided fuzz targets of `fuzz/`,
//! each for a bounded time, on a copy of its committed corpus.
//!
//! libFuzzer (from the `libfuzzer-sys` crate, compiled with the system's C++ compiler) drives
//! each target; the code under test is instrumented with LLVM's SanitizerCoverage passes, which
//! the stable toolchain runs through `-C passes=sancov-module` (no nightly: no address
//! sanitizer, so a target asserts what it cares about itself). The flags are given with an
//! explicit `--target`, so build scripts and proc macros are built without them.
//!
//! New inputs libFuzzer finds go to `target/fuzz/corpus/<target>/`, never into the repository;
//! a crash leaves its input in `target/fuzz/artifacts/<target>/` and fails the command, naming
//! the file and the command that replays it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::cargo;

/// Every target, in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 5] = ["frames", "event_csv", "rrweb", "jwt", "transactions_csv"];

/// Seconds each target runs in `cargo xtask ci`.
pub const CI_SECONDS: u64 = 20;

const SANCOV: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
                      -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
                      -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

/// The host's target triple (the instrumented build names it, so build scripts are not
/// instrumented).
fn host() -> Result<String, String> {
    let out = Command::new("rustc").arg("-vV").output().map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

/// Parses `[--seconds N] [TARGET…]` and runs.
pub fn command(root: &Path, args: &[&str]) -> Result<(), String> {
    let mut seconds = CI_SECONDS;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("--seconds takes a whole number of seconds, more than 0")?;
            }
            t if TARGETS.contains(&t) => targets.push(t),
            other => return Err(format!("unknown fuzz target or option {other:?}; targets: {}", TARGETS.join(", "))),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    run(root, &targets, seconds)
}

/// Builds the targets once and runs each for `seconds`.
pub fn run(root: &Path, targets: &[&str], seconds: u64) -> Result<(), String> {
    let triple = host()?;
    let dir = root.join("target/fuzz");
    eprintln!("xtask fuzz: building {} target(s) with coverage instrumentation", targets.len());
    let started = Instant::now();
    let status = cargo()
        .current_dir(root.join("fuzz"))
        .env("RUSTFLAGS", SANCOV)
        .env("CARGO_TARGET_DIR", &dir)
        .args(["build", "--release", "--locked", "--target", &triple])
        .args(targets.iter().flat_map(|t| ["--bin", t]))
        .status()
        .map_err(|e| format!("cargo build of fuzz/: {e}"))?;
    if !status.success() {
        return Err("the fuzz targets did not build (see above; libfuzzer-sys also needs a C++ compiler, e.g. Debian's g++)".into());
    }
    eprintln!("xtask fuzz: built in {} s", started.elapsed().as_secs());
    let mut failed = Vec::new();
    for t in targets {
        let bin = dir.join(&triple).join("release").join(t);
        let work = dir.join("corpus").join(t);
        let seeds = root.join("fuzz/corpus").join(t);
        let artifacts = dir.join("artifacts").join(t);
        for d in [&work, &artifacts] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        eprintln!("xtask fuzz: {t} for {seconds} s (seeds: {}, {} inputs)", seeds.display(), count(&seeds));
        let out = Command::new(&bin)
            .arg(&work)
            .arg(&seeds)
            .arg(format!("-max_total_time={seconds}"))
            .arg("-max_len=65536")
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let stat = |name: &str| {
            log.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_string())).unwrap_or_default()
        };
        eprintln!(
            "xtask fuzz: {t}: {} runs, {} coverage edges, corpus {} inputs{}",
            stat("stat::number_of_executed_units"),
            log.lines().rev().find_map(|l| l.split("cov: ").nth(1)).and_then(|v| v.split_whitespace().next()).unwrap_or("?"),
            count(&work) + count(&seeds),
            if out.status.success() { "" } else { " — FAILED" }
        );
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            let crash = newest(&artifacts);
            failed.push(match crash {
                Some(c) => format!("{t}: crash input {} (replay: {} {})", c.display(), bin.display(), c.display()),
                None => format!("{t}: libFuzzer exited with {}", out.status),
            });
        }
    }
    if failed.is_empty() {
        eprintln!("xtask fuzz: {} target(s), 0 crashes", targets.len());
        Ok(())
    } else {
        Err(format!("fuzzing found {} failure(s):\n  {}", failed.len(), failed.join("\n  ")))
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn newest(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.filter_map(Result::ok).max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok()).map(|e| e.path())
}
