//! What the tests need from the machine, installed or started when missing: Chromium (Debian's
//! package), PostgreSQL on 127.0.0.1:5432 and NATS with JetStream on 127.0.0.1:4222.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::run;

/// Where the browser tests look for Chromium (overridable with `SIQ_CHROMIUM`).
pub const CHROMIUM: &str = "/usr/bin/chromium";

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn wait_listening(port: u16, what: &str) -> Result<(), String> {
    for _ in 0..60 {
        if listening(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("{what} did not start listening on 127.0.0.1:{port}"))
}

fn apt_install(pkg: &str) -> Result<(), String> {
    eprintln!("xtask: installing {pkg} from Debian's packages");
    let _ = run(Command::new("apt-get").args(["update", "-qq"]));
    run(Command::new("apt-get").args(["install", "-y", "-qq", pkg]).env("DEBIAN_FRONTEND", "noninteractive"))
        .map_err(|e| format!("{pkg} is missing and could not be installed ({e}); install it with: apt-get install -y {pkg}"))
}

/// Tries once to install Debian's `binaryen` (for `wasm-opt`, which shrinks the SDK by about
/// 400 gzip bytes); true when `wasm-opt` is then available. The SDK builds without it.
pub fn try_install_binaryen() -> bool {
    if apt_install("binaryen").is_err() {
        eprintln!("xtask: continuing without wasm-opt (the SDK is then a few hundred bytes larger)");
        return false;
    }
    Command::new("wasm-opt").arg("--version").output().is_ok()
}

/// The Chromium the browser tests and benchmarks run: `SIQ_CHROMIUM`, else [`CHROMIUM`].
pub fn chromium() -> String {
    std::env::var("SIQ_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_string())
}

/// Chromium for the browser tests.
pub fn ensure_chromium() -> Result<(), String> {
    if let Ok(p) = std::env::var("SIQ_CHROMIUM") {
        return if Path::new(&p).exists() { Ok(()) } else { Err(format!("SIQ_CHROMIUM={p} does not exist")) };
    }
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    apt_install("chromium")
}

/// The login every PostgreSQL test uses: user `postgres`, no password, over TCP on loopback.
pub const PG_TEST_LOGIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// PostgreSQL on 127.0.0.1:5432, accepting [`PG_TEST_LOGIN`]. A PostgreSQL already listening is
/// left as it is (if it refuses the login, the error says how to allow it). One this function
/// installs or starts is made to accept the login when it does not: Debian's clusters ask for a
/// password over TCP (`scram-sha-256` in `pg_hba.conf`), so `trust` lines for `postgres` on
/// loopback go first in each cluster's `pg_hba.conf` ([`with_test_trust`]) and the cluster
/// reloads.
pub fn ensure_postgres() -> Result<(), String> {
    if listening(5432) {
        return match can_log_in() {
            Some(false) => Err(format!(
                "PostgreSQL on 127.0.0.1:5432 refuses {PG_TEST_LOGIN}; allow it with `host all postgres 127.0.0.1/32 trust` \
                 first in pg_hba.conf and reload"
            )),
            _ => Ok(()),
        };
    }
    eprintln!("xtask: PostgreSQL is not listening on 127.0.0.1:5432; starting it");
    if !Path::new("/etc/postgresql").exists() {
        apt_install("postgresql")?;
    }
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .map_err(|e| format!("no PostgreSQL cluster in /etc/postgresql: {e}"))?
        .flatten()
        .map(|v| v.file_name().to_string_lossy().to_string())
        .collect();
    for v in &versions {
        let _ = run(Command::new("pg_ctlcluster").args(["--skip-systemctl-redirect", v, "main", "start"]));
    }
    wait_listening(5432, "PostgreSQL").map_err(|e| format!("{e}; the PostgreSQL suite needs {PG_TEST_LOGIN} with trust auth"))?;
    if can_log_in() != Some(false) {
        return Ok(());
    }
    for v in &versions {
        let hba = Path::new("/etc/postgresql").join(v).join("main/pg_hba.conf");
        let Ok(text) = std::fs::read_to_string(&hba) else { continue };
        if let Some(changed) = with_test_trust(&text) {
            eprintln!("xtask: allowing the tests' password-less login in {}", hba.display());
            std::fs::write(&hba, changed).map_err(|e| format!("{}: {e}", hba.display()))?;
            let _ = run(Command::new("pg_ctlcluster").args(["--skip-systemctl-redirect", v, "main", "reload"]));
        }
    }
    // A reload is asynchronous: give the postmaster a moment to reread the file.
    for _ in 0..20 {
        if can_log_in() == Some(true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!("PostgreSQL started but still refuses {PG_TEST_LOGIN}; check pg_hba.conf"))
}

/// Whether [`PG_TEST_LOGIN`] works (`psql`, never prompting); `None` when `psql` cannot run.
fn can_log_in() -> Option<bool> {
    Command::new("psql")
        .args(["-w", "-X", "-q", "-d", PG_TEST_LOGIN, "-c", "SELECT 1"])
        .env_remove("PGPASSWORD")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()
        .map(|s| s.success())
}

/// The first line of the block [`with_test_trust`] adds (how it knows it added it already).
const TRUST_MARK: &str = "# cargo xtask: the tests log in as postgres on loopback without a password";

/// `pg_hba.conf` with `trust` for user `postgres` over TCP on loopback (IPv4 and IPv6) before
/// every other rule (the first matching line wins), or `None` when it has them already.
pub fn with_test_trust(hba: &str) -> Option<String> {
    if hba.lines().any(|l| l.trim() == TRUST_MARK) {
        return None;
    }
    Some(format!("{TRUST_MARK}\nhost all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust\n\n{hba}"))
}
/// NATS with JetStream on 127.0.0.1:4222.
pub fn ensure_nats() -> Result<(), String> {
    if listening(4222) {
        return Ok(());
    }
    eprintln!("xtask: NATS is not listening on 127.0.0.1:4222; starting it with JetStream");
    if !Path::new("/usr/sbin/nats-server").exists() && Command::new("nats-server").arg("--version").output().is_err() {
        apt_install("nats-server")?;
    }
    let exe = if Path::new("/usr/sbin/nats-server").exists() { "/usr/sbin/nats-server" } else { "nats-server" };
    let store = std::env::temp_dir().join("siq-nats");
    let _ = std::fs::create_dir_all(&store);
    Command::new(exe)
        .args(["-a", "127.0.0.1", "-p", "4222", "-js", "-sd"])
        .arg(&store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start {exe}: {e}"))?;
    wait_listening(4222, "NATS")
}

/// The Python tools the checks use, pinned: DuckDB reads the warehouse export back in its test.
pub const PYTHON_TOOLS: [&str; 1] = ["duckdb==1.1.3"];

/// A virtual environment under `target/py` with `packages` installed (from PyPI, pinned),
/// created with the machine's `python3` (Debian's `python3-venv` is installed if `venv` is
/// missing). Returns its `bin` folder, to put first on `PATH` for the tests.
pub fn python_venv(root: &Path, packages: &[&str]) -> Result<std::path::PathBuf, String> {
    let venv = root.join("target/py");
    let bin = venv.join("bin");
    if !bin.join("python3").exists() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().map(|s| s.success()).unwrap_or(false);
        if !made {
            apt_install("python3-venv")?;
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
    }
    let marker = venv.join(format!("installed-{}", packages.join("+").replace(['=', '/', '<', '>'], "_")));
    if !marker.exists() {
        eprintln!("xtask: installing {} into {}", packages.join(", "), venv.display());
        run(Command::new(bin.join("python3")).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(packages))?;
        std::fs::write(&marker, b"").map_err(|e| format!("{}: {e}", marker.display()))?;
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's default `pg_hba.conf` asks for a password over TCP.
    const DEBIAN_HBA: &str = "local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
";

    #[test]
    fn trust_for_the_tests_goes_before_the_password_rules_once() {
        let changed = with_test_trust(DEBIAN_HBA).expect("Debian's file lacks the tests' rule");
        let rules: Vec<&str> = changed.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
        assert_eq!(rules[0], "host all postgres 127.0.0.1/32 trust", "the first matching line wins: trust must come first");
        assert_eq!(rules[1], "host all postgres ::1/128 trust");
        assert!(changed.ends_with(DEBIAN_HBA), "the operator's rules are kept, after ours");
        assert_eq!(with_test_trust(&changed), None, "a second run changes nothing");
    }
}
