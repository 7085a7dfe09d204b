//! Who may do what: operator (admin) token, tenant secret keys, visitor JWTs from the host app
//! (verified in [`crate::jwt`]), and signed one-click session links.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Visitor tokens are verified in [`crate::jwt`]; re-exported here for existing callers.
pub use crate::jwt::{verify_visitor, TokenError, VisitorClaims, JWT_LEEWAY_SECS};

type HmacSha256 = Hmac<Sha256>;

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
