//! The REST API: keys, idempotent transactions, validation errors, tenant isolation and the
//! signed session link. Runs on both backends.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn tenants_accounts_and_idempotent_transactions() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (status, body) = s.post("/v1/admin/tenants", "wrong", json!({"name": "x"})).await;
        assert_eq!((status, body["error_code"].as_str()), (401, Some("unauthorized")));
        let t = s.tenant("Shop").await;
        let sk = t["secret_key"].as_str().unwrap();
        assert!(t["site_key"].as_str().unwrap().starts_with("pk_") && sk.starts_with("sk_"));

        let tx = json!({"id": "inv-7", "account": "acme", "amount_cents": 2500});
        let (s1, b1) = s.post("/v1/transactions", sk, tx.clone()).await;
        let (s2, b2) = s.post("/v1/transactions", sk, tx).await;
        assert_eq!((s1, s2), (201, 200));
        assert_eq!((b1["account_value_cents"].as_i64(), b2["account_value_cents"].as_i64()), (Some(2500), Some(2500)));

        let (st, e) = s.post("/v1/contacts", sk, json!({"name": "Dana", "channel": "sms", "address": "555-0100"})).await;
        assert_eq!((st, e["error_code"].as_str()), (400, Some("invalid_request")));
        assert_eq!(e["details"]["field"], "address");
        let (st, e) = s.post("/v1/accounts", sk, json!({"account": ""})).await;
        assert_eq!(st, 400, "{e}");
        assert!(e["message"].is_string());
        assert_eq!(s.get("/v1/detections", "sk_unknown").await.0, 401);
        s.stop().await;
    }
}

#[tokio::test]
async fn one_tenant_never_sees_anothers_data_and_links_are_bound_to_their_tenant() {
    let s = TestServer::start(Backend::Embedded).await;
    let a = s.tenant("A").await;
    let b = s.tenant("B").await;
    let (ska, skb) = (a["secret_key"].as_str().unwrap(), b["secret_key"].as_str().unwrap());
    s.post("/v1/transactions", ska, json!({"id": "1", "account": "acme", "amount_cents": 5})).await;
    // Tenant B's same transaction id is its own.
    assert_eq!(s.post("/v1/transactions", skb, json!({"id": "1", "account": "acme", "amount_cents": 7})).await.0, 201);

    let cfg_secret = s.running.as_ref().unwrap().state.config.link_secret.clone();
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let ta = a["tenant_id"].as_str().unwrap();
    let tb = b["tenant_id"].as_str().unwrap();
    let sig = sentientiq_server::identity::tokens::sign_link(&cfg_secret, ta, "00000000000000aa", exp);
    let get = |q: String| {
        let http = s.http.clone();
        let url = format!("{}{q}", s.url);
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    // Signed for A: the page opens; the JSON says the session is unknown (404), not forbidden.
    assert_eq!(get(format!("/s/00000000000000aa?t={ta}&exp={exp}&sig={sig}")).await, 200);
    assert_eq!(get(format!("/v1/sessions/00000000000000aa?t={ta}&exp={exp}&sig={sig}")).await, 404);
    // The same signature presented for tenant B, a tampered one, or an expired one: 403.
    assert_eq!(get(format!("/s/00000000000000aa?t={tb}&exp={exp}&sig={sig}")).await, 403);
    let flipped = if sig.ends_with('0') { '1' } else { '0' };
    assert_eq!(get(format!("/s/00000000000000aa?t={ta}&exp={exp}&sig={}{flipped}", &sig[..sig.len() - 1])).await, 403);
    assert_eq!(get(format!("/s/00000000000000aa?t={ta}&exp={}&sig={sig}", exp + 1)).await, 403);
    assert_eq!(s.get("/v1/detections", skb).await.1["detections"].as_array().unwrap().len(), 0);
    s.stop().await;
}
