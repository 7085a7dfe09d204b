//! The event bus behind the [`Bus`] trait: in-process (default) or NATS JetStream.
//!
//! Subjects (all under the configured prefix, default `siq`):
//!
//! | subject | delivery | carries |
//! |---|---|---|
//! | `{p}.events.{kind}` | durable (JetStream stream `{P}_EVENTS`, publish awaits the ack) | sessions, detections, interventions, alerts, for the persister and the live feed |
//! | `{p}.push.{session}` | live fan-out | an `Intervene` for whichever instance holds the session's socket |
//! | `{p}.cache.{tenant}` | live fan-out | "this tenant's identity changed": every instance refreshes its cache |
//!
//! `subscribe` is fan-out (every subscriber sees every message); `consume` is a durable work
//! queue (one consumer group, explicit ack, redelivery after a crash) used by the persister so
//! that with several instances each event is written once.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, Mutex};

/// A bus failure.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Connecting to NATS failed.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// Publishing or subscribing failed.
    #[error("bus error: {0}")]
    Io(String),
}

/// One message: its subject and payload, and for durable consumers a way to acknowledge it.
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// The payload.
    pub payload: Bytes,
    ack: Option<async_nats::jetstream::Message>,
}

impl Message {
    /// Acknowledges a durable delivery (no-op for fan-out and in-process deliveries).
    pub async fn ack(&self) -> Result<(), BusError> {
        match &self.ack {
            Some(m) => m.ack().await.map_err(|e| BusError::Io(e.to_string())),
            None => Ok(()),
        }
    }
}

/// Publish, fan-out subscribe, and durable consume.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes; for durable subjects returns once the broker has stored the message.
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), BusError>;
    /// Every message on subjects matching `filter` (NATS wildcards `*` and `>`) from now on.
    async fn subscribe(&self, filter: &str) -> Result<BoxStream<'static, Message>, BusError>;
    /// Durable, acknowledged delivery of the event subjects matching `filter`, shared by every
    /// instance using the same `group`.
    async fn consume(&self, group: &str, filter: &str) -> Result<BoxStream<'static, Message>, BusError>;
}

/// NATS-style subject matching: `*` one token, `>` the rest.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A durable group's queue: the subject filter and the sender into its consumer.
type Group = (String, mpsc::UnboundedSender<(String, Bytes)>);

/// The in-process bus: a broadcast channel for fan-out and an unbounded queue per durable
/// group (a process has one member per group, so nothing needs sharing).
pub struct MemoryBus {
    tx: broadcast::Sender<(String, Bytes)>,
    groups: Mutex<Vec<Group>>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// Capacity of the fan-out channel; a subscriber that falls further behind loses messages
    /// (logged), the durable queues never do.
    pub const FANOUT_CAPACITY: usize = 16_384;

    /// A new bus.
    pub fn new() -> MemoryBus {
        MemoryBus { tx: broadcast::channel(Self::FANOUT_CAPACITY).0, groups: Mutex::new(Vec::new()) }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), BusError> {
        for (filter, q) in self.groups.lock().await.iter() {
            if subject_matches(filter, &subject) {
                let _ = q.send((subject.clone(), payload.clone()));
            }
        }
        let _ = self.tx.send((subject, payload));
        Ok(())
    }

    async fn subscribe(&self, filter: &str) -> Result<BoxStream<'static, Message>, BusError> {
        let filter = filter.to_string();
        let rx = self.tx.subscribe();
        let s = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(m) => return Some((m, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(lost = n, "bus subscriber lagged"),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |(s, _)| futures::future::ready(subject_matches(&filter, s)))
        .map(|(subject, payload)| Message { subject, payload, ack: None });
        Ok(s.boxed())
    }

    async fn consume(&self, _group: &str, filter: &str) -> Result<BoxStream<'static, Message>, BusError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.groups.lock().await.push((filter.to_string(), tx));
        let s = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }).map(|(subject, payload)| Message {
            subject,
            payload,
            ack: None,
        });
        Ok(s.boxed())
    }
}

/// NATS JetStream.
pub struct NatsBus {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    stream: String,
    events_prefix: String,
}

impl NatsBus {
    /// Connects and makes sure the event stream exists.
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<NatsBus>, BusError> {
        let connect_err = |e: &dyn std::fmt::Display| BusError::Connect { url: url.to_string(), reason: e.to_string() };
        let client =
            async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(5)).retry_on_initial_connect().connect(url);
        let client = tokio::time::timeout(std::time::Duration::from_secs(10), client)
            .await
            .map_err(|e| connect_err(&e))?
            .map_err(|e| connect_err(&e))?;
        let js = async_nats::jetstream::new(client.clone());
        let stream = format!("{}_EVENTS", prefix.replace(['.', '*', '>'], "_").to_uppercase());
        let events_prefix = format!("{prefix}.events.");
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.events.>")],
            max_age: std::time::Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| connect_err(&e))?;
        Ok(Arc::new(NatsBus { client, js, stream, events_prefix }))
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), BusError> {
        if subject.starts_with(&self.events_prefix) {
            let ack = self.js.publish(subject, payload).await.map_err(|e| BusError::Io(e.to_string()))?;
            ack.await.map_err(|e| BusError::Io(e.to_string()))?;
        } else {
            self.client.publish(subject, payload).await.map_err(|e| BusError::Io(e.to_string()))?;
        }
        Ok(())
    }

    async fn subscribe(&self, filter: &str) -> Result<BoxStream<'static, Message>, BusError> {
        let sub = self.client.subscribe(filter.to_string()).await.map_err(|e| BusError::Io(e.to_string()))?;
        Ok(sub.map(|m| Message { subject: m.subject.to_string(), payload: m.payload, ack: None }).boxed())
    }

    async fn consume(&self, group: &str, filter: &str) -> Result<BoxStream<'static, Message>, BusError> {
        use async_nats::jetstream::consumer::pull;
        let stream = self.js.get_stream(&self.stream).await.map_err(|e| BusError::Io(e.to_string()))?;
        let consumer = stream
            .get_or_create_consumer(
                group,
                pull::Config {
                    durable_name: Some(group.to_string()),
                    filter_subject: filter.to_string(),
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: std::time::Duration::from_secs(30),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::Io(e.to_string()))?;
        let messages = consumer.messages().await.map_err(|e| BusError::Io(e.to_string()))?;
        Ok(messages
            .filter_map(|m| async move {
                match m {
                    Ok(m) => Some(Message { subject: m.subject.to_string(), payload: m.payload.clone(), ack: Some(m) }),
                    Err(e) => {
                        tracing::warn!(error = %e, "durable consumer error");
                        None
                    }
                }
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches("siq.events.>", "siq.events.detection"));
        assert!(!subject_matches("siq.events.>", "siq.events"));
        assert!(subject_matches("siq.push.*", "siq.push.00ff"));
        assert!(!subject_matches("siq.push.*", "siq.push.00ff.x"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.c"));
    }

    #[tokio::test]
    async fn memory_bus_fans_out_and_queues() {
        let bus = MemoryBus::new();
        let mut all = bus.subscribe("siq.>").await.unwrap();
        let mut durable = bus.consume("persist", "siq.events.>").await.unwrap();
        bus.publish("siq.push.1".into(), Bytes::from_static(b"a")).await.unwrap();
        bus.publish("siq.events.x".into(), Bytes::from_static(b"b")).await.unwrap();
        assert_eq!(all.next().await.unwrap().payload, "a");
        assert_eq!(all.next().await.unwrap().payload, "b");
        let m = durable.next().await.unwrap();
        assert_eq!((m.subject.as_str(), &m.payload[..]), ("siq.events.x", &b"b"[..]));
    }
}
