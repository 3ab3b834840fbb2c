-- Single-use SIWE nonces issued by GET /auth/nonce.
CREATE TABLE auth_nonces (
    nonce TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    consumed_at TEXT
);
CREATE INDEX auth_nonces_expires_at_idx ON auth_nonces (expires_at);

-- A sign-in: its refresh tokens rotate within it; revoking it ends its access tokens too.
CREATE TABLE auth_sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);

-- Refresh tokens (SHA-256 of the token); `used_at` set when rotated. Reuse revokes the session.
CREATE TABLE auth_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX auth_refresh_tokens_session_id_idx ON auth_refresh_tokens (session_id);
