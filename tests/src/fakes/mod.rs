//! Local fakes of the external providers the server talks to. Each speaks the provider's real,
//! documented protocol (paths, auth, form fields, error codes, response shapes), so the server's
//! channel clients are tested against the wire format they will meet in production.

pub mod twilio;

pub use twilio::{FakeTwilio, SentSms, TwilioCredentials};
