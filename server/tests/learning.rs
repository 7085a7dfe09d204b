//! Interventions that learn, through the socket and the API: the holdout gets nothing (and is
//! counted), every decision is stored with what replays it, tenant variants compete, outcomes
//! are attributed once to the newest decision in the window and counted on the chosen arm, and
//! the uplift is reported against the holdout. Both backends.

mod common;

use common::*;
use serde_json::{json, Value};
use shared_physics::wire::{Frame, Hello, Section};

/// One session rages once on "pricing"; returns the intervention text, if one was pushed.
async fn rage_session(s: &TestServer, site_key: &str, session: u64) -> Option<String> {
    let mut ws = s.ws().await;
    ws.send(0, &Frame::Hello(Hello { session, site_key, page: "/pricing", identity: None })).await;
    ws.send(1, &Frame::Section(Section { id: 1, name: "pricing" })).await;
    assert_eq!(ws.next().await, In::Ack(1));
    ws.send(2, &Frame::Detection(rage_frame())).await;
    // The push does not wait for the frame to be durable: it may come before the ack.
    let mut pushed = None;
    loop {
        match ws.next().await {
            In::Ack(2) => break,
            In::Intervene(t) => pushed = Some(t),
            other => panic!("unexpected {other:?}"),
        }
    }
    if pushed.is_none() {
        if let Ok(In::Intervene(t)) = tokio::time::timeout(std::time::Duration::from_millis(400), ws.next()).await {
            pushed = Some(t);
        }
    }
    pushed
}

async fn decisions(s: &TestServer, tenant: &str) -> Vec<(i64, Option<String>, f64, String)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.database_url()).await.unwrap();
    let rows = sqlx::query_as("SELECT holdout, variant_id, holdout_share, decision FROM decisions WHERE tenant_id = $1 ORDER BY id")
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn the_holdout_gets_nothing_and_every_decision_replays() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let (st, t) = s.post("/v1/admin/tenants", ADMIN, json!({"name": "Shop"})).await;
        assert_eq!(st, 201);
        let (tid, pk, sk) = (t["tenant_id"].as_str().unwrap(), t["site_key"].as_str().unwrap(), t["secret_key"].as_str().unwrap());
        assert_eq!(s.get("/v1/intervention-policy", sk).await.1["holdout_share"], 0.1, "10% by default");
        assert_eq!(s.put("/v1/intervention-policy", sk, json!({"holdout_share": 0.6})).await.0, 400);
        assert_eq!(s.put("/v1/intervention-policy", sk, json!({"holdout_share": 0.5})).await.0, 200);

        let mut shown = 0;
        for i in 0..30u64 {
            shown += rage_session(&s, pk, 0x1000 + i).await.is_some() as u32;
        }
        let stats = s.eventually("/v1/stats", sk, |v| v["confirmed"] == 30).await;
        let held = stats["held_out"].as_u64().unwrap();
        assert_eq!(held + stats["interventions"].as_u64().unwrap(), 30, "{stats}");
        assert_eq!(shown as u64, stats["interventions"].as_u64().unwrap());
        assert!(held > 0 && shown > 0, "with a 50% holdout both groups fill ({held} held out)");

        // Stored, with the seed, draws and posteriors: each replays to the same choice.
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows = decisions(&s, tid).await;
            if rows.len() == 30 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(rows.len(), 30);
        assert_eq!(rows.iter().filter(|r| r.0 == 1).count() as u64, held);
        let policy = sentientiq_server::interventions::bandit::Policy::new(0.5).unwrap();
        for (holdout, variant, share, d) in &rows {
            let d: sentientiq_server::interventions::bandit::Decision = serde_json::from_str(d).unwrap();
            assert!(sentientiq_server::interventions::bandit::replay(&d, &policy), "{d:?}");
            assert_eq!((*holdout == 1, variant.clone(), *share), (d.holdout, d.chosen.clone(), 0.5));
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn variants_compete_and_outcomes_feed_them_and_the_uplift() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let a = s.tenant("A").await;
        let b = s.tenant("B").await;
        let (pk, sk, skb) = (a["site_key"].as_str().unwrap(), a["secret_key"].as_str().unwrap(), b["secret_key"].as_str().unwrap());

        let bad = s.post("/v1/variants", sk, json!({"id": "x", "emotion": "rage", "kind": "message", "text": ""})).await;
        assert_eq!((bad.0, bad.1["details"]["field"].as_str()), (400, Some("text")));
        assert_eq!(s.post("/v1/variants", sk, json!({"id": "x", "emotion": "joy", "kind": "message", "text": "hi"})).await.0, 400);
        for (id, kind, text) in [("helpdesk", "help", "Open the help desk?"), ("ten-off", "discount", "10% off, today only")] {
            let (st, v) =
                s.post("/v1/variants", sk, json!({"id": id, "emotion": "rage", "section": "pricing", "kind": kind, "text": text})).await;
            assert_eq!(st, 201, "{v}");
        }
        assert_eq!(s.post("/v1/variants", sk, json!({"id": "ten-off", "emotion": "rage", "kind": "nothing"})).await.0, 409);

        // Only the tenant's variants are shown now (holdout 0 for this test tenant).
        let mut texts = Vec::new();
        for i in 0..6u64 {
            texts.push(rage_session(&s, pk, 0x2000 + i).await.expect("no holdout: every rage answered"));
        }
        assert!(texts.iter().all(|t| t == "Open the help desk?" || t == "10% off, today only"), "{texts:?}");
        s.eventually("/v1/stats", sk, |v| v["interventions"] == 6).await;

        // An outcome counts once, on the newest decision of the session, on its arm.
        let session = format!("{:016x}", 0x2000u64);
        let mut first = (0, Value::Null);
        for _ in 0..100 {
            first = s.post("/v1/outcomes", sk, json!({"session": session, "event": "purchase"})).await;
            if first.0 == 201 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!((first.0, first.1["converted"].as_bool()), (201, Some(true)), "{}", first.1);
        let again = s.post("/v1/outcomes", sk, json!({"session": session, "event": "purchase"})).await;
        assert_eq!((again.0, again.1["decision"].is_null()), (200, true));
        assert_eq!(s.post("/v1/outcomes", sk, json!({"event": "purchase"})).await.0, 400);
        let cancel = s.post("/v1/outcomes", sk, json!({"session": format!("{:016x}", 0x2001u64), "event": "cancel"})).await;
        assert_eq!((cancel.0, cancel.1["converted"].as_bool()), (201, Some(false)));
        let arms = s.get("/v1/variants", sk).await.1["arms"].clone();
        let total: i64 = arms.as_array().unwrap().iter().map(|a| a["successes"].as_i64().unwrap() + a["failures"].as_i64().unwrap()).sum();
        let wins: i64 = arms.as_array().unwrap().iter().map(|a| a["successes"].as_i64().unwrap()).sum();
        assert_eq!((total, wins), (2, 1), "{arms}");

        let up = s.get("/v1/uplift", sk).await.1;
        let rage = up["emotions"].as_array().unwrap().iter().find(|e| e["emotion"] == "rage").cloned().unwrap();
        assert_eq!((rage["treated"]["n"].as_i64(), rage["holdout"]["n"].as_i64()), (Some(2), Some(0)), "{up}");
        assert!(rage["uplift"].is_null(), "no control, no uplift claimed");

        // Tenant B touches none of it.
        assert_eq!(s.delete("/v1/variants/helpdesk", skb).await.0, 404);
        assert_eq!(s.get("/v1/variants", skb).await.1["variants"].as_array().unwrap().len(), 0);
        assert!(s.post("/v1/outcomes", skb, json!({"session": format!("{:016x}", 0x2002u64), "event": "purchase"})).await.1["decision"]
            .is_null());
        assert_eq!(s.delete("/v1/variants/helpdesk", sk).await.0, 200);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_card_variant_queues_an_opener_for_a_human() {
    for backend in BACKENDS {
        let s = TestServer::start(backend).await;
        let a = s.tenant("A").await;
        let b = s.tenant("B").await;
        let (pk, sk, skb) = (a["site_key"].as_str().unwrap(), a["secret_key"].as_str().unwrap(), b["secret_key"].as_str().unwrap());
        assert_eq!(s.post("/v1/variants", sk, json!({"id": "call-them", "emotion": "rage", "kind": "card"})).await.0, 201);
        assert_eq!(rage_session(&s, pk, 0x3000).await, None, "a card shows nothing in the page");
        let cards = s.eventually("/v1/cards?state=pending", sk, |v| v["items"].as_array().is_some_and(|i| i.len() == 1)).await;
        let card = &cards["items"][0];
        let opener = card["opener"].as_str().unwrap();
        assert!(opener.starts_with("An anonymous visitor is clicking repeatedly") && opener.contains("on pricing"), "{opener}");
        let id = card["id"].as_str().unwrap();
        assert_eq!(s.get("/v1/stats", sk).await.1["cards"], 1);

        assert_eq!(s.post(&format!("/v1/cards/{id}/action"), skb, json!({})).await.0, 404, "another tenant's card");
        assert_eq!(s.post(&format!("/v1/cards/{id}/action"), sk, json!({})).await.0, 200);
        assert_eq!(s.post(&format!("/v1/cards/{id}/action"), sk, json!({})).await.0, 409, "already actioned");
        let done = s.post(&format!("/v1/cards/{id}/complete"), sk, json!({"outcome": "saved"})).await;
        assert_eq!((done.0, done.1["state"].as_str()), (200, Some("completed")));
        assert_eq!(s.post(&format!("/v1/cards/{id}/complete"), sk, json!({"outcome": "saved"})).await.0, 409);
        let c = &s.get("/v1/cards?state=completed", sk).await.1["items"][0];
        assert_eq!((c["outcome"].as_str(), c["actor"].as_str().map(|a| a.starts_with("key:"))), (Some("saved"), Some(true)));
        assert_eq!(s.get("/v1/cards?state=lost", sk).await.0, 400);
        s.stop().await;
    }
}
