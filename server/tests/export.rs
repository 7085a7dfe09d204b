//! The warehouse export: a day of a tenant's sessions, detections, decisions, outcomes and
//! alerts written as Parquet under `{table}/tenant=…/day=…/`, read back with DuckDB (from PyPI:
//! `pip install duckdb`; the test fails, never skips, without it) and counted against the
//! database. No personal field in the files. Both backends.

mod common;

use common::*;
use serde_json::json;
use shared_physics::wire::{Frame, Hello, Section};

/// Rows of `table` for `tenant` in the exported files, counted by DuckDB.
fn duckdb_count(dir: &std::path::Path, table: &str, tenant: &str) -> i64 {
    let python = std::env::var("SIQ_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "import duckdb\nprint(duckdb.sql(\"SELECT count(*) FROM read_parquet('{}/{table}/*/*/*.parquet', hive_partitioning = true) WHERE tenant = '{tenant}'\").fetchone()[0])",
        dir.display()
    );
    let out = std::process::Command::new(&python).arg("-c").arg(&script).output().unwrap_or_else(|e| panic!("{python}: {e}"));
    assert!(out.status.success(), "DuckDB (pip install duckdb) could not read the export: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Every text value DuckDB reads in the files of `table`.
fn duckdb_text(dir: &std::path::Path, table: &str) -> String {
    let script =
        format!("import duckdb\nprint(duckdb.sql(\"SELECT * FROM read_parquet('{}/{table}/*/*/*.parquet')\").fetchall())", dir.display());
    let out = std::process::Command::new("python3").arg("-c").arg(&script).output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn db_count(url: &str, sql: &str, tenant: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sql).bind(tenant).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn a_day_is_exported_as_parquet_and_duckdb_counts_what_the_database_holds() {
    for backend in BACKENDS {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_path_buf();
        let s = TestServer::start_with(backend, |c| c.export_dir = Some(dir.clone())).await;
        let t = s.tenant("Shop").await;
        let (tid, sk) = (t["tenant_id"].as_str().unwrap(), t["secret_key"].as_str().unwrap());
        assert_eq!(s.post("/v1/accounts", sk, json!({"account": "acme", "name": "Acme Corp"})).await.0, 201);
        assert_eq!(s.post("/v1/transactions", sk, json!({"id": "t1", "account": "acme", "amount_cents": 10_000_000})).await.0, 201);
        let contact = json!({"name": "Dana Reyes", "role": "CEO", "channel": "sms", "address": "+15550100"});
        assert_eq!(s.post("/v1/contacts", sk, contact).await.0, 201);
        let token = visitor_token(t["jwt_secret"].as_str().unwrap(), "u_jane", "acme");
        let mut ws = s.ws().await;
        ws.send(
            0,
            &Frame::Hello(Hello { session: 0xabc, site_key: t["site_key"].as_str().unwrap(), page: "/store", identity: Some(&token) }),
        )
        .await;
        ws.send(1, &Frame::Section(Section { id: 1, name: "checkout" })).await;
        assert_eq!(ws.next().await, In::Ack(1));
        ws.send(2, &Frame::Detection(rage_frame())).await;
        // The server pages on a second burst it sees 3 s or more after the first.
        tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
        ws.send(3, &Frame::Detection(rage_frame_at(5_000))).await;
        s.eventually("/v1/alerts", sk, |v| v["alerts"].as_array().is_some_and(|a| !a.is_empty())).await;
        let (st, o) = s.post("/v1/outcomes", sk, json!({"session": "0000000000000abc", "event": "purchase"})).await;
        assert_eq!(st, 201, "{o}");

        let (st, e) = s.post("/v1/export", sk, json!({})).await;
        assert_eq!(st, 200, "{e}");
        let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 / 86_400_000;
        let day = sentientiq_server::forensics::warehouse::day_name(today);
        let (st, e) = s.post("/v1/export", sk, json!({"day": day})).await;
        assert_eq!(st, 200, "{e}");
        assert_eq!(s.post("/v1/export", sk, json!({"day": "2024-02-30"})).await.0, 400);

        let url = s.database_url();
        let expected = [
            ("sessions", "SELECT COUNT(*) FROM sessions WHERE tenant_id = $1"),
            ("detections", "SELECT COUNT(*) FROM detections WHERE tenant_id = $1"),
            ("decisions", "SELECT COUNT(*) FROM decisions WHERE tenant_id = $1"),
            ("outcomes", "SELECT COUNT(*) FROM decisions WHERE tenant_id = $1 AND outcome IS NOT NULL"),
            ("alerts", "SELECT COUNT(*) FROM alerts WHERE tenant_id = $1"),
        ];
        for (table, sql) in expected {
            let in_db = db_count(&url, sql, tid).await;
            assert!(in_db > 0, "{backend:?}: nothing to export in {table}");
            assert_eq!(duckdb_count(&dir, table, tid), in_db, "{backend:?}: {table}");
            let file = dir.join(table).join(format!("tenant={tid}")).join(format!("day={day}")).join("part-0.parquet");
            assert!(file.is_file(), "{}", file.display());
            let reported = e["files"].as_array().unwrap().iter().find(|f| f["table"] == table).unwrap()["rows"].as_i64();
            assert_eq!(reported, Some(in_db), "{table}: {e}");
        }
        // Exporting the day again replaces it: still the database's counts.
        assert_eq!(s.post("/v1/export", sk, json!({"day": day})).await.0, 200);
        assert_eq!(duckdb_count(&dir, "detections", tid), db_count(&url, expected[1].1, tid).await);
        // People appear by the host's id only: no name, email or address in any file.
        for table in ["sessions", "detections", "decisions", "outcomes", "alerts"] {
            let text = duckdb_text(&dir, table);
            assert!(!["Jane", "jane@", "Acme Corp", "Dana", "+15550100"].iter().any(|p| text.contains(p)), "{table}: {text}");
        }
        s.stop().await;
    }
}
