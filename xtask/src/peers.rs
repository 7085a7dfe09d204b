//! `cargo xtask bench peers`: our SDK beside posthog-js, Clarity, Sentry (+ replay) and
//! OpenReplay, in one Chromium, on one page, with one scripted input.
//!
//! `bench/peers/package-lock.json` pins the peers (and esbuild, playwright-core); `npm ci`
//! installs them into `bench/peers/node_modules/` (ignored by git) at bench time, so this needs
//! the npm registry and is not part of `cargo xtask ci`. The SDK is built, the real server is
//! started on a free port (SQLite in `target/tmp/`), and `bench/peers/run.mjs` does the rest
//! (what it measures and how is documented at its top). Its last line is
//! `ours vs smallest peer (gzip start bytes): 1:X`.

use std::path::Path;
use std::process::Command;

use crate::package;
use crate::util::run;

pub fn bench(root: &Path) -> Result<(), String> {
    crate::sdk::build(root)?;
    crate::services::ensure_chromium()?;
    let bin = package::server_binary(root)?;
    let dir = root.join("bench").join("peers");
    package::npm_ci(&dir)?;
    let scratch = package::scratch(root, "bench-peers")?;
    let server = package::start_server(root, &bin, &scratch)?;
    let chromium = crate::services::chromium();
    let result = run(Command::new("node")
        .current_dir(&dir)
        .arg("run.mjs")
        .env("SIQ_SERVER", &server.url)
        .env("SIQ_ADMIN_TOKEN", &server.admin_token)
        .env("SIQ_SDK_DIR", crate::sdk::out_dir(root))
        .env("SIQ_CHROMIUM", chromium));
    drop(server);
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result
}
