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

/// Live sessions by `(tenant, session)`.
#[derive(Default)]
pub struct SessionTable {
    map: Mutex<HashMap<SessionKey, Arc<Mutex<SessionState>>>>,
}

impl SessionTable {
    pub(super) fn get_or_insert(&self, tenant: &str, session: u64, page: &str, now_ms: i64) -> Arc<Mutex<SessionState>> {
        let mut m = self.map.lock().expect("session table lock");
        m.entry((tenant.to_string(), session))
            .or_insert_with(|| {
                Arc::new(Mutex::new(SessionState {
                    last_seq: 0,
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
                }))
            })
            .clone()
    }

    /// Forgets sessions idle longer than [`SESSION_IDLE`]; returns how many remain.
    pub fn sweep(&self) -> usize {
        let mut m = self.map.lock().expect("session table lock");
        m.retain(|_, s| s.lock().map(|s| s.last_seen.elapsed() < SESSION_IDLE).unwrap_or(false));
        m.len()
    }
}
