//! HTTP errors: `{error_code, message, details}` with the right status. Nothing internal leaks:
//! a 5xx says only that something failed and is logged as an error; 4xx are logged at debug.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: serde_json::Value,
}

impl ApiError {
    /// The same error with one more entry in its `details`.
    pub fn with_detail(mut self, key: &str, value: serde_json::Value) -> ApiError {
        if !self.details.is_object() {
            self.details = serde_json::json!({});
        }
        self.details[key] = value;
        self
    }

    /// 400: the request is malformed or fails validation.
    pub fn bad_request(message: impl Into<String>, details: serde_json::Value) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "invalid_request", message: message.into(), details }
    }
    /// 401: no or unknown credentials.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, code: "unauthorized", message: message.into(), details: serde_json::Value::Null }
    }
    /// 403: credentials fine, action not allowed (or a bad signed link).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::FORBIDDEN, code: "forbidden", message: message.into(), details: serde_json::Value::Null }
    }
    /// 404: no such thing for this tenant.
    pub fn not_found(what: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("{what} not found"),
            details: serde_json::Value::Null,
        }
    }
    /// 409: the request conflicts with what exists (a taken email, the last owner).
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, code: "conflict", message: message.into(), details: serde_json::Value::Null }
    }
    /// 413: the body is past the route's limit; the client must send less.
    pub fn payload_too_large(message: impl Into<String>, details: serde_json::Value) -> ApiError {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "payload_too_large", message: message.into(), details }
    }
    /// 429: too many tries; `retry_after_secs` says when to try again.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "too_many_requests",
            message: message.into(),
            details: serde_json::json!({"retry_after_secs": retry_after_secs}),
        }
    }
    /// 500 from an internal failure, which is logged here and not shown.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error".into(),
            details: serde_json::Value::Null,
        }
    }
    /// 503: a dependency is down.
    pub fn unavailable(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "dependency unavailable");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: "temporarily unavailable".into(),
            details: serde_json::Value::Null,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            // Not our failure, and not a malformed request either: the amount is within its
            // range, but the account's total would pass its own. A conflict with what is stored
            // (409), naming the account and the field.
            crate::store::StoreError::AccountValueOutOfRange { ref account, .. } => ApiError {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: e.to_string(),
                details: serde_json::json!({"field": "amount_cents", "account": account}),
            },
            e => ApiError::internal(e),
        }
    }
}

impl From<crate::bus::BusError> for ApiError {
    fn from(e: crate::bus::BusError) -> Self {
        ApiError::unavailable(e)
    }
}

impl From<crate::identity::IdentityError> for ApiError {
    /// A bus failure is a dependency that is down (503, worth retrying); the rest is ours (500).
    fn from(e: crate::identity::IdentityError) -> Self {
        match e {
            crate::identity::IdentityError::Bus(e) => ApiError::from(e),
            e => ApiError::internal(e),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A body past the route's limit (`DefaultBodyLimit`) is a 413 `payload_too_large`: the
    /// client must send less, not mend its JSON. Any other rejection is a 400.
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::{BytesRejection, FailedToBufferBody, JsonRejection};
        if matches!(e, JsonRejection::BytesRejection(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)))) {
            return ApiError::payload_too_large(e.body_text(), serde_json::Value::Null);
        }
        ApiError::bad_request(e.body_text(), serde_json::Value::Null)
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    /// A query string that does not parse (a number out of its type's range, a field missing)
    /// is a 400 in the API's error shape, like any other bad field.
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request(e.body_text(), serde_json::Value::Null)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(code = self.code, message = %self.message, "client error");
        }
        let retry_after =
            self.details.get("retry_after_secs").and_then(|v| v.as_u64()).filter(|_| self.status == StatusCode::TOO_MANY_REQUESTS);
        let body = serde_json::json!({"error_code": self.code, "message": self.message, "details": self.details});
        let mut r = (self.status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        r
    }
}
