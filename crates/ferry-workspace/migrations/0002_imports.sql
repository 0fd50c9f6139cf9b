-- Imports from BaseSpace: the job queue (imports → per-file work items) and the samples it fills.
-- Portable SQL (SQLite and PostgreSQL): TEXT and BIGINT only, times in Unix milliseconds.
-- Work items are claimed with a lease (lease_owner, lease_until); a worker renews its lease while it
-- works, and an item whose lease expired (its worker died) is claimed again.

-- status: queued (not planned yet) → planning → running (files queued) → completed | failed | cancelled
CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    api_server TEXT NOT NULL DEFAULT '',
    error TEXT,
    report TEXT NOT NULL DEFAULT '[]',
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX imports_user ON imports (user_id, created_at);
CREATE INDEX imports_claim ON imports (status, not_before);

-- status: queued | running | completed | failed (derived from the files, kept up to date)
CREATE TABLE samples (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    genome TEXT,
    data_type TEXT,
    platform TEXT,
    workspace_project TEXT,
    import_id TEXT,
    source TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX samples_import ON samples (import_id);

-- One row per BaseSpace file (server, file id, ETag) per user: importing it again finds this row.
-- status: queued | running | completed | failed | cancelled
CREATE TABLE sample_files (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    import_id TEXT NOT NULL,
    name TEXT NOT NULL,
    read_number BIGINT,
    lane BIGINT,
    size BIGINT NOT NULL,
    api_server TEXT NOT NULL,
    bs_file_id TEXT NOT NULL,
    bs_etag TEXT NOT NULL,
    bs_dataset_id TEXT NOT NULL,
    bs_project_id TEXT,
    bs_biosample_id TEXT,
    blob_key TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    bytes_done BIGINT NOT NULL DEFAULT 0,
    md5 TEXT,
    sha256 TEXT,
    stats TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (user_id, api_server, bs_file_id, bs_etag)
);
CREATE INDEX sample_files_claim ON sample_files (status, not_before);
CREATE INDEX sample_files_import ON sample_files (import_id);
CREATE INDEX sample_files_sample ON sample_files (sample_id);
