//! Configuration: one typed struct, every field with a documented default, read from the
//! environment (`SIQ_*`; `DATABASE_URL` and `NATS_URL` are honoured too).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the server needs to run. Its `Debug` shows no secret (the admin token, the link
/// secret, the encryption keys, the providers' credentials and the model's key are elided).
#[derive(Clone)]
pub struct Config {
    /// Listen address. `SIQ_ADDR`, default `127.0.0.1:8080`. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Base URL people reach the server at, used in signed links. `SIQ_PUBLIC_URL`, default
    /// `http://{addr}` (with the bound port).
    pub public_url: Option<String>,
    /// Store: `sqlite://path` (created if missing) or `postgres://…`. `SIQ_DATABASE_URL` or
    /// `DATABASE_URL`, default `sqlite://sentientiq.db`.
    pub database_url: String,
    /// Bus: `None` for the in-process bus, or `nats://host:port` for NATS JetStream.
    /// `SIQ_NATS_URL` or `NATS_URL`, default none.
    pub nats_url: Option<String>,
    /// Prefix of every bus subject and of the JetStream stream name, so several deployments
    /// (or test runs) can share one NATS server. `SIQ_BUS_PREFIX`, default `siq`.
    pub bus_prefix: String,
    /// Bearer token of the operator API (`/v1/admin/*`). `SIQ_ADMIN_TOKEN`; no default: without
    /// it the admin API answers 403.
    pub admin_token: Option<String>,
    /// Bearer token of `GET /metrics` for a Prometheus scraper (it reads nothing else; the
    /// operator token reads metrics too). `SIQ_METRICS_TOKEN`, default none.
    pub metrics_token: Option<String>,
    /// Key that signs one-click session links. `SIQ_LINK_SECRET`; default: random per start
    /// (links then stop working after a restart, which the log says).
    pub link_secret: Vec<u8>,
    /// How long a signed session link stays valid, seconds. `SIQ_LINK_TTL_SECS`, default 86400.
    pub link_ttl_secs: u64,
    /// Folder of the built SDK (`sdk.js`, `sdk-worker.js`, `sdk.wasm`). `SIQ_SDK_DIR`, default
    /// `target/sdk`.
    pub sdk_dir: PathBuf,
    /// Folder of the built customer widget (`widget.js`, `widget_shell.js`,
    /// `widget_shell_bg.wasm`), served at `/widget/`. `SIQ_WIDGET_DIR`, default `target/widget`.
    pub widget_dir: PathBuf,
    /// Folder of the static pages (dashboard, session view). `SIQ_WWW_DIR`, default `www`.
    pub www_dir: PathBuf,
    /// Optional folder served before `www_dir` (a host's rendered pages, e.g. the demo store).
    /// `SIQ_SITE_DIR`, default none.
    pub site_dir: Option<PathBuf>,
    /// Folder the warehouse export writes Parquet files to (`forensics::warehouse`); set, every
    /// tenant's previous day is exported daily. `SIQ_EXPORT_DIR`, default none (no export).
    pub export_dir: Option<PathBuf>,
    /// Escalation channels: Twilio (SMS, WhatsApp), PagerDuty, SMTP, signed webhooks (Slack needs
    /// nothing: the contact's address is the webhook). Read by
    /// [`crate::escalation::channels::ChannelsConfig::from_lookup`] (`SIQ_TWILIO_*`, `SIQ_PAGERDUTY_*`,
    /// `SIQ_SMTP_URL`, `SIQ_EMAIL_FROM`, `SIQ_WEBHOOK_SECRET`, `SIQ_CHANNEL_TIMEOUT_MS`); a channel
    /// without its settings is off and says so in the log.
    pub channels: crate::escalation::channels::ChannelsConfig,
    /// Keys sealing personal fields at rest and the blind-index key: `SIQ_ENCRYPTION_KEYS`
    /// (`id:BASE64,…`, the first seals, all open) and `SIQ_INDEX_KEY` (BASE64), both required
    /// together (docs/security.md). Default none: a key derived from the link secret, with a
    /// warning in the log (development only).
    pub encryption_keys: Option<(String, String)>,
    /// Least server-confirmed confidence for an in-page intervention. `SIQ_INTERVENE_CONFIDENCE`,
    /// default 0.85.
    pub intervene_confidence: f32,
    /// Least account lifetime value (cents) that escalates to a human. `SIQ_CRITICAL_VALUE_CENTS`,
    /// default 1_000_000 ($10k).
    pub critical_value_cents: i64,
    /// Seconds during which a session gets no second intervention or alert for the same
    /// emotion. `SIQ_COOLDOWN_SECS`, default 120.
    pub cooldown_secs: u64,
    /// Least server-confirmed confidence of a detection that counts towards paging a human
    /// (with persistence over a second burst, [`shared_physics::paging`]). `SIQ_PAGE_CONFIDENCE`,
    /// default 0.90.
    pub page_confidence: f32,
    /// How long a paged contact has to acknowledge before the next is paged, ms.
    /// `SIQ_ACK_TIMEOUT_MS`, default 60000.
    pub ack_timeout_ms: u64,
    /// How long an instance's claim on an escalation lasts while it pages (after a crash, another
    /// instance takes over when it lapses), ms. `SIQ_ESCALATION_LEASE_MS`, default 120000 (longer
    /// than the slowest page: every channel of a contact with its retries).
    pub escalation_lease_ms: u64,
    /// An OpenAI-compatible endpoint that writes conversation-card openers
    /// ([`crate::interventions::opener::OpenerConfig::from_lookup`]: `SIQ_CARD_LLM_URL`, `SIQ_CARD_LLM_MODEL`,
    /// `SIQ_CARD_LLM_KEY`, `SIQ_CARD_LLM_TIMEOUT_MS`). Default none: the template writes them.
    pub card_model: Option<crate::interventions::opener::OpenerConfig>,
    /// How long a new socket has to say `Hello`, ms. `SIQ_HELLO_DEADLINE_MS`, default
    /// [`crate::ingest::HELLO_DEADLINE`] (10 s).
    pub hello_deadline_ms: u64,
    /// How long a socket may stay silent (no frame, no pong) before it is closed, ms.
    /// `SIQ_IDLE_TIMEOUT_MS`, default [`crate::ingest::IDLE_TIMEOUT`] (95 s; the server pings
    /// every 30 s).
    pub idle_timeout_ms: u64,
    /// Live sessions one tenant may have on this instance. `SIQ_MAX_SESSIONS_PER_TENANT`, default
    /// [`crate::ingest::MAX_SESSIONS_PER_TENANT`] (50,000).
    pub max_sessions_per_tenant: usize,
    /// Open WebSocket connections one tenant (site key) may have on this instance.
    /// `SIQ_MAX_SOCKETS_PER_TENANT`, default [`crate::ingest::MAX_SOCKETS_PER_TENANT`] (50,000).
    pub max_sockets_per_tenant: usize,
    /// How long a kept-alive HTTP/1.1 connection may wait for its next request (its header
    /// included) before it is closed, ms. `SIQ_KEEP_ALIVE_TIMEOUT_MS`, default
    /// [`crate::listener::KEEP_ALIVE_TIMEOUT`] (60 s). Not applied to WebSockets.
    pub keep_alive_timeout_ms: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HIDDEN: &str = "<hidden>";
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .field("database_url", &crate::records::redact::mask_address(&self.database_url))
            .field("nats_url", &self.nats_url.as_deref().map(crate::records::redact::mask_address))
            .field("bus_prefix", &self.bus_prefix)
            .field("admin_token", &self.admin_token.as_ref().map(|_| HIDDEN))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| HIDDEN))
            .field("link_secret", &HIDDEN)
            .field("link_ttl_secs", &self.link_ttl_secs)
            .field("sdk_dir", &self.sdk_dir)
            .field("widget_dir", &self.widget_dir)
            .field("www_dir", &self.www_dir)
            .field("site_dir", &self.site_dir)
            .field("channels", &HIDDEN)
            .field("encryption_keys", &self.encryption_keys.as_ref().map(|_| HIDDEN))
            .field("intervene_confidence", &self.intervene_confidence)
            .field("critical_value_cents", &self.critical_value_cents)
            .field("cooldown_secs", &self.cooldown_secs)
            .field("page_confidence", &self.page_confidence)
            .field("ack_timeout_ms", &self.ack_timeout_ms)
            .field("escalation_lease_ms", &self.escalation_lease_ms)
            .field("card_model", &self.card_model.as_ref().map(|_| HIDDEN))
            .field("hello_deadline_ms", &self.hello_deadline_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("max_sessions_per_tenant", &self.max_sessions_per_tenant)
            .field("max_sockets_per_tenant", &self.max_sockets_per_tenant)
            .field("keep_alive_timeout_ms", &self.keep_alive_timeout_ms)
            .finish()
    }
}

/// Shortest `SIQ_LINK_SECRET` accepted, bytes: it signs every session link and acknowledgement
/// and seeds the decisions.
pub const MIN_LINK_SECRET_BYTES: usize = 32;
/// Shortest `SIQ_ADMIN_TOKEN` (and `SIQ_METRICS_TOKEN`) accepted, characters: it creates
/// tenants.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

pub use crate::escalation::channels::twilio::TwilioConfig;

/// A configuration value that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: "sqlite://sentientiq.db".into(),
            nats_url: None,
            bus_prefix: "siq".into(),
            admin_token: None,
            metrics_token: None,
            link_secret: random_secret(),
            link_ttl_secs: 86_400,
            sdk_dir: "target/sdk".into(),
            widget_dir: "target/widget".into(),
            www_dir: "www".into(),
            site_dir: None,
            export_dir: None,
            channels: crate::escalation::channels::ChannelsConfig::default(),
            encryption_keys: None,
            intervene_confidence: 0.85,
            critical_value_cents: 1_000_000,
            cooldown_secs: 120,
            page_confidence: shared_physics::paging::DEFAULT_CONFIDENCE_PCT as f32 / 100.0,
            ack_timeout_ms: 60_000,
            escalation_lease_ms: 120_000,
            card_model: None,
            hello_deadline_ms: crate::ingest::HELLO_DEADLINE.as_millis() as u64,
            idle_timeout_ms: crate::ingest::IDLE_TIMEOUT.as_millis() as u64,
            max_sessions_per_tenant: crate::ingest::MAX_SESSIONS_PER_TENANT,
            max_sockets_per_tenant: crate::ingest::MAX_SOCKETS_PER_TENANT,
            keep_alive_timeout_ms: crate::listener::KEEP_ALIVE_TIMEOUT.as_millis() as u64,
        }
    }
}

/// 32 random bytes.
pub fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut k = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    k
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        fn parse<T: std::str::FromStr>(var: &'static str, v: Option<String>, d: T) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            match v {
                None => Ok(d),
                Some(s) => s.trim().parse().map_err(|e: T::Err| ConfigError { var, reason: format!("{s:?}: {e}") }),
            }
        }
        let d = Config::default();
        let channels =
            crate::escalation::channels::ChannelsConfig::from_lookup(&get).map_err(|e| ConfigError { var: e.var, reason: e.reason })?;
        let encryption_keys = match (get("SIQ_ENCRYPTION_KEYS"), get("SIQ_INDEX_KEY")) {
            (Some(k), Some(i)) => Some((k, i)),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError { var: "SIQ_INDEX_KEY", reason: "required with SIQ_ENCRYPTION_KEYS".into() }),
            (None, Some(_)) => return Err(ConfigError { var: "SIQ_ENCRYPTION_KEYS", reason: "required with SIQ_INDEX_KEY".into() }),
        };
        let admin_token = get("SIQ_ADMIN_TOKEN");
        if admin_token.as_ref().is_some_and(|t| t.trim().chars().count() < MIN_ADMIN_TOKEN_CHARS) {
            return Err(ConfigError { var: "SIQ_ADMIN_TOKEN", reason: format!("must be at least {MIN_ADMIN_TOKEN_CHARS} characters") });
        }
        let metrics_token = get("SIQ_METRICS_TOKEN");
        if metrics_token.as_ref().is_some_and(|t| t.trim().chars().count() < MIN_ADMIN_TOKEN_CHARS) {
            return Err(ConfigError { var: "SIQ_METRICS_TOKEN", reason: format!("must be at least {MIN_ADMIN_TOKEN_CHARS} characters") });
        }
        let link_secret = get("SIQ_LINK_SECRET").map(String::into_bytes);
        if link_secret.as_ref().is_some_and(|k| k.len() < MIN_LINK_SECRET_BYTES) {
            return Err(ConfigError {
                var: "SIQ_LINK_SECRET",
                reason: format!("must be at least {MIN_LINK_SECRET_BYTES} bytes (e.g. 64 hex digits)"),
            });
        }
        Ok(Config {
            addr: parse("SIQ_ADDR", get("SIQ_ADDR"), d.addr)?,
            public_url: get("SIQ_PUBLIC_URL"),
            database_url: get("SIQ_DATABASE_URL").or_else(|| get("DATABASE_URL")).unwrap_or(d.database_url),
            nats_url: get("SIQ_NATS_URL").or_else(|| get("NATS_URL")),
            bus_prefix: get("SIQ_BUS_PREFIX").unwrap_or(d.bus_prefix),
            admin_token,
            metrics_token,
            link_secret: link_secret.unwrap_or(d.link_secret),
            link_ttl_secs: parse("SIQ_LINK_TTL_SECS", get("SIQ_LINK_TTL_SECS"), d.link_ttl_secs)?,
            sdk_dir: get("SIQ_SDK_DIR").map(Into::into).unwrap_or(d.sdk_dir),
            widget_dir: get("SIQ_WIDGET_DIR").map(Into::into).unwrap_or(d.widget_dir),
            www_dir: get("SIQ_WWW_DIR").map(Into::into).unwrap_or(d.www_dir),
            site_dir: get("SIQ_SITE_DIR").map(Into::into),
            export_dir: get("SIQ_EXPORT_DIR").map(Into::into),
            channels,
            encryption_keys,
            intervene_confidence: parse("SIQ_INTERVENE_CONFIDENCE", get("SIQ_INTERVENE_CONFIDENCE"), d.intervene_confidence)?,
            critical_value_cents: parse("SIQ_CRITICAL_VALUE_CENTS", get("SIQ_CRITICAL_VALUE_CENTS"), d.critical_value_cents)?,
            cooldown_secs: parse("SIQ_COOLDOWN_SECS", get("SIQ_COOLDOWN_SECS"), d.cooldown_secs)?,
            page_confidence: parse("SIQ_PAGE_CONFIDENCE", get("SIQ_PAGE_CONFIDENCE"), d.page_confidence)?,
            ack_timeout_ms: parse("SIQ_ACK_TIMEOUT_MS", get("SIQ_ACK_TIMEOUT_MS"), d.ack_timeout_ms)?,
            escalation_lease_ms: parse("SIQ_ESCALATION_LEASE_MS", get("SIQ_ESCALATION_LEASE_MS"), d.escalation_lease_ms)?,
            card_model: crate::interventions::opener::OpenerConfig::from_lookup(&get)
                .map_err(|e| ConfigError { var: e.var, reason: e.reason })?,
            hello_deadline_ms: parse("SIQ_HELLO_DEADLINE_MS", get("SIQ_HELLO_DEADLINE_MS"), d.hello_deadline_ms)?,
            idle_timeout_ms: parse("SIQ_IDLE_TIMEOUT_MS", get("SIQ_IDLE_TIMEOUT_MS"), d.idle_timeout_ms)?,
            max_sessions_per_tenant: parse("SIQ_MAX_SESSIONS_PER_TENANT", get("SIQ_MAX_SESSIONS_PER_TENANT"), d.max_sessions_per_tenant)?,
            max_sockets_per_tenant: parse("SIQ_MAX_SOCKETS_PER_TENANT", get("SIQ_MAX_SOCKETS_PER_TENANT"), d.max_sockets_per_tenant)?,
            keep_alive_timeout_ms: parse("SIQ_KEEP_ALIVE_TIMEOUT_MS", get("SIQ_KEEP_ALIVE_TIMEOUT_MS"), d.keep_alive_timeout_ms)?,
        })
    }
}

impl Config {
    /// What the escalation subsystem is told, with links under `public_url`.
    pub fn escalation_settings(&self, public_url: &str) -> crate::escalation::Settings {
        crate::escalation::Settings {
            public_url: public_url.to_string(),
            link_secret: self.link_secret.clone(),
            link_ttl_secs: self.link_ttl_secs,
            critical_value_cents: self.critical_value_cents,
            ack_timeout_ms: self.ack_timeout_ms,
            escalation_lease_ms: self.escalation_lease_ms,
        }
    }

    /// What the socket edge is told.
    pub fn ingest_settings(&self) -> crate::ingest::Settings {
        crate::ingest::Settings {
            intervene_confidence: self.intervene_confidence,
            page_confidence: self.page_confidence,
            cooldown_secs: self.cooldown_secs,
            critical_value_cents: self.critical_value_cents,
            seed_secret: self.link_secret.clone(),
            hello_deadline: std::time::Duration::from_millis(self.hello_deadline_ms),
            idle_timeout: std::time::Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_overrides() {
        let env: HashMap<&str, &str> = [("DATABASE_URL", "postgres://x/y"), ("SIQ_COOLDOWN_SECS", "5")].into();
        let c = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.database_url, "postgres://x/y");
        assert_eq!(c.cooldown_secs, 5);
        assert_eq!(c.addr.port(), 8080);
        assert!(c.channels.twilio.is_none());
        assert_eq!((c.page_confidence, c.ack_timeout_ms), (0.9, 60_000));
    }

    #[test]
    fn weak_secrets_are_refused_and_none_is_shown() {
        let env = |k: &'static str, v: &'static str| move |q: &str| (q == k).then(|| v.to_string());
        assert_eq!(Config::from_lookup(env("SIQ_LINK_SECRET", "")).unwrap_err().var, "SIQ_LINK_SECRET");
        assert_eq!(Config::from_lookup(env("SIQ_LINK_SECRET", "short-secret")).unwrap_err().var, "SIQ_LINK_SECRET");
        assert_eq!(Config::from_lookup(env("SIQ_ADMIN_TOKEN", "x")).unwrap_err().var, "SIQ_ADMIN_TOKEN");
        let ok = Config::from_lookup(|k| match k {
            "SIQ_ADMIN_TOKEN" => Some("an-operator-token-of-some-length".into()),
            "SIQ_LINK_SECRET" => Some("0123456789abcdef0123456789abcdef-link".into()),
            "SIQ_DATABASE_URL" => Some("postgres://siq:hunter2@db.internal:5432/siq".into()),
            _ => None,
        })
        .unwrap();
        let shown = format!("{ok:?}");
        for secret in ["an-operator-token", "0123456789abcdef", "hunter2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let e = Config::from_lookup(|k| (k == "SIQ_ADDR").then(|| "nowhere".to_string())).unwrap_err();
        assert_eq!(e.var, "SIQ_ADDR");
        assert!(e.to_string().contains("nowhere"));
    }
}
