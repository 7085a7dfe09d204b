//! `cargo xtask fuzz-api`: schemathesis (a property-based OpenAPI fuzzer, from PyPI) against the
//! real `sentientiq` binary, from the document it serves at `/v1/openapi.json`.
//!
//! It starts the debug server on a free loopback port with a fresh SQLite file, creates a
//! tenant with an owner through the operator API, signs the owner in, and fuzzes every
//! operation twice: once with the tenant's secret key, once with the owner's dashboard session.
//! The operator endpoints get the operator token and the widget's the site key with a visitor
//! token, so no operation is only ever tried unauthorised. It passes when schemathesis finds no
//! server error, no response outside our own schema, no operation that accepts data the
//! document forbids and none that rejects data the document allows; then the server must start
//! again on the database the fuzzer filled.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::package::LocalServer;
use crate::util::run;

/// The schemathesis release fuzzed with (pinned: 4.3.5 does not work with the hypothesis
/// release pip resolves here).
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// Test cases per operation and phase with the secret key (every phase: coverage, fuzzing,
/// stateful).
pub const MAX_EXAMPLES: u32 = 20;
/// Test cases per operation with the owner's session (the fuzzing phase only: the run proves
/// every operation works through a session; the secret key's run has covered the data).
pub const SESSION_EXAMPLES: u32 = 10;
/// Concurrent schemathesis workers.
pub const WORKERS: u32 = 2;
/// Longest one credential's run may take before it is stopped and counted as a failure.
pub const RUN_DEADLINE: Duration = Duration::from_secs(150);

/// The checks that must hold. Left out: `ignored_auth` (it replays requests without or with
/// broken credentials and expects 401, which `POST /v1/login`, `POST /v1/ack` and the signed
/// session links rightly ignore: they are their own authentication), `use_after_free` and
/// `ensure_resource_availability` (they need links between operations the document does not
/// declare), `response_headers_conformance`, `missing_required_header`, `unsupported_method`
/// and `allow_header_conformance` (about HTTP details axum owns, not our document), and
/// `object_level_authorization` (tenant isolation has its own tests in server/tests).
pub const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance";

/// Operations not fuzzed, each with why.
pub const EXCLUDED: &[(&str, &str, &str)] = &[
    ("DELETE", "/v1/keys/{id}", "it would revoke the fuzzer's own secret key"),
    ("PATCH", "/v1/users/{id}", "it could demote the owner whose session the second run uses"),
    ("POST", "/v1/logout", "it would end the owner's session the second run uses (server/tests/dashboard.rs covers it)"),
    ("DELETE", "/v1/users/{id}/sessions", "it could end the owner's session the second run uses (server/tests/dashboard.rs covers it)"),
    (
        "POST",
        "/v1/transactions/csv",
        "a CSV file's rules (its header, quoting, each column's range, each account's total) are not a JSON Schema; server/tests cover each",
    ),
    ("GET", "/v1/ws", "a WebSocket upgrade, not a request and response; tests/ and the frame fuzz target cover it"),
    (
        "POST",
        "/v1/beacon",
        "its body is length-prefixed postcard frames, which no JSON Schema describes; the frame decoder has its own fuzz target",
    ),
];

/// Creates the tenant, signs the owner in, signs a visitor token and a session link, and prints
/// them as JSON (standard library only).
const SETUP_PY: &str = r#"
import base64, hashlib, hmac, json, sys, time, urllib.request
base, admin, link_secret = sys.argv[1], sys.argv[2], sys.argv[3]
def call(method, path, body, token):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
owner = {"email": "owner@fuzz.example", "password": "fuzz-owner-password-1"}
t = call("POST", "/v1/admin/tenants", {"name": "fuzz", "owner": owner}, admin)
s = call("POST", "/v1/login", {"tenant_id": t["tenant_id"], **owner}, "")
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"sub": "fuzz-visitor", "exp": int(time.time()) + 86400}).encode())
sig = b64(hmac.new(t["jwt_secret"].encode(), (head + "." + claims).encode(), hashlib.sha256).digest())
exp = int(time.time()) + 86400
link = hmac.new(link_secret.encode(), ("session-view|%s|fuzz-session|%d" % (t["tenant_id"], exp)).encode(), hashlib.sha256)
print(json.dumps({"secret_key": t["secret_key"], "session": s["token"], "site_key": t["site_key"],
    "visitor": head + "." + claims + "." + sig, "tenant": t["tenant_id"], "exp": str(exp), "link_sig": link.hexdigest()}))
"#;

/// Two things of valid requests no JSON Schema can state, normalised:
/// a list's `cursor` is opaque (only the `next_cursor` values the API issued mean a page, any
/// other is rightly a 400), so it is left out; and JSON Schema counts `4.0` as an integer where
/// serde, like most typed clients, wants `4`, so integral numbers are written without a fraction.
const HOOKS_PY: &str = r#"
import schemathesis

def integral(v):
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, dict):
        return {k: integral(x) for k, x in v.items()}
    if isinstance(v, list):
        return [integral(x) for x in v]
    return v

@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    if isinstance(case.body, (dict, list)):
        case.body = integral(case.body)
    return case

# The fuzzing phase's bodies (both modes: in JSON Schema 4.0 and 4 are the same integer, so
# this changes no case's validity).
@schemathesis.hook
def map_body(ctx, body):
    return integral(body)
"#;

/// Puts the tenant's visitor tokens back on HS256 with its own secret (a run may have pinned
/// RS256 with a made-up JWKS URL), so the widget's operations are tried authorised again.
const RESET_PY: &str = r#"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/identity-settings", method="PUT", data=json.dumps({"alg": "HS256"}).encode(),
    headers={"content-type": "application/json", "authorization": "Bearer " + sys.argv[2]})
urllib.request.urlopen(req, timeout=30)
"#;

fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read;
    let mut b = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).map_err(|e| format!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A venv under `target/fuzz-api/venv` with the pinned schemathesis; returns its `bin/`.
fn venv(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let bin = venv.join("bin");
    let pinned = SCHEMATHESIS.rsplit('=').next().unwrap_or_default();
    let installed = Command::new(bin.join("st")).arg("--version").output().ok();
    if installed.is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains(pinned)) {
        return Ok(bin);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(bin.join("pip")).args(["install", "--quiet", "--disable-pip-version-check", SCHEMATHESIS]))?;
    Ok(bin)
}

/// The server on a free port with SQLite in `dir` (the same file again on a second start).
fn start(root: &Path, bin: &Path, dir: &Path, admin: &str, link_secret: &str) -> Result<LocalServer, String> {
    crate::package::start_local(root, bin, dir, admin, &[("SIQ_LINK_SECRET", link_secret.as_ref()), ("RUST_LOG", "warn".as_ref())])
}

/// A session link's parts, signed as an alert's would be.
struct Link {
    tenant: String,
    exp: String,
    sig: String,
}

/// The config file: the credentials of the operations the tenant's own cannot open (the
/// session view takes a signed link instead: its parameters are a valid one).
fn config(admin: &str, site_key: &str, visitor: &str, link: &Link) -> String {
    let mut c = String::new();
    for path in ["/s/{session}", "/v1/sessions/{session}"] {
        c += &format!(
            "[[operations]]\ninclude-path = \"{path}\"\nparameters = {{ \"path.session\" = \"fuzz-session\", \"query.t\" = \"{}\", \"query.exp\" = {}, \"query.sig\" = \"{}\" }}\n\n",
            link.tenant, link.exp, link.sig
        );
    }
    for path in ["/v1/admin/tenants", "/metrics"] {
        c += &format!("[[operations]]\ninclude-path = \"{path}\"\nheaders = {{ Authorization = \"Bearer {admin}\" }}\n\n");
    }
    for path in ["/v1/me", "/v1/me/context"] {
        c += &format!(
            "[[operations]]\ninclude-path = \"{path}\"\nheaders = {{ Authorization = \"Bearer {visitor}\", X-SIQ-Site-Key = \"{site_key}\" }}\n\n"
        );
    }
    c
}

/// One schemathesis run with `token` as the bearer of every other operation.
/// One run's credentials and bounds.
struct Run<'a> {
    name: &'a str,
    file: &'a str,
    token: String,
    examples: u32,
    phases: &'a str,
}

fn fuzz(st: &Path, dir: &Path, url: &str, r: &Run) -> Result<(), String> {
    let Run { name, file, token, examples, phases } = r;
    let mut cmd = Command::new(st);
    cmd.arg("--config-file").arg(dir.join("schemathesis.toml")).arg("--no-color").arg("run");
    cmd.arg(format!("{url}/v1/openapi.json"));
    cmd.args(["--checks", CHECKS, "--max-examples", &examples.to_string(), "--workers", &WORKERS.to_string()]);
    cmd.args(["--phases", phases]);
    // Path parameters of free text make hypothesis discard many draws; that is not a failure.
    cmd.args(["--suppress-health-check", "filter_too_much"]);
    cmd.args(["--request-timeout", "10", "--generation-database", "none", "--seed", "1"]);
    cmd.args(["--header", &format!("Authorization: Bearer {token}")]);
    for (method, path, _) in EXCLUDED {
        cmd.args(["--exclude-name", &format!("{method} {path}")]);
    }
    cmd.arg("--report").arg("junit").arg("--report-junit-path").arg(dir.join(format!("{file}.junit.xml")));
    eprintln!("\nxtask: fuzzing with {name} (phases {phases}, {examples} examples per operation and phase, {WORKERS} workers)");
    cmd.env("SCHEMATHESIS_HOOKS", "fuzz_hooks").env("PYTHONPATH", dir);
    let mut child = cmd.current_dir(dir).spawn().map_err(|e| format!("cannot start schemathesis: {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if started.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("schemathesis with {name} ran past {} s and was stopped", RUN_DEADLINE.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("xtask: schemathesis with {name}: {status} in {} s", started.elapsed().as_secs());
    if status.success() {
        Ok(())
    } else {
        Err(format!("schemathesis with {name} found failures (listed above, with a curl line to reproduce each)"))
    }
}

/// `cargo xtask fuzz-api`.
pub fn fuzz_api(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    let dir = root.join("target").join("fuzz-api");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for f in ["siq.db", "siq.db-wal", "siq.db-shm", "server.log"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let bin = venv(&dir)?;
    let server_bin = crate::package::server_binary(root)?;
    let (admin, link_secret) = (random_hex(16)?, random_hex(32)?);
    let server = start(root, &server_bin, &dir, &admin, &link_secret)?;
    eprintln!("xtask: server on {} (log in {})", server.url, dir.join("server.log").display());

    let out = Command::new(bin.join("python"))
        .args(["-c", SETUP_PY, &server.url, &admin, &link_secret])
        .output()
        .map_err(|e| format!("cannot run the setup script: {e}"))?;
    if !out.status.success() {
        return Err(format!("creating the tenant failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let creds = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Result<String, String> {
        let key = format!("\"{name}\": \"");
        let start = creds.find(&key).ok_or_else(|| format!("the setup printed no {name}: {creds}"))? + key.len();
        Ok(creds[start..].split('"').next().unwrap_or_default().to_string())
    };
    let link = Link { tenant: field("tenant")?, exp: field("exp")?, sig: field("link_sig")? };
    std::fs::write(dir.join("schemathesis.toml"), config(&admin, &field("site_key")?, &field("visitor")?, &link))
        .map_err(|e| format!("cannot write the schemathesis config: {e}"))?;
    std::fs::write(dir.join("fuzz_hooks.py"), HOOKS_PY).map_err(|e| format!("cannot write the schemathesis hooks: {e}"))?;
    for (method, path, why) in EXCLUDED {
        eprintln!("xtask: not fuzzed: {method} {path}: {why}");
    }

    let st = bin.join("st");
    let mut failed = Vec::new();
    let runs = [
        Run {
            name: "the secret key",
            file: "secret-key",
            token: field("secret_key")?,
            examples: MAX_EXAMPLES,
            phases: "examples,coverage,fuzzing,stateful",
        },
        Run {
            name: "the owner's dashboard session",
            file: "session",
            token: field("session")?,
            examples: SESSION_EXAMPLES,
            phases: "fuzzing",
        },
    ];
    for run in &runs {
        let reset = Command::new(bin.join("python")).args(["-c", RESET_PY, &server.url, &runs[0].token]).status();
        if !reset.is_ok_and(|s| s.success()) {
            failed.push("could not put the identity settings back to HS256 before a run".to_string());
        }
        if let Err(e) = fuzz(&st, &dir, &server.url, run) {
            failed.push(e);
        }
    }

    // Whatever the fuzzer stored, the server must start again on it.
    drop(server);
    let again = start(root, &server_bin, &dir, &admin, &link_secret)?;
    let healthy = Command::new(bin.join("python"))
        .args(["-c", "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/healthz', timeout=10)", &again.url])
        .status()
        .is_ok_and(|s| s.success());
    if !healthy {
        failed.push(format!("the server did not come back healthy on the fuzzed database; see {}", dir.join("server.log").display()));
    }
    drop(again);

    let secs = started.elapsed().as_secs();
    if failed.is_empty() {
        eprintln!("\nxtask: fuzz-api passed in {secs} s: no server error, schema break or wrongly judged data");
        Ok(())
    } else {
        Err(format!("fuzz-api failed in {secs} s:\n  {}", failed.join("\n  ")))
    }
}
