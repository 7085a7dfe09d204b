//! `cargo xtask bench main-thread`: what the loader costs the page's main thread per pointer
//! move, at the rate a real pointer moves, with everything a move sets off: the `pointermove`
//! handler, the `pointerover` section lookup when the pointer crosses into another element, the
//! `mouseout` check when it leaves one, the batches posted to the worker (from a move's handler
//! or a timer), the worker's messages back (the loader's `onmessage`), and the garbage all that
//! leaves.
//!
//! How. The real server runs (debug build, SQLite in `target/tmp/`) with a tenant made through
//! its API and serves pages that differ only in a `<script>` tag: a grid of cells 10 elements
//! deep, in four `data-siq-section`s, in a `form id="checkout"` (a landmark: its id names the
//! section) and in a plain block in neither. The page alone, the page with `sdk.js`, and a
//! control (the page with `bare-timer.js`: a 16 ms `setTimeout` armed by a move when none is
//! pending, whose callback does nothing, a timer task per animation frame of movement, as the
//! loader's flush was until it posted from the move handler), and a second control (the page
//! with `bare-listeners.js`: listeners of `pointermove`, `pointerover` and `mouseout`, the
//! events of a move the loader listens to, with its options, doing nothing: the floor any
//! listening script pays) take turns in one headless Chromium (driven over the DevTools
//! protocol on a pipe, `--remote-debugging-pipe`), several rounds each, in an order that turns
//! each round. `SIQ_BENCH_ALSO=DIR` adds a page with another build's
//! `sdk.js` and `sdk-worker.js` (say the previous commit's `target/sdk`), so that a change is
//! measured side by side with what it replaces in the same run. In each run a seeded virtual
//! pointer makes minimum-jerk reaches between random points of the grid, one move every 8 ms (a
//! 120 Hz pointer) or every 16 ms (60 Hz: Chromium hands a page one `pointermove` per animation
//! frame), on a clock-corrected timer. On every move the page finds the element under the point
//! (`elementFromPoint`, the hit test the browser does for real input), and when it changed
//! dispatches `pointerout`, `mouseout`, `pointerover` and `mouseover` as the browser would, then
//! `pointermove` and `mousemove`. The SDK's worker runs and streams frames to the server as on a
//! real page.
//!
//! What counts, in two parts that add up to the figure per move. This bench's own move costs
//! the page alone 350–550 µs of main-thread time here (the hit test, six synthetic events, its
//! timer), and on a shared 2-core machine that moves by tens of µs from run to run, so the
//! difference of two pages (`Performance.getMetrics`: `ThreadTime`, the main thread's CPU time,
//! and `TaskDuration`, the wall time of its tasks, which preemption inflates) cannot resolve a
//! few µs: the control came out anywhere from 4 to 200 µs per move. Both are printed, per round
//! against the page alone of the same round, but the figure is made of:
//! * **the tasks the script runs on its own**, read from a DevTools trace of each run
//!   (`Tracing.start`): the thread time (`tdur`) of the main-thread tasks in which the script's
//!   code ran and the bench's move did not: the flush timers and the worker's messages, each
//!   with the task's own cost around the script (scheduling, the message's deserialisation, a
//!   microtask checkpoint), which here is most of it, 100–150 µs a task. The same count for
//!   `bare-timer.js` is the control. Tracing itself slows every task a little, on every page
//!   alike.
//! * **its listeners inside the moves** (called from the bench's `dispatchEvent`, so not in the
//!   trace): the same seeded pointer's moves (6,000 a round: the run's 1,500 and more), their
//!   events made beforehand, are dispatched warm in one synchronous loop per round, each
//!   carrying the time it would have at the real rate (an own `timeStamp` property), so the
//!   loader does what it does at that rate: coalesces moves to one per 16 ms, looks up the
//!   section of every `pointerover`, and posts a batch to the worker from the handler of the
//!   move that finds it 70 ms old (the `postMessage`, copy and transfer included). What counts
//!   is the main thread's CPU time over the loop (`ThreadTime` before and after it), not the
//!   loop's wall time: the replay hands the worker 48–96 s of movement's batches in 40–60 ms,
//!   and on 2 cores the worker, the network process and the server then take the main thread's
//!   core from it (wall time came out 1–2 µs per move above CPU time). The page alone's loop is
//!   subtracted, round by round; the second control's is the floor.
//!
//! The section lookup is also measured on its own: 20,000 `pointerover`s on one cell in each
//! kind of block, CPU time, page minus page alone. Wrappers of `Worker` and its `postMessage`,
//! in every page, count the batches posted, the rows in them and the worker's messages back
//! (their few hundred ns run inside the loader's own tasks and listeners and count as its own).

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
const PAGES: [&str; 4] = ["alone.html", "timer.html", "listeners.html", "sdk.html"];
/// The pages of the controls, which post no batch.
const CONTROLS: [&str; 3] = ["alone.html", "timer.html", "listeners.html"];
/// The other control: listeners of the three events a move dispatches that the loader listens
/// to (`pointermove`; `pointerover` and `mouseout` when it crosses into another element), with
/// the loader's options, each doing nothing: what having listeners at all costs.
const BARE_LISTENERS: &str =
    "{ const o = { capture: true, passive: true }; for (const t of ['pointermove', 'pointerover', 'mouseout']) addEventListener(t, () => {}, o); }";
/// The control: a timer task per animation frame of movement, doing nothing (what the loader's
/// flush timer cost before it posted from the move handler): a 16 ms timer armed by a move when
/// none is pending. Served as its own file so that the trace can tell its tasks.
const BARE_TIMER: &str =
    "{ let t = 0; addEventListener('pointermove', () => { t = t || setTimeout(() => { t = 0; }, 16); }, { capture: true, passive: true }); }";
/// The trace's categories: tasks, timers, function calls (with their script's URL).
const TRACE_CATEGORIES: &str = r#"["toplevel","devtools.timeline","disabled-by-default-devtools.timeline"]"#;

/// Rounds of each replay (after one that warms the page up).
const REPLAY_ROUNDS: usize = 7;
/// Moves per replay round: the real-rate run's moves and more of the same pointer's, so that a
/// round lasts long enough for the page's clock (100 µs steps) to time it.
const REPLAY_MOVES: u32 = 6_000;
/// `pointerover`s per lookup measurement.
const OVERS: u32 = 20_000;
/// The blocks whose first cell the lookup measurement enters: ours, a landmark, neither.
const LOOKUPS: [(&str, &str); 3] = [
    ("[data-siq-section=pricing]", "in a data-siq-section"),
    ("#checkout", "in form#checkout"),
    (".plain", "in neither, 12 elements deep"),
];

/// The real-rate page: `sdk` is the `<script>` tag of the SDK, or empty. `window.__bench.run(n,
/// every, seed)` moves the pointer `n` times, one move every `every` ms, and resolves to a JSON
/// string of what happened; `window.__bench.prepare(n, every, seed)` makes the same moves'
/// events, each stamped with the time it would have at that rate, and `window.__bench.
/// prepareOver(sel, n)` `n` `pointerover`s on the first cell of the block `sel` names;
/// `window.__bench.dispatch()` dispatches what was prepared in one synchronous loop.
///
/// The cells sit 10 elements deep (as a page's content does): in four `data-siq-section`s, in a
/// `form id="checkout"` (a landmark, named by its id), and in a plain block in neither (where
/// the section lookup walks to the root twice).
fn rate_page(sdk: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>main-thread bench</title>
<style>
body {{ margin: 0; font: 14px sans-serif; }}
section, form, .plain {{ display: grid; grid-template-columns: repeat(6, 1fr); gap: 6px; padding: 6px; }}
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
<div><div><div><div><div><div><div><div id="content">
<section data-siq-section="pricing"></section>
<section data-siq-section="plans"></section>
<div class="plain"></div>
<form id="checkout"></form>
<section data-siq-section="faq"></section>
<section data-siq-section="reviews"></section>
</div></div></div></div></div></div></div></div>
<script>
for (const s of document.querySelectorAll('section, form, .plain'))
  for (let i = 0; i < 12; i++) s.appendChild(Object.assign(document.createElement('div'), {{ className: 'cell', textContent: s.dataset.siqSection || s.id }}));
const bench = (window.__bench = {{ ready: false }});
const started = () => !document.querySelector('script[data-key]') || (window.SentientIQ && !Array.isArray(window.SentientIQ));
const wait = () => (started() ? setTimeout(() => (bench.ready = true), {SETTLE_MS}) : setTimeout(wait, 50));
addEventListener('load', wait);
const ev = (C, type, x, y, related) => new C(type, {{ clientX: x, clientY: y, bubbles: true, cancelable: true, composed: true, pointerId: 1, pointerType: 'mouse', isPrimary: true, relatedTarget: related }});
// A seeded pointer making minimum-jerk reaches between random points of the page, one position
// per call, `every` ms apart.
const pointer = (every, seed) => {{
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const w = innerWidth - 20, h = Math.min(innerHeight, document.body.scrollHeight) - 20;
  let from = [10 + rnd() * w, 10 + rnd() * h], to = from, k = 0, steps = 1;
  return () => {{
    if (k >= steps) {{
      from = to;
      to = [10 + rnd() * w, 10 + rnd() * h];
      steps = Math.max(2, Math.round((250 + rnd() * 650) / every));
      k = 0;
    }}
    k += 1;
    const u = k / steps, m = u * u * u * (10 - 15 * u + 6 * u * u);
    return [from[0] + (to[0] - from[0]) * m, from[1] + (to[1] - from[1]) * m];
  }};
}};
// The seeded pointer's moves as the browser dispatches them: each call of the function returned
// takes the next position, finds the element under it (the hit test of real input) and hands
// `send(target, event class, type, x, y, related)` pointerout, mouseout, pointerover and
// mouseover when that element changed, then pointermove and mousemove; its `crossings()` counts
// the changes.
const mover = (every, seed, send) => {{
  const next = pointer(every, seed);
  let over = null, crossings = 0;
  const step = () => {{
    const [x, y] = next();
    const el = document.elementFromPoint(x, y) || document.body;
    if (el !== over) {{
      if (over) {{
        send(over, PointerEvent, 'pointerout', x, y, el);
        send(over, MouseEvent, 'mouseout', x, y, el);
      }}
      send(el, PointerEvent, 'pointerover', x, y, over);
      send(el, MouseEvent, 'mouseover', x, y, over);
      over = el;
      crossings += 1;
    }}
    send(el, PointerEvent, 'pointermove', x, y, null);
    send(el, MouseEvent, 'mousemove', x, y, null);
  }};
  step.crossings = () => crossings;
  return step;
}};
// The events of `n` moves, made beforehand; `stamp(i, event)` may set the event's time. Element
// and event alternate in the list.
const moves = (n, every, seed, stamp) => {{
  const list = [];
  let i = 0;
  const step = mover(every, seed, (target, C, type, x, y, related) => list.push(target, stamp(i, ev(C, type, x, y, related))));
  for (; i < n; i++) step();
  return {{ list, crossings: step.crossings() }};
}};
bench.run = (n, every, seed) => new Promise((done) => {{
  const move = mover(every, seed, (target, C, type, x, y, related) => target.dispatchEvent(ev(C, type, x, y, related)));
  let late = 0;
  const t0 = performance.now();
  let i = 0;
  const tick = () => {{
    late += performance.now() - (t0 + i * every);
    move();
    i += 1;
    if (i < n) setTimeout(tick, Math.max(0, t0 + i * every - performance.now()));
    // The last batch's timer runs before the figures are read.
    else setTimeout(() => done(JSON.stringify({{ moves: n, crossings: move.crossings(), ms: performance.now() - t0, late: late / n, ...window.__posts }})), 100);
  }};
  tick();
}});
// The same moves, dispatched warm in one loop (`dispatch()`), made beforehand (`prepare()`):
// what the script's listeners cost inside the moves, which a trace cannot tell from the bench's
// own. Each event carries the time it would have at the real rate (an own timeStamp property),
// later each round than any event before, so the loader coalesces moves and posts its batches as
// it does at that rate.
let replay = {{ list: [] }}, clock = 0;
bench.prepare = (n, every, seed) => {{
  // Rows never go back in time: each round's clock starts a second after the last round's end.
  const t0 = (clock = Math.max(clock, performance.now()) + 1000);
  clock += n * every;
  replay = moves(n, every, seed, (i, e) => Object.defineProperty(e, 'timeStamp', {{ value: t0 + i * every }}));
  return String(replay.crossings);
}};
// `n` pointerovers on the first cell of the block `sel` names: the section lookup alone.
bench.prepareOver = (sel, n) => {{
  const el = document.querySelector(sel).firstChild, list = [];
  for (let i = 0; i < n; i++) list.push(el, ev(PointerEvent, 'pointerover', 0, 0, null));
  replay = {{ list }};
  return String(n);
}};
bench.dispatch = () => {{
  const b0 = window.__posts.batches, list = replay.list, start = performance.now();
  for (let i = 0; i < list.length; i += 2) list[i].dispatchEvent(list[i + 1]);
  return JSON.stringify({{ ms: performance.now() - start, batches: window.__posts.batches - b0 }});
}};
</script></body></html>"#
    )
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
    /// Trace events received since the last [`Browser::trace_start`].
    trace: Vec<Event>,
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
        let mut b = Browser { child, to, from, next: 0, session: String::new(), trace: Vec::new() };
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
            let reply = self.read(method)?;
            if reply.starts_with(&head) {
                return if reply.contains(r#""error":{"#) && !reply.contains(r#""result":"#) {
                    Err(format!("{method}: {reply}"))
                } else {
                    Ok(reply)
                };
            }
        }
    }

    /// The next message from the browser; trace events are kept in `trace` on the way.
    fn read(&mut self, method: &str) -> Result<String, String> {
        let mut buf = Vec::new();
        if self.from.read_until(0, &mut buf).map_err(|e| format!("{method}: {e}"))? == 0 {
            return Err(format!("{method}: the browser closed its pipe"));
        }
        buf.pop();
        let msg = String::from_utf8_lossy(&buf).into_owned();
        if msg.starts_with(r#"{"method":"Tracing.dataCollected""#) {
            let parsed = Json::parse(&msg).ok_or_else(|| format!("{method}: a trace message that does not parse"))?;
            if let Some(Json::Arr(events)) = parsed.get("params").and_then(|p| p.get("value")) {
                self.trace.extend(events.iter().map(Event::from));
            }
        }
        Ok(msg)
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

    /// Starts tracing the browser (every process) with [`TRACE_CATEGORIES`].
    fn trace_start(&mut self) -> Result<(), String> {
        self.trace.clear();
        let params = format!(
            r#"{{"traceConfig":{{"includedCategories":{TRACE_CATEGORIES},"excludedCategories":["*"]}},"transferMode":"ReportEvents"}}"#
        );
        self.call(false, "Tracing.start", &params).map(|_| ())
    }

    /// Stops tracing and returns the events.
    fn trace_end(&mut self) -> Result<Vec<Event>, String> {
        self.call(false, "Tracing.end", "{}")?;
        while !self.read("Tracing.end")?.starts_with(r#"{"method":"Tracing.tracingComplete""#) {}
        Ok(std::mem::take(&mut self.trace))
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
    /// The tasks of the page's script run on their own (none for the page alone).
    own: Own,
    page: String,
}

/// Runs `page` (one of [`PAGES`], or `also.html`) and traces it.
fn run_page(b: &mut Browser, base: &str, page: &str, every: u32, seed: u32) -> Result<Run, String> {
    b.goto(&format!("{base}/{page}"))?;
    b.trace_start()?;
    let before = b.metrics()?;
    let out = b.eval(&format!("window.__bench.run({MOVES}, {every}, {seed})"))?;
    let after = b.metrics()?;
    let events = b.trace_end()?;
    let own = match page {
        "sdk.html" => own_tasks(&events, "/sdk.js"),
        "also.html" => own_tasks(&events, "/also/sdk.js"),
        "timer.html" => own_tasks(&events, "/bare-timer.js"),
        "listeners.html" => own_tasks(&events, "/bare-listeners.js"),
        _ => Own::default(),
    };
    Ok(Run { main: [after[0] - before[0], after[1] - before[1], after[2] - before[2]], own, page: out })
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `median (lowest–highest)` of `v`.
fn spread(v: &[f64]) -> String {
    let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    format!("{:.1} ({lo:.1}–{hi:.1})", median(v))
}

/// µs per move of `runs`' main-thread figure `i`.
fn per_move(r: &Run, i: usize) -> f64 {
    r.main[i] * 1e6 / f64::from(MOVES)
}

/// One timed loop of the events the page prepared: the main thread's CPU time over it
/// (`ThreadTime`), its wall time (the page's clock), both ms, and the batches the SDK posted.
/// The page's other tasks (the worker's messages, timers) run in the pauses around it.
fn dispatch(b: &mut Browser) -> Result<(f64, f64, f64), String> {
    std::thread::sleep(Duration::from_millis(200));
    let before = b.metrics()?;
    let out = b.eval("window.__bench.dispatch()")?;
    let after = b.metrics()?;
    std::thread::sleep(Duration::from_millis(100));
    Ok(((after[2] - before[2]) * 1e3, number_field(&out, "ms"), number_field(&out, "batches")))
}

/// What a replay measured: medians over its rounds.
#[derive(Debug)]
struct Replay {
    /// Main-thread CPU time per move, ns.
    cpu_ns: f64,
    /// Wall time per move, ns.
    wall_ns: f64,
    /// Batches the SDK posted a round.
    batches: f64,
    /// `pointerover`s a round.
    crossings: f64,
}

/// A replay of `REPLAY_MOVES` moves of the pointer `seed` at one per `every` ms, a warm-up round
/// and [`REPLAY_ROUNDS`] timed.
fn replay(b: &mut Browser, every: u32, seed: u32) -> Result<Replay, String> {
    let (mut cpu, mut wall, mut batches, mut crossings) = (Vec::new(), Vec::new(), Vec::new(), 0.0);
    for round in 0..=REPLAY_ROUNDS {
        let prepare = format!("window.__bench.prepare({REPLAY_MOVES}, {every}, {seed})");
        crossings = b.eval(&prepare)?.parse::<f64>().map_err(|e| format!("prepare: {e}"))?;
        let (cpu_ms, wall_ms, posted) = dispatch(b)?;
        if round > 0 {
            cpu.push(cpu_ms * 1e6 / f64::from(REPLAY_MOVES));
            wall.push(wall_ms * 1e6 / f64::from(REPLAY_MOVES));
            batches.push(posted);
        }
    }
    Ok(Replay { cpu_ns: median(&cpu), wall_ns: median(&wall), batches: median(&batches), crossings })
}

pub fn bench(root: &Path) -> Result<(), String> {
    crate::sdk::build(root)?;
    crate::services::ensure_chromium()?;

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
    let write = |name: &str, text: &str| std::fs::write(site.join(name), text).map_err(|e| format!("cannot write {name}: {e}"));
    write("alone.html", &rate_page(""))?;
    write("bare-timer.js", BARE_TIMER)?;
    write("timer.html", &rate_page(r#"<script src="/bare-timer.js"></script>"#))?;
    write("bare-listeners.js", BARE_LISTENERS)?;
    write("listeners.html", &rate_page(r#"<script src="/bare-listeners.js"></script>"#))?;
    write("sdk.html", &rate_page(&format!(r#"<script src="/sdk.js" data-key="{key}" async></script>"#)))?;
    // Another build of the loader and worker, side by side with this one (SIQ_BENCH_ALSO: a
    // folder holding its sdk.js and sdk-worker.js), its loader pointed at its own worker.
    let mut pages = PAGES.to_vec();
    if let Some(also) = std::env::var_os("SIQ_BENCH_ALSO") {
        let also = Path::new(&also);
        let read = |f: &str| std::fs::read_to_string(also.join(f)).map_err(|e| format!("SIQ_BENCH_ALSO: {f}: {e}"));
        let loader = read("sdk.js")?;
        if !loader.contains("/sdk-worker.js") {
            return Err("SIQ_BENCH_ALSO: its sdk.js does not name /sdk-worker.js".into());
        }
        std::fs::create_dir_all(site.join("also")).map_err(|e| e.to_string())?;
        write("also/sdk.js", &loader.replace("/sdk-worker.js", "/also/sdk-worker.js"))?;
        write("also/sdk-worker.js", &read("sdk-worker.js")?)?;
        write("also.html", &rate_page(&format!(r#"<script src="/also/sdk.js" data-key="{key}" async></script>"#)))?;
        pages.push("also.html");
    }
    let label = |page: &str| match page {
        "sdk.html" => "sdk.js",
        "listeners.html" => "control, bare listeners",
        _ => "SIQ_BENCH_ALSO's sdk.js",
    };
    let profile = scratch.join("profile");
    let mut browser = Browser::launch(&profile)?;
    let mut lines = Vec::new();
    for every in INTERVALS_MS {
        // Per page, per round.
        let mut runs: Vec<Vec<Run>> = pages.iter().map(|_| Vec::new()).collect();
        for round in 0..RATE_ROUNDS {
            let seed = 1 + round as u32;
            // The pages in an order that turns each round.
            for k in 0..pages.len() {
                let p = (k + round) % pages.len();
                let run = run_page(&mut browser, &server.url, pages[p], every, seed)?;
                eprintln!("xtask: every {every} ms, round {}: {} {}", round + 1, pages[p], run.page);
                if !CONTROLS.contains(&pages[p]) && number_field(&run.page, "batches") < 1.0 {
                    return Err(format!("{}: the SDK posted no batch: {}", pages[p], run.page));
                }
                runs[p].push(run);
            }
        }
        // The same moves replayed warm, synchronously, on every page but the timer's (its
        // listener is not what it stands for).
        let mut replays: Vec<Vec<Replay>> = pages.iter().map(|_| Vec::new()).collect();
        for round in 0..RATE_ROUNDS {
            let seed = 1 + round as u32;
            for k in 0..pages.len() {
                let p = (k + round) % pages.len();
                if pages[p] == "timer.html" {
                    continue;
                }
                browser.goto(&format!("{}/{}", server.url, pages[p]))?;
                let figures = replay(&mut browser, every, seed)?;
                eprintln!("xtask: every {every} ms, replay {}: {} {figures:?}", round + 1, pages[p]);
                if !CONTROLS.contains(&pages[p]) && figures.batches < 1.0 {
                    return Err(format!("{}: the SDK posted no batch in a replay", pages[p]));
                }
                replays[p].push(figures);
            }
        }
        let alone = &runs[0];
        // Per round, page minus the page alone: thread CPU, task time.
        let minus = |r: &[Run], i: usize| -> Vec<f64> { r.iter().zip(alone).map(|(w, a)| per_move(w, i) - per_move(a, i)).collect() };
        let own = |r: &[Run]| -> Vec<f64> { r.iter().map(|w| w.own.cpu_us / f64::from(MOVES)).collect() };
        let med = |r: &[Run], key: &str| median(&r.iter().map(|w| number_field(&w.page, key)).collect::<Vec<_>>());
        // Per round, the replay's ns per move minus the page alone's, in µs.
        let handlers = |p: usize| -> Vec<f64> { replays[p].iter().zip(&replays[0]).map(|(w, a)| (w.cpu_ns - a.cpu_ns) / 1000.0).collect() };
        let handlers_wall =
            |p: usize| -> Vec<f64> { replays[p].iter().zip(&replays[0]).map(|(w, a)| (w.wall_ns - a.wall_ns) / 1000.0).collect() };
        lines.push(format!(
            "every {every:>2} ms, {MOVES} moves x {RATE_ROUNDS} rounds (us per move, median (range) of rounds); page alone: thread CPU {}, tasks {}; \
             its moves replayed warm: thread CPU {} ns per move, wall {}",
            spread(&alone.iter().map(|a| per_move(a, 2)).collect::<Vec<_>>()),
            spread(&alone.iter().map(|a| per_move(a, 0)).collect::<Vec<_>>()),
            spread(&replays[0].iter().map(|a| a.cpu_ns).collect::<Vec<_>>()),
            spread(&replays[0].iter().map(|a| a.wall_ns).collect::<Vec<_>>()),
        ));
        lines.push(format!(
            "  control, a bare 16 ms timer: its own tasks {} ({:.0} a run); page minus alone: thread CPU {}, tasks {}",
            spread(&own(&runs[1])),
            median(&runs[1].iter().map(|w| w.own.tasks as f64).collect::<Vec<_>>()),
            spread(&minus(&runs[1], 2)),
            spread(&minus(&runs[1], 0)),
        ));
        for (p, name) in pages.iter().enumerate().skip(2) {
            let r = &runs[p];
            let (tasks, inside) = (own(r), handlers(p));
            let total: Vec<f64> = tasks.iter().zip(&inside).map(|(a, b)| a + b).collect();
            lines.push(format!(
                "  {}: in all {} = its listeners inside the moves {} ({:.0} pointerovers, {:.0} batches posted in {REPLAY_MOVES} moves; wall time {}) + its own tasks {} \
                 ({:.0} a run: flush timers, the worker's messages)",
                label(name),
                spread(&total),
                spread(&inside),
                median(&replays[p].iter().map(|w| w.crossings).collect::<Vec<_>>()),
                median(&replays[p].iter().map(|w| w.batches).collect::<Vec<_>>()),
                spread(&handlers_wall(p)),
                spread(&tasks),
                median(&r.iter().map(|w| w.own.tasks as f64).collect::<Vec<_>>()),
            ));
            lines.push(format!(
                "    page minus alone: thread CPU {}, tasks {}, script {}; {:.0} batches a run, {:.0} rows, {:.0} pointerovers, {:.0} messages from the worker",
                spread(&minus(r, 2)),
                spread(&minus(r, 0)),
                spread(&minus(r, 1)),
                med(r, "batches"),
                med(r, "rows"),
                med(r, "crossings"),
                med(r, "replies"),
            ));
        }
    }
    // The section lookup on its own: pointerovers on one cell, the page alone against each SDK.
    let mut lookups: Vec<Vec<Vec<f64>>> = pages.iter().map(|_| LOOKUPS.iter().map(|_| Vec::new()).collect()).collect();
    for round in 0..RATE_ROUNDS {
        for k in 0..pages.len() {
            let p = (k + round) % pages.len();
            if pages[p] == "timer.html" {
                continue;
            }
            browser.goto(&format!("{}/{}", server.url, pages[p]))?;
            for (l, (sel, _)) in LOOKUPS.iter().enumerate() {
                // Warm, then timed.
                browser.eval(&format!("window.__bench.prepareOver({}, {OVERS})", json_string(sel)))?;
                dispatch(&mut browser)?;
                let (ms, _, _) = dispatch(&mut browser)?;
                lookups[p][l].push(ms * 1e6 / f64::from(OVERS));
            }
        }
    }
    for (p, name) in pages.iter().enumerate().skip(2) {
        let each: Vec<String> = LOOKUPS
            .iter()
            .enumerate()
            .map(|(l, (_, what))| {
                let us: Vec<f64> = lookups[p][l].iter().zip(&lookups[0][l]).map(|(w, a)| (w - a) / 1000.0).collect();
                format!("{what} {}", spread(&us))
            })
            .collect();
        lines.push(format!(
            "{}: the section lookup, {OVERS} pointerovers on one cell x {RATE_ROUNDS} rounds, minus the page alone (us each): {}",
            label(name),
            each.join(", ")
        ));
    }
    drop(browser);
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "main thread per pointer move at a real rate, the loader's listeners (the moves replayed warm, synchronously, each event stamped with \
         its real-rate time: the main thread's CPU time over the loop, page minus the page alone) plus the tasks it ran on its own (DevTools trace: their thread time); \
         Performance.getMetrics' ThreadTime and TaskDuration, page minus the page alone in the same round, beside:"
    );
    for l in lines {
        println!("  {l}");
    }
    println!("budget: {BUDGET_US} us per pointer event (README, Budgets)");
    Ok(())
}

/// A JSON value, as much of JSON as the DevTools protocol's trace events need.
#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Option<Json> {
        let b = text.as_bytes();
        let mut at = 0;
        Json::value(b, &mut at)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn num(&self, key: &str) -> f64 {
        match self.get(key) {
            Some(Json::Num(v)) => *v,
            _ => 0.0,
        }
    }

    fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Json::Str(v)) => v,
            _ => "",
        }
    }

    fn value(b: &[u8], at: &mut usize) -> Option<Json> {
        while b.get(*at)?.is_ascii_whitespace() {
            *at += 1;
        }
        match b[*at] {
            b'{' => {
                *at += 1;
                let mut fields = Vec::new();
                loop {
                    match Json::value(b, at)? {
                        Json::Str(k) => {
                            Json::expect(b, at, b':')?;
                            fields.push((k, Json::value(b, at)?));
                        }
                        Json::Null if b[*at - 1] == b'}' && fields.is_empty() => return Some(Json::Obj(fields)),
                        _ => return None,
                    }
                    match Json::next_of(b, at, b',', b'}')? {
                        b',' => continue,
                        _ => return Some(Json::Obj(fields)),
                    }
                }
            }
            b'[' => {
                *at += 1;
                let mut items = Vec::new();
                loop {
                    match Json::value(b, at)? {
                        Json::Null if b[*at - 1] == b']' && items.is_empty() => return Some(Json::Arr(items)),
                        v => items.push(v),
                    }
                    match Json::next_of(b, at, b',', b']')? {
                        b',' => continue,
                        _ => return Some(Json::Arr(items)),
                    }
                }
            }
            // An empty object or array: its closing bracket stands where a value would.
            b'}' | b']' => {
                *at += 1;
                Some(Json::Null)
            }
            b'"' => {
                *at += 1;
                let mut out = String::new();
                loop {
                    let start = *at;
                    while !matches!(b.get(*at)?, b'"' | b'\\') {
                        *at += 1;
                    }
                    out.push_str(std::str::from_utf8(&b[start..*at]).ok()?);
                    if b[*at] == b'"' {
                        *at += 1;
                        return Some(Json::Str(out));
                    }
                    *at += 2;
                    match *b.get(*at - 1)? {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = std::str::from_utf8(b.get(*at..*at + 4)?).ok()?;
                            *at += 4;
                            // A surrogate half (only in text we do not read) becomes U+FFFD.
                            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?).unwrap_or('\u{fffd}'));
                        }
                        c => out.push(c as char),
                    }
                }
            }
            b't' | b'f' | b'n' => {
                let word = b[*at..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
                let v = match &b[*at..*at + word] {
                    b"true" => Json::Bool(true),
                    b"false" => Json::Bool(false),
                    b"null" => Json::Null,
                    _ => return None,
                };
                *at += word;
                Some(v)
            }
            _ => {
                let len = b[*at..].iter().take_while(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')).count();
                let v = std::str::from_utf8(&b[*at..*at + len]).ok()?.parse().ok()?;
                *at += len;
                Some(Json::Num(v))
            }
        }
    }

    fn expect(b: &[u8], at: &mut usize, c: u8) -> Option<()> {
        (Json::next_of(b, at, c, c)? == c).then_some(())
    }

    /// Skips whitespace and consumes `a` or `b`, returning which.
    fn next_of(b: &[u8], at: &mut usize, x: u8, y: u8) -> Option<u8> {
        while b.get(*at)?.is_ascii_whitespace() {
            *at += 1;
        }
        let c = b[*at];
        *at += 1;
        (c == x || c == y).then_some(c)
    }
}

/// One complete (`ph: "X"`) trace event, or a thread's name (`ph: "M"`), times in µs.
#[derive(Debug, Default)]
struct Event {
    name: String,
    ph: String,
    pid: u64,
    tid: u64,
    ts: f64,
    dur: f64,
    /// Thread (CPU) time of the event.
    tdur: f64,
    /// The thread's name (`thread_name`), or the URL of a `FunctionCall`'s script.
    url: String,
    function: String,
}

impl Event {
    fn from(v: &Json) -> Event {
        let args = v.get("args");
        let data = args.and_then(|a| a.get("data"));
        let url = match (v.str("name"), data) {
            ("thread_name", _) => args.map_or("", |a| a.str("name")),
            (_, Some(d)) => d.str("url"),
            _ => "",
        };
        Event {
            name: v.str("name").to_string(),
            ph: v.str("ph").to_string(),
            pid: v.num("pid") as u64,
            tid: v.num("tid") as u64,
            ts: v.num("ts"),
            dur: v.num("dur"),
            tdur: v.num("tdur"),
            url: url.to_string(),
            function: data.map_or("", |d| d.str("functionName")).to_string(),
        }
    }
}

/// The main-thread tasks a script ran in on its own: their count and thread time, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Own {
    tasks: usize,
    cpu_us: f64,
}

/// The tasks of the page's main thread (the renderer's `CrRendererMain` that fired the most
/// timers) in which a script whose URL ends with `script` ran and the bench's own move (`tick`
/// of the page) did not: the loader's flush timers and the worker's messages to it. What the
/// script does inside the bench's moves (its event listeners, called from the bench's
/// `dispatchEvent`) is not in the trace; the replay (`bench.replay` of the page) measures it.
fn own_tasks(events: &[Event], script: &str) -> Own {
    let mut best = None;
    let mut most = 0;
    for m in events.iter().filter(|e| e.ph == "M" && e.name == "thread_name" && e.url == "CrRendererMain") {
        let timers = events.iter().filter(|e| e.pid == m.pid && e.tid == m.tid && e.name == "TimerFire").count();
        if best.is_none() || timers > most {
            best = Some((m.pid, m.tid));
            most = timers;
        }
    }
    let Some((pid, tid)) = best else { return Own::default() };
    let mut mine: Vec<&Event> = events.iter().filter(|e| e.pid == pid && e.tid == tid && e.ph == "X").collect();
    mine.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let mut own = Own::default();
    for (i, task) in mine.iter().enumerate().filter(|(_, e)| e.name == "ThreadControllerImpl::RunTask") {
        let end = task.ts + task.dur;
        let (mut ours, mut bench) = (false, false);
        for e in mine[i + 1..].iter().take_while(|e| e.ts <= end).filter(|e| e.name == "FunctionCall") {
            ours |= e.url.ends_with(script);
            bench |= e.url.ends_with(".html") && e.function == "tick";
        }
        if ours && !bench {
            own.tasks += 1;
            own.cpu_us += task.tdur;
        }
    }
    own
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
    fn json_values_parse() {
        let v = Json::parse(r#"{"a":[1,-2.5e3,true,false,null,{},[]],"b":"x\"\\\n\u0041","c":{"d":"e"}}"#).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Json::Arr(vec![
                Json::Num(1.0),
                Json::Num(-2500.0),
                Json::Bool(true),
                Json::Bool(false),
                Json::Null,
                Json::Obj(vec![]),
                Json::Arr(vec![])
            ]))
        );
        assert_eq!(v.str("b"), "x\"\\\nA");
        assert_eq!(v.get("c").map(|c| c.str("d")), Some("e"));
        assert_eq!(v.num("none"), 0.0);
        assert_eq!(Json::parse(r#" [ 1 , "é" ] "#), Some(Json::Arr(vec![Json::Num(1.0), Json::Str("é".into())])));
        assert_eq!(Json::parse(r#"{"a" 1}"#), None);
        assert_eq!(Json::parse(r#"[1"#), None);
    }

    #[test]
    fn own_tasks_are_those_the_script_ran_without_the_bench() {
        let trace = r#"[
            {"name":"thread_name","ph":"M","pid":1,"tid":2,"args":{"name":"CrRendererMain"}},
            {"name":"thread_name","ph":"M","pid":9,"tid":2,"args":{"name":"CrRendererMain"}},
            {"name":"ThreadControllerImpl::RunTask","ph":"X","pid":1,"tid":2,"ts":100,"dur":50,"tdur":40},
            {"name":"TimerFire","ph":"X","pid":1,"tid":2,"ts":101,"dur":40,"tdur":30},
            {"name":"FunctionCall","ph":"X","pid":1,"tid":2,"ts":102,"dur":30,"tdur":20,"args":{"data":{"url":"http://h/sdk.js","functionName":"flush"}}},
            {"name":"ThreadControllerImpl::RunTask","ph":"X","pid":1,"tid":2,"ts":200,"dur":50,"tdur":45},
            {"name":"TimerFire","ph":"X","pid":1,"tid":2,"ts":201,"dur":40,"tdur":30},
            {"name":"FunctionCall","ph":"X","pid":1,"tid":2,"ts":202,"dur":30,"tdur":20,"args":{"data":{"url":"http://h/sdk.html","functionName":"tick"}}},
            {"name":"FunctionCall","ph":"X","pid":1,"tid":2,"ts":210,"dur":3,"tdur":2,"args":{"data":{"url":"http://h/sdk.js","functionName":"put"}}},
            {"name":"ThreadControllerImpl::RunTask","ph":"X","pid":1,"tid":2,"ts":300,"dur":20,"tdur":12},
            {"name":"FunctionCall","ph":"X","pid":1,"tid":2,"ts":301,"dur":9,"tdur":8,"args":{"data":{"url":"http://h/sdk.js","functionName":"worker.onmessage"}}},
            {"name":"ThreadControllerImpl::RunTask","ph":"X","pid":1,"tid":2,"ts":400,"dur":20,"tdur":7},
            {"name":"ThreadControllerImpl::RunTask","ph":"X","pid":9,"tid":2,"ts":100,"dur":20,"tdur":7},
            {"name":"FunctionCall","ph":"X","pid":9,"tid":2,"ts":101,"dur":9,"tdur":8,"args":{"data":{"url":"http://h/sdk.js","functionName":"flush"}}}
        ]"#;
        let Some(Json::Arr(events)) = Json::parse(trace) else { panic!("the trace parses") };
        let events: Vec<Event> = events.iter().map(Event::from).collect();
        // The renderer that fired timers; its first and third tasks, not the bench's move nor the
        // task without our script.
        assert_eq!(own_tasks(&events, "/sdk.js"), Own { tasks: 2, cpu_us: 52.0 });
        assert_eq!(own_tasks(&events, "/bare-timer.js"), Own::default());
    }

    #[test]
    fn number_fields_and_json_strings() {
        assert_eq!(number_field(r#"{"moves":1500,"late":0.25}"#, "late"), 0.25);
        assert_eq!(number_field(r#"{"moves":1500}"#, "moves"), 1500.0);
        assert!(number_field("{}", "moves").is_nan());
        assert_eq!(json_string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
