-- Ferry hub schema. Portable between SQLite and PostgreSQL: TEXT and BIGINT only,
-- booleans as 0/1, times as Unix milliseconds, IDs made by the application.
-- A "context" (owner_id) is a user ID (personal context) or a workgroup ID: both come from the
-- same ID space, as a workgroup acts as a user on BaseSpace.

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_active BIGINT NOT NULL
);

CREATE TABLE workgroups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE memberships (
    workgroup_id TEXT NOT NULL REFERENCES workgroups (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    created BIGINT NOT NULL,
    PRIMARY KEY (workgroup_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id),
    context_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    revoked BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE device_codes (
    device_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll BIGINT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT,
    context_id TEXT
);

CREATE TABLE web_sessions (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id, id);
CREATE INDEX projects_owner_name ON projects (owner_id, name);

CREATE TABLE biosamples (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX biosamples_owner ON biosamples (owner_id, id);

CREATE TABLE appsessions (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    name TEXT NOT NULL,
    purpose TEXT NOT NULL,
    execution_status TEXT NOT NULL,
    status_summary TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    completed BIGINT NOT NULL
);
CREATE INDEX appsessions_owner ON appsessions (owner_id, id);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    experiment_name TEXT NOT NULL,
    status TEXT NOT NULL,
    flowcell_barcode TEXT NOT NULL,
    reagent_barcode TEXT NOT NULL,
    instrument_id BIGINT NOT NULL,
    instrument_name TEXT NOT NULL,
    instrument_type TEXT NOT NULL,
    platform_name TEXT NOT NULL,
    workflow TEXT NOT NULL,
    v1pre3_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX runs_owner ON runs (owner_id, id);

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id),
    biosample_id TEXT,
    appsession_id TEXT,
    run_id TEXT,
    name TEXT NOT NULL,
    dataset_type TEXT NOT NULL,
    attributes TEXT NOT NULL,
    upload_status TEXT NOT NULL,
    upload_status_summary TEXT NOT NULL,
    qc_status TEXT NOT NULL,
    v1pre3_number BIGINT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX datasets_owner ON datasets (owner_id, created);
CREATE INDEX datasets_project ON datasets (project_id, created);
CREATE INDEX datasets_biosample ON datasets (biosample_id);
CREATE INDEX datasets_run ON datasets (run_id);

-- A file belongs to a dataset or a run. Only status 'complete' is ever listed or served.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    dataset_id TEXT,
    run_id TEXT,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    directory TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    status TEXT NOT NULL,
    upload_id TEXT,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX files_dataset ON files (dataset_id, status, path);
CREATE INDEX files_run ON files (run_id, status, path);
CREATE INDEX files_upload ON files (upload_id);

-- Multipart uploads (v2 file-upload-info and v1pre3 parts): parts land in the blob store and are
-- only assembled into a visible file on completion.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    path TEXT NOT NULL,
    multipart BIGINT NOT NULL,
    status TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    part_number BIGINT NOT NULL,
    size BIGINT NOT NULL,
    md5 TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- At most one completed file per path in a dataset or a run.
CREATE UNIQUE INDEX files_dataset_path_complete ON files (dataset_id, path) WHERE status = 'complete';
CREATE UNIQUE INDEX files_run_path_complete ON files (run_id, path) WHERE status = 'complete';
