//! Reading untrusted values: the answer of `GET /v1/me` and the options of `mount`.
//!
//! Both arrive as JavaScript values, so every field is checked for its type and range before
//! the widget uses it; text is cut to [`MAX_TEXT_CHARS`] and lists
//! to their limits. A malformed answer is a [`LoadError`] (the widget then says its details are
//! not available), never a panic.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use crate::model::{clip, Context, Factor, Me, Snapshot, MAX_FACTORS, MAX_HISTORY, MAX_TEXT_CHARS};

/// Why the customer's details could not be shown.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The server answered with a status other than 2xx.
    #[error("the server answered with status {0}")]
    Status(u16),
    /// The body is not JSON.
    #[error("the answer is not JSON")]
    NotJson,
    /// A field is missing or has the wrong type or range.
    #[error("the answer's `{0}` is missing or malformed")]
    Field(&'static str),
    /// The request did not complete (network down, refused by CORS or CSP, aborted).
    #[error("the request failed")]
    Network,
}

impl LoadError {
    /// A short code for the error, set as `data-error` on the message the widget shows.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Status(_) => "status",
            LoadError::NotJson => "json",
            LoadError::Field(_) => "field",
            LoadError::Network => "network",
        }
    }
}

/// Why `mount` refused its options.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// `host` is not an `http://` or `https://` origin.
    #[error("options.host must be the server's origin, like https://api.example.com")]
    Host,
    /// `siteKey` is not a publishable key (`pk_…`).
    #[error("options.siteKey must be the publishable site key (pk_…)")]
    SiteKey,
    /// `token` is missing.
    #[error("options.token must be the visitor token the host app signed")]
    Token,
    /// `container` is given but is not an element.
    #[error("options.container must be an element")]
    Container,
}

impl OptionsError {
    /// The error's text, without `core::fmt` (which the module otherwise needs little of).
    pub fn message(&self) -> &'static str {
        match self {
            OptionsError::Host => "options.host must be the server's origin, like https://api.example.com",
            OptionsError::SiteKey => "options.siteKey must be the publishable site key (pk_…)",
            OptionsError::Token => "options.token must be the visitor token the host app signed",
            OptionsError::Container => "options.container must be an element",
        }
    }
}

/// The options of `SentientIQWidget.mount`.
#[derive(Debug)]
pub struct Options {
    /// The server's origin, without a trailing `/`.
    pub host: String,
    /// The tenant's publishable site key.
    pub site_key: String,
    /// The visitor token (JWT) the host app signed for this customer.
    pub token: String,
    /// Where to put the widget; `None`: a fixed box at the bottom right of the page.
    pub container: Option<Element>,
    /// Whether to show the loader's interventions (`sentientiq:intervene` events) in the widget
    /// instead of the loader's own box (default true).
    pub interventions: bool,
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn absent(v: &JsValue) -> bool {
    v.is_null() || v.is_undefined()
}

/// Reads the options object passed to `mount`.
pub fn options(v: &JsValue) -> Result<Options, OptionsError> {
    let host = get(v, "host").as_string().filter(|h| h.starts_with("https://") || h.starts_with("http://")).ok_or(OptionsError::Host)?;
    let site_key = get(v, "siteKey").as_string().filter(|k| k.starts_with("pk_")).ok_or(OptionsError::SiteKey)?;
    let token = get(v, "token").as_string().filter(|t| !t.is_empty()).ok_or(OptionsError::Token)?;
    let container = get(v, "container");
    let container = if absent(&container) { None } else { Some(container.dyn_into::<Element>().map_err(|_| OptionsError::Container)?) };
    Ok(Options {
        host: host.trim_end_matches('/').to_string(),
        site_key,
        token,
        container,
        interventions: get(v, "interventions").as_bool().unwrap_or(true),
    })
}

/// Optional text: absent reads as `None`, a string is clipped, anything else is an error.
fn text(v: &JsValue, field: &'static str) -> Result<Option<String>, LoadError> {
    match get(v, field) {
        x if absent(&x) => Ok(None),
        x => x.as_string().map(|s| Some(clip(&s, MAX_TEXT_CHARS))).ok_or(LoadError::Field(field)),
    }
}

/// A finite number.
fn number(v: &JsValue, field: &'static str) -> Result<f64, LoadError> {
    get(v, field).as_f64().filter(|x| x.is_finite()).ok_or(LoadError::Field(field))
}

/// An array (absent reads as empty), at most `max` of its items.
fn items(v: &JsValue, field: &'static str, max: usize) -> Result<Vec<JsValue>, LoadError> {
    let x = get(v, field);
    if absent(&x) {
        return Ok(Vec::new());
    }
    let a: Array = x.dyn_into().map_err(|_| LoadError::Field(field))?;
    Ok(a.iter().take(max).collect())
}

/// Reads the parsed answer of `GET /v1/me`.
pub fn me(v: &JsValue) -> Result<Me, LoadError> {
    if !v.is_object() || Array::is_array(v) {
        return Err(LoadError::Field("(body)"));
    }
    let strength = match get(v, "strength") {
        x if absent(&x) => None,
        _ => Some(number(v, "strength")?.clamp(0.0, 100.0)),
    };
    let mut factors = Vec::new();
    for f in items(v, "factors", MAX_FACTORS)? {
        let max = number(&f, "max")?;
        if max <= 0.0 {
            return Err(LoadError::Field("max"));
        }
        factors.push(Factor {
            name: text(&f, "name")?.ok_or(LoadError::Field("name"))?,
            contribution: number(&f, "contribution")?,
            max,
            reason: text(&f, "reason")?.unwrap_or_default(),
        });
    }
    let mut history = Vec::new();
    for s in items(v, "history", MAX_HISTORY)? {
        let day = number(&s, "day")?;
        if day.fract() != 0.0 || day.abs() > 1e9 {
            return Err(LoadError::Field("day"));
        }
        history.push(Snapshot { day: day as i64, score: number(&s, "score")?.clamp(0.0, 100.0) });
    }
    let context = get(v, "context");
    let context = if absent(&context) { None } else { get(&context, "state").as_string().and_then(|s| Context::parse(&s)) };
    Ok(Me { sub: text(v, "sub")?, name: text(v, "name")?, strength, factors, history, context })
}
