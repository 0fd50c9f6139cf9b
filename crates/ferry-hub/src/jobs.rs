//! Jobs of launched applications: the queue in the database, the workers that run them, and
//! the one transaction that ends a session with all of its outputs.
//!
//! A launch writes its session (ExecutionStatus `Running`) and a `queued` row in `app_jobs`.
//! Workers (`--app-workers` of them per hub) claim a job by taking its lease (`lease_holder`,
//! `lease_until`) with a conditional `UPDATE`, so one job runs in one place even when several
//! hub instances share the database, and renew the lease while they work. A job whose holder
//! died (a killed hub) is taken over once its lease expires and runs again from the start: its
//! earlier attempt's staged blobs are removed first. Outputs are staged as blobs that nothing
//! references (recorded in `app_job_blobs`) and published — datasets, files, biosamples, the
//! log file, the final ExecutionStatus, the job's end — in one transaction guarded by the
//! session still being `Running`. So a session is either running with no outputs visible, or
//! ended with exactly one set; `POST /v2/appsessions/{id}/stop` ends it `Aborted` and the
//! worker, seeing that, discards what it staged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use ferry_api::DatasetAttributes;
use ferry_api::etag::EtagHasher;
use futures_util::StreamExt;
use sqlx::Row;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::State;
use crate::ids;

/// How launched applications run on this hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRunnerOptions {
    /// Jobs this hub runs at once (0: none; another instance sharing the database runs them).
    pub workers: usize,
    /// How long a claimed job stays with its worker without a renewal; a job whose worker died
    /// is taken over after this.
    pub lease: Duration,
    /// How long a session may run, counted from its launch (restarts included); past it the
    /// session ends `TimedOut` and publishes nothing.
    pub timeout: Duration,
}

impl Default for AppRunnerOptions {
    fn default() -> Self {
        Self {
            workers: 2,
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// How a session ended, spelled as BaseSpace spells ExecutionStatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    /// Finished with its outputs.
    Complete,
    /// Finished, but the user must look at it (an input the app could not use, a failure).
    NeedsAttention,
    /// Stopped before it finished.
    Aborted,
    /// Ran longer than the hub allows (`--app-timeout-seconds`).
    TimedOut,
}

impl FinalStatus {
    /// The ExecutionStatus text.
    pub fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Complete => "Complete",
            FinalStatus::NeedsAttention => "NeedsAttention",
            FinalStatus::Aborted => "Aborted",
            FinalStatus::TimedOut => "TimedOut",
        }
    }
}

/// What a finished app hands back for publication.
#[derive(Debug)]
pub struct Outcome {
    /// The final ExecutionStatus.
    pub status: FinalStatus,
    /// The final StatusSummary.
    pub summary: String,
    /// Datasets to publish in the session's output project.
    pub outputs: Vec<OutputDataset>,
}

/// An output dataset: published with its files when the session ends.
#[derive(Debug)]
pub struct OutputDataset {
    /// Dataset name (`Sample_trimmed_L001`).
    pub name: String,
    /// Its biosample: an existing one, or one made (by name, in the output project) at publication.
    pub biosample: Option<OutputBiosample>,
    /// `illumina.fastq.v1.8`, `common.files`, …
    pub dataset_type: String,
    /// Attributes (`common_fastq` for FASTQ outputs).
    pub attributes: DatasetAttributes,
    /// Files: path in the dataset and the staged blob.
    pub files: Vec<(String, StagedBlob)>,
}

/// The biosample of an output dataset.
#[derive(Debug, Clone)]
pub enum OutputBiosample {
    /// A biosample of the session's context.
    Existing(String),
    /// A biosample of this name in the output project (made when missing).
    Named(String),
}

/// A file's bytes in the blob store, not yet referenced by any file row.
#[derive(Debug, Clone)]
pub struct StagedBlob {
    /// Blob key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// The ETag a client verifies (MD5, or the 8 MiB multipart form for larger files).
    pub etag: String,
}

/// Why an app could not finish: the message becomes the session's StatusSummary
/// (NeedsAttention); `Cancelled` means the session was stopped or the job taken over.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The session was stopped (or this worker lost its lease): discard everything.
    #[error("stopped")]
    Cancelled,
    /// The app failed; the user is told why.
    #[error("{0}")]
    Failed(String),
    /// The hub failed (storage, database); the job is retried by the next holder.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A claimed job: everything an app needs while it runs.
pub struct JobContext {
    state: Arc<State>,
    /// The app session.
    pub session_id: String,
    /// Its context (user or workgroup ID).
    pub owner_id: String,
    /// Who launched it.
    pub created_by: String,
    /// Which application version.
    pub application_id: String,
    /// The checked options, resources as IDs.
    pub options: BTreeMap<String, Vec<String>>,
    /// This attempt (1 for the first run; more after a takeover).
    pub attempt: i64,
    /// A private folder for this attempt's temporary files (removed afterwards).
    pub work_dir: PathBuf,
    cancel: CancellationToken,
    log_seq: AtomicI64,
}

impl JobContext {
    /// The first value of an option.
    pub fn option(&self, field: &str) -> Option<&str> {
        self.options.get(field).and_then(|v| v.first()).map(String::as_str)
    }

    /// Every value of an option.
    pub fn values(&self, field: &str) -> &[String] {
        self.options.get(field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A number option (checked at launch), or `default`.
    pub fn number(&self, field: &str, default: f64) -> f64 {
        self.option(field).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// The output project.
    pub fn project_id(&self) -> &str {
        self.option("project-id").unwrap_or_default()
    }

    /// The database (reads of the session's own context only).
    pub fn db(&self) -> &ferry_db::Db {
        &self.state.db
    }

    /// `Err(Cancelled)` once the session was stopped or the lease lost.
    pub fn check_cancelled(&self) -> Result<(), JobError> {
        if self.cancel.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Waits `duration`, or returns `Cancelled` as soon as the session is stopped.
    pub async fn sleep(&self, duration: Duration) -> Result<(), JobError> {
        tokio::select! {
            _ = tokio::time::sleep(duration) => Ok(()),
            _ = self.cancel.cancelled() => Err(JobError::Cancelled),
        }
    }

    /// Adds a line to the session's log.
    pub async fn log(&self, line: impl Into<String>) {
        let line = line.into();
        let seq = self.log_seq.fetch_add(1, Ordering::SeqCst);
        let result = sqlx::query(
            "INSERT INTO appsession_log_lines (appsession_id, attempt, seq, at, line) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&self.session_id)
        .bind(self.attempt)
        .bind(seq)
        .bind(ferry_api::dates::now_millis())
        .bind(&line)
        .execute(&self.state.db.pool)
        .await;
        if let Err(error) = result {
            tracing::warn!(session = %self.session_id, %error, "cannot record a log line");
        }
    }

    /// Shows progress in the session's StatusSummary (and logs it).
    pub async fn progress(&self, summary: impl Into<String>) {
        let summary = summary.into();
        let _ = sqlx::query(
            "UPDATE appsessions SET status_summary = $1, modified = $2 WHERE id = $3 AND execution_status = 'Running'",
        )
        .bind(&summary)
        .bind(ferry_api::dates::now_millis())
        .bind(&self.session_id)
        .execute(&self.state.db.pool)
        .await;
        self.log(summary).await;
    }

    /// Copies a stored file (by blob key) to `destination`, verifying its size.
    pub async fn fetch(&self, blob_key: &str, expected_size: u64, destination: &Path) -> Result<(), JobError> {
        let mut reader = self
            .state
            .blobs
            .open(blob_key, None)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read an input file from storage: {e}"))?;
        let mut file = tokio::fs::File::create(destination)
            .await
            .with_context(|| format!("cannot create {}", destination.display()))?;
        let mut copied = 0u64;
        while let Some(chunk) = reader.stream.next().await {
            self.check_cancelled()?;
            let chunk = chunk.context("reading an input file from storage failed")?;
            copied += chunk.len() as u64;
            file.write_all(&chunk).await.context("cannot write an input file")?;
        }
        file.flush().await.context("cannot write an input file")?;
        if copied != expected_size {
            return Err(JobError::Internal(anyhow::anyhow!(
                "an input file has {copied} bytes in storage but {expected_size} in the database"
            )));
        }
        Ok(())
    }

    /// Puts a local file into the blob store for publication later (nothing refers to it yet;
    /// it is recorded so an interrupted or stopped attempt's blobs are removed).
    pub async fn stage(&self, path: &Path) -> Result<StagedBlob, JobError> {
        let key = ids::blob_key();
        sqlx::query("INSERT INTO app_job_blobs (blob_key, appsession_id, attempt) VALUES ($1, $2, $3)")
            .bind(&key)
            .bind(&self.session_id)
            .bind(self.attempt)
            .execute(&self.state.db.pool)
            .await
            .context("cannot record a staged output")?;
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("cannot open the output {}", path.display()))?;
        let hasher = Arc::new(std::sync::Mutex::new(EtagHasher::new(ferry_api::BASESPACE_PART_SIZE)));
        let feed = hasher.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| match chunk {
            Ok(bytes) => {
                feed.lock().expect("hasher lock").update(&bytes);
                Ok::<Bytes, String>(bytes)
            }
            Err(error) => Err(error.to_string()),
        });
        let written = self
            .state
            .blobs
            .put_stream(&key, stream, u64::MAX)
            .await
            .map_err(|e| anyhow::anyhow!("cannot store an output: {e}"))?;
        let digests = Arc::try_unwrap(hasher)
            .map_err(|_| anyhow::anyhow!("the output stream is still in use"))?
            .into_inner()
            .expect("hasher lock")
            .finish();
        let etag = if written.size > ferry_api::BASESPACE_PART_SIZE {
            digests.multipart
        } else {
            written.md5
        };
        Ok(StagedBlob {
            key,
            size: written.size,
            etag,
        })
    }
}

/// The job queue of one hub process: wakes workers on launches.
#[derive(Default)]
pub(crate) struct JobQueue {
    wake: tokio::sync::Notify,
}

impl JobQueue {
    /// Tells idle workers that a job was queued.
    pub fn notify(&self) {
        self.wake.notify_waiters();
    }
}

/// Runs this hub's workers until `shutdown` is cancelled; jobs in progress then stop (their
/// leases expire and another start takes them over).
pub(crate) async fn run_workers(state: Arc<State>, shutdown: CancellationToken) {
    let options = state.app_runner.clone();
    if options.workers == 0 {
        return;
    }
    let holder = format!("{}-{}", std::process::id(), ids::secret());
    let slots = Arc::new(tokio::sync::Semaphore::new(options.workers));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let woken = state.jobs.wake.notified();
        let claimed = tokio::select! {
            _ = shutdown.cancelled() => return,
            claimed = claim(&state, &holder, options.lease) => claimed,
        };
        match claimed {
            Ok(Some(job)) => {
                let state = state.clone();
                let holder = holder.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let session = job.session_id.clone();
                    if let Err(error) = run_job(state, job, &holder, shutdown).await {
                        tracing::warn!(%session, error = %format!("{error:#}"), "an app job failed; it will be retried");
                    }
                    drop(slot);
                });
            }
            Ok(None) => {
                drop(slot);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = woken => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(error) => {
                drop(slot);
                tracing::warn!(error = %format!("{error:#}"), "cannot claim app jobs");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
}

/// A job as claimed.
struct Claimed {
    session_id: String,
    /// When the session was launched (Unix ms): its time limit counts from here.
    launched: i64,
    owner_id: String,
    created_by: String,
    application_id: String,
    options: String,
    attempt: i64,
}

/// Takes the lease of the oldest runnable job (queued, lease free or expired), if any.
async fn claim(state: &State, holder: &str, lease: Duration) -> anyhow::Result<Option<Claimed>> {
    let now = ferry_api::dates::now_millis();
    let candidates = sqlx::query(
        "SELECT appsession_id FROM app_jobs WHERE state = 'queued' AND lease_until < $1 ORDER BY created LIMIT 8",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    for candidate in candidates {
        let session: String = candidate.get("appsession_id");
        let taken = sqlx::query(
            "UPDATE app_jobs SET lease_holder = $1, lease_until = $2, attempts = attempts + 1, modified = $3 \
             WHERE appsession_id = $4 AND state = 'queued' AND lease_until < $3",
        )
        .bind(holder)
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(&session)
        .execute(&state.db.pool)
        .await?;
        if taken.rows_affected() == 1 {
            let row = sqlx::query(
                "SELECT appsession_id, owner_id, created_by, application_id, options, attempts, created FROM app_jobs \
                 WHERE appsession_id = $1",
            )
            .bind(&session)
            .fetch_one(&state.db.pool)
            .await?;
            return Ok(Some(Claimed {
                session_id: row.get("appsession_id"),
                launched: row.get("created"),
                owner_id: row.get("owner_id"),
                created_by: row.get("created_by"),
                application_id: row.get("application_id"),
                options: row.get("options"),
                attempt: row.get("attempts"),
            }));
        }
    }
    Ok(None)
}

/// Renews the lease while the session runs; cancels the job when the session was stopped or
/// the lease went to someone else.
async fn keep_lease(state: Arc<State>, session: String, holder: String, lease: Duration, cancel: CancellationToken) {
    let period = (lease / 3).max(Duration::from_millis(200));
    let check = Duration::from_millis(500).min(period);
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(check) => {}
        }
        let running: Option<String> = sqlx::query_scalar("SELECT execution_status FROM appsessions WHERE id = $1")
            .bind(&session)
            .fetch_optional(&state.db.pool)
            .await
            .unwrap_or(Some("Running".to_string()));
        if running.as_deref() != Some("Running") {
            cancel.cancel();
            return;
        }
        if renewed.elapsed() < period {
            continue;
        }
        let now = ferry_api::dates::now_millis();
        match sqlx::query(
            "UPDATE app_jobs SET lease_until = $1 WHERE appsession_id = $2 AND lease_holder = $3 AND state = 'queued'",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(&session)
        .bind(&holder)
        .execute(&state.db.pool)
        .await
        {
            Ok(done) if done.rows_affected() == 0 => {
                cancel.cancel();
                return;
            }
            Ok(_) => renewed = tokio::time::Instant::now(),
            Err(error) => tracing::warn!(%session, %error, "cannot renew an app job's lease"),
        }
    }
}

async fn run_job(state: Arc<State>, job: Claimed, holder: &str, shutdown: CancellationToken) -> anyhow::Result<()> {
    // An earlier attempt (a killed hub) may have staged blobs: they are never published.
    discard_staged(&state, &job.session_id, Some(job.attempt)).await?;
    let work_dir = state.app_work_dir.join(format!("{}-{}", job.session_id, job.attempt));
    if work_dir.exists() {
        tokio::fs::remove_dir_all(&work_dir).await.ok();
    }
    ferry_store::private_fs::ensure_private_dir(&work_dir).context("cannot create an app's work folder")?;
    let cancel = shutdown.child_token();
    let options: BTreeMap<String, Vec<String>> = serde_json::from_str(&job.options).unwrap_or_default();
    let context = JobContext {
        state: state.clone(),
        session_id: job.session_id.clone(),
        owner_id: job.owner_id.clone(),
        created_by: job.created_by.clone(),
        application_id: job.application_id.clone(),
        options,
        attempt: job.attempt,
        work_dir: work_dir.clone(),
        cancel: cancel.clone(),
        log_seq: AtomicI64::new(0),
    };
    let lease = tokio::spawn(keep_lease(
        state.clone(),
        job.session_id.clone(),
        holder.to_string(),
        state.app_runner.lease,
        cancel.clone(),
    ));
    if job.attempt > 1 {
        context
            .log(format!(
                "attempt {}: the hub running the earlier attempt stopped; starting again",
                job.attempt
            ))
            .await;
    }
    let limit = state.app_runner.timeout;
    let ran = Duration::from_millis((ferry_api::dates::now_millis() - job.launched).max(0) as u64);
    let result = match tokio::time::timeout(limit.saturating_sub(ran), crate::runners::run(&context)).await {
        Ok(result) => result,
        Err(_) => {
            let summary = format!(
                "Ran longer than this hub allows ({} s, --app-timeout-seconds); nothing was kept",
                limit.as_secs()
            );
            context.log(summary.clone()).await;
            Ok(Outcome {
                status: FinalStatus::TimedOut,
                summary,
                outputs: Vec::new(),
            })
        }
    };
    let ended = match result {
        Ok(outcome) => publish(&state, &context, holder, outcome).await,
        Err(JobError::Failed(message)) => {
            context.log(format!("failed: {message}")).await;
            let outcome = Outcome {
                status: FinalStatus::NeedsAttention,
                summary: message,
                outputs: Vec::new(),
            };
            publish(&state, &context, holder, outcome).await
        }
        Err(JobError::Cancelled) => Ok(()),
        Err(JobError::Internal(error)) => Err(error),
    };
    cancel.cancel();
    let _ = lease.await;
    tokio::fs::remove_dir_all(&work_dir).await.ok();
    if ended.is_err() || !session_ended(&state, &job.session_id).await? {
        // Stopped, taken over or failed: this attempt's blobs are nobody's.
        discard_staged(&state, &job.session_id, None).await.ok();
    }
    if ended.is_err() && !shutdown.is_cancelled() {
        // Leave the lease to expire, then another attempt runs.
        tracing::warn!(session = %job.session_id, "an app job will be retried when its lease expires");
    }
    ended
}

async fn session_ended(state: &State, session: &str) -> anyhow::Result<bool> {
    let state_of: Option<String> = sqlx::query_scalar("SELECT state FROM app_jobs WHERE appsession_id = $1")
        .bind(session)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(state_of.as_deref() == Some("finished"))
}

/// Removes staged blobs of a session that were never published (all, or all but `keep` attempt's).
pub(crate) async fn discard_staged(state: &State, session: &str, keep_attempt: Option<i64>) -> anyhow::Result<()> {
    let rows = sqlx::query("SELECT blob_key, attempt FROM app_job_blobs WHERE appsession_id = $1")
        .bind(session)
        .fetch_all(&state.db.pool)
        .await?;
    for row in rows {
        let key: String = row.get("blob_key");
        let attempt: i64 = row.get("attempt");
        if Some(attempt) == keep_attempt {
            continue;
        }
        if let Err(error) = state.blobs.delete(&key).await {
            tracing::warn!(%session, %error, "cannot remove a staged app output");
            continue;
        }
        sqlx::query("DELETE FROM app_job_blobs WHERE blob_key = $1")
            .bind(&key)
            .execute(&state.db.pool)
            .await?;
    }
    Ok(())
}

/// The session's log lines (of its last attempt that logged), as the log file's text.
pub(crate) async fn log_text(db: &ferry_db::Db, session: &str) -> anyhow::Result<String> {
    let rows = sqlx::query(
        "SELECT attempt, at, line FROM appsession_log_lines WHERE appsession_id = $1 ORDER BY attempt, seq",
    )
    .bind(session)
    .fetch_all(&db.pool)
    .await?;
    let mut text = String::new();
    for row in rows {
        let at: i64 = row.get("at");
        let line: String = row.get("line");
        text.push_str(&ferry_api::dates::format_millis(at));
        text.push(' ');
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

/// Stores the session's log as a blob; the caller inserts the file row.
pub(crate) async fn store_log(state: &State, session: &str, last_line: &str) -> anyhow::Result<StagedBlob> {
    let mut text = log_text(&state.db, session).await?;
    text.push_str(&ferry_api::dates::format_millis(ferry_api::dates::now_millis()));
    text.push(' ');
    text.push_str(last_line);
    text.push('\n');
    let key = ids::blob_key();
    let size = text.len() as u64;
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(text.as_bytes()));
    let stream = futures_util::stream::iter([Ok::<Bytes, String>(Bytes::from(text))]);
    state
        .blobs
        .put_stream(&key, stream, u64::MAX)
        .await
        .map_err(|e| anyhow::anyhow!("cannot store an app session's log: {e}"))?;
    Ok(StagedBlob { key, size, etag })
}

/// The log file's path among a session's log files.
pub const LOG_FILE_PATH: &str = "logs/ferry-app.log";

/// Inserts a session's log file row (in `tx`).
pub(crate) async fn insert_log_file(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    owner: &str,
    session: &str,
    blob: &StagedBlob,
    now: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO files (id, owner_id, dataset_id, run_id, appsession_id, path, name, directory, content_type, \
         size, etag, blob_key, status, upload_id, created, modified) \
         VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, 'text/plain', $7, $8, $9, 'complete', NULL, $10, $10)",
    )
    .bind(ids::numeric())
    .bind(owner)
    .bind(session)
    .bind(LOG_FILE_PATH)
    .bind("ferry-app.log")
    .bind("logs")
    .bind(blob.size as i64)
    .bind(&blob.etag)
    .bind(&blob.key)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Publishes an outcome in one transaction: only while the session is still `Running`.
async fn publish(state: &State, context: &JobContext, holder: &str, outcome: Outcome) -> anyhow::Result<()> {
    let last = format!("{}: {}", outcome.status.as_str(), outcome.summary);
    let log = store_log(state, &context.session_id, &last).await?;
    let now = ferry_api::dates::now_millis();
    let mut tx = state.db.pool.begin().await?;
    let ended = sqlx::query(
        "UPDATE appsessions SET execution_status = $1, status_summary = $2, completed = $3, modified = $3 \
         WHERE id = $4 AND owner_id = $5 AND execution_status = 'Running'",
    )
    .bind(outcome.status.as_str())
    .bind(&outcome.summary)
    .bind(now)
    .bind(&context.session_id)
    .bind(&context.owner_id)
    .execute(&mut *tx)
    .await?;
    let finished = sqlx::query(
        "UPDATE app_jobs SET state = 'finished', modified = $1 WHERE appsession_id = $2 AND lease_holder = $3 \
         AND state = 'queued'",
    )
    .bind(now)
    .bind(&context.session_id)
    .bind(holder)
    .execute(&mut *tx)
    .await?;
    if ended.rows_affected() != 1 || finished.rows_affected() != 1 {
        // Stopped meanwhile, or another worker holds the job now: publish nothing.
        tx.rollback().await?;
        state.blobs.delete(&log.key).await.ok();
        return Ok(());
    }
    let project = context.project_id().to_string();
    for output in &outcome.outputs {
        let biosample = match &output.biosample {
            None => None,
            Some(OutputBiosample::Existing(id)) => Some(id.clone()),
            Some(OutputBiosample::Named(name)) => Some(
                crate::db::ensure_biosample(&mut tx, &context.owner_id, &project, name, now)
                    .await?
                    .0,
            ),
        };
        let attributes = serde_json::to_string(&output.attributes)?;
        let dataset_id = crate::db::insert_dataset(
            &mut tx,
            &crate::db::NewDataset {
                owner: &context.owner_id,
                created_by: &context.created_by,
                project: &project,
                biosample: biosample.as_deref(),
                appsession: Some(&context.session_id),
                run: None,
                name: &output.name,
                dataset_type: &output.dataset_type,
                attributes: &attributes,
                upload_status: "Complete",
                now,
            },
        )
        .await?;
        for (path, blob) in &output.files {
            let (directory, name) = path.rsplit_once('/').unwrap_or(("", path));
            sqlx::query(
                "INSERT INTO files (id, owner_id, dataset_id, run_id, path, name, directory, content_type, size, etag, \
                 blob_key, status, upload_id, created, modified) \
                 VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, 'complete', NULL, $11, $11)",
            )
            .bind(ids::numeric())
            .bind(&context.owner_id)
            .bind(&dataset_id)
            .bind(path)
            .bind(name)
            .bind(directory)
            .bind(crate::api::files::content_type_for(name))
            .bind(blob.size as i64)
            .bind(&blob.etag)
            .bind(&blob.key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    insert_log_file(&mut tx, &context.owner_id, &context.session_id, &log, now).await?;
    // Published blobs are referenced by files now; the rest of this attempt's are removed below.
    for output in &outcome.outputs {
        for (_, blob) in &output.files {
            sqlx::query("DELETE FROM app_job_blobs WHERE blob_key = $1")
                .bind(&blob.key)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    discard_staged(state, &context.session_id, None).await.ok();
    Ok(())
}
