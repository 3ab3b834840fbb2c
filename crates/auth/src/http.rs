//! Auth transport: `/auth/*` routes, bearer and cookie credentials (cookie mode with a
//! double-submit CSRF token), the `AuthUser` / `MaybeAuthUser` / `AdminUser` extractors and
//! the per-IP rate limit on `/auth/*`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::{ApiError, AppState, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AuthError;
use crate::service::{AuthService, AuthUser, ClientInfo, Credentials};

pub const ACCESS_COOKIE: &str = "qd_access";
pub const REFRESH_COOKIE: &str = "qd_refresh";
pub const CSRF_COOKIE: &str = "qd_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/nonce", get(nonce))
        .route("/auth/siwe", post(sign_in))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_everywhere))
        .route("/auth/session", get(session))
}

/// Guard taken first by every `/auth/*` handler: 429 with `Retry-After` once a client IP
/// exceeds `AUTH_RATE_LIMIT` requests per minute.
#[derive(Debug)]
pub struct AuthRateLimit;

impl FromRequestParts<AppState> for AuthRateLimit {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(AuthRateLimit);
        };
        let Err(wait) = service(state).check_rate(peer.ip()) else {
            return Ok(AuthRateLimit);
        };
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "auth.rate_limited",
            "too many sign-in requests; slow down",
        )
        .into_response();
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        Err(response)
    }
}

fn service(state: &AppState) -> &Arc<AuthService> {
    state.service::<AuthService>()
}

async fn nonce(_: AuthRateLimit, State(state): State<AppState>) -> Result<Response, AuthError> {
    let (nonce, expires_at) = service(&state).issue_nonce().await?;
    let mut response = Json(json!({ "nonce": nonce, "expiresAt": expires_at })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInBody {
    message: String,
    signature: String,
    /// `bearer` (default): tokens in the body. `cookie`: HttpOnly cookies and a CSRF token.
    #[serde(default)]
    mode: Mode,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Bearer,
    Cookie,
}

async fn sign_in(
    _: AuthRateLimit,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<SignInBody>,
) -> Result<Response, AuthError> {
    let client = ClientInfo {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ip: Some(peer.ip()),
    };
    let credentials = service(&state)
        .sign_in(&body.message, &body.signature, &client)
        .await?;
    Ok(credentials_response(&state, credentials, body.mode))
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// Bearer clients send `{refreshToken}`; cookie clients send the cookie and the CSRF header.
async fn refresh(
    _: AuthRateLimit,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AuthError> {
    let from_body = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<RefreshBody>(&body)
            .map_err(|_| AuthError::InvalidRefreshToken)?
            .refresh_token
    };
    let (token, mode) = match from_body {
        Some(token) => (token, Mode::Bearer),
        None => {
            let token = cookie(&headers, REFRESH_COOKIE).ok_or(AuthError::InvalidRefreshToken)?;
            check_csrf(&headers)?;
            (token.to_owned(), Mode::Cookie)
        }
    };
    let credentials = service(&state).refresh(&token).await;
    match credentials {
        Ok(credentials) => Ok(credentials_response(&state, credentials, mode)),
        Err(error) if mode == Mode::Cookie => {
            let mut response = error.into_response();
            clear_cookies(&mut response);
            Ok(response)
        }
        Err(error) => Err(error),
    }
}

async fn logout(
    _: AuthRateLimit,
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, AuthError> {
    service(&state)
        .logout(user.user_id, &user.session_id)
        .await?;
    let mut response = Json(json!({ "success": true })).into_response();
    clear_cookies(&mut response);
    Ok(response)
}

async fn logout_everywhere(
    _: AuthRateLimit,
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, AuthError> {
    let ended = service(&state).logout_everywhere(user.user_id).await?;
    let mut response = Json(json!({ "success": true, "sessionsEnded": ended })).into_response();
    clear_cookies(&mut response);
    Ok(response)
}

async fn session(
    _: AuthRateLimit,
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AuthError> {
    let session = service(&state).session(&user.session_id).await?;
    Ok(Json(json!({
        "user": { "id": user.user_id, "wallet": user.wallet, "isAdmin": user.is_admin },
        "session": { "id": user.session_id, "createdAt": session.created_at, "expiresAt": session.expires_at },
    })))
}

fn user_json(credentials: &Credentials) -> Value {
    json!({ "id": credentials.user_id, "wallet": credentials.wallet, "isAdmin": credentials.is_admin })
}

fn credentials_response(state: &AppState, credentials: Credentials, mode: Mode) -> Response {
    let mut response = match mode {
        Mode::Bearer => Json(json!({
            "token": credentials.access_token,
            "refreshToken": credentials.refresh_token,
            "expiresAt": credentials.access_expires_at,
            "refreshExpiresAt": credentials.session_expires_at,
            "user": user_json(&credentials),
        }))
        .into_response(),
        Mode::Cookie => {
            let csrf = crate::tokens::random_base64(24);
            let mut response = Json(json!({
                "expiresAt": credentials.access_expires_at,
                "refreshExpiresAt": credentials.session_expires_at,
                "csrfToken": csrf,
                "user": user_json(&credentials),
            }))
            .into_response();
            let secure = service(state).secure_cookies;
            let now = Timestamp::now();
            let access_age =
                (credentials.access_expires_at.unix_seconds() - now.unix_seconds()).max(0);
            let session_age =
                (credentials.session_expires_at.unix_seconds() - now.unix_seconds()).max(0);
            let headers = response.headers_mut();
            for set_cookie in [
                cookie_header(
                    ACCESS_COOKIE,
                    &credentials.access_token,
                    "/",
                    access_age,
                    true,
                    secure,
                ),
                cookie_header(
                    REFRESH_COOKIE,
                    &credentials.refresh_token,
                    "/auth",
                    session_age,
                    true,
                    secure,
                ),
                cookie_header(CSRF_COOKIE, &csrf, "/", session_age, false, secure),
            ] {
                if let Ok(value) = HeaderValue::from_str(&set_cookie) {
                    headers.append(header::SET_COOKIE, value);
                }
            }
            response
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> String {
    let mut cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

fn clear_cookies(response: &mut Response) {
    for (name, path) in [
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, "/auth"),
        (CSRF_COOKIE, "/"),
    ] {
        if let Ok(value) =
            HeaderValue::from_str(&format!("{name}=; Path={path}; Max-Age=0; SameSite=Lax"))
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Double-submit check: the `X-CSRF-Token` header must equal the `qd_csrf` cookie, which a
/// page on another origin can neither read nor set.
fn check_csrf(headers: &HeaderMap) -> Result<(), AuthError> {
    let expected = cookie(headers, CSRF_COOKIE)
        .filter(|v| !v.is_empty())
        .ok_or(AuthError::CsrfFailed)?;
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::CsrfFailed)?;
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(AuthError::CsrfFailed)
    }
}

/// Authenticates a request from its headers: a bearer token, else the access cookie (with
/// the CSRF check for state-changing methods). `Ok(None)`: no credentials at all.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<AuthUser>, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::InvalidToken)?;
        return service(state).authenticate(token).await.map(Some);
    }
    let Some(token) = cookie(headers, ACCESS_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        check_csrf(headers)?;
    }
    service(state).authenticate(token).await.map(Some)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.method, &parts.headers)
            .await?
            .ok_or(AuthError::MissingToken)
    }
}

/// `Some(user)` with valid credentials, `None` with none at all; bad credentials are an
/// error, never silently anonymous.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.method, &parts.headers)
            .await
            .map(MaybeAuthUser)
    }
}

/// An authenticated user holding the admin role (`ADMIN_WALLETS`).
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(AdminUser(user))
        } else {
            Err(AuthError::Forbidden)
        }
    }
}
