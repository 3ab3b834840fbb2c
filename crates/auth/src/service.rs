//! Auth use cases: issue a nonce, sign in with SIWE, rotate a refresh token, log out, and
//! authenticate an access token (with a short per-session cache).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy_primitives::Address;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use platform::bus::{BusEvent, EventBus};
use platform::users::{self, User};
use platform::{Config, Db, Timestamp, Tx};
use serde_json::json;

use crate::erc1271::ChainClient;
use crate::error::AuthError;
use crate::signature::{self, SignatureError};
use crate::siwe::{Expectations, ISSUED_AT_SKEW, SiweMessage};
use crate::store::{self, NewSession, SessionStatus};
use crate::tokens::{self, TokenKeys};

/// Messages longer than this are refused before any parsing or cryptography.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// How long an authenticated request may rely on a cached session check.
const SESSION_CACHE_TTL: Duration = Duration::from_secs(2);

/// Who made an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: i64,
    pub wallet: String,
    pub session_id: String,
    pub is_admin: bool,
}

/// The credentials a successful sign-in or refresh hands out.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_token: String,
    pub access_expires_at: Timestamp,
    pub refresh_token: String,
    pub session_expires_at: Timestamp,
    pub session_id: String,
    pub user_id: i64,
    pub wallet: String,
    pub is_admin: bool,
}

/// Where a sign-in came from, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

#[derive(Debug)]
pub struct AuthService {
    db: Db,
    bus: Arc<EventBus>,
    keys: TokenKeys,
    domain: String,
    origin: url::Url,
    chain_ids: Vec<u64>,
    nonce_ttl: Duration,
    session_ttl: Duration,
    admin_wallets: Vec<String>,
    chain: Option<ChainClient>,
    sessions: moka::sync::Cache<String, SessionStatus>,
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub(crate) secure_cookies: bool,
    nonces_issued: AtomicU64,
}

impl AuthService {
    /// Topic of the event published when sessions end; `payload.sessionIds` lists them.
    pub const SESSIONS_REVOKED: &'static str = "auth.sessions_revoked";

    pub fn new(config: &Config, db: Db, bus: Arc<EventBus>) -> AuthService {
        let base = &config.base_url;
        let domain = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        let audience = base.as_str().trim_end_matches('/').to_owned();
        AuthService {
            db,
            bus,
            keys: TokenKeys::new(
                config.session_encryption_key.expose(),
                "quickdapp",
                &audience,
                config.auth_access_token_ttl,
            ),
            domain,
            origin: base.clone(),
            chain_ids: config.siwe_chain_ids.clone(),
            nonce_ttl: config.auth_nonce_ttl,
            session_ttl: config.auth_refresh_token_ttl,
            admin_wallets: config.admin_wallets.clone(),
            chain: config.jobs.chain_rpc_endpoint.clone().map(ChainClient::new),
            sessions: moka::sync::Cache::builder()
                .time_to_live(SESSION_CACHE_TTL)
                .max_capacity(100_000)
                .build(),
            limiter: NonZeroU32::new(config.auth_rate_limit_per_minute)
                .map(|per_minute| RateLimiter::keyed(Quota::per_minute(per_minute))),
            secure_cookies: base.scheme() == "https"
                || config.app_mode == platform::config::AppMode::Production,
            nonces_issued: AtomicU64::new(0),
        }
    }

    /// The `host[:port]` a SIWE message must name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn access_ttl(&self) -> Duration {
        self.keys.access_ttl
    }

    /// A fresh single-use nonce and when it expires.
    pub async fn issue_nonce(&self) -> Result<(String, Timestamp), AuthError> {
        let now = Timestamp::now();
        let expires_at = now.plus(self.nonce_ttl);
        let nonce = tokens::new_nonce();
        store::insert_nonce(&self.db, &nonce, now, expires_at).await?;
        // Expired nonces are only kept to explain "expired" vs "unknown"; an hour is plenty.
        if self
            .nonces_issued
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(256)
        {
            store::delete_expired_nonces(&self.db, now.minus(Duration::from_secs(3600))).await?;
        }
        Ok((nonce, expires_at))
    }

    /// Verifies a signed SIWE message and opens a session for its wallet.
    pub async fn sign_in(
        &self,
        message: &str,
        signature_hex: &str,
        client: &ClientInfo,
    ) -> Result<Credentials, AuthError> {
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(AuthError::MessageTooLarge(MAX_MESSAGE_BYTES));
        }
        if signature_hex.len() > 2 * MAX_MESSAGE_BYTES {
            return Err(SignatureError::BadLength.into());
        }
        let parsed = SiweMessage::parse(message)?;
        let now = Timestamp::now();
        parsed.check(&Expectations {
            domain: &self.domain,
            uri_origin: Some(&self.origin),
            chain_ids: Some(&self.chain_ids),
            nonce: None,
            now: now.datetime(),
            issued_at_skew: Some(ISSUED_AT_SKEW),
        })?;
        let signature = signature::decode_signature(signature_hex)?;
        let hash = signature::eip191_hash(message.as_bytes());
        self.verify_signer(&parsed, &hash, &signature).await?;

        let wallet = parsed.address_checksummed().to_ascii_lowercase();
        let mut tx = self.db.begin().await?;
        if !store::consume_nonce(&mut tx, &parsed.nonce, now).await? {
            return Err(match store::find_nonce(&mut tx, &parsed.nonce).await? {
                None => AuthError::NonceUnknown,
                Some((_, Some(_))) => AuthError::NonceReused,
                Some((_, None)) => AuthError::NonceExpired,
            });
        }
        let user = users::upsert_user_by_wallet(&mut tx, &wallet).await?;
        if user.disabled {
            // The nonce stays consumed: the signed message cannot be replayed later.
            tx.commit().await?;
            return Err(AuthError::AccountDisabled);
        }
        // A session never outlives the SIWE message's own expiration time.
        let mut session_expires_at = now.plus(self.session_ttl);
        if let Some(message_expiry) = parsed.expires_at() {
            session_expires_at = session_expires_at.min(Timestamp::from(message_expiry));
        }
        let session_id = tokens::random_base64(16);
        let ip = client.ip.map(|ip| ip.to_string());
        let user_agent: Option<String> = client
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(256).collect());
        store::insert_session(
            &mut tx,
            &NewSession {
                id: &session_id,
                user_id: user.id,
                created_at: now,
                expires_at: session_expires_at,
                user_agent: user_agent.as_deref(),
                ip: ip.as_deref(),
            },
        )
        .await?;
        let refresh_token = tokens::new_refresh_token();
        store::insert_refresh_token(
            &mut tx,
            &tokens::hash_refresh_token(&refresh_token),
            &session_id,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(target: "auth", user_id = user.id, session = %session_id, "signed in");
        Ok(self.credentials(&user, session_id, refresh_token, session_expires_at, now))
    }

    /// EOA signatures are recovered locally; anything else is asked of the wallet contract
    /// (ERC-1271), but only on the chain the RPC endpoint serves. An RPC failure is an outage
    /// (503), never a sign-in.
    async fn verify_signer(
        &self,
        message: &SiweMessage,
        hash: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), AuthError> {
        let local = signature::recover_address(hash, signature);
        if local == Ok(message.address) {
            return Ok(());
        }
        let local_error = match local {
            Ok(_) => AuthError::SignatureMismatch,
            Err(e) => AuthError::Signature(e),
        };
        let Some(chain) = &self.chain else {
            return Err(local_error);
        };
        let chain_id = chain.chain_id().await.map_err(|e| {
            tracing::warn!(target: "auth", error = %e, "chain RPC unavailable");
            AuthError::ChainUnavailable
        })?;
        if chain_id != message.chain_id {
            return Err(local_error);
        }
        let wallet = Address::from(message.address);
        let is_contract = chain.has_code(wallet).await.map_err(|e| {
            tracing::warn!(target: "auth", error = %e, "chain RPC unavailable");
            AuthError::ChainUnavailable
        })?;
        if !is_contract {
            return Err(local_error);
        }
        match chain.is_valid_signature(wallet, *hash, signature).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AuthError::SignatureMismatch),
            Err(e) => {
                tracing::warn!(target: "auth", error = %e, "chain RPC unavailable");
                Err(AuthError::ChainUnavailable)
            }
        }
    }

    fn credentials(
        &self,
        user: &User,
        session_id: String,
        refresh_token: String,
        session_expires_at: Timestamp,
        now: Timestamp,
    ) -> Credentials {
        let (access_token, access_expires_at) =
            self.keys
                .issue_access(user.id, &user.wallet, &session_id, now);
        Credentials {
            access_token,
            access_expires_at: access_expires_at.min(session_expires_at),
            refresh_token,
            session_expires_at,
            session_id,
            user_id: user.id,
            wallet: user.wallet.clone(),
            is_admin: self.admin_wallets.contains(&user.wallet),
        }
    }

    /// Spends `refresh_token` and hands out a new pair. A token that was already spent is a
    /// sign of theft: the whole session (every token of its family) is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Credentials, AuthError> {
        if refresh_token.len() > 128 {
            return Err(AuthError::InvalidRefreshToken);
        }
        let hash = tokens::hash_refresh_token(refresh_token);
        let now = Timestamp::now();
        let mut tx = self.db.begin().await?;
        let Some(session_id) = store::spend_refresh_token(&mut tx, &hash, now).await? else {
            let Some(session_id) = store::find_spent_refresh_token(&mut tx, &hash).await? else {
                return Err(AuthError::InvalidRefreshToken);
            };
            store::revoke_session(&mut tx, &session_id, now, "refresh token reused").await?;
            let user_id = store::session_status_in(&mut tx, &session_id)
                .await?
                .map(|s| s.user_id);
            self.commit_revocation(tx, user_id, vec![session_id.clone()])
                .await?;
            tracing::warn!(target: "auth", session = %session_id, "refresh token reused; session revoked");
            return Err(AuthError::RefreshTokenReused);
        };
        let status = store::session_status_in(&mut tx, &session_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let verdict = session_verdict(&status, now);
        if let Err(error) = verdict {
            tx.commit().await?;
            return Err(match error {
                AuthError::SessionRevoked => AuthError::InvalidRefreshToken,
                other => other,
            });
        }
        let new_token = tokens::new_refresh_token();
        store::insert_refresh_token(
            &mut tx,
            &tokens::hash_refresh_token(&new_token),
            &session_id,
            now,
        )
        .await?;
        tx.commit().await?;
        let user = User {
            id: status.user_id,
            wallet: status.wallet.clone(),
            settings: None,
            disabled: false,
            created_at: status.created_at,
        };
        Ok(self.credentials(&user, session_id, new_token, status.expires_at, now))
    }

    /// Ends one session: its refresh token, its access tokens and its sockets stop working.
    pub async fn logout(&self, user_id: i64, session_id: &str) -> Result<(), AuthError> {
        let mut tx = self.db.begin().await?;
        store::revoke_session(&mut tx, session_id, Timestamp::now(), "logout").await?;
        self.commit_revocation(tx, Some(user_id), vec![session_id.to_owned()])
            .await
    }

    /// Ends every session of a user ("sign out everywhere").
    pub async fn logout_everywhere(&self, user_id: i64) -> Result<usize, AuthError> {
        let mut tx = self.db.begin().await?;
        let revoked =
            store::revoke_user_sessions(&mut tx, user_id, Timestamp::now(), "logout everywhere")
                .await?;
        let count = revoked.len();
        self.commit_revocation(tx, Some(user_id), revoked).await?;
        Ok(count)
    }

    /// Commits a revocation and tells every instance (session caches, open sockets).
    async fn commit_revocation(
        &self,
        mut tx: Tx,
        user_id: Option<i64>,
        session_ids: Vec<String>,
    ) -> Result<(), AuthError> {
        let event = BusEvent {
            topic: AuthService::SESSIONS_REVOKED.to_owned(),
            payload: json!({ "userId": user_id, "sessionIds": session_ids }),
        };
        let after_commit = self.bus.publish_in(&mut tx, event).await?;
        tx.commit().await?;
        for session_id in &session_ids {
            self.sessions.invalidate(session_id);
        }
        if let Some(event) = after_commit {
            self.bus.publish_local(event);
        }
        Ok(())
    }

    /// Drops cached session checks that another instance revoked; runs for the process's life.
    pub fn forget_revoked_sessions(self: &Arc<AuthService>) {
        let mut events = self.bus.subscribe();
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed some: forget everything rather than trust stale entries.
                        if let Some(service) = service.upgrade() {
                            service.sessions.invalidate_all();
                        }
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(service) = service.upgrade() else {
                    return;
                };
                if event.topic == AuthService::SESSIONS_REVOKED {
                    for id in event.payload["sessionIds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str())
                    {
                        service.sessions.invalidate(id);
                    }
                }
            }
        });
    }

    /// Checks an access token and that its session is still live.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, AuthError> {
        let claims = self.keys.verify_access(token)?;
        let status = match self.sessions.get(&claims.sid) {
            Some(status) => status,
            None => {
                let status = store::session_status(&self.db, &claims.sid)
                    .await?
                    .ok_or(AuthError::SessionRevoked)?;
                self.sessions.insert(claims.sid.clone(), status.clone());
                status
            }
        };
        session_verdict(&status, Timestamp::now())?;
        if status.user_id.to_string() != claims.sub {
            return Err(AuthError::InvalidToken);
        }
        Ok(AuthUser {
            user_id: status.user_id,
            is_admin: self.admin_wallets.contains(&status.wallet),
            wallet: status.wallet,
            session_id: claims.sid.clone(),
        })
    }

    /// Counts one sign-in request from `ip` against `AUTH_RATE_LIMIT`; `Err(wait)` when over it.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }

    /// The session behind an authenticated request (for `GET /auth/session`).
    pub async fn session(&self, session_id: &str) -> Result<SessionStatus, AuthError> {
        store::session_status(&self.db, session_id)
            .await?
            .ok_or(AuthError::SessionRevoked)
    }
}

fn session_verdict(status: &SessionStatus, now: Timestamp) -> Result<(), AuthError> {
    if status.revoked_at.is_some() || status.expires_at <= now {
        Err(AuthError::SessionRevoked)
    } else if status.disabled {
        Err(AuthError::AccountDisabled)
    } else {
        Ok(())
    }
}
