-- Failed logins, counted here so that every workspace process on this database enforces one
-- budget (ferry_db::FailureCounter).
CREATE TABLE attempt_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX attempt_failures_window ON attempt_failures (window_start);
