-- When BaseSpace last rejected the linked token (HTTP 401) while the workspace used it, so the
-- Profile and Import pages can say so and point to setting a new token. NULL: not rejected since
-- it was linked or last worked. Portable SQL (SQLite and PostgreSQL), Unix milliseconds.

ALTER TABLE basespace_links ADD COLUMN token_rejected_at BIGINT;
