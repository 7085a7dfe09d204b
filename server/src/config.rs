//! Configuration: one typed struct, every field with a documented default, read from the
//! environment (`SIQ_*`; `DATABASE_URL` and `NATS_URL` are honoured too).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the server needs to run.
#[derive(Clone, Debug)]
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
}

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
        Ok(Config {
            addr: parse("SIQ_ADDR", get("SIQ_ADDR"), d.addr)?,
            public_url: get("SIQ_PUBLIC_URL"),
            database_url: get("SIQ_DATABASE_URL").or_else(|| get("DATABASE_URL")).unwrap_or(d.database_url),
            nats_url: get("SIQ_NATS_URL").or_else(|| get("NATS_URL")),
            bus_prefix: get("SIQ_BUS_PREFIX").unwrap_or(d.bus_prefix),
            admin_token: get("SIQ_ADMIN_TOKEN"),
            link_secret: get("SIQ_LINK_SECRET").map(String::into_bytes).unwrap_or(d.link_secret),
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
    fn a_bad_value_names_its_variable() {
        let e = Config::from_lookup(|k| (k == "SIQ_ADDR").then(|| "nowhere".to_string())).unwrap_err();
        assert_eq!(e.var, "SIQ_ADDR");
        assert!(e.to_string().contains("nowhere"));
    }
}
