//! Local fakes of external providers the server talks to (SMS, Slack, PagerDuty, email,
//! webhooks, an OpenAI-compatible model endpoint). Each speaks the provider's real,
//! documented protocol (paths, auth, form fields, error codes, response shapes), so the server's
//! channel clients are tested against the wire format they will meet in production, and each
//! fails on demand ([`faults`]): 429 with `Retry-After`, 5xx, hangs past the client's timeout,
//! slow answers (SMTP: 4xx and 5xx reply codes).

pub mod faults;
pub mod openai;
pub mod pagerduty;
pub mod slack;
pub mod smtp;
pub mod twilio;
pub mod webhook;

pub use faults::{Failure, Faults};
pub use openai::FakeOpenAi;
pub use pagerduty::FakePagerDuty;
pub use slack::FakeSlack;
pub use smtp::{FakeSmtp, ReceivedMail};
pub use twilio::{FakeTwilio, SentSms, TwilioCredentials};
pub use webhook::FakeWebhookReceiver;
