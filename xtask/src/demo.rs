//! `cargo xtask demo`: the product on this machine with embedded defaults (SQLite file,
//! in-process bus), a demo tenant created through the product's own API, and a local fake of
//! Twilio's Messages API that prints every text the server sends.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::{cargo, run};

/// Where the server listens.
pub const SERVER_ADDR: &str = "127.0.0.1:8080";
/// Where the fake Twilio listens.
pub const TWILIO_ADDR: &str = "127.0.0.1:8090";

fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read;
    let mut b = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("no randomness for the demo's secrets: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn demo(root: &Path) -> Result<(), String> {
    crate::sdk::build(root)?;
    eprintln!("xtask: building the server and the demo host");
    run(cargo().current_dir(root).args(["build", "-p", "sentientiq-server", "-p", "siq-e2e", "--bins"]))?;

    for addr in [SERVER_ADDR, TWILIO_ADDR] {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Err(format!("{addr} is already in use: stop whatever listens there (an earlier demo?) and run again"));
        }
    }
    let dir = root.join("target/demo");
    let site = dir.join("site");
    std::fs::create_dir_all(&site).map_err(|e| format!("cannot create {}: {e}", site.display()))?;
    for f in ["siq.db", "siq.db-wal", "siq.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let admin = random_hex(16)?;
    let (sid, token) = (format!("AC{}", random_hex(16)?), random_hex(16)?);
    let log = dir.join("server.log");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;

    let bin = root.join("target/debug");
    let server = Command::new(bin.join("sentientiq"))
        .current_dir(root)
        .env("SIQ_ADDR", SERVER_ADDR)
        .env("SIQ_DATABASE_URL", format!("sqlite://{}", dir.join("siq.db").display()))
        .env("SIQ_ADMIN_TOKEN", &admin)
        .env("SIQ_LINK_SECRET", random_hex(32)?)
        // The demo's providers are local fakes on loopback.
        .env("SIQ_ALLOW_LOOPBACK_TARGETS", "1")
        .env("SIQ_SDK_DIR", root.join("target/sdk"))
        .env("SIQ_WWW_DIR", root.join("www"))
        .env("SIQ_SITE_DIR", &site)
        .env("SIQ_TWILIO_BASE_URL", format!("http://{TWILIO_ADDR}"))
        .env("SIQ_TWILIO_ACCOUNT_SID", &sid)
        .env("SIQ_TWILIO_AUTH_TOKEN", &token)
        .env("SIQ_TWILIO_FROM", "+15550199")
        .env_remove("DATABASE_URL")
        .env_remove("NATS_URL")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut children = Kill(vec![server]);
    eprintln!("xtask: server starting on http://{SERVER_ADDR} (JSON logs in {})", log.display());

    let host = Command::new(bin.join("demo-host"))
        .current_dir(root)
        .args(["--server", &format!("http://{SERVER_ADDR}"), "--admin-token", &admin, "--twilio-addr", TWILIO_ADDR])
        .args(["--account-sid", &sid, "--auth-token", &token])
        .arg("--site-dir")
        .arg(&site)
        .arg("--www-dir")
        .arg(root.join("www"))
        .spawn()
        .map_err(|e| format!("cannot start the demo host: {e}"))?;
    children.0.push(host);

    // Run until either process ends (Ctrl-C reaches both: they share our process group).
    loop {
        for c in &mut children.0 {
            if let Ok(Some(status)) = c.try_wait() {
                return if status.success() { Ok(()) } else { Err(format!("a demo process exited with {status}; see {}", log.display())) };
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
