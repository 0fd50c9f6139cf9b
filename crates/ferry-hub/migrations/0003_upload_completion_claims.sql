-- When an upload was claimed for completion, so a claim left by a process that died mid-assembly
-- can be taken over (see api/uploads.rs, STALE_COMPLETION_MILLIS).
ALTER TABLE uploads ADD COLUMN completing_since BIGINT NOT NULL DEFAULT 0;
