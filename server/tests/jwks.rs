//! Host identity tokens signed with RS256 and ES256, their public keys served as a JWKS by a
//! local stand-in for the host's auth server (which counts its requests): tokens verify, the
//! JWKS is fetched once and not per request, a rotated key is picked up with one refetch, forged
//! key ids cannot make us hammer the host, the pinned algorithm is enforced, and every failure
//! has its own error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use sentientiq_server::identity::jwt::{HostAlg, JwksCache, TokenError, TokenPolicy};
use sentientiq_server::outbound::Targets;

/// The fakes here serve keys on loopback, which the operator allows for them.
const LOOPBACK: Targets = Targets { loopback: true };
use serde_json::{json, Value};

const RSA_1: &[u8] = include_bytes!("data/jwt/rsa-1.pem");
const RSA_1_PUB: &[u8] = include_bytes!("data/jwt/rsa-1.pub.pem");
const RSA_2: &[u8] = include_bytes!("data/jwt/rsa-2.pem");
const EC_1: &[u8] = include_bytes!("data/jwt/ec-1.pem");

fn jwk(name: &str) -> Value {
    let text = match name {
        "rsa-1" => include_str!("data/jwt/rsa-1.jwk.json"),
        "rsa-2" => include_str!("data/jwt/rsa-2.jwk.json"),
        "ec-1" => include_str!("data/jwt/ec-1.jwk.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// What the stand-in host serves at `/jwks.json`, and how often it was asked.
struct Host {
    keys: Mutex<Vec<Value>>,
    status: Mutex<StatusCode>,
    delay: Mutex<Duration>,
    hits: AtomicU64,
}

impl Host {
    /// Starts serving `keys` on 127.0.0.1; returns the host and its JWKS URL.
    async fn start(keys: Vec<Value>) -> (Arc<Host>, String) {
        let host = Arc::new(Host {
            keys: Mutex::new(keys),
            status: Mutex::new(StatusCode::OK),
            delay: Mutex::new(Duration::ZERO),
            hits: AtomicU64::new(0),
        });
        async fn jwks(State(h): State<Arc<Host>>) -> Response {
            h.hits.fetch_add(1, Ordering::SeqCst);
            let delay = *h.delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let status = *h.status.lock().unwrap();
            if status != StatusCode::OK {
                return status.into_response();
            }
            Json(json!({"keys": *h.keys.lock().unwrap()})).into_response()
        }
        let app = Router::new().route("/jwks.json", get(jwks)).route("/html", get(|| async { "<html>" })).with_state(host.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (host, format!("http://{addr}/jwks.json"))
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims() -> Value {
    json!({"sub": "user-42", "email": "ada@acme.com", "name": "Ada", "account": "acme", "exp": now() + 600})
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    encode(&h, claims, key).unwrap()
}

fn rs(kid: &str, pem: &[u8], claims: &Value) -> String {
    sign(Algorithm::RS256, Some(kid), &EncodingKey::from_rsa_pem(pem).unwrap(), claims)
}

fn es(kid: &str, claims: &Value) -> String {
    sign(Algorithm::ES256, Some(kid), &EncodingKey::from_ec_pem(EC_1).unwrap(), claims)
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_and_a_hundred_cost_one_fetch() {
    let (host, url) = Host::start(vec![jwk("rsa-1"), jwk("ec-1")]).await;
    let cache = JwksCache::new().with_targets(LOOPBACK);
    let rs_policy = TokenPolicy::jwks(HostAlg::Rs256, &url);
    let token = rs("rsa-1", RSA_1, &claims());
    for _ in 0..100 {
        let c = cache.verify(&token, &rs_policy).await.unwrap();
        assert_eq!((c.sub.as_str(), c.email.as_deref(), c.account.as_deref()), ("user-42", Some("ada@acme.com"), Some("acme")));
    }
    assert_eq!((host.hits(), cache.fetches(&url)), (1, 1), "one fetch for a hundred verifications");

    let es_policy = TokenPolicy::jwks(HostAlg::Es256, &url);
    assert_eq!(cache.verify(&es("ec-1", &claims()), &es_policy).await.unwrap().name.as_deref(), Some("Ada"));
    assert_eq!(host.hits(), 1, "the ES256 key was in the same cached set");

    // A token whose signature is not rsa-1's, though it names rsa-1, is refused.
    assert_eq!(cache.verify(&rs("rsa-1", RSA_2, &claims()), &rs_policy).await, Err(TokenError::BadSignature));
    assert_eq!(host.hits(), 1);
}

#[tokio::test]
async fn a_rotated_key_costs_one_refetch_and_forged_key_ids_cannot_force_more() {
    const MIN_REFRESH: Duration = Duration::from_millis(1000);
    let (host, url) = Host::start(vec![jwk("rsa-1")]).await;
    let cache = JwksCache::with_intervals(MIN_REFRESH, Duration::from_secs(3600)).with_targets(LOOPBACK);
    let policy = TokenPolicy::jwks(HostAlg::Rs256, &url);
    assert!(cache.verify(&rs("rsa-1", RSA_1, &claims()), &policy).await.is_ok());
    assert_eq!(host.hits(), 1);

    // Within the refresh interval, a flood of tokens with invented key ids asks the host nothing.
    for i in 0..50 {
        let kid = format!("forged-{i}");
        let err = cache.verify(&rs(&kid, RSA_2, &claims()), &policy).await.unwrap_err();
        assert_eq!(err, TokenError::UnknownKeyId { kid, url: url.clone() });
    }
    assert_eq!(host.hits(), 1, "unknown kids inside the interval are not refetched");

    // The host starts signing with rsa-2 before publishing it: one refetch, still unknown.
    let rotated = rs("rsa-2", RSA_2, &claims());
    tokio::time::sleep(MIN_REFRESH + Duration::from_millis(100)).await;
    assert!(matches!(cache.verify(&rotated, &policy).await, Err(TokenError::UnknownKeyId { kid, .. }) if kid == "rsa-2"));
    assert_eq!(host.hits(), 2);
    host.serve(vec![jwk("rsa-1"), jwk("rsa-2")]);
    assert!(matches!(cache.verify(&rotated, &policy).await, Err(TokenError::UnknownKeyId { .. })), "rate-limited");
    assert_eq!(host.hits(), 2);

    // Once the interval has passed, the new kid triggers exactly one refetch and verifies.
    tokio::time::sleep(MIN_REFRESH + Duration::from_millis(100)).await;
    assert_eq!(cache.verify(&rotated, &policy).await.unwrap().sub, "user-42");
    assert_eq!(host.hits(), 3);
    for _ in 0..20 {
        assert!(cache.verify(&rotated, &policy).await.is_ok());
        assert!(cache.verify(&rs("rsa-1", RSA_1, &claims()), &policy).await.is_ok(), "old key still published");
        assert!(cache.verify(&rs("forged", RSA_2, &claims()), &policy).await.is_err());
    }
    assert_eq!((host.hits(), cache.fetches(&url)), (3, 3));
}

#[tokio::test]
async fn concurrent_verifications_on_a_cold_cache_share_one_fetch() {
    let (host, url) = Host::start(vec![jwk("rsa-1")]).await;
    *host.delay.lock().unwrap() = Duration::from_millis(200);
    // No refresh interval: only the single fetch in flight keeps the waiters from fetching too.
    let cache = Arc::new(JwksCache::with_intervals(Duration::ZERO, Duration::from_secs(3600)).with_targets(LOOPBACK));
    let policy = TokenPolicy::jwks(HostAlg::Rs256, &url);
    let token = rs("rsa-1", RSA_1, &claims());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (cache, policy, token) = (cache.clone(), policy.clone(), token.clone());
            tokio::spawn(async move { cache.verify(&token, &policy).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(host.hits(), 1, "one fetch in flight, the others waited for it");
}

#[tokio::test]
async fn old_sets_are_refetched_and_kept_when_the_host_is_down() {
    let (host, url) = Host::start(vec![jwk("rsa-1")]).await;
    let cache = JwksCache::with_intervals(Duration::from_millis(50), Duration::from_millis(300)).with_targets(LOOPBACK);
    let policy = TokenPolicy::jwks(HostAlg::Rs256, &url);
    let token = rs("rsa-1", RSA_1, &claims());
    assert!(cache.verify(&token, &policy).await.is_ok());
    assert!(cache.verify(&token, &policy).await.is_ok());
    assert_eq!(host.hits(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(cache.verify(&token, &policy).await.is_ok());
    assert_eq!(host.hits(), 2, "older than the maximum age: fetched again");

    // The host fails; the known key keeps working from the old copy.
    *host.status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(cache.verify(&token, &policy).await.is_ok());
    assert_eq!(host.hits(), 3);
}

#[tokio::test]
async fn the_pinned_algorithm_is_enforced_before_any_key_lookup() {
    let (host, url) = Host::start(vec![jwk("rsa-1"), jwk("ec-1")]).await;
    let cache = JwksCache::new().with_targets(LOOPBACK);
    let policy = TokenPolicy::jwks(HostAlg::Rs256, &url);
    assert_eq!(
        cache.verify(&es("ec-1", &claims()), &policy).await,
        Err(TokenError::AlgorithmNotAllowed { pinned: HostAlg::Rs256, got: Algorithm::ES256 })
    );
    // Algorithm confusion: HS256 "signed" with the RSA public key (which anyone can fetch).
    let confused = sign(Algorithm::HS256, Some("rsa-1"), &EncodingKey::from_secret(RSA_1_PUB), &claims());
    assert_eq!(
        cache.verify(&confused, &policy).await,
        Err(TokenError::AlgorithmNotAllowed { pinned: HostAlg::Rs256, got: Algorithm::HS256 })
    );
    assert_eq!(host.hits(), 0, "refused on the header alone");

    // A JWK that declares another algorithm is never used, even with the right kid.
    let mut rs384 = jwk("rsa-1");
    rs384["alg"] = json!("RS384");
    host.serve(vec![rs384]);
    let err = cache.verify(&rs("rsa-1", RSA_1, &claims()), &policy).await.unwrap_err();
    assert_eq!(err, TokenError::UnknownKeyId { kid: "rsa-1".into(), url: url.clone() });
    // The ES256 key is not used for RS256 either.
    host.serve(vec![jwk("ec-1")]);
    let es_kid_rs_token = rs("ec-1", RSA_1, &claims());
    assert!(matches!(
        JwksCache::new().with_targets(LOOPBACK).verify(&es_kid_rs_token, &policy).await,
        Err(TokenError::UnknownKeyId { .. })
    ));
}

#[tokio::test]
async fn audience_issuer_nbf_and_exp_failures_have_their_own_errors() {
    let (_host, url) = Host::start(vec![jwk("rsa-1"), jwk("ec-1")]).await;
    let cache = JwksCache::new().with_targets(LOOPBACK);
    let mut policy = TokenPolicy::jwks(HostAlg::Es256, &url);
    policy.audience = Some("sentientiq".into());
    policy.issuer = Some("https://auth.acme.test".into());
    let with = |extra: Value| {
        let mut c = claims();
        c["aud"] = json!("sentientiq");
        c["iss"] = json!("https://auth.acme.test");
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        es("ec-1", &c)
    };
    assert!(cache.verify(&with(json!({})), &policy).await.is_ok());
    assert_eq!(
        cache.verify(&with(json!({"aud": "another-app"})), &policy).await,
        Err(TokenError::WrongAudience { expected: "sentientiq".into() })
    );
    assert_eq!(
        cache.verify(&with(json!({"iss": "https://evil.test"})), &policy).await,
        Err(TokenError::WrongIssuer { expected: "https://auth.acme.test".into() })
    );
    assert_eq!(cache.verify(&with(json!({"nbf": now() + 3600})), &policy).await, Err(TokenError::NotYetValid));
    assert_eq!(cache.verify(&with(json!({"exp": now() - 3600})), &policy).await, Err(TokenError::Expired));
    assert_eq!(cache.verify(&with(json!({"sub": null})), &policy).await, Err(TokenError::MissingClaim("sub".into())));
}

#[tokio::test]
async fn an_unreachable_or_broken_jwks_gives_jwks_unavailable_with_the_url() {
    // A port nobody listens on.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let down = format!("http://{free}/jwks.json");
    let cache = JwksCache::new().with_targets(LOOPBACK);
    let token = rs("rsa-1", RSA_1, &claims());
    match cache.verify(&token, &TokenPolicy::jwks(HostAlg::Rs256, &down)).await {
        Err(TokenError::JwksUnavailable { url, reason }) => {
            assert_eq!(url, down);
            assert!(!reason.is_empty());
        }
        other => panic!("expected JwksUnavailable, got {other:?}"),
    }
    assert!(cache.prefetch(&down).await.is_err());
    assert_eq!(cache.fetches(&down), 1, "a failed fetch is not retried inside the refresh interval");

    let (host, url) = Host::start(vec![jwk("rsa-1")]).await;
    *host.status.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR;
    let policy = TokenPolicy::jwks(HostAlg::Rs256, &url);
    let err = cache.verify(&token, &policy).await.unwrap_err();
    assert_eq!(err, TokenError::JwksUnavailable { url: url.clone(), reason: "HTTP 500 Internal Server Error".into() });
    assert!(cache.verify(&token, &policy).await.is_err());
    assert_eq!(host.hits(), 1, "and the host is not asked again inside the interval");

    let html = url.replace("/jwks.json", "/html");
    let err = cache.verify(&token, &TokenPolicy::jwks(HostAlg::Rs256, &html)).await.unwrap_err();
    assert!(matches!(err, TokenError::JwksUnavailable { reason, .. } if reason.starts_with("not a JWKS document")));

    // Prefetch warms a good URL and says how many keys it can use.
    let (good, good_url) = Host::start(vec![jwk("rsa-1"), jwk("ec-1")]).await;
    assert_eq!(cache.prefetch(&good_url).await, Ok(2));
    assert!(cache.verify(&token, &TokenPolicy::jwks(HostAlg::Rs256, &good_url)).await.is_ok());
    assert_eq!(good.hits(), 1);
}
