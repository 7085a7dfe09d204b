//! Who may do what: operator (admin) token, tenant secret keys, visitor JWTs from the host app,
//! and signed one-click session links.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Seconds of clock skew tolerated when checking a visitor JWT's `exp`.
pub const JWT_LEEWAY_SECS: u64 = 30;

/// The claims SentientIQ reads from the host's visitor JWT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitorClaims {
    /// The host's user id.
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
}

/// Why a visitor token was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// Expired.
    #[error("identity token expired")]
    Expired,
    /// Bad signature, wrong algorithm, malformed or missing claims.
    #[error("identity token invalid: {0}")]
    Invalid(String),
}

/// Verifies a visitor JWT: HS256 only (the algorithm is pinned, so `none` or RS256 headers are
/// refused), signature by the tenant's secret, `exp` required and checked.
pub fn verify_visitor(token: &str, secret: &str) -> Result<VisitorClaims, TokenError> {
    use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, DecodingKey, Validation};
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = JWT_LEEWAY_SECS;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "sub"]);
    decode::<VisitorClaims>(token, &DecodingKey::from_secret(secret.as_bytes()), &v).map(|d| d.claims).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        k => TokenError::Invalid(format!("{k:?}")),
    })
}

/// SHA-256 of a secret API key, hex: what the store keeps instead of the key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh random key with a prefix (`pk_`, `sk_`, …): 24 random bytes, hex.
pub fn new_key(prefix: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// Constant-time equality of two secrets.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let mut m = HmacSha256::new_from_slice(b"siq-compare").expect("any key length");
    m.update(a.as_bytes());
    let ta = m.finalize_reset().into_bytes();
    m.update(b.as_bytes());
    m.verify_slice(&ta).is_ok()
}

fn link_mac(secret: &[u8], tenant: &str, session: &str, exp: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(format!("session-view|{tenant}|{session}|{exp}").as_bytes());
    m
}

/// Signature of a session-view link valid until `exp` (seconds since the epoch), hex.
pub fn sign_link(secret: &[u8], tenant: &str, session: &str, exp: u64) -> String {
    hex::encode(link_mac(secret, tenant, session, exp).finalize().into_bytes())
}

/// True when `sig` signs `(tenant, session, exp)` and `exp` is not past `now_secs`.
pub fn verify_link(secret: &[u8], tenant: &str, session: &str, exp: u64, sig: &str, now_secs: u64) -> bool {
    let Ok(sig) = hex::decode(sig) else { return false };
    exp >= now_secs && link_mac(secret, tenant, session, exp).verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    fn token(alg: jsonwebtoken::Algorithm, secret: &str, exp: u64) -> String {
        let c = VisitorClaims { sub: "u1".into(), email: Some("a@b.c".into()), name: None, account: Some("acme".into()), exp };
        encode(&Header::new(alg), &c, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    #[test]
    fn visitor_tokens_are_pinned_signed_and_expiring() {
        let now = crate::now_ms() as u64 / 1000;
        let ok = verify_visitor(&token(jsonwebtoken::Algorithm::HS256, "s3cret", now + 60), "s3cret").unwrap();
        assert_eq!(ok.account.as_deref(), Some("acme"));
        assert!(matches!(verify_visitor(&token(jsonwebtoken::Algorithm::HS256, "other", now + 60), "s3cret"), Err(TokenError::Invalid(_))));
        assert_eq!(verify_visitor(&token(jsonwebtoken::Algorithm::HS256, "s3cret", now - 3600), "s3cret"), Err(TokenError::Expired));
        assert!(
            matches!(verify_visitor(&token(jsonwebtoken::Algorithm::HS512, "s3cret", now + 60), "s3cret"), Err(TokenError::Invalid(_))),
            "algorithm pinned"
        );
        assert!(verify_visitor("not.a.jwt", "s3cret").is_err());
    }

    #[test]
    fn links_verify_only_untampered_and_unexpired() {
        let s = sign_link(b"k", "t1", "00ff", 1000);
        assert!(verify_link(b"k", "t1", "00ff", 1000, &s, 999));
        assert!(!verify_link(b"k", "t1", "00ff", 1000, &s, 1001), "expired");
        assert!(!verify_link(b"k", "t2", "00ff", 1000, &s, 999), "other tenant");
        assert!(!verify_link(b"k", "t1", "00fe", 1000, &s, 999), "other session");
        assert!(!verify_link(b"k", "t1", "00ff", 2000, &s, 999), "extended expiry");
        assert!(!verify_link(b"j", "t1", "00ff", 1000, &s, 999), "other key");
        assert!(!verify_link(b"k", "t1", "00ff", 1000, "zz", 999));
    }

    #[test]
    fn keys_and_secrets() {
        let k = new_key("sk_");
        assert!(k.starts_with("sk_") && k.len() == 51);
        assert_ne!(k, new_key("sk_"));
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(secrets_equal("x", "x") && !secrets_equal("x", "y"));
    }
}
