//! Building the browser SDK and measuring what it costs a page.
//!
//! `build` compiles `sdk-wasm` for `wasm32-unknown-unknown` with `--profile wasm`, drops the
//! wasm's custom sections (names, producers, target features: the browser needs none of them),
//! strips comments and whitespace from the two JS files, and writes everything the server
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

    for (name, src) in &FILES[..2] {
        let js = String::from_utf8(read(&root.join(src))?).map_err(|_| format!("{src} is not UTF-8"))?;
        let min = strip_js(&js).map_err(|e| format!("{src}: {e}"))?;
        eprintln!("xtask: {name} {} -> {} bytes (comments and whitespace stripped)", js.len(), min.len());
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

/// Runs `wasm-opt -Oz` when it is on PATH; `None` when it is not, fails, or does not help.
fn wasm_opt(wasm: &[u8], out: &Path) -> Result<Option<Vec<u8>>, String> {
    if Command::new("wasm-opt").arg("--version").output().is_err() && !crate::services::try_install_binaryen() {
        return Ok(None);
    }
    let (input, output) = (out.join("sdk.in.wasm"), out.join("sdk.opt.wasm"));
    write(&input, wasm)?;
    let mut cmd = Command::new("wasm-opt");
    cmd.arg("-Oz")
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

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Words after which a `/` starts a regular expression rather than a division.
const REGEX_AFTER_WORDS: [&str; 14] =
    ["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof", "yield", "await"];

/// Strips comments and needless whitespace from JavaScript, without renaming anything.
///
/// Safe by construction for what it accepts: string, template and regular-expression
/// literals are copied verbatim; a line break is kept wherever automatic semicolon insertion
/// could depend on it (it is dropped only after `{ ; , ( [ = : ? & | >` or before
/// `} ] ) , ; .`); a space is kept between two word characters and inside `+ +`, `- -` and
/// `1 .x`. Template literals with `${…}` substitutions are refused rather than guessed at.
pub fn strip_js(src: &str) -> Result<String, String> {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut gap: Option<bool> = None; // whitespace or comments skipped; Some(true): a line break
    let mut prev: Option<char> = None; // last character written
    let mut word = String::new(); // last word written
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c.is_whitespace() {
            gap = Some(gap == Some(true) || c == '\n' || c == '\r' || c == '\u{2028}' || c == '\u{2029}');
            i += 1;
            continue;
        }
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            gap = Some(gap == Some(true));
            continue;
        }
        if c == '/' && next == Some('*') {
            let end = (i + 2..s.len().saturating_sub(1)).find(|&j| s[j] == '*' && s[j + 1] == '/').ok_or("unterminated comment")?;
            let newline = s[i..end].contains(&'\n');
            gap = Some(gap == Some(true) || newline);
            i = end + 2;
            continue;
        }
        if let (Some(newline), Some(p)) = (gap, prev) {
            if newline && !"{;,([=:?&|>".contains(p) && !"}]),;.".contains(c) {
                out.push('\n');
            } else if (is_word(p) && is_word(c)) || (p == '+' && c == '+') || (p == '-' && c == '-') || (p.is_ascii_digit() && c == '.') {
                out.push(' ');
            }
        }
        gap = None;
        let start = i;
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                loop {
                    match s.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => i += 2,
                        Some('\n') if c != '`' => return Err("line break in a string".into()),
                        Some('$') if c == '`' && s.get(i + 1) == Some(&'{') => {
                            return Err("template substitutions (${…}) are not supported by the stripper".into())
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            '/' if prev.is_none_or(|p| "(,=:[!&|?{};+-*%<>~^".contains(p)) || REGEX_AFTER_WORDS.contains(&word.as_str()) => {
                let mut class = false;
                i += 1;
                loop {
                    match s.get(i) {
                        None | Some('\n') => return Err("unterminated regular expression".into()),
                        Some('\\') => i += 2,
                        Some('[') => {
                            class = true;
                            i += 1
                        }
                        Some(']') => {
                            class = false;
                            i += 1
                        }
                        Some('/') if !class => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                while i < s.len() && is_word(s[i]) {
                    i += 1; // flags
                }
            }
            _ if is_word(c) => {
                while i < s.len() && is_word(s[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        let end = i.min(s.len());
        let token: String = s[start..end].iter().collect();
        word = if is_word(c) { token.clone() } else { String::new() };
        out.push_str(&token);
        prev = token.chars().last();
    }
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
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
    fn js_comments_and_spaces_go_literals_stay() {
        let src = "/* head */\nconst a = 'x // not a comment', b = \"/* nor */\"; // tail\nlet c = a  +  b;\n";
        assert_eq!(strip_js(src).unwrap(), "const a='x // not a comment',b=\"/* nor */\";let c=a+b;\n");
        assert_eq!(strip_js("x = `a  /* b */`;").unwrap(), "x=`a  /* b */`;\n");
        assert!(strip_js("x = `${y}`").is_err());
        assert!(strip_js("x = 'open").is_err());
        assert!(strip_js("/* open").is_err());
    }

    #[test]
    fn js_regexes_and_divisions() {
        assert_eq!(strip_js("a = b / c / d;").unwrap(), "a=b/c/d;\n");
        assert_eq!(strip_js("s.replace(/ \\/ [/] /g, ' ')").unwrap(), "s.replace(/ \\/ [/] /g,' ')\n");
        assert_eq!(strip_js("return /x y/.test(s)").unwrap(), "return/x y/.test(s)\n");
        assert_eq!(strip_js("x = (a) / 2").unwrap(), "x=(a)/2\n");
    }

    #[test]
    fn js_line_breaks_survive_where_semicolons_may_be_inserted() {
        // `return` / `x` on two lines is `return; x;`, and `a` / `++b` is `a; ++b;`.
        assert_eq!(strip_js("return\nx").unwrap(), "return\nx\n");
        assert_eq!(strip_js("a\n++b").unwrap(), "a\n++b\n");
        assert_eq!(strip_js("f = () => {}\n(g)()").unwrap(), "f=()=>{}\n(g)()\n");
        assert_eq!(strip_js("if (a) {\n  b();\n}\nc()").unwrap(), "if(a){b();}\nc()\n");
        assert_eq!(strip_js("x = a\n  .b\n  .c").unwrap(), "x=a.b.c\n");
        assert_eq!(strip_js("a + +b; c - -d; 1 .toString()").unwrap(), "a+ +b;c- -d;1 .toString()\n");
        assert_eq!(strip_js("const  x  =  typeof  y").unwrap(), "const x=typeof y\n");
    }

    #[test]
    fn the_sdk_sources_strip_cleanly() {
        let root = crate::util::workspace_root();
        for (_, src) in &FILES[..2] {
            let js = std::fs::read_to_string(root.join(src)).unwrap();
            let min = strip_js(&js).unwrap();
            assert!(min.len() < js.len() * 3 / 4, "{src}: {} -> {}", js.len(), min.len());
            assert!(!min.contains("/*") && !min.contains("\n\n"), "{src}");
        }
    }
}
