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

fn dashboard_mac(secret: &[u8], tenant: &str, user: &str, session: &str, exp: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(format!("dashboard|{tenant}|{user}|{session}|{exp}").as_bytes());
    m
}

/// A signed-in dashboard session, as its token names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSession {
    /// The tenant.
    pub tenant: String,
    /// The user (`u_…`).
    pub user: String,
    /// The session's id (`dss_…`): what sign-out and revocation mark in the store.
    pub id: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// A fresh dashboard session id: 16 random bytes, hex, after `dss_`.
pub fn new_dashboard_session_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    format!("dss_{}", hex::encode(b))
}

/// A dashboard session token for session `id` of `user` of `tenant`, valid until `exp`
/// (seconds since the epoch): `ds_{tenant}.{user}.{id}.{exp}.{hex signature}`. The signature
/// proves the server issued it; the store's row for `id` says whether it was since revoked.
pub fn sign_dashboard_session(secret: &[u8], tenant: &str, user: &str, id: &str, exp: u64) -> String {
    let sig = hex::encode(dashboard_mac(secret, tenant, user, id, exp).finalize().into_bytes());
    format!("ds_{tenant}.{user}.{id}.{exp}.{sig}")
}

/// The session of an untampered, unexpired dashboard session token (revocation is the
/// store's to say).
pub fn verify_dashboard_session(secret: &[u8], token: &str, now_secs: u64) -> Option<DashboardSession> {
    let mut parts = token.strip_prefix("ds_")?.split('.');
    let (tenant, user, id, exp, sig) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let exp: u64 = exp.parse().ok()?;
    let sig = hex::decode(sig).ok()?;
    (parts.next().is_none() && exp >= now_secs && dashboard_mac(secret, tenant, user, id, exp).verify_slice(&sig).is_ok())
        .then(|| DashboardSession { tenant: tenant.to_string(), user: user.to_string(), id: id.to_string(), exp })
}

/// The CSRF token of a dashboard session, hex: a page signed in by cookie sends it in the
/// `X-CSRF-Token` header of every request that changes something. It is bound to the session,
/// so a token from another session (or none) is refused.
pub fn csrf_token(secret: &[u8], session_id: &str) -> String {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    m.update(format!("csrf|{session_id}").as_bytes());
    hex::encode(m.finalize().into_bytes())
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
        let t = sign_dashboard_session(b"k", "t_1", "u_2", "dss_3", 1000);
        let s = DashboardSession { tenant: "t_1".into(), user: "u_2".into(), id: "dss_3".into(), exp: 1000 };
        assert_eq!(verify_dashboard_session(b"k", &t, 999), Some(s));
        assert_eq!(verify_dashboard_session(b"k", &t, 1001), None, "expired");
        assert_eq!(verify_dashboard_session(b"j", &t, 999), None, "other key");
        assert_eq!(verify_dashboard_session(b"k", &t.replace("u_2", "u_3"), 999), None, "other user");
        assert_eq!(verify_dashboard_session(b"k", &t.replace("dss_3", "dss_4"), 999), None, "other session");
        assert_eq!(verify_dashboard_session(b"k", &t.replace(".1000.", ".2000."), 999), None, "extended");
        assert_eq!(verify_dashboard_session(b"k", "ds_x", 0), None);
        assert!(new_dashboard_session_id().starts_with("dss_") && new_dashboard_session_id() != new_dashboard_session_id());
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        assert_eq!(csrf_token(b"k", "dss_1"), csrf_token(b"k", "dss_1"));
        assert_ne!(csrf_token(b"k", "dss_1"), csrf_token(b"k", "dss_2"));
        assert_ne!(csrf_token(b"k", "dss_1"), csrf_token(b"j", "dss_1"));
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
