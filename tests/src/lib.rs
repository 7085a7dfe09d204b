//! End-to-end tests of SentientIQ and the tools around them.
//!
//! The journeys in `tests/` drive the real product the way people meet it: a shop embeds the
//! one-line snippet in its store page, a real (headless) Chromium loads it, a pointer moved
//! through the browser's own input pipeline rages at a dead button, the server confirms the
//! detection from its evidence, pushes help back into the page and texts the CEO through a
//! local Twilio that speaks the real Messages API.
//!
//! * [`fakes`]: local fakes of external providers (Twilio).
//! * [`host`]: what the demo shop's backend does, through the server's API only.
//! * [`browser`]: Chromium over the DevTools protocol, with human-ish pointer input.
//! * [`corpus`]: the labelled trace corpus, recorded from the real SDK in scripted scenarios.
//! * [`journey`]: steps the journeys share (settling in, raging, reading the alert).
//! * [`stack`]: fake + server + provisioned shop, on the embedded or the PostgreSQL + NATS backend.
//! * [`socket`]: a session on the server's WebSocket as the SDK speaks it (the benches' clients).
//! * [`util`]: folders, temporary directories, waiting.
//!
//! The binaries `demo-host` (for `cargo xtask demo`), `bench-latency` (for `cargo xtask bench
//! latency`) and `record-corpus` (writes `corpus/`) are built from the same pieces.

pub mod browser;
pub mod corpus;
pub mod fakes;
pub mod host;
pub mod journey;
pub mod socket;
pub mod stack;
pub mod util;
