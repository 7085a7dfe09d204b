//! Faults with real processes, on PostgreSQL + NATS JetStream: the `sentientiq` binary killed
//! mid-stream, NATS stopped for 10 s, PostgreSQL unreachable for 10 s, a reconnect landing on
//! another instance. Visitors speak the SDK's protocol (Hello, then numbered frames, resend
//! everything unacknowledged after a reconnect, name the sections again) and keep what the
//! server acknowledged; afterwards the ingest journal (`frames`) must hold every acknowledged
//! `(session, seq)` exactly once, and no detection may have caused two interventions.
//!
//! Every process listens on loopback; every wait is bounded.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::process::{free_port, Binary, Nats};
use common::{encode, rage_frame_at, visitor_token, NATS_URL, PG_ADMIN_URL};
use futures::{SinkExt, StreamExt};
use shared_physics::wire::{self, Frame, Hello, Physics, Section};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const LINK_SECRET: &str = "faults-link-secret-0123456789abcdef0123456789";

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}{:04x}", rand::random::<u32>(), std::process::id() & 0xffff)
}

/// A fresh PostgreSQL database, dropped at the end.
struct Db {
    name: String,
}

impl Db {
    async fn create() -> Db {
        let name = unique("siq_fault_");
        let admin = sqlx::PgPool::connect(PG_ADMIN_URL).await.unwrap_or_else(|e| panic!("PostgreSQL must run at {PG_ADMIN_URL}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        admin.close().await;
        Db { name }
    }

    fn url_via(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }

    async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url_via(5432)).await.unwrap()
    }

    async fn drop_it(self) {
        if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN_URL).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&admin).await;
        }
    }
}

/// One `sentientiq serve` process on `port` (the same port again after a kill).
async fn start_server(port: u16, database_url: &str, nats_url: &str, prefix: &str) -> Binary {
    Binary::start(&[
        ("SIQ_ADDR", &format!("127.0.0.1:{port}")),
        ("SIQ_DATABASE_URL", database_url),
        ("SIQ_NATS_URL", nats_url),
        ("SIQ_BUS_PREFIX", prefix),
        ("SIQ_LINK_SECRET", LINK_SECRET),
        ("SIQ_WWW_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../www")),
        ("SIQ_COOLDOWN_SECS", "1"),
        // Warnings, and the line saying where it listens.
        ("RUST_LOG", "warn,sentientiq_server::server=info"),
    ])
    .await
}

/// A TCP relay in front of PostgreSQL that can cut every connection and refuse new ones.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    epoch: Arc<AtomicU32>,
}

impl Relay {
    async fn start(to: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU32::new(0));
        let (c, e) = (cut.clone(), epoch.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let (c, e) = (c.clone(), e.clone());
                let born = e.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", to)).await else { return };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let watch = async {
                        while !c.load(Ordering::SeqCst) && e.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = watch => {} }
                });
            }
        });
        Relay { port, cut, epoch }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A tenant made through the admin API, with no holdout and a valuable identified customer.
struct Tenant {
    site_key: String,
    secret_key: String,
    token: String,
}

async fn tenant(server: &Binary) -> Tenant {
    let t = server.tenant("Faults").await;
    let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
    Tenant { site_key: t["site_key"].as_str().unwrap().to_string(), secret_key: t["secret_key"].as_str().unwrap().to_string(), token }
}

/// What a visitor saw, for the checks afterwards.
#[derive(Default, Debug)]
struct Seen {
    /// Highest sequence number acknowledged.
    acked: u32,
    /// Frames sent at all (the last sequence number).
    sent: u32,
    /// Interventions received, with the time since the visitor started.
    interventions: Vec<Duration>,
    /// Connections opened.
    connections: u32,
}

/// A visitor that behaves like the SDK: numbered frames, a queue of what is unacknowledged,
/// resend after every reconnect (Hello first, then the section frames, then the queue). It
/// sends a Physics frame every 50 ms and a rage burst's detection every 40th frame, for
/// `frames` frames, then waits until everything is acknowledged (or `settle` passes).
async fn visitor(urls: Vec<String>, t: Arc<Tenant>, session: u64, frames: u32, settle: Duration) -> Seen {
    let started = tokio::time::Instant::now();
    let mut seen = Seen::default();
    let mut queue: Vec<(u32, Vec<u8>)> = Vec::new();
    let section = encode(1, &Frame::Section(Section { id: 1, name: "checkout" }));
    let mut seq = 1u32;
    queue.push((1, section.clone()));
    let mut which = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let give_up = started + Duration::from_secs(u64::from(frames) / 20 + 10) + settle;
    'connect: loop {
        if tokio::time::Instant::now() > give_up {
            break;
        }
        let url = format!("{}/v1/ws", urls[which % urls.len()].replacen("http", "ws", 1));
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(url)).await else {
            which += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        seen.connections += 1;
        let hello = encode(0, &Frame::Hello(Hello { session, site_key: &t.site_key, page: "/checkout", identity: Some(&t.token) }));
        let mut out = vec![hello];
        if seen.acked >= 1 {
            out.push(section.clone()); // named again, with its first number
        }
        out.extend(queue.iter().map(|(_, b)| b.clone()));
        for b in out {
            if ws.send(Message::Binary(b.into())).await.is_err() {
                continue 'connect;
            }
        }
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if seq >= frames {
                        if queue.is_empty() || tokio::time::Instant::now() > give_up {
                            break 'connect;
                        }
                        continue;
                    }
                    seq += 1;
                    let b = if seq.is_multiple_of(40) {
                        encode(seq, &Frame::Detection(rage_frame_at(seq * 50)))
                    } else {
                        encode(seq, &Frame::Physics(Physics { t_ms: seq * 50, moves: 3, clicks: 0, scrolls: 0, mean_speed: 200, peak_jerk_k: 10, entropy_q: 100 }))
                    };
                    queue.push((seq, b.clone()));
                    seen.sent = seq;
                    if ws.send(Message::Binary(b.into())).await.is_err() {
                        which += 1;
                        continue 'connect;
                    }
                }
                m = ws.next() => match m {
                    Some(Ok(Message::Binary(b))) => match wire::decode(&b).map(|e| e.frame) {
                        Ok(Frame::Ack(a)) => {
                            seen.acked = seen.acked.max(a.seq);
                            queue.retain(|(s, _)| *s > a.seq);
                        }
                        Ok(Frame::Intervene(_)) => seen.interventions.push(started.elapsed()),
                        _ => {}
                    },
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        which += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue 'connect;
                    }
                },
            }
        }
    }
    seen
}

/// Every acknowledged frame is in the journal once, no more frames than were sent, and no
/// detection caused two interventions or two decisions.
async fn check_nothing_lost(db: &Db, seen: &BTreeMap<u64, Seen>) {
    let pool = db.pool().await;
    // The persister may still be writing what the bus holds: wait (bounded) for the count.
    let expected: i64 = seen.values().map(|s| i64::from(s.acked)).sum();
    let mut rows = 0i64;
    for _ in 0..300 {
        rows = sqlx::query_scalar("SELECT count(*) FROM frames").fetch_one(&pool).await.unwrap();
        if rows >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (session, s) in seen {
        assert!(s.acked >= 1 && s.acked == s.sent, "session {session:x}: everything sent is acknowledged in the end: {s:?}");
        let hex = format!("{session:016x}");
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM frames WHERE session = $1 ORDER BY seq").bind(&hex).fetch_all(&pool).await.unwrap();
        let want: Vec<i64> = (1..=i64::from(s.acked)).collect();
        assert_eq!(seqs, want, "session {hex}: the journal holds every acknowledged frame once ({} connections)", s.connections);
    }
    assert_eq!(rows, expected, "no frame is counted twice");
    let twice: i64 =
        sqlx::query_scalar("SELECT count(*) FROM (SELECT session, seq FROM interventions GROUP BY session, seq HAVING count(*) > 1) d")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(twice, 0, "no detection caused two interventions");
    let detections: i64 = sqlx::query_scalar("SELECT count(*) FROM detections").fetch_one(&pool).await.unwrap();
    let detection_frames: i64 = sqlx::query_scalar("SELECT count(*) FROM frames WHERE kind = 'detection'").fetch_one(&pool).await.unwrap();
    assert!(detections >= 1 && detections <= detection_frames, "{detections} detections stored from {detection_frames} detection frames");
    pool.close().await;
}

async fn run_visitors(urls: &[String], t: &Arc<Tenant>, n: u64, frames: u32) -> Vec<tokio::task::JoinHandle<(u64, Seen)>> {
    (0..n)
        .map(|i| {
            let (urls, t) = (urls.to_vec(), t.clone());
            let session = 0x5eed_0000 + i;
            tokio::spawn(async move { (session, visitor(urls, t, session, frames, Duration::from_secs(60)).await) })
        })
        .collect()
}

async fn collect(handles: Vec<tokio::task::JoinHandle<(u64, Seen)>>) -> BTreeMap<u64, Seen> {
    let mut out = BTreeMap::new();
    for h in handles {
        let (k, v) = h.await.unwrap();
        out.insert(k, v);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_loses_no_acknowledged_frame() {
    let db = Db::create().await;
    let prefix = unique("siqf");
    let port = free_port();
    let server = start_server(port, &db.url_via(5432), NATS_URL, &prefix).await;
    let t = Arc::new(tenant(&server).await);
    let urls = vec![server.url.clone()];
    let visitors = run_visitors(&urls, &t, 8, 160).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = start_server(port, &db.url_via(5432), NATS_URL, &prefix).await;
    let seen = collect(visitors).await;
    assert!(seen.values().all(|s| s.connections >= 2), "every visitor reconnected after the kill: {seen:?}");
    check_nothing_lost(&db, &seen).await;
    server.stop().await;
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_away_for_ten_seconds_and_a_kill_meanwhile_lose_nothing() {
    let db = Db::create().await;
    let mut nats = Nats::start().await;
    let prefix = unique("siqf");
    let port = free_port();
    let server = start_server(port, &db.url_via(5432), &nats.url(), &prefix).await;
    let t = Arc::new(tenant(&server).await);
    let urls = vec![server.url.clone()];
    // 400 frames at 20 a second: NATS away from 3 s to 13 s, and the server killed at 8 s, when
    // five seconds of frames have been handled but nothing they caused could be stored: those
    // must not have been acknowledged.
    let visitors = run_visitors(&urls, &t, 4, 400).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.down().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    nats.up().await;
    let server = start_server(port, &db.url_via(5432), &nats.url(), &prefix).await;
    let seen = collect(visitors).await;
    // Interventions kept arriving while NATS was away (the push goes straight to the socket).
    let during =
        seen.values().flat_map(|s| &s.interventions).filter(|at| **at > Duration::from_secs(4) && **at < Duration::from_secs(8)).count();
    assert!(during >= 1, "interventions while NATS was away: {seen:?}");
    check_nothing_lost(&db, &seen).await;
    server.stop().await;
    nats.down().await;
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_for_ten_seconds_keeps_the_hot_path_and_loses_nothing() {
    let db = Db::create().await;
    let relay = Relay::start(5432).await;
    let prefix = unique("siqf");
    let server = start_server(free_port(), &db.url_via(relay.port), NATS_URL, &prefix).await;
    let t = Arc::new(tenant(&server).await);
    let urls = vec![server.url.clone()];
    let visitors = run_visitors(&urls, &t, 4, 400).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    relay.cut();
    tokio::time::sleep(Duration::from_secs(10)).await;
    relay.restore();
    let seen = collect(visitors).await;
    let during =
        seen.values().flat_map(|s| &s.interventions).filter(|at| **at > Duration::from_secs(4) && **at < Duration::from_secs(13)).count();
    assert!(during >= 1, "interventions while PostgreSQL was away: {seen:?}");
    // Acknowledgements never waited for PostgreSQL: every visitor's frames were acknowledged
    // while it was away (JetStream held them), so no visitor needed more than one connection.
    assert!(seen.values().all(|s| s.connections == 1), "{seen:?}");
    check_nothing_lost(&db, &seen).await;
    server.stop().await;
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moving_to_another_instance_keeps_its_sections_identity_and_pushes() {
    let db = Db::create().await;
    let prefix = unique("siqf");
    let a = start_server(free_port(), &db.url_via(5432), NATS_URL, &prefix).await;
    let b = start_server(free_port(), &db.url_via(5432), NATS_URL, &prefix).await;
    let t = Arc::new(tenant(&a).await);
    let http = reqwest::Client::new();

    // B's live feed sees what happens on A.
    let mut live = http.get(format!("{}/v1/live", b.url)).bearer_auth(&t.secret_key).send().await.unwrap();
    assert_eq!(live.status(), 200);

    // A session on A names its section; the socket then drops and the page reconnects to B.
    let session = 0xab_0001u64;
    let hello = encode(0, &Frame::Hello(Hello { session, site_key: &t.site_key, page: "/checkout", identity: Some(&t.token) }));
    let section = encode(1, &Frame::Section(Section { id: 1, name: "checkout" }));
    let mut on_a = a.ws().await.0;
    on_a.send(Message::Binary(hello.clone().into())).await.unwrap();
    on_a.send(Message::Binary(section.clone().into())).await.unwrap();
    assert_eq!(next_ack(&mut on_a).await, 1);
    drop(on_a);
    let mut on_b = b.ws().await.0;
    on_b.send(Message::Binary(hello.clone().into())).await.unwrap();
    on_b.send(Message::Binary(section.clone().into())).await.unwrap(); // named again
    on_b.send(Message::Binary(encode(2, &Frame::Detection(rage_frame_at(0))).into())).await.unwrap();
    let (mut acked, mut pushed) = (0, false);
    while acked < 2 || !pushed {
        if let Message::Binary(b) = tokio::time::timeout(Duration::from_secs(10), on_b.next()).await.expect("B answers").unwrap().unwrap() {
            match wire::decode(&b).unwrap().frame {
                Frame::Ack(a) => acked = a.seq,
                Frame::Intervene(_) => pushed = true,
                _ => {}
            }
        }
    }
    // The detection B stored knows the section the page named again and the person the token
    // names.
    let pool = db.pool().await;
    let mut row: Option<(String, Option<String>)> = None;
    for _ in 0..100 {
        row = sqlx::query_as("SELECT section, user_sub FROM detections WHERE session = $1")
            .bind(format!("{session:016x}"))
            .fetch_optional(&pool)
            .await
            .unwrap();
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(row, Some(("checkout".to_string(), Some("u_jane".to_string()))));

    // A session whose socket is on A: its detection decided on A shows on B's live feed; a
    // later one decided on B (its beacon landed there) reaches the socket on A.
    let other = 0xab_0002u64;
    let hello2 = encode(0, &Frame::Hello(Hello { session: other, site_key: &t.site_key, page: "/checkout", identity: Some(&t.token) }));
    let mut on_a = a.ws().await.0;
    on_a.send(Message::Binary(hello2.clone().into())).await.unwrap();
    on_a.send(Message::Binary(section.clone().into())).await.unwrap();
    on_a.send(Message::Binary(encode(2, &Frame::Detection(rage_frame_at(0))).into())).await.unwrap();
    assert!(intervened(&mut on_a).await, "A intervened on its own socket");
    let saw = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while let Ok(Some(chunk)) = live.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.split("event: detection").skip(1).any(|e| e.contains(&format!("{other:016x}"))) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(saw, Ok(true), "B's live feed shows the detection decided on A");
    tokio::time::sleep(Duration::from_millis(1200)).await; // past the cooldown
    let mut body = Vec::new();
    for f in [hello2, encode(3, &Frame::Detection(rage_frame_at(5000)))] {
        body.extend_from_slice(&(f.len() as u16).to_le_bytes());
        body.extend_from_slice(&f);
    }
    let r = http.post(format!("{}/v1/beacon", b.url)).body(body).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(intervened(&mut on_a).await, "the socket on A received the intervention B decided");
    pool.close().await;
    a.stop().await;
    b.stop().await;
    db.drop_it().await;
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Whether an `Intervene` arrives within 10 s (acks on the way are skipped).
async fn intervened(ws: &mut Socket) -> bool {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Binary(b) = m {
                if matches!(wire::decode(&b).map(|e| e.frame), Ok(Frame::Intervene(_))) {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

async fn next_ack(ws: &mut Socket) -> u32 {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an ack within 10 s").unwrap().unwrap();
        if let Message::Binary(b) = m {
            if let Ok(Frame::Ack(a)) = wire::decode(&b).map(|e| e.frame) {
                return a.seq;
            }
        }
    }
}
