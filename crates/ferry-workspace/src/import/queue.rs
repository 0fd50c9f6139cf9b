//! The import queue and the samples it fills, in the database.
//!
//! Both engines run the same SQL except the claim, where PostgreSQL locks with `FOR UPDATE SKIP
//! LOCKED` and SQLite relies on a single `UPDATE … RETURNING` statement being atomic.

use std::collections::{BTreeMap, HashMap};

use ferry_api::dates::now_millis;
use ferry_db::Engine;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::plan::{Plan, PlannedSample, TargetReport};
use super::{
    FileSource, ImportError, ImportRequest, ImportSample, ImportStatus, Inner, OnConflict, ReportEntry, SampleDetail,
    SampleFile, SampleSource, SampleSummary,
};

/// Most IDs one request may name.
const MAX_REQUEST_IDS: usize = 10_000;
/// Imports listed per user.
const LIST_LIMIT: i64 = 200;

/// Starts a transaction that writes. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so
/// a transaction that reads before it writes waits for other writers instead of failing.
async fn begin_write(inner: &Inner) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    match inner.db.engine {
        Engine::Sqlite => inner.db.pool.begin_with("BEGIN IMMEDIATE").await,
        Engine::Postgres => inner.db.pool.begin().await,
    }
}

/// What became of a file within one import, as its record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Transferred, verified and stored.
    Transferred,
    /// Failed for good.
    Failed,
    /// Stopped before it finished: the import was cancelled, or its sample deleted or replaced.
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Transferred => "transferred",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// `INSERT … SELECT` of import records from the `sample_files` rows (alias `f`) the condition
/// selects with `$1`; `$2` is the outcome, `$3` the reason, `$4` the time. A file already
/// recorded for its import keeps its first record: records are written once.
macro_rules! record_outcomes_where {
    ($condition:literal) => {
        concat!(
            "INSERT INTO import_records (import_id, file_row_id, bs_file_id, file_name, sample_name, size, \
               bytes_transferred, outcome, reason, md5, recorded_at) \
             SELECT f.import_id, f.id, f.bs_file_id, f.name, COALESCE(s.name, ''), f.size, \
               CASE WHEN $2 = 'transferred' THEN f.size ELSE f.bytes_done END, $2, $3, f.md5, $4 \
             FROM sample_files f LEFT JOIN samples s ON s.id = f.sample_id WHERE ",
            $condition,
            " ON CONFLICT (import_id, file_row_id) DO NOTHING"
        )
    };
}

/// Which files an outcome is recorded for.
#[derive(Debug, Clone, Copy)]
enum Recorded<'a> {
    /// One file (by its row ID).
    File(&'a str),
    /// The files of an import that have not settled yet.
    UnsettledOfImport(&'a str),
    /// The files of a sample that have not settled yet.
    UnsettledOfSample(&'a str),
}

async fn record_outcome(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    which: Recorded<'_>,
    outcome: Outcome,
    reason: Option<&str>,
) -> Result<(), ImportError> {
    let (sql, key) = match which {
        Recorded::File(id) => (record_outcomes_where!("f.id = $1"), id),
        Recorded::UnsettledOfImport(id) => (
            record_outcomes_where!("f.import_id = $1 AND f.status IN ('queued', 'running')"),
            id,
        ),
        Recorded::UnsettledOfSample(id) => (
            record_outcomes_where!("f.sample_id = $1 AND f.status IN ('queued', 'running')"),
            id,
        ),
    };
    sqlx::query(sql)
        .bind(key)
        .bind(outcome.as_str())
        .bind(reason)
        .bind(now_millis())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(crate) fn rfc3339(millis: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Trims and checks a sample name given by the user.
pub(crate) fn check_sample_name(name: &str) -> Result<String, ImportError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ImportError::Invalid("the sample name to merge into is empty".into()));
    }
    if name.chars().count() > 200 {
        return Err(ImportError::Invalid(
            "the sample name is longer than 200 characters".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ImportError::Invalid(
            "the sample name contains control characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn check_ids(kind: &str, ids: &[String]) -> Result<Vec<String>, ImportError> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim();
        if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(ImportError::Invalid(format!("{kind} ID {id:?} is not a BaseSpace ID")));
        }
        if !out.iter().any(|seen| seen == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

pub(crate) async fn enqueue(inner: &Inner, user_id: &str, mut request: ImportRequest) -> Result<String, ImportError> {
    request.project_ids = check_ids("project", &request.project_ids)?;
    request.biosample_ids = check_ids("biosample", &request.biosample_ids)?;
    request.run_ids = check_ids("run", &request.run_ids)?;
    request.dataset_ids = check_ids("dataset", &request.dataset_ids)?;
    let count =
        request.project_ids.len() + request.biosample_ids.len() + request.run_ids.len() + request.dataset_ids.len();
    if count == 0 {
        return Err(ImportError::Invalid(
            "nothing to import: give project_ids, biosample_ids, run_ids or dataset_ids".into(),
        ));
    }
    if count > MAX_REQUEST_IDS {
        return Err(ImportError::Invalid(format!(
            "too many IDs in one import ({count}; at most {MAX_REQUEST_IDS})"
        )));
    }
    if let Some(name) = &request.options.merge_into {
        request.options.merge_into = Some(check_sample_name(name)?);
    }
    let client = inner.clients.client_for(user_id).await.map_err(ImportError::Account)?;
    let id = new_id();
    let body = serde_json::to_string(&request).map_err(|e| ImportError::Invalid(e.to_string()))?;
    sqlx::query(
        "INSERT INTO imports (id, user_id, request, status, api_server, created_at) VALUES ($1, $2, $3, 'queued', $4, $5)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(body)
    .bind(client.api_server().trim_end_matches('/'))
    .bind(now_millis())
    .execute(&inner.db.pool)
    .await?;
    inner.wake.notify_one();
    tracing::info!(import = %id, user = %user_id, "import queued");
    Ok(id)
}

fn opt_u64(value: Option<i64>) -> u64 {
    value.unwrap_or(0).max(0) as u64
}

/// Public status of an import from its stored status.
fn public_import_status(status: &str) -> String {
    match status {
        "planning" => "running".to_string(),
        other => other.to_string(),
    }
}

/// The columns an import's status is built from.
const IMPORT_COLUMNS: &str = "id, request, status, error, report, title, planned_files, planned_bytes, created_at, \
                              started_at, finished_at";

pub(crate) async fn status(inner: &Inner, user_id: &str, import_id: &str) -> Result<ImportStatus, ImportError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1 AND user_id = $2"
    )))
    .bind(import_id)
    .bind(user_id)
    .fetch_optional(&inner.db.pool)
    .await?
    .ok_or_else(|| ImportError::NotFound(format!("import {import_id}")))?;
    import_status_from_row(inner, &row).await
}

/// A title for an import not planned yet: what was asked for, by count.
fn requested_title(request: &ImportRequest) -> String {
    let count = |n: usize, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    let parts: Vec<String> = [
        count(request.project_ids.len(), "project", "projects"),
        count(request.biosample_ids.len(), "biosample", "biosamples"),
        count(request.run_ids.len(), "run", "runs"),
        count(request.dataset_ids.len(), "dataset", "datasets"),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("Import of {}", parts.join(", "))
}

/// What an import's records say happened to its files, per sample name.
#[derive(Default)]
struct SampleOutcomes {
    transferred: u64,
    failed: u64,
    cancelled: u64,
    reason: Option<String>,
}

async fn import_status_from_row(inner: &Inner, row: &AnyRow) -> Result<ImportStatus, ImportError> {
    let id: String = row.try_get("id")?;
    let request: ImportRequest = serde_json::from_str(&row.try_get::<String, _>("request")?).unwrap_or_default();
    let stored_status: String = row.try_get("status")?;
    let error: Option<String> = row.try_get("error")?;
    let stored_report: Vec<TargetReport> =
        serde_json::from_str(&row.try_get::<String, _>("report")?).unwrap_or_default();
    let stored_title: String = row.try_get("title")?;
    let planned_files: Option<i64> = row.try_get("planned_files")?;
    let planned_bytes: Option<i64> = row.try_get("planned_bytes")?;
    let created_at: i64 = row.try_get("created_at")?;
    let started_at: Option<i64> = row.try_get("started_at")?;
    let finished_at: Option<i64> = row.try_get("finished_at")?;

    // What happened, from the import's own records (written once, never changed) …
    let records = sqlx::query(
        "SELECT file_name, sample_name, bytes_transferred, outcome, reason FROM import_records \
         WHERE import_id = $1 ORDER BY file_name",
    )
    .bind(&id)
    .fetch_all(&inner.db.pool)
    .await?;
    let (mut files_done, mut files_failed, mut files_cancelled, mut bytes_done) = (0u64, 0u64, 0u64, 0u64);
    let mut errors = Vec::new();
    if let Some(error) = &error {
        errors.push(error.clone());
    }
    let mut outcomes: HashMap<String, SampleOutcomes> = HashMap::new();
    for record in &records {
        let sample_name: String = record.try_get("sample_name")?;
        let reason: Option<String> = record.try_get("reason")?;
        let entry = outcomes.entry(sample_name.clone()).or_default();
        match record.try_get::<String, _>("outcome")?.as_str() {
            "transferred" => {
                files_done += 1;
                bytes_done += opt_u64(record.try_get("bytes_transferred")?);
                entry.transferred += 1;
            }
            "failed" => {
                files_failed += 1;
                entry.failed += 1;
                let file: String = record.try_get("file_name")?;
                let why = reason.clone().unwrap_or_else(|| "failed".into());
                errors.push(format!("{file} (sample {sample_name}): {why}"));
                entry.reason.get_or_insert(format!("{file}: {why}"));
            }
            _ => {
                files_cancelled += 1;
                entry.cancelled += 1;
                if entry.failed == 0 {
                    entry.reason = reason;
                }
            }
        }
    }
    // … and, while it runs, the files still on their way.
    let unsettled = sqlx::query(
        "SELECT f.bytes_done, f.status, s.name AS sample_name FROM sample_files f \
         LEFT JOIN samples s ON s.id = f.sample_id \
         WHERE f.import_id = $1 AND f.status IN ('queued', 'running')",
    )
    .bind(&id)
    .fetch_all(&inner.db.pool)
    .await?;
    let mut under_way: HashMap<String, String> = HashMap::new();
    for file in &unsettled {
        bytes_done += opt_u64(file.try_get("bytes_done")?);
        let name: Option<String> = file.try_get("sample_name")?;
        let status: String = file.try_get("status")?;
        let current = under_way
            .entry(name.unwrap_or_default())
            .or_insert_with(|| "queued".into());
        if status == "running" {
            *current = status;
        }
    }
    let files_total = planned_files.map_or(records.len() as u64 + unsettled.len() as u64, |n| opt_u64(Some(n)));
    let bytes_total = planned_bytes.map_or(bytes_done, |n| opt_u64(Some(n)));

    // The samples it fills, as they are now (shown beside the record, never written into it).
    let sample_rows = sqlx::query("SELECT id, name, status, reason FROM samples WHERE import_id = $1 ORDER BY name")
        .bind(&id)
        .fetch_all(&inner.db.pool)
        .await?;
    let mut samples = Vec::with_capacity(sample_rows.len());
    for sample in &sample_rows {
        samples.push(ImportSample {
            id: sample.try_get("id")?,
            name: sample.try_get("name")?,
            status: sample.try_get("status")?,
            reason: sample.try_get("reason")?,
        });
    }
    let referenced: Vec<&str> = stored_report.iter().filter_map(|e| e.sample_id.as_deref()).collect();
    let existing = existing_samples(inner, &referenced).await?;

    let report = stored_report
        .into_iter()
        .map(|entry| {
            let sample_name = entry.sample_name.clone().unwrap_or_default();
            let (status, reason) = match entry.status.as_str() {
                "imported" => match (under_way.get(&sample_name), outcomes.get(&sample_name)) {
                    (Some(current), _) => (current.clone(), None),
                    (None, Some(done)) if done.failed > 0 => ("failed".to_string(), done.reason.clone()),
                    (None, Some(done)) if done.cancelled > 0 => ("cancelled".to_string(), done.reason.clone()),
                    // Every file arrived, or (files retried from an earlier import) nothing new was due.
                    _ => ("completed".to_string(), None),
                },
                _ => (entry.status.clone(), entry.reason.clone()),
            };
            ReportEntry {
                sample_exists: entry.sample_id.as_deref().is_some_and(|id| existing.contains(id)),
                biosample_id: entry.biosample_id,
                biosample_name: entry.biosample_name,
                sample_id: entry.sample_id,
                sample_name: entry.sample_name,
                status,
                reason,
            }
        })
        .collect();

    let end = finished_at.unwrap_or_else(now_millis);
    let elapsed = started_at
        .map(|start| (end - start).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let rate = if elapsed > 0.0 {
        bytes_done as f64 / elapsed
    } else {
        0.0
    };
    let status = public_import_status(&stored_status);
    let eta_seconds = if status == "running" && rate > 0.0 && bytes_total >= bytes_done {
        Some(((bytes_total - bytes_done) as f64 / rate).ceil() as u64)
    } else {
        None
    };
    let title = if stored_title.is_empty() {
        requested_title(&request)
    } else {
        stored_title
    };
    Ok(ImportStatus {
        id,
        title,
        status,
        request,
        files_total,
        files_done,
        files_failed,
        files_cancelled,
        bytes_total,
        bytes_done,
        rate_bytes_per_sec: rate,
        eta_seconds,
        samples,
        errors,
        report,
        created_at: rfc3339(created_at),
        started_at: started_at.map(rfc3339),
        finished_at: finished_at.map(rfc3339),
    })
}

/// Which of these sample IDs still exist.
async fn existing_samples(inner: &Inner, ids: &[&str]) -> Result<std::collections::HashSet<String>, ImportError> {
    let mut found = std::collections::HashSet::new();
    for id in ids {
        if found.contains(*id) {
            continue;
        }
        if sqlx::query("SELECT id FROM samples WHERE id = $1")
            .bind(*id)
            .fetch_optional(&inner.db.pool)
            .await?
            .is_some()
        {
            found.insert((*id).to_string());
        }
    }
    Ok(found)
}

pub(crate) async fn list_imports(inner: &Inner, user_id: &str) -> Result<Vec<ImportStatus>, ImportError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMPORT_COLUMNS} FROM imports WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2"
    )))
    .bind(user_id)
    .bind(LIST_LIMIT)
    .fetch_all(&inner.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(import_status_from_row(inner, row).await?);
    }
    Ok(out)
}

pub(crate) async fn cancel(inner: &Inner, user_id: &str, import_id: &str) -> Result<(), ImportError> {
    let row = sqlx::query("SELECT status FROM imports WHERE id = $1 AND user_id = $2")
        .bind(import_id)
        .bind(user_id)
        .fetch_optional(&inner.db.pool)
        .await?
        .ok_or_else(|| ImportError::NotFound(format!("import {import_id}")))?;
    let status: String = row.try_get("status")?;
    match status.as_str() {
        "cancelled" => return Ok(()),
        "completed" | "failed" => {
            return Err(ImportError::Invalid(format!(
                "import {import_id} has already finished ({status}); delete its samples instead"
            )));
        }
        _ => {}
    }
    let now = now_millis();
    let mut tx = begin_write(inner).await?;
    record_outcome(
        &mut tx,
        Recorded::UnsettledOfImport(import_id),
        Outcome::Cancelled,
        Some("cancelled by the user"),
    )
    .await?;
    sqlx::query(
        "UPDATE imports SET status = 'cancelled', finished_at = $2, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND status IN ('queued', 'planning', 'running')",
    )
    .bind(import_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE sample_files SET status = 'cancelled', reason = 'cancelled by the user', finished_at = $2 \
         WHERE import_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(import_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let samples = sqlx::query("SELECT id FROM samples WHERE import_id = $1")
        .bind(import_id)
        .fetch_all(&inner.db.pool)
        .await?;
    for sample in samples {
        refresh_sample(inner, &sample.try_get::<String, _>("id")?).await?;
    }
    tracing::info!(import = %import_id, "import cancelled");
    Ok(())
}

/// Recomputes a sample's status from its files.
pub(crate) async fn refresh_sample(inner: &Inner, sample_id: &str) -> Result<(), ImportError> {
    sqlx::query(
        "UPDATE samples SET \
           status = CASE \
             WHEN EXISTS (SELECT 1 FROM sample_files f WHERE f.sample_id = $1 AND f.status = 'failed') THEN 'failed' \
             WHEN EXISTS (SELECT 1 FROM sample_files f WHERE f.sample_id = $1 AND f.status = 'running') THEN 'running' \
             WHEN EXISTS (SELECT 1 FROM sample_files f WHERE f.sample_id = $1 AND f.status = 'queued') THEN \
               CASE WHEN EXISTS (SELECT 1 FROM sample_files f WHERE f.sample_id = $1 AND f.status = 'completed') \
                 THEN 'running' ELSE 'queued' END \
             WHEN EXISTS (SELECT 1 FROM sample_files f WHERE f.sample_id = $1 AND f.status = 'cancelled') THEN 'cancelled' \
             ELSE 'completed' END, \
           reason = (SELECT f.name || ': ' || COALESCE(f.reason, 'failed') FROM sample_files f \
                     WHERE f.sample_id = $1 AND f.status IN ('failed', 'cancelled') ORDER BY f.status DESC, f.name LIMIT 1) \
         WHERE id = $1",
    )
    .bind(sample_id)
    .execute(&inner.db.pool)
    .await?;
    Ok(())
}

/// Marks an import finished when none of its files is queued or running any more.
pub(crate) async fn finish_import_if_done(inner: &Inner, import_id: &str) -> Result<(), ImportError> {
    let done = sqlx::query(
        "UPDATE imports SET \
           status = CASE WHEN EXISTS (SELECT 1 FROM import_records r WHERE r.import_id = $1 AND r.outcome = 'failed') \
                    THEN 'failed' ELSE 'completed' END, \
           finished_at = $2, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND status = 'running' \
           AND NOT EXISTS (SELECT 1 FROM sample_files f WHERE f.import_id = $1 AND f.status IN ('queued', 'running'))",
    )
    .bind(import_id)
    .bind(now_millis())
    .execute(&inner.db.pool)
    .await?;
    if done.rows_affected() > 0 {
        tracing::info!(import = %import_id, "import finished");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Samples

#[derive(Default)]
struct FileAggregate {
    count: u64,
    size: u64,
    reads: u64,
    reads_known: bool,
    reads_missing: bool,
    paired: bool,
}

fn sample_source(text: &str) -> SampleSource {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let list = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let project_ids = list("project_ids");
    let biosample_ids = list("biosample_ids");
    SampleSource {
        api_server: value
            .get("api_server")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        project_id: project_ids.first().cloned(),
        biosample_id: biosample_ids.first().cloned(),
        project_ids,
        biosample_ids,
        biosample_names: list("biosample_names"),
        run_ids: list("run_ids"),
    }
}

pub(crate) fn source_json(source: &SampleSource) -> String {
    serde_json::json!({
        "api_server": source.api_server,
        "project_ids": source.project_ids,
        "biosample_ids": source.biosample_ids,
        "biosample_names": source.biosample_names,
        "run_ids": source.run_ids,
    })
    .to_string()
}

pub(crate) async fn samples(inner: &Inner, user_id: &str) -> Result<Vec<SampleSummary>, ImportError> {
    let rows = sqlx::query(
        "SELECT id, name, status, reason, genome, data_type, platform, workspace_project, import_id, source, created_at \
         FROM samples WHERE user_id = $1 ORDER BY created_at DESC, name",
    )
    .bind(user_id)
    .fetch_all(&inner.db.pool)
    .await?;
    let files = sqlx::query("SELECT sample_id, size, read_number, stats FROM sample_files WHERE user_id = $1")
        .bind(user_id)
        .fetch_all(&inner.db.pool)
        .await?;
    let mut aggregates: HashMap<String, FileAggregate> = HashMap::new();
    for file in &files {
        let sample_id: String = file.try_get("sample_id")?;
        let entry = aggregates.entry(sample_id).or_default();
        entry.count += 1;
        entry.size += opt_u64(Some(file.try_get::<i64, _>("size")?));
        if file.try_get::<Option<i64>, _>("read_number")? == Some(2) {
            entry.paired = true;
        }
        match file
            .try_get::<Option<String>, _>("stats")?
            .and_then(|s| parse_stats(&s))
        {
            Some(stats) => {
                entry.reads += stats.reads;
                entry.reads_known = true;
            }
            None => entry.reads_missing = true,
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let aggregate = aggregates.remove(&id).unwrap_or_default();
        out.push(SampleSummary {
            name: row.try_get("name")?,
            status: row.try_get("status")?,
            reason: row.try_get("reason")?,
            file_count: aggregate.count,
            size: aggregate.size,
            reads: (aggregate.reads_known && !aggregate.reads_missing).then_some(aggregate.reads),
            paired: aggregate.paired,
            genome: row.try_get("genome")?,
            data_type: row.try_get("data_type")?,
            platform: row.try_get("platform")?,
            workspace_project: row.try_get("workspace_project")?,
            import_id: row.try_get("import_id")?,
            source: sample_source(&row.try_get::<String, _>("source")?),
            created_at: rfc3339(row.try_get("created_at")?),
            id,
        });
    }
    Ok(out)
}

fn parse_stats(text: &str) -> Option<ferry_fastq::FastqStats> {
    serde_json::from_str(text).ok()
}

fn sample_file_from_row(row: &AnyRow) -> Result<SampleFile, ImportError> {
    let stats = row.try_get::<Option<String>, _>("stats")?.and_then(|s| parse_stats(&s));
    let status: String = row.try_get("status")?;
    let size = opt_u64(Some(row.try_get("size")?));
    let bytes_done = if status == "completed" {
        size
    } else {
        opt_u64(Some(row.try_get("bytes_done")?))
    };
    Ok(SampleFile {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        read: row
            .try_get::<Option<i64>, _>("read_number")?
            .and_then(|r| u8::try_from(r).ok()),
        lane: row
            .try_get::<Option<i64>, _>("lane")?
            .and_then(|l| u32::try_from(l).ok()),
        size,
        bytes_done,
        md5: row.try_get("md5")?,
        sha256: row.try_get("sha256")?,
        reads: stats.as_ref().map(|s| s.reads),
        bases: stats.as_ref().map(|s| s.bases),
        mean_quality: stats.as_ref().map(|s| s.mean_quality()),
        gc_percent: stats.as_ref().map(|s| s.gc_percent()),
        q30_percent: stats.as_ref().map(|s| s.q30_percent()),
        min_length: stats.as_ref().map(|s| s.min_length),
        max_length: stats.as_ref().map(|s| s.max_length),
        status,
        reason: row.try_get("reason")?,
        source: FileSource {
            api_server: row.try_get("api_server")?,
            project_id: row.try_get("bs_project_id")?,
            biosample_id: row.try_get("bs_biosample_id")?,
            dataset_id: row.try_get("bs_dataset_id")?,
            file_id: row.try_get("bs_file_id")?,
            etag: row.try_get("bs_etag")?,
        },
    })
}

pub(crate) async fn sample(inner: &Inner, user_id: &str, sample_id: &str) -> Result<SampleDetail, ImportError> {
    let row = sqlx::query(
        "SELECT id, name, status, reason, genome, data_type, platform, workspace_project, import_id, source, created_at \
         FROM samples WHERE id = $1 AND user_id = $2",
    )
    .bind(sample_id)
    .bind(user_id)
    .fetch_optional(&inner.db.pool)
    .await?
    .ok_or_else(|| ImportError::NotFound(format!("sample {sample_id}")))?;
    let file_rows = sqlx::query(
        "SELECT id, name, read_number, lane, size, bytes_done, md5, sha256, stats, status, reason, api_server, \
                bs_project_id, bs_biosample_id, bs_dataset_id, bs_file_id, bs_etag, blob_key \
         FROM sample_files WHERE sample_id = $1 AND user_id = $2 ORDER BY lane, read_number, name",
    )
    .bind(sample_id)
    .bind(user_id)
    .fetch_all(&inner.db.pool)
    .await?;
    let mut files = Vec::with_capacity(file_rows.len());
    for file in &file_rows {
        files.push(sample_file_from_row(file)?);
    }
    Ok(SampleDetail {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        files,
        genome: row.try_get("genome")?,
        data_type: row.try_get("data_type")?,
        platform: row.try_get("platform")?,
        workspace_project: row.try_get("workspace_project")?,
        import_id: row.try_get("import_id")?,
        source: sample_source(&row.try_get::<String, _>("source")?),
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// Deletes sample rows inside `tx`; returns the blob keys to remove once committed.
async fn delete_sample_rows(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    sample_id: &str,
) -> Result<Vec<String>, ImportError> {
    // Files still on their way: their import's record says they stopped, and why.
    record_outcome(
        tx,
        Recorded::UnsettledOfSample(sample_id),
        Outcome::Cancelled,
        Some("its sample was deleted or replaced before the file arrived"),
    )
    .await?;
    let keys = sqlx::query("SELECT blob_key FROM sample_files WHERE sample_id = $1 AND user_id = $2")
        .bind(sample_id)
        .bind(user_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>("blob_key"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("DELETE FROM sample_files WHERE sample_id = $1 AND user_id = $2")
        .bind(sample_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM samples WHERE id = $1 AND user_id = $2")
        .bind(sample_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(keys)
}

/// Removes stored blobs (complete and partial) of deleted files; failures are logged, not fatal.
pub(crate) async fn remove_blobs(inner: &Inner, keys: &[String]) {
    for key in keys {
        if let Err(error) = super::transfer::discard_blob(inner, key).await {
            tracing::warn!(%key, %error, "could not remove a deleted file's bytes");
        }
    }
}

pub(crate) async fn delete_sample(inner: &Inner, user_id: &str, sample_id: &str) -> Result<(), ImportError> {
    let mut tx = begin_write(inner).await?;
    let exists = sqlx::query("SELECT import_id FROM samples WHERE id = $1 AND user_id = $2")
        .bind(sample_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ImportError::NotFound(format!("sample {sample_id}")))?;
    let import_id: Option<String> = exists.try_get("import_id")?;
    let keys = delete_sample_rows(&mut tx, user_id, sample_id).await?;
    tx.commit().await?;
    remove_blobs(inner, &keys).await;
    if let Some(import_id) = import_id {
        finish_import_if_done(inner, &import_id).await?;
    }
    tracing::info!(sample = %sample_id, files = keys.len(), "sample deleted");
    Ok(())
}

pub(crate) async fn open_sample_file(
    inner: &Inner,
    user_id: &str,
    sample_id: &str,
    file_id: &str,
) -> Result<(SampleFile, ferry_store::BlobReader), ImportError> {
    let row = sqlx::query(
        "SELECT id, name, read_number, lane, size, bytes_done, md5, sha256, stats, status, reason, api_server, \
                bs_project_id, bs_biosample_id, bs_dataset_id, bs_file_id, bs_etag, blob_key \
         FROM sample_files WHERE id = $1 AND sample_id = $2 AND user_id = $3",
    )
    .bind(file_id)
    .bind(sample_id)
    .bind(user_id)
    .fetch_optional(&inner.db.pool)
    .await?
    .ok_or_else(|| ImportError::NotFound(format!("file {file_id} of sample {sample_id}")))?;
    let file = sample_file_from_row(&row)?;
    if file.status != "completed" {
        return Err(ImportError::Invalid(format!(
            "{} is not imported yet (status {}); wait for the import to finish",
            file.name, file.status
        )));
    }
    let key: String = row.try_get("blob_key")?;
    let reader = inner
        .store
        .open(&key, None)
        .await
        .map_err(|e| ImportError::Storage(e.to_string()))?;
    Ok((file, reader))
}

// ---------------------------------------------------------------------------------------------
// Claims

/// An import claimed for planning.
pub(crate) struct ClaimedImport {
    pub id: String,
    pub user_id: String,
    pub request: ImportRequest,
    pub attempts: i64,
    /// This claim's lease token (the service's worker ID and a per-claim nonce).
    pub lease: String,
}

const CLAIM_IMPORT_PG: &str = "UPDATE imports SET status = 'planning', lease_owner = $1, lease_until = $2, \
       attempts = attempts + 1, started_at = COALESCE(started_at, $3) \
     WHERE id = (SELECT id FROM imports \
                 WHERE (status = 'queued' AND not_before <= $3) OR (status = 'planning' AND lease_until < $3) \
                 ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, user_id, request, attempts";
const CLAIM_IMPORT_SQLITE: &str = "UPDATE imports SET status = 'planning', lease_owner = $1, lease_until = $2, \
       attempts = attempts + 1, started_at = COALESCE(started_at, $3) \
     WHERE id = (SELECT id FROM imports \
                 WHERE (status = 'queued' AND not_before <= $3) OR (status = 'planning' AND lease_until < $3) \
                 ORDER BY created_at, id LIMIT 1) \
     RETURNING id, user_id, request, attempts";

pub(crate) async fn claim_import(inner: &Inner) -> Result<Option<ClaimedImport>, ImportError> {
    let now = now_millis();
    let sql = match inner.db.engine {
        Engine::Postgres => CLAIM_IMPORT_PG,
        Engine::Sqlite => CLAIM_IMPORT_SQLITE,
    };
    let lease = lease_token(inner);
    let row = sqlx::query(sql)
        .bind(&lease)
        .bind(now + lease_millis(inner))
        .bind(now)
        .fetch_optional(&inner.db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ClaimedImport {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        request: serde_json::from_str(&row.try_get::<String, _>("request")?).unwrap_or_default(),
        attempts: row.try_get("attempts")?,
        lease,
    }))
}

/// A token naming one claim: another claim of the same item, even in this process, has another.
fn lease_token(inner: &Inner) -> String {
    format!("{}/{}", inner.worker_id(), new_id())
}

pub(crate) fn lease_millis(inner: &Inner) -> i64 {
    i64::try_from(inner.config.lease.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Ends the leases that an earlier run under the worker name `worker_id` still holds (it was
/// killed), so that its plans and files are claimed again now rather than when the leases run out.
/// Returns how many were freed.
pub(crate) async fn reclaim_leases(inner: &Inner, worker_id: &str) -> Result<u64, ImportError> {
    // Worker names are letters, digits and dashes: nothing LIKE would read as a wildcard.
    let owned = format!("{worker_id}/%");
    let files = sqlx::query("UPDATE sample_files SET lease_until = 0 WHERE status = 'running' AND lease_owner LIKE $1")
        .bind(&owned)
        .execute(&inner.db.pool)
        .await?;
    let imports = sqlx::query("UPDATE imports SET lease_until = 0 WHERE status = 'planning' AND lease_owner LIKE $1")
        .bind(&owned)
        .execute(&inner.db.pool)
        .await?;
    Ok(files.rows_affected() + imports.rows_affected())
}

/// Renews the planning lease; false when the import is no longer ours (cancelled, or taken over).
pub(crate) async fn renew_import(inner: &Inner, import: &ClaimedImport) -> Result<bool, ImportError> {
    let done =
        sqlx::query("UPDATE imports SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'planning'")
            .bind(&import.id)
            .bind(&import.lease)
            .bind(now_millis() + lease_millis(inner))
            .execute(&inner.db.pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Planning failed for good.
pub(crate) async fn fail_import(inner: &Inner, import: &ClaimedImport, error: &str) -> Result<(), ImportError> {
    sqlx::query(
        "UPDATE imports SET status = 'failed', error = $3, finished_at = $4, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'planning'",
    )
    .bind(&import.id)
    .bind(&import.lease)
    .bind(error)
    .bind(now_millis())
    .execute(&inner.db.pool)
    .await?;
    Ok(())
}

/// Planning failed for now: back to the queue after `delay_ms`.
pub(crate) async fn retry_import(
    inner: &Inner,
    import: &ClaimedImport,
    error: &str,
    delay_ms: i64,
) -> Result<(), ImportError> {
    sqlx::query(
        "UPDATE imports SET status = 'queued', error = $3, not_before = $4, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'planning'",
    )
    .bind(&import.id)
    .bind(&import.lease)
    .bind(error)
    .bind(now_millis() + delay_ms)
    .execute(&inner.db.pool)
    .await?;
    Ok(())
}

/// Gives a claimed import back untouched (shutdown).
pub(crate) async fn release_import(inner: &Inner, import: &ClaimedImport) -> Result<(), ImportError> {
    sqlx::query(
        "UPDATE imports SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'planning'",
    )
    .bind(&import.id)
    .bind(&import.lease)
    .execute(&inner.db.pool)
    .await?;
    Ok(())
}

/// A file claimed for transfer.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedFile {
    pub id: String,
    pub user_id: String,
    pub sample_id: String,
    pub import_id: String,
    pub name: String,
    pub size: u64,
    pub api_server: String,
    pub bs_file_id: String,
    pub bs_etag: String,
    pub blob_key: String,
    pub attempts: i64,
    /// This claim's lease token.
    pub lease: String,
}

const CLAIM_FILE_PG: &str = "UPDATE sample_files SET status = 'running', lease_owner = $1, lease_until = $2, \
       attempts = attempts + 1 \
     WHERE id = (SELECT id FROM sample_files \
                 WHERE (status = 'queued' AND not_before <= $3) OR (status = 'running' AND lease_until < $3) \
                 ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, user_id, sample_id, import_id, name, size, api_server, bs_file_id, bs_etag, blob_key, attempts";
const CLAIM_FILE_SQLITE: &str = "UPDATE sample_files SET status = 'running', lease_owner = $1, lease_until = $2, \
       attempts = attempts + 1 \
     WHERE id = (SELECT id FROM sample_files \
                 WHERE (status = 'queued' AND not_before <= $3) OR (status = 'running' AND lease_until < $3) \
                 ORDER BY created_at, id LIMIT 1) \
     RETURNING id, user_id, sample_id, import_id, name, size, api_server, bs_file_id, bs_etag, blob_key, attempts";

pub(crate) async fn claim_file(inner: &Inner) -> Result<Option<ClaimedFile>, ImportError> {
    let now = now_millis();
    let sql = match inner.db.engine {
        Engine::Postgres => CLAIM_FILE_PG,
        Engine::Sqlite => CLAIM_FILE_SQLITE,
    };
    let lease = lease_token(inner);
    let row = sqlx::query(sql)
        .bind(&lease)
        .bind(now + lease_millis(inner))
        .bind(now)
        .fetch_optional(&inner.db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let file = ClaimedFile {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        sample_id: row.try_get("sample_id")?,
        import_id: row.try_get("import_id")?,
        name: row.try_get("name")?,
        size: opt_u64(Some(row.try_get("size")?)),
        api_server: row.try_get("api_server")?,
        bs_file_id: row.try_get("bs_file_id")?,
        bs_etag: row.try_get("bs_etag")?,
        blob_key: row.try_get("blob_key")?,
        attempts: row.try_get("attempts")?,
        lease,
    };
    sqlx::query("UPDATE samples SET status = 'running' WHERE id = $1 AND status = 'queued'")
        .bind(&file.sample_id)
        .execute(&inner.db.pool)
        .await?;
    Ok(Some(file))
}

/// Who holds a file now, as seen by a worker that lost it.
pub(crate) enum FileFate {
    /// Cancelled, or its sample deleted: its bytes should go.
    Gone,
    /// Another worker holds it (our lease ran out): leave everything to that worker.
    TakenOver,
}

/// Records progress and renews the lease. `Err(fate)` when the file is no longer this worker's.
pub(crate) async fn heartbeat_file(
    inner: &Inner,
    file: &ClaimedFile,
    bytes_done: u64,
) -> Result<Result<(), FileFate>, ImportError> {
    let done = sqlx::query(
        "UPDATE sample_files SET bytes_done = $3, lease_until = $4 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(&file.id)
    .bind(&file.lease)
    .bind(i64::try_from(bytes_done).unwrap_or(i64::MAX))
    .bind(now_millis() + lease_millis(inner))
    .execute(&inner.db.pool)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Ok(()));
    }
    file_fate(inner, &file.id).await.map(Err)
}

pub(crate) async fn file_fate(inner: &Inner, file_id: &str) -> Result<FileFate, ImportError> {
    let row = sqlx::query("SELECT status FROM sample_files WHERE id = $1")
        .bind(file_id)
        .fetch_optional(&inner.db.pool)
        .await?;
    Ok(match row {
        None => FileFate::Gone,
        Some(row) => match row.try_get::<String, _>("status")?.as_str() {
            "cancelled" => FileFate::Gone,
            _ => FileFate::TakenOver,
        },
    })
}

/// The verified result of a transfer.
pub(crate) struct Verified {
    pub md5: String,
    pub sha256: String,
    pub stats: ferry_fastq::FastqStats,
}

/// Marks a file completed; false when it is no longer this worker's (its bytes must then go).
pub(crate) async fn complete_file(inner: &Inner, file: &ClaimedFile, verified: &Verified) -> Result<bool, ImportError> {
    let stats = serde_json::to_string(&verified.stats).map_err(|e| ImportError::Invalid(e.to_string()))?;
    let mut tx = begin_write(inner).await?;
    let done = sqlx::query(
        "UPDATE sample_files SET status = 'completed', reason = NULL, bytes_done = size, md5 = $3, sha256 = $4, \
           stats = $5, finished_at = $6, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(&file.id)
    .bind(&file.lease)
    .bind(&verified.md5)
    .bind(&verified.sha256)
    .bind(stats)
    .bind(now_millis())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() > 0 {
        record_outcome(&mut tx, Recorded::File(&file.id), Outcome::Transferred, None).await?;
    }
    tx.commit().await?;
    after_file_change(inner, file).await?;
    Ok(done.rows_affected() > 0)
}

/// Fails a file for good.
pub(crate) async fn fail_file(
    inner: &Inner,
    file: &ClaimedFile,
    reason: &str,
    bytes_done: u64,
) -> Result<(), ImportError> {
    let mut tx = begin_write(inner).await?;
    let failed = sqlx::query(
        "UPDATE sample_files SET status = 'failed', reason = $3, bytes_done = $4, finished_at = $5, \
           lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(&file.id)
    .bind(&file.lease)
    .bind(reason)
    .bind(i64::try_from(bytes_done).unwrap_or(0))
    .bind(now_millis())
    .execute(&mut *tx)
    .await?;
    if failed.rows_affected() > 0 {
        record_outcome(&mut tx, Recorded::File(&file.id), Outcome::Failed, Some(reason)).await?;
    }
    tx.commit().await?;
    tracing::warn!(file = %file.name, import = %file.import_id, %reason, "file failed");
    after_file_change(inner, file).await
}

/// Puts a file back in the queue after `delay_ms` (a transient failure), or back untouched when
/// `count_attempt` is false (shutdown).
pub(crate) async fn requeue_file(
    inner: &Inner,
    file: &ClaimedFile,
    reason: Option<&str>,
    bytes_done: u64,
    delay_ms: i64,
    count_attempt: bool,
) -> Result<(), ImportError> {
    let sql = if count_attempt {
        "UPDATE sample_files SET status = 'queued', reason = $3, bytes_done = $4, not_before = $5, \
           lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'"
    } else {
        "UPDATE sample_files SET status = 'queued', reason = $3, bytes_done = $4, not_before = $5, \
           lease_owner = NULL, lease_until = 0, attempts = attempts - 1 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'"
    };
    sqlx::query(sql)
        .bind(&file.id)
        .bind(&file.lease)
        .bind(reason)
        .bind(i64::try_from(bytes_done).unwrap_or(0))
        .bind(now_millis() + delay_ms)
        .execute(&inner.db.pool)
        .await?;
    Ok(())
}

async fn after_file_change(inner: &Inner, file: &ClaimedFile) -> Result<(), ImportError> {
    refresh_sample(inner, &file.sample_id).await?;
    finish_import_if_done(inner, &file.import_id).await
}

// ---------------------------------------------------------------------------------------------
// Committing a plan

/// Stores a plan: samples and file rows, the report, and the import's move to `running`.
/// Returns false when the import was cancelled or taken over meanwhile (nothing stored).
pub(crate) async fn commit_plan(inner: &Inner, import: &ClaimedImport, plan: Plan) -> Result<bool, ImportError> {
    let options = &import.request.options;
    let now = now_millis();
    let mut tx = begin_write(inner).await?;
    let mut report: Vec<TargetReport> = plan.skipped;
    let mut doomed_keys: Vec<String> = Vec::new();
    let mut touched_samples: Vec<String> = Vec::new();

    for planned in plan.samples {
        let PlannedSample {
            name,
            source,
            files,
            targets,
        } = planned;
        // Files already known for this user.
        let mut new_files = Vec::new();
        let mut known_sample: Option<(String, String)> = None;
        let mut requeued = false;
        let mut active_elsewhere: Option<String> = None;
        for file in files {
            let existing = sqlx::query(
                "SELECT f.id, f.status, f.sample_id, f.import_id, s.name AS sample_name FROM sample_files f \
                 JOIN samples s ON s.id = f.sample_id \
                 WHERE f.user_id = $1 AND f.api_server = $2 AND f.bs_file_id = $3 AND f.bs_etag = $4",
            )
            .bind(&import.user_id)
            .bind(&source.api_server)
            .bind(&file.file_id)
            .bind(&file.etag)
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                None => new_files.push(file),
                Some(row) => {
                    let status: String = row.try_get("status")?;
                    let sample_id: String = row.try_get("sample_id")?;
                    let sample_name: String = row.try_get("sample_name")?;
                    match status.as_str() {
                        "failed" | "cancelled" => {
                            sqlx::query(
                                "UPDATE sample_files SET status = 'queued', reason = NULL, attempts = 0, \
                                   not_before = 0, import_id = $2, finished_at = NULL \
                                 WHERE id = $1",
                            )
                            .bind(row.try_get::<String, _>("id")?)
                            .bind(&import.id)
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query("UPDATE samples SET import_id = $2, status = 'queued' WHERE id = $1")
                                .bind(&sample_id)
                                .bind(&import.id)
                                .execute(&mut *tx)
                                .await?;
                            requeued = true;
                            touched_samples.push(sample_id.clone());
                        }
                        "queued" | "running" => {
                            active_elsewhere = Some(row.try_get("import_id")?);
                        }
                        _ => {}
                    }
                    known_sample.get_or_insert((sample_id, sample_name));
                }
            }
        }

        let mut sample_ref: Option<(String, String)> = None;
        let mut outcome: (&str, Option<String>) = ("imported", None);
        if new_files.is_empty() {
            sample_ref = known_sample.clone();
            outcome = if requeued {
                ("imported", None)
            } else if let Some(other) = active_elsewhere {
                ("skipped", Some(format!("already being imported by import {other}")))
            } else {
                (
                    "already_imported",
                    Some("every file was imported before and verified".to_string()),
                )
            };
        } else {
            // Where do the new files go?
            let existing = sqlx::query("SELECT id, source FROM samples WHERE user_id = $1 AND name = $2")
                .bind(&import.user_id)
                .bind(&name)
                .fetch_optional(&mut *tx)
                .await?;
            let mut target: Option<(String, String)> = None;
            let mut final_name = name.clone();
            if let Some(row) = existing {
                let existing_id: String = row.try_get("id")?;
                let existing_source = sample_source(&row.try_get::<String, _>("source")?);
                let same_origin = existing_source.api_server == source.api_server
                    && ((!source.biosample_ids.is_empty()
                        && source
                            .biosample_ids
                            .iter()
                            .all(|b| existing_source.biosample_ids.contains(b)))
                        || known_sample.as_ref().is_some_and(|(id, _)| *id == existing_id));
                if same_origin {
                    // New lanes or re-uploaded files of a sample imported before: add them to it.
                    target = Some((existing_id, name.clone()));
                } else {
                    match options.on_conflict {
                        OnConflict::Skip => {
                            outcome = (
                                "skipped",
                                Some(format!(
                                    "a sample named {name:?} already exists; to import it, choose \"import under a new name\" or \
                                     \"replace the existing sample\" for existing sample names"
                                )),
                            );
                        }
                        OnConflict::Rename => {
                            let mut n = 2;
                            loop {
                                let candidate = format!("{name}-{n}");
                                let taken = sqlx::query("SELECT id FROM samples WHERE user_id = $1 AND name = $2")
                                    .bind(&import.user_id)
                                    .bind(&candidate)
                                    .fetch_optional(&mut *tx)
                                    .await?
                                    .is_some();
                                if !taken {
                                    final_name = candidate;
                                    break;
                                }
                                n += 1;
                            }
                        }
                        OnConflict::Replace => {
                            doomed_keys.extend(delete_sample_rows(&mut tx, &import.user_id, &existing_id).await?);
                        }
                    }
                }
            }
            if outcome.0 == "imported" {
                let sample_id = match target {
                    Some((id, _)) => {
                        sqlx::query("UPDATE samples SET import_id = $2, status = 'queued' WHERE id = $1")
                            .bind(&id)
                            .bind(&import.id)
                            .execute(&mut *tx)
                            .await?;
                        id
                    }
                    None => {
                        let id = new_id();
                        sqlx::query(
                            "INSERT INTO samples (id, user_id, name, status, genome, data_type, platform, \
                               workspace_project, import_id, source, created_at) \
                             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(&id)
                        .bind(&import.user_id)
                        .bind(&final_name)
                        .bind(&options.genome)
                        .bind(&options.data_type)
                        .bind(&options.platform)
                        .bind(&options.workspace_project)
                        .bind(&import.id)
                        .bind(source_json(&source))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        id
                    }
                };
                for (index, file) in new_files.iter().enumerate() {
                    let file_row_id = new_id();
                    sqlx::query(
                        "INSERT INTO sample_files (id, user_id, sample_id, import_id, name, read_number, lane, size, \
                           api_server, bs_file_id, bs_etag, bs_dataset_id, bs_project_id, bs_biosample_id, blob_key, \
                           status, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'queued', $16)",
                    )
                    .bind(&file_row_id)
                    .bind(&import.user_id)
                    .bind(&sample_id)
                    .bind(&import.id)
                    .bind(&file.name)
                    .bind(file.read.map(i64::from))
                    .bind(file.lane.map(i64::from))
                    .bind(i64::try_from(file.size).unwrap_or(i64::MAX))
                    .bind(&source.api_server)
                    .bind(&file.file_id)
                    .bind(&file.etag)
                    .bind(&file.dataset_id)
                    .bind(&file.project_id)
                    .bind(&file.biosample_id)
                    .bind(format!("imports/{file_row_id}"))
                    // Keeps the planned order (claims go by created_at).
                    .bind(now + index as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                touched_samples.push(sample_id.clone());
                sample_ref = Some((sample_id, final_name));
            }
        }
        for target in targets {
            report.push(TargetReport {
                biosample_id: target.biosample_id,
                biosample_name: target.biosample_name,
                sample_id: sample_ref.as_ref().map(|(id, _)| id.clone()),
                sample_name: sample_ref.as_ref().map(|(_, name)| name.clone()),
                status: outcome.0.to_string(),
                reason: outcome.1.clone(),
            });
        }
    }

    let report_json = serde_json::to_string(&report).map_err(|e| ImportError::Invalid(e.to_string()))?;
    // What this import set out to transfer, fixed from now on whatever happens to its samples.
    let planned = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM sample_files WHERE import_id = $1",
    )
    .bind(&import.id)
    .fetch_one(&mut *tx)
    .await?;
    let moved = sqlx::query(
        "UPDATE imports SET status = 'running', report = $3, error = NULL, api_server = $4, lease_owner = NULL, \
           lease_until = 0, title = $5, planned_files = $6, planned_bytes = $7 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'planning'",
    )
    .bind(&import.id)
    .bind(&import.lease)
    .bind(report_json)
    .bind(&plan.api_server)
    .bind(&plan.title)
    .bind(planned.try_get::<i64, _>("n")?)
    .bind(planned.try_get::<i64, _>("bytes")?)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    remove_blobs(inner, &doomed_keys).await;
    touched_samples.sort();
    touched_samples.dedup();
    for sample_id in &touched_samples {
        refresh_sample(inner, sample_id).await?;
    }
    finish_import_if_done(inner, &import.id).await?;
    inner.wake.notify_one();
    Ok(true)
}

/// Counts per status of an import's files (tests and diagnostics).
#[allow(dead_code)]
pub(crate) async fn file_status_counts(inner: &Inner, import_id: &str) -> Result<BTreeMap<String, i64>, ImportError> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM sample_files WHERE import_id = $1 GROUP BY status")
        .bind(import_id)
        .fetch_all(&inner.db.pool)
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get("status")?, row.try_get("n")?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked_and_deduplicated() {
        let ids = check_ids("project", &[" 123 ".into(), "123".into(), "ds.abc_1-2".into()]).unwrap();
        assert_eq!(ids, ["123", "ds.abc_1-2"]);
        for bad in ["", "../etc", "a b", "x/y", &"9".repeat(101)] {
            let error = check_ids("biosample", &[bad.to_string()]).unwrap_err();
            assert!(error.to_string().contains("biosample ID"), "{error}");
            assert_eq!(error.http_status(), 400);
        }
    }

    #[test]
    fn merged_sample_names_are_checked() {
        assert_eq!(check_sample_name("  Pool_1.a  ").unwrap(), "Pool_1.a");
        assert!(check_sample_name("   ").is_err());
        assert!(check_sample_name("a\nb").is_err());
        assert!(check_sample_name(&"x".repeat(201)).is_err());
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn stored_sources_round_trip() {
        let source = SampleSource {
            api_server: "https://api.example".into(),
            project_id: Some("1".into()),
            biosample_id: Some("2".into()),
            project_ids: vec!["1".into()],
            biosample_ids: vec!["2".into(), "3".into()],
            biosample_names: vec!["A".into(), "B".into()],
            run_ids: vec![],
        };
        assert_eq!(sample_source(&source_json(&source)), source);
        assert_eq!(sample_source("not json"), SampleSource::default());
    }
}
