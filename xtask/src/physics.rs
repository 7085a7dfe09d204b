//! `cargo xtask bench physics`: what one pointer event costs the worker's physics, natively and
//! as the built wasm modules in Chromium, printed side by side in one run.
//!
//! * Natively: criterion, `shared-physics/benches/per_event.rs` (`Tracker::push` +
//!   `Detector::push` over a 4,096-sample stream), x86-64 release. Its mean per 4,096 samples is
//!   read back from `target/criterion/per_event/*/new/{benchmark,estimates}.json`.
//! * As wasm: `cargo xtask build-sdk`'s `sdk.wasm` (no detector, loaded at page start) and
//!   `sdk-emotions.wasm` (every emotion, loaded after), each run in headless Chromium **inside a
//!   dedicated Web Worker**, where the SDK runs them, through their real exports: a fresh
//!   instance, the `hello` the worker writes first, then `sample(kind, t, x, y, 1)` per event
//!   from JS, as the worker's batch handler calls it. The events are
//!   `shared_physics::synthetic::stream` (as in `per_event.rs`), its xorshift generator ported
//!   to JS ([`STREAM_JS`]; the page reports a checksum of what it
//!   generated and it must equal [`checksum`] of the Rust [`stream`], and each module's number of
//!   detections over the first 4,096 events must equal the native detector's). Each module warms
//!   up for at least [`WARM_MS`] (V8 compiles wasm with its baseline compiler first and tiers hot
//!   functions up), then [`ROUNDS`] rounds, the two modules interleaved; a round is a fresh
//!   instance fed the stream again and again, time continuing, for at least [`MIN_ROUND_MS`], and
//!   is timed with `performance.now()` (coarsened to 0.1 ms without cross-origin isolation:
//!   under 0.1% of a round). The median round counts.
//!
//! ## How the figures get out of Chromium
//!
//! A small HTTP server on 127.0.0.1 (std only, a thread per connection) serves the page, the
//! worker script and both modules from memory, and takes the figures back: the worker posts its
//! report to the page, which POSTs it to `/result`. Chromium is started on the page's URL in its
//! own process group and that group is stopped as soon as the result arrives, Chromium exits, or
//! [`TIMEOUT`] passes (an error that quotes the end of Chromium's log); its fresh profile lives in
//! a temporary folder removed afterwards.
//!
//! Why not `--dump-dom` on a `file://` page (a synchronous loop's figures in the DOM): Chromium dumps the DOM
//! once the page has loaded, so only figures computed synchronously on the main thread get out,
//! and a Worker answers asynchronously (a main thread busy-waiting for it would compete with it
//! for the CPU, and an error would leave nothing to report); Chromium also refuses a synchronous
//! `new WebAssembly.Module` above 4 KB on the main thread. Served over `http://` as
//! `application/wasm`, the modules are compiled from the streamed response as in the SDK's
//! worker (`compileStreaming` here, once per module, so every round can take a fresh instance;
//! `instantiateStreaming` there), and a failure in the worker comes back as an error report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use shared_physics::detect::{Detector, Params};
use shared_physics::Sample;

/// Events in the stream (`per_event.rs` feeds `stream(4096)` too).
const EVENTS: usize = 4096;
/// Timed rounds per module; the median counts.
const ROUNDS: usize = 9;
/// A timed round lasts at least this long (the stream is fed again until it does).
const MIN_ROUND_MS: u32 = 100;
/// Each module runs at least this long before the timed rounds.
const WARM_MS: u32 = 1000;
/// How long Chromium may take to report.
const TIMEOUT: Duration = Duration::from_secs(180);
/// The issue's target per pointer event.
const TARGET_NS: f64 = 1000.0;

/// The two modules: served name, what it detects, and the criterion benchmark's label.
const MODULES: [(&str, &str); 2] = [("sdk.wasm", "no detector"), ("sdk-emotions.wasm", "every emotion")];

/// The benchmarks' stream, [`shared_physics::synthetic::stream`] (the one `per_event.rs` feeds).
fn stream(n: usize) -> Vec<Sample> {
    shared_physics::synthetic::stream(n).collect()
}

/// FNV-1a over `kind, t, x, y` of every sample, 32-bit words (the JS computes the same).
fn checksum(samples: &[Sample]) -> u32 {
    samples
        .iter()
        .flat_map(|s| [s.kind as u32, s.t_ms, s.x as i32 as u32, s.y as i32 as u32])
        .fold(0x811c_9dc5u32, |h, v| (h ^ v).wrapping_mul(16_777_619))
}

/// Detections of a fresh detector over `samples` (what a fresh `sdk-emotions.wasm` must report
/// too; `sdk.wasm` has no detector and reports none).
fn detections(samples: &[Sample]) -> u32 {
    let mut d = Detector::new(Params::DEFAULT);
    samples.iter().filter(|s| d.push(**s).is_some()).count() as u32
}

/// The stream and its checksum in JS: [`stream`] and [`checksum`] line for line; `stream(n)`
/// returns an `Int32Array` of `kind, t, x, y` per sample (kinds numbered as `Kind`).
const STREAM_JS: &str = r#"
const stream = (n) => {
  const v = new Int32Array(n * 4);
  let x = 400, y = 300, t = 0, state = 0x2545f491;
  for (let i = 0; i < n; i++) {
    state = (state ^ (state << 13)) >>> 0;
    state = (state ^ (state >>> 17)) >>> 0;
    state = (state ^ (state << 5)) >>> 0;
    t += 16;
    const m = i % 64;
    const kind = m >= 59 ? 3 : m >= 20 && m <= 29 ? 4 : 0;
    if (kind == 4) y = (y + 40) % 3000;
    else if (kind == 0) {
      x = Math.min(Math.max(x + (state % 21) - 10, 0), 1400);
      y = Math.min(Math.max(y + ((state >>> 8) % 21) - 10, 0), 900);
    } else t += 120;
    v.set([kind, t, x, y], i * 4);
  }
  return v;
};
const checksum = (v) => v.reduce((h, w) => Math.imul(h ^ w, 16777619) >>> 0, 0x811c9dc5);
"#;

/// The worker: measures every module in `NAMES` and posts one report (see [`Report::parse`]).
const WORKER_JS: &str = r#"'use strict';
STREAM_JS
const EVENTS = %EVENTS%, ROUNDS = %ROUNDS%, MIN_ROUND_MS = %MIN_ROUND_MS%, WARM_MS = %WARM_MS%, NAMES = %NAMES%;
const S = stream(EVENTS);
const SPAN = S[S.length - 3] + 16; // one pass of the stream, in ms: the next starts 16 ms after
const enc = new TextEncoder();

// A fresh instance in its session state: the Hello the SDK's worker writes first.
const fresh = async (mod) => {
  const X = (await WebAssembly.instantiate(mod, {})).exports;
  const M = new Uint8Array(X.memory.buffer);
  const p = X.inp();
  const a = enc.encodeInto('pk_bench', M.subarray(p, p + 256)).written;
  const b = enc.encodeInto('/bench', M.subarray(p + a, p + a + 512)).written;
  if (!X.hello(0x2545f491, 7, 1, 2, 3, 4, a, b, 0)) throw 'hello wrote no frame';
  return X;
};

// A fresh instance fed `passes` passes of the stream, time continuing: [ms, frames of pass 1].
const session = async (mod, passes) => {
  if (passes * SPAN >= 2 ** 31) throw 'a round would overflow the u32 millisecond clock';
  const X = await fresh(mod);
  let first = 0;
  const t0 = performance.now();
  for (let k = 0; k < passes; k++) {
    const dt = k * SPAN;
    let frames = 0;
    for (let i = 0; i < S.length; i += 4) frames += X.sample(S[i], S[i + 1] + dt, S[i + 2], S[i + 3], 1) > 0 ? 1 : 0;
    if (k == 0) first = frames;
  }
  return [performance.now() - t0, first];
};

const main = async () => {
  const mods = [];
  for (const name of NAMES) {
    const res = await fetch('/' + name);
    if (!res.ok) throw name + ': HTTP ' + res.status;
    const mod = await WebAssembly.compileStreaming(res);
    // Warm up, doubling the passes until one session lasts a round's minimum.
    let passes = 1, spent = 0, ms = 0;
    while (ms < MIN_ROUND_MS || spent < WARM_MS) {
      [ms] = await session(mod, passes);
      spent += ms;
      if (ms < MIN_ROUND_MS) passes *= 2;
    }
    const [, detections] = await session(mod, 1);
    mods.push({ name, mod, passes, detections, ns: [] });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of mods) {
      const [ms] = await session(m.mod, m.passes);
      m.ns.push((ms * 1e6) / (m.passes * EVENTS));
    }
  }
  const out = ['ua=' + navigator.userAgent, 'stream=' + checksum(S)];
  for (const m of mods) out.push(`module=${m.name} detections=${m.detections} passes=${m.passes} ns=${m.ns.map((v) => v.toFixed(2)).join(',')}`);
  return out.join('\n');
};

main().then(
  (report) => postMessage(report),
  (e) => postMessage('error=' + String((e && e.stack) || e).replace(/\n/g, ' | ')),
);
"#;

/// The page: starts the worker and POSTs whatever it reports to `/result`.
const PAGE_HTML: &str = r#"<!doctype html><meta charset="utf-8"><title>SentientIQ physics in a Web Worker</title><script>
const send = (s) => fetch('/result', { method: 'POST', body: s });
const w = new Worker('/bench-worker.js');
w.onmessage = ({ data }) => send(data);
w.onerror = (e) => send('error=the worker failed: ' + (e.message || 'it did not load'));
</script>"#;

/// The worker script with the constants filled in.
fn worker_js() -> String {
    let names = format!("[{}]", MODULES.iter().map(|(n, _)| format!("'{n}'")).collect::<Vec<_>>().join(", "));
    WORKER_JS
        .replace("STREAM_JS", STREAM_JS.trim())
        .replace("%EVENTS%", &EVENTS.to_string())
        .replace("%ROUNDS%", &ROUNDS.to_string())
        .replace("%MIN_ROUND_MS%", &MIN_ROUND_MS.to_string())
        .replace("%WARM_MS%", &WARM_MS.to_string())
        .replace("%NAMES%", &names)
}

// ---- the report -------------------------------------------------------------------------------

/// One module's figures from the worker.
#[derive(Debug, PartialEq)]
struct ModuleRun {
    name: String,
    /// Frames `sample` wrote over the first pass of a fresh instance (detections).
    detections: u32,
    /// Passes of the stream per round.
    passes: u32,
    /// ns per event of each round, in the order run.
    rounds_ns: Vec<f64>,
}

impl ModuleRun {
    /// The median round, ns per event.
    fn median(&self) -> f64 {
        let mut v = self.rounds_ns.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

/// What the page POSTs back.
#[derive(Debug, PartialEq)]
struct Report {
    user_agent: String,
    checksum: u32,
    modules: Vec<ModuleRun>,
}

impl Report {
    /// Parses `ua=…`, `stream=<checksum>` and one `module=<name> detections=N passes=N
    /// ns=a,b,…` line per module; `error=…` (the worker failed) is an error.
    fn parse(text: &str) -> Result<Report, String> {
        if let Some(e) = text.strip_prefix("error=") {
            return Err(format!("the benchmark failed in Chromium: {e}"));
        }
        let mut report = Report { user_agent: String::new(), checksum: 0, modules: Vec::new() };
        let mut checksum = None;
        for line in text.lines() {
            if let Some(ua) = line.strip_prefix("ua=") {
                report.user_agent = ua.to_string();
            } else if let Some(c) = line.strip_prefix("stream=") {
                checksum = Some(c.trim().parse().map_err(|_| format!("bad stream checksum in {line:?}"))?);
            } else if line.starts_with("module=") {
                let field = |key: &str| {
                    line.split(' ').find_map(|f| f.strip_prefix(key)?.strip_prefix('=')).ok_or_else(|| format!("no {key} in {line:?}"))
                };
                let int = |key: &str| field(key)?.parse::<u32>().map_err(|_| format!("bad {key} in {line:?}"));
                let rounds_ns = field("ns")?
                    .split(',')
                    .map(|v| v.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| format!("bad rounds in {line:?}"))?;
                if rounds_ns.len() != ROUNDS {
                    return Err(format!("expected {ROUNDS} rounds in {line:?}"));
                }
                report.modules.push(ModuleRun {
                    name: field("module")?.to_string(),
                    detections: int("detections")?,
                    passes: int("passes")?,
                    rounds_ns,
                });
            }
        }
        report.checksum = checksum.ok_or_else(|| format!("no stream checksum in the report {text:?}"))?;
        if report.modules.len() != MODULES.len() {
            return Err(format!("expected {} modules in the report {text:?}", MODULES.len()));
        }
        Ok(report)
    }

    /// The Chromium version from the user agent (`…HeadlessChrome/156.0.0.0 …`: reduced to the
    /// major version), if there.
    fn chromium_version(&self) -> Option<&str> {
        let at = self.user_agent.find("Chrome/")? + "Chrome/".len();
        self.user_agent[at..].split(' ').next()
    }

    /// Fails unless the worker fed exactly the benchmarks' stream to both modules and they
    /// detected what the native detectors detect on it.
    fn check(&self, samples: &[Sample]) -> Result<(), String> {
        let want = checksum(samples);
        if self.checksum != want {
            return Err(format!(
                "the worker's stream differs from shared_physics::synthetic::stream (checksum {} != {want}): update STREAM_JS in xtask/src/physics.rs",
                self.checksum
            ));
        }
        let native = [0, detections(samples)];
        for ((m, (name, _)), n) in self.modules.iter().zip(MODULES).zip(native) {
            if m.name != name || m.detections != n {
                return Err(format!(
                    "{}: {} detections in the first {EVENTS} events where the native detector of {name} has {n}: the module does not run this build's physics",
                    m.name, m.detections
                ));
            }
        }
        Ok(())
    }
}

// ---- the native figures -----------------------------------------------------------------------

/// The number after `"key":`, searching for each key of `path` after the previous one.
fn json_number(text: &str, path: &[&str]) -> Option<f64> {
    let mut at = 0;
    for key in path {
        at += text[at..].find(&format!("\"{key}\""))? + key.len() + 2;
    }
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The string after `"key":` (no escapes: criterion's ids here have none).
fn json_str<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

/// ns per event of the criterion benchmark whose function id names `module`, from its
/// `benchmark.json` (throughput elements) and `estimates.json` (mean), if written since `since`.
fn native_ns(group: &Path, module: &str, since: SystemTime) -> Option<f64> {
    std::fs::read_dir(group).ok()?.flatten().find_map(|e| {
        let dir = e.path().join("new");
        let bench = std::fs::read_to_string(dir.join("benchmark.json")).ok()?;
        let id = json_str(&bench, "function_id")?;
        if !id.contains(&format!(", {module})")) {
            return None;
        }
        let estimates = dir.join("estimates.json");
        if estimates.metadata().and_then(|m| m.modified()).ok()? < since {
            return None;
        }
        let mean = json_number(&std::fs::read_to_string(&estimates).ok()?, &["mean", "point_estimate"])?;
        Some(mean / json_number(&bench, &["throughput", "Elements"])?)
    })
}

/// Where criterion writes: `CRITERION_HOME`, else `criterion/` in cargo's target folder.
fn criterion_dir(root: &Path) -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() { target } else { root.join(target) };
    target.join("criterion")
}

// ---- the table --------------------------------------------------------------------------------

/// The version `chromium --version` prints (`Chromium 156.0.8078.79 built on …`).
fn installed_chromium_version() -> Option<String> {
    let out = Command::new(crate::services::chromium()).arg("--version").stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words.next().filter(|w| w.starts_with("Chrom"))?;
    words.next().filter(|v| v.starts_with(|c: char| c.is_ascii_digit())).map(str::to_string)
}

/// The side-by-side table printed after criterion's output; `version` is Chromium's, when known
/// better than the user agent tells.
fn table(report: &Report, native: &[Option<f64>], version: Option<&str>) -> String {
    let chromium =
        version.or(report.chromium_version()).map(|v| format!("headless Chromium {v}")).unwrap_or_else(|| "headless Chromium".into());
    let mut s = format!(
        "physics per pointer event, wasm in {chromium} (Web Worker, median of {ROUNDS} rounds of the {EVENTS}-event stream repeated for ≥ {MIN_ROUND_MS} ms):\n"
    );
    s += &format!("  {:<36}{:>15}{:>15}{:>16}{:>13}\n", "module", "native (mean)", "wasm (median)", "wasm rounds", "wasm/native");
    for ((m, (name, what)), n) in report.modules.iter().zip(MODULES).zip(native) {
        let median = m.median();
        let lo = m.rounds_ns.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = m.rounds_ns.iter().copied().fold(0.0, f64::max);
        let (native, ratio) = match n {
            Some(n) => (format!("{n:.0} ns"), format!("{:.2}x", median / n)),
            None => ("n/a".into(), "".into()),
        };
        let over = if median > TARGET_NS || n.is_some_and(|n| n > TARGET_NS) { "  over the target" } else { "" };
        s += &format!(
            "  {:<36}{native:>15}{:>15}{:>16}{ratio:>13}{over}\n",
            format!("{name} ({what})"),
            format!("{median:.0} ns"),
            format!("{lo:.0}-{hi:.0} ns"),
        );
    }
    let passes: Vec<String> = report.modules.iter().map(|m| format!("{} times ({})", m.passes, m.name)).collect();
    let found: Vec<String> = report.modules.iter().map(|m| m.detections.to_string()).collect();
    s += &format!(
        "  a round: a fresh instance after its hello, fed the stream {}, time continuing; detections in the first {EVENTS} events: {}, as natively\n",
        passes.join(" and "),
        found.join(" and "),
    );
    s += &format!("target: ≤ {},{:03} ns per event\n", TARGET_NS as u32 / 1000, TARGET_NS as u32 % 1000);
    s
}

// ---- serving the page -------------------------------------------------------------------------

/// A file served from memory: path, content type, bytes.
type File = (String, &'static str, Vec<u8>);

/// The local server: serves `files`, hands every `POST /result` body to `results`.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    results: Receiver<String>,
}

impl Server {
    fn start(files: Vec<File>) -> Result<Server, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("no local address: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, results) = mpsc::channel();
        let files = Arc::new(files);
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (files, tx) = (files.clone(), tx.clone());
                // A thread each: Chromium may open a connection and send nothing on it.
                std::thread::spawn(move || {
                    let _ = handle(conn, &files, &tx);
                });
            }
        });
        Ok(Server { addr, stop, thread: Some(thread), results })
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)); // wakes `accept`
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A request's method, path (without query) and body length, from its head.
fn parse_head(head: &str) -> Option<(&str, &str, usize)> {
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?, first.next()?);
    let path = target.split('?').next()?;
    let mut len = 0;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().ok()?;
            }
        }
    }
    Some((method, path, len))
}

fn handle(conn: TcpStream, files: &[File], results: &Sender<String>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" || head.len() > 16 * 1024 {
            break;
        }
        head += &line;
    }
    let Some((method, path, len)) = parse_head(&head) else { return Ok(()) };
    let (status, ctype, body): (&str, &str, &[u8]) = match (method, path) {
        ("POST", "/result") if len <= 1 << 20 => {
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            let _ = results.send(String::from_utf8_lossy(&body).into_owned());
            ("204 No Content", "text/plain", b"")
        }
        ("GET", _) => match files.iter().find(|f| f.0 == path) {
            Some((_, ctype, bytes)) => ("200 OK", ctype, bytes),
            None => ("404 Not Found", "text/plain", b"not found"),
        },
        _ => ("400 Bad Request", "text/plain", b"bad request"),
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)?;
    conn.flush()
}

// ---- Chromium ---------------------------------------------------------------------------------

/// Opens `server`'s page in headless Chromium with a fresh profile and returns what the page
/// POSTed; Chromium's process group is stopped and the profile removed in every case.
fn run_chromium(server: &Server) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("siq-bench-physics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let log_path = dir.join("chromium.log");
    let result = (|| {
        let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| format!("chromium log: {e}"))?;
        let chromium = crate::services::chromium();
        let mut child = Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            .args(["--no-first-run", "--disable-sync"])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(server.url())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {chromium}: {e}"))?;
        let started = Instant::now();
        let outcome = loop {
            match server.results.recv_timeout(Duration::from_millis(250)) {
                Ok(report) => break Ok(report),
                Err(RecvTimeoutError::Disconnected) => break Err("the local server stopped".to_string()),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("Chromium exited ({status}) before the page reported"));
            }
            if started.elapsed() > TIMEOUT {
                break Err(format!("no figures from Chromium within {} s", TIMEOUT.as_secs()));
            }
        };
        stop_group(&mut child);
        outcome.map_err(|e| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if tail.is_empty() {
                format!("{e} (Chromium's log is empty)")
            } else {
                format!("{e}; the end of Chromium's log:\n{}", tail.join("\n"))
            }
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Stops the process group of `child` (Chromium and the processes it started): SIGTERM, then
/// SIGKILL after 5 s.
fn stop_group(child: &mut std::process::Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-s", "TERM", "--", &group]).stderr(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).stderr(Stdio::null()).status();
    let _ = child.wait();
}

/// Runs both modules in a Web Worker in headless Chromium (after `cargo xtask build-sdk` wrote
/// them to `sdk`) and checks what it reports.
fn measure_wasm(sdk: &Path) -> Result<Report, String> {
    let mut files: Vec<File> = vec![
        ("/".into(), "text/html; charset=utf-8", PAGE_HTML.as_bytes().to_vec()),
        ("/bench-worker.js".into(), "text/javascript; charset=utf-8", worker_js().into_bytes()),
    ];
    for (name, _) in MODULES {
        let file = sdk.join(name);
        let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        files.push((format!("/{name}"), "application/wasm", bytes));
    }
    let server = Server::start(files)?;
    eprintln!("xtask: running both modules in a Web Worker in headless Chromium ({})", server.url());
    let report = Report::parse(&run_chromium(&server)?)?;
    report.check(&stream(EVENTS))?;
    Ok(report)
}

/// `cargo xtask bench physics`.
pub fn bench(root: &Path) -> Result<(), String> {
    let sdk = crate::sdk::build(root)?;
    crate::services::ensure_chromium()?;
    let since = SystemTime::now();
    crate::util::run(crate::util::cargo().current_dir(root).args(["bench", "-p", "shared-physics", "--bench", "per_event"]))?;
    let report = measure_wasm(&sdk)?;
    let group = criterion_dir(root).join("per_event");
    let native: Vec<Option<f64>> = MODULES.iter().map(|(name, _)| native_ns(&group, name, since)).collect();
    if native.iter().any(Option::is_none) {
        eprintln!("xtask: no fresh criterion estimates under {}: native figures left out", group.display());
    }
    println!();
    print!("{}", table(&report, &native, installed_chromium_version().as_deref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_physics::Kind;

    /// Runs `script` with Node.js, or `None` (with a note) when it is not installed.
    fn node(script: &str) -> Option<String> {
        match Command::new("node").arg("-e").arg(script).output() {
            Ok(out) => {
                assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
                Some(String::from_utf8(out.stdout).unwrap())
            }
            Err(e) => {
                eprintln!("skipped: node is not available ({e})");
                None
            }
        }
    }

    #[test]
    fn the_js_stream_is_the_rust_stream() {
        let script = format!("{STREAM_JS}\nconst s = stream({EVENTS});\nprocess.stdout.write(s.join(',') + ' ' + checksum(s));");
        let Some(out) = node(&script) else { return };
        let (values, sum) = out.trim().split_once(' ').unwrap();
        let js: Vec<i64> = values.split(',').map(|v| v.parse().unwrap()).collect();
        let rust: Vec<i64> = stream(EVENTS).iter().flat_map(|s| [s.kind as i64, s.t_ms as i64, s.x as i64, s.y as i64]).collect();
        assert_eq!(js.len(), rust.len());
        for (i, (j, r)) in js.chunks(4).zip(rust.chunks(4)).enumerate() {
            assert_eq!(j, r, "sample {i} (kind, t, x, y)");
        }
        assert_eq!(sum.parse::<u32>().unwrap(), checksum(&stream(EVENTS)));
    }

    #[test]
    fn the_stream_has_moves_scrolls_and_click_bursts_and_detects_rage() {
        let s = stream(EVENTS);
        let count = |k: Kind| s.iter().filter(|x| x.kind == k).count();
        assert_eq!((count(Kind::Move), count(Kind::Scroll), count(Kind::Click)), (64 * 49, 64 * 10, 64 * 5));
        assert!(s.windows(2).all(|w| w[1].t_ms > w[0].t_ms));
        assert!(detections(&s) > 0, "the detector should fire on the click bursts");
        // The checksum sees every field.
        let mut moved = s.clone();
        moved[100].x += 1;
        assert_ne!(checksum(&moved), checksum(&s));
    }

    #[test]
    fn the_page_and_worker_scripts_parse() {
        let worker = worker_js();
        for placeholder in ["STREAM_JS", "%EVENTS%", "%ROUNDS%", "%MIN_ROUND_MS%", "%WARM_MS%", "%NAMES%"] {
            assert!(!worker.contains(placeholder), "{placeholder} was left in the worker script");
        }
        assert!(worker.contains("const stream = (n) =>") && worker.contains("EVENTS = 4096, ROUNDS = 9"));
        assert!(worker.contains("NAMES = ['sdk.wasm', 'sdk-emotions.wasm']"));
        let page = PAGE_HTML.split("<script>").nth(1).unwrap().split("</script>").next().unwrap();
        for src in [worker.as_str(), page] {
            let script = format!("new Function({});", json_string(src));
            node(&script);
        }
    }

    fn json_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out += "\\\"",
                '\\' => out += "\\\\",
                '\n' => out += "\\n",
                c => out.push(c),
            }
        }
        out + "\""
    }

    fn report_text(page_start_detections: u32) -> String {
        let s = stream(EVENTS);
        format!(
            "ua=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\n\
             stream={}\n\
             module=sdk.wasm detections={page_start_detections} passes=32 ns=150.00,149.00,151.00,160.00,148.00,150.00,150.50,149.50,300.00\n\
             module=sdk-emotions.wasm detections={} passes=16 ns=250,251,249,250,252,248,250,250,250",
            checksum(&s),
            detections(&s)
        )
    }

    #[test]
    fn a_report_parses_checks_and_gives_the_median() {
        let s = stream(EVENTS);
        let r = Report::parse(&report_text(0)).unwrap();
        assert_eq!(r.chromium_version(), Some("156.0.0.0"));
        assert_eq!(r.modules[0].name, "sdk.wasm");
        assert_eq!(r.modules[0].passes, 32);
        assert_eq!(r.modules[0].median(), 150.0);
        assert_eq!(r.modules[1].median(), 250.0);
        r.check(&s).unwrap();

        let wrong = Report::parse(&report_text(1)).unwrap();
        assert!(wrong.check(&s).unwrap_err().contains("detections"));
        let mut other = r;
        other.checksum ^= 1;
        assert!(other.check(&s).unwrap_err().contains("stream differs"));
    }

    #[test]
    fn bad_reports_are_errors() {
        assert!(Report::parse("error=RangeError: boom").unwrap_err().contains("boom"));
        assert!(Report::parse("ua=x\nstream=1\nmodule=sdk.wasm detections=1 passes=1 ns=1,2").is_err());
        let text = report_text(1);
        assert!(Report::parse(&text.replace("ns=250,251", "ns=250,NaN")).is_err());
        assert!(Report::parse(&text.replace("stream=", "strm=")).is_err());
        assert!(Report::parse(text.rsplit_once('\n').unwrap().0).is_err(), "one module missing");
    }

    #[test]
    fn criterion_estimates_are_read_per_event() {
        let dir = std::env::temp_dir().join(format!("siq-physics-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let since = SystemTime::now() - Duration::from_secs(5);
        for (name, mean) in
            [("tracker (no detector, sdk.wasm)", 409600.0), ("tracker+detector (every emotion, sdk-emotions.wasm)", 819200.0)]
        {
            let new = dir.join(name).join("new");
            std::fs::create_dir_all(&new).unwrap();
            std::fs::write(
                new.join("benchmark.json"),
                format!(r#"{{"group_id":"per_event","function_id":"{name}","value_str":null,"throughput":{{"Elements":4096}},"full_id":"per_event/{name}"}}"#),
            )
            .unwrap();
            std::fs::write(
                new.join("estimates.json"),
                format!(r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2e6}},"point_estimate":{mean},"standard_error":1029.0}},"median":{{"point_estimate":5.0}}}}"#),
            )
            .unwrap();
        }
        assert_eq!(native_ns(&dir, "sdk.wasm", since), Some(100.0));
        assert_eq!(native_ns(&dir, "sdk-emotions.wasm", since), Some(200.0));
        assert_eq!(native_ns(&dir, "other.wasm", since), None);
        assert_eq!(native_ns(&dir, "sdk.wasm", SystemTime::now() + Duration::from_secs(60)), None, "stale estimates are ignored");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_table_puts_native_and_wasm_side_by_side() {
        let r = Report::parse(&report_text(0)).unwrap();
        assert!(table(&r, &[None, None], None).starts_with("physics per pointer event, wasm in headless Chromium 156.0.0.0 (Web Worker"));
        let t = table(&r, &[Some(112.4), None], Some("156.0.8078.79"));
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("physics per pointer event, wasm in headless Chromium 156.0.8078.79 (Web Worker, median of 9 rounds"));
        let rage = lines.iter().find(|l| l.contains("sdk.wasm (no detector)")).unwrap();
        assert!(rage.contains("112 ns") && rage.contains("150 ns") && rage.contains("148-300 ns") && rage.contains("1.33x"), "{rage}");
        let all = lines.iter().find(|l| l.contains("sdk-emotions.wasm (every emotion)")).unwrap();
        assert!(all.contains("n/a") && all.contains("250 ns"), "{all}");
        assert_eq!(lines.last(), Some(&"target: ≤ 1,000 ns per event"));
        assert!(lines.iter().any(|l| l.contains("fed the stream 32 times (sdk.wasm) and 16 times (sdk-emotions.wasm)")), "{t}");
        assert!(!t.contains("over the target"));
        let slow = Report::parse(
            &report_text(1).replace("ns=250,251,249,250,252,248,250,250,250", "ns=1250,1251,1249,1250,1252,1248,1250,1250,1250"),
        )
        .unwrap();
        let t = table(&slow, &[None, Some(300.0)], None);
        assert!(t.lines().find(|l| l.contains("sdk-emotions.wasm (every emotion)")).unwrap().ends_with("4.17x  over the target"), "{t}");
    }

    #[test]
    fn the_server_serves_files_and_takes_the_result() {
        let server = Server::start(vec![("/sdk.wasm".into(), "application/wasm", vec![0, 97, 115, 109])]).unwrap();
        let request = |req: &str| {
            let mut c = TcpStream::connect(server.addr).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut out = Vec::new();
            c.read_to_end(&mut out).unwrap();
            out
        };
        let got = request("GET /sdk.wasm?v=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        let head = String::from_utf8_lossy(&got);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("Content-Type: application/wasm\r\n"), "{head}");
        assert!(got.ends_with(&[0, 97, 115, 109]));
        assert!(String::from_utf8_lossy(&request("GET /nothing HTTP/1.1\r\n\r\n")).starts_with("HTTP/1.1 404"));
        // A connection that sends nothing does not hold the others up.
        let _idle = TcpStream::connect(server.addr).unwrap();
        let body = "stream=1\nmodule=x";
        let got = request(&format!("POST /result HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
        assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 204"));
        assert_eq!(server.results.recv_timeout(Duration::from_secs(5)).unwrap(), body);
    }

    #[test]
    fn request_heads_parse() {
        assert_eq!(parse_head("POST /result?x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"), Some(("POST", "/result", 12)));
        assert_eq!(parse_head("GET / HTTP/1.1\r\n"), Some(("GET", "/", 0)));
        assert_eq!(parse_head("POST /result HTTP/1.1\r\nContent-Length: many\r\n"), None);
        assert_eq!(parse_head(""), None);
    }
}
