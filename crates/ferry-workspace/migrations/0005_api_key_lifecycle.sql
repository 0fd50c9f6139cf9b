-- API keys that can be named, expire and be revoked.
-- Portable SQL (SQLite and PostgreSQL): TEXT and BIGINT only, times in Unix milliseconds.
-- expires_at NULL: never expires. revoked_at NULL: not revoked. A key is refused from either time on.

ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
