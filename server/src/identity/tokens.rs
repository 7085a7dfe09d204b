//! Secrets and signatures: API keys (kept only as hashes), constant-time comparison, signed
//! one-click session links and acknowledgements, and dashboard sessions. Visitor JWTs are
//! verified in [`crate::identity::jwt`].

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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

fn ack_mac(secret: &[u8], tenant: &str, escalation: &str, contact: &str, exp: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(format!("acknowledge|{tenant}|{escalation}|{contact}|{exp}").as_bytes());
    m
}

/// Signature that lets `contact` acknowledge `escalation` of `tenant` until `exp` (seconds since
/// the epoch), hex: the `ack` of an alert's one-click link.
pub fn sign_ack(secret: &[u8], tenant: &str, escalation: &str, contact: &str, exp: u64) -> String {
    hex::encode(ack_mac(secret, tenant, escalation, contact, exp).finalize().into_bytes())
}

/// True when `sig` signs `(tenant, escalation, contact, exp)` and `exp` is not past `now_secs`.
pub fn verify_ack(secret: &[u8], tenant: &str, escalation: &str, contact: &str, exp: u64, sig: &str, now_secs: u64) -> bool {
    let Ok(sig) = hex::decode(sig) else { return false };
    exp >= now_secs && ack_mac(secret, tenant, escalation, contact, exp).verify_slice(&sig).is_ok()
}

fn dashboard_mac(secret: &[u8], tenant: &str, user: &str, exp: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(format!("dashboard|{tenant}|{user}|{exp}").as_bytes());
    m
}

/// A dashboard session token for `user` of `tenant`, valid until `exp` (seconds since the
/// epoch): `ds_{tenant}.{user}.{exp}.{hex signature}`.
pub fn sign_dashboard_session(secret: &[u8], tenant: &str, user: &str, exp: u64) -> String {
    let sig = hex::encode(dashboard_mac(secret, tenant, user, exp).finalize().into_bytes());
    format!("ds_{tenant}.{user}.{exp}.{sig}")
}

/// `(tenant, user)` of an untampered, unexpired dashboard session token.
pub fn verify_dashboard_session(secret: &[u8], token: &str, now_secs: u64) -> Option<(String, String)> {
    let mut parts = token.strip_prefix("ds_")?.split('.');
    let (tenant, user, exp, sig) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let exp: u64 = exp.parse().ok()?;
    let sig = hex::decode(sig).ok()?;
    (parts.next().is_none() && exp >= now_secs && dashboard_mac(secret, tenant, user, exp).verify_slice(&sig).is_ok())
        .then(|| (tenant.to_string(), user.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn acknowledgements_are_bound_to_their_escalation_and_contact() {
        let s = sign_ack(b"k", "t1", "es_1", "c_1", 1000);
        assert!(verify_ack(b"k", "t1", "es_1", "c_1", 1000, &s, 1000));
        assert!(!verify_ack(b"k", "t1", "es_1", "c_1", 1000, &s, 1001), "expired");
        assert!(!verify_ack(b"k", "t1", "es_1", "c_2", 1000, &s, 0), "another contact");
        assert!(!verify_ack(b"k", "t1", "es_2", "c_1", 1000, &s, 0), "another escalation");
        assert!(!verify_ack(b"k", "t2", "es_1", "c_1", 1000, &s, 0), "another tenant");
        assert!(!verify_ack(b"other", "t1", "es_1", "c_1", 1000, &s, 0), "another key");
        assert!(!verify_ack(b"k", "t1", "es_1", "c_1", 1000, "zz", 0), "not hex");
        assert_ne!(s, sign_link(b"k", "t1", "es_1", 1000), "an ack is not a session-view signature");
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
    fn dashboard_sessions_verify_only_untampered_and_unexpired() {
        let t = sign_dashboard_session(b"k", "t_1", "u_2", 1000);
        assert_eq!(verify_dashboard_session(b"k", &t, 999), Some(("t_1".into(), "u_2".into())));
        assert_eq!(verify_dashboard_session(b"k", &t, 1001), None, "expired");
        assert_eq!(verify_dashboard_session(b"j", &t, 999), None, "other key");
        assert_eq!(verify_dashboard_session(b"k", &t.replace("u_2", "u_3"), 999), None, "other user");
        assert_eq!(verify_dashboard_session(b"k", &t.replace(".1000.", ".2000."), 999), None, "extended");
        assert_eq!(verify_dashboard_session(b"k", "ds_x", 0), None);
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
