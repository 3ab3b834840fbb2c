//! Session credentials: HS256 JWT access tokens (one algorithm, every claim required) and
//! opaque refresh tokens, stored only as SHA-256 hashes.

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use platform::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AuthError;

/// The claims of an access token; every field is required when decoding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string (RFC 7519 `sub`).
    pub sub: String,
    /// The session id; revoking the session ends the token.
    pub sid: String,
    /// Always `access`; refresh tokens are opaque and never JWTs.
    pub typ: String,
    pub wallet: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens that passed `validation`, by their exact text: the same text verifies the same
    /// way again, so a repeat only re-checks expiry (a full check, base64 + JSON + HMAC, was
    /// ~4 % of a GraphQL request). Bounded, and entries live at most `VERIFIED_TTL`.
    verified: moka::sync::Cache<String, Arc<AccessClaims>>,
    issuer: String,
    audience: String,
    pub access_ttl: std::time::Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

const ACCESS: &str = "access";
/// Seconds of clock skew allowed on `exp` (and `nbf`).
const LEEWAY: u64 = 5;
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl TokenKeys {
    /// Derives the signing key from `SESSION_ENCRYPTION_KEY` with a purpose label, so the
    /// same secret can serve other purposes without sharing key material.
    pub fn new(
        session_key: &str,
        issuer: &str,
        audience: &str,
        access_ttl: std::time::Duration,
    ) -> TokenKeys {
        let key = signing_secret(session_key);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        TokenKeys {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            verified: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(VERIFIED_TTL)
                .build(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
        }
    }

    pub fn issue_access(
        &self,
        user_id: i64,
        wallet: &str,
        session_id: &str,
        now: Timestamp,
    ) -> (String, Timestamp) {
        let expires = now.plus(self.access_ttl);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_owned(),
            typ: ACCESS.to_owned(),
            wallet: wallet.to_owned(),
            iat: now.unix_seconds(),
            exp: expires.unix_seconds(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail");
        (token, expires)
    }

    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>, AuthError> {
        if let Some(claims) = self.verified.get(token) {
            // The rule jsonwebtoken applies: expired once `exp` is more than the leeway ago.
            let now = jsonwebtoken::get_current_timestamp();
            if claims.exp.saturating_add(LEEWAY as i64) < now as i64 {
                self.verified.invalidate(token);
                return Err(AuthError::TokenExpired);
            }
            return Ok(claims);
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::TokenExpired,
                _ => AuthError::InvalidToken,
            })?;
        let claims = data.claims;
        if claims.typ != ACCESS || claims.sub.parse::<i64>().is_err() || claims.sid.is_empty() {
            return Err(AuthError::InvalidToken);
        }
        let claims = Arc::new(claims);
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}

/// The HS256 secret derived from `SESSION_ENCRYPTION_KEY` (tests forge tokens with it).
pub fn signing_secret(session_key: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"quickdapp/jwt-hs256/v1\0")
        .chain_update(session_key.as_bytes())
        .finalize()
        .into()
}

/// A new opaque refresh token: `qdr_` + 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    format!("qdr_{}", random_base64(32))
}

/// 256 random bits, base64url without padding (CSRF tokens, refresh tokens).
pub fn random_base64(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// How refresh tokens are stored: their SHA-256, hex.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A SIWE nonce: 17 alphanumeric characters (≈101 bits), as EIP-4361 tools generate.
pub fn new_nonce() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut nonce = String::with_capacity(17);
    while nonce.len() < 17 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).expect("the OS random source is available");
        // 248 = 4 * 62: rejecting higher bytes keeps every character equally likely.
        if byte[0] < 248 {
            nonce.push(char::from(ALPHABET[usize::from(byte[0] % 62)]));
        }
    }
    nonce
}
