//! Visitor identity tokens from the host app: the JWT a tenant's own backend signs so that a
//! session can be tied to a person (`sub`, `email`, `name`) and an account (`account`).
//!
//! Each tenant pins one algorithm in its [`TokenPolicy`]:
//!
//! * **HS256**: the host signs with a shared secret. Verification never touches the network.
//! * **RS256 / ES256**: the host signs with a private key and publishes the public keys as a JWKS
//!   document at a URL it gives us. [`JwksCache`] fetches that document on first use, keeps the
//!   parsed keys per URL, and fetches it again only when a token names a key id it does not know
//!   (at most once per URL per [`JWKS_MIN_REFRESH`], so a flood of tokens with invented key ids
//!   cannot make us hammer the host) or when the copy is older than [`JWKS_MAX_AGE`]. One fetch
//!   per URL is in flight at a time; concurrent verifications wait for it.
//!
//! A token whose header names another algorithm than the pinned one is refused before any key is
//! looked up (so an HS256 token "signed" with an RSA public key as the secret never gets near a
//! key), and a JWK whose own `alg` disagrees with the pinned one is never used. `exp` is required,
//! and `nbf`, `aud` and `iss` are checked when present or configured, with [`JWT_LEEWAY_SECS`] of
//! clock skew. Every refusal is a [`TokenError`] variant whose message tells the host developer
//! what to fix.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// Seconds of clock skew tolerated when checking a visitor token's `exp` and `nbf`.
pub const JWT_LEEWAY_SECS: u64 = 30;

/// Longest visitor token accepted, in bytes; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Time limit of one JWKS fetch (connect, headers and body).
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Least time between two fetches of the same JWKS URL (after a success or a failure): a token
/// with an unknown key id inside this interval is refused without asking the host again.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

/// Age after which a cached JWKS is fetched again even if every key id is known, so revoked keys
/// stop working.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Largest JWKS document read, in bytes; a larger answer counts as the JWKS being unavailable.
pub const JWKS_MAX_BYTES: usize = 256 * 1024;

/// The signing algorithm a tenant pins for its visitor tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum HostAlg {
    /// HMAC-SHA256 with a shared secret.
    #[serde(rename = "HS256")]
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; public keys from a JWKS URL.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256; public keys from a JWKS URL.
    #[serde(rename = "ES256")]
    Es256,
}

impl HostAlg {
    /// The JOSE name: `HS256`, `RS256` or `ES256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostAlg::Hs256 => "HS256",
            HostAlg::Rs256 => "RS256",
            HostAlg::Es256 => "ES256",
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            HostAlg::Hs256 => Algorithm::HS256,
            HostAlg::Rs256 => Algorithm::RS256,
            HostAlg::Es256 => Algorithm::ES256,
        }
    }

    /// True when the keys come from a JWKS URL (RS256, ES256).
    pub fn uses_jwks(self) -> bool {
        self != HostAlg::Hs256
    }
}

impl fmt::Display for HostAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token algorithm name that is not one we accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported token algorithm `{0}`: expected HS256, RS256 or ES256")]
pub struct AlgParseError(pub String);

impl FromStr for HostAlg {
    type Err = AlgParseError;

    /// Parses `HS256`, `RS256` or `ES256`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [HostAlg::Hs256, HostAlg::Rs256, HostAlg::Es256]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| AlgParseError(s.to_string()))
    }
}

/// How a tenant's visitor tokens are verified.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenPolicy {
    /// The one algorithm accepted.
    pub alg: HostAlg,
    /// The shared secret (HS256 only).
    #[serde(default)]
    pub hs_secret: Option<String>,
    /// Where the host publishes its public keys as a JWKS document (RS256 and ES256 only).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// When set, tokens must carry this `aud`; when unset, `aud` is not checked.
    #[serde(default)]
    pub audience: Option<String>,
    /// When set, tokens must carry this `iss`; when unset, `iss` is not checked.
    #[serde(default)]
    pub issuer: Option<String>,
}

impl fmt::Debug for TokenPolicy {
    /// Like a derived `Debug`, with the shared secret redacted so policies can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPolicy")
            .field("alg", &self.alg)
            .field("hs_secret", &self.hs_secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_url", &self.jwks_url)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// What is wrong with a [`TokenPolicy`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// HS256 without a (non-empty) shared secret.
    #[error("HS256 needs `hs_secret`: the secret the host signs its visitor tokens with")]
    MissingSecret,
    /// RS256/ES256 without a JWKS URL.
    #[error("{0} needs `jwks_url`: the http(s) URL where the host publishes its public keys (JWKS)")]
    MissingJwksUrl(HostAlg),
    /// The JWKS URL does not parse or is not http(s).
    #[error("`jwks_url` {url:?} is not a usable http(s) URL: {reason}")]
    BadJwksUrl {
        /// The configured value.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// An RS256/ES256 policy given to the shared-secret verifier.
    #[error("{0} tokens are verified with the keys of the JWKS (JwksCache::verify), not with a shared secret")]
    NotHs256(HostAlg),
    /// `audience` or `issuer` is set to an empty string (leave it unset to skip the check).
    #[error("`{0}` is set but empty: leave it unset to skip the check, or give the expected value")]
    EmptyField(&'static str),
}

impl TokenPolicy {
    /// An HS256 policy with a shared secret and no `aud`/`iss` check.
    pub fn hs256(secret: impl Into<String>) -> TokenPolicy {
        TokenPolicy { alg: HostAlg::Hs256, hs_secret: Some(secret.into()), jwks_url: None, audience: None, issuer: None }
    }

    /// An RS256 or ES256 policy with keys from `jwks_url` and no `aud`/`iss` check.
    pub fn jwks(alg: HostAlg, jwks_url: impl Into<String>) -> TokenPolicy {
        TokenPolicy { alg, hs_secret: None, jwks_url: Some(jwks_url.into()), audience: None, issuer: None }
    }

    /// Checks the policy is complete: HS256 needs a secret, RS256/ES256 an http(s) `jwks_url`
    /// with a host; `audience`/`issuer`, when set, must not be empty. Call it when a tenant saves
    /// its settings.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.check_fields()?;
        if let (true, Some(url)) = (self.alg.uses_jwks(), &self.jwks_url) {
            let bad = |reason: String| PolicyError::BadJwksUrl { url: url.clone(), reason };
            let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad(format!("scheme `{}` is not http or https", parsed.scheme())));
            }
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host".into()));
            }
        }
        Ok(())
    }

    /// The allocation-free part of [`TokenPolicy::validate`], run on every verification.
    fn check_fields(&self) -> Result<(), PolicyError> {
        match self.alg {
            HostAlg::Hs256 if self.hs_secret.as_deref().is_none_or(str::is_empty) => return Err(PolicyError::MissingSecret),
            alg if alg.uses_jwks() && self.jwks_url.as_deref().is_none_or(|u| u.trim().is_empty()) => {
                return Err(PolicyError::MissingJwksUrl(alg))
            }
            _ => {}
        }
        if self.audience.as_deref() == Some("") {
            return Err(PolicyError::EmptyField("audience"));
        }
        if self.issuer.as_deref() == Some("") {
            return Err(PolicyError::EmptyField("issuer"));
        }
        Ok(())
    }

    fn validation(&self) -> Validation {
        let mut v = Validation::new(self.alg.algorithm());
        v.leeway = JWT_LEEWAY_SECS;
        v.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        v
    }
}

/// The claims SentientIQ reads from the host's visitor token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitorClaims {
    /// The host's user id; required.
    pub sub: String,
    /// Email, if the host shares it.
    #[serde(default)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The host's account (company) id.
    #[serde(default)]
    pub account: Option<String>,
    /// Expiry (seconds since the epoch); required.
    pub exp: u64,
    /// Not before (seconds since the epoch), if the host sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at (seconds since the epoch), if the host sets it: a token issued before its
    /// subject was erased identifies nobody (`identity::customers::erased_since_issued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// The claims as decoded, every one optional, so that a missing `sub` or `exp` is reported by
/// name instead of as a JSON error.
#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    account: Option<String>,
    exp: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
}

/// Why a visitor token was refused. Every message is meant for the host developer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TokenError {
    /// `exp` is in the past (beyond the leeway).
    #[error("identity token expired: sign a fresh one (exp is checked with {JWT_LEEWAY_SECS} s of leeway)")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("identity token not valid yet: its nbf is in the future (check the signing server's clock)")]
    NotYetValid,
    /// `aud` is missing or not the configured audience.
    #[error("identity token audience is wrong: its aud must be {expected:?}")]
    WrongAudience {
        /// The audience the tenant configured.
        expected: String,
    },
    /// `iss` is missing or not the configured issuer.
    #[error("identity token issuer is wrong: its iss must be {expected:?}")]
    WrongIssuer {
        /// The issuer the tenant configured.
        expected: String,
    },
    /// The token's header names another algorithm than the tenant pinned.
    #[error("identity token algorithm {got:?} not allowed: this site is pinned to {pinned}")]
    AlgorithmNotAllowed {
        /// The tenant's algorithm.
        pinned: HostAlg,
        /// The algorithm in the token's header.
        got: Algorithm,
    },
    /// No usable key in the JWKS has the token's key id (after refetching when allowed).
    #[error("identity token key id {kid:?} is not in the JWKS at {url} (or that key is not usable for the pinned algorithm)")]
    UnknownKeyId {
        /// The `kid` of the token's header.
        kid: String,
        /// The JWKS URL searched.
        url: String,
    },
    /// The token has no `kid` and the JWKS does not have exactly one usable key.
    #[error("identity token has no kid in its header and the JWKS at {url} has not exactly one usable key: set kid")]
    MissingKeyId {
        /// The JWKS URL searched.
        url: String,
    },
    /// The JWKS could not be fetched or parsed.
    #[error("JWKS at {url} unavailable: {reason}")]
    JwksUnavailable {
        /// The JWKS URL.
        url: String,
        /// What went wrong (network error, HTTP status, size, JSON).
        reason: String,
    },
    /// The signature does not match the key (wrong secret, wrong key, or tampered token).
    #[error("identity token signature does not match: signed with another secret or key, or altered")]
    BadSignature,
    /// A required claim is missing (`exp`, `sub`, and `aud`/`iss` when configured).
    #[error("identity token lacks the required claim {0:?}")]
    MissingClaim(String),
    /// Not a well-formed JWT, or a claim has the wrong type.
    #[error("identity token malformed: {0}")]
    Malformed(String),
    /// The tenant's own token settings are incomplete (a configuration problem, not the token's).
    #[error("identity tokens cannot be verified: {0}")]
    Misconfigured(PolicyError),
}

/// Verifies an HS256 visitor token with `secret`, without `aud`/`iss` checks: the pre-JWKS
/// behaviour, kept for callers that only have a secret.
pub fn verify_visitor(token: &str, secret: &str) -> Result<VisitorClaims, TokenError> {
    verify_hs256(token, &TokenPolicy::hs256(secret))
}

/// Verifies a token under an HS256 `policy` (synchronous: no key lookup, no network).
pub fn verify_hs256(token: &str, policy: &TokenPolicy) -> Result<VisitorClaims, TokenError> {
    if policy.alg != HostAlg::Hs256 {
        return Err(TokenError::Misconfigured(PolicyError::NotHs256(policy.alg)));
    }
    policy.check_fields().map_err(TokenError::Misconfigured)?;
    check_header(token, policy.alg)?;
    let secret = policy.hs_secret.as_deref().unwrap_or_default();
    decode_claims(token, &DecodingKey::from_secret(secret.as_bytes()), policy)
}

/// Size check and header decode; refuses a header algorithm other than `pinned`.
fn check_header(token: &str, pinned: HostAlg) -> Result<jsonwebtoken::Header, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed(format!("{} bytes, more than the {MAX_TOKEN_BYTES} accepted", token.len())));
    }
    let header = decode_header(token).map_err(|e| TokenError::Malformed(format!("bad header: {e}")))?;
    if header.alg != pinned.algorithm() {
        return Err(TokenError::AlgorithmNotAllowed { pinned, got: header.alg });
    }
    Ok(header)
}

fn decode_claims(token: &str, key: &DecodingKey, policy: &TokenPolicy) -> Result<VisitorClaims, TokenError> {
    let raw = decode::<RawClaims>(token, key, &policy.validation()).map_err(|e| map_error(e.kind(), policy))?.claims;
    // `validation()` requires both, so these only guard against a change there.
    let sub = raw.sub.ok_or_else(|| TokenError::MissingClaim("sub".into()))?;
    let exp = raw.exp.ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
    Ok(VisitorClaims { sub, email: raw.email, name: raw.name, account: raw.account, exp, nbf: raw.nbf, iat: raw.iat })
}

fn map_error(kind: &ErrorKind, policy: &TokenPolicy) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidAudience => TokenError::WrongAudience { expected: policy.audience.clone().unwrap_or_default() },
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer { expected: policy.issuer.clone().unwrap_or_default() },
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => {
            TokenError::WrongAudience { expected: policy.audience.clone().unwrap_or_default() }
        }
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => TokenError::WrongIssuer { expected: policy.issuer.clone().unwrap_or_default() },
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm => TokenError::Malformed("key and algorithm do not fit".into()),
        ErrorKind::Json(e) => TokenError::Malformed(format!("claims are not the expected JSON: {e}")),
        ErrorKind::Base64(e) => TokenError::Malformed(format!("not base64url: {e}")),
        ErrorKind::Utf8(e) => TokenError::Malformed(format!("not UTF-8: {e}")),
        ErrorKind::InvalidToken => TokenError::Malformed("not a JWT (three base64url parts separated by dots)".into()),
        other => TokenError::Malformed(format!("{other:?}")),
    }
}

/// One usable public key of a JWKS.
struct CachedKey {
    kid: Option<String>,
    alg: HostAlg,
    key: DecodingKey,
}

/// The usable keys of one JWKS document and when it was fetched.
struct KeySet {
    keys: Vec<CachedKey>,
    fetched_at: Instant,
}

/// Where a key was found in a [`KeySet`], or why not.
enum Lookup {
    Found(usize),
    UnknownKid,
    NoKid,
}

impl KeySet {
    /// The key for `kid` usable with `alg`; without a `kid`, the only key usable with `alg`.
    fn find(&self, kid: Option<&str>, alg: HostAlg) -> Lookup {
        let mut usable = self.keys.iter().enumerate().filter(|(_, k)| k.alg == alg);
        match kid {
            Some(kid) => usable.find(|(_, k)| k.kid.as_deref() == Some(kid)).map_or(Lookup::UnknownKid, |(i, _)| Lookup::Found(i)),
            None => match (usable.next(), usable.next()) {
                (Some((i, _)), None) => Lookup::Found(i),
                _ => Lookup::NoKid,
            },
        }
    }

    /// Parses a JWKS document, keeping the keys usable for signature checks with RS256 or ES256:
    /// RSA keys and P-256 EC keys whose `alg`, if present, is that algorithm and whose `use`, if
    /// present, is `sig`. Other keys are skipped, not errors: a JWKS may hold keys for others.
    fn parse(body: &[u8]) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
        let keys = doc.keys.into_iter().filter_map(|v| serde_json::from_value::<Jwk>(v).ok()).filter_map(|jwk| usable(&jwk)).collect();
        Ok(KeySet { keys, fetched_at: Instant::now() })
    }
}

fn usable(jwk: &Jwk) -> Option<CachedKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))) {
        return None;
    }
    let (alg, named) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (HostAlg::Rs256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => (HostAlg::Es256, KeyAlgorithm::ES256),
        _ => return None,
    };
    if jwk.common.key_algorithm.is_some_and(|a| a != named) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(CachedKey { kid: jwk.common.key_id.clone(), alg, key })
}

/// When the last fetch of a URL was tried and how it failed.
#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// One JWKS URL: its current keys, the fetch lock and the fetch count.
#[derive(Default)]
struct Source {
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Held for the whole of a fetch, so at most one is in flight per URL.
    fetch: tokio::sync::Mutex<FetchState>,
    fetches: AtomicU64,
}

impl Source {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Verifies visitor tokens under any tenant's [`TokenPolicy`], caching each JWKS URL's keys.
/// Share one per process behind an `Arc`.
pub struct JwksCache {
    http: reqwest::Client,
    sources: Mutex<HashMap<String, Arc<Source>>>,
    min_refresh: Duration,
    max_age: Duration,
    targets: crate::outbound::Targets,
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache::new()
    }
}

impl JwksCache {
    /// A cache with the production intervals ([`JWKS_MIN_REFRESH`], [`JWKS_MAX_AGE`]).
    pub fn new() -> JwksCache {
        JwksCache::with_intervals(JWKS_MIN_REFRESH, JWKS_MAX_AGE)
    }

    /// A cache with other intervals: `min_refresh` between two fetches of a URL, `max_age`
    /// before a cached set is fetched again (tests use short ones).
    pub fn with_intervals(min_refresh: Duration, max_age: Duration) -> JwksCache {
        let targets = crate::outbound::Targets::default();
        let http = crate::outbound::client(JWKS_FETCH_TIMEOUT, targets);
        JwksCache { http, sources: Mutex::new(HashMap::new()), min_refresh, max_age, targets }
    }

    /// The same cache fetching under `targets` (loopback JWKS URLs are refused unless the
    /// operator allows them; private ones always: [`crate::outbound`]).
    pub fn with_targets(self, targets: crate::outbound::Targets) -> JwksCache {
        JwksCache { http: crate::outbound::client(JWKS_FETCH_TIMEOUT, targets), targets, ..self }
    }

    /// Verifies `token` under `policy`: HS256 with the shared secret (no network); RS256/ES256
    /// with the key named by the token's `kid` in the policy's JWKS (fetched on first use, again
    /// on an unknown `kid` or when older than the maximum age; see the module doc).
    pub async fn verify(&self, token: &str, policy: &TokenPolicy) -> Result<VisitorClaims, TokenError> {
        policy.check_fields().map_err(TokenError::Misconfigured)?;
        let url = match (&policy.alg, &policy.jwks_url) {
            (HostAlg::Hs256, _) => return verify_hs256(token, policy),
            (_, Some(url)) => url.as_str(),
            (alg, None) => return Err(TokenError::Misconfigured(PolicyError::MissingJwksUrl(*alg))),
        };
        let header = check_header(token, policy.alg)?;
        let kid = header.kid.as_deref();
        let set = self.key_set(url, kid, policy.alg).await?;
        match set.find(kid, policy.alg) {
            Lookup::Found(i) => decode_claims(token, &set.keys[i].key, policy),
            Lookup::UnknownKid => Err(TokenError::UnknownKeyId { kid: kid.unwrap_or_default().to_string(), url: url.to_string() }),
            Lookup::NoKid => Err(TokenError::MissingKeyId { url: url.to_string() }),
        }
    }

    /// Fetches `url`'s JWKS now unless a fetch was tried within the minimum refresh interval
    /// (then the cached set is kept): call it when a tenant configures or changes its JWKS URL.
    /// Returns how many keys of the set are usable for RS256 or ES256.
    pub async fn prefetch(&self, url: &str) -> Result<usize, TokenError> {
        let source = self.source(url);
        let seen = source.snapshot();
        match self.refresh(url, &source, seen.as_ref()).await {
            Ok(set) => Ok(set.keys.len()),
            Err(reason) => Err(TokenError::JwksUnavailable { url: url.to_string(), reason }),
        }
    }

    /// How many times `url` has been fetched (successfully or not) by this cache.
    pub fn fetches(&self, url: &str) -> u64 {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).get(url).map_or(0, |s| s.fetches.load(Ordering::Relaxed))
    }

    fn source(&self, url: &str) -> Arc<Source> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        match sources.get(url) {
            Some(s) => s.clone(),
            None => sources.entry(url.to_string()).or_default().clone(),
        }
    }

    /// The key set to look `kid` up in: the cached one when fresh and holding the key, else
    /// whatever a refresh gives.
    async fn key_set(&self, url: &str, kid: Option<&str>, alg: HostAlg) -> Result<Arc<KeySet>, TokenError> {
        let source = self.source(url);
        let seen = source.snapshot();
        if let Some(set) = &seen {
            if set.fetched_at.elapsed() < self.max_age && matches!(set.find(kid, alg), Lookup::Found(_)) {
                return Ok(set.clone());
            }
        }
        match self.refresh(url, &source, seen.as_ref()).await {
            Ok(set) => Ok(set),
            // The host is unreachable but the key is in the (stale) copy: keep accepting its
            // tokens rather than locking every visitor out.
            Err(reason) => match seen {
                Some(set) if matches!(set.find(kid, alg), Lookup::Found(_)) => {
                    tracing::warn!(url, %reason, "JWKS refresh failed; using the cached keys");
                    Ok(set)
                }
                _ => Err(TokenError::JwksUnavailable { url: url.to_string(), reason }),
            },
        }
    }

    /// Fetches the set unless another task did so while we waited for the lock, or a fetch was
    /// tried within `min_refresh`; returns the newest set, or the reason there is none.
    async fn refresh(&self, url: &str, source: &Source, seen: Option<&Arc<KeySet>>) -> Result<Arc<KeySet>, String> {
        let mut state = source.fetch.lock().await;
        let current = source.snapshot();
        let newer = match (&current, seen) {
            (Some(c), Some(s)) => !Arc::ptr_eq(c, s),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if let (true, Some(set)) = (newer, &current) {
            return Ok(set.clone());
        }
        if state.last_attempt.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return current.ok_or_else(|| {
                let why = state.last_error.as_deref().unwrap_or("no keys yet");
                format!("{why} (not retried for {} s)", self.min_refresh.as_secs())
            });
        }
        state.last_attempt = Some(Instant::now());
        source.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch(url).await {
            Ok(set) => {
                tracing::debug!(url, keys = set.keys.len(), "JWKS fetched");
                let set = Arc::new(set);
                *source.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(set.clone());
                state.last_error = None;
                Ok(set)
            }
            Err(reason) => {
                tracing::warn!(url, %reason, "JWKS fetch failed");
                state.last_error = Some(reason.clone());
                Err(reason)
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<KeySet, String> {
        crate::outbound::check_url(url, self.targets)?;
        let mut resp = self.http.get(url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| chain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let too_big = || format!("document larger than {JWKS_MAX_BYTES} bytes");
        if resp.content_length().is_some_and(|n| n > JWKS_MAX_BYTES as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| chain(&e))? {
            if body.len() + chunk.len() > JWKS_MAX_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::parse(&body)
    }
}

/// An error and its sources, `: `-separated (reqwest's own message hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn now() -> u64 {
        crate::clock::now_ms() as u64 / 1000
    }

    fn sign(alg: Algorithm, secret: &str, claims: serde_json::Value) -> String {
        encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    fn claims(exp: u64) -> serde_json::Value {
        json!({"sub": "u1", "email": "a@acme.com", "name": "Ada", "account": "acme", "exp": exp})
    }

    #[test]
    fn host_alg_parses_and_serialises_by_jose_name() {
        assert_eq!("RS256".parse::<HostAlg>(), Ok(HostAlg::Rs256));
        assert_eq!(" es256 ".parse::<HostAlg>(), Ok(HostAlg::Es256));
        let err = "none".parse::<HostAlg>().unwrap_err();
        assert_eq!(err.to_string(), "unsupported token algorithm `none`: expected HS256, RS256 or ES256");
        assert!("RS384".parse::<HostAlg>().is_err());
        assert_eq!(serde_json::to_string(&HostAlg::Hs256).unwrap(), "\"HS256\"");
        let p: TokenPolicy = serde_json::from_value(json!({"alg": "ES256", "jwks_url": "https://h/.well-known/jwks.json"})).unwrap();
        assert_eq!(p, TokenPolicy::jwks(HostAlg::Es256, "https://h/.well-known/jwks.json"));
        assert!(serde_json::from_value::<TokenPolicy>(json!({"alg": "RS512"})).is_err());
    }

    #[test]
    fn policy_validation_names_the_missing_or_wrong_field() {
        assert_eq!(TokenPolicy::hs256("s3cret").validate(), Ok(()));
        assert_eq!(TokenPolicy::hs256("").validate(), Err(PolicyError::MissingSecret));
        assert_eq!(TokenPolicy { hs_secret: None, ..TokenPolicy::hs256("x") }.validate(), Err(PolicyError::MissingSecret));
        let rs = TokenPolicy::jwks(HostAlg::Rs256, "https://auth.acme.com/jwks.json");
        assert_eq!(rs.validate(), Ok(()));
        assert_eq!(TokenPolicy { jwks_url: None, ..rs.clone() }.validate(), Err(PolicyError::MissingJwksUrl(HostAlg::Rs256)));
        let ftp = TokenPolicy::jwks(HostAlg::Es256, "ftp://acme.com/jwks");
        assert!(matches!(ftp.validate(), Err(PolicyError::BadJwksUrl { reason, .. }) if reason.contains("ftp")));
        assert!(matches!(TokenPolicy::jwks(HostAlg::Es256, "jwks.json").validate(), Err(PolicyError::BadJwksUrl { .. })));
        assert_eq!(TokenPolicy { audience: Some(String::new()), ..rs.clone() }.validate(), Err(PolicyError::EmptyField("audience")));
        assert_eq!(TokenPolicy { issuer: Some(String::new()), ..rs }.validate(), Err(PolicyError::EmptyField("issuer")));
        assert!(PolicyError::MissingJwksUrl(HostAlg::Es256).to_string().starts_with("ES256 needs `jwks_url`"));
    }

    #[test]
    fn policy_debug_redacts_the_secret() {
        let s = format!("{:?}", TokenPolicy::hs256("hunter2"));
        assert!(!s.contains("hunter2") && s.contains("<redacted>"), "{s}");
    }

    #[test]
    fn hs256_tokens_are_pinned_signed_and_expiring() {
        let n = now();
        let ok = verify_visitor(&sign(Algorithm::HS256, "s3cret", claims(n + 60)), "s3cret").unwrap();
        assert_eq!((ok.sub.as_str(), ok.account.as_deref(), ok.name.as_deref(), ok.nbf), ("u1", Some("acme"), Some("Ada"), None));
        assert_eq!(verify_visitor(&sign(Algorithm::HS256, "other", claims(n + 60)), "s3cret"), Err(TokenError::BadSignature));
        assert_eq!(verify_visitor(&sign(Algorithm::HS256, "s3cret", claims(n - 3600)), "s3cret"), Err(TokenError::Expired));
        // Inside the leeway an expired token still passes; just past it, it does not.
        assert!(verify_visitor(&sign(Algorithm::HS256, "s3cret", claims(n - JWT_LEEWAY_SECS + 5)), "s3cret").is_ok());
        assert_eq!(verify_visitor(&sign(Algorithm::HS256, "s3cret", claims(n - JWT_LEEWAY_SECS - 5)), "s3cret"), Err(TokenError::Expired));
        assert_eq!(
            verify_visitor(&sign(Algorithm::HS512, "s3cret", claims(n + 60)), "s3cret"),
            Err(TokenError::AlgorithmNotAllowed { pinned: HostAlg::Hs256, got: Algorithm::HS512 })
        );
    }

    #[test]
    fn every_claim_failure_has_its_own_error() {
        let n = now();
        let mut p = TokenPolicy::hs256("k");
        p.audience = Some("sentientiq".into());
        p.issuer = Some("https://acme.com".into());
        let full = |extra: serde_json::Value| {
            let mut c = claims(n + 60);
            c["aud"] = json!("sentientiq");
            c["iss"] = json!("https://acme.com");
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            sign(Algorithm::HS256, "k", c)
        };
        assert!(verify_hs256(&full(json!({})), &p).is_ok());
        let aud = TokenError::WrongAudience { expected: "sentientiq".into() };
        assert_eq!(verify_hs256(&full(json!({"aud": "someone-else"})), &p), Err(aud.clone()));
        assert_eq!(verify_hs256(&full(json!({"aud": null})), &p), Err(aud), "missing aud when one is configured");
        let iss = TokenError::WrongIssuer { expected: "https://acme.com".into() };
        assert_eq!(verify_hs256(&full(json!({"iss": "https://evil.com"})), &p), Err(iss.clone()));
        assert_eq!(verify_hs256(&full(json!({"iss": null})), &p), Err(iss));
        assert_eq!(verify_hs256(&full(json!({"nbf": n + 3600})), &p), Err(TokenError::NotYetValid));
        assert_eq!(verify_hs256(&full(json!({"nbf": n + 5})), &p).unwrap().nbf, Some(n + 5), "nbf within leeway");
        assert_eq!(verify_hs256(&full(json!({"sub": null})), &p), Err(TokenError::MissingClaim("sub".into())));
        assert_eq!(verify_hs256(&full(json!({"exp": null})), &p), Err(TokenError::MissingClaim("exp".into())));
        assert!(matches!(verify_hs256(&full(json!({"account": 7})), &p), Err(TokenError::Malformed(m)) if m.contains("JSON")));
        // Without an audience configured, a token's aud is ignored rather than refused.
        let plain = TokenPolicy::hs256("k");
        assert!(verify_hs256(&full(json!({"aud": "anything"})), &plain).is_ok());
    }

    #[test]
    fn malformed_and_oversized_tokens_are_refused_before_any_key_work() {
        let p = TokenPolicy::hs256("k");
        assert!(matches!(verify_hs256("not.a.jwt", &p), Err(TokenError::Malformed(_))));
        assert!(matches!(verify_hs256("", &p), Err(TokenError::Malformed(_))));
        // `alg: none` does not even parse as a header.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(matches!(verify_hs256(none, &p), Err(TokenError::Malformed(m)) if m.contains("header")));
        let mut c = claims(now() + 60);
        c["pad"] = json!("x".repeat(MAX_TOKEN_BYTES));
        let big = sign(Algorithm::HS256, "k", c);
        assert!(big.len() > MAX_TOKEN_BYTES);
        assert!(matches!(verify_hs256(&big, &p), Err(TokenError::Malformed(m)) if m.contains("more than")));
    }

    #[tokio::test]
    async fn cache_verifies_hs256_without_the_network_and_reports_misconfiguration() {
        let cache = JwksCache::new();
        let t = sign(Algorithm::HS256, "k", claims(now() + 60));
        assert_eq!(cache.verify(&t, &TokenPolicy::hs256("k")).await.unwrap().sub, "u1");
        let no_url = TokenPolicy { jwks_url: None, ..TokenPolicy::jwks(HostAlg::Rs256, "x") };
        assert_eq!(cache.verify(&t, &no_url).await, Err(TokenError::Misconfigured(PolicyError::MissingJwksUrl(HostAlg::Rs256))));
        // An HS256 token against an RS256 policy is refused on its header, before any fetch.
        let rs = TokenPolicy::jwks(HostAlg::Rs256, "http://127.0.0.1:9/jwks.json");
        assert_eq!(cache.verify(&t, &rs).await, Err(TokenError::AlgorithmNotAllowed { pinned: HostAlg::Rs256, got: Algorithm::HS256 }));
        assert_eq!(cache.fetches("http://127.0.0.1:9/jwks.json"), 0);
        assert_eq!(verify_hs256(&t, &rs), Err(TokenError::Misconfigured(PolicyError::NotHs256(HostAlg::Rs256))));
    }

    #[test]
    fn jwks_parsing_keeps_only_keys_usable_for_the_pinned_algorithm() {
        let mut rsa: serde_json::Value = serde_json::from_str(include_str!("../../tests/data/jwt/rsa-1.jwk.json")).unwrap();
        let obj = rsa.as_object_mut().unwrap();
        obj.remove("alg");
        obj.remove("use");
        obj.insert("kid".into(), json!("r"));
        let with = |extra: serde_json::Value| {
            let mut k = rsa.clone();
            k.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            k
        };
        let doc = json!({"keys": [
            with(json!({})),
            with(json!({"kid": "rs384", "alg": "RS384"})),
            with(json!({"kid": "enc", "use": "enc"})),
            {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
            {"kty": "weird", "kid": "future"},
        ]});
        let set = KeySet::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.keys.iter().map(|k| k.kid.as_deref()).collect::<Vec<_>>(), [Some("r")]);
        assert!(matches!(set.find(Some("r"), HostAlg::Rs256), Lookup::Found(0)));
        assert!(matches!(set.find(Some("r"), HostAlg::Es256), Lookup::UnknownKid), "RSA key never serves ES256");
        assert!(matches!(set.find(Some("rs384"), HostAlg::Rs256), Lookup::UnknownKid), "JWK alg disagrees with the pin");
        assert!(matches!(set.find(None, HostAlg::Rs256), Lookup::Found(0)), "sole key serves a kid-less token");
        assert!(matches!(set.find(None, HostAlg::Es256), Lookup::NoKid));
        assert!(matches!(KeySet::parse(b"{\"nokeys\": 1}"), Err(e) if e.starts_with("not a JWKS document")));
    }

    #[test]
    fn every_error_message_says_what_to_fix() {
        let e = TokenError::AlgorithmNotAllowed { pinned: HostAlg::Rs256, got: Algorithm::HS256 };
        assert_eq!(e.to_string(), "identity token algorithm HS256 not allowed: this site is pinned to RS256");
        let e = TokenError::UnknownKeyId { kid: "k9".into(), url: "https://a/j".into() };
        assert!(e.to_string().contains("\"k9\"") && e.to_string().contains("https://a/j"));
        let e = TokenError::JwksUnavailable { url: "https://a/j".into(), reason: "HTTP 503".into() };
        assert_eq!(e.to_string(), "JWKS at https://a/j unavailable: HTTP 503");
        assert!(TokenError::WrongAudience { expected: "x".into() }.to_string().contains("\"x\""));
        assert!(TokenError::Expired.to_string().contains("30 s"));
    }
}
