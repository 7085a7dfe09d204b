//! The durable facts: what the server records about tenants, people, sessions, detections,
//! interventions, escalations and cards, with typed fields. Every stage speaks these types; the
//! [`crate::store`] writes and reads them, the [`crate::bus`] carries them as [`events`].

pub mod events;
pub mod format;
pub mod redact;

use serde::{Deserialize, Serialize};
use shared_physics::Emotion;

/// Longest id, name or address accepted from outside (a request, a CSV row), in bytes.
pub const MAX_FIELD_BYTES: usize = 256;

/// Longest id, name or address a JSON request may carry, in characters (what the OpenAPI
/// document's `maxLength` counts; at most four bytes each).
pub const MAX_FIELD_CHARS: usize = 256;

/// A value stored and sent by its name.
pub trait Named: Copy + Sized {
    /// The name.
    fn name(self) -> &'static str;
    /// The value of that name, if any.
    fn parse(name: &str) -> Option<Self>;
}

impl Named for Emotion {
    fn name(self) -> &'static str {
        Emotion::name(self)
    }
    fn parse(name: &str) -> Option<Emotion> {
        Emotion::from_name(name)
    }
}

impl Named for KeyKind {
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn parse(name: &str) -> Option<KeyKind> {
        KeyKind::parse(name)
    }
}

/// A closed vocabulary stored and sent by its lower-case name: the enum with `ALL`, `name`,
/// `parse` and `names`, and serde by name.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $ty:ident { $($(#[$vmeta:meta])* $variant:ident = $name:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $ty {
            $($(#[$vmeta])* $variant),+
        }

        impl $ty {
            /// Every value, in order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The lower-case name (as serialised and stored).
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value named `name`, if it is one.
            pub fn parse(name: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }

            /// Every name, for error messages.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.name()).collect()
            }
        }

        impl Named for $ty {
            fn name(self) -> &'static str {
                $ty::name(self)
            }
            fn parse(name: &str) -> Option<$ty> {
                $ty::parse(name)
            }
        }
    };
}

vocabulary!(
    /// The one-tap states a customer can share about themselves (the widget,
    /// `SentientIQ.context`, the API).
    Context {
        /// "I'm busy": no in-page interruption.
        Busy = "busy",
        /// "I'm stuck".
        Stuck = "stuck",
        /// "Just exploring".
        Exploring = "exploring",
        /// "I'm frustrated".
        Frustrated = "frustrated",
    }
);

vocabulary!(
    /// Where an escalation is.
    EscalationState {
        /// Being paged down the chain.
        Open = "open",
        /// A person took it: nobody further down is paged.
        Acknowledged = "acknowledged",
        /// Every contact of the chain was paged and nobody acknowledged.
        Exhausted = "exhausted",
    }
);

vocabulary!(
    /// Where a conversation card is.
    CardState {
        /// Waiting for a person.
        Pending = "pending",
        /// A person took it up.
        Actioned = "actioned",
        /// Done, with its outcome.
        Completed = "completed",
    }
);

/// Serde of an [`Emotion`] by its lower-case name (`"rage"`), as records and events carry it; an
/// unknown name is an error, never another emotion.
pub mod emotion_name {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use shared_physics::Emotion;

    /// Writes the name.
    pub fn serialize<S: Serializer>(e: &Emotion, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(e.name())
    }

    /// Reads a name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Emotion, D::Error> {
        let name = String::deserialize(d)?;
        Emotion::from_name(&name).ok_or_else(|| D::Error::custom(format!("unknown emotion {name:?}")))
    }
}

/// A random `u32` (ids only; nothing behind an insight is random).
pub fn random_u32() -> u32 {
    rand::random()
}
/// A tenant as the server needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tenant {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Publishable key the SDK sends in `Hello`.
    pub site_key: String,
    /// SHA-256 (hex) of the secret API key.
    pub secret_key_hash: String,
    /// HS256 secret the host signs visitor JWTs with.
    pub jwt_secret: String,
    /// Creation time, ms.
    pub created_ms: i64,
    /// The detector thresholds the tenant set, JSON (see `thresholds::Thresholds`).
    pub thresholds: String,
    /// How visitor tokens are verified, JSON of `jwt::TokenPolicy` (empty: HS256 with
    /// `jwt_secret`).
    pub token_policy: String,
    /// Share of decisions held out as control (no intervention).
    pub holdout_share: f64,
    /// How long after a decision an outcome is attributed to it, ms.
    pub outcome_window_ms: i64,
    /// Days session data (sessions, detections, interventions, alerts, contexts) is kept.
    pub retention_days: i64,
}

/// An account with its lifetime value.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Account {
    /// The host's account id.
    pub account: String,
    /// Display name.
    pub name: String,
    /// Sum of the account's transactions, cents.
    pub value_cents: i64,
    /// Sum of its transactions in the last 90 days (`RECENT_REVENUE_MS` of the SQL store), cents.
    pub recent_cents: i64,
}

/// One person in a tenant's escalation chain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contact {
    /// Stable id.
    pub id: String,
    /// Order in the chain (0 = first paged).
    pub position: i64,
    /// Name.
    pub name: String,
    /// Role, e.g. `CEO`.
    pub role: String,
    /// First channel: `sms`, `whatsapp`, `slack`, `pagerduty`, `email` or `webhook`.
    pub channel: String,
    /// Its address: phone number (E.164), webhook URL, routing key or email address.
    pub address: String,
    /// Paged only for accounts worth at least this, cents (0: every escalation).
    pub min_value_cents: i64,
    /// Further channels, tried in order when the ones before fail.
    pub fallbacks: Vec<Endpoint>,
}

/// One way of reaching a contact: a channel and its address (sealed at rest).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// Stable id (`cf_…`; the contact's own id for its first channel).
    pub id: String,
    /// `sms`, `whatsapp`, `slack`, `pagerduty`, `email` or `webhook`.
    pub channel: String,
    /// Phone number, webhook URL, routing key or email address.
    pub address: String,
}

/// An escalation of one confirmed struggle, persisted before its first page and walked down the
/// tenant's chain until somebody acknowledges it (docs/escalation.md).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct EscalationRecord {
    /// `es_{session}_{seq}`: one per detection, whichever instance opens it.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session struggling.
    pub session: String,
    /// Sequence number of the detection that met the paging bar.
    pub seq: i64,
    /// The visitor (`sub`).
    pub sub: Option<String>,
    /// The visitor's display name (or `sub`).
    pub person_name: String,
    /// Account name (or id).
    pub account_name: String,
    /// Emotion.
    #[serde(with = "emotion_name")]
    pub emotion: Emotion,
    /// Section.
    pub section: String,
    /// Server-confirmed confidence.
    pub confidence: f64,
    /// Account lifetime value, cents.
    pub value_cents: i64,
    /// `open`, `acknowledged` or `exhausted` (everyone paged, nobody acknowledged).
    pub state: EscalationState,
    /// Contacts of the chain paged so far (the index of the next one).
    pub step: i64,
    /// When the next contact is due, ms.
    pub next_at_ms: i64,
    /// Instance holding the claim, if any.
    pub claimed_by: Option<String>,
    /// When the claim lapses, ms.
    pub claim_until_ms: i64,
    /// Contact (or dashboard user) who acknowledged.
    pub acked_by: Option<String>,
    /// When, ms.
    pub acked_ms: Option<i64>,
    /// When the detection was confirmed, ms.
    pub detected_ms: i64,
    /// When the escalation was opened, ms.
    pub created_ms: i64,
    /// Last change, ms.
    pub updated_ms: i64,
}

/// A session's identity, recorded when it says hello.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// Tenant.
    pub tenant_id: String,
    /// Session id (16 hex digits).
    pub session: String,
    /// Verified `sub` of the visitor, if identified.
    pub user: Option<String>,
    /// Account of the visitor, if known.
    pub account: Option<String>,
    /// Page path.
    pub page: String,
    /// First hello, ms.
    pub started_ms: i64,
    /// Wall-clock minutes in which the page reported activity (`Physics` frames).
    #[serde(default)]
    pub active_minutes: i64,
}

/// One data frame a session sent and the server acknowledged: the ingest journal. A frame is
/// acknowledged to the page only once this record (and every event the frame caused) is durable,
/// so counting these rows counts what was acknowledged; `(tenant, session, seq)` is unique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FrameRecord {
    /// Tenant.
    pub tenant_id: String,
    /// Session id (16 hex digits).
    pub session: String,
    /// The frame's sequence number within the session.
    pub seq: i64,
    /// What it carried: `physics`, `detection`, `section` or `note`.
    pub kind: String,
    /// When the server received it, ms.
    pub received_ms: i64,
}

/// A server-confirmed detection.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DetectionRecord {
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: String,
    /// Frame sequence number (with the session: the idempotency key).
    pub seq: i64,
    /// Emotion name.
    #[serde(with = "emotion_name")]
    pub emotion: Emotion,
    /// Server-recomputed confidence, 0..1.
    pub confidence: f64,
    /// What the client claimed, 0..1.
    pub client_confidence: f64,
    /// Section name (empty when none).
    pub section: String,
    /// Visitor, if identified.
    pub user: Option<String>,
    /// The visitor's display name, if their token carried one.
    pub user_name: Option<String>,
    /// Account, if known.
    pub account: Option<String>,
    /// Account name, if known.
    pub account_name: Option<String>,
    /// Account lifetime value at detection time, cents (0 when unknown).
    pub value_cents: i64,
    /// The recomputed features.
    pub features: serde_json::Value,
    /// The evidence window as it arrived (postcard-encoded samples). The API leaves it out.
    pub evidence: Vec<u8>,
    /// Time of the trigger in the page, ms since page start.
    pub t_ms: i64,
    /// When the server confirmed it, ms since the epoch.
    pub created_ms: i64,
}

/// An intervention pushed to a page.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct InterventionRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: String,
    /// Sequence number of the detection it answers.
    pub seq: i64,
    /// Emotion answered.
    #[serde(with = "emotion_name")]
    pub emotion: Emotion,
    /// Text shown.
    pub text: String,
    /// Decision time, ms.
    pub created_ms: i64,
}

/// An alert to a human and how its delivery went.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AlertRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session id.
    pub session: String,
    /// Contact paged.
    pub contact_id: String,
    /// Channel used.
    pub channel: String,
    /// The address used, masked ([`redact::mask_address`]): the record is readable by every
    /// role and travels on the bus.
    pub address: String,
    /// `sent` or `failed`.
    pub status: String,
    /// The provider's id of the message, when sent.
    pub provider_id: Option<String>,
    /// The last error, when failed.
    pub error: Option<String>,
    /// Delivery attempts made.
    pub attempts: i64,
    /// The session link the message carried, without its signatures
    /// ([`redact::link_without_secrets`]).
    pub link: String,
    /// Time, ms.
    pub created_ms: i64,
    /// The escalation it belongs to.
    pub escalation_id: Option<String>,
    /// Every delivery attempt ([`crate::escalation::channels::Attempt`]s, JSON).
    pub attempt_log: serde_json::Value,
}

/// A tenant-defined intervention variant for an (emotion, section); section `""` means any.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct VariantRecord {
    /// Stable id, unique in the tenant.
    pub id: String,
    /// Emotion it answers.
    #[serde(with = "emotion_name")]
    #[schema(value_type = String)]
    pub emotion: Emotion,
    /// Section name it is for (`""`: any section without its own variants).
    pub section: String,
    /// `message`, `help`, `discount`, `callback`, `card` or `nothing`.
    pub kind: String,
    /// What the customer sees (empty for `card` and `nothing`).
    pub text: String,
    /// Created, ms.
    pub created_ms: i64,
}

/// One decision of the intervention policy, as recorded (replayable from `decision`).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DecisionRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session.
    pub session: String,
    /// Sequence number of the detection decided on.
    pub seq: i64,
    /// The customer, when identified.
    pub sub: Option<String>,
    /// Emotion.
    #[serde(with = "emotion_name")]
    pub emotion: Emotion,
    /// Section key the variants were chosen for (`""`: the tenant-wide variants).
    pub section: String,
    /// In the holdout (no intervention).
    pub holdout: bool,
    /// The variant chosen (none in the holdout).
    pub variant_id: Option<String>,
    /// The holdout share in force.
    pub holdout_share: f64,
    /// `bandit::Decision` as JSON: seed, draws and posteriors.
    pub decision: serde_json::Value,
    /// Decided, ms.
    pub created_ms: i64,
}

/// A conversation card: a prepared opener for a human.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CardRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Session.
    pub session: String,
    /// The customer, when identified.
    pub sub: Option<String>,
    /// Emotion detected.
    #[serde(with = "emotion_name")]
    #[schema(value_type = String)]
    pub emotion: Emotion,
    /// Section it happened in.
    pub section: String,
    /// The opener for the human (from `cards::opener`).
    pub opener: String,
    /// `pending`, `actioned` or `completed`.
    pub state: CardState,
    /// How it ended (completed cards).
    pub outcome: Option<String>,
    /// Who last moved it (`user:{id}` or `key:{id}`).
    pub actor: Option<String>,
    /// Created, ms.
    pub created_ms: i64,
    /// Last moved, ms.
    pub updated_ms: i64,
}

/// Whose newest decision an outcome belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeFor<'a> {
    /// A session (hex id).
    Session(&'a str),
    /// A person (`sub`).
    Person(&'a str),
}

/// One arm's counts: `(tenant, emotion, section, variant, successes, failures)`.
pub type ArmRow = (String, String, String, String, i64, i64);

/// Conversions among decisions, for the uplift: `(emotion, treated conversions, treated n,
/// holdout conversions, holdout n)`.
pub type UpliftCounts = Vec<(String, i64, i64, i64, i64)>;

/// What an API key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The SDK's site key (`pk_…`): public, sent in `Hello`, stored as is.
    Publishable,
    /// The host backend's key (`sk_…`): stored as SHA-256 only, shown once.
    Secret,
}

impl KeyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Publishable => "publishable",
            KeyKind::Secret => "secret",
        }
    }
    /// From the stored name.
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "publishable" => Some(KeyKind::Publishable),
            "secret" => Some(KeyKind::Secret),
            _ => None,
        }
    }
}

/// An API key as stored (never the secret itself).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiKey {
    /// Stable id (`key_…`).
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Publishable or secret.
    pub kind: KeyKind,
    /// The publishable key itself, or the SHA-256 (hex) of a secret key.
    #[serde(skip)]
    pub lookup: String,
    /// Last characters of a publishable key (empty for secret keys).
    pub hint: String,
    /// Created, ms.
    pub created_ms: i64,
    /// Revoked, ms (a revoked key authenticates nothing).
    pub revoked_ms: Option<i64>,
}

/// A dashboard user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    /// Stable id (`u_…`).
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Blind index of the normalised email (login lookup).
    #[serde(skip)]
    pub email_index: String,
    /// The email, sealed (`secrets::Keyring`).
    #[serde(skip)]
    pub email_sealed: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// `owner`, `member` or `viewer`.
    pub role: String,
    /// Created, ms.
    pub created_ms: i64,
}

/// A customer seen in an identified session (what the persister records).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CustomerSeen {
    /// Tenant.
    pub tenant_id: String,
    /// The host's user id.
    pub sub: String,
    /// Their account, if the token named one.
    pub account: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Email, sealed (never plain on the bus or in the store).
    pub email_sealed: Option<String>,
    /// Blind index of the email.
    pub email_index: Option<String>,
    /// Company domain from the email (free-mail providers excluded).
    pub company: Option<String>,
    /// When, ms.
    pub seen_ms: i64,
}

/// A customer with their current strength.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Customer {
    /// The host's user id.
    pub sub: String,
    /// Account.
    pub account: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Email, sealed (the API opens it).
    #[serde(skip)]
    pub email_sealed: Option<String>,
    /// Company domain.
    pub company: Option<String>,
    /// First identified session, ms.
    pub first_seen_ms: i64,
    /// Latest identified session, ms.
    pub last_seen_ms: i64,
    /// Identity strength 0..=100 (0 until first scored).
    pub strength: f64,
    /// Segment name.
    pub segment: String,
    /// The factors of the strength (JSON array).
    pub factors: serde_json::Value,
    /// When the strength was computed, ms.
    pub scored_ms: i64,
}

/// A one-tap state a customer shared.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ContextRecord {
    /// Stable id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The customer.
    pub sub: String,
    /// `busy`, `stuck`, `exploring` or `frustrated`.
    pub state: Context,
    /// Set, ms.
    pub set_ms: i64,
    /// Expires, ms.
    pub expires_ms: i64,
}

/// A daily strength snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SnapshotRecord {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Strength that day (the last computed).
    pub score: f64,
    /// Its factors (JSON array).
    pub factors: serde_json::Value,
}

/// One audit-log entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Stable id (time-ordered).
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Who: `user:{id}`, `key:{id}` or `operator`.
    pub actor: String,
    /// What, e.g. `thresholds.set`.
    pub action: String,
    /// On what (people appear only as a pseudonymous reference).
    pub target: String,
    /// Details (JSON).
    pub details: serde_json::Value,
    /// When, ms.
    pub at_ms: i64,
}

/// The largest amount one transaction may carry, either way (refunds are negative), in cents:
/// $100 billion. Checked where a transaction enters (API and CSV).
pub const MAX_TRANSACTION_CENTS: i64 = 10_000_000_000_000;

/// The largest value an account may sum to, either way, in cents: $10 trillion. A transaction
/// that would take its account past it is refused, so no sum the server computes over an
/// account's transactions can overflow (the start-up load sums every account).
pub const MAX_ACCOUNT_VALUE_CENTS: i64 = 1_000_000_000_000_000;

/// A recorded transaction.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct TransactionRecord {
    /// The host's id (idempotency key).
    pub id: String,
    /// Account.
    pub account: String,
    /// Amount, cents (refunds negative).
    pub amount_cents: i64,
    /// When, ms.
    pub at_ms: i64,
}

/// What the strength model reads about one customer, as counted by the store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerFacts {
    /// The customer.
    pub sub: String,
    /// Their account.
    pub account: Option<String>,
    /// First seen, ms.
    pub first_seen_ms: i64,
    /// Last seen, ms.
    pub last_seen_ms: i64,
    /// Sessions started in the last 30 days.
    pub sessions_30d: i64,
    /// Distinct UTC days with a session in the last 30 days.
    pub active_days_30d: i64,
    /// Confirmed detections in the last 30 days: (emotion, summed confidence).
    pub detections_30d: Vec<(String, f64)>,
    /// Latest unexpired one-tap state.
    pub context: Option<String>,
    /// The account's transactions.
    pub purchases: i64,
    /// Distinct months (30-day buckets) with a purchase in the last 12.
    pub months_with_purchase_12m: i64,
    /// Lifetime value of the account, cents.
    pub lifetime_value_cents: i64,
    /// Revenue of the account in the last 90 days, cents.
    pub revenue_90d_cents: i64,
    /// The current strength before recomputation.
    pub strength: f64,
}

/// One customer's new strength, for [`crate::store::CustomerStore::set_strengths`].
#[derive(Clone, Debug, PartialEq)]
pub struct StrengthRow {
    /// The customer.
    pub sub: String,
    /// Score 0..=100.
    pub score: f64,
    /// Segment name.
    pub segment: String,
    /// Factors, JSON.
    pub factors: String,
}

/// A column holding a sealed value: a personal field or a tenant's visitor-token secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedColumn {
    /// `customers.email` (row id: `sub`).
    CustomerEmail,
    /// `users.email` (row id: `id`).
    UserEmail,
    /// `contacts.address` (row id: `id`).
    ContactAddress,
    /// `contact_fallbacks.address` (row id: `id`).
    FallbackAddress,
    /// `tenants.jwt_secret`, the HS256 secret visitor tokens are signed with (row id: the
    /// tenant's `id`).
    TenantJwtSecret,
    /// `tenants.token_policy`, the identity settings as JSON, `hs_secret` included (row id: the
    /// tenant's `id`; empty: HS256 with `jwt_secret`, nothing to seal).
    TenantTokenPolicy,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [SealedColumn; 6] = [
        SealedColumn::CustomerEmail,
        SealedColumn::UserEmail,
        SealedColumn::ContactAddress,
        SealedColumn::FallbackAddress,
        SealedColumn::TenantJwtSecret,
        SealedColumn::TenantTokenPolicy,
    ];

    /// `(table, row id column, value column)`.
    pub fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SealedColumn::CustomerEmail => ("customers", "sub", "email"),
            SealedColumn::UserEmail => ("users", "id", "email"),
            SealedColumn::ContactAddress => ("contacts", "id", "address"),
            SealedColumn::FallbackAddress => ("contact_fallbacks", "id", "address"),
            SealedColumn::TenantJwtSecret => ("tenants", "id", "jwt_secret"),
            SealedColumn::TenantTokenPolicy => ("tenants", "id", "token_policy"),
        }
    }

    /// The column naming the row's tenant: `tenant_id`, except in `tenants` itself (`id`).
    pub fn tenant_column(self) -> &'static str {
        match self {
            SealedColumn::TenantJwtSecret | SealedColumn::TenantTokenPolicy => "id",
            _ => "tenant_id",
        }
    }
}

/// Rows removed per table by an erasure or a retention sweep.
pub type Removed = Vec<(&'static str, u64)>;

/// Sort order of the customer list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerOrder {
    /// Weakest first (who needs attention).
    StrengthAsc,
    /// Strongest first.
    StrengthDesc,
}

/// Where a page of customers starts: after this `(strength, sub)`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CustomerCursor {
    /// Strength of the last row returned.
    pub strength: f64,
    /// Its sub.
    pub sub: String,
}

/// Where a time-ordered page starts: after this `(ms, id)` going back in time.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct TimeCursor {
    /// Time of the last row returned.
    pub ms: i64,
    /// Its id.
    pub id: String,
}

/// A strength drop of more than `EROSION_DROP_POINTS` points from the previous day's
/// snapshot, published on the bus (`{prefix}.events.erosion.{tenant}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErosionRecord {
    /// Tenant.
    pub tenant_id: String,
    /// The customer.
    pub sub: String,
    /// Day of the previous snapshot.
    pub from_day: i64,
    /// Previous score.
    pub from: f64,
    /// New score.
    pub to: f64,
    /// When, ms.
    pub at_ms: i64,
}
