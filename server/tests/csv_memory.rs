//! A transactions CSV at the size limit is validated and recorded in bounded memory
//! (docs/security.md, *Limits at the edge*). Its own test binary: the resident memory of the
//! process is what is measured, so nothing else may run beside it.

mod common;

use common::*;

/// What the server may add to its peak resident memory while taking a 64 MiB file, on top of
/// the file itself held by this process's HTTP client. Measured with 1,604,707 rows (debug
/// build, SQLite): +299 MiB when every row was parsed into memory and inserted in one
/// transaction, +30 MiB checked as it streams and recorded 1,000 rows per transaction.
const GROWTH_BOUND: u64 = 64 * 1024 * 1024;

/// A line of `/proc/self/status`, bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_at_the_size_limit_is_recorded_in_bounded_memory() {
    let s = TestServer::start(Backend::Embedded).await;
    let t = s.tenant("Shop").await;
    let sk = t["secret_key"].as_str().unwrap().to_string();
    let limit = sentientiq_server::identity::customers::MAX_CSV_BYTES;
    let mut csv = String::with_capacity(limit);
    csv.push_str("id,account,amount_cents,at_ms\n");
    let mut rows = 0u64;
    loop {
        let line = format!("inv-{rows:08},acct-{:04},{},{}\n", rows % 1000, 100 + rows % 5000, 1_700_000_000_000u64 + rows);
        if csv.len() + line.len() > limit {
            break;
        }
        csv.push_str(&line);
        rows += 1;
    }
    let body = bytes::Bytes::from(csv);
    let before = status_bytes("VmRSS:");
    // Resets the peak resident size (VmHWM) to the current one (Linux: `clear_refs` value 5).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let r = s
        .http
        .post(format!("{}/v1/transactions/csv", s.url))
        .bearer_auth(&sk)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    let peak = status_bytes("VmHWM:");
    let growth = peak.saturating_sub(before);
    eprintln!("{rows} rows: peak resident memory {} MiB above the {} MiB before", growth >> 20, before >> 20);
    assert_eq!((status, v["rows"].as_u64(), v["recorded"].as_u64()), (201, Some(rows), Some(rows)), "{v}");
    assert!(growth < GROWTH_BOUND, "peak resident memory grew by {} MiB for {rows} rows", growth >> 20);
    let (_, page) = s.get("/v1/transactions?account=acct-0007&limit=1", &sk).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    s.stop().await;
}
