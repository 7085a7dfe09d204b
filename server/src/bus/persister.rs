//! The persister: durable events from the bus, written through the store, never on the hot
//! path.

use std::sync::Arc;

use async_trait::async_trait;

use crate::records::events::Event;
use crate::store::{Store, StoreError};
use crate::telemetry::{inc, Metrics};

/// Number of write attempts per event before it counts as a persistence failure.
const PERSIST_ATTEMPTS: u32 = 3;

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
    /// When `sub` of `tenant` was erased, if ever.
    async fn erased_at(&self, tenant: &str, sub: &str) -> Result<Option<i64>, StoreError>;
    /// What `sub`'s strength reads was just written: recompute it.
    async fn changed(&self, tenant: &str, sub: &str);
}

impl Persister {
    /// A persister writing to `store`.
    pub fn new(store: Arc<dyn Store>, people: Arc<dyn AboutPeople>, metrics: Arc<Metrics>) -> Persister {
        Persister { store, people, metrics }
    }

    /// Writes one event (a JSON [`Event`]); failures are logged with the tenant and counted.
    pub async fn write(&self, payload: &[u8]) {
        let app = self;
        let ev: Event = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => return tracing::error!(error = %e, "unreadable event on the bus"),
        };
        // An event about a person erased after it happened is not written (it was in flight).
        if let Some(sub) = ev.person() {
            match app.people.erased_at(ev.tenant(), sub).await {
                Ok(Some(erased)) if erased >= ev.at_ms() => {
                    return tracing::info!(tenant = %ev.tenant(), kind = ev.kind(), "event about an erased person dropped");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(tenant = %ev.tenant(), error = %e, "erasure check failed; writing the event"),
            }
        }
        let mut delay = std::time::Duration::from_millis(50);
        for attempt in 1..=PERSIST_ATTEMPTS {
            let r = match &ev {
                Event::Session(s) => app.store.upsert_session(s).await,
                Event::Detection(d) => app.store.insert_detection(d).await.map(|_| ()),
                Event::Intervention(i) => app.store.insert_intervention(i).await,
                Event::Alert(a) => app.store.insert_alert(a).await,
                Event::Customer(c) => app.store.customer_seen(c).await,
                Event::Context(c) => app.store.add_context(c).await,
                Event::Erosion(_) => Ok(()),
                Event::Decision(d) => app.store.insert_decision(d).await,
                Event::Card(c) => app.store.insert_card(c).await,
            };
            match r {
                Ok(()) => {
                    // What the person's strength reads changed: recompute it.
                    let rescore = match &ev {
                        Event::Detection(_) | Event::Customer(_) | Event::Context(_) => ev.person(),
                        _ => None,
                    };
                    if let Some(sub) = rescore {
                        app.people.changed(ev.tenant(), sub).await;
                    }
                    return;
                }
                Err(e) if attempt == PERSIST_ATTEMPTS => {
                    inc(&app.metrics.tenant(ev.tenant()).persist_failed);
                    tracing::error!(tenant = %ev.tenant(), kind = ev.kind(), error = %e, "event could not be stored");
                }
                Err(e) => {
                    tracing::warn!(tenant = %ev.tenant(), attempt, error = %e, "store write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
            }
        }
    }
}
