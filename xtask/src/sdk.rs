//! Building the browser SDK and measuring what it costs a page.
//!
//! `build` compiles `sdk-wasm` for `wasm32-unknown-unknown` with `--profile wasm`, drops the
//! wasm's custom sections (names, producers, target features: the browser needs none of them),
//! minifies the two JS files (oxc: comments, whitespace and dead code go, local names shorten;
//! [`minify_js`]), and writes everything the server
//! serves into `target/sdk/`. `wasm-opt` (Debian's binaryen, installed on first use when
//! apt can) shrinks the module further; the SDK still builds without it, and the budget must
//! hold without it too.
//!
//! `size` prints raw and gzip bytes of every file loaded at page start and fails above
//! [`BUDGET_GZIP_BYTES`]; it also prints the module with every emotion that the worker loads
//! after page start ([`EMOTIONS_WASM`], built from the same crate with feature `emotions`),
//! which has its own budget.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hard budget: everything loaded at page start (loader + worker + wasm), gzip.
pub const BUDGET_GZIP_BYTES: u64 = 8192;

const TARGET: &str = "wasm32-unknown-unknown";

/// `(served file name, source)`, in load order. The wasm's source is the cargo artefact.
const FILES: [(&str, &str); 3] =
    [("sdk.js", "sdk-wasm/js/loader.js"), ("sdk-worker.js", "sdk-wasm/js/worker.js"), ("sdk.wasm", "sdk_wasm.wasm")];

/// How the two JS files of [`FILES`] run: the loader in the host page, the worker on its own.
const JS_KINDS: [JsKind; 2] = [JsKind::Page, JsKind::Worker];

/// The folder the server serves the SDK from.
pub fn out_dir(root: &Path) -> PathBuf {
    root.join("target").join("sdk")
}

/// The module the worker loads after page start (every emotion): not in the page-start budget,
/// it has its own, [`EMOTIONS_BUDGET_GZIP_BYTES`].
pub const EMOTIONS_WASM: &str = "sdk-emotions.wasm";
/// Budget of [`EMOTIONS_WASM`], gzip. 8,704 since hesitation reads returns to earlier rests
/// (117 bytes over the 8,448 it had); 8,448 since it carries rage too (the page-start module
/// no longer detects anything: 1.7 KB gzip off the page start, 1.5 KB off the whole SDK).
pub const EMOTIONS_BUDGET_GZIP_BYTES: u64 = 8704;

/// Compiles `sdk-wasm` with `features` and writes the shrunk module to `out/name`.
fn build_module(root: &Path, out: &Path, name: &str, features: &[&str]) -> Result<(), String> {
    let mut cmd = crate::util::cargo();
    cmd.current_dir(root).args(["build", "-p", "sdk-wasm", "--target", TARGET, "--profile", "wasm"]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    crate::util::run(&mut cmd)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target_dir = if target_dir.is_absolute() { target_dir } else { root.join(target_dir) };
    let artefact = target_dir.join(TARGET).join("wasm").join("sdk_wasm.wasm");
    let built = read(&artefact)?;
    let mut wasm = strip_custom_sections(&built)?;
    eprintln!("xtask: {name} {} bytes from cargo, {} without custom sections", built.len(), wasm.len());
    if let Some(smaller) = wasm_opt(&wasm, out)? {
        eprintln!("xtask: wasm-opt (Debian's binaryen): {} -> {} bytes", wasm.len(), smaller.len());
        wasm = smaller;
    }
    write(&out.join(name), &wasm)
}

/// Builds `target/sdk/{sdk.js, sdk-worker.js, sdk.wasm, sdk-emotions.wasm}`.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    crate::util::ensure_target(TARGET)?;
    let out = out_dir(root);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    // The emotions module first, so the cargo artefact left behind is the page-start one.
    build_module(root, &out, EMOTIONS_WASM, &["emotions"])?;
    build_module(root, &out, "sdk.wasm", &[])?;

    for ((name, src), kind) in FILES[..2].iter().zip(JS_KINDS) {
        let js = String::from_utf8(read(&root.join(src))?).map_err(|_| format!("{src} is not UTF-8"))?;
        let min = minify_js(&js, kind).map_err(|e| format!("{src}: {e}"))?;
        eprintln!("xtask: {name} {} -> {} bytes (minified by oxc)", js.len(), min.len());
        write(&out.join(name), min.as_bytes())?;
    }
    eprintln!("xtask: SDK written to {}", out.display());
    Ok(out)
}

/// Prints the size table of `target/sdk/`; its last line is `sdk gzip total: N bytes`. Fails
/// when N is above [`BUDGET_GZIP_BYTES`].
pub fn size(root: &Path) -> Result<u64, String> {
    let out = out_dir(root);
    let mut rows = Vec::new();
    for (name, _) in FILES {
        let bytes = read(&out.join(name))?;
        rows.push(Row { name, raw: bytes.len() as u64, gzip: gzip_len(&bytes)? });
    }
    let lazy = read(&out.join(EMOTIONS_WASM))?;
    let lazy_gzip = gzip_len(&lazy)?;
    println!(
        "after page start: {EMOTIONS_WASM} {} raw, {lazy_gzip} gzip (own budget {EMOTIONS_BUDGET_GZIP_BYTES}; the worker loads it once running)",
        lazy.len()
    );
    if lazy_gzip > EMOTIONS_BUDGET_GZIP_BYTES {
        return Err(format!("{EMOTIONS_WASM} is {lazy_gzip} bytes gzip, over its {EMOTIONS_BUDGET_GZIP_BYTES}-byte budget"));
    }
    let (table, total) = table(&rows);
    print!("{table}");
    check_budget(total)
}

/// One line of the size table.
struct Row {
    name: &'static str,
    raw: u64,
    gzip: u64,
}

/// The table text (ending with the total line) and the gzip total.
fn table(rows: &[Row]) -> (String, u64) {
    let total: u64 = rows.iter().map(|r| r.gzip).sum();
    let mut s = format!("{:<16}{:>10}{:>10}\n", "file", "raw", "gzip");
    for r in rows {
        s += &format!("{:<16}{:>10}{:>10}\n", r.name, r.raw, r.gzip);
    }
    s += &format!("{:<16}{:>10}{:>10}\n", "total", rows.iter().map(|r| r.raw).sum::<u64>(), total);
    s += &format!("sdk gzip total: {total} bytes\n");
    (s, total)
}

fn check_budget(total: u64) -> Result<u64, String> {
    if total > BUDGET_GZIP_BYTES {
        Err(format!("the SDK is {total} bytes gzip, over the {BUDGET_GZIP_BYTES}-byte budget"))
    } else {
        Ok(total)
    }
}

/// Gzip size at the best compression level.
fn gzip_len(bytes: &[u8]) -> Result<u64, String> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).and_then(|_| gz.finish()).map(|v| v.len() as u64).map_err(|e| format!("gzip: {e}"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes through a temporary file and a rename, so a running server never serves half a file.
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs `wasm-opt -Oz --converge` when it is on PATH; `None` when it is not, fails, or does not help.
fn wasm_opt(wasm: &[u8], out: &Path) -> Result<Option<Vec<u8>>, String> {
    if Command::new("wasm-opt").arg("--version").output().is_err() && !crate::services::try_install_binaryen() {
        return Ok(None);
    }
    let (input, output) = (out.join("sdk.in.wasm"), out.join("sdk.opt.wasm"));
    write(&input, wasm)?;
    let mut cmd = Command::new("wasm-opt");
    // `--converge` runs the passes again until the module stops shrinking: 21 gzip bytes off
    // the emotions module, 5 off the page-start one, in well under a second.
    cmd.args(["-Oz", "--converge"])
        .args(["--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-mutable-globals"])
        .args(["--enable-reference-types", "--enable-multivalue", "--strip-debug", "--strip-producers"])
        .arg(&input)
        .arg("-o")
        .arg(&output);
    let result = match crate::util::run(&mut cmd) {
        Ok(()) => read(&output).and_then(|w| strip_custom_sections(&w)).map(Some),
        Err(e) => {
            eprintln!("xtask: wasm-opt failed, keeping the cargo build: {e}");
            Ok(None)
        }
    };
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    Ok(result?.filter(|w| w.len() < wasm.len()))
}

/// Reads an unsigned LEB128 at `b[*at..]`.
fn leb128(b: &[u8], at: &mut usize) -> Result<usize, String> {
    let mut v = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at).ok_or("truncated wasm")?;
        *at += 1;
        v |= ((byte & 0x7f) as usize) << shift;
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err("bad LEB128 in wasm".into())
}

/// The module without its custom sections (id 0: `name`, `producers`, `target_features`, …),
/// which a browser never needs.
pub fn strip_custom_sections(wasm: &[u8]) -> Result<Vec<u8>, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut out = wasm[..8].to_vec();
    let mut at = 8;
    while at < wasm.len() {
        let start = at;
        let id = wasm[at];
        at += 1;
        let len = leb128(wasm, &mut at)?;
        let end = at.checked_add(len).filter(|&e| e <= wasm.len()).ok_or("truncated wasm section")?;
        if id != 0 {
            out.extend_from_slice(&wasm[start..end]);
        }
        at = end;
    }
    Ok(out)
}

/// How a JavaScript file runs, which decides what its minifier may rename.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JsKind {
    /// A classic script in the host page: its top-level names would be the page's globals, so
    /// they keep their names (the loader's are none: it is one arrow function called at once).
    Page,
    /// A worker's classic script: its top-level names are the worker's own.
    Worker,
    /// An ES module: its top-level names are its own too.
    Module,
}

/// Minifies JavaScript with oxc (parser, minifier, code generator): dead code and needless
/// syntax go, local names shorten (top-level ones too, except in a [`JsKind::Page`] script);
/// property names, strings and `'use strict'` stay. A syntax error is an error naming the line.
pub fn minify_js(src: &str, kind: JsKind) -> Result<String, String> {
    use oxc_minifier::{CompressOptions, MangleOptions, Minifier, MinifierOptions};
    let alloc = oxc_allocator::Allocator::default();
    let source = match kind {
        JsKind::Page | JsKind::Worker => oxc_span::SourceType::script(),
        JsKind::Module => oxc_span::SourceType::mjs(),
    };
    let parsed = oxc_parser::Parser::new(&alloc, src, source).parse();
    if let Some(e) = parsed.errors.first() {
        let at = e.labels.as_ref().and_then(|l| l.first()).map_or(0, |l| l.offset());
        let line = src[..at.min(src.len())].matches('\n').count() + 1;
        return Err(format!("line {line}: {e}"));
    }
    let mut program = parsed.program;
    let mangle = MangleOptions { top_level: Some(kind != JsKind::Page), ..MangleOptions::default() };
    let options = MinifierOptions { mangle: Some(mangle), compress: Some(CompressOptions::default()) };
    let done = Minifier::new(options).minify(&alloc, &mut program);
    let code =
        oxc_codegen::Codegen::new().with_options(oxc_codegen::CodegenOptions::minify()).with_scoping(done.scoping).build(&program).code;
    Ok(code + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_the_last_line_and_the_budget_is_enforced() {
        let rows = [Row { name: "sdk.js", raw: 3000, gzip: 1200 }, Row { name: "sdk.wasm", raw: 9000, gzip: 4000 }];
        let (text, total) = table(&rows);
        assert_eq!(total, 5200);
        assert_eq!(text.lines().last(), Some("sdk gzip total: 5200 bytes"));
        assert!(text.contains("sdk.wasm"));
        assert_eq!(check_budget(BUDGET_GZIP_BYTES), Ok(BUDGET_GZIP_BYTES));
        assert!(check_budget(BUDGET_GZIP_BYTES + 1).is_err());
    }

    #[test]
    fn gzip_is_measured_at_best_compression() {
        let zeros = vec![0u8; 100_000];
        let n = gzip_len(&zeros).unwrap();
        assert!(n > 18 && n < 200, "{n}");
    }

    #[test]
    fn custom_sections_are_dropped_and_the_rest_kept() {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[0, 5, 4, b'n', b'a', b'm', b'e']); // custom "name", empty payload
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type section: one () -> ()
        m.extend_from_slice(&[0, 0x81, 0x00]); // a custom section with a two-byte length of 1 …
        m.push(0); // … holding an empty name
        let out = strip_custom_sections(&m).unwrap();
        assert_eq!(out, b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0".to_vec());
        assert!(strip_custom_sections(b"not wasm").is_err());
        assert!(strip_custom_sections(&m[..m.len() - 2]).is_err());
    }

    #[test]
    fn js_is_minified_and_keeps_what_the_page_sees() {
        let src = "/* head */\n'use strict';\nconst long_name = 'x // not a comment';\nfunction helper(value) { return value + long_name; }\nself.onmessage = (e) => helper(e.data);\n";
        let own = minify_js(src, JsKind::Worker).unwrap();
        assert!(own.starts_with("\"use strict\";") && own.contains("x // not a comment"), "{own}");
        assert!(!own.contains("long_name") && !own.contains("helper") && own.contains("self.onmessage"), "{own}");
        let page = minify_js("var kept_global = 1;\n((w) => { const inner = w.x; w.y = inner + 1; })(window);\n", JsKind::Page).unwrap();
        assert!(page.contains("kept_global") && !page.contains("inner") && page.contains(".y"), "{page}");
        let bad = minify_js("const a = 1;\nconst = 2;\n", JsKind::Worker).unwrap_err();
        assert!(bad.starts_with("line 2:"), "{bad}");
    }

    #[test]
    fn the_sdk_sources_minify_cleanly() {
        let root = crate::util::workspace_root();
        for ((_, src), kind) in FILES[..2].iter().zip(JS_KINDS) {
            let js = std::fs::read_to_string(root.join(src)).unwrap();
            let min = minify_js(&js, kind).unwrap();
            assert!(min.len() < js.len() / 2, "{src}: {} -> {}", js.len(), min.len());
            assert!(!min.contains("/*") && !min.contains("\n\n"), "{src}");
        }
    }
}
