-- What each import did, kept as it happened: one row per file of the import, written once when the
-- file settles (transferred, failed, cancelled) and never changed. Deleting or replacing samples
-- later, or importing a failed file again in another import, leaves an import's record as it was.
CREATE TABLE import_records (
    import_id TEXT NOT NULL,
    file_row_id TEXT NOT NULL,
    bs_file_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sample_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes_transferred BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    md5 TEXT,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (import_id, file_row_id)
);

-- What an import set out to do, fixed when it was planned; and a title naming what it imports.
ALTER TABLE imports ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE imports ADD COLUMN planned_files BIGINT;
ALTER TABLE imports ADD COLUMN planned_bytes BIGINT;

-- Imports from before this migration: their settled files as records, their files as the plan.
INSERT INTO import_records (import_id, file_row_id, bs_file_id, file_name, sample_name, size, bytes_transferred,
                            outcome, reason, md5, recorded_at)
SELECT f.import_id, f.id, f.bs_file_id, f.name, COALESCE(s.name, ''), f.size,
       CASE WHEN f.status = 'completed' THEN f.size ELSE f.bytes_done END,
       CASE WHEN f.status = 'completed' THEN 'transferred' ELSE f.status END,
       f.reason, f.md5, COALESCE(f.finished_at, f.created_at)
FROM sample_files f LEFT JOIN samples s ON s.id = f.sample_id
WHERE f.status IN ('completed', 'failed', 'cancelled');
UPDATE imports SET
    planned_files = (SELECT COUNT(*) FROM sample_files f WHERE f.import_id = imports.id),
    planned_bytes = (SELECT COALESCE(SUM(f.size), 0) FROM sample_files f WHERE f.import_id = imports.id)
WHERE status NOT IN ('queued', 'planning');
