//! `cargo xtask ci`: every check, in the order that fails fastest.

use std::path::Path;
use std::time::Instant;

use crate::util::{cargo, ensure_target, free_gib, run};
use crate::{package, sdk, services, widget};

/// The bare-metal target that proves `shared-physics` is `no_std` without an allocator.
pub const BARE_METAL: &str = "thumbv7em-none-eabihf";

/// What a run from a clean clone writes at its peak (target/ with the fuzzers' builds, the
/// Python tools, npm packages), GiB: 15 measured, with a margin. Below this much free space it
/// warns before it starts.
pub const DISK_NEEDED_GIB: f64 = 16.0;

/// The disk's free space for a step header: a run that fills the disk fails in a compiler's
/// "No space left on device", and the headers show where the space went.
fn free(root: &Path) -> String {
    free_gib(root).map_or_else(String::new, |g| format!(", {g:.1} GiB free"))
}

pub fn ci(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    let step = |name: &str| eprintln!("\n=== xtask ci: {name} ({} s{}) ===", started.elapsed().as_secs(), free(root));
    if let Some(g) = free_gib(root).filter(|&g| g < DISK_NEEDED_GIB) {
        eprintln!(
            "xtask ci: warning: {g:.1} GiB free on the disk of {}; a run from a clean clone writes up to about {DISK_NEEDED_GIB} GiB",
            root.display()
        );
    }

    step("formatting");
    run(cargo().current_dir(root).args(["fmt", "--all", "--", "--check"]))?;

    step("import cycles between the modules of shared-physics and the server");
    crate::deps::check(root, &crate::deps::CHECKED)?;

    step("no_std builds of shared-physics (wasm32 and bare metal)");
    for target in ["wasm32-unknown-unknown", BARE_METAL] {
        ensure_target(target)?;
        run(cargo().current_dir(root).args(["build", "-p", "shared-physics", "--target", target]))?;
    }

    step("clippy, warnings denied");
    run(cargo().current_dir(root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // The module with every emotion is the same crate with a feature.
    run(cargo().current_dir(root).args(["clippy", "-p", "sdk-wasm", "--all-targets", "--features", "emotions", "--", "-D", "warnings"]))?;

    step("API docs, warnings denied (a broken link in a doc comment fails)");
    for which in [&["--workspace"][..], &["-p", "sdk-wasm", "--features", "emotions"]] {
        run(cargo().current_dir(root).env("RUSTDOCFLAGS", "-D warnings").args(["doc", "--no-deps"]).args(which))?;
    }

    step("SDK build and size budget");
    sdk::build(root)?;
    sdk::size(root)?;

    step("services for the tests: Chromium, PostgreSQL, NATS JetStream");
    services::ensure_chromium()?;
    services::ensure_postgres()?;
    services::ensure_nats()?;

    step("the SDK's JavaScript in Chromium (reconnect, offline queue, beacon, CSP, XSS-safe text)");
    run(std::process::Command::new("node").current_dir(root).args(["--experimental-websocket", "sdk-wasm/js/test/run.mjs"]))?;

    step("the customer widget: build, size budget, Chromium checks (CSP, XSS, errors, panics, listeners, keyboard, hostile CSS)");
    widget::build_all(root)?;
    widget::size(root)?;
    widget::check(root)?;

    step("tools the tests use: axe-core (npm, tests/axe) and DuckDB (PyPI, target/py)");
    package::npm_ci(&root.join("tests/axe"))?;
    let py = services::python_venv(root, &services::PYTHON_TOOLS)?;
    let path = format!("{}:{}", py.display(), std::env::var("PATH").unwrap_or_default());

    step("unit, integration and browser tests");
    run(cargo().current_dir(root).env("PATH", &path).args(["test", "--workspace", "--", "--test-threads=2"]))?;
    run(cargo().current_dir(root).args(["test", "-p", "sdk-wasm", "--features", "emotions"]))?;

    step("coverage-guided fuzzing: frames, event CSV, rrweb, visitor JWT, transactions CSV (bounded)");
    crate::fuzz::run(root, &crate::fuzz::TARGETS, crate::fuzz::CI_SECONDS)?;

    step("the API fuzzed from its OpenAPI document (schemathesis, secret key and owner session)");
    crate::schemathesis::fuzz_api(root)?;

    step("the npm package as a user meets it: npm pack, a fresh Vite app, Chromium, the real server");
    package::test(root)?;

    eprintln!("\n=== xtask ci: all checks passed in {} s{} ===", started.elapsed().as_secs(), free(root));
    Ok(())
}
