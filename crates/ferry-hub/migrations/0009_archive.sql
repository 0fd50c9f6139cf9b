-- Archiving (`POST /v2/archive`, `POST /v2/restore`): `archived` is when a dataset or run was
-- archived (0: never); `restore_ready` is when the restore asked for since completes (0: none).
-- Archived and not yet restored, its files' bytes are not served.
ALTER TABLE datasets ADD COLUMN archived BIGINT NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN restore_ready BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN archived BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN restore_ready BIGINT NOT NULL DEFAULT 0;
