//! `AuthError`: every way sign-in, refresh or an authenticated request can fail, and the one
//! mapping to HTTP statuses and stable codes (`auth.*`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::ApiError;

use crate::signature::SignatureError;
use crate::siwe::{FieldError, ParseError};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the SIWE message is larger than {0} bytes")]
    MessageTooLarge(usize),
    #[error(transparent)]
    Malformed(#[from] ParseError),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("this nonce was not issued by the server")]
    NonceUnknown,
    #[error("this nonce has expired; request a new one")]
    NonceExpired,
    #[error("this nonce has already been used")]
    NonceReused,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the signature was not made by the message's address")]
    SignatureMismatch,
    #[error("the chain node could not be reached to check a contract wallet")]
    ChainUnavailable,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("no credentials: send `Authorization: Bearer <token>` or sign in")]
    MissingToken,
    #[error("the access token is invalid")]
    InvalidToken,
    #[error("the access token has expired; refresh it")]
    TokenExpired,
    #[error("the session has ended; sign in again")]
    SessionRevoked,
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session has been ended for safety")]
    RefreshTokenReused,
    #[error("missing or wrong CSRF token for a cookie-authenticated request")]
    CsrfFailed,
    #[error("this needs the admin role")]
    Forbidden,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MessageTooLarge(_) => "auth.message_too_large",
            AuthError::Malformed(_) => "auth.malformed_message",
            AuthError::Field(field) => match field {
                FieldError::DomainUserinfo | FieldError::DomainMismatch => "auth.domain_mismatch",
                FieldError::UriMismatch => "auth.uri_mismatch",
                FieldError::ChainNotAllowed => "auth.chain_not_allowed",
                FieldError::NonceMismatch => "auth.nonce_unknown",
                FieldError::IssuedInFuture => "auth.issued_in_future",
                FieldError::Expired => "auth.message_expired",
                FieldError::NotYetValid => "auth.message_not_yet_valid",
            },
            AuthError::NonceUnknown => "auth.nonce_unknown",
            AuthError::NonceExpired => "auth.nonce_expired",
            AuthError::NonceReused => "auth.nonce_reused",
            AuthError::Signature(signature) => match signature {
                SignatureError::NotHex | SignatureError::BadLength => "auth.malformed_signature",
                SignatureError::BadRecoveryByte => "auth.signature_bad_v",
                SignatureError::HighS => "auth.signature_high_s",
                SignatureError::Unrecoverable => "auth.signature_mismatch",
            },
            AuthError::SignatureMismatch => "auth.signature_mismatch",
            AuthError::ChainUnavailable => "auth.chain_unavailable",
            AuthError::AccountDisabled => "auth.account_disabled",
            AuthError::MissingToken => "auth.missing_token",
            AuthError::InvalidToken => "auth.invalid_token",
            AuthError::TokenExpired => "auth.token_expired",
            AuthError::SessionRevoked => "auth.session_revoked",
            AuthError::InvalidRefreshToken => "auth.invalid_refresh_token",
            AuthError::RefreshTokenReused => "auth.refresh_token_reused",
            AuthError::CsrfFailed => "auth.csrf_failed",
            AuthError::Forbidden => "auth.forbidden",
            AuthError::Database(_) => "http.internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MessageTooLarge(_) | AuthError::Malformed(_) => StatusCode::BAD_REQUEST,
            AuthError::Signature(SignatureError::NotHex | SignatureError::BadLength) => {
                StatusCode::BAD_REQUEST
            }
            AuthError::ChainUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::AccountDisabled | AuthError::CsrfFailed | AuthError::Forbidden => {
                StatusCode::FORBIDDEN
            }
            AuthError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        match error {
            AuthError::Database(e) => ApiError::internal(e),
            other => ApiError::new(other.status(), other.code(), other.to_string()),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let unauthorized = self.status() == StatusCode::UNAUTHORIZED;
        let mut response = ApiError::from(self).into_response();
        if unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
