//! The demo's host app, run by `cargo xtask demo` beside the server:
//!
//! ```text
//! demo-host --server URL --admin-token T --twilio-addr ADDR --site-dir DIR [--www-dir DIR]
//!           [--account-sid AC… --auth-token TOKEN]
//! ```
//!
//! Starts a local Twilio on `ADDR` that prints every text it receives, waits for the server's
//! `/healthz`, provisions the Demo Store through the server's API (tenant, Acme Corp worth
//! $100,000, the CEO as escalation contact, Jane Doe's identity token, the rendered store page),
//! prints where to go, and keeps running until Ctrl-C. The server must be configured with the
//! same Twilio address and credentials (defaults: [`TwilioCredentials::demo`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use siq_e2e::fakes::{FakeTwilio, TwilioCredentials};
use siq_e2e::host::{self, DemoSite};
use siq_e2e::util::{self, eventually};

const USAGE: &str = "usage: demo-host --server URL --admin-token T --twilio-addr ADDR --site-dir DIR [--www-dir DIR] [--account-sid AC… --auth-token TOKEN]";
/// How long the server gets to come up.
const SERVER_WAIT: Duration = Duration::from_secs(120);

struct Args {
    server: String,
    admin_token: String,
    twilio_addr: SocketAddr,
    site_dir: PathBuf,
    www_dir: PathBuf,
    credentials: TwilioCredentials,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut server, mut admin_token, mut twilio_addr, mut site_dir, mut www_dir) = (None, None, None, None, None);
    let mut credentials = TwilioCredentials::demo();
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--server" => server = Some(value.trim_end_matches('/').to_string()),
            "--admin-token" => admin_token = Some(value),
            "--twilio-addr" => twilio_addr = Some(value.parse().map_err(|e| format!("--twilio-addr {value}: {e}"))?),
            "--site-dir" => site_dir = Some(PathBuf::from(value)),
            "--www-dir" => www_dir = Some(PathBuf::from(value)),
            "--account-sid" => credentials.account_sid = value,
            "--auth-token" => credentials.auth_token = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        server: server.ok_or("--server is required")?,
        admin_token: admin_token.ok_or("--admin-token is required")?,
        twilio_addr: twilio_addr.ok_or("--twilio-addr is required")?,
        site_dir: site_dir.ok_or("--site-dir is required")?,
        www_dir: www_dir.unwrap_or_else(util::www_dir),
        credentials,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("demo-host: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-host: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let twilio = FakeTwilio::start(args.twilio_addr, args.credentials)
        .await
        .map_err(|e| format!("cannot start the local Twilio on {}: {e}", args.twilio_addr))?;
    twilio.echo_to_stdout(true);
    println!("Local Twilio (Messages API) listening on {}", twilio.base_url());

    let health = format!("{}/healthz", args.server);
    let http = reqwest::Client::new();
    let up = eventually(SERVER_WAIT, Duration::from_millis(250), || async {
        http.get(&health).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    up.ok_or_else(|| format!("the server did not answer {health} within {SERVER_WAIT:?}"))?;

    std::fs::create_dir_all(&args.site_dir).map_err(|e| format!("site folder {}: {e}", args.site_dir.display()))?;
    let site = host::provision(&args.server, &args.admin_token, &args.site_dir, &args.www_dir).await.map_err(|e| e.to_string())?;
    print_welcome(&site);

    tokio::signal::ctrl_c().await.map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
    println!("\nStopping the demo host.");
    twilio.shutdown().await;
    Ok(())
}

fn print_welcome(site: &DemoSite) {
    let (c, k) = (&site.customer, &site.contact);
    println!(
        "
SentientIQ demo is ready.

  Tenant        {store} ({tenant})
  Site key      {site_key}   (public: goes in the page)
  Secret key    {secret_key}   (the shop's backend only)
  Escalation    {contact}, {role} by {channel} {address}
  Customer      {name} <{email}> of {account_name} ({account}), lifetime value {value}

  Store         {store_url}   <- rage-click \"Apply coupon\" (help appears),
                then again a few seconds later (the struggle persisted: {contact} is paged)
  Dashboard     {dashboard_url}   sign in: workspace {tenant}, {owner_email}, password \"{owner_password}\"

  The one line a site embeds:
    {snippet}

Texts to {contact} appear below. Ctrl-C to stop.",
        store = host::STORE_NAME,
        tenant = site.tenant_id,
        site_key = site.site_key,
        secret_key = site.secret_key,
        contact = k.name,
        role = k.role,
        channel = k.channel,
        address = k.address,
        name = c.name,
        email = c.email,
        account_name = c.account_name,
        account = c.account,
        value = sentientiq_server::records::format::money(c.value_cents),
        store_url = site.store_url,
        dashboard_url = site.dashboard_url,
        owner_email = host::OWNER_EMAIL,
        owner_password = host::OWNER_PASSWORD,
        snippet = site.snippet,
    );
}
