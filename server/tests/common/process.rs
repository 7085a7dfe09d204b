//! Real processes: the `sentientiq` binary as an operator runs it, and a NATS server of a test's
//! own that can be stopped and started again.

use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::{Ws, ADMIN};

/// A free loopback port (free when asked; a test binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `sentientiq` binary in a process of its own, configured by its environment only, as an
/// operator runs it. Its log lines (standard error) are kept, and read until it says where it
/// listens (as JSON or as text). Killed on drop.
pub struct Binary {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every log line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Starts it on a free loopback port with a SQLite file of its own, [`ADMIN`] as the operator
    /// token and log level `info`; no bus, database or tracing setting of this process's
    /// environment reaches it. `env` adds to or overrides those (`SIQ_ADDR`, `SIQ_DATABASE_URL`,
    /// `RUST_LOG`, …); its log filter must let the `sentientiq_server::server` line saying where
    /// it listens through. Returns once `/healthz` answers.
    pub async fn start(env: &[(&str, &str)]) -> Binary {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sentientiq"));
        for k in [
            "NATS_URL",
            "SIQ_NATS_URL",
            "DATABASE_URL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "SIQ_LOG_FORMAT",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("SIQ_ADDR", "127.0.0.1:0")
            .env("SIQ_DATABASE_URL", format!("sqlite://{}", dir.path().join("siq.db").display()))
            .env("SIQ_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the sentientiq binary starts");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("SentientIQ server listening") {
                    let addr = match serde_json::from_str::<Value>(&line) {
                        Ok(v) => v["fields"]["addr"].as_str().unwrap_or_default().to_string(),
                        Err(_) => line.split_whitespace().find_map(|w| w.strip_prefix("addr=")).unwrap_or_default().to_string(),
                    };
                    let _ = tx.send(addr);
                }
                keep.lock().unwrap().push(line);
            }
        });
        let mut bin = Binary { child, url: String::new(), lines, _dir: dir };
        // Waited for without blocking the test's runtime (other tasks of the test go on).
        let mut addr = None;
        for _ in 0..1200 {
            if let Ok(a) = rx.try_recv() {
                addr = Some(a);
                break;
            }
            if let Some(status) = bin.child.try_wait().unwrap() {
                panic!("the binary exited ({status}) before it listened:\n{}", bin.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let addr = addr.unwrap_or_else(|| panic!("the binary logs its address within 60 s:\n{}", bin.log()));
        bin.url = format!("http://{addr}");
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http.get(format!("{}/healthz", bin.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return bin;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server at {} did not answer /healthz within 30 s:\n{}", bin.url, bin.log());
    }

    /// Its log so far, one line a line.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// A tenant made through the operator API, with no holdout (every confirmed detection
    /// intervenes).
    pub async fn tenant(&self, name: &str) -> Value {
        let http = reqwest::Client::new();
        let r = http.post(format!("{}/v1/admin/tenants", self.url)).bearer_auth(ADMIN).json(&json!({"name": name})).send().await.unwrap();
        let t: Value = r.json().await.unwrap();
        let sk = t["secret_key"].as_str().unwrap();
        let r = http
            .put(format!("{}/v1/intervention-policy", self.url))
            .bearer_auth(sk)
            .json(&json!({"holdout_share": 0.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        t
    }

    /// A WebSocket to its `/v1/ws`.
    pub async fn ws(&self) -> Ws {
        Ws(tokio_tungstenite::connect_async(format!("{}/v1/ws", self.url.replacen("http", "ws", 1))).await.unwrap().0)
    }

    /// Sends `signal` (`INT`, `TERM`, …) and waits up to `patience` for the exit, without
    /// blocking the test's runtime; `None` if it is still running then.
    pub async fn signal(&mut self, signal: &str, patience: Duration) -> Option<ExitStatus> {
        let pid = self.child.id();
        let status = tokio::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().await.unwrap();
        assert!(status.success());
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Ctrl-C, as an operator stops it; panics if it has not stopped within 15 s.
    pub async fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT", Duration::from_secs(15)).await.expect("the server stops within 15 s of Ctrl-C")
    }

    /// SIGTERM, as a service manager stops it, then up to 20 s for the drain (killed after).
    pub async fn stop(mut self) {
        let _ = self.signal("TERM", Duration::from_secs(20)).await;
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(self) {}
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A NATS server with JetStream of a test's own on a free port, its store in a temporary folder
/// (so it can be stopped and started again without touching the machine's NATS). Killed on drop.
pub struct Nats {
    child: Option<tokio::process::Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    pub async fn start() -> Nats {
        let mut n = Nats { child: None, port: free_port(), dir: tempfile::tempdir().unwrap() };
        n.up().await;
        n
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port and store); returns once it listens.
    pub async fn up(&mut self) {
        let exe = if std::path::Path::new("/usr/sbin/nats-server").exists() { "/usr/sbin/nats-server" } else { "nats-server" };
        let child = tokio::process::Command::new(exe)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server is installed (cargo xtask ci installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    /// Kills it and waits for it to be gone.
    pub async fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }
}
