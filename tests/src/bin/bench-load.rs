//! Many live sessions against one server process, run by `cargo xtask bench load`:
//!
//! ```text
//! bench-load [--sessions N] [--seconds S] [--postgres] [--find-ceiling] [--step N]
//!            [--rate F] [--rage-share PCT] [--high-share PCT] [--server PATH]
//! ```
//!
//! The server is the release `sentientiq` binary in a process of its own (SQLite + in-process
//! bus, or PostgreSQL + NATS JetStream with `--postgres`: a fresh database and a bus prefix of
//! this run, dropped afterwards), so its CPU and memory are read from `/proc/<pid>` apart from
//! this client's (`/proc/self`). The tenant is created through the product's API with the
//! operator token, as the demo host does; the sessions are the SDK's wire protocol.
//!
//! Every session (many per tokio task: [`SHARDS`] tasks hold them all, no task or thread per
//! session) opens a WebSocket from one of [`SOURCE_ADDRESSES`] loopback addresses, says `Hello`
//! and then sends one `Physics` frame a second (`--rate F`: F a second, at most the server's 20),
//! replaying the summaries the SDK's tracker makes
//! of a trace of the recorded corpus (`corpus/traces`, cycled). A share of the sessions
//! (`--rage-share`, default 1%) also names the sections of a rage trace of the corpus and, once
//! during the measured window, sends the rage `Detection` the SDK's detector emits on it; this
//! process checks before the run that the server's own `confirm` accepts each such frame. A
//! share of the raging sessions (`--high-share`, default 20%) is identified with a visitor token
//! of an account worth $100,000 (above the tenant's critical value): the priority lane
//! (`server/src/ingest/priority.rs`), whose detection → `Intervene` and `Ack` latencies are
//! printed apart. To see the lanes while the box is saturated, raise the load past what the two
//! cores serve, e.g. `--sessions 12000 --rate 3`.
//!
//! Printed: sessions held, frames/s, `Ack` p50/p95/p99 (frame written → its `Ack` read),
//! detection → `Intervene` p50/p95/p99 (the detection written → the `Intervene` read, this
//! process's monotonic clock), the server's CPU and RSS, RSS per session (the server's RSS with
//! the sessions open minus its RSS before the first connected, over the sessions), the client's
//! CPU, and the server's CPU-seconds per 1,000 confirmed detections with the cost of one at
//! [`PRICE_PER_VCPU_HOUR`]. CPU figures are percent of one core.
//!
//! `--find-ceiling` repeats the run with a fresh server, from `--sessions` up by `--step`, until
//! the detection → `Intervene` p99 passes [`CEILING_P99_MS`] (or not every session is held),
//! and prints the last count that held it. A benchmark prints figures; it asserts no wall-clock
//! time.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{SelectAll, SplitSink};
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use shared_physics::detect::{Detector, LoaderQuiet, Params};
use shared_physics::emotions::{classify, SectionClasses};
use shared_physics::kinematics::Tracker;
use shared_physics::wire::{self, DetectionFrame, Envelope, Frame, Hello, Physics};
use shared_physics::{Emotion, Kind, Sample};
use siq_e2e::host::{self, Customer, DemoSite, IDENTITY_TTL};
use siq_e2e::socket::{connect, encode, hello, secret as socket_secret, Socket};
use siq_e2e::stack::{PgDatabase, NATS_URL, POSTGRES_ADMIN_URL};
use siq_e2e::util::{percentile, workspace_root, www_dir, TempDir};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const USAGE: &str = "usage: bench-load [--sessions N] [--seconds S] [--postgres] [--find-ceiling] [--step N] [--rate F] [--rage-share PCT] [--high-share PCT] [--server PATH]";
/// The most `Physics` frames a second a session sends (the server allows 20 frames a second).
const MAX_RATE: f64 = 20.0;
/// Sessions unless told otherwise.
const DEFAULT_SESSIONS: usize = 1_000;
/// Measured seconds unless told otherwise.
const DEFAULT_SECONDS: u64 = 30;
/// Share of sessions that rage once, percent, unless told otherwise.
const DEFAULT_RAGE_SHARE: f64 = 1.0;
/// Share of the raging sessions identified as a high-value account, percent.
const DEFAULT_HIGH_SHARE: f64 = 20.0;
/// Step of `--find-ceiling` unless told otherwise.
const DEFAULT_STEP: usize = 2_000;
/// `--find-ceiling` stops when the detection → `Intervene` p99 passes this.
const CEILING_P99_MS: f64 = 50.0;
/// The most sessions `--find-ceiling` tries (each is a socket in both processes).
const CEILING_MAX_SESSIONS: usize = 60_000;
/// Price of one vCPU-hour the cost per detection is stated at, USD: AWS EC2 `c6g.large`
/// (2 vCPU, on demand, us-east-1) lists at $0.068 an hour, $0.034 per vCPU-hour.
const PRICE_PER_VCPU_HOUR: f64 = 0.034;
/// The server's default `SIQ_INTERVENE_CONFIDENCE`: the rage frames sent are confirmed above it.
const INTERVENE_BAR: f32 = 0.85;
/// Tasks that hold the sessions (each holds sessions/SHARDS of them).
const SHARDS: usize = 32;
/// Loopback source addresses the sessions are spread over (127.0.0.1 … 127.0.0.N), so the
/// ephemeral ports of one address are never the limit.
const SOURCE_ADDRESSES: usize = 16;
/// How often a shard looks for sessions due to send.
const TICK: Duration = Duration::from_millis(10);
/// Open files asked for, in this process and (inherited) in the server.
const OPEN_FILES: u64 = 262_144;
/// The operator token of the server this bench starts.
const ADMIN_TOKEN: &str = "bench-load-admin-token";
/// Every high-value visitor's account value, cents ($100,000: above the default $10,000 bar).
const HIGH_VALUE_CENTS: i64 = 10_000_000;
/// The account the high-value visitors belong to.
const HIGH_ACCOUNT: &str = "load-high-value";
/// Session ids are this plus the session's index.
const SESSION_BASE: u64 = 0x10ad_0000_0000_0000;
/// How long the server may take to answer `/healthz` after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Sessions connect this long after the last one before the measured window opens.
const SETTLE: Duration = Duration::from_secs(3);
/// After the window, this long for the last `Intervene`s to arrive.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
struct Args {
    sessions: usize,
    seconds: u64,
    postgres: bool,
    find_ceiling: bool,
    step: usize,
    /// `Physics` frames a second per session.
    rate: f64,
    rage_share: f64,
    high_share: f64,
    server: PathBuf,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut args = Args {
        sessions: DEFAULT_SESSIONS,
        seconds: DEFAULT_SECONDS,
        postgres: false,
        find_ceiling: false,
        step: DEFAULT_STEP,
        rate: 1.0,
        rage_share: DEFAULT_RAGE_SHARE,
        high_share: DEFAULT_HIGH_SHARE,
        server: workspace_root().join("target/release/sentientiq"),
    };
    let mut rest = argv.iter();
    while let Some(flag) = rest.next() {
        let mut value = |name: &str| rest.next().cloned().ok_or_else(|| format!("{name} needs a value; {USAGE}"));
        let count =
            |name: &str, v: String| v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("{name} {v}: not a positive number"));
        let share = |name: &str, v: String| {
            v.parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)).ok_or_else(|| format!("{name} {v}: not a percentage"))
        };
        match flag.as_str() {
            "--postgres" => args.postgres = true,
            "--find-ceiling" => args.find_ceiling = true,
            "--sessions" => args.sessions = count("--sessions", value("--sessions")?)?,
            "--seconds" => args.seconds = count("--seconds", value("--seconds")?)? as u64,
            "--step" => args.step = count("--step", value("--step")?)?,
            "--rage-share" => args.rage_share = share("--rage-share", value("--rage-share")?)?,
            "--high-share" => args.high_share = share("--high-share", value("--high-share")?)?,
            "--rate" => {
                let v = value("--rate")?;
                args.rate = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| *r > 0.0 && *r <= MAX_RATE)
                    .ok_or_else(|| format!("--rate {v}: frames a second per session, more than 0 and at most {MAX_RATE}"))?;
            }
            "--server" => args.server = PathBuf::from(value("--server")?),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-load: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-load: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if !args.server.is_file() {
        return Err(format!("{} is missing: build it with `cargo build --release -p sentientiq-server`", args.server.display()));
    }
    let limit = raise_open_files()?;
    let streams = Arc::new(Streams::load(&workspace_root().join("corpus"))?);
    println!(
        "bench-load: {} physics streams and {} confirmed rage frames from the corpus; open files {limit}; {}",
        streams.physics.len(),
        streams.rage.len(),
        if args.postgres { "PostgreSQL + NATS JetStream" } else { "SQLite + in-process bus" }
    );
    if !args.find_ceiling {
        let r = one_run(&args, args.sessions, &streams).await?;
        r.print(&args);
        return Ok(());
    }
    let mut held: Option<Report> = None;
    let mut n = args.sessions;
    // Each session is one socket in each process (and each process has the limit).
    while n <= CEILING_MAX_SESSIONS && (n as u64) + 1_000 < limit {
        let r = one_run(&args, n, &streams).await?;
        r.print(&args);
        let p99 = r.intervene_p99();
        let ok = r.held == n && p99.is_some_and(|p| p <= CEILING_P99_MS);
        println!(
            "ceiling step: {n} sessions, held {}, detection -> Intervene p99 {} ms: {}",
            r.held,
            fmt_opt(p99),
            if ok { "holds" } else { "passes the bar" }
        );
        if !ok {
            break;
        }
        held = Some(r);
        n += args.step;
    }
    match held {
        Some(r) => println!(
            "ceiling: {} sessions held with detection -> Intervene p99 {} ms <= {CEILING_P99_MS} ms (server RSS {:.0} MB, {:.1} KB/session)",
            r.sessions,
            fmt_opt(r.intervene_p99()),
            r.server_rss_after as f64 / 1e6,
            r.rss_per_session() / 1024.0
        ),
        None => println!("ceiling: below {} sessions (the first step already passed {CEILING_P99_MS} ms)", args.sessions),
    }
    if n + 1_000 >= limit as usize {
        println!("(stopped by the open-file limit {limit}, not by latency: the ceiling is higher)");
    }
    Ok(())
}

/// Raises this process's open-file limit (the server inherits it); returns the soft limit.
fn raise_open_files() -> Result<u64, String> {
    // SAFETY: plain system calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err("getrlimit(RLIMIT_NOFILE) failed".into());
        }
        let want = libc::rlimit { rlim_cur: OPEN_FILES, rlim_max: OPEN_FILES.max(lim.rlim_max) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
            return Ok(OPEN_FILES);
        }
        // Not allowed past the hard limit: take all of it.
        let hard = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &hard) == 0 {
            return Ok(lim.rlim_max);
        }
        Ok(lim.rlim_cur)
    }
}

// ---- the frame streams ------------------------------------------------------------------------

/// What the sessions send, made from the recorded corpus by the SDK's own tracker and detector.
struct Streams {
    /// Per trace, the `Physics` frame of each second that had pointer activity.
    physics: Vec<Vec<Physics>>,
    /// Per rage trace, its section names and the rage frame its detector emits.
    rage: Vec<(Vec<(u8, String)>, DetectionFrame)>,
}

impl Streams {
    fn load(corpus: &Path) -> Result<Streams, String> {
        let manifest =
            std::fs::read_to_string(corpus.join("manifest.csv")).map_err(|e| format!("{}: {e}", corpus.join("manifest.csv").display()))?;
        let (mut physics, mut rage) = (Vec::new(), Vec::new());
        for line in manifest.lines().skip(1) {
            let mut f = line.split(',');
            let (Some(file), Some(_scenario), Some(label)) = (f.next(), f.next(), f.next()) else { continue };
            let path = corpus.join("traces").join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let (samples, names) = samples(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let p = physics_of(&samples);
            if !p.is_empty() {
                physics.push(p);
            }
            if label == "rage" {
                if let Some(frame) = rage_of(&samples, &names) {
                    rage.push((names, frame));
                }
            }
        }
        if physics.is_empty() || rage.is_empty() {
            return Err(format!(
                "the corpus at {} gave {} physics streams and {} rage frames",
                corpus.display(),
                physics.len(),
                rage.len()
            ));
        }
        Ok(Streams { physics, rage })
    }
}

/// Section ids and their names.
type Sections = Vec<(u8, String)>;

/// The samples of an event CSV (`docs/event-csv.md`) and its section names, numbered from 1 in
/// the order they first appear (as the SDK numbers the sections of a page).
fn samples(csv: &str) -> Result<(Vec<Sample>, Sections), String> {
    let mut names: Vec<(u8, String)> = Vec::new();
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [_, t, kind, x, y, target] = f.as_slice() else { return Err(format!("line {}: not 6 fields", i + 1)) };
        let kind = Kind::from_name(kind).ok_or_else(|| format!("line {}: kind {kind}", i + 1))?;
        let num = |s: &str| s.parse::<i32>().unwrap_or(0).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        let section = if target.is_empty() {
            0
        } else if let Some((id, _)) = names.iter().find(|(_, n)| n == target) {
            *id
        } else if names.len() < 255 {
            names.push((names.len() as u8 + 1, target.to_string()));
            names.len() as u8
        } else {
            0
        };
        let t_ms = t.parse::<u32>().map_err(|_| format!("line {}: t_ms {t}", i + 1))?;
        out.push(Sample { t_ms, x: num(x), y: num(y), kind, section });
    }
    Ok((out, names))
}

/// The tracker's summary of every second of `samples` that had activity.
fn physics_of(samples: &[Sample]) -> Vec<Physics> {
    let mut tracker = Tracker::new();
    let mut out = Vec::new();
    let Some(first) = samples.first() else { return out };
    let mut next = first.t_ms - first.t_ms % 1000 + 1000;
    for s in samples {
        while s.t_ms >= next {
            if tracker.active() {
                out.push(tracker.take_summary(next));
            }
            next += 1000;
        }
        tracker.push(s);
    }
    if tracker.active() {
        out.push(tracker.take_summary(next));
    }
    out
}

/// The rage frame of `samples` the SDK's detector emits with the highest confidence, with its
/// evidence, if the server's own confirmation accepts it at a confidence the server intervenes
/// at ([`INTERVENE_BAR`]).
fn rage_of(samples: &[Sample], names: &[(u8, String)]) -> Option<DetectionFrame> {
    let mut det = Detector::new(Params::default());
    let mut classes = SectionClasses::new();
    for (id, name) in names {
        det.set_section_class(*id, classify(name.as_bytes()));
        classes.set(*id, classify(name.as_bytes()));
    }
    let mut best: Option<DetectionFrame> = None;
    // With the loader's quiet rows, which traces recorded before it wrote them lack.
    for s in LoaderQuiet::with_quiet(samples.iter().copied()) {
        let Some(d) = det.push(s) else { continue };
        if d.emotion != Emotion::Rage || best.as_ref().is_some_and(|b| b.confidence_pct >= d.confidence_pct()) {
            continue;
        }
        let frame = DetectionFrame {
            emotion: d.emotion,
            confidence_pct: d.confidence_pct(),
            t_ms: d.t_ms,
            section: d.section,
            evidence: det.evidence().iter().copied().collect(),
        };
        if let sentientiq_server::confirm::Verdict::Confirmed(c) = sentientiq_server::confirm::confirm(&frame, &Params::default(), &classes)
        {
            if c.confidence >= INTERVENE_BAR {
                best = Some(frame);
            }
        }
    }
    best
}

// ---- the server process -----------------------------------------------------------------------

/// The release server in its own process, killed on drop.
struct Server {
    child: Child,
    url: String,
    addr: SocketAddr,
    _database: Option<PgDatabase>,
    /// NATS URL and this run's bus prefix, whose streams are deleted after the run.
    bus: Option<(String, String)>,
    _dir: TempDir,
}

impl Server {
    async fn start(args: &Args) -> Result<Server, String> {
        let dir = TempDir::new("siq-load").map_err(|e| format!("temporary folder: {e}"))?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
            l.local_addr().map_err(|e| e.to_string())?.port()
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (database_url, nats, database) = if args.postgres {
            let admin = std::env::var("SIQ_E2E_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_ADMIN_URL.into());
            let db = PgDatabase::create(&admin).await.map_err(|e| e.to_string())?;
            let nats = std::env::var("SIQ_E2E_NATS_URL").unwrap_or_else(|_| NATS_URL.into());
            (db.url.clone(), Some(nats), Some(db))
        } else {
            (format!("sqlite://{}", dir.path().join("siq.db").display()), None, None)
        };
        let site = dir.path().join("site");
        std::fs::create_dir_all(&site).map_err(|e| format!("site folder: {e}"))?;
        let log = std::fs::File::create(dir.path().join("server.log")).map_err(|e| format!("server log: {e}"))?;
        let mut cmd = Command::new(&args.server);
        cmd.arg("serve")
            .env("SIQ_ADDR", addr.to_string())
            .env("SIQ_DATABASE_URL", &database_url)
            .env("SIQ_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SIQ_LINK_SECRET", format!("{:064x}", rand::random::<u128>()))
            .env("SIQ_ALLOW_LOOPBACK_TARGETS", "1")
            .env("SIQ_WWW_DIR", www_dir())
            .env("SIQ_SITE_DIR", &site)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("NATS_URL")
            .env_remove("SIQ_NATS_URL")
            .stdout(Stdio::null())
            .stderr(log);
        let bus = nats.map(|n| (n, format!("siq_load_{}_{:08x}", std::process::id(), rand::random::<u32>())));
        if let Some((nats, prefix)) = &bus {
            cmd.env("SIQ_NATS_URL", nats).env("SIQ_BUS_PREFIX", prefix);
        }
        // The server dies with this process, even when it is killed.
        // SAFETY: prctl is async-signal-safe and touches only the child being started.
        unsafe {
            use std::os::unix::process::CommandExt as _;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", args.server.display()))?;
        let url = format!("http://{addr}");
        let server = Server { child, url, addr, _database: database, bus, _dir: dir };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if http.get(format!("{}/healthz", server.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server did not answer /healthz within {START_TIMEOUT:?} (log: {})",
                    server._dir.path().join("server.log").display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server: SIGINT (it shuts down cleanly), then SIGKILL after 10 s.
    async fn stop(mut self) {
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Deletes this run's JetStream streams (its events and its identity bucket), so runs do not
    /// pile up reserved storage on a shared NATS.
    async fn drop_streams(&self) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let Some((url, prefix)) = &self.bus else { return };
        let p = prefix.to_uppercase();
        let mut req = String::from("CONNECT {\"verbose\":false}\r\nSUB _INBOX.siq_load 1\r\n");
        for stream in [format!("{p}_EVENTS"), format!("KV_{p}_IDENTITY")] {
            req.push_str(&format!("PUB $JS.API.STREAM.DELETE.{stream} _INBOX.siq_load 0\r\n\r\n"));
        }
        req.push_str("PING\r\n");
        let hostport = url.strip_prefix("nats://").unwrap_or(url).to_string();
        let done = async move {
            let mut s = TcpStream::connect(hostport).await.ok()?;
            s.write_all(req.as_bytes()).await.ok()?;
            let mut buf = vec![0u8; 8192];
            let mut got = String::new();
            while got.matches("stream_delete_response").count() < 2 {
                let n = s.read(&mut buf).await.ok()?;
                if n == 0 {
                    break;
                }
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            Some(())
        };
        if tokio::time::timeout(Duration::from_secs(5), done).await.ok().flatten().is_none() {
            eprintln!("bench-load: could not delete the streams of bus prefix {prefix}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU ticks (user + system) of `/proc/<pid>/stat`, and the ticks per second.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file: 12 and 13 after the state field.
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn ticks_per_second() -> f64 {
    // SAFETY: a plain query.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Resident set size of `/proc/<pid>/status`, bytes.
fn rss_bytes(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds and wall time between two readings.
#[derive(Clone, Copy)]
struct CpuMark {
    server: u64,
    client: u64,
    at: Instant,
}

impl CpuMark {
    fn now(server_pid: &str) -> CpuMark {
        CpuMark { server: cpu_ticks(server_pid), client: cpu_ticks("self"), at: Instant::now() }
    }
}

// ---- the sessions -----------------------------------------------------------------------------

/// What one session is and will do.
#[derive(Clone)]
struct Plan {
    index: usize,
    id: u64,
    /// Index into [`Streams::physics`].
    physics: usize,
    /// Index into [`Streams::rage`], and when in the window (from its start) it rages.
    rage: Option<(usize, Duration)>,
    /// The visitor token of a high-value account.
    token: Option<String>,
}

/// One live session of a shard.
struct Live {
    plan: Plan,
    sink: SplitSink<Socket, Message>,
    seq: u32,
    next_physics: usize,
    /// Page time of the next `Physics` frame, ms.
    page_ms: u32,
    due: Instant,
    /// Frames written and not yet acknowledged: `(seq, written at)`.
    unacked: VecDeque<(u32, Instant)>,
    /// When its detection was written.
    raged_at: Option<Instant>,
    intervened: bool,
    open: bool,
}

/// What a shard measured.
#[derive(Default)]
struct ShardStats {
    connected: usize,
    failed: Vec<String>,
    held: usize,
    frames: u64,
    acks_ms: Vec<f64>,
    /// The same, of the high-value sessions only.
    acks_high_ms: Vec<f64>,
    /// The second of the window each acknowledged frame was written in.
    acks_second: Vec<u32>,
    intervene_high_ms: Vec<f64>,
    intervene_other_ms: Vec<f64>,
    detections_sent: usize,
    detections_high: usize,
}

/// The window, as the main task announces it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Ramp,
    /// From, until.
    Measure(Instant, Instant),
    Stop,
}

/// The loopback address session `index` connects from.
fn source(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (index % SOURCE_ADDRESSES) as u8))
}

/// Holds `plans`' sessions: connects them, then sends each one's frames when due (a `Physics`
/// frame `every`) and reads what the server says, until the phase is [`Phase::Stop`].
async fn shard(
    addr: SocketAddr,
    site_key: Arc<str>,
    plans: Vec<Plan>,
    streams: Arc<Streams>,
    every: Duration,
    mut phase: watch::Receiver<Phase>,
    connected: tokio::sync::mpsc::UnboundedSender<usize>,
) -> ShardStats {
    let mut stats = ShardStats::default();
    let mut live: Vec<Live> = Vec::with_capacity(plans.len());
    let mut reads = SelectAll::new();
    let spread = plans.len().max(1) as u32;
    for plan in plans {
        let ws = match connect(addr, Some(source(plan.index))).await {
            Ok(ws) => ws,
            Err(e) => {
                stats.failed.push(e);
                let _ = connected.send(0);
                continue;
            }
        };
        let (mut sink, stream) = ws.split();
        let page = if plan.rage.is_some() { format!("/checkout/{}", plan.index) } else { "/store".to_string() };
        let hi = Hello { session: plan.id, site_key: &site_key, page: &page, identity: plan.token.as_deref() };
        let sections: Vec<(u8, &str)> =
            plan.rage.iter().flat_map(|(r, _)| &streams.rage[*r].0).map(|(id, name)| (*id, name.as_str())).collect();
        let Ok(seq) = hello(&mut sink, hi, socket_secret(), sections).await else {
            stats.failed.push("the server hung up after hello".into());
            let _ = connected.send(0);
            continue;
        };
        let slot = live.len();
        reads.push(stream.map(move |m| (slot, m)));
        // The sessions' seconds start evenly spread over one second.
        let due = Instant::now() + every.mul_f64(f64::from(slot as u32) / f64::from(spread));
        live.push(Live {
            plan,
            sink,
            seq,
            next_physics: 0,
            page_ms: 1000,
            due,
            unacked: VecDeque::new(),
            raged_at: None,
            intervened: false,
            open: true,
        });
        stats.connected += 1;
        let _ = connected.send(1);
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut measuring: Option<(Instant, Instant)> = None;
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
                match *phase.borrow_and_update() {
                    Phase::Stop => break,
                    Phase::Measure(from, until) => measuring = Some((from, until)),
                    Phase::Ramp => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for s in live.iter_mut().filter(|s| s.open) {
                    // The rage, once, at its moment of the window.
                    if let (Some((start, _)), Some((r, after)), None) = (measuring, s.plan.rage, s.raged_at) {
                        if now >= start + after {
                            s.seq += 1;
                            let mut frame = streams.rage[r].1.clone();
                            // On the page's clock, after the physics so far.
                            let shift = s.page_ms.saturating_sub(frame.t_ms);
                            frame.t_ms += shift;
                            for e in frame.evidence.iter_mut() {
                                e.t_ms += shift;
                            }
                            if s.sink.send(encode(s.seq, &Frame::Detection(frame))).await.is_err() {
                                s.open = false;
                                continue;
                            }
                            let at = Instant::now();
                            s.raged_at = Some(at);
                            s.unacked.push_back((s.seq, at));
                            stats.detections_sent += 1;
                            stats.detections_high += usize::from(s.plan.token.is_some());
                        }
                    }
                    if now < s.due {
                        continue;
                    }
                    let stream = &streams.physics[s.plan.physics];
                    let mut p = stream[s.next_physics % stream.len()];
                    s.next_physics += 1;
                    p.t_ms = s.page_ms;
                    s.page_ms += every.as_millis() as u32;
                    s.seq += 1;
                    s.due += every;
                    if s.sink.send(encode(s.seq, &Frame::Physics(p))).await.is_err() {
                        s.open = false;
                        continue;
                    }
                    s.unacked.push_back((s.seq, Instant::now()));
                }
            }
            Some((slot, msg)) = reads.next() => {
                let s = &mut live[slot];
                let now = Instant::now();
                let bytes = match msg {
                    Ok(Message::Binary(b)) => b,
                    Ok(Message::Close(_)) | Err(_) => {
                        s.open = false;
                        continue;
                    }
                    Ok(_) => continue,
                };
                match wire::decode(&bytes) {
                    Ok(Envelope { frame: Frame::Ack(a), .. }) => {
                        while let Some(&(seq, at)) = s.unacked.front() {
                            if seq > a.seq {
                                break;
                            }
                            s.unacked.pop_front();
                            if let Some((from, _)) = measuring.filter(|(from, until)| at >= *from && at < *until) {
                                stats.frames += 1;
                                let ms = now.duration_since(at).as_secs_f64() * 1e3;
                                stats.acks_ms.push(ms);
                                if s.plan.token.is_some() {
                                    stats.acks_high_ms.push(ms);
                                }
                                stats.acks_second.push(at.duration_since(from).as_secs() as u32);
                            }
                        }
                    }
                    Ok(Envelope { frame: Frame::Intervene(_), .. }) => {
                        if let (Some(at), false) = (s.raged_at, s.intervened) {
                            s.intervened = true;
                            let ms = now.duration_since(at).as_secs_f64() * 1e3;
                            if s.plan.token.is_some() {
                                stats.intervene_high_ms.push(ms);
                            } else {
                                stats.intervene_other_ms.push(ms);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    stats.held = live.iter().filter(|s| s.open).count();
    stats
}

// ---- one run ----------------------------------------------------------------------------------

/// The figures of one run.
struct Report {
    sessions: usize,
    seconds: f64,
    held: usize,
    failed: Vec<String>,
    frames: u64,
    acks_ms: Vec<f64>,
    acks_high_ms: Vec<f64>,
    acks_second: Vec<u32>,
    /// Wall-clock second of the minute the window opened at.
    start_second: u64,
    high_ms: Vec<f64>,
    other_ms: Vec<f64>,
    detections_sent: usize,
    detections_high: usize,
    confirmed: u64,
    server_cpu_s: f64,
    client_cpu_s: f64,
    server_rss_before: u64,
    server_rss_after: u64,
    client_rss: u64,
}

impl Report {
    fn rss_per_session(&self) -> f64 {
        self.server_rss_after.saturating_sub(self.server_rss_before) as f64 / self.held.max(1) as f64
    }

    fn intervene_p99(&self) -> Option<f64> {
        let all: Vec<f64> = self.high_ms.iter().chain(&self.other_ms).copied().collect();
        p99(&all)
    }

    fn print(&self, args: &Args) {
        let stats = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            let p = |q| percentile(&v, q).map_or("-".to_string(), |x| format!("{x:.1}"));
            format!("{:>8} {:>8} {:>8} {:>8} {:>7}", p(50.0), p(95.0), p(99.0), p(100.0), v.len())
        };
        let all: Vec<f64> = self.high_ms.iter().chain(&self.other_ms).copied().collect();
        let backend = if args.postgres { "PostgreSQL + NATS" } else { "SQLite + memory bus" };
        println!();
        println!("bench-load: {} sessions, {} frames/s each, {:.0} s measured, {backend}", self.sessions, args.rate, self.seconds);
        for f in self.failed.iter().take(5) {
            println!("  a session failed to connect: {f}");
        }
        println!("  sessions held               {:>10} of {}", self.held, self.sessions);
        println!("  frames/s (acknowledged)     {:>10.0}", self.frames as f64 / self.seconds);
        println!("  {:<28}{:>8} {:>8} {:>8} {:>8} {:>7}", "", "p50 ms", "p95 ms", "p99 ms", "max ms", "count");
        println!("  {:<28}{}", "frame -> Ack", stats(&self.acks_ms));
        println!("  {:<28}{}", "  high-value accounts", stats(&self.acks_high_ms));
        println!("  {:<28}{}", "detection -> Intervene", stats(&all));
        println!("  {:<28}{}", "  high-value accounts", stats(&self.high_ms));
        println!("  {:<28}{}", "  other sessions", stats(&self.other_ms));
        // Where the Ack tail is: the worst seconds of the window, on the wall clock.
        let mut worst: Vec<(u32, f64)> = Vec::new();
        for (&sec, &ms) in self.acks_second.iter().zip(&self.acks_ms) {
            match worst.iter_mut().find(|(s, _)| *s == sec) {
                Some(w) => w.1 = w.1.max(ms),
                None => worst.push((sec, ms)),
            }
        }
        worst.sort_by(|a, b| b.1.total_cmp(&a.1));
        let worst: Vec<String> =
            worst.iter().take(3).map(|(s, ms)| format!(":{:02} ({ms:.0} ms)", (self.start_second + u64::from(*s)) % 60)).collect();
        println!("  slowest Acks in the seconds {} (second of the wall-clock minute)", worst.join(", "));
        println!(
            "  detections sent {} ({} high-value), confirmed by the server {}, answered with Intervene {}",
            self.detections_sent,
            self.detections_high,
            self.confirmed,
            all.len()
        );
        println!("  server CPU                  {:>9.1} % of one core", self.server_cpu_s / self.seconds * 100.0);
        println!(
            "  server RSS                  {:>9.1} MB ({:.1} MB before the sessions)",
            self.server_rss_after as f64 / 1e6,
            self.server_rss_before as f64 / 1e6
        );
        println!("  server RSS per session      {:>9.1} KB", self.rss_per_session() / 1024.0);
        println!(
            "  client CPU                  {:>9.1} % of one core (RSS {:.0} MB)",
            self.client_cpu_s / self.seconds * 100.0,
            self.client_rss as f64 / 1e6
        );
        if self.confirmed > 0 {
            let per_1000 = self.server_cpu_s / self.confirmed as f64 * 1000.0;
            println!(
                "  server CPU-s per 1,000 confirmed detections {per_1000:.1}; per detection ${:.8} at ${PRICE_PER_VCPU_HOUR}/vCPU-hour (AWS c6g.large on demand)",
                per_1000 / 1000.0 / 3600.0 * PRICE_PER_VCPU_HOUR
            );
        }
        println!(
            "load: {} held of {}, {:.0} frames/s, detection -> Intervene p99 {} ms (high-value {} ms), Ack p99 {} ms (high-value {} ms), server {:.1} KB/session, server CPU {:.0}%, client CPU {:.0}%",
            self.held,
            self.sessions,
            self.frames as f64 / self.seconds,
            fmt_opt(self.intervene_p99()),
            fmt_opt(p99(&self.high_ms)),
            fmt_opt(p99(&self.acks_ms)),
            fmt_opt(p99(&self.acks_high_ms)),
            self.rss_per_session() / 1024.0,
            self.server_cpu_s / self.seconds * 100.0,
            self.client_cpu_s / self.seconds * 100.0,
        );
    }
}

/// The 99th percentile of `v` (unsorted).
fn p99(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 99.0)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

/// The high-value visitor of session `i`.
fn high_value_customer(i: usize) -> Customer {
    Customer {
        user: format!("u_load_{i:06}"),
        email: format!("buyer{i:06}@load.example"),
        name: format!("Buyer {i:06}"),
        account: HIGH_ACCOUNT.into(),
        account_name: "Load Bench Account".into(),
        value_cents: HIGH_VALUE_CENTS,
    }
}

/// Which sessions rage (every `1/share`-th, evenly) and when, and which carry a token.
fn plans(n: usize, seconds: u64, streams: &Streams, args: &Args, site: &DemoSite) -> Result<Vec<Plan>, String> {
    let ragers = ((n as f64) * args.rage_share / 100.0).round() as usize;
    let every = n.checked_div(ragers).map_or(usize::MAX, |e| e.max(1));
    let high_every = if args.high_share <= 0.0 { usize::MAX } else { (100.0 / args.high_share).round().max(1.0) as usize };
    // Rages spread over the window, leaving a second at each end.
    let span = Duration::from_secs(seconds.saturating_sub(2).max(1));
    let mut out = Vec::with_capacity(n);
    let mut r = 0usize;
    for i in 0..n {
        let rage = (i % every == every / 2 && r < ragers).then(|| {
            let at = Duration::from_secs(1) + span.mul_f64(r as f64 / ragers.max(1) as f64);
            r += 1;
            ((r - 1) % streams.rage.len(), at)
        });
        let token = match rage {
            Some(_) if (r - 1).is_multiple_of(high_every) => Some(
                host::identity_token(&high_value_customer(i), &site.jwt_secret, SystemTime::now() + IDENTITY_TTL)
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        out.push(Plan { index: i, id: SESSION_BASE + i as u64, physics: i % streams.physics.len(), rage, token });
    }
    Ok(out)
}

async fn confirmed(site: &DemoSite) -> Result<u64, String> {
    let http = reqwest::Client::new();
    let v: serde_json::Value = http
        .get(format!("{}/v1/stats", site.server_url))
        .bearer_auth(&site.secret_key)
        .send()
        .await
        .map_err(|e| format!("GET /v1/stats: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET /v1/stats: {e}"))?;
    Ok(v.get("confirmed").and_then(|c| c.as_u64()).unwrap_or(0))
}

async fn one_run(args: &Args, n: usize, streams: &Arc<Streams>) -> Result<Report, String> {
    let server = Server::start(args).await?;
    let pid = server.pid().to_string();
    let tmp = TempDir::new("siq-load-site").map_err(|e| e.to_string())?;
    let site = host::provision(&server.url, ADMIN_TOKEN, tmp.path(), &www_dir()).await.map_err(|e| e.to_string())?;
    let api = site.api();
    // Every confirmed rage is answered: no holdout in a load run.
    api.put("/v1/intervention-policy", &json!({"holdout_share": 0.0}), &[StatusCode::OK]).await.map_err(|e| e.to_string())?;
    api.post("/v1/accounts", &json!({"account": HIGH_ACCOUNT, "name": "Load Bench Account"}), &[StatusCode::CREATED])
        .await
        .map_err(|e| e.to_string())?;
    api.post(
        "/v1/transactions",
        &json!({"id": "tx-load-1", "account": HIGH_ACCOUNT, "amount_cents": HIGH_VALUE_CENTS}),
        &[StatusCode::CREATED, StatusCode::OK],
    )
    .await
    .map_err(|e| e.to_string())?;
    let plans = plans(n, args.seconds, streams, args, &site)?;
    // Let the server settle after provisioning before its baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(&pid);

    let (phase_tx, phase_rx) = watch::channel(Phase::Ramp);
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    let site_key: Arc<str> = site.site_key.as_str().into();
    let mut shards = Vec::with_capacity(SHARDS);
    let per = n.div_ceil(SHARDS);
    let mut rest = plans.into_iter();
    for _ in 0..SHARDS {
        let chunk: Vec<Plan> = rest.by_ref().take(per).collect();
        let every = Duration::from_secs_f64(1.0 / args.rate);
        shards.push(tokio::spawn(shard(server.addr, site_key.clone(), chunk, streams.clone(), every, phase_rx.clone(), conn_tx.clone())));
    }
    drop(conn_tx);
    let ramp = Instant::now();
    let (mut done, mut ok) = (0usize, 0usize);
    while done < n {
        match conn_rx.recv().await {
            Some(v) => {
                done += 1;
                ok += v;
                if done % 2000 == 0 {
                    println!("  {done}/{n} sessions connecting ({ok} open) after {:.1} s", ramp.elapsed().as_secs_f64());
                }
            }
            None => break,
        }
    }
    println!("  {ok} of {n} sessions open after {:.1} s", ramp.elapsed().as_secs_f64());
    tokio::time::sleep(SETTLE).await;

    let confirmed_before = confirmed(&site).await?;
    let start = CpuMark::now(&pid);
    let start_second = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 60;
    let _ = phase_tx.send(Phase::Measure(start.at, start.at + Duration::from_secs(args.seconds)));
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let end = CpuMark::now(&pid);
    let rss_after = rss_bytes(&pid);
    let client_rss = rss_bytes("self");
    tokio::time::sleep(DRAIN).await;
    let confirmed_after = confirmed(&site).await?;
    let _ = phase_tx.send(Phase::Stop);

    let mut r = Report {
        sessions: n,
        seconds: end.at.duration_since(start.at).as_secs_f64(),
        held: 0,
        failed: Vec::new(),
        frames: 0,
        acks_ms: Vec::new(),
        acks_high_ms: Vec::new(),
        acks_second: Vec::new(),
        start_second,
        high_ms: Vec::new(),
        other_ms: Vec::new(),
        detections_sent: 0,
        detections_high: 0,
        confirmed: confirmed_after.saturating_sub(confirmed_before),
        server_cpu_s: (end.server - start.server) as f64 / ticks_per_second(),
        client_cpu_s: (end.client - start.client) as f64 / ticks_per_second(),
        server_rss_before: rss_before,
        server_rss_after: rss_after,
        client_rss,
    };
    for s in shards {
        let s = s.await.map_err(|e| format!("a shard panicked: {e}"))?;
        r.held += s.held;
        r.failed.extend(s.failed);
        r.frames += s.frames;
        r.acks_ms.extend(s.acks_ms);
        r.acks_high_ms.extend(s.acks_high_ms);
        r.acks_second.extend(s.acks_second);
        r.high_ms.extend(s.intervene_high_ms);
        r.other_ms.extend(s.intervene_other_ms);
        r.detections_sent += s.detections_sent;
        r.detections_high += s.detections_high;
    }
    server.drop_streams().await;
    server.stop().await;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_gives_physics_streams_and_confirmed_rage_frames() {
        let s = Streams::load(&workspace_root().join("corpus")).expect("the corpus loads");
        assert!(s.physics.len() > 100, "{} physics streams", s.physics.len());
        assert!(!s.rage.is_empty());
        assert!(s.rage.iter().all(|(_, f)| f.emotion == Emotion::Rage && !f.evidence.is_empty()));
    }

    #[test]
    fn sections_are_numbered_in_order_of_appearance() {
        let csv = "session,t_ms,kind,x,y,target\ns,1,move,1,2,nav\ns,2,move,1,2,\ns,3,click,1,2,buy\ns,4,move,1,2,nav\n";
        let (samples, names) = samples(csv).expect("parses");
        assert_eq!(names, vec![(1, "nav".to_string()), (2, "buy".to_string())]);
        assert_eq!(samples.iter().map(|s| s.section).collect::<Vec<_>>(), vec![1, 0, 2, 1]);
    }

    #[test]
    fn one_physics_frame_per_active_second() {
        let at = |t_ms, kind| Sample { t_ms, x: 0, y: 0, kind, section: 0 };
        let p = physics_of(&[at(100, Kind::Move), at(900, Kind::Click), at(2500, Kind::Scroll)]);
        assert_eq!(p.len(), 2, "second 0 and second 2; second 1 had nothing");
        assert_eq!((p[0].t_ms, p[0].moves, p[0].clicks), (1000, 1, 1));
        assert_eq!((p[1].t_ms, p[1].scrolls), (3000, 1));
    }
}
