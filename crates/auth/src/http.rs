//! Auth transport: `/auth/*` routes, bearer and cookie credentials (cookie mode with a
//! double-submit CSRF token), the `AuthUser` / `MaybeAuthUser` / `AdminUser` extractors and
//! the per-IP rate limit on `/auth/*`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::{ApiError, AppState, ErrorBody, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AuthError;
use crate::service::{AuthService, AuthUser, ClientInfo, Credentials};

pub const ACCESS_COOKIE: &str = "qd_access";
pub const REFRESH_COOKIE: &str = "qd_refresh";
pub const CSRF_COOKIE: &str = "qd_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// OpenAPI tag of every `/auth/*` operation.
const TAG: &str = "auth";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(nonce))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_everywhere))
        .routes(routes!(session))
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NonceIssued {
    /// Put it in the SIWE message's `Nonce:` field; it is single-use.
    nonce: String,
    expires_at: Timestamp,
}

/// A fresh single-use SIWE nonce.
#[utoipa::path(get, path = "/auth/nonce", tag = TAG, responses(
    (status = 200, body = NonceIssued),
    (status = 429, description = "per-IP rate limit; see `Retry-After`", body = ErrorBody),
))]
async fn nonce(_: AuthRateLimit, State(state): State<AppState>) -> Result<Response, AuthError> {
    let (nonce, expires_at) = service(&state).issue_nonce().await?;
    let mut response = Json(NonceIssued { nonce, expires_at }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInBody {
    /// The EIP-4361 message, exactly as signed.
    message: String,
    /// 65-byte `0x` hex (EIP-191 personal_sign), or an ERC-1271 wallet's signature.
    signature: String,
    /// `bearer` (default): tokens in the body. `cookie`: HttpOnly cookies and a CSRF token.
    #[serde(default)]
    mode: Mode,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Bearer,
    Cookie,
}

/// The signed-in user with their tokens (`bearer`), or with HttpOnly cookies and a CSRF token
/// (`cookie`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignedIn {
    /// Bearer mode: the access token (JWT) for `Authorization: Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Bearer mode: spend it once at `/auth/refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Cookie mode: send it back as `X-CSRF-Token` on state-changing requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    /// When the access token expires.
    expires_at: Timestamp,
    /// When the session (its refresh token family) expires.
    refresh_expires_at: Timestamp,
    user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UserView {
    id: i64,
    wallet: String,
    is_admin: bool,
}

/// Verifies a signed SIWE message and opens a session.
#[utoipa::path(post, path = "/auth/siwe", tag = TAG, request_body = SignInBody, responses(
    (status = 200, body = SignedIn, headers(("set-cookie" = String, description = "cookie mode only"))),
    (status = 400, description = "malformed message or signature, or a SIWE check failed (`auth.*` code names which)", body = ErrorBody),
    (status = 401, description = "the signature does not match the address, or the user is disabled", body = ErrorBody),
    (status = 422, description = "the body is not a sign-in request", body = ErrorBody),
    (status = 429, body = ErrorBody),
))]
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

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// Spends a refresh token for new credentials. Bearer clients send `{refreshToken}`; cookie
/// clients send no body, the refresh cookie and the CSRF header. A spent token presented
/// again revokes its whole session.
#[utoipa::path(post, path = "/auth/refresh", tag = TAG,
    request_body(content = RefreshBody, description = "bearer mode only; cookie mode sends no body"),
    params(("x-csrf-token" = Option<String>, Header, description = "cookie mode")),
    responses(
        (status = 200, body = SignedIn),
        (status = 401, description = "unknown, expired, spent or revoked refresh token", body = ErrorBody),
        (status = 403, description = "cookie mode without a matching CSRF token", body = ErrorBody),
        (status = 429, body = ErrorBody),
))]
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LoggedOut {
    success: bool,
    /// `/auth/logout-all` only: how many sessions ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions_ended: Option<usize>,
}

/// Ends this session: its access tokens stop working and its sockets close, on every instance.
#[utoipa::path(post, path = "/auth/logout", tag = TAG,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = LoggedOut),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
))]
async fn logout(
    _: AuthRateLimit,
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, AuthError> {
    service(&state)
        .logout(user.user_id, &user.session_id)
        .await?;
    let mut response = Json(LoggedOut {
        success: true,
        sessions_ended: None,
    })
    .into_response();
    clear_cookies(&mut response);
    Ok(response)
}

/// Ends every session of the signed-in user.
#[utoipa::path(post, path = "/auth/logout-all", tag = TAG,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = LoggedOut),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
))]
async fn logout_everywhere(
    _: AuthRateLimit,
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, AuthError> {
    let ended = service(&state).logout_everywhere(user.user_id).await?;
    let mut response = Json(LoggedOut {
        success: true,
        sessions_ended: Some(ended),
    })
    .into_response();
    clear_cookies(&mut response);
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
struct SessionView {
    user: UserView,
    session: SessionInfo,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SessionInfo {
    id: String,
    created_at: Timestamp,
    expires_at: Timestamp,
}

/// The signed-in user and their current session.
#[utoipa::path(get, path = "/auth/session", tag = TAG,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = SessionView),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
))]
async fn session(
    _: AuthRateLimit,
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SessionView>, AuthError> {
    let session = service(&state).session(&user.session_id).await?;
    Ok(Json(SessionView {
        user: UserView {
            id: user.user_id,
            wallet: user.wallet,
            is_admin: user.is_admin,
        },
        session: SessionInfo {
            id: user.session_id,
            created_at: session.created_at,
            expires_at: session.expires_at,
        },
    }))
}

fn credentials_response(state: &AppState, credentials: Credentials, mode: Mode) -> Response {
    let user = UserView {
        id: credentials.user_id,
        wallet: credentials.wallet,
        is_admin: credentials.is_admin,
    };
    let mut response = match mode {
        Mode::Bearer => Json(SignedIn {
            token: Some(credentials.access_token),
            refresh_token: Some(credentials.refresh_token),
            csrf_token: None,
            expires_at: credentials.access_expires_at,
            refresh_expires_at: credentials.session_expires_at,
            user,
        })
        .into_response(),
        Mode::Cookie => {
            let csrf = crate::tokens::random_base64(24);
            let mut response = Json(SignedIn {
                token: None,
                refresh_token: None,
                csrf_token: Some(csrf.clone()),
                expires_at: credentials.access_expires_at,
                refresh_expires_at: credentials.session_expires_at,
                user,
            })
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
