-- Workspace accounts, browser sessions, API keys and linked BaseSpace accounts.
-- Portable SQL (SQLite and PostgreSQL): TEXT and BIGINT only, times in Unix milliseconds.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The session cookie carries 32 random bytes; only their SHA-256 is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- API keys: only the SHA-256 of the key is stored.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- One linked BaseSpace account per workspace user. The access token is stored only as
-- XChaCha20-Poly1305 ciphertext (base64 of nonce || ciphertext) under the key named by key_id,
-- authenticated with the user id and purpose as associated data.
CREATE TABLE basespace_links (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    api_server TEXT NOT NULL,
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    token_ciphertext TEXT NOT NULL,
    token_last4 TEXT NOT NULL,
    bs_user_id TEXT NOT NULL,
    bs_user_name TEXT NOT NULL,
    bs_user_email TEXT NOT NULL,
    context TEXT NOT NULL,
    linked_at BIGINT NOT NULL
);
