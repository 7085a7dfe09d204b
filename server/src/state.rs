//! The shared state of the edges (the API handlers, the router and start-up): every
//! subsystem's handle in one cheap-to-clone value. The subsystems never see it: each holds only
//! its own ports ([`ingest::Hub`], [`People`], [`Escalation`]), which the edges take from here.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::bus::{Bus, Publisher};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::escalation::Escalation;
use crate::identity::jwt::JwksCache;
use crate::identity::keyring::Keyring;
use crate::identity::{IdentityCache, People};
use crate::ingest;
use crate::interventions::Learning;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The shared state behind [`AppState`].
pub struct Inner {
    /// Configuration.
    pub config: Config,
    /// Base URL for links.
    pub public_url: String,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Event bus.
    pub bus: Arc<dyn Bus>,
    /// Durable events and pushes onto the bus.
    pub events: Publisher,
    /// Tenants, keys and account values in memory (the same cache as `people.cache`).
    pub identity: Arc<IdentityCache>,
    /// The identity subsystem.
    pub people: People,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The socket edge: live sessions and this instance's sockets.
    pub ingest: ingest::Hub,
    /// The escalation subsystem.
    pub escalation: Escalation,
    /// Keys that seal personal fields at rest.
    pub keyring: Arc<Keyring>,
    /// Host JWKS key sets, fetched and cached.
    pub jwks: Arc<JwksCache>,
    /// Intervention variants and their arm counts.
    pub learning: Arc<Learning>,
    /// Failed sign-ins and the password-hashing pool.
    pub logins: crate::identity::throttle::LoginThrottle,
    /// Time.
    pub clock: SharedClock,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for ingest::Hub {
    fn from_ref(app: &AppState) -> ingest::Hub {
        app.ingest.clone()
    }
}
