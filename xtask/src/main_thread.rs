//! `cargo xtask bench main-thread`: what the loader costs the page's main thread per pointer
//! move, at the rate a real pointer moves, with everything a move sets off: the `pointermove`
//! handler, the `pointerover` section lookup when the pointer crosses into another element, the
//! `mouseout` check when it leaves one, the 16 ms flush timer, the flush's `postMessage` of the
//! batch to the worker, the worker's reports back (its `onmessage`), and the garbage all that
//! leaves.
//!
//! How. The real server runs (debug build, SQLite in `target/tmp/`) with a tenant made through
//! its API and serves two pages that differ only in the SDK's `<script>` tag: a grid of cells in
//! four `data-siq-section`s and some cells in none. The page alone, the page with `sdk.js`, and
//! a control (the page with a bare timer scheduled as the loader's flush is, a 16 ms
//! `setTimeout` armed by a move when none is pending, whose callback does nothing: what the
//! platform charges for the timer task alone) take turns in one headless Chromium (driven over
//! the DevTools protocol on a pipe, `--remote-debugging-pipe`), several rounds each, in an order
//! that turns each round. In each run a seeded
//! virtual pointer makes minimum-jerk reaches between random points of the grid, one move every
//! 8 ms (a 120 Hz pointer) or every 16 ms (60 Hz: Chromium hands a page one `pointermove` per
//! animation frame), on a clock-corrected timer. On every move the page finds the element under
//! the point (`elementFromPoint`, the hit test the browser does for real input), and when it
//! changed dispatches `pointerout`, `mouseout`, `pointerover` and `mouseover` as the browser
//! would, then `pointermove` and `mousemove`. The SDK's worker runs and streams frames to the
//! server as on a real page. What counts is Chromium's own accounting of the page's main thread
//! (`Performance.getMetrics` before and after the run): `TaskDuration` (every task: events,
//! timers, messages, garbage collection), with `ScriptDuration` and `ThreadTime` (the main
//! thread's CPU time, which a busy machine's preemption does not inflate) beside it. Ours per
//! move is the difference of the two pages' per-move figures in the same round; the median over
//! rounds is printed with its range. Wrappers of `Worker` and its `postMessage`, in every page,
//! count the flushes (the batches posted), the rows in them and the worker's messages back.
//!
//! The old figure is printed too: the same 20,000 `pointermove`s dispatched in one synchronous
//! loop, warm (`--dump-dom` of a `file://` page), which measures the handler alone: the flush
//! timer never runs inside the loop and no `pointerover` is dispatched.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Rounds of the real-rate bench, each running both pages.
const RATE_ROUNDS: usize = 3;
/// Moves per real-rate run.
const MOVES: u32 = 1_500;
/// The intervals between moves, ms.
const INTERVALS_MS: [u32; 2] = [8, 16];
/// Time the page is left to settle after load (the worker loads its second module a second
/// after start), ms.
const SETTLE_MS: u32 = 3_000;
/// The main-thread budget per pointer event (README "Budgets"), µs.
const BUDGET_US: f64 = 2.0;

/// The real-rate pages: alone, with a bare timer, with the SDK.
const PAGES: [&str; 3] = ["alone.html", "timer.html", "sdk.html"];
/// The control: what the loader's flush timer costs without the loader. The same scheduling
/// (a 16 ms timer armed by a move when none is pending), a callback that does nothing.
const BARE_TIMER: &str =
    "<script>{ let t = 0; addEventListener('pointermove', () => { t = t || setTimeout(() => { t = 0; }, 16); }, { capture: true, passive: true }); }</script>";

const ROUNDS: usize = 3;
const EVENTS: u32 = 20_000;

/// The synchronous page: `sdk` is the `<script>` tag of the SDK, or empty.
fn sync_page(sdk: &str) -> String {
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

/// The real-rate page: `sdk` is the `<script>` tag of the SDK, or empty. `window.__bench.run(n,
/// every, seed)` moves the pointer `n` times, one move every `every` ms, and resolves to a JSON
/// string of what happened.
fn rate_page(sdk: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>main-thread bench</title>
<style>
body {{ margin: 0; font: 14px sans-serif; }}
section, .plain {{ display: grid; grid-template-columns: repeat(6, 1fr); gap: 6px; padding: 6px; }}
.cell {{ height: 40px; background: #eee; }}
</style>
<script>
(() => {{
  const count = (window.__posts = {{ batches: 0, rows: 0, names: 0, replies: 0 }});
  const W = window.Worker;
  window.Worker = function (url, options) {{
    const w = new W(url, options);
    w.addEventListener('message', () => (count.replies += 1));
    return w;
  }};
  window.Worker.prototype = W.prototype;
  const post = W.prototype.postMessage;
  W.prototype.postMessage = function (m, t) {{
    if (m && m.b instanceof ArrayBuffer) {{
      count.batches += 1;
      count.rows += m.b.byteLength / 20;
      count.names += (m.s || []).length;
    }}
    return post.apply(this, arguments);
  }};
}})();
</script>
{sdk}</head><body>
<section data-siq-section="pricing"></section>
<section data-siq-section="plans"></section>
<div class="plain"></div>
<section data-siq-section="faq"></section>
<section data-siq-section="reviews"></section>
<script>
for (const s of document.querySelectorAll('section, .plain'))
  for (let i = 0; i < 12; i++) s.appendChild(Object.assign(document.createElement('div'), {{ className: 'cell', textContent: s.dataset.siqSection || '' }}));
const bench = (window.__bench = {{ ready: false }});
const started = () => !document.querySelector('script[data-key]') || (window.SentientIQ && !Array.isArray(window.SentientIQ));
const wait = () => (started() ? setTimeout(() => (bench.ready = true), {SETTLE_MS}) : setTimeout(wait, 50));
addEventListener('load', wait);
bench.run = (n, every, seed) => new Promise((done) => {{
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const w = innerWidth - 20, h = Math.min(innerHeight, document.body.scrollHeight) - 20;
  const ev = (C, type, x, y, related) => new C(type, {{ clientX: x, clientY: y, bubbles: true, cancelable: true, composed: true, pointerId: 1, pointerType: 'mouse', isPrimary: true, relatedTarget: related }});
  let from = [10 + rnd() * w, 10 + rnd() * h], to = from, k = 0, steps = 1, over = null, crossings = 0, late = 0;
  const t0 = performance.now();
  const move = (i) => {{
    if (k >= steps) {{
      from = to;
      to = [10 + rnd() * w, 10 + rnd() * h];
      steps = Math.max(2, Math.round((250 + rnd() * 650) / every));
      k = 0;
    }}
    k += 1;
    const u = k / steps, m = u * u * u * (10 - 15 * u + 6 * u * u);
    const x = from[0] + (to[0] - from[0]) * m, y = from[1] + (to[1] - from[1]) * m;
    const el = document.elementFromPoint(x, y) || document.body;
    if (el !== over) {{
      if (over) {{
        over.dispatchEvent(ev(PointerEvent, 'pointerout', x, y, el));
        over.dispatchEvent(ev(MouseEvent, 'mouseout', x, y, el));
      }}
      el.dispatchEvent(ev(PointerEvent, 'pointerover', x, y, over));
      el.dispatchEvent(ev(MouseEvent, 'mouseover', x, y, over));
      over = el;
      crossings += 1;
    }}
    el.dispatchEvent(ev(PointerEvent, 'pointermove', x, y, null));
    el.dispatchEvent(ev(MouseEvent, 'mousemove', x, y, null));
  }};
  let i = 0;
  const tick = () => {{
    late += performance.now() - (t0 + i * every);
    move(i);
    i += 1;
    if (i < n) setTimeout(tick, Math.max(0, t0 + i * every - performance.now()));
    // The last batch's timer runs before the figures are read.
    else setTimeout(() => done(JSON.stringify({{ moves: n, crossings, ms: performance.now() - t0, late: late / n, ...window.__posts }})), 100);
  }};
  tick();
}});
</script></body></html>"#
    )
}

/// Runs `html` in headless Chromium with `--dump-dom` and returns the median ns per event.
fn measure_sync(dir: &Path, name: &str, html: &str) -> Result<f64, String> {
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

/// A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// commands in on fd 3, replies out on fd 4, each message ending with a NUL byte). A shell puts
/// our pipes on those descriptors, so no WebSocket client is needed.
struct Browser {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
    next: u64,
    session: String,
}

impl Browser {
    fn launch(profile: &Path) -> Result<Browser, String> {
        let chromium = crate::services::chromium();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null 2>/dev/null"#)
            .arg(&chromium)
            .args(["--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-extensions", "--mute-audio"])
            .args(["--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {chromium}: {e}"))?;
        let to = child.stdin.take().ok_or("no pipe to the browser")?;
        let from = BufReader::new(child.stdout.take().ok_or("no pipe from the browser")?);
        let mut b = Browser { child, to, from, next: 0, session: String::new() };
        let target = b.call(false, "Target.createTarget", r#"{"url":"about:blank"}"#)?;
        let target = string_field(&target, "targetId").ok_or_else(|| format!("no targetId in {target}"))?;
        let attached = b.call(false, "Target.attachToTarget", &format!(r#"{{"targetId":"{target}","flatten":true}}"#))?;
        b.session = string_field(&attached, "sessionId").ok_or_else(|| format!("no sessionId in {attached}"))?;
        b.call(true, "Performance.enable", "{}")?;
        Ok(b)
    }

    /// Sends one command (to the page's session when `page`) and returns its reply.
    fn call(&mut self, page: bool, method: &str, params: &str) -> Result<String, String> {
        self.next += 1;
        let id = self.next;
        let session = if page { format!(r#","sessionId":"{}""#, self.session) } else { String::new() };
        let msg = format!(r#"{{"id":{id},"method":"{method}","params":{params}{session}}}"#);
        self.to.write_all(msg.as_bytes()).and_then(|()| self.to.write_all(b"\0")).map_err(|e| format!("{method}: {e}"))?;
        let head = format!(r#"{{"id":{id},"#);
        loop {
            let mut buf = Vec::new();
            if self.from.read_until(0, &mut buf).map_err(|e| format!("{method}: {e}"))? == 0 {
                return Err(format!("{method}: the browser closed its pipe"));
            }
            buf.pop();
            let reply = String::from_utf8_lossy(&buf).into_owned();
            if reply.starts_with(&head) {
                return if reply.contains(r#""error":{"#) && !reply.contains(r#""result":"#) {
                    Err(format!("{method}: {reply}"))
                } else {
                    Ok(reply)
                };
            }
        }
    }

    /// Evaluates `expr` in the page (awaiting a promise) and returns its string value.
    fn eval(&mut self, expr: &str) -> Result<String, String> {
        let params = format!(r#"{{"expression":{},"awaitPromise":true,"returnByValue":true}}"#, json_string(expr));
        let reply = self.call(true, "Runtime.evaluate", &params)?;
        if reply.contains(r#""exceptionDetails""#) {
            return Err(format!("{expr}: {reply}"));
        }
        let at = reply.find(r#""value":"#).ok_or_else(|| format!("{expr}: no value in {reply}"))?;
        let rest = &reply[at + 8..];
        Ok(match rest.strip_prefix('"') {
            Some(_) => string_field(&reply, "value").unwrap_or_default(),
            None => rest.split([',', '}']).next().unwrap_or("").to_string(),
        })
    }

    /// `TaskDuration`, `ScriptDuration` and `ThreadTime` of the page's main thread so far, s.
    fn metrics(&mut self) -> Result<[f64; 3], String> {
        let reply = self.call(true, "Performance.getMetrics", "{}")?;
        let get = |name: &str| {
            let key = format!(r#""name":"{name}","value":"#);
            let at = reply.find(&key).ok_or_else(|| format!("no {name} in Performance.getMetrics"))?;
            let v = reply[at + key.len()..].split(['}', ',']).next().unwrap_or("");
            v.parse::<f64>().map_err(|e| format!("{name} {v:?}: {e}"))
        };
        Ok([get("TaskDuration")?, get("ScriptDuration")?, get("ThreadTime")?])
    }

    fn goto(&mut self, url: &str) -> Result<(), String> {
        // The page before must not pass for the next one while it loads.
        self.eval("String(!!window.__bench && !(window.__bench.ready = false))")?;
        self.call(true, "Page.navigate", &format!(r#"{{"url":{}}}"#, json_string(url)))?;
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if self.eval("String(!!(window.__bench && window.__bench.ready))").is_ok_and(|v| v == "true") {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(format!("{url}: not ready within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call(false, "Browser.close", "{}");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The first string field `key` of a JSON text, unescaped (the escapes JSON.stringify and the
/// DevTools protocol write for ASCII text).
fn string_field(json: &str, key: &str) -> Option<String> {
    let pat = format!(r#""{key}":""#);
    let mut chars = json[json.find(&pat)? + pat.len()..].chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

/// The number field `key` of a flat JSON object.
fn number_field(json: &str, key: &str) -> f64 {
    let pat = format!(r#""{key}":"#);
    json.find(&pat).and_then(|at| json[at + pat.len()..].split([',', '}']).next()).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// A POST with a bearer token to the local server; the response body.
fn post(base: &str, path: &str, bearer: &str, body: &str) -> Result<String, String> {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| format!("POST {path}: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| format!("POST {path}: {e}"))?;
    if !out.starts_with("HTTP/1.1 2") {
        return Err(format!("POST {path}: {}", out.lines().next().unwrap_or("")));
    }
    Ok(out.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string()))
}

/// One run of a page: main-thread seconds (task, script, thread CPU) and the page's JSON.
struct Run {
    main: [f64; 3],
    page: String,
}

fn run_page(b: &mut Browser, url: &str, every: u32, seed: u32) -> Result<Run, String> {
    b.goto(url)?;
    let before = b.metrics()?;
    let page = b.eval(&format!("window.__bench.run({MOVES}, {every}, {seed})"))?;
    let after = b.metrics()?;
    Ok(Run { main: [after[0] - before[0], after[1] - before[1], after[2] - before[2]], page })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// µs per move of `runs`' main-thread figure `i`.
fn per_move(r: &Run, i: usize) -> f64 {
    r.main[i] * 1e6 / f64::from(MOVES)
}

pub fn bench(root: &Path) -> Result<(), String> {
    let sdk = crate::sdk::build(root)?;
    crate::services::ensure_chromium()?;
    let dir = root.join("target").join("bench-main-thread");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    // The real rate, against the real server serving both pages from its site folder.
    let bin = crate::package::server_binary(root)?;
    let scratch = crate::package::scratch(root, "bench-main-thread")?;
    let site = scratch.join("site");
    std::fs::create_dir_all(&site).map_err(|e| format!("cannot create {}: {e}", site.display()))?;
    // The server inherits it (start_server sets what it needs and passes the rest on).
    std::env::set_var("SIQ_SITE_DIR", &site);
    let server = crate::package::start_server(root, &bin, &scratch)?;
    let tenant = post(&server.url, "/v1/admin/tenants", &server.admin_token, r#"{"name":"Main-thread bench"}"#)?;
    let key = string_field(&tenant, "site_key").ok_or_else(|| format!("no site_key in {tenant}"))?;
    std::fs::write(site.join("alone.html"), rate_page("")).map_err(|e| e.to_string())?;
    std::fs::write(site.join("timer.html"), rate_page(BARE_TIMER)).map_err(|e| e.to_string())?;
    std::fs::write(site.join("sdk.html"), rate_page(&format!(r#"<script src="/sdk.js" data-key="{key}" async></script>"#)))
        .map_err(|e| e.to_string())?;
    let profile = scratch.join("profile");
    let mut browser = Browser::launch(&profile)?;
    let mut lines = Vec::new();
    for every in INTERVALS_MS {
        let (mut alone, mut with, mut ours, mut timer, mut script, mut cpu) = (vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut flushes, mut rows, mut crossings, mut names, mut replies) = (vec![], vec![], vec![], vec![], vec![]);
        for round in 0..RATE_ROUNDS {
            let seed = 1 + round as u32;
            // The three pages in an order that turns each round.
            let mut runs: [Option<Run>; 3] = [None, None, None];
            for k in 0..3 {
                let page = (k + round) % 3;
                runs[page] = Some(run_page(&mut browser, &format!("{}/{}", server.url, PAGES[page]), every, seed)?);
            }
            let [Some(a), Some(t), Some(w)] = runs else { unreachable!("every page ran") };
            eprintln!(
                "xtask: every {every} ms, round {}: page alone {} | bare timer {} | with sdk.js {}",
                round + 1,
                a.page,
                t.page,
                w.page
            );
            if number_field(&w.page, "batches") < 1.0 {
                return Err(format!("the SDK posted no batch: {}", w.page));
            }
            alone.push(per_move(&a, 0));
            with.push(per_move(&w, 0));
            ours.push(per_move(&w, 0) - per_move(&a, 0));
            timer.push(per_move(&t, 0) - per_move(&a, 0));
            script.push(per_move(&w, 1) - per_move(&a, 1));
            cpu.push(per_move(&w, 2) - per_move(&a, 2));
            flushes.push(number_field(&w.page, "batches"));
            rows.push(number_field(&w.page, "rows"));
            crossings.push(number_field(&w.page, "crossings"));
            names.push(number_field(&w.page, "names"));
            replies.push(number_field(&w.page, "replies"));
        }
        let range = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
            format!("{lo:.2}–{hi:.2}")
        };
        let ours_range = range(&ours);
        lines.push(format!(
            "every {every:>2} ms, {MOVES} moves x {RATE_ROUNDS} rounds: page alone {:.1} us/move, page + sdk.js {:.1} us/move; \
             ours {:.2} us/move (rounds {ours_range}; script {:.2}, thread CPU {:.2}; a bare 16 ms timer as the flush's {:.2}); \
             flushes {:.0} a run, {:.0} rows, {:.0} pointerovers, {:.0} sections named, {:.0} messages from the worker",
            median(&mut alone),
            median(&mut with),
            median(&mut ours),
            median(&mut script),
            median(&mut cpu),
            median(&mut timer),
            median(&mut flushes),
            median(&mut rows),
            median(&mut crossings),
            median(&mut names),
            median(&mut replies),
        ));
    }
    drop(browser);
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);

    // The old figure: warm, one synchronous loop.
    let tag = format!(r#"<script src="file://{}" data-key="pk_bench"></script>"#, sdk.join("sdk.js").display());
    let without = measure_sync(&dir, "without", &sync_page(""))?;
    let with = measure_sync(&dir, "with", &sync_page(&tag))?;

    println!("main thread per pointer move at a real rate (Chromium TaskDuration, with sdk.js minus the page alone, median of rounds):");
    for l in lines {
        println!("  {l}");
    }
    println!(
        "warm synchronous loop ({EVENTS} pointermoves, no flush, no pointerover, median of {ROUNDS}): page alone {without:.0} ns, \
         page + sdk.js {with:.0} ns, ours {:.2} us",
        (with - without) / 1000.0
    );
    println!("budget: {BUDGET_US} us per pointer event (README, Budgets)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_fields_are_read_and_unescaped() {
        let j = r#"{"id":3,"result":{"result":{"type":"string","value":"{\"moves\":5,\"a\":\"x\\\\y\"}"}}}"#;
        assert_eq!(string_field(j, "value").as_deref(), Some(r#"{"moves":5,"a":"x\\y"}"#));
        assert_eq!(string_field(j, "type").as_deref(), Some("string"));
        assert_eq!(string_field(j, "none"), None);
        assert_eq!(string_field(r#"{"targetId":"A\u0042"}"#, "targetId").as_deref(), Some("AB"));
    }

    #[test]
    fn number_fields_and_json_strings() {
        assert_eq!(number_field(r#"{"moves":1500,"late":0.25}"#, "late"), 0.25);
        assert_eq!(number_field(r#"{"moves":1500}"#, "moves"), 1500.0);
        assert!(number_field("{}", "moves").is_nan());
        assert_eq!(json_string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
