//! GraphQL side of auth: the `Viewer` each request carries, the `@auth`-equivalent guards
//! (`require_user`, `require_admin`), the `PositiveInt` scalar and `Success` type of seed 000's
//! schema, and sign-in over GraphQL (`issueNonce`, `signInWithEthereum`, `refreshSession`,
//! `signOut`, `mySession`): the same service, rules, codes and rate limit as `/auth/*`, bearer
//! tokens only (cookies are the REST routes' job).

use std::sync::Arc;

use async_graphql::{
    Context, ErrorExtensions, InputValueError, InputValueResult, Object, Scalar, ScalarType,
    SimpleObject, Value,
};
use chrono::{DateTime, Utc};
use platform::AppState;

use crate::error::AuthError;
use crate::service::{AuthService, AuthUser, ClientInfo, Credentials};

/// Who is calling: a user, nobody, or credentials that failed (an error, never anonymous).
#[derive(Debug, Clone)]
pub struct Viewer(Result<Option<AuthUser>, (&'static str, String)>);

impl Viewer {
    pub fn new(result: Result<Option<AuthUser>, AuthError>) -> Viewer {
        Viewer(result.map_err(|e| (e.code(), e.to_string())))
    }
}

/// A GraphQL error with a stable `extensions.code`.
pub fn error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

/// The signed-in user, or `UNAUTHORIZED` (with the auth code in `extensions.reason`).
pub fn require_user(ctx: &Context<'_>) -> async_graphql::Result<AuthUser> {
    match ctx.data_opt::<Viewer>().map(|v| &v.0) {
        Some(Ok(Some(user))) => Ok(user.clone()),
        Some(Err((reason, message))) => {
            let reason = *reason;
            Err(
                async_graphql::Error::new(message.clone()).extend_with(|_, e| {
                    e.set("code", "UNAUTHORIZED");
                    e.set("reason", reason);
                }),
            )
        }
        _ => Err(error("UNAUTHORIZED", "sign in first")),
    }
}

/// The signed-in admin, `UNAUTHORIZED` without a user, `FORBIDDEN` for others.
pub fn require_admin(ctx: &Context<'_>) -> async_graphql::Result<AuthUser> {
    let user = require_user(ctx)?;
    if user.is_admin {
        Ok(user)
    } else {
        Err(error("FORBIDDEN", "this needs the admin role"))
    }
}

/// An integer above zero (ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveInt(pub i64);

#[Scalar(name = "PositiveInt")]
impl ScalarType for PositiveInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => match n.as_i64() {
                Some(v) if v > 0 => Ok(PositiveInt(v)),
                _ => Err(InputValueError::custom("must be a whole number above 0")),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

#[derive(Debug, SimpleObject)]
pub struct Success {
    pub success: bool,
}

#[derive(Debug, SimpleObject)]
pub struct Nonce {
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, SimpleObject)]
#[graphql(name = "SessionUser")]
pub struct SessionUserObject {
    pub id: i64,
    pub wallet: String,
    pub is_admin: bool,
}

/// What `signInWithEthereum` and `refreshSession` hand out (as `POST /auth/siwe` in bearer mode).
#[derive(Debug, SimpleObject)]
pub struct SignedIn {
    pub token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub user: SessionUserObject,
}

impl From<Credentials> for SignedIn {
    fn from(c: Credentials) -> SignedIn {
        SignedIn {
            token: c.access_token,
            refresh_token: c.refresh_token,
            expires_at: c.access_expires_at.datetime(),
            refresh_expires_at: c.session_expires_at.datetime(),
            user: SessionUserObject {
                id: c.user_id,
                wallet: c.wallet,
                is_admin: c.is_admin,
            },
        }
    }
}

#[derive(Debug, SimpleObject)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, SimpleObject)]
pub struct MySession {
    pub user: SessionUserObject,
    pub session: SessionInfo,
}

/// An auth failure as a GraphQL error: the same stable code as the REST routes.
fn auth_error(error: AuthError) -> async_graphql::Error {
    if let AuthError::Database(cause) = &error {
        tracing::error!(target: "auth", error = %cause, "database error");
        return self::error("INTERNAL", "internal server error");
    }
    self::error(error.code(), error.to_string())
}

fn service<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<AuthService>> {
    let state = ctx.data::<AppState>()?;
    Ok(state.service::<AuthService>())
}

/// The per-IP sign-in limit of `/auth/*`, counted for GraphQL's sign-in operations too.
fn rate_limit(ctx: &Context<'_>) -> async_graphql::Result<()> {
    let Some(ip) = ctx.data_opt::<ClientInfo>().and_then(|client| client.ip) else {
        return Ok(());
    };
    service(ctx)?.check_rate(ip).map_err(|wait| {
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        error("auth.rate_limited", "too many sign-in requests; slow down")
            .extend_with(|_, e| e.set("retryAfter", seconds))
    })
}

#[derive(Debug, Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The caller's user and session.
    async fn my_session(&self, ctx: &Context<'_>) -> async_graphql::Result<MySession> {
        let user = require_user(ctx)?;
        let session = service(ctx)?
            .session(&user.session_id)
            .await
            .map_err(auth_error)?;
        Ok(MySession {
            user: SessionUserObject {
                id: user.user_id,
                wallet: user.wallet,
                is_admin: user.is_admin,
            },
            session: SessionInfo {
                id: user.session_id,
                created_at: session.created_at.datetime(),
                expires_at: session.expires_at.datetime(),
            },
        })
    }
}

#[derive(Debug, Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// A single-use nonce for the next SIWE message (as `GET /auth/nonce`).
    async fn issue_nonce(&self, ctx: &Context<'_>) -> async_graphql::Result<Nonce> {
        rate_limit(ctx)?;
        let (nonce, expires_at) = service(ctx)?.issue_nonce().await.map_err(auth_error)?;
        Ok(Nonce {
            nonce,
            expires_at: expires_at.datetime(),
        })
    }

    /// Signs in with a signed EIP-4361 message (as `POST /auth/siwe`, bearer mode).
    async fn sign_in_with_ethereum(
        &self,
        ctx: &Context<'_>,
        message: String,
        signature: String,
    ) -> async_graphql::Result<SignedIn> {
        rate_limit(ctx)?;
        let client = ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default();
        let credentials = service(ctx)?
            .sign_in(&message, &signature, &client)
            .await
            .map_err(auth_error)?;
        Ok(credentials.into())
    }

    /// Rotates a refresh token (as `POST /auth/refresh`); a spent one revokes its session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<SignedIn> {
        rate_limit(ctx)?;
        let credentials = service(ctx)?
            .refresh(&refresh_token)
            .await
            .map_err(auth_error)?;
        Ok(credentials.into())
    }

    /// Ends the caller's session (as `POST /auth/logout`); its access token stops working.
    async fn sign_out(&self, ctx: &Context<'_>) -> async_graphql::Result<Success> {
        let user = require_user(ctx)?;
        service(ctx)?
            .logout(user.user_id, &user.session_id)
            .await
            .map_err(auth_error)?;
        Ok(Success { success: true })
    }
}
