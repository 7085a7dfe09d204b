//! The whole product on one machine, as a journey needs it: a fake Twilio, the real server
//! started in-process on port 0 over the chosen backend, and the demo store provisioned through
//! the server's API.
//!
//! Two backends, the same journeys:
//! * [`Backend::Embedded`]: a SQLite file in a temporary folder and the in-process bus;
//! * [`Backend::PostgresNats`]: a fresh PostgreSQL database (`siq_e2e_<random>`, dropped
//!   afterwards) and NATS JetStream with a subject prefix of its own. If either is unreachable
//!   the journey fails with a message saying so; it is never skipped.

use std::time::Duration;

use sentientiq_server::config::{Config, TwilioConfig};
use sentientiq_server::escalation::channels::ChannelsConfig;
use sentientiq_server::Running;
use sqlx::Connection as _;

use crate::fakes::{FakeTwilio, TwilioCredentials};
use crate::host::{self, DemoSite, HostError, TenantApi};
use crate::util::{self, TempDir};

/// PostgreSQL maintenance database the suite creates its databases from. `SIQ_E2E_POSTGRES_URL`
/// overrides it.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// NATS server of the suite. `SIQ_E2E_NATS_URL` overrides it.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
/// The operator token of the servers the suite starts.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";
/// The number the server texts from.
pub const SMS_FROM: &str = "+15550199";
/// How long to wait for an external service to answer before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Storage and bus of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + in-process bus: what `cargo xtask demo` runs.
    Embedded,
    /// PostgreSQL + NATS JetStream: production.
    PostgresNats,
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The SDK is not built.
    #[error("the SDK is not built: {0} is missing (run `cargo xtask build-sdk`)")]
    SdkMissing(std::path::PathBuf),
    /// PostgreSQL could not be used.
    #[error("PostgreSQL at {url} is not usable: {reason}. The PostgreSQL + NATS journeys need it (trust auth for user postgres); they are never skipped")]
    Postgres {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
    /// NATS could not be reached.
    #[error("NATS at {url} is not reachable: {reason}. The PostgreSQL + NATS journeys need a NATS server with JetStream (`nats-server -js`); they are never skipped")]
    Nats {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A temporary folder or the fake could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being set up.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// `sentientiq_server::start` failed.
    #[error("the server did not start: {0}")]
    Server(String),
    /// Provisioning the demo tenant failed.
    #[error("provisioning the demo store: {0}")]
    Host(#[from] HostError),
}

/// A running product with a provisioned demo store.
pub struct Stack {
    /// The fake Twilio the server texts through.
    pub twilio: FakeTwilio,
    /// The demo tenant and its visitor.
    pub site: DemoSite,
    /// The tenant's API (secret key).
    pub api: TenantApi,
    server: Running,
    database: Option<PgDatabase>,
    _dir: TempDir,
}

impl Stack {
    /// Starts everything with the default configuration on `backend`.
    pub async fn start(backend: Backend) -> Result<Stack, StackError> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts everything on `backend`, letting `tweak` adjust the server's configuration.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Result<Stack, StackError> {
        let sdk_dir = util::sdk_dir();
        if !sdk_dir.join("sdk.js").is_file() {
            return Err(StackError::SdkMissing(sdk_dir.join("sdk.js")));
        }
        Self::start_without_sdk(backend, tweak).await
    }

    /// [`Stack::start_with`] for runs that load no page and speak the SDK's wire protocol
    /// themselves: the built SDK is not required (the server then answers 404 for its files).
    pub async fn start_without_sdk(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Result<Stack, StackError> {
        util::init_tracing();
        let sdk_dir = util::sdk_dir();
        let dir = TempDir::new("siq-e2e").map_err(|source| StackError::Io { what: "temporary folder", source })?;
        let site_dir = dir.path().join("site");
        std::fs::create_dir_all(&site_dir).map_err(|source| StackError::Io { what: "site folder", source })?;

        let (database_url, nats_url, database) = match backend {
            Backend::Embedded => (format!("sqlite://{}", dir.path().join("siq.db").display()), None, None),
            Backend::PostgresNats => {
                let nats = std::env::var("SIQ_E2E_NATS_URL").unwrap_or_else(|_| NATS_URL.into());
                check_nats(&nats).await?;
                let admin = std::env::var("SIQ_E2E_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_ADMIN_URL.into());
                let db = PgDatabase::create(&admin).await?;
                (db.url.clone(), Some(nats), Some(db))
            }
        };

        let twilio = FakeTwilio::start(([127, 0, 0, 1], 0).into(), TwilioCredentials::demo())
            .await
            .map_err(|source| StackError::Io { what: "fake Twilio", source })?;
        let creds = twilio.credentials().clone();
        let mut config = Config {
            addr: ([127, 0, 0, 1], 0).into(),
            admin_token: Some(ADMIN_TOKEN.into()),
            database_url,
            nats_url,
            bus_prefix: format!("siq_e2e_{}_{:08x}", std::process::id(), rand::random::<u32>()),
            sdk_dir,
            www_dir: util::www_dir(),
            site_dir: Some(site_dir.clone()),
            channels: ChannelsConfig {
                twilio: Some(TwilioConfig {
                    base_url: twilio.base_url(),
                    account_sid: creds.account_sid,
                    auth_token: creds.auth_token,
                    from: SMS_FROM.into(),
                }),
                // The local fakes (and any JWKS a journey serves) listen on loopback.
                targets: sentientiq_server::outbound::Targets { loopback: true },
                ..ChannelsConfig::default()
            },
            ..Config::default()
        };
        tweak(&mut config);
        let server = sentientiq_server::start(config).await.map_err(|e| StackError::Server(e.to_string()))?;
        let site = host::provision(&server.public_url, ADMIN_TOKEN, &site_dir, &util::www_dir()).await?;
        let api = site.api();
        // The journeys check that every rage is answered: no holdout here (the server's suite
        // tests the holdout; the demo keeps the default 10%).
        api.put("/v1/intervention-policy", &serde_json::json!({"holdout_share": 0.0}), &[reqwest::StatusCode::OK]).await?;
        Ok(Stack { twilio, site, api, server, database, _dir: dir })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.server.public_url
    }

    /// The server's bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// Stops the server and the fake, then drops the database and the temporary folder.
    pub async fn shutdown(self) {
        let Stack { twilio, server, database, _dir, .. } = self;
        server.shutdown().await;
        twilio.shutdown().await;
        drop(database);
    }
}

/// A PostgreSQL database created for one run and dropped (forcibly) when this is dropped, even
/// when the journey panicked.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates `siq_e2e_<random>` through `admin_url` (a URL ending in a database name).
    pub async fn create(admin_url: &str) -> Result<PgDatabase, StackError> {
        let fail = |reason: String| StackError::Postgres { url: admin_url.to_string(), reason };
        let Some((server, _)) = admin_url.rsplit_once('/') else {
            return Err(fail("the URL names no database".into()));
        };
        let name = format!("siq_e2e_{:016x}", rand::random::<u64>());
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(admin_url))
            .await
            .map_err(|_| fail(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(|e| fail(format!("CREATE DATABASE {name}: {e}")))?;
        let _ = conn.close().await;
        Ok(PgDatabase { admin_url: admin_url.to_string(), url: format!("{server}/{name}"), name })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs outside any async context we could block: use a thread with its own runtime.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_string()) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// Connects to the NATS server at `url` and reads its `INFO` greeting.
async fn check_nats(url: &str) -> Result<(), StackError> {
    use tokio::io::AsyncReadExt as _;
    let fail = |reason: String| StackError::Nats { url: url.to_string(), reason };
    let hostport = url.strip_prefix("nats://").unwrap_or(url);
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(hostport))
        .await
        .map_err(|_| fail(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    let mut greeting = [0u8; 4];
    tokio::time::timeout(CONNECT_TIMEOUT, stream.read_exact(&mut greeting))
        .await
        .map_err(|_| fail("no INFO greeting".into()))?
        .map_err(|e| fail(e.to_string()))?;
    if &greeting != b"INFO" {
        return Err(fail(format!("greeting {:?} is not NATS's INFO", String::from_utf8_lossy(&greeting))));
    }
    Ok(())
}
