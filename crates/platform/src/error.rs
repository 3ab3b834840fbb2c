//! `ApiError`: the one JSON error envelope `{"error":{"code","message"}}` every endpoint returns.
//!
//! Each crate maps its own error enum into `ApiError` in one `From` impl; that impl is the only
//! place a status code and a public code are chosen. 5xx details are logged, never sent.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, dotted snake_case (`http.not_found`, `auth.nonce_reused`).
    pub code: Cow<'static, str>,
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 500 whose cause is logged here and hidden from the client.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(target: "http", error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "http.internal",
            "internal server error",
        )
    }

    /// The generic code for a status, used when a layer (router, body limit, timeout)
    /// produced the error rather than a handler.
    pub fn code_for_status(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "http.bad_request",
            401 => "http.unauthorized",
            403 => "http.forbidden",
            404 => "http.not_found",
            405 => "http.method_not_allowed",
            406 => "http.not_acceptable",
            408 => "http.request_timeout",
            409 => "http.conflict",
            411 => "http.length_required",
            413 => "http.payload_too_large",
            414 => "http.uri_too_long",
            415 => "http.unsupported_media_type",
            422 => "http.unprocessable_entity",
            429 => "http.rate_limited",
            431 => "http.headers_too_large",
            500 => "http.internal",
            501 => "http.not_implemented",
            503 => "http.unavailable",
            504 => "http.timeout",
            402..=499 => "http.client_error",
            _ => "http.server_error",
        }
    }

    pub fn from_status(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, ApiError::code_for_status(status), message)
    }

    pub fn not_found() -> ApiError {
        ApiError::from_status(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: &self.code,
                message: &self.message,
            },
        }
    }
}

/// The envelope on the wire, and its OpenAPI schema: `{"error":{"code","message"}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable, dotted snake_case; clients branch on this, never on `message`.
    #[schema(example = "http.not_found")]
    pub code: &'a str,
    /// For people; may change between versions.
    pub message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
