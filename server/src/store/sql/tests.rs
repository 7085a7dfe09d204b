//! The list queries: the SQL [`Select`] writes, and keyset pages that split runs of equal keys,
//! on SQLite and (where it runs, as for the integration tests) PostgreSQL.

use super::*;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn time(ms: i64, id: &str) -> TimeCursor {
    TimeCursor { ms, id: id.into() }
}

#[test]
fn select_numbers_its_placeholders_as_the_lists_wrote_them() {
    let c = time(5, "x");
    let q = Select::<EscalationRecord>::of("escalations", "t").and_some("state =", Some("open")).page(NEWEST_CREATED, Some(&c), 10);
    let want = "FROM escalations WHERE tenant_id = $1 AND state = $2 AND (created_ms < $3 OR (created_ms = $3 AND id < $4)) \
                ORDER BY created_ms DESC, id DESC LIMIT $5";
    assert_eq!((q.sql, q.n), (format!("SELECT {} {want}", EscalationRecord::COLS), 5));

    let q = Select::<CardRecord>::of("cards", "t").and_some("state =", None::<&str>).page(NEWEST_CREATED, None::<&TimeCursor>, 10);
    assert_eq!(q.sql, format!("SELECT {} FROM cards WHERE tenant_id = $1 ORDER BY created_ms DESC, id DESC LIMIT $2", CardRecord::COLS));

    let c = CustomerCursor { strength: 0.5, sub: "u".into() };
    let q = Select::<Customer>::of("customers", "t").page(Order::asc("strength", "sub"), Some(&c), 10);
    let want =
        "FROM customers WHERE tenant_id = $1 AND (strength > $2 OR (strength = $2 AND sub > $3)) ORDER BY strength ASC, sub ASC LIMIT $4";
    assert_eq!(q.sql, format!("SELECT {} {want}", Customer::COLS));

    let c = time(5, "x");
    let q = Select::<ContextRecord>::of("contexts", "t").and("expires_ms >", 7i64).page(Order::desc("set_ms", "id"), Some(&c), 10);
    let want = "FROM contexts WHERE tenant_id = $1 AND expires_ms > $2 AND (set_ms < $3 OR (set_ms = $3 AND id < $4)) \
                ORDER BY set_ms DESC, id DESC LIMIT $5";
    assert_eq!(q.sql, format!("SELECT {} {want}", ContextRecord::COLS));

    assert_eq!(TransactionRecord::COLS, "host_id, account, amount_cents, at_ms");

    assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
    assert_eq!(value_rows(1, 1), "($1)");
    assert_eq!(AuditEntry::COLS, "id, tenant_id, actor, action, target, details, at_ms");
}

/// A tenant's row as the store tests create it.
fn tenant_row(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        site_key: format!("pk_{id}_site"),
        secret_key_hash: format!("hash_{id}"),
        jwt_secret: "j".into(),
        created_ms: 1,
        thresholds: String::new(),
        token_policy: String::new(),
        holdout_share: 0.0,
        outcome_window_ms: 0,
        retention_days: 0,
    }
}

/// Runs `test` on a new SQLite database in a temporary directory.
async fn on_a_new_sqlite_db<T>(test: impl AsyncFnOnce(&str) -> T) -> T {
    let dir = tempfile::tempdir().unwrap();
    test(&format!("sqlite://{}", dir.path().join("siq.db").display())).await
}

/// Runs `test` on a new PostgreSQL database, dropped after it; `None`, saying so, where no
/// PostgreSQL answers at [`PG_ADMIN_URL`].
async fn on_a_new_postgres_db<T>(test: impl AsyncFnOnce(&str) -> T) -> Option<T> {
    let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN_URL).await else {
        eprintln!("no PostgreSQL at {PG_ADMIN_URL}: skipped");
        return None;
    };
    let db = format!("siq_store_{:08x}{:04x}", crate::records::random_u32(), std::process::id() & 0xffff);
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin).await.unwrap();
    let out = test(&format!("postgres://postgres@127.0.0.1:5432/{db}")).await;
    sqlx::query(&format!("DROP DATABASE {db}")).execute(&admin).await.unwrap();
    admin.close().await;
    Some(out)
}

/// Every page of a list, `limit` rows at a time, each after the last row of the one before.
async fn every_page<T, C>(page: impl AsyncFn(Option<&C>) -> Vec<T>, cursor: impl Fn(&T) -> C) -> Vec<T> {
    let mut all: Vec<T> = Vec::new();
    loop {
        let rows = page(all.last().map(&cursor).as_ref()).await;
        if rows.is_empty() {
            return all;
        }
        all.extend(rows);
    }
}

async fn pages_split_runs_of_equal_keys(url: &str) {
    let s = SqlStore::connect(url).await.unwrap();
    let t = "t1";
    // Times with ties (1, 1, 1, 2, 2, 3, …), ids out of time order, in two tenants.
    let at = |i: i64| i / 3;
    let id = |i: i64| format!("r{:02}", (i * 7) % 12);
    for tenant in [t, "t2"] {
        s.create_tenant(&tenant_row(tenant)).await.unwrap();
        let keys: Vec<(String, KeyKind, String)> =
            s.tenant_keys(tenant).await.unwrap().into_iter().map(|k| (k.id, k.kind, k.hint)).collect();
        let want = [
            (format!("key_pk_{tenant}"), KeyKind::Publishable, "site".into()),
            (format!("key_sk_{tenant}"), KeyKind::Secret, String::new()),
        ];
        assert_eq!(keys, want);
        for i in 0..12 {
            let details = serde_json::json!({});
            let e = AuditEntry {
                id: if tenant == t { id(i) } else { format!("{tenant}-{i}") },
                tenant_id: tenant.into(),
                actor: "a".into(),
                action: "x".into(),
                target: "y".into(),
                details,
                at_ms: at(i),
            };
            s.audit(&e).await.unwrap();
        }
    }
    let all = every_page(async |after| s.audit_log(t, after, 2).await.unwrap(), |e| time(e.at_ms, &e.id)).await;
    let mut want: Vec<(i64, String)> = (0..12).map(|i| (at(i), id(i))).collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(all.iter().map(|e| (e.at_ms, e.id.clone())).collect::<Vec<_>>(), want, "audit, newest first");
    assert!(all.iter().all(|e| e.tenant_id == t && e.details == serde_json::json!({})));

    let rows: Vec<TransactionRecord> = (0..12)
        .map(|i| TransactionRecord { id: id(i), account: ["acme", "globex"][i as usize % 2].into(), amount_cents: i, at_ms: at(i) })
        .collect();
    assert_eq!(s.add_transactions(t, &rows).await.unwrap(), 12);
    assert!(!s.add_transaction(t, &id(0), "acme", 0, 0).await.unwrap(), "idempotent by id");
    let acme = every_page(async |after| s.transactions(t, Some("acme"), after, 2).await.unwrap(), |r| time(r.at_ms, &r.id)).await;
    let mut want: Vec<&TransactionRecord> = rows.iter().filter(|r| r.account == "acme").collect();
    want.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
    assert_eq!(acme.iter().collect::<Vec<_>>(), want, "one account's transactions, newest first");

    for i in 0..12 {
        let c = ContextRecord { id: id(i), tenant_id: t.into(), sub: "u".into(), state: Context::Busy, set_ms: at(i), expires_ms: 10 + i };
        s.add_context(&c).await.unwrap();
    }
    let live = every_page(async |after| s.contexts(t, 15, after, 2).await.unwrap(), |c| time(c.set_ms, &c.id)).await;
    let mut want: Vec<(i64, String)> = (6..12).map(|i| (at(i), id(i))).collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(live.iter().map(|c| (c.set_ms, c.id.clone())).collect::<Vec<_>>(), want, "unexpired contexts, newest first");

    for i in 0..12 {
        let card = CardRecord {
            id: id(i),
            tenant_id: t.into(),
            session: "s".into(),
            sub: None,
            emotion: shared_physics::Emotion::Rage,
            section: "pricing".into(),
            opener: "hi".into(),
            state: [CardState::Pending, CardState::Completed][i as usize % 2],
            outcome: None,
            actor: None,
            created_ms: at(i),
            updated_ms: at(i),
        };
        s.insert_card(&card).await.unwrap();
    }
    let queued =
        every_page(async |after| s.cards(t, Some(CardState::Pending), after, 2).await.unwrap(), |c| time(c.created_ms, &c.id)).await;
    let mut want: Vec<(i64, String)> = (0..12).filter(|i| i % 2 == 0).map(|i| (at(i), id(i))).collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(queued.iter().map(|c| (c.created_ms, c.id.clone())).collect::<Vec<_>>(), want, "queued cards, newest first");

    // Strengths with ties (0.0, 0.0, 0.5, 0.5, …), subs out of strength order, in two segments.
    let strength = |i: i64| (i / 2) as f64 / 2.0;
    let mut rows = Vec::new();
    for i in 0..12 {
        let seen = CustomerSeen {
            tenant_id: t.into(),
            sub: id(i),
            account: None,
            name: None,
            email_sealed: None,
            email_index: None,
            company: None,
            seen_ms: 1,
        };
        s.customer_seen(&seen).await.unwrap();
        let segment = ["loyal", "at_risk"][i as usize % 3 / 2].to_string();
        rows.push(StrengthRow { sub: id(i), score: strength(i), segment, factors: "{}".into() });
    }
    s.set_strengths(t, &rows, 2, 0).await.unwrap();
    for (order, reversed) in [(CustomerOrder::StrengthAsc, false), (CustomerOrder::StrengthDesc, true)] {
        let page = async |after: Option<&CustomerCursor>| s.customers(t, Some("loyal"), order, after, 2).await.unwrap();
        let loyal = every_page(page, |c| CustomerCursor { strength: c.strength, sub: c.sub.clone() }).await;
        let mut want: Vec<(f64, String)> = rows.iter().filter(|r| r.segment == "loyal").map(|r| (r.score, r.sub.clone())).collect();
        want.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if reversed {
            want.reverse();
        }
        assert_eq!(loyal.iter().map(|c| (c.strength, c.sub.clone())).collect::<Vec<_>>(), want, "{order:?}");
    }
    s.pool.close().await;
}

#[tokio::test]
async fn pages_split_runs_of_equal_keys_on_sqlite() {
    on_a_new_sqlite_db(async |url: &str| pages_split_runs_of_equal_keys(url).await).await;
}

#[tokio::test]
async fn pages_split_runs_of_equal_keys_on_postgres() {
    on_a_new_postgres_db(async |url: &str| pages_split_runs_of_equal_keys(url).await).await;
}

/// Sessions and frames written many at once end as written one by one: a session's records
/// merge (identity filled in, most active minutes kept), a frame already in the journal is not
/// counted again.
#[tokio::test]
async fn batched_sessions_and_frames_merge_like_single_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqlStore::connect(&format!("sqlite://{}", dir.path().join("siq.db").display())).await.unwrap();
    s.create_tenant(&tenant_row("t1")).await.unwrap();
    let rec = |session: &str, user: Option<&str>, minutes: i64| SessionRecord {
        tenant_id: "t1".into(),
        session: session.into(),
        user: user.map(Into::into),
        account: None,
        page: "/".into(),
        started_ms: 5,
        active_minutes: minutes,
    };
    s.upsert_session(&rec("a", Some("u_1"), 4)).await.unwrap();
    s.upsert_sessions(&[rec("a", None, 2), rec("b", None, 1), rec("b", Some("u_2"), 3), rec("b", None, 2)]).await.unwrap();
    let a = s.session("t1", "a").await.unwrap().unwrap();
    assert_eq!((a.user.as_deref(), a.active_minutes), (Some("u_1"), 4), "an older record neither forgets the person nor the minutes");
    let b = s.session("t1", "b").await.unwrap().unwrap();
    assert_eq!((b.user.as_deref(), b.active_minutes), (Some("u_2"), 3));

    let frame = |seq: i64| FrameRecord { tenant_id: "t1".into(), session: "a".into(), seq, kind: "physics".into(), received_ms: 9 };
    let many: Vec<FrameRecord> = (1..=900).map(frame).collect();
    assert_eq!(s.insert_frames(&many).await.unwrap(), 900, "three statements of up to 400 rows");
    assert_eq!(s.insert_frames(&[frame(900), frame(901)]).await.unwrap(), 1, "a frame already journaled is not new");
    assert_eq!(s.prune_frames(10).await.unwrap(), 901);
}

/// A detection of `sub` in session `s{round}`, at `at_ms`.
fn detection_of(sub: &str, round: usize, at_ms: i64) -> DetectionRecord {
    DetectionRecord {
        tenant_id: "t1".into(),
        session: format!("s{round}"),
        seq: 1,
        emotion: shared_physics::Emotion::Rage,
        confidence: 0.9,
        client_confidence: 0.9,
        section: String::new(),
        user: Some(sub.into()),
        user_name: None,
        account: None,
        account_name: None,
        value_cents: 0,
        features: serde_json::json!({}),
        evidence: Vec::new(),
        t_ms: 0,
        created_ms: at_ms,
    }
}

/// An event about a person written at the very moment the person is erased, many times over:
/// whichever transaction goes first, nothing about the person is left after both (the erasure
/// deleted the row, or the write saw the erasure). Then an event from before the erasure that
/// arrives late is not written, and one from after it is.
async fn an_event_racing_its_persons_erasure_is_never_left(url: &str) -> usize {
    let s = SqlStore::connect(url).await.unwrap();
    s.create_tenant(&tenant_row("t1")).await.unwrap();
    let count = |sub: String| {
        let pool = s.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM detections WHERE tenant_id = 't1' AND user_sub = $1")
                .bind(sub)
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    let mut written_first = 0;
    for round in 0..ROUNDS {
        let sub = format!("u{round}");
        let person = format!("person:{sub}");
        let ev = Event::Detection(detection_of(&sub, round, 1_000));
        let (written, erased) = tokio::join!(s.write_unless_erased(&person, &ev), s.erase_person("t1", &sub, &person, 2_000));
        erased.unwrap();
        written_first += usize::from(written.unwrap());
        assert_eq!(count(sub.clone()).await, 0, "round {round}: the detection outlived its person's erasure");
        assert!(!s.write_unless_erased(&person, &ev).await.unwrap(), "round {round}: a late event from before the erasure");
        let after = Event::Detection(detection_of(&sub, round + ROUNDS, 3_000));
        assert!(s.write_unless_erased(&person, &after).await.unwrap(), "round {round}: an event after the erasure is theirs again");
        assert_eq!(count(sub).await, 1);
    }
    s.pool.close().await;
    written_first
}

/// Rounds of [`an_event_racing_its_persons_erasure_is_never_left`].
const ROUNDS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_racing_its_persons_erasure_is_never_left_on_sqlite() {
    let written = on_a_new_sqlite_db(async |url: &str| an_event_racing_its_persons_erasure_is_never_left(url).await).await;
    eprintln!("sqlite: the write went first in {written} of {ROUNDS} rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_racing_its_persons_erasure_is_never_left_on_postgres() {
    if let Some(written) = on_a_new_postgres_db(async |url: &str| an_event_racing_its_persons_erasure_is_never_left(url).await).await {
        eprintln!("postgres: the write went first in {written} of {ROUNDS} rounds");
    }
}

/// A batch of transactions, written many rows a statement, ends as written one row at a time: an
/// id already stored or earlier in the batch is not recorded again and adds nothing to its
/// account; a row taking its account past the limit refuses the whole batch, the rows of
/// statements before it included.
async fn transactions_batch_like_single_writes(url: &str) {
    let s = SqlStore::connect(url).await.unwrap();
    let t = "t1";
    s.create_tenant(&tenant_row(t)).await.unwrap();
    let row = |i: usize, amount: i64| TransactionRecord {
        id: format!("inv-{i}"),
        account: format!("acct-{}", i % 3),
        amount_cents: amount,
        at_ms: i as i64,
    };
    assert!(s.add_transaction(t, "inv-7", "acct-1", 5, 0).await.unwrap());
    // Three statements' worth; inv-7 already stored; two ids again at the end, with other
    // amounts: one first written by an earlier statement, one by the same statement.
    let k = tenants::TRANSACTIONS_PER_INSERT;
    let n = 2 * k + k / 2;
    let mut rows: Vec<TransactionRecord> = (0..n).map(|i| row(i, 10)).collect();
    let again = [k + 1, 2 * k + 1];
    rows.extend(again.map(|i| row(i, 99)));
    let mut values = std::collections::HashMap::new();
    assert_eq!(s.add_transaction_batch(t, &rows, &mut values).await.unwrap(), n as u64 - 1);
    let sums: Vec<i64> = (0..3).map(|a| values[&format!("acct-{a}")]).collect();
    let per = |a: usize| (0..n).filter(|i| i % 3 == a).count() as i64 * 10;
    assert_eq!(sums, vec![per(0), per(1) - 10 + 5, per(2)], "each account summed once a row, the stored row at its own amount");
    let all = every_page(async |after| s.transactions(t, None, after, 100).await.unwrap(), |r| time(r.at_ms, &r.id)).await;
    assert_eq!(all.len(), n);
    for i in again {
        assert_eq!(
            all.iter().find(|r| r.id == format!("inv-{i}")).map(|r| r.amount_cents),
            Some(10),
            "the first of a repeated id kept: {i}"
        );
    }

    // A batch whose last statement takes acct-0 past the limit: nothing of it is recorded.
    let mut rows: Vec<TransactionRecord> = (n..n + k + 1).map(|i| row(i * 3, 1)).collect();
    rows.last_mut().unwrap().amount_cents = MAX_TRANSACTION_CENTS;
    let mut values = std::collections::HashMap::from([("acct-0".to_string(), MAX_ACCOUNT_VALUE_CENTS - MAX_TRANSACTION_CENTS)]);
    let e = s.add_transaction_batch(t, &rows, &mut values).await.unwrap_err();
    assert!(matches!(e, StoreError::AccountValueOutOfRange { ref account, .. } if account == "acct-0"), "{e:?}");
    let after = every_page(async |after| s.transactions(t, None, after, 100).await.unwrap(), |r| time(r.at_ms, &r.id)).await;
    assert_eq!(after.len(), n, "the refused batch rolled back whole");
    s.pool.close().await;
}

#[tokio::test]
async fn transactions_batch_like_single_writes_on_sqlite() {
    on_a_new_sqlite_db(async |url: &str| transactions_batch_like_single_writes(url).await).await;
}

#[tokio::test]
async fn transactions_batch_like_single_writes_on_postgres() {
    on_a_new_postgres_db(async |url: &str| transactions_batch_like_single_writes(url).await).await;
}
