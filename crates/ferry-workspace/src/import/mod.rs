//! The import engine: BaseSpace FASTQ files → workspace samples, verified and with statistics.
//!
//! [`ImportService::enqueue`] records a request; background workers ([`ImportService::spawn_workers`],
//! or [`ImportService::run_one`] in tests) plan it (resolve projects, biosamples and runs to FASTQ
//! files, group them into samples) and then transfer every file: streamed from BaseSpace into the
//! blob store, with Size, ETag (MD5 or multipart), SHA-256 and FASTQ statistics computed in the
//! same pass. The queue lives in the database, so work survives restarts: every claimed item has a
//! lease that its worker renews while it works; an item whose lease ran out is claimed again and a
//! partially written file resumes where it stopped.

mod plan;
mod queue;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Gives the import engine a BaseSpace client for a workspace user.
pub trait ClientProvider: Send + Sync + 'static {
    /// A BaseSpace client for this workspace user (token decrypted), or a user-facing reason it cannot be had.
    fn client_for(&self, user_id: &str) -> BoxFuture<'_, Result<ferry_client::Client, String>>;

    /// BaseSpace rejected this user's token during an import (the pages then ask for a new one).
    fn token_rejected(&self, _user_id: &str) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Tuning of the import workers.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// Files transferred at the same time by one service (default 4).
    pub max_parallel_files: usize,
    /// How long a claimed item stays reserved for its worker without a heartbeat (default 20 s).
    /// An item whose lease expired (its worker died) is claimed again.
    pub lease: Duration,
    /// Attempts per file before it fails for good (transient errors only; default 5).
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, capped at 5 minutes (default 2 s).
    pub retry_base: Duration,
    /// Minimum time between progress writes of one file (default 250 ms).
    pub progress_interval: Duration,
    /// How often idle workers look for new work (default 500 ms).
    pub poll_interval: Duration,
    /// A file that names this service's workers across restarts (the workspace uses
    /// `DATA_DIR/worker.id`). Workers that start under the name a killed process used take back
    /// that process's claims at once instead of waiting for their leases to run out. The file is
    /// locked while workers run, so two live processes never share a name (the second one works
    /// under a name of its own). `None`: a new name per service.
    pub identity_file: Option<std::path::PathBuf>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            max_parallel_files: 4,
            lease: Duration::from_secs(20),
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            progress_interval: Duration::from_millis(250),
            poll_interval: Duration::from_millis(500),
            identity_file: None,
        }
    }
}

/// What to do when a sample with the wanted name already exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Leave the existing sample alone and do not import this one (default).
    #[default]
    Skip,
    /// Import under a new name (`NAME-2`, `NAME-3`, …).
    Rename,
    /// Delete the existing sample and its files, then import.
    Replace,
}

/// Options of an import, applied to every sample it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportOptions {
    /// Merge every selected biosample into ONE sample with this name (default: one sample per biosample).
    pub merge_into: Option<String>,
    /// Leave out `Undetermined` reads (default true).
    pub skip_undetermined: bool,
    /// Reference genome recorded on the samples.
    pub genome: Option<String>,
    /// Data type (for example `rna-seq`) recorded on the samples.
    pub data_type: Option<String>,
    /// Sequencing platform recorded on the samples.
    pub platform: Option<String>,
    /// Workspace project the samples belong to.
    pub workspace_project: Option<String>,
    /// What to do when a sample name already exists.
    pub on_conflict: OnConflict,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            merge_into: None,
            skip_undetermined: true,
            genome: None,
            data_type: None,
            platform: None,
            workspace_project: None,
            on_conflict: OnConflict::Skip,
        }
    }
}

/// What to import: any mix of BaseSpace projects, biosamples and runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportRequest {
    /// Every biosample with FASTQ data in these projects.
    pub project_ids: Vec<String>,
    /// These biosamples.
    pub biosample_ids: Vec<String>,
    /// The FASTQ datasets these runs produced.
    pub run_ids: Vec<String>,
    /// BaseSpace FASTQ dataset IDs, picked one by one (a run's lanes, say): grouped into samples
    /// by the sample names in their files.
    pub dataset_ids: Vec<String>,
    /// Options.
    #[serde(flatten)]
    pub options: ImportOptions,
}

/// A sample as listed in an import's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportSample {
    /// Workspace sample ID.
    pub id: String,
    /// Sample name.
    pub name: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One line of an import's report: what became of a BaseSpace biosample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportEntry {
    /// BaseSpace biosample ID (empty for run data whose biosample is unknown).
    pub biosample_id: String,
    /// BaseSpace biosample name.
    pub biosample_name: String,
    /// The workspace sample its files went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_id: Option<String>,
    /// The workspace sample's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_name: Option<String>,
    /// What this import did with it: `queued` or `running` (under way), `completed`, `failed`,
    /// `cancelled`, `skipped` or `already_imported`. Kept as it happened, whatever became of the
    /// sample since.
    pub status: String,
    /// Why it failed, was cancelled or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the workspace sample still exists (it may have been deleted or replaced since).
    pub sample_exists: bool,
}

/// The state of an import, for the page and the JSON API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportStatus {
    /// Import ID.
    pub id: String,
    /// What is imported, by name (`Project Demo Project`, `Biosamples NA12878, NA12891`); until
    /// the import is planned, a description of the request.
    pub title: String,
    /// `queued`, `running`, `completed`, `failed` (some sample failed) or `cancelled`.
    pub status: String,
    /// The request as submitted.
    pub request: ImportRequest,
    /// Files to transfer.
    pub files_total: u64,
    /// Files transferred and verified.
    pub files_done: u64,
    /// Files that failed.
    pub files_failed: u64,
    /// Files stopped before they finished (import cancelled, sample deleted or replaced).
    pub files_cancelled: u64,
    /// Bytes to transfer.
    pub bytes_total: u64,
    /// Bytes transferred so far.
    pub bytes_done: u64,
    /// Average transfer rate since the import started (bytes per second).
    pub rate_bytes_per_sec: f64,
    /// Estimated seconds left, while running and once a rate is known.
    pub eta_seconds: Option<u64>,
    /// Samples this import fills.
    pub samples: Vec<ImportSample>,
    /// Every failure, as a sentence.
    pub errors: Vec<String>,
    /// What became of each BaseSpace biosample.
    pub report: Vec<ReportEntry>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Started (RFC 3339).
    pub started_at: Option<String>,
    /// Finished (RFC 3339).
    pub finished_at: Option<String>,
}

/// Where a sample's data came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SampleSource {
    /// BaseSpace API server.
    pub api_server: String,
    /// BaseSpace project (the first, when the sample merges several).
    pub project_id: Option<String>,
    /// BaseSpace biosample (the first, when the sample merges several).
    pub biosample_id: Option<String>,
    /// Every BaseSpace project the files came from.
    pub project_ids: Vec<String>,
    /// Every BaseSpace biosample merged into this sample.
    pub biosample_ids: Vec<String>,
    /// Their names.
    pub biosample_names: Vec<String>,
    /// Runs, when imported from runs.
    pub run_ids: Vec<String>,
}

/// Where a file came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileSource {
    /// BaseSpace API server.
    pub api_server: String,
    /// BaseSpace project.
    pub project_id: Option<String>,
    /// BaseSpace biosample.
    pub biosample_id: Option<String>,
    /// BaseSpace dataset.
    pub dataset_id: String,
    /// BaseSpace file.
    pub file_id: String,
    /// The file's ETag in BaseSpace.
    pub etag: String,
}

/// A FASTQ file of a workspace sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleFile {
    /// File ID within the workspace.
    pub id: String,
    /// File name (`Sample_S1_L001_R1_001.fastq.gz`).
    pub name: String,
    /// Read 1 or 2 (absent when the name does not say).
    pub read: Option<u8>,
    /// Lane (absent for lane-less names).
    pub lane: Option<u32>,
    /// Bytes.
    pub size: u64,
    /// Bytes transferred so far.
    pub bytes_done: u64,
    /// MD5 of the bytes (hex), once verified.
    pub md5: Option<String>,
    /// SHA-256 of the bytes (hex), once verified.
    pub sha256: Option<String>,
    /// Reads (records).
    pub reads: Option<u64>,
    /// Bases.
    pub bases: Option<u64>,
    /// Mean base quality (Phred).
    pub mean_quality: Option<f64>,
    /// GC content of the bases, in percent.
    pub gc_percent: Option<f64>,
    /// Bases at or above Q30, in percent.
    pub q30_percent: Option<f64>,
    /// Shortest read.
    pub min_length: Option<u64>,
    /// Longest read.
    pub max_length: Option<u64>,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// Provenance.
    pub source: FileSource,
}

/// A workspace sample, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleSummary {
    /// Sample ID.
    pub id: String,
    /// Name (unique per user).
    pub name: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// Number of files.
    pub file_count: u64,
    /// Bytes in all files.
    pub size: u64,
    /// Reads over all files (read 1 and read 2 counted separately), once known.
    pub reads: Option<u64>,
    /// Paired-end (has read 2 files).
    pub paired: bool,
    /// Reference genome.
    pub genome: Option<String>,
    /// Data type.
    pub data_type: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Workspace project.
    pub workspace_project: Option<String>,
    /// The import that created or last filled it.
    pub import_id: Option<String>,
    /// Provenance.
    pub source: SampleSource,
    /// Created (RFC 3339).
    pub created_at: String,
}

/// A workspace sample with its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleDetail {
    /// Sample ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// Files, ordered by lane, then read.
    pub files: Vec<SampleFile>,
    /// Reference genome.
    pub genome: Option<String>,
    /// Data type.
    pub data_type: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Workspace project.
    pub workspace_project: Option<String>,
    /// The import that created or last filled it.
    pub import_id: Option<String>,
    /// Provenance.
    pub source: SampleSource,
    /// Created (RFC 3339).
    pub created_at: String,
}

/// Errors of the import service.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No such import, sample or file for this user.
    #[error("{0} not found")]
    NotFound(String),
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// The user's BaseSpace account is not usable (not linked, token rejected, …).
    #[error("{0}")]
    Account(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The blob store failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl ImportError {
    /// The HTTP status that fits this error (404, 400, 409, or 500).
    pub fn http_status(&self) -> u16 {
        match self {
            ImportError::NotFound(_) => 404,
            ImportError::Invalid(_) => 400,
            ImportError::Account(_) => 409,
            ImportError::Database(_) | ImportError::Storage(_) => 500,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) db: ferry_db::Db,
    pub(crate) store: ferry_store::BlobStore,
    pub(crate) clients: Arc<dyn ClientProvider>,
    pub(crate) config: ImportConfig,
    /// Identifies this service's leases: a name kept across restarts once workers hold the
    /// identity file, else one of this service's own.
    worker_id: std::sync::OnceLock<String>,
    /// Wakes idle workers of this process when work is queued.
    pub(crate) wake: tokio::sync::Notify,
}

impl Inner {
    /// The name in this service's lease tokens.
    pub(crate) fn worker_id(&self) -> &str {
        self.worker_id.get_or_init(new_worker_id)
    }
}

fn new_worker_id() -> String {
    format!("w-{}", uuid::Uuid::new_v4().simple())
}

/// The identity file, locked for as long as this value lives.
pub(crate) struct Identity {
    _file: std::fs::File,
    /// The name kept in the file.
    pub(crate) worker_id: String,
}

/// Takes the identity file at `path` for this process's workers: `None` when another live
/// process holds it (or it cannot be used; the reason is logged).
pub(crate) fn claim_identity(path: &std::path::Path) -> Option<Identity> {
    use std::io::{Read, Seek, Write};
    let opened = ferry_store::private_fs::private_file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot open the worker identity file; claims of a killed run wait for their leases");
            return None;
        }
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!(path = %path.display(), "another process runs workers on this data folder; working under a name of our own");
            return None;
        }
        Err(std::fs::TryLockError::Error(error)) => {
            tracing::warn!(path = %path.display(), %error, "cannot lock the worker identity file; claims of a killed run wait for their leases");
            return None;
        }
    }
    let mut text = String::new();
    let kept = file.read_to_string(&mut text).ok().map(|_| text.trim().to_string());
    let worker_id = match kept {
        Some(id)
            if id.starts_with("w-") && id.len() > 2 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            id
        }
        _ => {
            let id = new_worker_id();
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(format!("{id}\n").as_bytes()))
                .and_then(|()| file.sync_all());
            if let Err(error) = written {
                tracing::warn!(path = %path.display(), %error, "cannot write the worker identity file");
                return None;
            }
            id
        }
    };
    Some(Identity { _file: file, worker_id })
}

/// The import service: queue, workers and the samples they produce. Cheap to clone.
#[derive(Clone)]
pub struct ImportService {
    inner: Arc<Inner>,
}

impl ImportService {
    /// A service over `db` (already migrated) storing files in `store`.
    pub fn new(
        db: ferry_db::Db,
        store: ferry_store::BlobStore,
        clients: Arc<dyn ClientProvider>,
        config: ImportConfig,
    ) -> Self {
        ImportService {
            inner: Arc::new(Inner {
                db,
                store,
                clients,
                config,
                worker_id: std::sync::OnceLock::new(),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Records an import for `user_id`; workers plan and run it. Returns the import ID.
    pub async fn enqueue(&self, user_id: &str, request: ImportRequest) -> Result<String, ImportError> {
        queue::enqueue(&self.inner, user_id, request).await
    }

    /// The state of one of the user's imports.
    pub async fn status(&self, user_id: &str, import_id: &str) -> Result<ImportStatus, ImportError> {
        queue::status(&self.inner, user_id, import_id).await
    }

    /// The user's imports, newest first.
    pub async fn list_imports(&self, user_id: &str) -> Result<Vec<ImportStatus>, ImportError> {
        queue::list_imports(&self.inner, user_id).await
    }

    /// Cancels an import: queued files are cancelled, running ones stop at their next chunk.
    pub async fn cancel(&self, user_id: &str, import_id: &str) -> Result<(), ImportError> {
        queue::cancel(&self.inner, user_id, import_id).await
    }

    /// The user's samples, newest first.
    pub async fn samples(&self, user_id: &str) -> Result<Vec<SampleSummary>, ImportError> {
        queue::samples(&self.inner, user_id).await
    }

    /// One of the user's samples with its files.
    pub async fn sample(&self, user_id: &str, sample_id: &str) -> Result<SampleDetail, ImportError> {
        queue::sample(&self.inner, user_id, sample_id).await
    }

    /// Imports again what a failed or cancelled sample is missing: a new import of the sample's
    /// BaseSpace source, in which the sample's unfinished files are queued again and the files
    /// already verified are kept. Returns the new import's ID.
    pub async fn resume_sample(&self, user_id: &str, sample_id: &str) -> Result<String, ImportError> {
        let sample = self.sample(user_id, sample_id).await?;
        if !matches!(sample.status.as_str(), "failed" | "cancelled") {
            return Err(ImportError::Invalid(format!(
                "sample {} is {}: only a failed or cancelled sample can be resumed",
                sample.name, sample.status
            )));
        }
        let source = &sample.source;
        let mut request = ImportRequest {
            options: ImportOptions {
                merge_into: (source.biosample_ids.len() > 1 || source.biosample_ids.is_empty())
                    .then(|| sample.name.clone()),
                genome: sample.genome.clone(),
                data_type: sample.data_type.clone(),
                platform: sample.platform.clone(),
                workspace_project: sample.workspace_project.clone(),
                ..ImportOptions::default()
            },
            ..ImportRequest::default()
        };
        if !source.biosample_ids.is_empty() {
            request.biosample_ids = source.biosample_ids.clone();
        } else if !source.run_ids.is_empty() {
            request.run_ids = source.run_ids.clone();
        } else {
            return Err(ImportError::Invalid(format!(
                "sample {} does not record where in BaseSpace its files came from; import it again from the \
                 Import page",
                sample.name
            )));
        }
        self.enqueue(user_id, request).await
    }

    /// Deletes one of the user's samples and its stored files (transfers in progress stop).
    pub async fn delete_sample(&self, user_id: &str, sample_id: &str) -> Result<(), ImportError> {
        queue::delete_sample(&self.inner, user_id, sample_id).await
    }

    /// Opens a completed file of one of the user's samples for download.
    pub async fn open_sample_file(
        &self,
        user_id: &str,
        sample_id: &str,
        file_id: &str,
    ) -> Result<(SampleFile, ferry_store::BlobReader), ImportError> {
        queue::open_sample_file(&self.inner, user_id, sample_id, file_id).await
    }

    /// Runs workers until `shutdown` is cancelled: up to `max_parallel_files` items at a time.
    pub fn spawn_workers(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let inner = self.inner.clone();
        tokio::spawn(async move { transfer::run_workers(inner, shutdown).await })
    }

    /// Claims and runs one item of work (planning an import or transferring a file) to its end.
    /// Returns false when there was nothing to do. For deterministic tests.
    pub async fn run_one(&self) -> Result<bool, ImportError> {
        transfer::run_one(&self.inner, &CancellationToken::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_live_holder_per_identity_file_and_the_name_outlives_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.id");
        let first = claim_identity(&path).expect("a free identity file is taken");
        assert!(first.worker_id.starts_with("w-"));
        assert!(
            claim_identity(&path).is_none(),
            "a second live holder must get a name of its own"
        );
        let name = first.worker_id.clone();
        drop(first);
        let again = claim_identity(&path).expect("free again once its holder is gone");
        assert_eq!(again.worker_id, name, "the name survives the process that held it");
        drop(again);
        std::fs::write(&path, "not a name; rm -rf /\n").unwrap();
        let replaced = claim_identity(&path).unwrap();
        assert!(replaced.worker_id.starts_with("w-") && replaced.worker_id != name);
    }
}
