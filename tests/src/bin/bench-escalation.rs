//! Detection → provider request latency under concurrent escalations, run by
//! `cargo xtask bench escalation`:
//!
//! ```text
//! bench-escalation [--escalations N] [--postgres]    (default 100, embedded backend)
//! ```
//!
//! Starts a local Twilio and the server in-process (embedded backend, or PostgreSQL + NATS with
//! `--postgres`) and gives the demo tenant `N` customers, each on an account worth $100,000.
//! Then `N` sessions, each its own WebSocket speaking the SDK's wire protocol, open at once:
//! every session says `Hello` with its customer's identity token and names its section, and
//! waits for the server's acknowledgement. When all are bound, they all send their struggle at
//! once: two rage detection frames with real evidence (the detector's own output for a
//! five-click burst), the second burst 5 s later than the first (in page time and in real time:
//! the server times bursts on its own clock), as a customer whose struggle persists does. A human is paged when the struggle persists over more than one burst,
//! so the figure runs from the moment the second frame was written to the socket to the moment
//! the fake Twilio received the Messages API request naming the session (the link in the SMS
//! carries the session id). Both instants are this process's monotonic clock.
//!
//! A server that pages on the first burst already texts before the second frame is written;
//! such a session is measured from its first frame instead, and their number is printed.
//!
//! Prints p50, p95, p99, max and count; the last line is
//! `detection -> provider request p95: X ms over N escalations`. Exits non-zero if a session
//! got no SMS within 15 s of the last second frame, or the fake Twilio refused a request (each
//! is listed). A benchmark prints figures; it asserts no wall-clock time.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use shared_physics::wire::{self, DetectionFrame, Envelope, Frame, Hello};
use siq_e2e::host::{self, Customer, IDENTITY_TTL};
use siq_e2e::socket::{self, encode, Socket};
use siq_e2e::stack::{Backend, Stack};
use siq_e2e::util::percentile;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

const USAGE: &str = "usage: bench-escalation [--escalations N] [--postgres]";
/// Concurrent escalations unless told otherwise.
const DEFAULT_ESCALATIONS: usize = 100;
/// How long the run waits for the SMS after the last second frame; a session without one by
/// then counts as missed.
const DEADLINE: Duration = Duration::from_secs(15);
/// How long a session may take to connect and be acknowledged before the run gives up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Page time between the two bursts of a session: the struggle persists over more than one
/// burst (the paging bar wants 3 to 120 s between them).
const SECOND_BURST_AFTER_MS: u32 = 5_000;
/// Every account's lifetime value, cents ($100,000: well above the default $10,000 bar).
const ACCOUNT_VALUE_CENTS: i64 = 10_000_000;
/// The section the bursts happen in.
const SECTION: (u8, &str) = (1, "checkout");
/// Session ids are this plus the session's index, so a run's sessions are easy to spot.
const SESSION_BASE: u64 = 0xe5ca_1a7e_0000_0000;

struct Args {
    escalations: usize,
    backend: Backend,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut args = Args { escalations: DEFAULT_ESCALATIONS, backend: Backend::Embedded };
    let mut rest = argv.iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--postgres" => args.backend = Backend::PostgresNats,
            "--escalations" => {
                let n = rest.next().ok_or(USAGE)?;
                args.escalations = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("--escalations {n}: not a positive number"))?;
            }
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
            eprintln!("bench-escalation: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench-escalation: {e}");
            ExitCode::FAILURE
        }
    }
}

/// When a session's two detection frames were written.
#[derive(Clone, Copy, Debug)]
struct Sent {
    first: Instant,
    second: Instant,
}

/// Runs the escalations; `Ok(false)` when some session got no SMS.
async fn run(args: Args) -> Result<bool, String> {
    let n = args.escalations;
    // Escalations must not be held back by a cooldown of an earlier run's alert; one per
    // session is all this run asks for.
    let stack = Stack::start_without_sdk(args.backend, |c| c.cooldown_secs = 3600).await.map_err(|e| e.to_string())?;
    let backend = match args.backend {
        Backend::Embedded => "embedded backend",
        Backend::PostgresNats => "PostgreSQL + NATS",
    };
    println!("bench-escalation: {n} concurrent escalations on {} ({backend})", stack.url());

    let customers: Vec<Customer> = (0..n).map(customer).collect();
    for (i, c) in customers.iter().enumerate() {
        stack
            .api
            .post("/v1/accounts", &json!({"account": c.account, "name": c.account_name}), &[StatusCode::CREATED])
            .await
            .map_err(|e| e.to_string())?;
        stack
            .api
            .post(
                "/v1/transactions",
                &json!({"id": format!("tx-bench-{i:05}"), "account": c.account, "amount_cents": c.value_cents}),
                &[StatusCode::CREATED, StatusCode::OK],
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    println!("  {n} customers on $100,000 accounts provisioned");

    let first = rage_frame(0);
    let second = rage_frame(SECOND_BURST_AFTER_MS);
    let addr = stack.addr();
    // Every session, and this task: it notes when the sessions are released.
    let bound = Arc::new(Barrier::new(n + 1));
    let mut sessions = Vec::with_capacity(n);
    for (i, c) in customers.iter().enumerate() {
        let token = host::identity_token(c, &stack.site.jwt_secret, SystemTime::now() + IDENTITY_TTL).map_err(|e| e.to_string())?;
        let session = SESSION_BASE + i as u64;
        let (key, bound, first, second) = (stack.site.site_key.clone(), bound.clone(), first.clone(), second.clone());
        sessions.push(tokio::spawn(async move { escalate(session, addr, key, token, bound, first, second).await }));
    }
    if tokio::time::timeout(SETUP_TIMEOUT, bound.wait()).await.is_err() {
        // A session that failed before the barrier says why.
        let mut why = Vec::new();
        for (i, task) in sessions.into_iter().enumerate().filter(|(_, t)| t.is_finished()) {
            match task.await {
                Ok(Err(e)) => why.push(format!("session {:016x}: {e}", SESSION_BASE + i as u64)),
                Err(e) => why.push(format!("session {:016x}: {e}", SESSION_BASE + i as u64)),
                Ok(Ok(_)) => {}
            }
        }
        return Err(format!("the {n} sessions were not all bound within {SETUP_TIMEOUT:?}: {}", why.join("; ")));
    }
    let released = Instant::now();
    println!("  {n} sessions connected, identified and acknowledged; sending two rage bursts each");

    let mut sent: HashMap<String, Sent> = HashMap::with_capacity(n);
    // The sockets stay open until the end: the customers are still on the page.
    let mut sockets = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for (i, task) in sessions.into_iter().enumerate() {
        let session = SESSION_BASE + i as u64;
        match task.await {
            Ok(Ok((s, ws))) => {
                sent.insert(format!("{session:016x}"), s);
                sockets.push(ws);
            }
            Ok(Err(e)) => failures.push(format!("session {session:016x}: {e}")),
            Err(e) => failures.push(format!("session {session:016x}: {e}")),
        }
    }
    let last_written = sent.values().map(|s| s.second).max().unwrap_or(released);
    println!("  {} sessions wrote both frames within {:.1} ms", sent.len(), last_written.duration_since(released).as_secs_f64() * 1e3);

    // The SMS of every session, or the deadline after the last second frame.
    let deadline = tokio::time::Instant::from_std(last_written + DEADLINE);
    let progress_every = sent.len().div_ceil(10).max(1);
    let mut reported = 0;
    let mut arrived: HashMap<String, Instant> = HashMap::with_capacity(n);
    loop {
        for sms in stack.twilio.messages() {
            if let Some(session) = session_of(&sms.body).filter(|s| sent.contains_key(*s)) {
                let at = arrived.entry(session.to_string()).or_insert(sms.received);
                *at = (*at).min(sms.received);
            }
        }
        let done = arrived.len() >= sent.len() || tokio::time::Instant::now() >= deadline;
        if done || arrived.len() >= reported + progress_every {
            println!("  {}/{} SMS received", arrived.len(), sent.len());
            reported = arrived.len();
        }
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rejected = stack.twilio.rejections();
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    stack.shutdown().await;

    let mut latencies = Vec::with_capacity(arrived.len());
    let mut on_first_burst = 0;
    let mut ids: Vec<&String> = sent.keys().collect();
    ids.sort();
    for id in ids {
        let s = sent[id];
        match arrived.get(id) {
            Some(&at) if at >= s.second => latencies.push(at.duration_since(s.second).as_secs_f64() * 1e3),
            Some(&at) => {
                on_first_burst += 1;
                latencies.push(at.saturating_duration_since(s.first).as_secs_f64() * 1e3);
            }
            None => failures.push(format!("session {id}: no SMS within {DEADLINE:?} of the last second frame")),
        }
    }
    for r in &rejected {
        println!("fake Twilio refused a request: {} (code {}): {}", r.status, r.code, r.message);
    }
    for f in &failures {
        println!("no escalation: {f}");
    }
    if on_first_burst > 0 {
        println!("{on_first_burst} sessions were paged on their first burst (before the second frame was written): measured from the first frame");
    }
    latencies.sort_by(f64::total_cmp);
    let Some(p95) = percentile(&latencies, 95.0) else {
        return Err(format!("no session of {n} was escalated"));
    };
    let stat = |p| percentile(&latencies, p).unwrap_or(f64::NAN);
    println!();
    println!("{:<40} {:>9} {:>9} {:>9} {:>9} {:>6}", "", "p50 ms", "p95 ms", "p99 ms", "max ms", "count");
    println!(
        "{:<40} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>6}",
        "detection -> provider request",
        stat(50.0),
        p95,
        stat(99.0),
        stat(100.0),
        latencies.len()
    );
    println!("missed {} of {n}", n - latencies.len());
    println!("detection -> provider request p95: {p95:.1} ms over {} escalations", latencies.len());
    Ok(failures.is_empty() && rejected.is_empty())
}

/// The `i`-th customer: their own account worth [`ACCOUNT_VALUE_CENTS`].
fn customer(i: usize) -> Customer {
    Customer {
        user: format!("u_bench_{i:05}"),
        email: format!("buyer{i:05}@bench.example"),
        name: format!("Buyer {i:05}"),
        account: format!("bench-{i:05}"),
        account_name: format!("Bench Account {i:05}"),
        value_cents: ACCOUNT_VALUE_CENTS,
    }
}

/// One session as the SDK runs it: connects, says hello, names its section and waits for the
/// acknowledgement; waits at `bound` for every other session; then writes `first` and `second`
/// and notes when each was written. Reads what the server sends (acknowledgements, the
/// intervention) until it has acknowledged both frames, and returns the open socket.
async fn escalate(
    session: u64,
    addr: std::net::SocketAddr,
    site_key: String,
    token: String,
    bound: Arc<Barrier>,
    first: DetectionFrame,
    second: DetectionFrame,
) -> Result<(Sent, Socket), String> {
    let mut ws = socket::connect(addr, None).await.map_err(|e| format!("connecting: {e}"))?;
    let hello = Hello { session, site_key: &site_key, page: "/store", identity: Some(&token) };
    let named = socket::hello(&mut ws, hello, socket::secret(), [SECTION]).await.map_err(|e| format!("writing hello: {e}"))?;
    acked(&mut ws, named).await?;
    bound.wait().await;
    send(&mut ws, 2, &Frame::Detection(first)).await?;
    let first = Instant::now();
    // The server times the second burst on its own clock (the page's could claim "5 s later" at
    // once), so the second burst comes that much later in real time too.
    tokio::time::sleep(Duration::from_millis(u64::from(SECOND_BURST_AFTER_MS))).await;
    send(&mut ws, 3, &Frame::Detection(second)).await?;
    let second = Instant::now();
    acked(&mut ws, 3).await?;
    Ok((Sent { first, second }, ws))
}

/// Writes (and flushes) one frame.
async fn send(ws: &mut Socket, seq: u32, frame: &Frame<'_>) -> Result<(), String> {
    ws.send(encode(seq, frame)).await.map_err(|e| format!("writing frame {seq}: {e}"))
}

/// Reads server frames until one acknowledges `seq` (acks are cumulative).
async fn acked(ws: &mut Socket, seq: u32) -> Result<(), String> {
    let wait = async {
        while let Some(msg) = ws.next().await {
            match msg.map_err(|e| format!("reading: {e}"))? {
                Message::Binary(b) => match wire::decode(&b).map_err(|e| format!("a server frame does not decode: {e:?}"))? {
                    Envelope { frame: Frame::Ack(a), .. } if a.seq >= seq => return Ok(()),
                    _ => {}
                },
                Message::Close(c) => return Err(format!("closed by the server: {c:?}")),
                _ => {}
            }
        }
        Err("the server hung up".to_string())
    };
    tokio::time::timeout(SETUP_TIMEOUT, wait).await.map_err(|_| format!("no ack of frame {seq} within {SETUP_TIMEOUT:?}"))?
}

/// The session id (16 hex digits) in the SMS's live-session link (`…/s/{session}?…`).
fn session_of(body: &str) -> Option<&str> {
    let (_, rest) = body.split_once("/s/")?;
    rest.split(['?', ' ']).next().filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A five-click rage burst in [`SECTION`] as the SDK's detector emits it (its last detection
/// frame, with the evidence), starting `offset_ms` into the page.
fn rage_frame(offset_ms: u32) -> DetectionFrame {
    shared_physics::synthetic::rage_burst_frame(offset_ms, SECTION.0).expect("a five-click burst is rage")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_read_from_the_link() {
        let body = "SentientIQ: Jane Doe (Acme Corp, $100,000 lifetime value) is showing rage in the checkout section (93% confidence). Live session: http://127.0.0.1:1/s/e5ca1a7e00000007?t=t_1&exp=2&sig=ab";
        assert_eq!(session_of(body), Some("e5ca1a7e00000007"));
        assert_eq!(session_of("Live session: http://x/s/1"), None);
    }

    #[test]
    fn the_second_burst_is_five_seconds_later_in_page_time() {
        let (a, b) = (rage_frame(0), rage_frame(SECOND_BURST_AFTER_MS));
        assert_eq!(b.t_ms - a.t_ms, SECOND_BURST_AFTER_MS);
        assert_eq!(a.emotion, shared_physics::Emotion::Rage);
        assert_eq!(a.evidence.len(), b.evidence.len());
    }
}
