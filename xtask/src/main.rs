//! `cargo xtask …`: build orchestration for SentientIQ.
//!
//! * `cargo xtask build-sdk` builds the WASM SDK into `target/sdk/`.
//! * `cargo xtask size` prints raw and gzip bytes of every file loaded at page start; its last
//!   line is `sdk gzip total: N bytes`; it fails above the 8 KB budget.
//! * `cargo xtask demo` runs the product with embedded defaults and a demo tenant.
//! * `cargo xtask deps` prints the import cycles between the modules of `shared-physics` and
//!   `server` (see `deps.rs`) and fails if there is any.
//! * `cargo xtask fuzz-api` fuzzes the real server's API from its OpenAPI document with
//!   schemathesis, with a tenant's secret key and an owner's dashboard session (see
//!   `schemathesis.rs`).
//! * `cargo xtask ci` runs every check CI runs, installing or starting what the tests need.
//! * `cargo xtask bench latency` measures detection → intervention latency in a real page.
//! * `cargo xtask bench physics` measures what one pointer event costs the worker's physics:
//!   natively (criterion) and as the built wasm modules in a Web Worker in headless Chromium.
//! * `cargo xtask bench main-thread` measures what one pointer move costs the page's main thread.
//! * `cargo xtask bench identity [--postgres]` measures identity resolution and strength for
//!   100k customers and 1M transactions, and the cached hot-path lookups.
//! * `cargo xtask bench escalation [--postgres]` measures detection → provider request latency
//!   (the SMS to Twilio's Messages API) under 100 concurrent escalations.
//! * `cargo xtask bench load --sessions N --seconds S [--postgres] [--find-ceiling]` holds N
//!   SDK sessions against the release server in its own process and prints sessions held,
//!   frames/s, Ack and detection → Intervene latency, the server's CPU and memory per session,
//!   the client's CPU and the cost per detection (see `docs/scaling.md`).
//! * `cargo xtask bench bandit` simulates Thompson sampling against uniform A/B and the oracle
//!   (regret, uplift against the holdout and its interval's coverage).
//! * `cargo xtask package` builds the npm package `sentientiq` and its `npm pack` tarball under
//!   `target/package/`; `cargo xtask package-test` installs it into a fresh Vite app and checks
//!   in Chromium that its frames reach the real server.
//! * `cargo xtask build-widget` builds the customer widget into `target/widget/` and prints its
//!   size against its own budget; `cargo xtask widget-check` also runs its Chromium checks.
//! * `cargo xtask fuzz [--seconds N] [TARGET…]` runs the coverage-guided fuzz targets of `fuzz/`
//!   (frames, event CSV, rrweb, visitor JWT, transactions CSV) for a bounded time each.
//! * `cargo xtask bench peers` measures our SDK beside posthog-js, Clarity, Sentry (+ replay)
//!   and OpenReplay in one Chromium on one page with the same input (needs the npm registry).

mod ci;
mod demo;
mod deps;
mod eval;
mod fuzz;
mod main_thread;
mod package;
mod peers;
mod physics;
mod schemathesis;
mod sdk;
mod services;
mod util;
mod widget;

use std::process::ExitCode;

use util::{cargo, run};

const USAGE: &str =
    "usage: cargo xtask <build-sdk | size | build-widget | widget-check | demo | deps | fuzz-api | ci | fuzz [--seconds N] [TARGET…] | eval [--human DIR] | package | package-test | bench latency | bench physics | bench peers | bench main-thread | bench identity [--postgres] | bench escalation [--postgres] | bench load [--sessions N] [--seconds S] [--postgres] [--find-ceiling] | bench bandit>";

fn bench_latency(root: &std::path::Path) -> Result<(), String> {
    sdk::build(root)?;
    services::ensure_chromium()?;
    run(cargo().current_dir(root).args(["run", "--release", "-p", "siq-e2e", "--bin", "bench-latency"]))
}

fn bench_identity(root: &std::path::Path, args: &[&str]) -> Result<(), String> {
    if args.contains(&"--postgres") {
        services::ensure_postgres()?;
    }
    run(cargo().current_dir(root).args(["run", "--release", "-p", "siq-e2e", "--bin", "bench-identity", "--"]).args(args))
}

fn bench_escalation(root: &std::path::Path, args: &[&str]) -> Result<(), String> {
    if args.contains(&"--postgres") {
        services::ensure_postgres()?;
        services::ensure_nats()?;
    }
    run(cargo().current_dir(root).args(["run", "--release", "-p", "siq-e2e", "--bin", "bench-escalation", "--"]).args(args))
}

fn bench_load(root: &std::path::Path, args: &[&str]) -> Result<(), String> {
    if args.contains(&"--postgres") {
        services::ensure_postgres()?;
        services::ensure_nats()?;
    }
    // The server runs as the release binary in a process of its own, apart from the client.
    run(cargo().current_dir(root).args(["build", "--release", "-p", "sentientiq-server", "--bin", "sentientiq"]))?;
    run(cargo().current_dir(root).args(["run", "--release", "-p", "siq-e2e", "--bin", "bench-load", "--"]).args(args))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = util::workspace_root();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["build-sdk"] => sdk::build(&root).map(|_| ()),
        ["build-widget"] => widget::build_all(&root).and_then(|_| widget::size(&root)).map(|_| ()),
        ["widget-check"] => widget::build_all(&root).and_then(|_| widget::size(&root)).and_then(|_| widget::check(&root)),
        ["size"] => sdk::build(&root).and_then(|_| sdk::size(&root)).map(|_| ()),
        ["demo"] => demo::demo(&root),
        ["deps"] => deps::check(&root, &deps::CHECKED),
        ["fuzz-api"] => schemathesis::fuzz_api(&root),
        ["ci"] => ci::ci(&root),
        ["fuzz", rest @ ..] => fuzz::command(&root, rest),
        ["bench", "latency"] => bench_latency(&root),
        ["bench", "physics"] => physics::bench(&root),
        ["eval", rest @ ..] => eval::eval(&root, rest),
        ["package"] => package::package(&root).map(|_| ()),
        ["package-test"] => package::test(&root),
        ["bench", "peers"] => peers::bench(&root),
        ["bench", "main-thread"] => main_thread::bench(&root),
        ["bench", "identity", rest @ ..] => bench_identity(&root, rest),
        ["bench", "escalation", rest @ ..] => bench_escalation(&root, rest),
        ["bench", "load", rest @ ..] => bench_load(&root, rest),
        ["bench", "bandit"] => run(cargo().current_dir(&root).args(["run", "--release", "-p", "siq-e2e", "--bin", "bench-bandit"])),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
