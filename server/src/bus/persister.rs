//! The persister: durable events from the bus, written through the store, never on the hot
//! path.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use async_trait::async_trait;

use super::Message;
use crate::records::events::Event;
use crate::records::{FrameRecord, SessionRecord};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// Write attempts per event before it is handed back to the bus.
const PERSIST_ATTEMPTS: u32 = 3;

/// How long an event the store could not take waits before the bus delivers it again.
pub const REDELIVER_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Most events the persister takes from the bus at once (frames among them are written in one
/// statement).
pub const BATCH: usize = 256;

/// Writes the durable events it is handed through the store, with retries; an event about a
/// person erased after it happened is dropped.
pub struct Persister {
    store: Arc<dyn Store>,
    people: Arc<dyn AboutPeople>,
    metrics: Arc<Metrics>,
}

/// What the persister asks about the people events name (the identity subsystem answers).
#[async_trait]
pub trait AboutPeople: Send + Sync {
    /// The pseudonymous reference under which `sub` of `tenant` is erased
    /// (`identity::customers::person_ref`).
    fn person_ref(&self, tenant: &str, sub: &str) -> String;
    /// What `sub`'s strength reads was just written: recompute it.
    async fn changed(&self, tenant: &str, sub: &str);
}

impl Persister {
    /// A persister writing to `store`.
    pub fn new(store: Arc<dyn Store>, people: Arc<dyn AboutPeople>, metrics: Arc<Metrics>) -> Persister {
        Persister { store, people, metrics }
    }

    /// Writes what the bus delivered, frames of the ingest journal together and anonymous
    /// sessions together (one statement each; an identified session goes alone, after the
    /// erasure check), then acknowledges
    /// each message that is stored (or can never be: unreadable, about an erased person) and
    /// hands the rest back to the bus for redelivery after [`REDELIVER_AFTER`]: nothing is
    /// acknowledged that was not written.
    pub async fn write_batch(&self, messages: &[Message]) {
        let mut frames: Vec<(usize, FrameRecord)> = Vec::new();
        let mut sessions: Vec<(usize, SessionRecord)> = Vec::new();
        let mut stored = vec![false; messages.len()];
        for (i, m) in messages.iter().enumerate() {
            match serde_json::from_slice::<Event>(&m.payload) {
                Ok(Event::Frame(f)) => frames.push((i, f)),
                Ok(Event::Session(s)) if s.user.is_none() => sessions.push((i, s)),
                Ok(ev) => stored[i] = self.write(&ev).await,
                Err(e) => {
                    tracing::error!(subject = %m.subject, error = %e, "unreadable event on the bus; dropped");
                    stored[i] = true;
                }
            }
        }
        if !frames.is_empty() {
            let rows: Vec<FrameRecord> = frames.iter().map(|(_, f)| f.clone()).collect();
            let tenants: Vec<&str> = rows.iter().map(|f| f.tenant_id.as_str()).collect();
            let ok = self.attempts(&tenants, "frame", || self.store.insert_frames(&rows)).await.is_some();
            for (i, _) in &frames {
                stored[*i] = ok;
            }
        }
        if !sessions.is_empty() {
            let rows: Vec<SessionRecord> = sessions.iter().map(|(_, s)| s.clone()).collect();
            let tenants: Vec<&str> = rows.iter().map(|s| s.tenant_id.as_str()).collect();
            let ok = self.attempts(&tenants, "session", || self.store.upsert_sessions(&rows)).await.is_some();
            for (i, _) in &sessions {
                stored[*i] = ok;
            }
        }
        for (m, ok) in messages.iter().zip(stored) {
            let r = if ok { m.ack().await } else { m.nak(REDELIVER_AFTER).await };
            if let Err(e) = r {
                tracing::warn!(subject = %m.subject, error = %e, "could not answer the bus for an event");
            }
        }
    }

    /// Tries a store write of events of `tenants` (one entry an event, so a batch of several
    /// tenants names each) [`PERSIST_ATTEMPTS`] times with back-off; `None` when every attempt
    /// failed: then every event is counted against its own tenant, and each tenant logged with
    /// its number of events.
    async fn attempts<F, Fut, T>(&self, tenants: &[&str], kind: &str, mut f: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delay = std::time::Duration::from_millis(50);
        for attempt in 1..=PERSIST_ATTEMPTS {
            match f().await {
                Ok(v) => return Some(v),
                Err(e) if attempt == PERSIST_ATTEMPTS => {
                    for (tenant, events) in per_tenant(tenants) {
                        self.metrics.tenant(tenant).persist_retried.fetch_add(events, Relaxed);
                        tracing::error!(tenant = %tenant, kind, events, error = %e, "event could not be stored; the bus delivers it again");
                    }
                }
                Err(e) => {
                    tracing::warn!(tenants = ?per_tenant(tenants), kind, attempt, error = %e, "store write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
            }
        }
        None
    }

    /// Writes one event; true when it is stored or never will be (about an erased person).
    pub async fn write(&self, ev: &Event) -> bool {
        let app = self;
        let ok = match ev.person() {
            // An event about a person erased after it happened is not written (it was in
            // flight), checked in the transaction that writes it: an erasure running meanwhile
            // either waits for it and deletes the row, or is waited for and seen.
            Some(sub) => {
                let person = app.people.person_ref(ev.tenant(), sub);
                match self.attempts(&[ev.tenant()], ev.kind(), || app.store.write_unless_erased(&person, ev)).await {
                    Some(true) => true,
                    Some(false) => {
                        tracing::info!(tenant = %ev.tenant(), kind = ev.kind(), "event about an erased person dropped");
                        return true;
                    }
                    None => false,
                }
            }
            None => self
                .attempts(&[ev.tenant()], ev.kind(), || async {
                    match ev {
                        Event::Session(s) => app.store.upsert_session(s).await,
                        Event::Detection(d) => app.store.insert_detection(d).await.map(|_| ()),
                        Event::Intervention(i) => app.store.insert_intervention(i).await,
                        Event::Alert(a) => app.store.insert_alert(a).await,
                        Event::Customer(c) => app.store.customer_seen(c).await,
                        Event::Context(c) => app.store.add_context(c).await,
                        Event::Erosion(_) => Ok(()),
                        Event::Decision(d) => app.store.insert_decision(d).await,
                        Event::Card(c) => app.store.insert_card(c).await,
                        Event::Frame(f) => app.store.insert_frames(std::slice::from_ref(f)).await.map(|_| ()),
                    }
                })
                .await
                .is_some(),
        };
        if ok {
            // What the person's strength reads changed: recompute it.
            let rescore = match ev {
                Event::Detection(_) | Event::Customer(_) | Event::Context(_) => ev.person(),
                _ => None,
            };
            if let Some(sub) = rescore {
                app.people.changed(ev.tenant(), sub).await;
            }
        }
        ok
    }
}

/// How many of `tenants` (one entry an event) each tenant has.
fn per_tenant<'a>(tenants: &[&'a str]) -> BTreeMap<&'a str, u64> {
    let mut n = BTreeMap::new();
    for t in tenants {
        *n.entry(*t).or_default() += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqlStore;

    struct NobodyErased;

    #[async_trait]
    impl AboutPeople for NobodyErased {
        fn person_ref(&self, tenant: &str, sub: &str) -> String {
            format!("person:{tenant}/{sub}")
        }
        async fn changed(&self, _: &str, _: &str) {}
    }

    fn message(ev: &Event) -> Message {
        Message {
            subject: format!("t.events.{}.{}", ev.kind(), ev.tenant()),
            payload: serde_json::to_vec(ev).unwrap().into(),
            ack: None,
            queued: None,
        }
    }

    fn frame(tenant: &str, seq: i64) -> Event {
        Event::Frame(FrameRecord {
            tenant_id: tenant.into(),
            session: "00000000000000ab".into(),
            seq,
            kind: "physics".into(),
            received_ms: 1,
        })
    }

    fn session(tenant: &str) -> Event {
        Event::Session(SessionRecord {
            tenant_id: tenant.into(),
            session: "00000000000000cd".into(),
            user: None,
            account: None,
            page: "/".into(),
            started_ms: 1,
            active_minutes: 0,
        })
    }

    #[tokio::test]
    async fn a_failed_batch_counts_every_event_against_its_own_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("siq.db").display());
        let store = Arc::new(SqlStore::connect(&url).await.unwrap());
        // The tables the batches go to are gone: every write fails.
        let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
        for table in ["frames", "sessions"] {
            sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}_gone")).execute(&mut db).await.unwrap();
        }
        let metrics = Arc::new(Metrics::default());
        let persister = Persister::new(store, Arc::new(NobodyErased), metrics.clone());
        let batch: Vec<Message> =
            [frame("t_a", 1), frame("t_b", 1), frame("t_a", 2), session("t_c"), session("t_b")].iter().map(message).collect();
        persister.write_batch(&batch).await;
        let retried = |t: &str| metrics.tenant(t).persist_retried.load(Relaxed);
        assert_eq!(
            (retried("t_a"), retried("t_b"), retried("t_c")),
            (2, 2, 1),
            "two frames of a; a frame and a session of b; a session of c"
        );
    }
}
