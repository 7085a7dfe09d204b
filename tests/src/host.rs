//! What the demo's host app does — a fictional shop that adopts SentientIQ — through the
//! server's public API only: it signs up as a tenant, tells the server who its customers are and
//! what they are worth, names who to call when one of them struggles, signs its visitors'
//! identity with its own backend secret, and embeds the one-line snippet in its store page.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The demo tenant's name.
pub const STORE_NAME: &str = "Demo Store";
/// The store page template under `www/`, rendered into the site folder under the same name.
pub const STORE_PAGE: &str = "store.html";
/// How long the visitor's identity token stays valid.
pub const IDENTITY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A customer of the demo store, as the host knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// The host's user id (the token's `sub`).
    pub user: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The account (company) the user belongs to.
    pub account: String,
    /// The account's display name.
    pub account_name: String,
    /// The account's lifetime value, cents (one transaction of this amount).
    pub value_cents: i64,
}

impl Customer {
    /// Jane Doe of Acme Corp, a $100,000 account.
    pub fn jane() -> Customer {
        Customer {
            user: "u_jane".into(),
            email: "jane@acme.example".into(),
            name: "Jane Doe".into(),
            account: "acme".into(),
            account_name: "Acme Corp".into(),
            value_cents: 10_000_000,
        }
    }
}

/// A person of the escalation chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Channel (`sms`, …).
    pub channel: String,
    /// Address on that channel (E.164 for SMS).
    pub address: String,
}

impl Contact {
    /// Dana Reyes, the CEO, by SMS.
    pub fn ceo() -> Contact {
        Contact { name: "Dana Reyes".into(), role: "CEO".into(), channel: "sms".into(), address: "+15550100".into() }
    }
}

/// The demo tenant's first dashboard owner (signs in on the dashboard).
pub const OWNER_EMAIL: &str = "dana@demo-store.example";
/// Their password (the demo's; a real tenant's owner picks their own).
pub const OWNER_PASSWORD: &str = "demo dashboard password";

/// The provisioned demo: keys, the identified visitor, and where to look.
#[derive(Clone, Debug)]
pub struct DemoSite {
    /// The server's base URL (no trailing slash).
    pub server_url: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Publishable key for the SDK (`pk_…`).
    pub site_key: String,
    /// Secret key for the host backend (`sk_…`).
    pub secret_key: String,
    /// HS256 secret the host signs visitor tokens with.
    pub jwt_secret: String,
    /// The visitor's identity token (a JWT for [`DemoSite::customer`]).
    pub identity_token: String,
    /// The identified visitor.
    pub customer: Customer,
    /// The first person of the escalation chain.
    pub contact: Contact,
    /// The rendered store page, as served.
    pub store_url: String,
    /// The business dashboard.
    pub dashboard_url: String,
    /// The one-line snippet a site embeds.
    pub snippet: String,
    /// Where the rendered store page was written.
    pub store_file: PathBuf,
}

impl DemoSite {
    /// The tenant's API as its backend uses it (with the secret key).
    pub fn api(&self) -> TenantApi {
        TenantApi::new(&self.server_url, &self.secret_key)
    }
}

/// A failed step of provisioning or a failed API call, naming the call.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The request never got an answer.
    #[error("{call}: no answer from the server: {source}")]
    Unreachable {
        /// The call, e.g. `POST /v1/accounts`.
        call: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The server answered with another status than the contract's.
    #[error("{call}: server answered {status} (expected {expected}): {body}")]
    Refused {
        /// The call.
        call: String,
        /// Status received.
        status: u16,
        /// What the contract promises.
        expected: String,
        /// The server's error body (`{error_code, message, details}`), verbatim.
        body: String,
    },
    /// The answer's body is not what the contract describes.
    #[error("{call}: unexpected answer body ({reason}): {body}")]
    BadBody {
        /// The call.
        call: String,
        /// What did not parse.
        reason: String,
        /// The body, verbatim.
        body: String,
    },
    /// The visitor token could not be signed.
    #[error("signing the visitor token: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    /// The store page could not be read or written.
    #[error("store page {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The store template is not usable.
    #[error("store template {path}: {reason}")]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The keys the admin API returns for a new tenant.
#[derive(Clone, Debug, Deserialize)]
pub struct TenantKeys {
    /// Tenant id.
    pub tenant_id: String,
    /// `pk_…`.
    pub site_key: String,
    /// `sk_…`.
    pub secret_key: String,
    /// HS256 secret for visitor tokens.
    pub jwt_secret: String,
}

/// Creates the demo tenant and its data through the server's API, signs the visitor's token,
/// and renders `www_dir/store.html` into `site_dir/store.html`.
pub async fn provision(server_url: &str, admin_token: &str, site_dir: &Path, www_dir: &Path) -> Result<DemoSite, HostError> {
    let server_url = server_url.trim_end_matches('/').to_string();
    let http = reqwest::Client::new();

    let call = "POST /v1/admin/tenants";
    let answer = http
        .post(format!("{server_url}/v1/admin/tenants"))
        .bearer_auth(admin_token)
        .json(&json!({ "name": STORE_NAME, "owner": { "email": OWNER_EMAIL, "password": OWNER_PASSWORD } }))
        .send()
        .await;
    let keys: TenantKeys = expect_json(call, answer, &[StatusCode::CREATED]).await?;
    check_prefix(call, "site_key", &keys.site_key, "pk_")?;
    check_prefix(call, "secret_key", &keys.secret_key, "sk_")?;

    let api = TenantApi::new(&server_url, &keys.secret_key);
    let customer = Customer::jane();
    let contact = Contact::ceo();
    api.post("/v1/accounts", &json!({ "account": customer.account, "name": customer.account_name }), &[StatusCode::CREATED]).await?;
    api.post(
        "/v1/transactions",
        &json!({ "id": "tx-demo-1", "account": customer.account, "amount_cents": customer.value_cents }),
        &[StatusCode::CREATED, StatusCode::OK],
    )
    .await?;
    api.post(
        "/v1/contacts",
        &json!({ "name": contact.name, "role": contact.role, "channel": contact.channel, "address": contact.address }),
        &[StatusCode::CREATED],
    )
    .await?;

    let identity_token = identity_token(&customer, &keys.jwt_secret, SystemTime::now() + IDENTITY_TTL)?;
    let template_path = www_dir.join(STORE_PAGE);
    let template = std::fs::read_to_string(&template_path).map_err(|source| HostError::Io { path: template_path.clone(), source })?;
    let page = render_store(&template, &keys.site_key, &identity_token)
        .map_err(|reason| HostError::Template { path: template_path.clone(), reason })?;
    let store_file = site_dir.join(STORE_PAGE);
    std::fs::write(&store_file, page).map_err(|source| HostError::Io { path: store_file.clone(), source })?;

    Ok(DemoSite {
        snippet: snippet(&server_url, &keys.site_key),
        store_url: format!("{server_url}/{STORE_PAGE}"),
        dashboard_url: format!("{server_url}/dashboard.html"),
        server_url,
        tenant_id: keys.tenant_id,
        site_key: keys.site_key,
        secret_key: keys.secret_key,
        jwt_secret: keys.jwt_secret,
        identity_token,
        customer,
        contact,
        store_file,
    })
}

/// The one line a site embeds.
pub fn snippet(server_url: &str, site_key: &str) -> String {
    format!(r#"<script src="{server_url}/sdk.js" data-key="{site_key}" async></script>"#)
}

/// The claims of a visitor token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VisitorClaims {
    /// User id.
    pub sub: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Account id.
    pub account: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// Signs `customer`'s identity (HS256 with the tenant's `jwt_secret`), valid until `expires`.
pub fn identity_token(customer: &Customer, jwt_secret: &str, expires: SystemTime) -> Result<String, HostError> {
    let claims = VisitorClaims {
        sub: customer.user.clone(),
        email: customer.email.clone(),
        name: customer.name.clone(),
        account: customer.account.clone(),
        exp: expires.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    Ok(jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(jwt_secret.as_bytes()))?)
}

/// Fills the store template's `{{SITE_KEY}}` and `{{IDENTITY_TOKEN}}`. Both must be present, and
/// the values must be plain tokens (`[A-Za-z0-9._-]`): they land in an attribute and a JS string.
pub fn render_store(template: &str, site_key: &str, identity_token: &str) -> Result<String, String> {
    let mut page = template.to_string();
    for (placeholder, value) in [("{{SITE_KEY}}", site_key), ("{{IDENTITY_TOKEN}}", identity_token)] {
        if !page.contains(placeholder) {
            return Err(format!("no {placeholder} placeholder"));
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return Err(format!("the value for {placeholder} is not a plain token: {value:?}"));
        }
        page = page.replace(placeholder, value);
    }
    Ok(page)
}

/// The tenant API as the host backend calls it, with its secret key.
#[derive(Clone, Debug)]
pub struct TenantApi {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

/// A stored detection (`GET /v1/detections`).
#[derive(Clone, Debug, Deserialize)]
pub struct StoredDetection {
    /// Session id.
    pub session: String,
    /// Frame sequence number within the session.
    pub seq: u64,
    /// `rage`, `confusion`, …
    pub emotion: String,
    /// The server's recomputed confidence, `0..=1`.
    pub confidence: f64,
    /// The confidence the client claimed (sent as a whole percentage), `0..=1`.
    pub client_confidence: f64,
    /// Section name (empty when none).
    pub section: String,
    /// User id, for identified sessions.
    pub user: Option<String>,
    /// Account id, for identified sessions.
    pub account: Option<String>,
    /// Account name.
    pub account_name: Option<String>,
    /// Account lifetime value at detection time, cents (0 when unknown).
    pub value_cents: i64,
    /// The features the confidence was computed from.
    pub features: Value,
    /// Time of the triggering sample, ms since page start.
    pub t_ms: u64,
    /// When it was stored, Unix ms.
    pub created_ms: i64,
}

impl StoredDetection {
    /// The server's confidence as a whole percentage, the precision the wire carries.
    pub fn confidence_pct(&self) -> u8 {
        (self.confidence * 100.0).round() as u8
    }

    /// The client's claimed confidence as a whole percentage.
    pub fn client_confidence_pct(&self) -> u8 {
        (self.client_confidence * 100.0).round() as u8
    }
}

/// An intervention sent into a page (`GET /v1/interventions`).
#[derive(Clone, Debug, Deserialize)]
pub struct StoredIntervention {
    /// Id.
    pub id: String,
    /// Session id.
    pub session: String,
    /// Emotion it answered.
    pub emotion: String,
    /// The text shown.
    pub text: String,
    /// Unix ms.
    pub created_ms: i64,
}

/// An alert to a person (`GET /v1/alerts`).
#[derive(Clone, Debug, Deserialize)]
pub struct StoredAlert {
    /// Id.
    pub id: String,
    /// Session id.
    pub session: String,
    /// Channel.
    pub channel: String,
    /// Address.
    pub address: String,
    /// Delivery status.
    pub status: String,
    /// The signed session link.
    pub link: String,
    /// Unix ms.
    pub created_ms: i64,
}

/// The tenant's counters (`GET /v1/stats`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub frames: u64,
    /// Detections received.
    pub detections: u64,
    /// Detections the server confirmed.
    pub confirmed: u64,
    /// Detections the server's recomputation overturned.
    pub overturned: u64,
    /// Interventions sent into pages.
    pub interventions: u64,
    /// Alerts delivered.
    pub alerts_sent: u64,
    /// Alerts that failed.
    pub alerts_failed: u64,
}

impl TenantApi {
    /// The API of `server_url` with `secret_key`.
    pub fn new(server_url: &str, secret_key: &str) -> TenantApi {
        TenantApi { http: reqwest::Client::new(), base: server_url.trim_end_matches('/').to_string(), secret_key: secret_key.to_string() }
    }

    /// `POST path` with a JSON body; any status of `expected` is success.
    pub async fn post(&self, path: &str, body: &Value, expected: &[StatusCode]) -> Result<Value, HostError> {
        let answer = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.secret_key).json(body).send().await;
        expect_json(&format!("POST {path}"), answer, expected).await
    }

    /// `PUT path` with a JSON body; any status of `expected` is success.
    pub async fn put(&self, path: &str, body: &Value, expected: &[StatusCode]) -> Result<Value, HostError> {
        let answer = self.http.put(format!("{}{path}", self.base)).bearer_auth(&self.secret_key).json(body).send().await;
        expect_json(&format!("PUT {path}"), answer, expected).await
    }

    /// `GET path`, expecting 200 and a JSON body of type `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, HostError> {
        let answer = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.secret_key).send().await;
        expect_json(&format!("GET {path}"), answer, &[StatusCode::OK]).await
    }

    /// Stored detections, newest first.
    pub async fn detections(&self) -> Result<Vec<StoredDetection>, HostError> {
        #[derive(Deserialize)]
        struct List {
            detections: Vec<StoredDetection>,
        }
        Ok(self.get::<List>("/v1/detections").await?.detections)
    }

    /// Interventions sent, newest first.
    pub async fn interventions(&self) -> Result<Vec<StoredIntervention>, HostError> {
        #[derive(Deserialize)]
        struct List {
            interventions: Vec<StoredIntervention>,
        }
        Ok(self.get::<List>("/v1/interventions").await?.interventions)
    }

    /// Alerts, newest first.
    pub async fn alerts(&self) -> Result<Vec<StoredAlert>, HostError> {
        #[derive(Deserialize)]
        struct List {
            alerts: Vec<StoredAlert>,
        }
        Ok(self.get::<List>("/v1/alerts").await?.alerts)
    }

    /// The tenant's counters.
    pub async fn stats(&self) -> Result<Stats, HostError> {
        self.get("/v1/stats").await
    }
}

/// Checks the status of `answer` against `expected` and parses its body as `T`.
async fn expect_json<T: DeserializeOwned>(
    call: &str,
    answer: Result<reqwest::Response, reqwest::Error>,
    expected: &[StatusCode],
) -> Result<T, HostError> {
    let response = answer.map_err(|source| HostError::Unreachable { call: call.into(), source })?;
    let status = response.status();
    let body = response.text().await.map_err(|source| HostError::Unreachable { call: call.into(), source })?;
    if !expected.contains(&status) {
        let expected = expected.iter().map(|s| s.as_u16().to_string()).collect::<Vec<_>>().join(" or ");
        return Err(HostError::Refused { call: call.into(), status: status.as_u16(), expected, body });
    }
    // An empty success body reads as JSON `null` (for callers that expect nothing).
    let text = if body.trim().is_empty() { "null" } else { body.as_str() };
    serde_json::from_str(text).map_err(|e| HostError::BadBody { call: call.into(), reason: e.to_string(), body })
}

fn check_prefix(call: &str, field: &str, value: &str, prefix: &str) -> Result<(), HostError> {
    if value.starts_with(prefix) {
        Ok(())
    } else {
        Err(HostError::BadBody { call: call.into(), reason: format!("{field} does not start with {prefix}"), body: value.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_template_gets_both_values() {
        let page =
            render_store(r#"<script data-key="{{SITE_KEY}}"></script>['identify', '{{IDENTITY_TOKEN}}']"#, "pk_abc", "a.b-c_d").unwrap();
        assert_eq!(page, r#"<script data-key="pk_abc"></script>['identify', 'a.b-c_d']"#);
    }

    #[test]
    fn a_template_without_a_placeholder_or_a_value_that_could_break_out_is_refused() {
        assert!(render_store("{{SITE_KEY}}", "pk_a", "t").unwrap_err().contains("IDENTITY_TOKEN"));
        assert!(render_store("{{SITE_KEY}}{{IDENTITY_TOKEN}}", "pk_a\"><script>", "t").is_err());
        assert!(render_store("{{SITE_KEY}}{{IDENTITY_TOKEN}}", "pk_a", "x';alert(1);'").is_err());
    }

    #[test]
    fn the_visitor_token_verifies_with_the_tenant_secret_and_carries_the_claims() {
        let exp = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let token = identity_token(&Customer::jane(), "s3cret", exp).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims = ["exp".to_string()].into();
        let data = jsonwebtoken::decode::<VisitorClaims>(&token, &jsonwebtoken::DecodingKey::from_secret(b"s3cret"), &validation).unwrap();
        assert_eq!(
            data.claims,
            VisitorClaims {
                sub: "u_jane".into(),
                email: "jane@acme.example".into(),
                name: "Jane Doe".into(),
                account: "acme".into(),
                exp: 4_000_000_000
            }
        );
        assert!(jsonwebtoken::decode::<VisitorClaims>(&token, &jsonwebtoken::DecodingKey::from_secret(b"other"), &validation).is_err());
    }
}
