//! The sockets on this instance that pushes can reach.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use shared_physics::wire::{self, Frame, Intervene, MAX_FRAME_BYTES};
use tokio::sync::mpsc;

use super::sessions::SessionKey;
use crate::records::events::Push;

/// Local sockets that pushes can reach, by `(tenant, session)`.
#[derive(Default)]
pub struct PushRegistry {
    map: Mutex<HashMap<SessionKey, mpsc::Sender<Bytes>>>,
}

impl PushRegistry {
    pub(super) fn register(&self, tenant: &str, session: u64, tx: mpsc::Sender<Bytes>) {
        self.map.lock().expect("push registry lock").insert((tenant.to_string(), session), tx);
    }

    pub(super) fn unregister(&self, tenant: &str, session: u64, tx: &mpsc::Sender<Bytes>) {
        let mut m = self.map.lock().expect("push registry lock");
        let key = (tenant.to_string(), session);
        if m.get(&key).is_some_and(|t| t.same_channel(tx)) {
            m.remove(&key);
        }
    }

    /// Delivers an intervention to the local socket of its session, if this instance has it.
    pub fn deliver(&self, p: &Push) -> bool {
        let Some(tx) = self.map.lock().expect("push registry lock").get(&(p.tenant_id.clone(), p.session)).cloned() else {
            return false;
        };
        let frame = Frame::Intervene(Intervene { id: p.id, emotion: p.emotion, text: &p.text });
        let mut buf = [0u8; MAX_FRAME_BYTES];
        match wire::encode(0, &frame, &mut buf) {
            Ok(b) => tx.try_send(Bytes::copy_from_slice(b)).is_ok(),
            Err(e) => {
                tracing::error!(tenant = %p.tenant_id, error = %e, "intervention does not fit a frame");
                false
            }
        }
    }
}
