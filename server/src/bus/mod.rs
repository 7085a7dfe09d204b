//! The event bus behind the [`Bus`] trait: in-process (default) or NATS JetStream.
//!
//! Subjects and facilities (all under the configured prefix, default `siq`; `{P}` is the prefix
//! upper-cased with `.`, `*` and `>` turned into `_`):
//!
//! | subject or bucket | delivery | carries |
//! |---|---|---|
//! | `{p}.events.{kind}` | durable (JetStream stream `{P}_EVENTS`, publish awaits the ack) | sessions, detections, interventions, alerts, for the persister and the live feed |
//! | `{p}.push.{session}` | live fan-out | an `Intervene` for whichever instance holds the session's socket |
//! | `{p}.cache.{tenant}` | live fan-out | "this tenant's identity changed": every instance refreshes its cache |
//! | key-value bucket `{P}_IDENTITY`, keys `acct.{tenant}.{account}` | last value per key (JetStream KV, history 1; erasure purges) | per-account identity state (value, recent revenue, strength) shared by every instance, so the hot path reads memory and never waits on the database |
//!
//! `subscribe` is fan-out (every subscriber sees every message); `consume` is a durable work
//! queue (one consumer group, explicit ack, redelivery after a crash) used by the persister so
//! that with several instances each event is written once.
//!
//! The key-value facility (`kv_*`) keeps one value per key. Keys are dot-separated tokens of
//! `[-/_=a-zA-Z0-9]`; build them with [`kv_key`], which escapes anything else a host's ids may
//! contain. Watches and snapshots take a NATS-style key filter (`*` one token, `>` the rest, e.g.
//! `acct.t_123.>`). Revisions increase across the whole bucket, so a reader that keeps the
//! highest revision per key can merge a snapshot with a watch: a new instance calls
//! [`Bus::kv_watch`] first, then [`Bus::kv_snapshot`], and applies a change only when its
//! revision is above the one it holds for that key; nothing written in between is lost.

pub mod persister;
pub mod publisher;

pub use publisher::{Publisher, Subjects};

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

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
    /// A key-value key or key filter is empty, too long, or has a character NATS does not allow
    /// (build keys with [`kv_key`]).
    #[error("invalid key-value key or filter {0:?}")]
    KvKey(String),
    /// A key-value value is larger than [`KV_MAX_VALUE_BYTES`].
    #[error("key-value value of {len} bytes is over the {max}-byte limit")]
    KvValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Largest key-value value in bytes (per-account identity state is a few dozen bytes; the NATS
/// bucket is created with the same limit, so both backends refuse the same values).
pub const KV_MAX_VALUE_BYTES: usize = 16 * 1024;

/// Longest key-value key or key filter in bytes (an account key is three tokens; a host's ids
/// escaped by [`kv_key`] take at most three bytes per input byte).
pub const KV_MAX_KEY_BYTES: usize = 1024;

/// Suffix of the key-value bucket's name: the bucket is `{P}_IDENTITY`.
pub const KV_BUCKET_SUFFIX: &str = "IDENTITY";

/// How long [`Bus::kv_snapshot`] waits for the next current value before giving up.
pub const KV_SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One change to a key-value key, or one current value in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvChange {
    /// The key (as built by [`kv_key`]).
    pub key: String,
    /// The new value, or `None` when the key was deleted.
    pub value: Option<Bytes>,
    /// The bucket-wide revision of this change; later changes have higher revisions.
    pub revision: u64,
}

/// The escape character of [`kv_key`].
const KV_ESCAPE: u8 = b'=';

/// Whether `b` stands for itself inside a [`kv_key`] token.
fn kv_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Builds a key-value key from parts, one token each, joined by `.`.
///
/// Bytes of `[-_a-zA-Z0-9]` stand for themselves; every other byte of a part's UTF-8 (including
/// `.`, `/`, `=`, `*`, `>`, spaces and non-ASCII) becomes `=` followed by two upper-case hex
/// digits, and an empty part becomes a lone `=`. So `["acct", "acme corp/ü"]` is
/// `acct.acme=20corp=2F=C3=BC`. The encoding is injective (distinct part lists give distinct
/// keys), a part can never inject a separator or a wildcard, and [`kv_key_parts`] reverses it.
pub fn kv_key(parts: &[&str]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut key = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        if part.is_empty() {
            key.push(KV_ESCAPE as char);
        }
        for &b in part.as_bytes() {
            if kv_plain(b) {
                key.push(b as char);
            } else {
                key.push(KV_ESCAPE as char);
                key.push(HEX[usize::from(b >> 4)] as char);
                key.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
    }
    key
}

/// The value of an upper-case hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The parts a [`kv_key`] was built from, or `None` if `key` is not such an encoding.
pub fn kv_key_parts(key: &str) -> Option<Vec<String>> {
    key.split('.')
        .map(|token| {
            if token == "=" {
                return Some(String::new());
            }
            let t = token.as_bytes();
            let mut bytes = Vec::with_capacity(t.len());
            let mut i = 0;
            while i < t.len() {
                if kv_plain(t[i]) {
                    bytes.push(t[i]);
                    i += 1;
                } else if t[i] == KV_ESCAPE && i + 3 <= t.len() {
                    let b = (hex_digit(t[i + 1])? << 4) | hex_digit(t[i + 2])?;
                    // A byte that stands for itself is never escaped: one key, one spelling.
                    if kv_plain(b) {
                        return None;
                    }
                    bytes.push(b);
                    i += 3;
                } else {
                    return None;
                }
            }
            if bytes.is_empty() {
                return None;
            }
            String::from_utf8(bytes).ok()
        })
        .collect()
}

/// Whether `key` is a valid key-value key: at most [`KV_MAX_KEY_BYTES`], non-empty
/// dot-separated tokens of `[-/_=a-zA-Z0-9]`.
pub fn kv_key_is_valid(key: &str) -> bool {
    key.len() <= KV_MAX_KEY_BYTES && key.split('.').all(|t| !t.is_empty() && t.bytes().all(|b| kv_plain(b) || b == b'=' || b == b'/'))
}

/// Whether `filter` is a valid key filter: like a key, but a token may be `*` (any one token)
/// and the last token may be `>` (one or more tokens).
pub fn kv_filter_is_valid(filter: &str) -> bool {
    let tokens: Vec<&str> = filter.split('.').collect();
    filter.len() <= KV_MAX_KEY_BYTES
        && tokens.iter().enumerate().all(|(i, t)| {
            *t == "*" || (*t == ">" && i + 1 == tokens.len()) || (!t.is_empty() && t.bytes().all(|b| kv_plain(b) || b == b'=' || b == b'/'))
        })
}

/// Refuses an invalid key.
fn check_key(key: &str) -> Result<(), BusError> {
    if kv_key_is_valid(key) {
        Ok(())
    } else {
        Err(BusError::KvKey(key.to_string()))
    }
}

/// Refuses an invalid key filter.
fn check_filter(filter: &str) -> Result<(), BusError> {
    if kv_filter_is_valid(filter) {
        Ok(())
    } else {
        Err(BusError::KvKey(filter.to_string()))
    }
}

/// Refuses an invalid key or a value over [`KV_MAX_VALUE_BYTES`].
fn check_put(key: &str, value: &Bytes) -> Result<(), BusError> {
    check_key(key)?;
    if value.len() > KV_MAX_VALUE_BYTES {
        return Err(BusError::KvValueTooLarge { len: value.len(), max: KV_MAX_VALUE_BYTES });
    }
    Ok(())
}

/// The upper-case form of a bus prefix used in JetStream names (`siq` → `SIQ`).
fn upper_prefix(prefix: &str) -> String {
    prefix.replace(['.', '*', '>'], "_").to_uppercase()
}

/// The name of the key-value bucket for a bus prefix (`siq` → `SIQ_IDENTITY`).
pub fn kv_bucket_name(prefix: &str) -> String {
    format!("{}_{KV_BUCKET_SUFFIX}", upper_prefix(prefix))
}

/// One message: its subject and payload, and for durable consumers a way to acknowledge it.
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// The payload.
    pub payload: Bytes,
    ack: Option<async_nats::jetstream::Message>,
    queued: Option<QueuedAck>,
}

/// What an in-process durable delivery answers to: the publisher waiting for it to be stored,
/// and the queue it goes back to when it could not be.
struct QueuedAck {
    done: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    queue: mpsc::UnboundedSender<Queued>,
}

/// A message on an in-process durable queue, with the publisher's "it is stored" signal.
type Queued = (String, Bytes, Option<tokio::sync::oneshot::Sender<()>>);

impl Message {
    /// Acknowledges a durable delivery: it is stored, the publisher may go on (no-op for
    /// fan-out deliveries).
    pub async fn ack(&self) -> Result<(), BusError> {
        if let Some(q) = &self.queued {
            if let Some(done) = q.done.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = done.send(());
            }
        }
        match &self.ack {
            Some(m) => m.ack().await.map_err(|e| BusError::Io(e.to_string())),
            None => Ok(()),
        }
    }

    /// Refuses a durable delivery for now: it is delivered again after `delay` (to this or
    /// another consumer of the group) and its publisher keeps waiting. No-op for fan-out.
    pub async fn nak(&self, delay: std::time::Duration) -> Result<(), BusError> {
        if let Some(q) = &self.queued {
            let done = q.done.lock().unwrap_or_else(PoisonError::into_inner).take();
            let (queue, subject, payload) = (q.queue.clone(), self.subject.clone(), self.payload.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = queue.send((subject, payload, done));
            });
        }
        match &self.ack {
            Some(m) => m.ack_with(async_nats::jetstream::AckKind::Nak(Some(delay))).await.map_err(|e| BusError::Io(e.to_string())),
            None => Ok(()),
        }
    }
}

/// Publish, fan-out subscribe, durable consume, and a shared key-value bucket.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes; for durable subjects returns once the broker has stored the message.
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), BusError> {
        self.publish_once(subject, payload, None).await
    }
    /// [`Bus::publish`] with a de-duplication id: a durable message published again with the
    /// same id (a retry, a frame processed twice) is stored once. With NATS the id is the
    /// `Nats-Msg-Id` header (JetStream keeps ids for the stream's duplicate window, two
    /// minutes); in process, a durable message is "stored" once the consumer acknowledged it.
    async fn publish_once(&self, subject: String, payload: Bytes, id: Option<&str>) -> Result<(), BusError>;
    /// Every message on subjects matching `filter` (NATS wildcards `*` and `>`) from now on.
    async fn subscribe(&self, filter: &str) -> Result<BoxStream<'static, Message>, BusError>;
    /// Durable, acknowledged delivery of the event subjects matching `filter`, shared by every
    /// instance using the same `group`.
    async fn consume(&self, group: &str, filter: &str) -> Result<BoxStream<'static, Message>, BusError>;
    /// Deletes every stored durable event on subjects matching `filter` whose payload `matches`
    /// (erasure: the events that name a person); returns how many. The in-process bus stores
    /// no events beyond the ones waiting for the persister, and forgets none.
    async fn forget(&self, filter: &str, matches: &(dyn for<'p> Fn(&'p [u8]) -> bool + Send + Sync)) -> Result<u64, BusError>;
    /// Stores `value` under `key` (see [`kv_key`]) and returns the change's revision; every
    /// watcher of a matching filter, on every instance, sees it.
    async fn kv_put(&self, key: &str, value: Bytes) -> Result<u64, BusError>;
    /// The current value of `key`, or `None` if it was never put or has been deleted.
    async fn kv_get(&self, key: &str) -> Result<Option<Bytes>, BusError>;
    /// Deletes `key`: watchers see a change with value `None`, and no earlier value stays
    /// readable (with NATS the key is purged, history included). Used when a person is erased.
    async fn kv_delete(&self, key: &str) -> Result<(), BusError>;
    /// Every change from now on to keys matching `filter` (NATS-style: `*` one token, `>` the
    /// rest, e.g. `acct.t_123.>`), in revision order.
    async fn kv_watch(&self, filter: &str) -> Result<BoxStream<'static, KvChange>, BusError>;
    /// The current value of every key matching `filter`, sorted by key (deleted keys left out):
    /// what a new instance loads at cold start (see the module doc for merging it with a watch).
    async fn kv_snapshot(&self, filter: &str) -> Result<Vec<KvChange>, BusError>;
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
type Group = (String, mpsc::UnboundedSender<Queued>);

/// The in-process key-value bucket: the current value and revision per key, the last revision
/// handed out, and an unbounded queue per watcher (a watcher never misses a change, so an
/// erasure always reaches every cache; a dropped watcher is removed on the next change).
#[derive(Default)]
struct MemoryKv {
    revision: u64,
    entries: BTreeMap<String, (Bytes, u64)>,
    watchers: Vec<(String, mpsc::UnboundedSender<KvChange>)>,
}

impl MemoryKv {
    /// Records a change under the next revision and hands it to the matching watchers; called
    /// with the lock held, so watchers see changes in revision order.
    fn change(&mut self, key: &str, value: Option<Bytes>) -> u64 {
        self.revision += 1;
        let revision = self.revision;
        match &value {
            Some(v) => {
                self.entries.insert(key.to_string(), (v.clone(), revision));
            }
            None => {
                self.entries.remove(key);
            }
        }
        let change = KvChange { key: key.to_string(), value, revision };
        self.watchers.retain(|(filter, tx)| !subject_matches(filter, key) || tx.send(change.clone()).is_ok());
        revision
    }
}

/// The in-process bus: a broadcast channel for fan-out, an unbounded queue per durable group (a
/// process has one member per group, so nothing needs sharing), and an in-memory key-value
/// bucket with the same semantics as the NATS one.
pub struct MemoryBus {
    tx: broadcast::Sender<(String, Bytes)>,
    groups: Mutex<Vec<Group>>,
    kv: std::sync::Mutex<MemoryKv>,
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
        MemoryBus {
            tx: broadcast::channel(Self::FANOUT_CAPACITY).0,
            groups: Mutex::new(Vec::new()),
            kv: std::sync::Mutex::new(MemoryKv::default()),
        }
    }

    /// The key-value bucket (a panic elsewhere cannot leave it half-written: every change is
    /// one insert or remove).
    fn kv(&self) -> std::sync::MutexGuard<'_, MemoryKv> {
        self.kv.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish_once(&self, subject: String, payload: Bytes, _id: Option<&str>) -> Result<(), BusError> {
        // A durable message is stored when its group's consumer (the persister) acknowledged it:
        // the publisher waits for that, as it waits for JetStream's ack.
        let mut stored = Vec::new();
        for (filter, q) in self.groups.lock().await.iter() {
            if subject_matches(filter, &subject) {
                let (done, rx) = tokio::sync::oneshot::channel();
                if q.send((subject.clone(), payload.clone(), Some(done))).is_ok() {
                    stored.push(rx);
                }
            }
        }
        let _ = self.tx.send((subject, payload));
        for rx in stored {
            rx.await.map_err(|_| BusError::Io("the in-process queue stopped before the message was stored".into()))?;
        }
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
        .map(|(subject, payload)| Message { subject, payload, ack: None, queued: None });
        Ok(s.boxed())
    }

    async fn forget(&self, _filter: &str, _matches: &(dyn for<'p> Fn(&'p [u8]) -> bool + Send + Sync)) -> Result<u64, BusError> {
        Ok(0)
    }

    async fn consume(&self, _group: &str, filter: &str) -> Result<BoxStream<'static, Message>, BusError> {
        let (tx, rx) = mpsc::unbounded_channel::<Queued>();
        self.groups.lock().await.push((filter.to_string(), tx.clone()));
        let s =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }).map(move |(subject, payload, done)| {
                Message { subject, payload, ack: None, queued: Some(QueuedAck { done: std::sync::Mutex::new(done), queue: tx.clone() }) }
            });
        Ok(s.boxed())
    }

    async fn kv_put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        check_put(key, &value)?;
        Ok(self.kv().change(key, Some(value)))
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Bytes>, BusError> {
        check_key(key)?;
        Ok(self.kv().entries.get(key).map(|(v, _)| v.clone()))
    }

    async fn kv_delete(&self, key: &str) -> Result<(), BusError> {
        check_key(key)?;
        self.kv().change(key, None);
        Ok(())
    }

    async fn kv_watch(&self, filter: &str) -> Result<BoxStream<'static, KvChange>, BusError> {
        check_filter(filter)?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.kv().watchers.push((filter.to_string(), tx));
        Ok(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }).boxed())
    }

    async fn kv_snapshot(&self, filter: &str) -> Result<Vec<KvChange>, BusError> {
        check_filter(filter)?;
        Ok(self
            .kv()
            .entries
            .iter()
            .filter(|(k, _)| subject_matches(filter, k))
            .map(|(k, (v, revision))| KvChange { key: k.clone(), value: Some(v.clone()), revision: *revision })
            .collect())
    }
}

/// NATS JetStream.
pub struct NatsBus {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    stream: String,
    events_prefix: String,
    kv: async_nats::jetstream::kv::Store,
}

impl NatsBus {
    /// Connects and makes sure the event stream and the key-value bucket
    /// ([`kv_bucket_name`]) exist; several instances may connect at once.
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<NatsBus>, BusError> {
        let connect_err = |e: &dyn std::fmt::Display| BusError::Connect { url: url.to_string(), reason: e.to_string() };
        let client =
            async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(5)).retry_on_initial_connect().connect(url);
        let client = tokio::time::timeout(std::time::Duration::from_secs(10), client)
            .await
            .map_err(|e| connect_err(&e))?
            .map_err(|e| connect_err(&e))?;
        let js = async_nats::jetstream::new(client.clone());
        let stream = format!("{}_EVENTS", upper_prefix(prefix));
        let events_prefix = format!("{prefix}.events.");
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.events.>")],
            // An event stays until the persister stored it (interest retention: the durable
            // consumer is created before the server serves), at most 7 days: the backlog while
            // the database is away. A full JetStream store refuses the publish (new messages are
            // refused, old ones never dropped): the frame is not acknowledged and the page keeps
            // and resends it. No per-stream byte limit: JetStream reserves a stream's limit up
            // front, out of the server's store.
            retention: async_nats::jetstream::stream::RetentionPolicy::Interest,
            max_age: std::time::Duration::from_secs(7 * 24 * 3600),
            discard: async_nats::jetstream::stream::DiscardPolicy::New,
            duplicate_window: std::time::Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| connect_err(&e))?;
        // The bucket is declared as the stream a JetStream key-value bucket is (`KV_{bucket}`
        // on `$KV.{bucket}.>`, one message per key, rollups for purges, direct gets) rather than
        // through the client's bucket creation, which first reads account fields that the
        // JetStream servers packaged by Debian (2.9) do not send. Declaring an existing stream
        // with the same configuration succeeds, so instances starting together do not race.
        let bucket = kv_bucket_name(prefix);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("per-account identity state shared by every instance".into()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_message_size: KV_MAX_VALUE_BYTES as i32,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: async_nats::jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| connect_err(&e))?;
        let kv = js.get_key_value(&bucket).await.map_err(|e| connect_err(&e))?;
        Ok(Arc::new(NatsBus { client, js, stream, events_prefix, kv }))
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish_once(&self, subject: String, payload: Bytes, id: Option<&str>) -> Result<(), BusError> {
        if subject.starts_with(&self.events_prefix) {
            let ack = match id {
                Some(id) => {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
                    self.js.publish_with_headers(subject, headers, payload).await
                }
                None => self.js.publish(subject, payload).await,
            }
            .map_err(|e| BusError::Io(e.to_string()))?;
            ack.await.map_err(|e| BusError::Io(e.to_string()))?;
        } else {
            self.client.publish(subject, payload).await.map_err(|e| BusError::Io(e.to_string()))?;
        }
        Ok(())
    }

    async fn subscribe(&self, filter: &str) -> Result<BoxStream<'static, Message>, BusError> {
        let sub = self.client.subscribe(filter.to_string()).await.map_err(|e| BusError::Io(e.to_string()))?;
        Ok(sub.map(|m| Message { subject: m.subject.to_string(), payload: m.payload, ack: None, queued: None }).boxed())
    }

    async fn forget(&self, filter: &str, matches: &(dyn for<'p> Fn(&'p [u8]) -> bool + Send + Sync)) -> Result<u64, BusError> {
        use async_nats::jetstream::consumer::{pull, DeliverPolicy};
        let io = |e: &dyn std::fmt::Display| BusError::Io(e.to_string());
        let stream = self.js.get_stream(&self.stream).await.map_err(|e| io(&e))?;
        // An ephemeral consumer reads every stored event of the filter once, oldest first.
        let mut consumer = stream
            .create_consumer(pull::Config {
                filter_subject: filter.to_string(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                inactive_threshold: std::time::Duration::from_secs(60),
                ..Default::default()
            })
            .await
            .map_err(|e| io(&e))?;
        let mut left = consumer.info().await.map_err(|e| io(&e))?.num_pending;
        let mut doomed = Vec::new();
        let mut messages = consumer.messages().await.map_err(|e| io(&e))?;
        while left > 0 {
            let Ok(Some(m)) = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next()).await else {
                return Err(BusError::Io("reading stored events for erasure timed out".into()));
            };
            let m = m.map_err(|e| io(&e))?;
            let (seq, pending) = match m.info() {
                Ok(info) => (info.stream_sequence, info.pending),
                Err(e) => return Err(BusError::Io(e.to_string())),
            };
            if matches(&m.payload) {
                doomed.push(seq);
            }
            left = pending;
        }
        use async_nats::jetstream::{stream::DeleteMessageErrorKind, ErrorCode};
        // Stored by the persister meanwhile, and so removed (interest retention): gone already,
        // which is what erasure wants (it once failed the erasure with a 503).
        let gone = |k: &DeleteMessageErrorKind| matches!(k, DeleteMessageErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_MESSAGE_DELETE_FAILED);
        let mut deleted = 0;
        for seq in doomed {
            match stream.delete_message(seq).await {
                Ok(_) => deleted += 1,
                Err(e) if gone(&e.kind()) => {}
                Err(e) => return Err(io(&e)),
            }
        }
        Ok(deleted)
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
                    Ok(m) => Some(Message { subject: m.subject.to_string(), payload: m.payload.clone(), ack: Some(m), queued: None }),
                    Err(e) => {
                        tracing::warn!(error = %e, "durable consumer error");
                        None
                    }
                }
            })
            .boxed())
    }

    async fn kv_put(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        check_put(key, &value)?;
        self.kv.put(key, value).await.map_err(|e| BusError::Io(e.to_string()))
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Bytes>, BusError> {
        check_key(key)?;
        self.kv.get(key).await.map_err(|e| BusError::Io(e.to_string()))
    }

    async fn kv_delete(&self, key: &str) -> Result<(), BusError> {
        check_key(key)?;
        // A purge (not a delete) rolls the key's history up into one empty marker.
        self.kv.purge(key).await.map_err(|e| BusError::Io(e.to_string()))
    }

    async fn kv_watch(&self, filter: &str) -> Result<BoxStream<'static, KvChange>, BusError> {
        use async_nats::jetstream::kv::Operation;
        check_filter(filter)?;
        let watch = self.kv.watch(filter).await.map_err(|e| BusError::Io(e.to_string()))?;
        Ok(watch
            .filter_map(|entry| async move {
                match entry {
                    Ok(e) => Some(KvChange { value: (e.operation == Operation::Put).then_some(e.value), key: e.key, revision: e.revision }),
                    Err(e) => {
                        tracing::warn!(error = %e, "key-value watch error");
                        None
                    }
                }
            })
            .boxed())
    }

    async fn kv_snapshot(&self, filter: &str) -> Result<Vec<KvChange>, BusError> {
        use async_nats::jetstream::consumer::{pull, DeliverPolicy};
        check_filter(filter)?;
        let io = |e: &dyn std::fmt::Display| BusError::Io(e.to_string());
        // An ordered consumer delivering the last message of every matching key; its pending
        // count says when the last one has arrived.
        let consumer = self
            .kv
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: format!("{}{filter}", self.kv.prefix),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| io(&e))?;
        let mut out = Vec::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer.messages().await.map_err(|e| io(&e))?;
        loop {
            let m = match tokio::time::timeout(KV_SNAPSHOT_TIMEOUT, messages.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(io(&e)),
                Ok(None) => return Err(BusError::Io("key-value snapshot ended early".into())),
                Err(_) => return Err(BusError::Io("key-value snapshot timed out".into())),
            };
            let info = m.info().map_err(|e| io(&e))?;
            let (revision, pending) = (info.stream_sequence, info.pending);
            // Delete and purge markers carry a `KV-Operation` header; a put carries none.
            let put = m.headers.as_ref().and_then(|h| h.get("KV-Operation")).is_none_or(|op| op.as_str() == "PUT");
            if let (true, Some(key)) = (put, m.subject.as_str().strip_prefix(&self.kv.prefix)) {
                out.push(KvChange { key: key.to_string(), value: Some(m.payload.clone()), revision });
            }
            if pending == 0 {
                break;
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
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
        // A durable publish returns once the consumer acknowledged it; a nak delivers it again.
        let bus = Arc::new(bus);
        let b = bus.clone();
        let publish = tokio::spawn(async move { b.publish("siq.events.x".into(), Bytes::from_static(b"b")).await });
        assert_eq!(all.next().await.unwrap().payload, "a");
        assert_eq!(all.next().await.unwrap().payload, "b");
        let m = durable.next().await.unwrap();
        assert_eq!((m.subject.as_str(), &m.payload[..]), ("siq.events.x", &b"b"[..]));
        m.nak(std::time::Duration::from_millis(10)).await.unwrap();
        let again = durable.next().await.unwrap();
        assert_eq!(&again.payload[..], b"b");
        assert!(!publish.is_finished(), "not stored yet: the publisher waits");
        again.ack().await.unwrap();
        publish.await.unwrap().unwrap();
        // A consumer gone before it stored the message: the publisher hears so.
        let p = tokio::spawn(async move { bus.publish("siq.events.y".into(), Bytes::from_static(b"c")).await });
        drop(durable.next().await.unwrap());
        assert!(p.await.unwrap().is_err());
    }

    #[test]
    fn kv_keys_escape_what_nats_does_not_allow() {
        assert_eq!(kv_key(&["acct", "t_123", "acme corp/ü"]), "acct.t_123.acme=20corp=2F=C3=BC");
        assert_eq!(kv_key(&["a.b", "*", ">", "=", ""]), "a=2Eb.=2A.=3E.=3D.=");
        assert_eq!(kv_key(&["Plain-Id_9"]), "Plain-Id_9");
        // Distinct part lists never collide, even when their plain joins would.
        assert_ne!(kv_key(&["a.b"]), kv_key(&["a", "b"]));
        assert_ne!(kv_key(&[""]), kv_key(&[]));
        for parts in [&["acct", "acme corp/ü", "日本", ""][..], &["=41", "a=b", "x.y.>"][..]] {
            let key = kv_key(parts);
            assert!(kv_key_is_valid(&key), "{key}");
            assert_eq!(kv_key_parts(&key).unwrap(), parts);
        }
    }

    #[test]
    fn kv_key_parts_refuses_what_kv_key_never_writes() {
        for bad in ["a=2", "a=zz", "a=2e", "=41", "a=+F", "a b", "a..b", "=FF", "=C3"] {
            assert_eq!(kv_key_parts(bad), None, "{bad}");
        }
    }

    #[test]
    fn kv_keys_and_filters_are_checked_like_nats() {
        assert!(kv_key_is_valid("acct.t1.a=20b/c"));
        for bad in ["", ".a", "a.", "a..b", "a b", "a.*", "a.>", "ü"] {
            assert!(!kv_key_is_valid(bad), "{bad:?}");
        }
        assert!(kv_key_is_valid(&"k".repeat(KV_MAX_KEY_BYTES)));
        assert!(!kv_key_is_valid(&"k".repeat(KV_MAX_KEY_BYTES + 1)));
        for good in ["acct.t1.>", "acct.*.a1", ">", "acct.t1.a1"] {
            assert!(kv_filter_is_valid(good), "{good}");
        }
        for bad in ["acct.>.a1", "acct..>", "", "acct.t 1.>"] {
            assert!(!kv_filter_is_valid(bad), "{bad:?}");
        }
        assert_eq!(kv_bucket_name("siq"), "SIQ_IDENTITY");
        assert_eq!(kv_bucket_name("siq.eu"), "SIQ_EU_IDENTITY");
    }

    #[tokio::test]
    async fn memory_kv_drops_a_watcher_that_went_away() {
        let bus = MemoryBus::new();
        drop(bus.kv_watch("acct.>").await.unwrap());
        let mut live = bus.kv_watch("acct.>").await.unwrap();
        bus.kv_put("acct.t.a", Bytes::from_static(b"1")).await.unwrap();
        assert_eq!(bus.kv().watchers.len(), 1);
        assert_eq!(live.next().await.unwrap().value.unwrap(), "1");
    }
}
