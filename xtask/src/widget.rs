//! Building the customer widget (`widget-shell`), measuring it, and running its Chromium checks.
//!
//! `build` compiles `widget-shell` for `wasm32-unknown-unknown` with `--profile wasm`, writes
//! the JS glue with the wasm-bindgen CLI (`--target web`; installed with `cargo install` at the
//! exact version of the `wasm-bindgen` crate in `Cargo.lock` when missing, about 6 minutes)
//! after shrinking the module with `wasm-opt -Oz` when it is available, drops the module's
//! custom sections, and copies `js/widget.js`: the
//! shipped widget goes to `target/widget/`, and a build with the `test-hooks` feature (only
//! for the Chromium checks' panic cases) to `target/widget-test/`.
//!
//! The widget is loaded lazily, never at page start, so it is not in the SDK's 8 KB budget: it
//! has its own, [`WIDGET_BUDGET_GZIP`], checked by `size`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, ensure_target, run};

/// The widget's budget: everything it loads (`widget.js`, the wasm-bindgen glue and the wasm),
/// gzip. Measured at 35,466 bytes: the Rust standard library's allocator and panic machinery,
/// wasm-bindgen's closure glue and the web-sys bindings make most of it; the budget leaves
/// 5 KB of headroom.
pub const WIDGET_BUDGET_GZIP: u64 = 40 * 1024;

const TARGET: &str = "wasm32-unknown-unknown";
const CRATE: &str = "widget-shell";
/// The files the browser loads, in load order (written by [`build`]).
const FILES: [&str; 3] = ["widget.js", "widget_shell.js", "widget_shell_bg.wasm"];

/// Where the shipped widget is written (`test_hooks` false) or the checks' build.
pub fn out_dir(root: &Path, test_hooks: bool) -> PathBuf {
    root.join("target").join(if test_hooks { "widget-test" } else { "widget" })
}

/// The version of the `wasm-bindgen` crate in `Cargo.lock`.
fn locked_wasm_bindgen(root: &Path) -> Result<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    locked_version(&lock, "wasm-bindgen").ok_or_else(|| "wasm-bindgen is not in Cargo.lock".to_string())
}

/// The version of package `name` in a `Cargo.lock` text.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let v = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(v.to_string());
        }
    }
    None
}

/// Makes sure `wasm-bindgen --version` is exactly `version`, installing it when it is not.
fn ensure_wasm_bindgen(version: &str) -> Result<(), String> {
    let have = Command::new("wasm-bindgen").arg("--version").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if have.as_deref() == Some(&format!("wasm-bindgen {version}")) {
        return Ok(());
    }
    eprintln!("xtask: wasm-bindgen CLI {version} is needed (found {have:?}); installing it (about 6 minutes)");
    run(cargo().args(["install", "wasm-bindgen-cli", "--version", version]))
}

/// Builds the widget into [`out_dir`]; with `test_hooks`, with the `test-hooks` feature.
pub fn build(root: &Path, test_hooks: bool) -> Result<PathBuf, String> {
    ensure_target(TARGET)?;
    ensure_wasm_bindgen(&locked_wasm_bindgen(root)?)?;
    let out = out_dir(root, test_hooks);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut cmd = cargo();
    cmd.current_dir(root).args(["build", "-p", CRATE, "--target", TARGET, "--profile", "wasm"]);
    if test_hooks {
        cmd.args(["--features", "test-hooks"]);
    }
    run(&mut cmd)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target_dir = if target_dir.is_absolute() { target_dir } else { root.join(target_dir) };
    let artefact = target_dir.join(TARGET).join("wasm").join("widget_shell.wasm");
    // wasm-opt runs before wasm-bindgen: binaryen 108 (Debian's) turns the externref table
    // that wasm-bindgen's output exports into one the glue cannot fill.
    let input = if Command::new("wasm-opt").arg("--version").output().is_ok() || crate::services::try_install_binaryen() {
        let opt = out.join("widget_shell.wasm");
        run(Command::new("wasm-opt")
            .arg("-Oz")
            .args(["--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-mutable-globals"])
            .args(["--enable-reference-types", "--enable-multivalue"])
            .arg(&artefact)
            .arg("-o")
            .arg(&opt))?;
        opt
    } else {
        eprintln!("xtask: no wasm-opt: the widget's module is larger than it should be");
        artefact
    };
    run(Command::new("wasm-bindgen").args(["--target", "web", "--no-typescript", "--out-dir"]).arg(&out).arg(&input))?;
    if input.starts_with(&out) {
        let _ = std::fs::remove_file(&input);
    }
    // Names, producers and target features: the browser needs none of them.
    let wasm = out.join("widget_shell_bg.wasm");
    let stripped = crate::sdk::strip_custom_sections(&read(&wasm)?)?;
    std::fs::write(&wasm, stripped).map_err(|e| format!("cannot write {}: {e}", wasm.display()))?;
    std::fs::copy(root.join("widget-shell/js/widget.js"), out.join("widget.js")).map_err(|e| format!("cannot copy widget.js: {e}"))?;
    eprintln!("xtask: widget written to {}", out.display());
    Ok(out)
}

/// Builds both variants: the checks' (`target/widget-test/`) first, then the shipped one.
pub fn build_all(root: &Path) -> Result<(), String> {
    build(root, true)?;
    build(root, false).map(|_| ())
}

/// Prints the size of every file of the shipped widget; the last line is `widget gzip total:
/// N bytes (budget B)`. Fails when N is above [`WIDGET_BUDGET_GZIP`].
pub fn size(root: &Path) -> Result<u64, String> {
    let out = out_dir(root, false);
    let mut rows = Vec::new();
    for name in FILES {
        let bytes = read(&out.join(name))?;
        rows.push((name, bytes.len() as u64, gzip_len(&bytes)?));
    }
    let (text, total) = table(&rows);
    print!("{text}");
    check_budget(total)
}

/// The size table (ending with the total line) and the gzip total.
fn table(rows: &[(&str, u64, u64)]) -> (String, u64) {
    let total: u64 = rows.iter().map(|r| r.2).sum();
    let mut s = format!("{:<24}{:>10}{:>10}\n", "widget file", "raw", "gzip");
    for (name, raw, gzip) in rows {
        s += &format!("{name:<24}{raw:>10}{gzip:>10}\n");
    }
    s += &format!("widget gzip total: {total} bytes (budget {WIDGET_BUDGET_GZIP}, loaded lazily, not at page start)\n");
    (s, total)
}

fn check_budget(total: u64) -> Result<u64, String> {
    if total > WIDGET_BUDGET_GZIP {
        Err(format!("the widget is {total} bytes gzip, over its {WIDGET_BUDGET_GZIP}-byte budget"))
    } else {
        Ok(total)
    }
}

/// Runs the widget's Chromium checks (`widget-shell/test/run.mjs`) against both builds.
pub fn check(root: &Path) -> Result<(), String> {
    crate::services::ensure_chromium()?;
    run(Command::new("node")
        .current_dir(root)
        .env("SIQ_CHROMIUM", crate::services::chromium())
        .args(["--experimental-websocket", "widget-shell/test/run.mjs"]))
}

/// Gzip size at the best compression level.
fn gzip_len(bytes: &[u8]) -> Result<u64, String> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).and_then(|_| gz.finish()).map(|v| v.len() as u64).map_err(|e| format!("gzip: {e}"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_line_is_last_and_the_budget_is_enforced() {
        let (text, total) = table(&[("widget.js", 2000, 900), ("widget_shell_bg.wasm", 66000, 28000)]);
        assert_eq!(total, 28900);
        assert!(text.lines().last().unwrap().starts_with("widget gzip total: 28900 bytes (budget 40960"), "{text}");
        assert_eq!(check_budget(WIDGET_BUDGET_GZIP), Ok(WIDGET_BUDGET_GZIP));
        assert!(check_budget(WIDGET_BUDGET_GZIP + 1).is_err());
    }

    #[test]
    fn the_locked_wasm_bindgen_version_is_read_exactly() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"0.2.1\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(locked_version(lock, "web-sys"), None);
        // The workspace's own lock file pins the version the widget's Cargo.toml asks for.
        let root = crate::util::workspace_root();
        let toml = std::fs::read_to_string(root.join("widget-shell/Cargo.toml")).unwrap();
        let locked = locked_wasm_bindgen(&root).unwrap();
        assert!(toml.contains(&format!("wasm-bindgen = \"={locked}\"")), "widget-shell must pin wasm-bindgen = \"={locked}\"");
    }
}
