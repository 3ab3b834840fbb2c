//! GraphQL side of auth: the `Viewer` each request carries, the `@auth`-equivalent guards
//! (`require_user`, `require_admin`) and the `PositiveInt` scalar of seed 000's schema.

use async_graphql::{
    Context, ErrorExtensions, InputValueError, InputValueResult, Scalar, ScalarType, Value,
};

use crate::error::AuthError;
use crate::service::AuthUser;

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
