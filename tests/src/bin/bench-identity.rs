//! Identity resolution and strength at scale, run by `cargo xtask bench identity`:
//!
//! ```text
//! bench-identity [--postgres]    (default: SQLite in a temporary folder)
//! ```
//!
//! Uses the server's own store, cache and model in-process (no HTTP). Seeds one tenant with
//! 100,000 customers on 20,000 accounts and 1,000,000 transactions spread over the last 400
//! days (every value comes from a fixed seed, so two runs store the same data), then times:
//!
//! * resolution: `IdentityCache::load`, which reads every tenant, key and account's lifetime
//!   value and 90-day revenue;
//! * strength: the grouped facts of every customer (`Store::customer_facts`), scoring them
//!   (`customers::score`, pure) and writing each score with its day's snapshot
//!   (`Store::set_strengths`, `customers::STRENGTH_BATCH` rows per database transaction, as
//!   the daily pass does);
//! * the hot path: 1,000,000 cached lookups of existing accounts through
//!   `IdentityCache::account` (clones the entry) and `IdentityCache::with_account` (borrows it),
//!   and of customers' one-tap states through `IdentityCache::context`; the figure is the median
//!   of 5 runs, in ns per lookup.
//!
//! A benchmark prints figures; it asserts no wall-clock time. It exits non-zero only when a step
//! fails (the store refuses a write, a lookup misses).
//!
//! With `--postgres` the data goes into a fresh database on the local PostgreSQL
//! ([`POSTGRES_ADMIN_URL`], dropped afterwards).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sentientiq_server::identity::customers;
use sentientiq_server::identity::strength;
use sentientiq_server::identity::{IdentityCache, SharedContext};
use sentientiq_server::store::{CustomerSeen, CustomerStore, SqlStore, Tenant, TenantStore, TransactionRecord};
use siq_e2e::stack::{PgDatabase, POSTGRES_ADMIN_URL};
use siq_e2e::util::TempDir;

const USAGE: &str = "usage: bench-identity [--postgres]";
/// Customers seeded.
const N_CUSTOMERS: usize = 100_000;
/// Accounts the customers belong to (customer `i` is on account `i % N_ACCOUNTS`).
const N_ACCOUNTS: usize = 20_000;
/// Transactions seeded.
const N_TRANSACTIONS: usize = 1_000_000;
/// Transactions per `Store::add_transactions` call (one database transaction each).
const TRANSACTION_BATCH: usize = 10_000;
/// Days back the transactions and first sightings are spread over.
const HISTORY_DAYS: i64 = 400;
/// `customer_seen` calls in flight while seeding (the store's SQLite pool has 4 connections).
const SEED_CONCURRENCY: usize = 4;
/// Customers seeded between two progress lines.
const CUSTOMER_PROGRESS_EVERY: usize = 20_000;
/// Strength writes between two progress lines.
const WRITE_PROGRESS_EVERY: usize = 20_000;
/// Lookups per hot-path run.
const LOOKUPS: usize = 1_000_000;
/// Hot-path runs; the median is reported.
const RUNS: usize = 5;
/// The account value the strength model scales by, cents (the server's default bar: $10,000).
const VALUE_SCALE_CENTS: i64 = 1_000_000;
/// Smallest and largest transaction, cents.
const AMOUNT_CENTS: std::ops::Range<i64> = 500..50_000;
/// One day, ms.
const DAY_MS: i64 = 86_400_000;
/// Fixes every generated value of the run.
const SEED: u64 = 0x1de7_0001;
/// The tenant's id.
const TENANT: &str = "t_bench_identity";

fn account_id(i: usize) -> String {
    format!("acct_{i:05}")
}

fn customer_id(i: usize) -> String {
    format!("cus_{i:06}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One line of the summary: what, the figure, its unit.
struct Row(String, String);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let postgres = match argv.as_slice() {
        [] => false,
        [flag] if flag == "--postgres" => true,
        _ => {
            eprintln!("bench-identity: {USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(postgres).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-identity: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(postgres: bool) -> Result<(), String> {
    // Both are kept alive to the end: dropping one removes the database.
    let (_dir, _pg, url, backend) = if postgres {
        let db = PgDatabase::create(POSTGRES_ADMIN_URL).await.map_err(|e| e.to_string())?;
        let url = db.url.clone();
        (None, Some(db), url, "postgres")
    } else {
        let dir = TempDir::new("siq-bench-identity").map_err(|e| format!("temporary folder: {e}"))?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        (Some(dir), None, url, "sqlite")
    };
    println!("backend {backend}: {url}");
    let store = SqlStore::connect(&url).await.map_err(|e| format!("connect {url}: {e}"))?;
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |what: &str, figure: String| {
        println!("  {what}: {figure}");
        rows.push(Row(what.to_string(), figure));
    };
    let now = sentientiq_server::clock::now_ms();
    let mut rng = StdRng::seed_from_u64(SEED);

    // Seed.
    store
        .create_tenant(&Tenant {
            id: TENANT.into(),
            name: "Bench".into(),
            site_key: "pk_bench_identity".into(),
            secret_key_hash: sentientiq_server::identity::tokens::hash_key("sk_bench_identity"),
            jwt_secret: "jwt_bench_identity".into(),
            created_ms: now,
            thresholds: "{}".into(),
            token_policy: String::new(),
            retention_days: 30,
            holdout_share: sentientiq_server::interventions::bandit::DEFAULT_HOLDOUT_SHARE,
            outcome_window_ms: sentientiq_server::interventions::DEFAULT_OUTCOME_WINDOW_MS,
        })
        .await
        .map_err(|e| format!("create tenant: {e}"))?;

    let seen: Vec<CustomerSeen> = (0..N_CUSTOMERS)
        .map(|i| CustomerSeen {
            tenant_id: TENANT.into(),
            sub: customer_id(i),
            account: Some(account_id(i % N_ACCOUNTS)),
            name: Some(format!("Customer {i}")),
            email_sealed: None,
            email_index: None,
            company: None,
            seen_ms: now - rng.gen_range(0..HISTORY_DAYS * DAY_MS),
        })
        .collect();
    println!("seeding {N_CUSTOMERS} customers ({SEED_CONCURRENCY} in flight)…");
    let t = Instant::now();
    let mut done = 0;
    let mut writes = futures::stream::iter(seen.iter().map(|c| store.customer_seen(c))).buffer_unordered(SEED_CONCURRENCY);
    while let Some(r) = writes.next().await {
        r.map_err(|e| format!("customer_seen: {e}"))?;
        done += 1;
        if done % CUSTOMER_PROGRESS_EVERY == 0 {
            println!("  {done} customers, {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    drop(writes);
    let took = t.elapsed();
    row(
        "seed customers (customer_seen)",
        format!("{:.1} s ({:.0} µs each)", took.as_secs_f64(), took.as_secs_f64() * 1e6 / N_CUSTOMERS as f64),
    );

    println!("seeding {N_TRANSACTIONS} transactions in batches of {TRANSACTION_BATCH}…");
    let t = Instant::now();
    for start in (0..N_TRANSACTIONS).step_by(TRANSACTION_BATCH) {
        let batch: Vec<TransactionRecord> = (start..(start + TRANSACTION_BATCH).min(N_TRANSACTIONS))
            .map(|i| TransactionRecord {
                id: format!("tx_{i:07}"),
                account: account_id(rng.gen_range(0..N_ACCOUNTS)),
                amount_cents: rng.gen_range(AMOUNT_CENTS),
                at_ms: now - rng.gen_range(0..HISTORY_DAYS * DAY_MS),
            })
            .collect();
        let added = store.add_transactions(TENANT, &batch).await.map_err(|e| format!("add_transactions: {e}"))?;
        if added != batch.len() as u64 {
            return Err(format!("add_transactions: {added} of {} rows were new", batch.len()));
        }
        let end = start + batch.len();
        if end.is_multiple_of(N_TRANSACTIONS / 10) {
            println!("  {end} transactions, {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    let took = t.elapsed();
    row(
        "seed transactions (add_transactions)",
        format!("{:.1} s ({:.1} µs per row)", took.as_secs_f64(), took.as_secs_f64() * 1e6 / N_TRANSACTIONS as f64),
    );

    // Resolution.
    println!("resolution…");
    let t = Instant::now();
    let keyring = std::sync::Arc::new(sentientiq_server::identity::keyring::Keyring::derived("bench", b"bench-identity"));
    let cache = IdentityCache::load(&store, keyring).await.map_err(|e| format!("IdentityCache::load: {e}"))?;
    let took = t.elapsed();
    let cached = cache.account_count(TENANT);
    row("IdentityCache::load", format!("{:.0} ms, {cached} accounts cached", ms(took)));
    if cached != N_ACCOUNTS {
        return Err(format!("{cached} accounts cached, {N_ACCOUNTS} expected"));
    }

    // Strength.
    println!("strength…");
    let t = Instant::now();
    let facts = store.customer_facts(TENANT, None, now).await.map_err(|e| format!("customer_facts: {e}"))?;
    row("customer_facts (all customers)", format!("{:.0} ms, {} customers", ms(t.elapsed()), facts.len()));

    let t = Instant::now();
    let scored: Vec<customers::Scored> = facts.iter().map(|f| customers::score(black_box(f), &[], VALUE_SCALE_CENTS, now)).collect();
    let took = t.elapsed();
    row("score (pure)", format!("{:.0} ms ({:.2} µs per customer)", ms(took), took.as_secs_f64() * 1e6 / scored.len().max(1) as f64));

    println!("writing {} strengths, {} per database transaction…", scored.len(), customers::STRENGTH_BATCH);
    let t = Instant::now();
    let day = strength::day_of(now);
    let strength_rows: Vec<_> = facts.iter().zip(&scored).map(|(f, s)| customers::strength_row(&f.sub, s)).collect();
    for (i, chunk) in strength_rows.chunks(customers::STRENGTH_BATCH).enumerate() {
        store.set_strengths(TENANT, chunk, now, day).await.map_err(|e| format!("set_strengths: {e}"))?;
        let done = (i + 1) * customers::STRENGTH_BATCH;
        if done.is_multiple_of(WRITE_PROGRESS_EVERY) {
            println!("  {done} written, {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    let took = t.elapsed();
    row(
        "set_strengths (batches)",
        format!("{:.1} s ({:.0} µs per customer)", took.as_secs_f64(), took.as_secs_f64() * 1e6 / scored.len().max(1) as f64),
    );

    // Hot path.
    println!("hot path ({RUNS} runs of {LOOKUPS} lookups)…");
    let accounts: Vec<String> = (0..LOOKUPS).map(|_| account_id(rng.gen_range(0..N_ACCOUNTS))).collect();
    for i in 0..N_CUSTOMERS {
        cache.set_context(
            TENANT,
            &customer_id(i),
            Some(SharedContext { state: sentientiq_server::records::Context::Busy, expires_ms: now + DAY_MS }),
        );
    }
    let subs: Vec<String> = (0..LOOKUPS).map(|_| customer_id(rng.gen_range(0..N_CUSTOMERS))).collect();
    let account = median_ns(|| accounts.iter().filter(|a| black_box(cache.account(black_box(TENANT), a)).is_some()).count())?;
    row("IdentityCache::account (clone)", format!("{account:.0} ns per lookup"));
    let with =
        median_ns(|| accounts.iter().filter(|a| black_box(cache.with_account(black_box(TENANT), a, |a| a.value_cents)).is_some()).count())?;
    row("IdentityCache::with_account (borrow)", format!("{with:.0} ns per lookup"));
    let context = median_ns(|| subs.iter().filter(|s| black_box(cache.context(black_box(TENANT), s, now)).is_some()).count())?;
    row("IdentityCache::context", format!("{context:.0} ns per lookup"));

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let command = if postgres { "cargo xtask bench identity --postgres" } else { "cargo xtask bench identity" };
    println!();
    println!("identity bench — {backend}, {N_CUSTOMERS} customers, {N_ACCOUNTS} accounts, {N_TRANSACTIONS} transactions");
    println!("{cores} cores, release build; command: {command}");
    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for Row(what, figure) in &rows {
        println!("  {what:<width$}  {figure}");
    }
    Ok(())
}

/// Runs `lookups` (which returns how many of its [`LOOKUPS`] lookups hit) [`RUNS`] times and
/// returns the median ns per lookup; a miss is an error (every key looked up exists).
fn median_ns(lookups: impl Fn() -> usize) -> Result<f64, String> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let hits = lookups();
        let ns = t.elapsed().as_secs_f64() * 1e9 / LOOKUPS as f64;
        if hits != LOOKUPS {
            return Err(format!("{} of {LOOKUPS} lookups missed", LOOKUPS - hits));
        }
        runs.push(ns);
    }
    runs.sort_by(f64::total_cmp);
    Ok(runs[RUNS / 2])
}
