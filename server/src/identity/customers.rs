//! The customer record: who a host's end customer is (resolved from their verified token on
//! hello), what they are worth, what they told us (one-tap contexts), how strong the
//! relationship is ([`crate::identity::strength`], recomputed as their facts change), and their data
//! rights (export, erasure, retention). Also the audit log that records who changed what.
//!
//! Personal fields are sealed ([`crate::identity::keyring::Keyring`]) before they leave this module for
//! the bus or the store; people appear in the audit log only as a pseudonymous reference.

use std::io::Read;

use serde::Serialize;
use serde_json::json;

use crate::identity::jwt::VisitorClaims;
use crate::identity::strength::{self, Negatives, Signals, Snapshot};
use crate::identity::{IdentityError, People, SharedContext};
use crate::records::events::Event;
use crate::records::ErosionRecord;
use crate::records::{Context, SealedColumn};
use crate::store::{AuditEntry, ContextRecord, CustomerFacts, CustomerSeen, Removed, StoreError, TransactionRecord};

/// How long a shared state holds unless the request says otherwise, ms (7 days).
pub const DEFAULT_CONTEXT_TTL_MS: i64 = 7 * 86_400_000;
/// Longest expiry a state may ask for, ms (30 days).
pub const MAX_CONTEXT_TTL_MS: i64 = 30 * 86_400_000;
/// Snapshots read to compute a customer's trend (a week and a day).
const TREND_HISTORY: i64 = 8;

/// A pseudonymous reference to a person for the audit log: the blind index of their id, which
/// reveals nothing without the index key and stays behind, meaningless, after erasure.
pub fn person_ref(app: &People, tenant: &str, sub: &str) -> String {
    let idx = app.keyring.blind_index("person", &format!("{tenant}/{sub}"));
    format!("person:{}", &idx[..idx.len().min(24)])
}

/// Appends to a tenant's audit log.
pub async fn audit(
    app: &People,
    tenant: &str,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), IdentityError> {
    let at_ms = app.now_ms();
    let e = AuditEntry {
        id: format!("au_{at_ms:013}_{:08x}", crate::records::random_u32()),
        tenant_id: tenant.to_string(),
        actor: actor.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        details,
        at_ms,
    };
    app.store.audit(&e).await?;
    tracing::info!(tenant, actor, action, target, "audited");
    Ok(())
}

/// What the persister records about an identified visitor: the email sealed, its blind index
/// and the company domain (free-mail providers excluded).
pub fn seen(app: &People, tenant: &str, claims: &VisitorClaims, seen_ms: i64) -> CustomerSeen {
    let email = claims.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    CustomerSeen {
        tenant_id: tenant.to_string(),
        sub: claims.sub.clone(),
        account: claims.account.clone(),
        name: claims.name.clone(),
        email_sealed: email.map(|e| app.keyring.seal_field(SealedColumn::CustomerEmail, tenant, &claims.sub, e)),
        email_index: email.map(|e| app.keyring.blind_index("email", &crate::identity::keyring::normalize_email(e))),
        company: email.and_then(crate::identity::company::company_domain),
        seen_ms,
    }
}

/// The model's signals from the store's facts.
pub fn signals(f: &CustomerFacts, value_scale_cents: i64) -> Signals {
    let mut neg = Negatives::default();
    let mut engaged = 0.0;
    for (emotion, conf) in &f.detections_30d {
        match emotion.as_str() {
            "rage" => neg.rage += conf,
            "frustration" => neg.frustration += conf,
            "confusion" => neg.confusion += conf,
            "hesitation" => neg.hesitation += conf,
            "abandonment" => neg.abandonment += conf,
            "engaged" => engaged += conf,
            _ => {}
        }
    }
    let context = f.context.as_deref().and_then(Context::parse);
    let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    Signals {
        first_seen_ms: Some(f.first_seen_ms),
        sessions_30d: n(f.sessions_30d),
        active_days_30d: n(f.active_days_30d),
        last_seen_ms: Some(f.last_seen_ms),
        negatives_30d: neg,
        engaged_30d: engaged,
        context,
        purchases: n(f.purchases),
        months_with_purchase_12m: n(f.months_with_purchase_12m),
        lifetime_value_cents: f.lifetime_value_cents,
        revenue_90d_cents: f.revenue_90d_cents,
        value_scale_cents,
    }
}

/// A scored customer: strength, segment and the erosion to publish, if any.
pub struct Scored {
    /// The strength.
    pub strength: strength::Strength,
    /// Its segment.
    pub segment: strength::Segment,
    /// The erosion since the previous day's snapshot.
    pub erosion: Option<strength::Erosion>,
}

/// Scores one customer's facts against their snapshot history (pure).
pub fn score(f: &CustomerFacts, history: &[Snapshot], value_scale_cents: i64, now_ms: i64) -> Scored {
    let s = strength::score(&signals(f, value_scale_cents), now_ms);
    let today = Snapshot { day: strength::day_of(now_ms), score: s.score };
    let trend = strength::trend(history, &today);
    let previous = history.iter().filter(|h| h.day < today.day).max_by_key(|h| h.day);
    Scored { strength: s, segment: strength::segment(s.score, &trend), erosion: strength::erosion(previous, s.score) }
}

/// Recomputes one customer's strength now, stores it with the day's snapshot and publishes an
/// erosion if the score fell by more than the rule's points since the previous day.
pub async fn rescore(app: &People, tenant: &str, sub: &str) -> Result<Option<Scored>, StoreError> {
    let now = app.now_ms();
    let Some(facts) = app.store.customer_facts(tenant, Some(sub), now).await?.pop() else { return Ok(None) };
    let history: Vec<Snapshot> =
        app.store.snapshots(tenant, sub, TREND_HISTORY).await?.into_iter().map(|s| Snapshot { day: s.day, score: s.score }).collect();
    let scored = score(&facts, &history, app.critical_value_cents, now);
    store_score(app, tenant, sub, &scored, now).await?;
    Ok(Some(scored))
}

/// Recomputes every customer of a tenant (the daily pass); returns how many were scored.
pub async fn rescore_all(app: &People, tenant: &str) -> Result<usize, StoreError> {
    let now = app.now_ms();
    let facts = app.store.customer_facts(tenant, None, now).await?;
    let since = strength::day_of(now) - TREND_HISTORY;
    let mut history: std::collections::HashMap<String, Vec<Snapshot>> = std::collections::HashMap::new();
    for (sub, day, score) in app.store.snapshots_since(tenant, since).await? {
        history.entry(sub).or_default().push(Snapshot { day, score });
    }
    let day = strength::day_of(now);
    for chunk in facts.chunks(STRENGTH_BATCH) {
        let mut rows = Vec::with_capacity(chunk.len());
        for f in chunk {
            let scored = score(f, history.get(&f.sub).map_or(&[][..], Vec::as_slice), app.critical_value_cents, now);
            if let Some(e) = scored.erosion {
                publish_erosion(app, tenant, &f.sub, e, now);
            }
            rows.push(strength_row(&f.sub, &scored));
        }
        app.store.set_strengths(tenant, &rows, now, day).await?;
    }
    Ok(facts.len())
}

/// Customers written per database transaction by the daily pass.
pub const STRENGTH_BATCH: usize = 1000;

/// The stored form of a score.
pub fn strength_row(sub: &str, s: &Scored) -> crate::store::StrengthRow {
    crate::store::StrengthRow {
        sub: sub.to_string(),
        score: s.strength.score,
        segment: serde_json::to_value(s.segment).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
        factors: serde_json::to_string(&s.strength.factors).unwrap_or_else(|_| "[]".into()),
    }
}

fn publish_erosion(app: &People, tenant: &str, sub: &str, e: strength::Erosion, now: i64) {
    tracing::info!(tenant, from = e.from, to = e.to, "identity strength eroded");
    app.events.event(Event::Erosion(ErosionRecord {
        tenant_id: tenant.to_string(),
        sub: sub.to_string(),
        from_day: e.from_day,
        from: e.from,
        to: e.to,
        at_ms: now,
    }));
}

async fn store_score(app: &People, tenant: &str, sub: &str, s: &Scored, now: i64) -> Result<(), StoreError> {
    app.store.set_strengths(tenant, &[strength_row(sub, s)], now, strength::day_of(now)).await?;
    if let Some(e) = s.erosion {
        publish_erosion(app, tenant, sub, e, now);
    }
    Ok(())
}

/// Records a customer's one-tap state: stored, in every instance's cache (for the decision
/// step), on the live feed, and their strength recomputed.
pub async fn set_context(app: &People, tenant: &str, sub: &str, state: Context, ttl_ms: i64) -> Result<ContextRecord, IdentityError> {
    let now = app.now_ms();
    let c = ContextRecord {
        id: format!("cx_{now:013}_{:08x}", crate::records::random_u32()),
        tenant_id: tenant.to_string(),
        sub: sub.to_string(),
        state,
        set_ms: now,
        expires_ms: now + ttl_ms,
    };
    app.store.add_context(&c).await?;
    app.share_context(tenant, sub, Some(SharedContext { state, expires_ms: c.expires_ms })).await;
    app.events.event(Event::Context(c.clone()));
    Ok(c)
}

/// Everything stored about a person, as JSON (emails opened).
pub async fn export(app: &People, tenant: &str, sub: &str) -> Result<Option<serde_json::Value>, IdentityError> {
    let Some(c) = app.store.customer(tenant, sub).await? else { return Ok(None) };
    let email = match &c.email_sealed {
        Some(s) => Some(app.keyring.open_field(SealedColumn::CustomerEmail, tenant, sub, s)?),
        None => None,
    };
    let sessions = app.store.sessions_of(tenant, sub).await?;
    let mut detections = Vec::new();
    let mut interventions = Vec::new();
    let mut alerts = Vec::new();
    for s in &sessions {
        for d in app.store.detections(tenant, Some(&s.session), i64::MAX).await? {
            let mut v = serde_json::to_value(&d).unwrap_or_default();
            v["evidence"] = hex::encode(&d.evidence).into();
            detections.push(v);
        }
        interventions.extend(app.store.session_interventions(tenant, &s.session).await?);
        alerts.extend(app.store.session_alerts(tenant, &s.session).await?);
    }
    for a in &mut alerts {
        a.address = app.keyring.open_stored(SealedColumn::ContactAddress, tenant, &a.contact_id, &a.address);
    }
    Ok(Some(json!({
        "customer": {"email": email, "record": c},
        "account": c.account.as_deref().and_then(|a| app.cache.account(tenant, a)),
        "sessions": sessions,
        "detections": detections,
        "interventions": interventions,
        "alerts": alerts,
        "contexts": app.store.customer_contexts(tenant, sub, i64::MAX).await?,
        "strength_history": app.store.snapshots(tenant, sub, i64::MAX).await?,
        "exported_ms": app.now_ms(),
    })))
}

/// Erases a person: every row about them, their shared state in the cache and the bus's
/// key-value bucket, and the durable events that name them.
pub async fn erase(app: &People, tenant: &str, sub: &str) -> Result<Removed, IdentityError> {
    let mut removed = app.store.erase_person(tenant, sub, &person_ref(app, tenant, sub), app.now_ms()).await?;
    app.share_context(tenant, sub, None).await;
    let filter = app.events.subjects().tenant_events(tenant);
    let about = |payload: &[u8]| serde_json::from_slice::<Event>(payload).is_ok_and(|e| e.person() == Some(sub));
    let events = app.events.bus().forget(&filter, &about).await?;
    removed.push(("bus_events", events));
    Ok(removed)
}

/// Whether `claims`' subject was erased at or after the token was issued (its `iat`; a token
/// without one counts as issued before any erasure). Such a token comes from a page left open
/// across the erasure (or a copy of it): it identifies nobody, so it cannot bring the person
/// back. A token the host signs after the erasure (a person who signed up again) identifies.
pub async fn erased_since_issued(app: &People, tenant: &str, claims: &VisitorClaims) -> Result<bool, StoreError> {
    let Some(erased_ms) = app.store.erased_at(tenant, &person_ref(app, tenant, &claims.sub)).await? else {
        return Ok(false);
    };
    Ok(claims.iat.is_none_or(|iat| erased_ms >= i64::try_from(iat).unwrap_or(i64::MAX).saturating_mul(1000)))
}

/// Deletes every tenant's session data older than its retention.
pub async fn retention_sweep(app: &People) {
    let tenants = match app.store.tenants().await {
        Ok(t) => t,
        Err(e) => return tracing::error!(error = %e, "retention sweep: cannot list tenants"),
    };
    for t in tenants {
        let cutoff = app.now_ms() - t.retention_days.max(1) * 86_400_000;
        match app.store.purge_before(&t.id, cutoff).await {
            Ok(removed) => {
                let n: u64 = removed.iter().map(|(_, n)| n).sum();
                if n > 0 {
                    tracing::info!(tenant = %t.id, rows = n, days = t.retention_days, "retention: old session data deleted");
                }
            }
            Err(e) => tracing::error!(tenant = %t.id, error = %e, "retention sweep failed"),
        }
    }
}

/// What a key rotation did, per column: `(column, resealed, already current, unreadable)`.
pub type RotationReport = Vec<(&'static str, u64, u64, u64)>;

/// Re-seals every personal field and tenant secret not sealed with the active key (and seals
/// values stored before sealing existed). A value that no configured key opens is counted and left as is.
pub async fn rotate_keys(
    store: &dyn crate::store::Store,
    keyring: &crate::identity::keyring::Keyring,
) -> Result<RotationReport, StoreError> {
    let mut report = Vec::new();
    for column in SealedColumn::ALL {
        let (table, _, _) = column.sql();
        let (mut resealed, mut current, mut unreadable) = (0, 0, 0);
        for (tenant, row, value) in store.sealed_fields(column).await? {
            let aad = crate::identity::keyring::field_aad(column, &tenant, &row);
            let new = if crate::identity::keyring::is_sealed(&value) {
                match keyring.reseal(&value, &aad) {
                    Ok(Some(v)) => v,
                    Ok(None) => {
                        current += 1;
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %tenant, table, error = %e, "a sealed value could not be opened; left as is");
                        unreadable += 1;
                        continue;
                    }
                }
            } else {
                keyring.seal(&value, &aad)
            };
            if store.replace_sealed(column, &tenant, &row, &value, &new).await? {
                resealed += 1;
            }
        }
        report.push((column_name(column), resealed, current, unreadable));
    }
    Ok(report)
}

fn column_name(c: crate::store::SealedColumn) -> &'static str {
    match c {
        crate::store::SealedColumn::CustomerEmail => "customers.email",
        crate::store::SealedColumn::UserEmail => "users.email",
        crate::store::SealedColumn::ContactAddress => "contacts.address",
        crate::store::SealedColumn::FallbackAddress => "contact_fallbacks.address",
        crate::store::SealedColumn::TenantJwtSecret => "tenants.jwt_secret",
        crate::store::SealedColumn::TenantTokenPolicy => "tenants.token_policy",
    }
}

/// Largest transaction CSV accepted, bytes.
pub const MAX_CSV_BYTES: usize = 64 << 20;
/// Row errors reported for one file (the count of all is reported too).
pub const MAX_ROW_ERRORS: usize = 100;

/// One rejected CSV row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowError {
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

/// Why a transaction CSV was refused as a whole.
#[derive(Debug, PartialEq, Serialize)]
pub struct CsvReport {
    /// Rows with errors (all of them).
    pub bad_rows: u64,
    /// Rows read.
    pub rows: u64,
    /// The first [`MAX_ROW_ERRORS`] errors.
    pub errors: Vec<RowError>,
}

/// Rows of a transactions CSV inserted per database transaction.
pub const CSV_BATCH_ROWS: usize = 1_000;

/// Reads a transaction CSV with the header `id,account,amount_cents[,at_ms]` (any column order;
/// `at_ms` defaults to `now_ms`) row by row: each row with its 1-based line number (the header
/// is line 1), checked on its own (a duplicate id is a property of the file:
/// [`check_transactions`] finds those). A header without the columns is an error at line 1.
pub fn transaction_rows(
    input: impl Read,
    now_ms: i64,
) -> Result<impl Iterator<Item = (u64, Result<TransactionRecord, RowError>)>, RowError> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(input);
    let header = rdr.headers().map_err(|e| RowError { line: 1, column: None, message: format!("unreadable header: {e}") })?.clone();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(id), Some(account), Some(amount)) = (col("id"), col("account"), col("amount_cents")) else {
        return Err(RowError {
            line: 1,
            column: None,
            message: "the header must name id, account and amount_cents (at_ms optional)".into(),
        });
    };
    let at = col("at_ms");
    Ok(rdr.into_records().enumerate().map(move |(i, rec)| {
        let line = i as u64 + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return (line, Err(RowError { line, column: None, message: format!("unreadable row: {e}") })),
        };
        let get = |c: usize| rec.get(c).unwrap_or("");
        let text = |c: usize, name: &'static str| -> Result<String, RowError> {
            let v = get(c);
            if v.is_empty() || v.len() > crate::records::MAX_FIELD_BYTES {
                return Err(RowError {
                    line,
                    column: Some(name),
                    message: format!("{name} must be 1..={} bytes", crate::records::MAX_FIELD_BYTES),
                });
            }
            Ok(v.to_string())
        };
        let row = (|| {
            let id = text(id, "id")?;
            let account = text(account, "account")?;
            let max = crate::records::MAX_TRANSACTION_CENTS;
            let amount_cents = get(amount).parse::<i64>().ok().filter(|a| a.unsigned_abs() <= max as u64).ok_or_else(|| RowError {
                line,
                column: Some("amount_cents"),
                message: format!("amount_cents must be a whole number of cents within ±{max}, got {:?}", get(amount)),
            })?;
            let at_ms = match at.map(get).filter(|v| !v.is_empty()) {
                None => now_ms,
                Some(v) => v.parse::<i64>().ok().filter(|&t| t >= 0).ok_or_else(|| RowError {
                    line,
                    column: Some("at_ms"),
                    message: format!("at_ms must be ms since the epoch, got {v:?}"),
                })?,
            };
            Ok(TransactionRecord { id, account, amount_cents, at_ms })
        })();
        (line, row)
    }))
}

/// What a valid transaction CSV holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvSummary {
    /// Rows.
    pub rows: u64,
    /// Distinct accounts.
    pub accounts: u64,
}

/// Validates a whole transaction CSV in one streaming pass, keeping no row: every row is
/// checked ([`transaction_rows`]) and no id may appear twice. Any error refuses the file with a
/// report of the rows at fault. `again` reads the same file once more, only when two ids share a
/// 64-bit hash, to tell a repeated id from a collision.
///
/// Memory: a 64-bit hash per row and per distinct account (a keyed hash, so a file cannot be
/// made of colliding ids), never the rows: about 16 bytes a row, where keeping the rows took
/// ~700 bytes a row.
pub fn check_transactions<R: Read>(
    input: impl Read,
    again: impl FnOnce() -> std::io::Result<R>,
    now_ms: i64,
) -> Result<CsvSummary, CsvReport> {
    use std::hash::BuildHasher;
    let mut report = CsvReport { bad_rows: 0, rows: 0, errors: Vec::new() };
    let rows = match transaction_rows(input, now_ms) {
        Ok(rows) => rows,
        Err(e) => {
            report.bad_rows = 1;
            report.errors.push(e);
            return Err(report);
        }
    };
    let key = std::collections::hash_map::RandomState::new();
    // Hashes are already uniform: the sets store them without hashing again.
    let mut ids: std::collections::HashSet<u64, PreHashed> = Default::default();
    let mut accounts: std::collections::HashSet<u64, PreHashed> = Default::default();
    let mut suspects: std::collections::HashSet<u64, PreHashed> = Default::default();
    for (_, row) in rows {
        report.rows += 1;
        match row {
            Ok(r) => {
                let id = key.hash_one(&r.id);
                if !ids.insert(id) {
                    suspects.insert(id);
                }
                accounts.insert(key.hash_one(&r.account));
            }
            Err(e) => {
                report.bad_rows += 1;
                if report.errors.len() < MAX_ROW_ERRORS {
                    report.errors.push(e);
                }
            }
        }
    }
    let summary = CsvSummary { rows: report.rows, accounts: accounts.len() as u64 };
    drop((ids, accounts));
    if !suspects.is_empty() {
        // Second pass: the ids behind the shared hashes, exactly, to report each repeat at its line.
        let input = again().map_err(|e| {
            let mut r = CsvReport { bad_rows: 1, rows: report.rows, errors: Vec::new() };
            r.errors.push(RowError { line: 1, column: None, message: format!("the file could not be read again: {e}") });
            r
        })?;
        let mut seen = std::collections::HashSet::new();
        let mut repeats = Vec::new();
        for (line, row) in transaction_rows(input, now_ms).into_iter().flatten() {
            let Ok(r) = row else { continue };
            if suspects.contains(&key.hash_one(&r.id)) && !seen.insert(r.id.clone()) {
                report.bad_rows += 1;
                if repeats.len() < MAX_ROW_ERRORS {
                    repeats.push(RowError { line, column: Some("id"), message: format!("id {:?} appears twice in this file", r.id) });
                }
            }
        }
        report.errors.extend(repeats);
        report.errors.sort_by_key(|e| e.line);
        report.errors.truncate(MAX_ROW_ERRORS);
    }
    if report.bad_rows > 0 {
        Err(report)
    } else {
        Ok(summary)
    }
}

/// A whole transaction CSV checked ([`check_transactions`]) and read into rows: for small
/// files, tests and fuzzing. The upload itself never holds the rows of a file.
pub fn parse_transactions(mut input: impl Read, now_ms: i64) -> Result<Vec<TransactionRecord>, CsvReport> {
    let mut bytes = Vec::new();
    if let Err(e) = input.read_to_end(&mut bytes) {
        let error = RowError { line: 1, column: None, message: format!("unreadable file: {e}") };
        return Err(CsvReport { bad_rows: 1, rows: 0, errors: vec![error] });
    }
    check_transactions(bytes.as_slice(), || Ok(bytes.as_slice()), now_ms)?;
    let rows = transaction_rows(bytes.as_slice(), now_ms).map_err(|e| CsvReport { bad_rows: 1, rows: 0, errors: vec![e] })?;
    Ok(rows.filter_map(|(_, r)| r.ok()).collect())
}

/// A hasher for keys that are already hashes.
#[derive(Clone, Copy, Default)]
struct PreHashed;

impl std::hash::BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;
    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher(0)
    }
}

/// See [`PreHashed`].
struct PreHashedHasher(u64);

impl std::hash::Hasher for PreHashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_is_taken_whole_or_refused_with_every_bad_row() {
        let check = |csv: &'static str| check_transactions(csv.as_bytes(), || Ok(csv.as_bytes()), 7);
        let ok = "id,account,amount_cents,at_ms\ninv-1,acme,2500,1000\ninv-2, globex ,-300,\n";
        assert_eq!(check(ok), Ok(CsvSummary { rows: 2, accounts: 2 }));
        let rows: Vec<TransactionRecord> = transaction_rows(ok.as_bytes(), 7).unwrap().map(|(_, r)| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].account.as_str(), rows[1].amount_cents, rows[1].at_ms), ("globex", -300, 7));

        let bad = "account,id,amount_cents\nacme,a,10\nacme,,10\nacme,b,ten\nacme,a,5\nacme,c,1\n";
        let r = check(bad).unwrap_err();
        assert_eq!((r.rows, r.bad_rows), (5, 3));
        let at: Vec<(u64, Option<&str>)> = r.errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, [(3, Some("id")), (4, Some("amount_cents")), (5, Some("id"))]);
        assert!(r.errors[2].message.contains("twice"));

        let r = check("who,what\n1,2\n").unwrap_err();
        assert_eq!(r.errors[0].line, 1);
        assert_eq!(parse_transactions(ok.as_bytes(), 7).map(|r| r.len()), Ok(2));
        assert_eq!(parse_transactions(bad.as_bytes(), 7).map_err(|r| r.bad_rows), Err(3));
    }

    #[test]
    fn a_repeated_id_is_found_whatever_its_hash_shares() {
        // Every id of a file repeated once: each repeat reported at its own line, in line order,
        // the report capped and the count whole.
        let mut csv = String::from("id,account,amount_cents\n");
        for i in 0..150 {
            csv.push_str(&format!("i{i},acme,1\n"));
        }
        for i in (0..150).rev() {
            csv.push_str(&format!("i{i},acme,1\n"));
        }
        let r = check_transactions(csv.as_bytes(), || Ok(csv.as_bytes()), 0).unwrap_err();
        assert_eq!((r.rows, r.bad_rows, r.errors.len()), (300, 150, MAX_ROW_ERRORS));
        assert_eq!((r.errors[0].line, r.errors[99].line), (152, 251));
        assert!(r.errors.iter().all(|e| e.message.contains("twice")));
    }

    #[test]
    fn signals_sort_detections_into_their_factors() {
        let f = CustomerFacts {
            detections_30d: vec![("rage".into(), 1.8), ("engaged".into(), 0.9), ("confusion".into(), 0.5)],
            context: Some("stuck".into()),
            purchases: 3,
            ..Default::default()
        };
        let s = signals(&f, 1_000_000);
        assert_eq!((s.negatives_30d.rage, s.negatives_30d.confusion, s.engaged_30d), (1.8, 0.5, 0.9));
        assert_eq!(s.context, Some(strength::Context::Stuck));
        assert_eq!(s.purchases, 3);
    }
}
