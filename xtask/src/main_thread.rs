//! `cargo xtask bench main-thread`: what the loader costs the page's main thread per pointer
//! move, warm (the steady state of a moving pointer). Two pages in headless Chromium dispatch
//! the same 20,000 `pointermove` events (after 2,000 to warm up) over two elements, one page
//! without and one with `sdk.js`; the difference of the two per-event times is ours. The pages
//! print their figures into the DOM, read back with `--dump-dom`. Each page runs three rounds;
//! the median round counts.
//!
//! What this leaves out, on purpose: the first events (before the JIT warms up), and the one
//! timer a batch schedules (at most one per 16 ms, not per event). `cargo xtask bench peers`
//! measures real CDP input, cold code and timers included.

use std::path::Path;
use std::process::Command;

const ROUNDS: usize = 3;
const EVENTS: u32 = 20_000;

/// The page: `sdk` is the `<script>` tag of the SDK, or empty.
fn page(sdk: &str) -> String {
    format!(
        r#"<!doctype html><html><body><div data-siq-section="pricing"><div id="a">a</div></div><div id="b">b</div><pre id="out"></pre>
{sdk}<script>
const a = document.getElementById('a'), b = document.getElementById('b'), out = [];
const evs = [];
for (let i = 0; i < {EVENTS}; i++) evs.push(new PointerEvent('pointermove', {{ clientX: i % 500, clientY: 100, bubbles: true }}));
for (let i = 0; i < 2000; i++) (i & 64 ? a : b).dispatchEvent(evs[i]);
for (let r = 0; r < {ROUNDS}; r++) {{
  const t0 = performance.now();
  for (let i = 0; i < {EVENTS}; i++) (i & 64 ? a : b).dispatchEvent(evs[i]);
  out.push((performance.now() - t0) * 1e6 / {EVENTS});
}}
document.getElementById('out').textContent = 'ns=' + out.join(',');
</script></body></html>"#
    )
}

/// Runs `html` in headless Chromium and returns the median ns per event.
fn measure(dir: &Path, name: &str, html: &str) -> Result<f64, String> {
    let file = dir.join(format!("{name}.html"));
    std::fs::write(&file, html).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let profile = dir.join(format!("profile-{name}"));
    let _ = std::fs::remove_dir_all(&profile);
    let chromium = crate::services::chromium();
    let out = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        .args(["--no-first-run", "--disable-sync", "--allow-file-access-from-files"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .map_err(|e| format!("cannot run {chromium}: {e}"))?;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    let ns = dom.split("ns=").nth(1).and_then(|s| s.split('<').next()).ok_or_else(|| format!("{name}: no figures in the page"))?;
    let mut v: Vec<f64> = ns.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    if v.len() != ROUNDS {
        return Err(format!("{name}: expected {ROUNDS} rounds, got {ns:?}"));
    }
    v.sort_by(f64::total_cmp);
    Ok(v[ROUNDS / 2])
}

pub fn bench(root: &Path) -> Result<(), String> {
    let sdk = crate::sdk::build(root)?;
    crate::services::ensure_chromium()?;
    let dir = root.join("target").join("bench-main-thread");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tag = format!(r#"<script src="file://{}" data-key="pk_bench"></script>"#, sdk.join("sdk.js").display());
    let without = measure(&dir, "without", &page(""))?;
    let with = measure(&dir, "with", &page(&tag))?;
    println!("main thread per pointermove (warm, {EVENTS} events, median of {ROUNDS} rounds):");
    println!("  page alone        {without:>7.0} ns");
    println!("  page + sdk.js     {with:>7.0} ns");
    println!("ours per pointer move: {:.2} us (budget 2 us)", (with - without) / 1000.0);
    Ok(())
}
