//! Starting a real server on port 0 against each backend, and talking to it like the SDK and
//! the host backend do; [`process`]: the `sentientiq` binary and NATS in processes of their own.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use sentientiq_server::config::Config;
use sentientiq_server::Running;
use serde_json::{json, Value};
use shared_physics::wire::{self, Envelope, Frame, MAX_FRAME_BYTES};
use tokio_tungstenite::tungstenite::Message;

pub mod process;

pub const ADMIN: &str = "test-admin-token";
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// The two backends every test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// SQLite file + in-process bus (the embedded default).
    Embedded,
    /// PostgreSQL + NATS JetStream.
    PostgresNats,
}

pub const BACKENDS: [Backend; 2] = [Backend::Embedded, Backend::PostgresNats];

pub struct TestServer {
    pub running: Option<Running>,
    pub url: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    pg_db: Option<String>,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}{:04x}", rand_u32(), std::process::id() & 0xffff)
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() as u32
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on(backend, tweak, sentientiq_server::clock::system()).await
    }

    /// A server whose clock moves only when the test moves it.
    pub async fn start_clocked(backend: Backend, clock: sentientiq_server::clock::SharedClock) -> TestServer {
        Self::start_on(backend, |_| {}, clock).await
    }

    async fn start_on(backend: Backend, tweak: impl FnOnce(&mut Config), clock: sentientiq_server::clock::SharedClock) -> TestServer {
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("info").try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            admin_token: Some(ADMIN.into()),
            www_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../www").into(),
            bus_prefix: unique("siqt"),
            cooldown_secs: 60,
            ..Config::default()
        };
        // The tests' fakes (JWKS, webhooks) listen on loopback, which the operator allows here.
        config.channels.targets.loopback = true;
        let mut pg_db = None;
        match backend {
            Backend::Embedded => config.database_url = format!("sqlite://{}", dir.path().join("siq.db").display()),
            Backend::PostgresNats => {
                let db = unique("siq_test_");
                let admin = sqlx::PgPool::connect(PG_ADMIN_URL).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL must run at {PG_ADMIN_URL} for the PostgreSQL+NATS suite (cargo xtask ci starts it): {e}")
                });
                sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin).await.unwrap();
                admin.close().await;
                config.database_url = format!("postgres://postgres@127.0.0.1:5432/{db}");
                config.nats_url = Some(NATS_URL.into());
                pg_db = Some(db);
            }
        }
        tweak(&mut config);
        let running =
            sentientiq_server::server::start_with_clock(config, clock).await.unwrap_or_else(|e| panic!("server start on {backend:?}: {e}"));
        let url = running.public_url.clone();
        TestServer { running: Some(running), url, http: reqwest::Client::new(), _dir: dir, pg_db }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        if let Some(db) = self.pg_db.take() {
            if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN_URL).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&admin).await;
            }
        }
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).bearer_auth(key).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self.http.put(format!("{}{path}", self.url)).bearer_auth(key).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(key).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self.http.delete(format!("{}{path}", self.url)).bearer_auth(key).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self.http.patch(format!("{}{path}", self.url)).bearer_auth(key).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Stops the server and starts it again on the same database and bus: what an operator's
    /// restart does. Panics, naming the error, if it will not start.
    pub async fn restart(&mut self) {
        let running = self.running.take().expect("running");
        let config = running.state.config.clone();
        running.shutdown().await;
        let config = sentientiq_server::config::Config { addr: "127.0.0.1:0".parse().unwrap(), ..config };
        let running = sentientiq_server::server::start(config).await.unwrap_or_else(|e| panic!("the server must start again: {e}"));
        self.url = running.public_url.clone();
        self.running = Some(running);
    }

    /// The database URL this server uses.
    pub fn database_url(&self) -> String {
        self.running.as_ref().unwrap().state.config.database_url.clone()
    }

    /// Creates a tenant through the admin API.
    /// Creates a tenant through the admin API, with no holdout (every decision intervenes:
    /// what most tests check; `people.rs`/`learning.rs` test the holdout).
    pub async fn tenant(&self, name: &str) -> Value {
        let (s, t) = self.post("/v1/admin/tenants", ADMIN, json!({"name": name})).await;
        assert_eq!(s, 201, "{t}");
        let (s, p) = self.put("/v1/intervention-policy", t["secret_key"].as_str().unwrap(), json!({"holdout_share": 0.0})).await;
        assert_eq!(s, 200, "{p}");
        t
    }

    /// Polls `path` until `pred` holds (persistence is asynchronous).
    pub async fn eventually(&self, path: &str, key: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            let (s, v) = self.get(path, key).await;
            if s == 200 && pred(&v) {
                return v;
            }
            last = v;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{path} never satisfied the condition; last: {last}");
    }

    pub async fn ws(&self) -> Ws {
        let url = format!("{}/v1/ws", self.url.replacen("http", "ws", 1));
        let (s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Ws(s)
    }
}

pub struct Ws(pub tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>);

pub fn encode(seq: u32, f: &Frame<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_BYTES];
    wire::encode(seq, f, &mut buf).unwrap().to_vec()
}

/// A frame from the server, decoded, or the close code.
#[derive(Debug, PartialEq)]
pub enum In {
    Ack(u32),
    Intervene(String),
    Closed(u16),
}

impl Ws {
    pub async fn send(&mut self, seq: u32, f: &Frame<'_>) {
        self.0.send(Message::Binary(encode(seq, f).into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.0.send(Message::Binary(bytes.into())).await.unwrap();
    }

    /// The next `Ack`'s sequence number, skipping interventions (a push does not wait for the
    /// frame to be durable, so it may come first).
    pub async fn next_ack(&mut self) -> u32 {
        loop {
            match self.next().await {
                In::Ack(seq) => return seq,
                In::Intervene(_) => continue,
                In::Closed(c) => panic!("closed with {c} while waiting for an ack"),
            }
        }
    }

    pub async fn next(&mut self) -> In {
        self.next_within(std::time::Duration::from_secs(10)).await
    }

    /// [`Ws::next`] with a longer patience (an ack waits for what its frame caused to be stored,
    /// which a backlog in the persister delays).
    pub async fn next_within(&mut self, patience: std::time::Duration) -> In {
        let fut = async {
            loop {
                match self.0.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        let env: Envelope<'_> = wire::decode(&b).expect("server frames decode");
                        return match env.frame {
                            Frame::Ack(a) => In::Ack(a.seq),
                            Frame::Intervene(i) => In::Intervene(i.text.to_string()),
                            f => panic!("unexpected frame {f:?}"),
                        };
                    }
                    Some(Ok(Message::Close(c))) => return In::Closed(c.map(|c| u16::from(c.code)).unwrap_or(0)),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => panic!("socket error {e}"),
                    None => return In::Closed(0),
                }
            }
        };
        tokio::time::timeout(patience, fut).await.unwrap_or_else(|_| panic!("a frame from the server within {patience:?}"))
    }
}

/// A visitor JWT as the host backend mints it.
pub fn visitor_token(jwt_secret: &str, sub: &str, account: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let claims = json!({"sub": sub, "name": "Jane Doe", "email": "jane@acme.example", "account": account, "exp": exp});
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(jwt_secret.as_bytes())).unwrap()
}

/// A five-click burst on section 1 as the SDK's detector emits it (decided by the loader's quiet
/// row 1 s after its last click): the last detection frame.
pub fn rage_frame() -> shared_physics::wire::DetectionFrame {
    rage_frame_at(0)
}

/// [`rage_frame`] `later_ms` later in the page (a second burst, when 3 s or more).
pub fn rage_frame_at(later_ms: u32) -> shared_physics::wire::DetectionFrame {
    shared_physics::synthetic::rage_burst_frame(later_ms, 1).expect("a five-click burst is rage")
}
