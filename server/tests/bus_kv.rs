//! The bus's key-value facility, one suite run against both backends: the in-process
//! `MemoryBus` and `NatsBus` on the real NATS JetStream at `nats://127.0.0.1:4222`. Every test
//! uses its own bus prefix, so its bucket is its own and runs never collide.
//!
//! "Two instances" are two handles on the same bucket: for NATS two separate connections with
//! the same prefix, in-process the same `MemoryBus` (a process shares one bus).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use sentientiq_server::bus::{kv_bucket_name, kv_key, kv_key_parts, Bus, BusError, KvChange, MemoryBus, NatsBus, KV_MAX_VALUE_BYTES};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// How long a watcher may take to see a change from another instance.
const WAIT: Duration = Duration::from_secs(5);

/// The two backends every test runs against.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Nats,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Nats];

/// A prefix no other test or run uses: the process id, the time, and a per-process counter.
fn unique_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("siqkv{:x}x{nanos:x}x{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Two instances on one bucket, and the prefix they share.
struct Pair {
    a: Arc<dyn Bus>,
    b: Arc<dyn Bus>,
    prefix: String,
    backend: Backend,
}

impl Pair {
    async fn new(backend: Backend) -> Pair {
        let prefix = unique_prefix();
        let (a, b): (Arc<dyn Bus>, Arc<dyn Bus>) = match backend {
            Backend::Memory => {
                let bus = Arc::new(MemoryBus::new());
                (bus.clone(), bus)
            }
            Backend::Nats => (nats(&prefix).await, nats(&prefix).await),
        };
        Pair { a, b, prefix, backend }
    }

    /// A third instance starting later (cold start).
    async fn another(&self) -> Arc<dyn Bus> {
        match self.backend {
            Backend::Memory => self.a.clone(),
            Backend::Nats => nats(&self.prefix).await,
        }
    }

    /// Removes what the test created on the NATS server.
    async fn cleanup(self) {
        if let Backend::Nats = self.backend {
            let js = jetstream().await;
            js.delete_key_value(kv_bucket_name(&self.prefix)).await.unwrap();
            let _ = js.delete_stream(format!("{}_EVENTS", self.prefix.to_uppercase())).await;
        }
    }
}

async fn nats(prefix: &str) -> Arc<dyn Bus> {
    NatsBus::connect(NATS_URL, prefix)
        .await
        .unwrap_or_else(|e| panic!("NATS with JetStream must run at {NATS_URL} for the NATS suite (cargo xtask ci starts it): {e}"))
}

async fn jetstream() -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(NATS_URL).await.unwrap())
}

/// The next change a watcher sees, within [`WAIT`].
async fn next(watch: &mut BoxStream<'static, KvChange>, backend: Backend) -> KvChange {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap_or_else(|_| panic!("{backend:?}: no change reached the watcher within {WAIT:?}"))
        .expect("the watch stays open")
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn put_then_get_returns_the_latest_value_with_rising_revisions() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        let key = kv_key(&["acct", "t1", "a1"]);
        assert_eq!(p.a.kv_get(&key).await.unwrap(), None, "{backend:?}: a key never put reads as None");
        let r1 = p.a.kv_put(&key, b("ltv=100000")).await.unwrap();
        assert_eq!(p.a.kv_get(&key).await.unwrap(), Some(b("ltv=100000")), "{backend:?}");
        let r2 = p.a.kv_put(&key, b("ltv=120000")).await.unwrap();
        assert!(r2 > r1, "{backend:?}: revisions rise ({r1} then {r2})");
        assert_eq!(p.b.kv_get(&key).await.unwrap(), Some(b("ltv=120000")), "{backend:?}: the other instance reads the latest value");
        let r3 = p.a.kv_put(&kv_key(&["acct", "t1", "a2"]), b("ltv=5")).await.unwrap();
        assert!(r3 > r2, "{backend:?}: revisions rise across the whole bucket ({r2} then {r3})");
        p.cleanup().await;
    }
}

#[tokio::test]
async fn a_put_on_one_instance_reaches_the_watcher_on_another() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        let mut watch = p.b.kv_watch("acct.t1.>").await.unwrap();
        let r1 = p.a.kv_put("acct.t1.a1", b("one")).await.unwrap();
        p.a.kv_put("acct.t2.a1", b("another tenant")).await.unwrap();
        let r2 = p.a.kv_put("acct.t1.a2", b("two")).await.unwrap();
        // Changes arrive in revision order, so the other tenant's put, had it matched, would
        // have come between these two.
        assert_eq!(
            next(&mut watch, backend).await,
            KvChange { key: "acct.t1.a1".into(), value: Some(b("one")), revision: r1 },
            "{backend:?}"
        );
        assert_eq!(
            next(&mut watch, backend).await,
            KvChange { key: "acct.t1.a2".into(), value: Some(b("two")), revision: r2 },
            "{backend:?}"
        );
        p.cleanup().await;
    }
}

#[tokio::test]
async fn a_watch_sees_only_changes_made_after_it_started() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        p.a.kv_put("acct.t1.a1", b("before")).await.unwrap();
        let mut watch = p.b.kv_watch("acct.t1.>").await.unwrap();
        let r = p.a.kv_put("acct.t1.a1", b("after")).await.unwrap();
        assert_eq!(
            next(&mut watch, backend).await,
            KvChange { key: "acct.t1.a1".into(), value: Some(b("after")), revision: r },
            "{backend:?}"
        );
        p.cleanup().await;
    }
}

#[tokio::test]
async fn erasing_a_key_reaches_every_watcher_as_none_and_leaves_nothing_to_read() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        let key = kv_key(&["acct", "t1", "jane"]);
        let put = p.a.kv_put(&key, b("value=250000")).await.unwrap();
        let mut watch = p.b.kv_watch("acct.t1.*").await.unwrap();
        p.a.kv_delete(&key).await.unwrap();
        let change = next(&mut watch, backend).await;
        assert_eq!((change.key.as_str(), change.value.as_ref()), (key.as_str(), None), "{backend:?}");
        assert!(change.revision > put, "{backend:?}: the erasure is a later change");
        assert_eq!(p.a.kv_get(&key).await.unwrap(), None, "{backend:?}");
        assert_eq!(p.b.kv_get(&key).await.unwrap(), None, "{backend:?}");
        assert!(p.b.kv_snapshot("acct.>").await.unwrap().is_empty(), "{backend:?}: an erased key is not loaded at cold start");
        // Deleting again (an erasure retried) is not an error.
        p.a.kv_delete(&key).await.unwrap();
        p.cleanup().await;
    }
}

#[tokio::test]
async fn with_nats_no_old_value_survives_an_erasure_in_the_bucket() {
    let p = Pair::new(Backend::Nats).await;
    let key = kv_key(&["acct", "t1", "jane"]);
    let r1 = p.a.kv_put(&key, b("value=250000")).await.unwrap();
    let r2 = p.a.kv_put(&key, b("value=260000")).await.unwrap();
    p.a.kv_delete(&key).await.unwrap();

    // Read the bucket directly, past the bus.
    let kv = jetstream().await.get_key_value(kv_bucket_name(&p.prefix)).await.unwrap();
    let history: Vec<_> = tokio::time::timeout(WAIT, kv.history(&key).await.unwrap().collect::<Vec<_>>()).await.unwrap();
    assert_eq!(history.len(), 1, "only the purge marker is left: {history:?}");
    let marker = history.into_iter().next().unwrap().unwrap();
    assert_eq!(marker.operation, async_nats::jetstream::kv::Operation::Purge);
    assert!(marker.value.is_empty());
    for old in [r1, r2] {
        let entry = kv.entry_for_revision(&key, old).await.ok().flatten();
        assert_eq!(entry, None, "revision {old} is gone");
    }
    let status = kv.status().await.unwrap();
    assert_eq!(status.info.state.messages, 1, "the bucket holds the marker and nothing else");
    p.cleanup().await;
}

#[tokio::test]
async fn awkward_host_ids_round_trip_through_kv_key() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        let (tenant, account) = ("t.1>*", "acme corp/ü");
        let key = kv_key(&["acct", tenant, account]);
        assert_eq!(key, "acct.t=2E1=3E=2A.acme=20corp=2F=C3=BC");
        let filter = format!("{}.>", kv_key(&["acct", tenant]));
        let mut watch = p.b.kv_watch(&filter).await.unwrap();
        let r = p.a.kv_put(&key, b("state")).await.unwrap();
        let change = next(&mut watch, backend).await;
        assert_eq!(change, KvChange { key: key.clone(), value: Some(b("state")), revision: r }, "{backend:?}");
        assert_eq!(kv_key_parts(&change.key).unwrap(), ["acct", tenant, account], "{backend:?}: the watcher recovers the host's ids");
        assert_eq!(p.b.kv_get(&key).await.unwrap(), Some(b("state")), "{backend:?}");
        p.cleanup().await;
    }
}

#[tokio::test]
async fn a_new_instance_loads_the_current_state_then_follows_changes() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        p.a.kv_put("acct.t1.a1", b("old")).await.unwrap();
        p.a.kv_put("acct.t1.a2", b("erased soon")).await.unwrap();
        let r_a1 = p.a.kv_put("acct.t1.a1", b("current")).await.unwrap();
        p.a.kv_delete("acct.t1.a2").await.unwrap();
        let r_a3 = p.a.kv_put("acct.t1.a3", b("three")).await.unwrap();
        p.a.kv_put("acct.t2.a1", b("other tenant")).await.unwrap();

        // Cold start: watch first, then load, so nothing written in between is lost.
        let c = p.another().await;
        let mut watch = c.kv_watch("acct.t1.>").await.unwrap();
        let snapshot = c.kv_snapshot("acct.t1.>").await.unwrap();
        assert_eq!(
            snapshot,
            [
                KvChange { key: "acct.t1.a1".into(), value: Some(b("current")), revision: r_a1 },
                KvChange { key: "acct.t1.a3".into(), value: Some(b("three")), revision: r_a3 },
            ],
            "{backend:?}: the current values, sorted by key, erased and other tenants' keys left out"
        );
        assert_eq!(c.kv_snapshot("acct.t9.>").await.unwrap(), [], "{backend:?}: an empty filter loads nothing");
        assert_eq!(c.kv_snapshot("acct.*.a1").await.unwrap().len(), 2, "{backend:?}: `*` matches one token");

        let r = p.a.kv_put("acct.t1.a3", b("three, updated")).await.unwrap();
        assert!(r > r_a3, "{backend:?}");
        assert_eq!(
            next(&mut watch, backend).await,
            KvChange { key: "acct.t1.a3".into(), value: Some(b("three, updated")), revision: r },
            "{backend:?}"
        );
        p.cleanup().await;
    }
}

#[tokio::test]
async fn oversized_values_and_invalid_keys_are_refused_on_both_backends() {
    for backend in BACKENDS {
        let p = Pair::new(backend).await;
        let at_limit = Bytes::from(vec![7u8; KV_MAX_VALUE_BYTES]);
        p.a.kv_put("acct.t1.big", at_limit.clone()).await.unwrap();
        assert_eq!(p.b.kv_get("acct.t1.big").await.unwrap(), Some(at_limit), "{backend:?}: a value at the limit is kept whole");
        let over = Bytes::from(vec![7u8; KV_MAX_VALUE_BYTES + 1]);
        match p.a.kv_put("acct.t1.big", over).await {
            Err(BusError::KvValueTooLarge { len, max }) => assert_eq!((len, max), (KV_MAX_VALUE_BYTES + 1, KV_MAX_VALUE_BYTES)),
            other => panic!("{backend:?}: one byte past the limit must be refused, got {other:?}"),
        }
        for bad in ["acct.acme corp", "acct..a1", "acct.t1.>", ""] {
            assert!(matches!(p.a.kv_put(bad, b("x")).await, Err(BusError::KvKey(_))), "{backend:?}: put {bad:?}");
            assert!(matches!(p.a.kv_get(bad).await, Err(BusError::KvKey(_))), "{backend:?}: get {bad:?}");
            assert!(matches!(p.a.kv_delete(bad).await, Err(BusError::KvKey(_))), "{backend:?}: delete {bad:?}");
        }
        assert!(matches!(p.a.kv_watch("acct.>.a1").await, Err(BusError::KvKey(_))), "{backend:?}");
        assert!(matches!(p.a.kv_snapshot("acct t1.>").await, Err(BusError::KvKey(_))), "{backend:?}");
        p.cleanup().await;
    }
}
