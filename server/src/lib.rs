//! # SentientIQ server
//!
//! The folders follow the path of a frame from the page to a person; read them in this order.
//!
//! 1. **ingest** ([`ingest`]): the SDK's Web Worker holds a binary WebSocket on `/v1/ws` (or,
//!    when the page goes away, posts its queue to `/v1/beacon`). Frames are postcard
//!    [`shared_physics::wire`] envelopes; the first is `Hello` (the SDK's `SecureHello`), which
//!    binds the connection to a tenant (by site key, from the in-memory [`identity`] cache), to
//!    its session when it holds the session's resume secret (stored at the session's first
//!    `SecureHello`) and, with a verified host JWT, to a person and account. The connection
//!    carries out what the later stages decide.
//! 2. **confirm** ([`confirm`]): a `Detection` carries its evidence window; the server reruns the
//!    same `shared-physics` detector on it with the tenant's thresholds. The client's confidence
//!    is never trusted; overturned and disagreeing detections are counted ([`telemetry`]).
//! 3. **identity** ([`identity`]): who the visitor is (host JWT, JWKS), their account and its
//!    value, their company, their one-tap state and identity strength; what is sealed at rest
//!    and the person's data rights.
//! 4. **interventions** ([`interventions`]): above the bar and outside the cooldown, a variant
//!    chosen by Thompson sampling (with a holdout that gets nothing) is pushed into the page
//!    through the bus (`{prefix}.push.{tenant}.{session}`); whichever instance holds the socket
//!    delivers it. Conversation cards and outcomes live here too.
//! 5. **escalation** ([`escalation`]): when an identified visitor of an account worth at least the
//!    critical value struggles over more than one burst, an escalation is persisted and the
//!    tenant's chain is paged contact by contact ([`escalation::channels`](mod@escalation::channels): SMS, WhatsApp, Slack,
//!    PagerDuty, email, webhooks) with a signed, expiring one-click link to the session view.
//! 6. **persist** ([`bus`], [`store`]): what happened is published as durable [`records`]
//!    (`{prefix}.events.*`) and written by the persister through the store, never on the hot
//!    path. The dashboard's live feed reads the same events.
//! 7. **forensics** ([`forensics`]): after the fact, from what was persisted: emotion → outcome,
//!    prevented churn (uplift against the holdout × value at risk, with its interval), the
//!    quarterly projection and the ROI report, the emotional volatility index and the daily
//!    weather, the public failure page, and the plot of what happened in a session. Pure
//!    functions of store rows; the API reads the rows and serves the figures.
//!
//! Around the path: [`api`] (the REST API, its auth and its errors), [`config`], [`clock`],
//! [`telemetry`], and the edges' wiring, [`state`] and [`server`].
//!
//! Backends: [`store::SqlStore`] on SQLite (default) or PostgreSQL; [`bus::MemoryBus`]
//! (default) or [`bus::NatsBus`] (JetStream). [`server::start`] wires them from a
//! [`config::Config`].

pub mod api;
pub mod bus;
pub mod clock;
pub mod config;
pub mod confirm;
pub mod escalation;
pub mod forensics;
pub mod identity;
pub mod ingest;
pub mod interventions;
pub mod listener;
pub mod outbound;
pub mod records;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;

pub use server::{start, Running, StartError};
pub use state::AppState;
