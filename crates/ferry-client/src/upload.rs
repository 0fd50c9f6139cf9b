//! The upload engine: BaseSpace's v2 dataset upload, with parallel parts and resume.
//!
//! Protocol (as the real service and the Ferry hub run it):
//! 1. `POST /v2/appsessions` — one AppSession per upload (`BaseSpace CLI <date>`).
//! 2. The biosample: found by exact name in the project (`GET /v2/biosamples?projectid=&biosamplename=`)
//!    or created (`POST /v2/biosamples`).
//! 3. `POST /v2/projects/{id}/datasets` — one dataset per sample and lane, `Attributes.common_fastq`.
//! 4. Per file: `GET /v2/datasets/{id}/file-upload-info?filepath=&uploadpartcount=N`, PUT the parts
//!    (8 MiB, in parallel, each retried, each answer's `ETag` checked against the part's MD5), then
//!    `POST /v2/datasets/{id}/file-upload-info` to complete, checking the size and multipart ETag.
//! 5. `POST /v2/datasets/{id}` `UploadStatus: Complete`; 6. `POST /v2/appsessions/{id}` complete.
//!
//! Every step is recorded in a journal (`~/.basespace/uploads/<key>.json`, written atomically) keyed
//! by the server, project and the files' paths, sizes and modification times; running the same
//! upload again continues where it stopped and sends only the parts that are missing.
//!
//! Each file's size, modification time and inode are recorded when its upload starts and checked
//! again after its last part is sent: a file written to meanwhile is not completed (its parts may
//! come from different versions), and a resumed upload whose file differs from the recorded one
//! sends that file again from the start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use ferry_api::{
    AppSession, Biosample, CommonFastq, CompleteUploadRequest, Dataset, File, PartEtag, PresignedUrlForUpload,
};
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Mutex;

use crate::client::{BiosampleQuery, Client, seg};
use crate::error::ClientError;
use crate::progress::{NoProgress, RateLimit, TransferProgress};

/// One local file to upload.
#[derive(Debug, Clone)]
pub struct UploadFile {
    /// Local path.
    pub path: PathBuf,
    /// Path of the file in the dataset (its name).
    pub name: String,
}

/// One dataset to create and fill.
#[derive(Debug, Clone)]
pub struct DatasetUpload {
    /// Dataset name (`Sample_L001`).
    pub name: String,
    /// Biosample name the dataset belongs to.
    pub biosample_name: String,
    /// Dataset type (`illumina.fastq.v1.8`, `common.files`).
    pub dataset_type: String,
    /// FASTQ attributes, for FASTQ datasets.
    pub common_fastq: Option<CommonFastq>,
    /// Files.
    pub files: Vec<UploadFile>,
}

/// What to upload where.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    /// Destination project ID.
    pub project_id: String,
    /// Datasets.
    pub datasets: Vec<DatasetUpload>,
    /// AppSession name; default `BaseSpace CLI <date>`.
    pub appsession_name: Option<String>,
}

/// How to upload.
#[derive(Clone)]
pub struct UploadOptions {
    /// Parts in flight at once (over all files).
    pub concurrency: usize,
    /// Part size (BaseSpace: 8 MiB).
    pub part_size: u64,
    /// Where journals live; default `~/.basespace/uploads`.
    pub journal_dir: Option<PathBuf>,
    /// Receives byte counts.
    pub progress: Arc<dyn TransferProgress>,
    /// Bandwidth cap shared by every part.
    pub rate_limit: Option<Arc<RateLimit>>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            part_size: ferry_api::BASESPACE_PART_SIZE,
            journal_dir: None,
            progress: Arc::new(NoProgress),
            rate_limit: None,
        }
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("concurrency", &self.concurrency)
            .field("part_size", &self.part_size)
            .field("journal_dir", &self.journal_dir)
            .finish_non_exhaustive()
    }
}

/// What an upload created.
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    /// The AppSession.
    pub appsession: AppSession,
    /// One entry per dataset.
    pub datasets: Vec<UploadedDataset>,
    /// True when the upload continued an interrupted one.
    pub resumed: bool,
    /// Bytes sent in this run.
    pub bytes_sent: u64,
}

/// A dataset an upload created.
#[derive(Debug, Clone, Serialize)]
pub struct UploadedDataset {
    /// Its biosample.
    pub biosample: Biosample,
    /// Whether the biosample was created by this upload.
    pub biosample_created: bool,
    /// The dataset (as completed).
    pub dataset: Dataset,
    /// Its files.
    pub files: Vec<File>,
}

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// API or storage error.
    #[error(transparent)]
    Client(Box<ClientError>),
    /// Local file error.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server stored something else than what was sent.
    #[error("{name}: the server reports {what} {actual} but {expected} was sent; run the upload again to resend")]
    Mismatch {
        /// File name.
        name: String,
        /// `size`, `ETag`, `part 3 ETag`.
        what: String,
        /// Sent.
        expected: String,
        /// Reported.
        actual: String,
    },
    /// The server kept saying the file's upload is being completed for longer than the client waits.
    #[error(
        "{name}: the server was still assembling the uploaded file after {waited} s; run the same upload \
         again later to finish it (the parts already sent are kept)"
    )]
    StillCompleting {
        /// File name.
        name: String,
        /// Seconds waited.
        waited: u64,
    },
    /// The local file changed while being uploaded.
    #[error(
        "{} changed while it was being uploaded (its size or modification time is not what it was when \
         the upload started), so it was not completed; run the upload again once nothing is writing to it",
        path.display()
    )]
    Changed {
        /// Path.
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Journal {
    appsession_id: Option<String>,
    datasets: BTreeMap<String, DatasetJournal>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DatasetJournal {
    biosample_id: Option<String>,
    biosample_created: bool,
    dataset_id: Option<String>,
    files: BTreeMap<String, FileJournal>,
    complete: bool,
}

/// What a source file looked like when its upload started: if any of it differs later, the
/// file was written to meanwhile and parts read at different times may not belong together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SourceStamp {
    size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    modified_ns: u64,
    /// Device and inode (Unix), so a file replaced by another one is noticed too.
    device: Option<u64>,
    inode: Option<u64>,
}

impl SourceStamp {
    fn of(path: &Path) -> Result<SourceStamp, UploadError> {
        let meta = std::fs::metadata(path).map_err(io_err("reading", path))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        #[cfg(unix)]
        let (device, inode) = {
            use std::os::unix::fs::MetadataExt;
            (Some(meta.dev()), Some(meta.ino()))
        };
        #[cfg(not(unix))]
        let (device, inode) = (None, None);
        Ok(SourceStamp {
            size: meta.len(),
            modified_ns,
            device,
            inode,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FileJournal {
    /// The source file when this upload started.
    #[serde(default)]
    source: Option<SourceStamp>,
    upload_id: Option<String>,
    template: Option<String>,
    single_url: Option<String>,
    parts: u64,
    /// Part number → MD5 hex of parts the server acknowledged.
    done: BTreeMap<u32, String>,
    file_id: Option<String>,
}

struct JournalFile {
    path: PathBuf,
    state: Mutex<Journal>,
}

impl JournalFile {
    async fn save(&self) -> Result<(), UploadError> {
        let state = self.state.lock().await;
        self.write(&state)
    }

    fn write(&self, state: &Journal) -> Result<(), UploadError> {
        let text = serde_json::to_vec_pretty(state).map_err(|err| UploadError::Io {
            action: "writing upload journal",
            path: self.path.clone(),
            source: std::io::Error::other(err),
        })?;
        crate::profile::write_atomic(&self.path, &text, false).map_err(|err| match err {
            ClientError::Io { action, path, source } => UploadError::Io { action, path, source },
            other => UploadError::from(other),
        })
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> UploadError + 'a {
    move |source| UploadError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The MIME type BaseSpace gets for a file name.
pub fn content_type_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".gz") {
        "application/x-gzip"
    } else if lower.ends_with(".json") {
        "application/json"
    } else if lower.ends_with(".txt") || lower.ends_with(".csv") || lower.ends_with(".fastq") {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// The journal key of a plan: server, project, datasets and files with sizes and mtimes.
fn journal_key(client: &Client, plan: &UploadPlan) -> Result<String, UploadError> {
    let mut hasher = Sha256::new();
    hasher.update(client.api_server().as_bytes());
    hasher.update([0]);
    hasher.update(plan.project_id.as_bytes());
    for dataset in &plan.datasets {
        hasher.update([1]);
        hasher.update(dataset.name.as_bytes());
        hasher.update([0]);
        hasher.update(dataset.biosample_name.as_bytes());
        for file in &dataset.files {
            let meta = std::fs::metadata(&file.path).map_err(io_err("reading", &file.path))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let absolute = std::fs::canonicalize(&file.path).unwrap_or(file.path.clone());
            hasher.update([2]);
            hasher.update(absolute.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(file.name.as_bytes());
            hasher.update(meta.len().to_le_bytes());
            hasher.update(mtime.to_le_bytes());
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Runs an upload plan (see the module documentation). Safe to call again with the same plan
/// after an interruption: it resumes.
pub async fn upload(client: &Client, plan: &UploadPlan, options: &UploadOptions) -> Result<UploadReport, UploadError> {
    let dir = options
        .journal_dir
        .clone()
        .unwrap_or_else(|| crate::profile::config_dir().join("uploads"));
    crate::profile::create_private_dir(&dir)?;
    let path = dir.join(format!("{}.json", journal_key(client, plan)?));
    let existing: Option<Journal> = std::fs::read(&path)
        .ok()
        .and_then(|text| serde_json::from_slice(&text).ok());
    let resumed = existing.is_some();
    let journal = Arc::new(JournalFile {
        path: path.clone(),
        state: Mutex::new(existing.unwrap_or_default()),
    });
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let permits = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));

    let appsession_id = {
        let current = journal.state.lock().await.appsession_id.clone();
        match current {
            Some(id) => id,
            None => {
                let now = time::OffsetDateTime::now_utc();
                let name = plan.appsession_name.clone().unwrap_or_else(|| {
                    format!(
                        "BaseSpace CLI {:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
                        now.year(),
                        u8::from(now.month()),
                        now.day(),
                        now.hour(),
                        now.minute(),
                        now.second()
                    )
                });
                let session: AppSession = client
                    .post_json(
                        "v2/appsessions",
                        &serde_json::json!({"Name": name, "StatusSummary": "Uploading files"}),
                    )
                    .await?;
                journal.state.lock().await.appsession_id = Some(session.id.clone());
                journal.save().await?;
                session.id
            }
        }
    };

    let mut results = Vec::new();
    for dataset in &plan.datasets {
        results.push(
            upload_dataset(
                client,
                plan,
                dataset,
                &appsession_id,
                &journal,
                options,
                &sent,
                &permits,
            )
            .await?,
        );
    }

    let names: Vec<&str> = plan.datasets.iter().map(|d| d.name.as_str()).collect();
    let summary = format!("Finished uploading {}", names.join(", "));
    let appsession: AppSession = client
        .post_json_idempotent(
            &format!("v2/appsessions/{}", seg(&appsession_id)),
            &serde_json::json!({"ExecutionStatus": "Complete", "StatusSummary": summary}),
        )
        .await?;
    let _ = std::fs::remove_file(&path);
    Ok(UploadReport {
        appsession,
        datasets: results,
        resumed,
        bytes_sent: sent.load(std::sync::atomic::Ordering::Relaxed),
    })
}

#[allow(clippy::too_many_arguments)]
async fn upload_dataset(
    client: &Client,
    plan: &UploadPlan,
    dataset: &DatasetUpload,
    appsession_id: &str,
    journal: &Arc<JournalFile>,
    options: &UploadOptions,
    sent: &Arc<std::sync::atomic::AtomicU64>,
    permits: &Arc<tokio::sync::Semaphore>,
) -> Result<UploadedDataset, UploadError> {
    let entry = journal
        .state
        .lock()
        .await
        .datasets
        .get(&dataset.name)
        .cloned()
        .unwrap_or_default();
    let (biosample, biosample_created) = match &entry.biosample_id {
        Some(id) => (client.biosample(id).await?, entry.biosample_created),
        None => {
            let query = BiosampleQuery {
                project_ids: vec![plan.project_id.clone()],
                names: vec![dataset.biosample_name.clone()],
            };
            let found: Vec<Biosample> = client.biosamples(&query).try_collect().await?;
            let found = found
                .into_iter()
                .find(|b| b.bio_sample_name.as_deref() == Some(dataset.biosample_name.as_str()));
            let (biosample, created) = match found {
                Some(biosample) => (biosample, false),
                None => (
                    client
                        .create_biosample(&dataset.biosample_name, &plan.project_id)
                        .await?,
                    true,
                ),
            };
            {
                let mut state = journal.state.lock().await;
                let slot = state.datasets.entry(dataset.name.clone()).or_default();
                slot.biosample_id = Some(biosample.id.clone());
                slot.biosample_created = created;
            }
            journal.save().await?;
            (biosample, created)
        }
    };
    let dataset_id = match &entry.dataset_id {
        Some(id) => id.clone(),
        None => {
            let mut attributes = serde_json::Map::new();
            if let Some(fastq) = &dataset.common_fastq {
                attributes.insert(
                    "common_fastq".into(),
                    serde_json::to_value(fastq).map_err(|err| ClientError::Invalid(err.to_string()))?,
                );
            }
            let body = serde_json::json!({
                "Name": dataset.name,
                "AppSessionId": appsession_id,
                "DatasetTypeId": dataset.dataset_type,
                "BiosampleId": biosample.id,
                "Attributes": attributes,
            });
            let created: Dataset = client
                .post_json(&format!("v2/projects/{}/datasets", seg(&plan.project_id)), &body)
                .await?;
            {
                let mut state = journal.state.lock().await;
                state.datasets.entry(dataset.name.clone()).or_default().dataset_id = Some(created.id.clone());
            }
            journal.save().await?;
            created.id
        }
    };

    // Files go in parallel; the permits bound the parts in flight (and their buffers) overall.
    let files: Vec<File> = futures_util::stream::iter(dataset.files.iter().map(|file| {
        upload_one_file(
            client,
            &dataset.name,
            &dataset_id,
            file,
            journal,
            options,
            sent,
            permits,
        )
    }))
    .buffered(options.concurrency.max(1))
    .try_collect()
    .await?;
    let completed: Dataset = client
        .post_json_idempotent(
            &format!("v2/datasets/{}", seg(&dataset_id)),
            &serde_json::json!({"UploadStatus": "Complete"}),
        )
        .await?;
    {
        let mut state = journal.state.lock().await;
        state.datasets.entry(dataset.name.clone()).or_default().complete = true;
    }
    journal.save().await?;
    Ok(UploadedDataset {
        biosample,
        biosample_created,
        dataset: completed,
        files,
    })
}

async fn read_part(path: &Path, offset: u64, len: u64) -> Result<Bytes, UploadError> {
    let path_buf = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<Bytes, UploadError> {
        use std::io::{Read, Seek};
        let mut file = std::fs::File::open(&path_buf).map_err(io_err("reading", &path_buf))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .map_err(io_err("reading", &path_buf))?;
        let mut buffer = vec![0u8; len as usize];
        file.read_exact(&mut buffer).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                UploadError::Changed { path: path_buf.clone() }
            } else {
                UploadError::Io {
                    action: "reading",
                    path: path_buf.clone(),
                    source: err,
                }
            }
        })?;
        Ok(Bytes::from(buffer))
    })
    .await
    .map_err(|err| UploadError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source: std::io::Error::other(err),
    })?
}

#[allow(clippy::too_many_arguments)]
async fn upload_one_file(
    client: &Client,
    dataset_name: &str,
    dataset_id: &str,
    file: &UploadFile,
    journal: &Arc<JournalFile>,
    options: &UploadOptions,
    sent: &Arc<std::sync::atomic::AtomicU64>,
    permits: &Arc<tokio::sync::Semaphore>,
) -> Result<File, UploadError> {
    let started_before = {
        let state = journal.state.lock().await;
        state
            .datasets
            .get(dataset_name)
            .and_then(|d| d.files.get(&file.name))
            .is_some_and(|f| f.template.is_some() || f.single_url.is_some())
    };
    let attempt = |fresh: bool| {
        upload_file_once(
            client,
            dataset_name,
            dataset_id,
            file,
            journal,
            options,
            sent,
            permits,
            fresh,
        )
    };
    let result = match attempt(false).await {
        // The upload an earlier run started is gone (expired or aborted on the server): start
        // this file over once.
        Err(UploadError::Client(err)) if started_before && matches!(err.status(), Some(403 | 404 | 410)) => {
            tracing::warn!(file = %file.name, error = %err, "the earlier upload of this file is gone; starting it over");
            attempt(true).await
        }
        other => other,
    };
    options.progress.file_done(&file.name);
    result
}

#[allow(clippy::too_many_arguments)]
async fn upload_file_once(
    client: &Client,
    dataset_name: &str,
    dataset_id: &str,
    file: &UploadFile,
    journal: &Arc<JournalFile>,
    options: &UploadOptions,
    sent: &Arc<std::sync::atomic::AtomicU64>,
    permits: &Arc<tokio::sync::Semaphore>,
    fresh: bool,
) -> Result<File, UploadError> {
    let stamp = SourceStamp::of(&file.path)?;
    let size = stamp.size;
    let part_size = options.part_size.max(5 * 1024 * 1024);
    let parts = size.div_ceil(part_size).max(1);
    let content_type = content_type_for(&file.name);
    let info_path = format!("v2/datasets/{}/file-upload-info", seg(dataset_id));

    let mut entry = {
        let state = journal.state.lock().await;
        state
            .datasets
            .get(dataset_name)
            .and_then(|d| d.files.get(&file.name))
            .cloned()
            .unwrap_or_default()
    };
    if let Some(file_id) = &entry.file_id {
        options.progress.add(size);
        options.progress.add_to_file(&file.name, size, size);
        return Ok(client.file(file_id).await?);
    }
    let started = entry.template.is_some() || entry.single_url.is_some();
    // Parts sent earlier are only reused when the file is exactly as it was then.
    let source_changed = started && entry.source.as_ref() != Some(&stamp);
    if source_changed {
        tracing::warn!(file = %file.path.display(), "the file changed since its upload started; sending it again from the start");
    }
    // Reuse an upload started earlier (its parts are kept); ask for a new one otherwise.
    if fresh || source_changed || entry.parts != parts || !started {
        let info: PresignedUrlForUpload = client
            .get_json(
                &info_path,
                &[
                    ("filepath".to_string(), file.name.clone()),
                    ("uploadpartcount".to_string(), parts.to_string()),
                ],
            )
            .await?;
        entry = FileJournal {
            source: Some(stamp.clone()),
            upload_id: info.multipart_upload_id.clone(),
            template: info.multipart_template.clone(),
            single_url: info.single_part_url.clone(),
            parts,
            done: BTreeMap::new(),
            file_id: None,
        };
        if entry.template.is_none() && entry.single_url.is_none() {
            return Err(ClientError::InvalidResponse {
                url: client.url(&info_path),
                message: "neither SinglePartUrl nor MultipartTemplate in file-upload-info".into(),
            }
            .into());
        }
        store_file_entry(journal, dataset_name, &file.name, &entry).await?;
    }
    let already: u64 = entry
        .done
        .keys()
        .map(|n| part_len(size, part_size, u64::from(*n)))
        .sum();
    options.progress.add(already);
    options.progress.add_to_file(&file.name, size, already);

    let entry = Arc::new(Mutex::new(entry));
    let pending: Vec<u32> = {
        let entry = entry.lock().await;
        (1..=parts as u32).filter(|n| !entry.done.contains_key(n)).collect()
    };
    let template = entry.lock().await.template.clone();
    let single = entry.lock().await.single_url.clone();
    let multipart = template.is_some() && (parts > 1 || single.is_none());
    let stamp = &stamp;
    futures_util::stream::iter(pending.into_iter().map(|number| {
        let entry = entry.clone();
        let template = template.clone();
        let single = single.clone();
        let sent = sent.clone();
        async move {
            let _permit = permits.acquire().await.map_err(|_| UploadError::Io {
                action: "uploading",
                path: file.path.clone(),
                source: std::io::Error::other("upload cancelled"),
            })?;
            let offset = (u64::from(number) - 1) * part_size;
            let len = part_len(size, part_size, u64::from(number));
            if let Some(limit) = &options.rate_limit {
                limit.consume(len).await;
            }
            let data = read_part(&file.path, offset, len).await?;
            // Checked again before completing; here it saves sending the rest of a file in vain.
            if SourceStamp::of(&file.path)? != *stamp {
                return Err(UploadError::Changed {
                    path: file.path.clone(),
                });
            }
            let md5 = hex::encode(Md5::digest(&data));
            let url = match (&template, &single) {
                (Some(template), _) if multipart => template.replace("{partNumber}", &number.to_string()),
                (_, Some(single)) => single.clone(),
                _ => String::new(),
            };
            let mut attempt = 0;
            loop {
                let etag = client.put_bytes(&url, data.clone()).await?;
                match etag {
                    Some(etag) if etag != md5 => {
                        if attempt < 3 {
                            attempt += 1;
                            continue;
                        }
                        return Err(UploadError::Mismatch {
                            name: file.name.clone(),
                            what: format!("part {number} ETag"),
                            expected: md5,
                            actual: etag,
                        });
                    }
                    _ => break,
                }
            }
            sent.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
            options.progress.add(len);
            options.progress.add_to_file(&file.name, size, len);
            let snapshot = {
                let mut entry = entry.lock().await;
                entry.done.insert(number, md5);
                entry.clone()
            };
            store_file_entry(journal, dataset_name, &file.name, &snapshot).await?;
            Ok::<(), UploadError>(())
        }
    }))
    .buffer_unordered(options.concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;

    // Parts were read at different times: they make one version of the file only if nothing wrote
    // to it since the upload started.
    if SourceStamp::of(&file.path)? != *stamp {
        return Err(UploadError::Changed {
            path: file.path.clone(),
        });
    }

    let entry = entry.lock().await.clone();
    let mut md5s = Vec::new();
    for number in 1..=parts as u32 {
        let hex_md5 = entry.done.get(&number).cloned().unwrap_or_default();
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(&hex_md5, &mut bytes).map_err(|_| UploadError::Io {
            action: "reading upload journal",
            path: journal.path.clone(),
            source: std::io::Error::other(format!("bad MD5 for part {number}")),
        })?;
        md5s.push(bytes);
    }
    let expected_etag = if multipart {
        ferry_api::etag::multipart_etag(&md5s)
    } else {
        hex::encode(md5s[0])
    };
    let request = CompleteUploadRequest {
        upload_id: if multipart { entry.upload_id.clone() } else { None },
        file_path: file.name.clone(),
        part_etags: if multipart {
            entry
                .done
                .iter()
                .map(|(part, etag)| PartEtag {
                    part: *part,
                    etag: etag.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
        size: Some(size as i64),
        content_type: Some(content_type.to_string()),
    };
    let stored = complete_file(client, dataset_id, &info_path, &request, size, &expected_etag).await?;
    if let Some(actual) = stored.size
        && actual as u64 != size
    {
        return Err(UploadError::Mismatch {
            name: file.name.clone(),
            what: "size".into(),
            expected: size.to_string(),
            actual: actual.to_string(),
        });
    }
    if let Some(actual) = stored.etag.as_deref() {
        let actual = actual.trim().trim_matches('"').to_ascii_lowercase();
        if actual != expected_etag {
            return Err(UploadError::Mismatch {
                name: file.name.clone(),
                what: "ETag".into(),
                expected: expected_etag,
                actual,
            });
        }
    }
    let mut done = entry;
    done.file_id = Some(stored.id.clone());
    store_file_entry(journal, dataset_name, &file.name, &done).await?;
    Ok(stored)
}

/// Longest wait for one completion request: the server re-reads and assembles the whole file
/// before it answers.
const COMPLETE_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3 * 60 * 60);
/// Longest time to keep asking while the server says the upload is still being completed.
const COMPLETING_WAIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Whether an error is the server saying another request is completing this upload right now.
fn is_completing(err: &ClientError) -> bool {
    match err {
        ClientError::Http {
            status: 409, message, ..
        } => message.to_ascii_lowercase().contains("completing"),
        _ => false,
    }
}

/// The file the dataset holds under `name` with this size and ETag, if any.
async fn find_completed(
    client: &Client,
    dataset_id: &str,
    name: &str,
    size: u64,
    expected_etag: &str,
) -> Result<Option<File>, ClientError> {
    let query = crate::client::FileQuery::default();
    let existing: Vec<File> = client.dataset_files(dataset_id, &query).try_collect().await?;
    Ok(existing.into_iter().find(|f| {
        f.path.as_deref().or(f.name.as_deref()) == Some(name)
            && f.size == Some(size as i64)
            && f.etag
                .as_deref()
                .map(|e| e.trim().trim_matches('"').to_ascii_lowercase())
                .as_deref()
                == Some(expected_etag)
    }))
}

/// Completes one file's upload. The request may take long (no read timeout); while the server
/// answers that the upload is being completed (an earlier attempt is still assembling it), waits
/// and asks again, for at most [`COMPLETING_WAIT`].
async fn complete_file(
    client: &Client,
    dataset_id: &str,
    info_path: &str,
    request: &CompleteUploadRequest,
    size: u64,
    expected_etag: &str,
) -> Result<File, UploadError> {
    complete_file_within(
        client,
        dataset_id,
        info_path,
        request,
        size,
        expected_etag,
        COMPLETING_WAIT,
    )
    .await
}

async fn complete_file_within(
    client: &Client,
    dataset_id: &str,
    info_path: &str,
    request: &CompleteUploadRequest,
    size: u64,
    expected_etag: &str,
    completing_wait: std::time::Duration,
) -> Result<File, UploadError> {
    let name = request.file_path.as_str();
    let started = tokio::time::Instant::now();
    let mut delay = client
        .options()
        .initial_backoff
        .max(std::time::Duration::from_millis(1));
    let max_delay = client.options().max_backoff.max(delay);
    loop {
        let err = match client
            .post_json_idempotent_patient::<_, File>(info_path, request, COMPLETE_REQUEST_TIMEOUT)
            .await
        {
            Ok(stored) => return Ok(stored),
            Err(err) => err,
        };
        if is_completing(&err) {
            let waited = started.elapsed();
            if waited < completing_wait {
                tracing::info!(file = %name, ?waited, "the server is still completing the upload; asking again in {delay:?}");
                tokio::time::sleep(delay.min(completing_wait - waited)).await;
                delay = (delay * 2).min(max_delay);
                continue;
            }
            // Out of patience: the file may have been completed meanwhile.
            if let Some(stored) = find_completed(client, dataset_id, name, size, expected_etag).await? {
                return Ok(stored);
            }
            return Err(UploadError::StillCompleting {
                name: name.to_string(),
                waited: started.elapsed().as_secs(),
            });
        }
        // An earlier run may have completed this file and stopped before recording it: if the
        // dataset holds it with the right size and ETag, that is the answer.
        if matches!(err.status(), Some(400 | 404 | 409 | 410))
            && let Some(stored) = find_completed(client, dataset_id, name, size, expected_etag).await?
        {
            return Ok(stored);
        }
        return Err(err.into());
    }
}

fn part_len(size: u64, part_size: u64, number: u64) -> u64 {
    let start = (number - 1) * part_size;
    size.saturating_sub(start).min(part_size)
}

async fn store_file_entry(
    journal: &Arc<JournalFile>,
    dataset_name: &str,
    file_name: &str,
    entry: &FileJournal,
) -> Result<(), UploadError> {
    let mut state = journal.state.lock().await;
    state
        .datasets
        .entry(dataset_name.to_string())
        .or_default()
        .files
        .insert(file_name.to_string(), entry.clone());
    journal.write(&state)
}

impl From<ClientError> for UploadError {
    fn from(err: ClientError) -> Self {
        UploadError::Client(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use serde_json::json;

    use super::*;
    use crate::ClientOptions;

    const ETAG: &str = "0123456789abcdef0123456789abcdef-2";

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        format!("http://{address}")
    }

    fn client(url: &str, read_timeout: Duration) -> Client {
        Client::with_options(
            url,
            "token123",
            ClientOptions {
                retries: 3,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                read_timeout,
                ..ClientOptions::default()
            },
        )
        .unwrap()
    }

    fn stored_file() -> serde_json::Value {
        json!({"Id": "f.1", "Name": "big.bin", "Path": "big.bin", "Size": 10, "ETag": format!("\"{ETAG}\"")})
    }

    fn completing() -> axum::response::Response {
        (
            StatusCode::CONFLICT,
            axum::Json(json!({"ErrorCode": "BASESPACE.COMMON.CONFLICT",
                "ErrorMessage": "This upload is completing; it cannot be completed now."})),
        )
            .into_response()
    }

    fn request() -> CompleteUploadRequest {
        CompleteUploadRequest {
            upload_id: Some("u.1".into()),
            file_path: "big.bin".into(),
            part_etags: Vec::new(),
            size: Some(10),
            content_type: Some("application/octet-stream".into()),
        }
    }

    const INFO: &str = "v2/datasets/ds.1/file-upload-info";

    #[tokio::test]
    async fn completion_waits_while_the_server_says_the_upload_is_completing() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let router = Router::new().route(
            "/v2/datasets/{id}/file-upload-info",
            post(move || async move {
                match seen.fetch_add(1, Ordering::SeqCst) {
                    0 => completing(),
                    _ => axum::Json(stored_file()).into_response(),
                }
            }),
        );
        let client = client(&serve(router).await, Duration::from_secs(120));
        let stored = complete_file(&client, "ds.1", INFO, &request(), 10, ETAG)
            .await
            .unwrap();
        assert_eq!(stored.id, "f.1");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "asked again after the 409");
    }

    #[tokio::test]
    async fn completion_outlasts_the_read_timeout() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let router = Router::new().route(
            "/v2/datasets/{id}/file-upload-info",
            post(move || async move {
                seen.fetch_add(1, Ordering::SeqCst);
                // Assembling a large file: silent for longer than the client's read timeout.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                axum::Json(stored_file()).into_response()
            }),
        );
        let client = client(&serve(router).await, Duration::from_millis(300));
        let stored = complete_file(&client, "ds.1", INFO, &request(), 10, ETAG)
            .await
            .unwrap();
        assert_eq!(stored.id, "f.1");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one request, not cut short and retried"
        );
    }

    #[tokio::test]
    async fn completion_stops_waiting_after_a_while_and_looks_for_the_file() {
        let listed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let show = listed.clone();
        let router = Router::new()
            .route("/v2/datasets/{id}/file-upload-info", post(|| async { completing() }))
            .route(
                "/v2/datasets/{id}/files",
                get(move || async move {
                    let items = if show.load(Ordering::SeqCst) {
                        vec![stored_file()]
                    } else {
                        Vec::new()
                    };
                    let count = items.len();
                    axum::Json(json!({"Items": items, "Paging": {"DisplayedCount": count, "TotalCount": count, "Offset": 0, "Limit": 1000}}))
                }),
            );
        let client = client(&serve(router).await, Duration::from_secs(120));
        let wait = Duration::from_millis(100);
        let err = complete_file_within(&client, "ds.1", INFO, &request(), 10, ETAG, wait)
            .await
            .unwrap_err();
        assert!(matches!(err, UploadError::StillCompleting { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("big.bin") && message.contains("run the same upload again later"),
            "{message}"
        );
        listed.store(true, Ordering::SeqCst);
        let stored = complete_file_within(&client, "ds.1", INFO, &request(), 10, ETAG, wait)
            .await
            .unwrap();
        assert_eq!(stored.id, "f.1", "the completed file is found in the dataset");
    }
}
