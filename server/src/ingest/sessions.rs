//! The live sessions this instance remembers across reconnects: sequence, sections, visitor,
//! cooldowns and the paging bar's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use shared_physics::emotions::SectionClasses;
use shared_physics::Emotion;

use super::SESSION_IDLE;
use crate::identity::Visitor;
use crate::records::SessionRecord;

/// What the server remembers about a live session, across reconnects.
#[derive(Debug)]
pub struct SessionState {
    pub(super) last_seq: u32,
    /// The last sequence number acknowledged: every frame up to it is durable.
    pub(super) acked: u32,
    pub(super) sections: HashMap<u8, String>,
    /// The class of each named section, filed when its `Section` frame arrives.
    pub(super) classes: SectionClasses,
    pub(super) visitor: Option<Visitor>,
    pub(super) page: String,
    pub(super) started_ms: i64,
    pub(super) last_seen: Instant,
    pub(super) intervened: HashMap<Emotion, Instant>,
    /// When this session last opened an escalation.
    pub(super) paged: Option<Instant>,
    /// Its struggle detections, for the paging bar.
    pub(super) struggle: shared_physics::paging::Persistence,
    /// Wall-clock minutes (ms / 60,000) in which the page reported activity, counted once each.
    pub(super) active_minutes: i64,
    /// The last of them.
    pub(super) last_active_minute: Option<i64>,
    /// The hash of the resume secret the session is bound to, once this instance has seen the
    /// binding (stored in `session_secrets`; `None`: not bound, or not checked here yet).
    pub(super) bound: Option<String>,
}

impl SessionState {
    /// The session as it is recorded.
    pub(super) fn record(&self, tenant: &str, hex: &str) -> SessionRecord {
        SessionRecord {
            tenant_id: tenant.to_string(),
            session: hex.to_string(),
            user: self.visitor.as_ref().map(|v| v.claims.sub.clone()),
            account: self.visitor.as_ref().and_then(|v| v.claims.account.clone()),
            page: self.page.clone(),
            started_ms: self.started_ms,
            active_minutes: self.active_minutes,
        }
    }
}

/// `(tenant id, session id)`.
pub(super) type SessionKey = (String, u64);

/// Live sessions by `(tenant, session)`, with each tenant's count (bounded by `cap`).
pub struct SessionTable {
    map: Mutex<Table>,
    cap: usize,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<SessionKey, Arc<Mutex<SessionState>>>,
    per_tenant: HashMap<String, usize>,
}

impl Default for SessionTable {
    fn default() -> Self {
        SessionTable::with_cap(super::MAX_SESSIONS_PER_TENANT)
    }
}

impl SessionTable {
    /// A table that keeps at most `cap` live sessions per tenant.
    pub fn with_cap(cap: usize) -> SessionTable {
        SessionTable { map: Mutex::new(Table::default()), cap }
    }

    /// How many live sessions `tenant` has here.
    pub fn count(&self, tenant: &str) -> usize {
        self.map.lock().expect("session table lock").per_tenant.get(tenant).copied().unwrap_or(0)
    }

    /// Whether `tenant` may have one more live session here.
    pub(super) fn has_room(&self, tenant: &str) -> bool {
        self.count(tenant) < self.cap
    }

    /// The session's state if it is live here.
    pub(super) fn get(&self, tenant: &str, session: u64) -> Option<Arc<Mutex<SessionState>>> {
        self.map.lock().expect("session table lock").sessions.get(&(tenant.to_string(), session)).cloned()
    }

    /// The session's state, created if it is new and the tenant is under its cap (`None` when
    /// it is at the cap: the caller refuses the session).
    pub(super) fn get_or_insert(&self, tenant: &str, session: u64, page: &str, now_ms: i64) -> Option<Arc<Mutex<SessionState>>> {
        let mut guard = self.map.lock().expect("session table lock");
        let t = &mut *guard;
        let key = (tenant.to_string(), session);
        if let Some(s) = t.sessions.get(&key) {
            return Some(s.clone());
        }
        let n = t.per_tenant.entry(tenant.to_string()).or_default();
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(
            t.sessions
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(Mutex::new(SessionState {
                        last_seq: 0,
                        acked: 0,
                        sections: HashMap::new(),
                        classes: SectionClasses::new(),
                        visitor: None,
                        page: page.to_string(),
                        started_ms: now_ms,
                        last_seen: Instant::now(),
                        intervened: HashMap::new(),
                        paged: None,
                        struggle: shared_physics::paging::Persistence::new(),
                        active_minutes: 0,
                        last_active_minute: None,
                        bound: None,
                    }))
                })
                .clone(),
        )
    }

    /// Forgets sessions idle longer than [`SESSION_IDLE`]; returns how many remain.
    pub fn sweep(&self) -> usize {
        let mut guard = self.map.lock().expect("session table lock");
        let t = &mut *guard;
        let per_tenant = &mut t.per_tenant;
        t.sessions.retain(|(tenant, _), s| {
            let keep = s.lock().map(|s| s.last_seen.elapsed() < SESSION_IDLE).unwrap_or(false);
            if !keep {
                if let Some(n) = per_tenant.get_mut(tenant) {
                    *n = n.saturating_sub(1);
                }
            }
            keep
        });
        per_tenant.retain(|_, n| *n > 0);
        t.sessions.len()
    }
}

/// Open sockets per tenant on this instance, each counted from its first `Hello` until it
/// closes, bounded by `cap` ([`super::MAX_SOCKETS_PER_TENANT`] by default).
pub struct SocketCounts {
    open: Arc<Mutex<HashMap<String, usize>>>,
    cap: usize,
}

impl Default for SocketCounts {
    fn default() -> Self {
        SocketCounts::with_cap(super::MAX_SOCKETS_PER_TENANT)
    }
}

impl SocketCounts {
    /// Counts that allow at most `cap` open sockets per tenant.
    pub fn with_cap(cap: usize) -> SocketCounts {
        SocketCounts { open: Arc::default(), cap }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many sockets `tenant` has open here.
    pub fn open(&self, tenant: &str) -> usize {
        self.open.lock().expect("socket counts").get(tenant).copied().unwrap_or(0)
    }

    /// A place for one more socket of `tenant`, given back when it is dropped; `None` at the cap.
    pub(super) fn take(&self, tenant: &str) -> Option<SocketSlot> {
        let mut open = self.open.lock().expect("socket counts");
        let n = open.entry(tenant.to_string()).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(SocketSlot { tenant: tenant.to_string(), open: self.open.clone() })
    }
}

/// One open socket's place in its tenant's count.
pub(super) struct SocketSlot {
    tenant: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("socket counts");
        if let Some(n) = open.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_sockets_are_capped_and_their_places_come_back() {
        let c = SocketCounts::with_cap(2);
        let (a, b) = (c.take("a").unwrap(), c.take("a").unwrap());
        assert!(c.take("a").is_none(), "past the cap");
        let other = c.take("b");
        assert!(other.is_some(), "another tenant has places of its own");
        drop(a);
        assert_eq!(c.open("a"), 1);
        let again = c.take("a");
        assert!(again.is_some(), "a closed socket's place is back");
        drop((b, again, other));
        assert_eq!((c.open("a"), c.open("b")), (0, 0));
    }
}
