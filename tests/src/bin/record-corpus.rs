//! Records the labelled trace corpus by driving the real SDK in real headless Chromium:
//!
//! ```text
//! record-corpus [--out DIR] [--jobs N] [--only SCENARIO,…] [--seeds A..=B | A,B,…] [--attempts N]
//! ```
//!
//! Defaults: `--out corpus`, `--jobs 3` (browsers recording at once), every scenario, seeds
//! `1..=20`, 2 attempts per trace. Writes `DIR/traces/<scenario>-<seed>.csv` and
//! `DIR/manifest.csv` (a partial run keeps the manifest lines of the traces it did not record).
//! The logic is `siq_e2e::corpus`; `corpus/README.md` describes the scenarios.

use std::path::PathBuf;
use std::process::ExitCode;

use siq_e2e::corpus::{self, Options};

const USAGE: &str = "usage: record-corpus [--out DIR] [--jobs N] [--only SCENARIO,…] [--seeds A..=B | A,B,…] [--attempts N]";

fn seeds(s: &str) -> Result<Vec<u64>, String> {
    let bad = |_| format!("bad --seeds {s:?}");
    if let Some((a, b)) = s.split_once("..=") {
        Ok((a.parse().map_err(bad)?..=b.parse().map_err(bad)?).collect())
    } else {
        s.split(',').map(|x| x.trim().parse().map_err(bad)).collect()
    }
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options { out: PathBuf::from("corpus"), jobs: 3, only: Vec::new(), seeds: corpus::SEEDS.collect(), attempts: 2 };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--out" => opts.out = value.into(),
            "--jobs" => opts.jobs = value.parse().map_err(|_| format!("bad --jobs {value:?}"))?,
            "--attempts" => opts.attempts = value.parse().map_err(|_| format!("bad --attempts {value:?}"))?,
            "--seeds" => opts.seeds = seeds(&value)?,
            "--only" => {
                for name in value.split(',') {
                    corpus::scenario(name).ok_or_else(|| format!("no scenario {name:?}"))?;
                    opts.only.push(name.to_string());
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(opts)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let opts = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match corpus::record_corpus(&opts).await {
        Ok(summary) if summary.failed.is_empty() => ExitCode::SUCCESS,
        Ok(summary) => {
            for (name, why) in &summary.failed {
                eprintln!("{name}: {why}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("record-corpus: {e}");
            ExitCode::FAILURE
        }
    }
}
