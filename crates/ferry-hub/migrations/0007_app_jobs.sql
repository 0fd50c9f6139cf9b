-- Launched applications. A launch writes the session (ExecutionStatus 'Running'), its checked
-- options and its job in one transaction; workers claim jobs with a lease and publish outputs
-- (datasets, files, the log file) in the same transaction that ends the session, so a session
-- is either running with nothing visible or ended with all of its outputs.
CREATE TABLE app_jobs (
    appsession_id TEXT PRIMARY KEY REFERENCES appsessions (id),
    owner_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    application_id TEXT NOT NULL,
    -- The checked launch options, field ID -> values (JSON), resources resolved to IDs.
    options TEXT NOT NULL,
    -- 'queued' (waiting or running under a lease) or 'finished'.
    state TEXT NOT NULL,
    -- Who holds the job and until when (Unix ms); an expired lease may be taken over.
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX app_jobs_claim ON app_jobs (state, lease_until, created);

-- What a launch was given, as BaseSpace keeps it: `Input.<field>` properties of the session.
CREATE TABLE appsession_properties (
    appsession_id TEXT NOT NULL REFERENCES appsessions (id),
    name TEXT NOT NULL,
    property_type TEXT NOT NULL,
    -- JSON array of the values.
    items TEXT NOT NULL,
    PRIMARY KEY (appsession_id, name)
);

-- A session's log lines while it runs (the log file is published when it ends).
CREATE TABLE appsession_log_lines (
    appsession_id TEXT NOT NULL REFERENCES appsessions (id),
    attempt BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (appsession_id, attempt, seq)
);

-- Log files belong to a session (`GET /v2/appsessions/{id}/logfiles`), not to a dataset.
ALTER TABLE files ADD COLUMN appsession_id TEXT;
CREATE INDEX files_appsession ON files (appsession_id, status, path);

-- A deleted session (`DELETE /v2/appsessions/{id}`) is no longer listed or served.
ALTER TABLE appsessions ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0;

-- Blobs an app attempt stored and nothing references yet; removed when the attempt is
-- stopped or superseded, forgotten when its files are published.
CREATE TABLE app_job_blobs (
    blob_key TEXT PRIMARY KEY,
    appsession_id TEXT NOT NULL REFERENCES appsessions (id),
    attempt BIGINT NOT NULL
);
CREATE INDEX app_job_blobs_session ON app_job_blobs (appsession_id);
