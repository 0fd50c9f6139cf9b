//! The download engine: verified, resumable, parallel.
//!
//! A file is written to `<name>.partial` next to its destination, checked against the `Size` and
//! `ETag` BaseSpace reports (plain MD5, or the multipart `md5-of-part-md5s-N` recomputed with the
//! part size it implies), flushed to disk and only then renamed to its final name. A mismatch
//! deletes the partial file and fails naming both checksums; nothing wrong ever sits under the
//! final name.
//!
//! Small files stream in one request and resume from the partial file's length with `Range`.
//! Large files (at least [`DownloadOptions::parallel_threshold`]) are fetched as parallel byte
//! ranges aligned to the ETag's part size, so each range task computes its parts' MD5s; completed
//! ranges are recorded in `<name>.partial.json` so a killed download resumes where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_api::etag::{Etag, EtagHasher, implied_part_sizes, multipart_etag};
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::client::Client;
use crate::error::ClientError;
use crate::progress::{NoProgress, RateLimit, TransferProgress};

const MIB: u64 = 1024 * 1024;

/// How to download.
#[derive(Clone)]
pub struct DownloadOptions {
    /// Replace an existing file even when it verifies (it is re-downloaded and swapped in
    /// atomically). Without it, an existing verified file is skipped and an existing different
    /// file is an error.
    pub overwrite: bool,
    /// Parallel byte ranges per large file.
    pub range_concurrency: usize,
    /// Files at least this big are fetched in parallel ranges.
    pub parallel_threshold: u64,
    /// Target size of one range (rounded to a multiple of the part size).
    pub chunk_size: u64,
    /// Extra attempts for a broken transfer of one range (or of the whole stream).
    pub retries: u32,
    /// Receives byte counts.
    pub progress: Arc<dyn TransferProgress>,
    /// Bandwidth cap shared by every transfer using these options.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// Treat a file whose multipart ETag cannot be reproduced as an error (its bytes are kept in
    /// the partial file) instead of keeping it with a warning.
    pub require_checksum: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            overwrite: false,
            range_concurrency: 4,
            parallel_threshold: 32 * MIB,
            chunk_size: 32 * MIB,
            retries: 5,
            progress: Arc::new(NoProgress),
            rate_limit: None,
            require_checksum: false,
        }
    }
}

impl std::fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("overwrite", &self.overwrite)
            .field("range_concurrency", &self.range_concurrency)
            .field("parallel_threshold", &self.parallel_threshold)
            .field("chunk_size", &self.chunk_size)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// How a file was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verification {
    /// Size and the MD5 of the content (plain ETag).
    Md5,
    /// Size and the recomputed multipart ETag.
    MultipartEtag,
    /// Size only: the server gave no usable ETag.
    SizeOnly,
    /// Size only: the multipart ETag was made with a part size none of the plausible ones
    /// reproduces, so the bytes could be neither confirmed nor refuted; they are kept.
    EtagNotReproducible,
    /// Nothing: the server gave neither size nor ETag.
    Unverified,
}

impl Verification {
    /// Whether a checksum was compared.
    pub fn is_checksum(self) -> bool {
        matches!(self, Verification::Md5 | Verification::MultipartEtag)
    }
}

/// What [`download_file`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownloadOutcome {
    /// Bytes of the file.
    pub bytes: u64,
    /// True when an existing verified file was kept.
    pub skipped: bool,
    /// How the file was checked.
    pub verified: Verification,
    /// Bytes already on disk from an earlier, interrupted run.
    pub resumed_from: u64,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// API or storage error.
    #[error(transparent)]
    Client(Box<ClientError>),
    /// Local file system error.
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
    /// The bytes received do not match the ETag.
    #[error("{}: checksum mismatch (server ETag {expected}, received data gives {actual}); the partial file was deleted, run the download again", path.display())]
    ChecksumMismatch {
        /// Destination.
        path: PathBuf,
        /// ETag the server reported.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The bytes received do not have the reported size.
    #[error("{}: size mismatch (server says {expected} bytes, received {actual}); the partial file was deleted, run the download again", path.display())]
    SizeMismatch {
        /// Destination.
        path: PathBuf,
        /// Size the server reported.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// The size matches but the multipart ETag could not be reproduced, and a checksum was
    /// required: the bytes are kept for inspection, not deleted.
    #[error(
        "{}: the size matches, but the multipart ETag {etag} was made with a part size Ferry could not reproduce \
         (tried {tried}), so the checksum cannot be verified; the bytes are kept in {} (run again without \
         --require-checksum to accept them on their size)",
        path.display(),
        kept.display()
    )]
    Unverifiable {
        /// Destination.
        path: PathBuf,
        /// Where the bytes are.
        kept: PathBuf,
        /// The server's ETag.
        etag: String,
        /// The part sizes tried, for the message.
        tried: String,
    },
    /// A different file already has the destination name.
    #[error("{} already exists and differs from the BaseSpace file ({reason}); pass --overwrite to replace it", path.display())]
    Exists {
        /// Destination.
        path: PathBuf,
        /// How it differs.
        reason: String,
    },
    /// The storage server answered a byte-range request with the whole file.
    #[error("the storage server ignored a byte-range request for {}", path.display())]
    RangeIgnored {
        /// Destination.
        path: PathBuf,
    },
    /// The file is archived and cannot be downloaded.
    #[error("{name} is archived in BaseSpace; unarchive it first (`bs unarchive`), then download again")]
    Archived {
        /// File name.
        name: String,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TransferError + 'a {
    move |source| TransferError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// `<name>.partial` next to `dest`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    dest.with_file_name(name)
}

fn state_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial.json");
    dest.with_file_name(name)
}

/// Outcome of checking bytes against a size and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// They match.
    Ok(Verification),
    /// Sizes differ.
    Size {
        /// Expected.
        expected: u64,
        /// Actual.
        actual: u64,
    },
    /// Checksums differ.
    Checksum {
        /// Expected ETag.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The size matches; the multipart ETag was made with a part size none of those tried
    /// reproduces: neither confirmed nor refuted.
    Unverifiable {
        /// Expected ETag.
        etag: String,
        /// Part sizes tried.
        tried: Vec<u64>,
    },
}

/// Part sizes as a person reads them (`8 MiB, 5000000 bytes`).
fn describe_part_sizes(sizes: &[u64]) -> String {
    if sizes.is_empty() {
        return "no plausible part size".to_string();
    }
    sizes
        .iter()
        .map(|size| {
            if size % MIB == 0 {
                format!("{} MiB", size / MIB)
            } else {
                format!("{size} bytes")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hashes a local file and checks it against a size and ETag (either kind). Runs on a blocking
/// thread; memory use is one buffer.
pub async fn verify_path(path: &Path, size: Option<u64>, etag: Option<&str>) -> Result<Check, TransferError> {
    let path = path.to_path_buf();
    let etag = etag.and_then(Etag::parse);
    tokio::task::spawn_blocking(move || verify_path_blocking(&path, size, etag.as_ref()))
        .await
        .map_err(|err| TransferError::Io {
            action: "verifying",
            path: PathBuf::new(),
            source: std::io::Error::other(err),
        })?
}

fn verify_path_blocking(path: &Path, size: Option<u64>, etag: Option<&Etag>) -> Result<Check, TransferError> {
    use std::io::Read;
    let actual_size = std::fs::metadata(path).map_err(io("reading", path))?.len();
    if let Some(expected) = size
        && expected != actual_size
    {
        return Ok(Check::Size {
            expected,
            actual: actual_size,
        });
    }
    let Some(etag) = etag else {
        return Ok(Check::Ok(if size.is_some() {
            Verification::SizeOnly
        } else {
            Verification::Unverified
        }));
    };
    let part_sizes = match etag {
        Etag::Md5(_) => vec![ferry_api::BASESPACE_PART_SIZE],
        Etag::Multipart { parts, .. } => {
            let sizes = implied_part_sizes(actual_size, *parts);
            if sizes.is_empty() {
                return Ok(Check::Unverifiable {
                    etag: etag.to_string(),
                    tried: sizes,
                });
            }
            sizes
        }
    };
    let mut hashers: Vec<EtagHasher> = part_sizes.iter().map(|p| EtagHasher::new(*p)).collect();
    let mut file = std::fs::File::open(path).map_err(io("reading", path))?;
    let mut buffer = vec![0u8; 4 * MIB as usize];
    loop {
        let read = file.read(&mut buffer).map_err(io("reading", path))?;
        if read == 0 {
            break;
        }
        for hasher in &mut hashers {
            hasher.update(&buffer[..read]);
        }
    }
    let digests: Vec<_> = hashers.into_iter().map(EtagHasher::finish).collect();
    if digests.iter().any(|d| d.matches(etag)) {
        return Ok(Check::Ok(match etag {
            Etag::Md5(_) => Verification::Md5,
            Etag::Multipart { .. } => Verification::MultipartEtag,
        }));
    }
    match etag {
        Etag::Md5(_) => Ok(Check::Checksum {
            expected: etag.to_string(),
            actual: digests[0].md5.clone(),
        }),
        // The uploader may have used a part size not among those tried: never call that wrong.
        Etag::Multipart { .. } => Ok(Check::Unverifiable {
            etag: etag.to_string(),
            tried: part_sizes,
        }),
    }
}

/// Downloads one BaseSpace file to `dest` (see the module documentation).
pub async fn download_file(
    client: &Client,
    file: &ferry_api::File,
    dest: &Path,
    options: &DownloadOptions,
) -> Result<DownloadOutcome, TransferError> {
    let name = file.name.clone().unwrap_or_else(|| file.id.clone());
    if file.is_archived == Some(true) {
        return Err(TransferError::Archived { name });
    }
    let size = file.size.and_then(|s| u64::try_from(s).ok());
    let etag_text = file.etag.clone().filter(|e| Etag::parse(e).is_some());
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io("creating directory", parent))?;
    }
    if tokio::fs::try_exists(dest).await.unwrap_or(false) && !options.overwrite {
        return match verify_path(dest, size, etag_text.as_deref()).await? {
            Check::Ok(verified) => {
                let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
                options.progress.add(bytes);
                Ok(DownloadOutcome {
                    bytes,
                    skipped: true,
                    verified,
                    resumed_from: 0,
                })
            }
            Check::Size { expected, actual } => Err(TransferError::Exists {
                path: dest.to_path_buf(),
                reason: format!("{actual} bytes instead of {expected}"),
            }),
            Check::Checksum { expected, actual } => Err(TransferError::Exists {
                path: dest.to_path_buf(),
                reason: format!("checksum {actual} instead of {expected}"),
            }),
            Check::Unverifiable { etag, tried } if options.require_checksum => Err(TransferError::Exists {
                path: dest.to_path_buf(),
                reason: format!(
                    "its size matches but the multipart ETag {etag} cannot be reproduced (tried {}), and \
                     --require-checksum is set",
                    describe_part_sizes(&tried)
                ),
            }),
            Check::Unverifiable { .. } => {
                let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
                options.progress.add(bytes);
                Ok(DownloadOutcome {
                    bytes,
                    skipped: true,
                    verified: Verification::EtagNotReproducible,
                    resumed_from: 0,
                })
            }
        };
    }
    let meta = client.content_url(&file.id).await?;
    let partial = partial_path(dest);
    let mut parallel = size.is_some_and(|s| s >= options.parallel_threshold.max(1))
        && meta.supports_range
        && options.range_concurrency > 1;
    let mut fresh_start = false;
    let (resumed_from, check) = loop {
        let (resumed_from, precomputed) = if parallel {
            let ranged = download_ranges(
                client,
                &file.id,
                meta.href_content.clone(),
                size.unwrap_or(0),
                etag_text.as_deref(),
                &partial,
                dest,
                options,
            )
            .await;
            match ranged {
                Err(TransferError::RangeIgnored { .. }) => {
                    // The server sends whole files only: fetch it in one stream instead.
                    tracing::info!(
                        "{}: byte ranges not honoured; downloading in one stream",
                        dest.display()
                    );
                    discard(&partial, dest).await;
                    options.progress.rewind(size.unwrap_or(0));
                    parallel = false;
                    continue;
                }
                other => other?,
            }
        } else {
            download_stream(
                client,
                &file.id,
                meta.href_content.clone(),
                size,
                etag_text.as_deref(),
                &partial,
                options,
            )
            .await?
        };
        let check = match precomputed {
            Some(check) => check,
            None => verify_path(&partial, size, etag_text.as_deref()).await?,
        };
        // Bytes kept from an earlier run may belong to an older version of the file: when the
        // result does not verify, start once more from nothing before reporting a mismatch.
        if resumed_from > 0 && !fresh_start && !matches!(check, Check::Ok(_)) {
            tracing::warn!(
                "{}: resumed data did not verify; downloading from the start",
                dest.display()
            );
            options.progress.rewind(size.unwrap_or(resumed_from));
            discard(&partial, dest).await;
            fresh_start = true;
            continue;
        }
        break (resumed_from, check);
    };
    let verified = match check {
        Check::Ok(verified) => verified,
        Check::Size { expected, actual } => {
            discard(&partial, dest).await;
            return Err(TransferError::SizeMismatch {
                path: dest.to_path_buf(),
                expected,
                actual,
            });
        }
        Check::Checksum { expected, actual } => {
            discard(&partial, dest).await;
            return Err(TransferError::ChecksumMismatch {
                path: dest.to_path_buf(),
                expected,
                actual,
            });
        }
        Check::Unverifiable { etag, tried } => {
            if options.require_checksum {
                // Bytes that may be right are never deleted: they stay in the partial file.
                return Err(TransferError::Unverifiable {
                    path: dest.to_path_buf(),
                    kept: partial,
                    etag,
                    tried: describe_part_sizes(&tried),
                });
            }
            tracing::warn!(
                "{}: size verified; the multipart ETag {etag} cannot be reproduced with any plausible part size \
                 (tried {}), so the checksum was not verified",
                dest.display(),
                describe_part_sizes(&tried)
            );
            Verification::EtagNotReproducible
        }
    };
    tokio::fs::rename(&partial, dest)
        .await
        .map_err(io("renaming into place", dest))?;
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    let _ = tokio::fs::remove_file(state_path(dest)).await;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(DownloadOutcome {
        bytes,
        skipped: false,
        verified,
        resumed_from,
    })
}

async fn discard(partial: &Path, dest: &Path) {
    let _ = tokio::fs::remove_file(partial).await;
    let _ = tokio::fs::remove_file(state_path(dest)).await;
}

/// One request for the whole file, resumed from the partial file's length. Returns the resumed
/// length and, since the hash was computed while writing, the check.
async fn download_stream(
    client: &Client,
    file_id: &str,
    mut url: String,
    size: Option<u64>,
    etag: Option<&str>,
    partial: &Path,
    options: &DownloadOptions,
) -> Result<(u64, Option<Check>), TransferError> {
    let mut have = match tokio::fs::metadata(partial).await {
        Ok(meta) if size.is_none_or(|s| meta.len() <= s) => meta.len(),
        _ => 0,
    };
    let mut out = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(partial)
        .await
        .map_err(io("writing", partial))?;
    out.set_len(have).await.map_err(io("writing", partial))?;
    let resumed_from = have;
    let mut hasher = EtagHasher::new(ferry_api::BASESPACE_PART_SIZE);
    if have > 0 {
        hash_prefix(partial, have, &mut hasher).await?;
        options.progress.add(have);
    }
    out.seek(std::io::SeekFrom::Start(have))
        .await
        .map_err(io("writing", partial))?;
    let mut attempt = 0u32;
    loop {
        if size == Some(have) {
            break;
        }
        let range = match (have, size) {
            (0, _) => None,
            (start, Some(end)) => Some(start..end),
            (start, None) => Some(start..u64::MAX),
        };
        let result: Result<bool, TransferError> = async {
            let response = client.get_range(&url, range.clone()).await?;
            if range.is_some() && response.status().as_u16() == 200 {
                // The server ignored the range: start over.
                options.progress.rewind(have);
                out.set_len(0).await.map_err(io("writing", partial))?;
                out.seek(std::io::SeekFrom::Start(0))
                    .await
                    .map_err(io("writing", partial))?;
                have = 0;
                hasher = EtagHasher::new(ferry_api::BASESPACE_PART_SIZE);
            }
            let mut body = response.bytes_stream();
            let mut writer = tokio::io::BufWriter::with_capacity(MIB as usize, &mut out);
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(err) => {
                        writer.flush().await.map_err(io("writing", partial))?;
                        return Err(ClientError::network("the storage server", err).into());
                    }
                };
                if size.is_some_and(|s| have + chunk.len() as u64 > s) {
                    writer.flush().await.map_err(io("writing", partial))?;
                    return Ok(true);
                }
                writer.write_all(&chunk).await.map_err(io("writing", partial))?;
                hasher.update(&chunk);
                have += chunk.len() as u64;
                options.progress.add(chunk.len() as u64);
                if let Some(limit) = &options.rate_limit {
                    limit.consume(chunk.len() as u64).await;
                }
            }
            writer.flush().await.map_err(io("writing", partial))?;
            Ok(true)
        }
        .await;
        match result {
            Ok(_) => break,
            Err(TransferError::Client(err)) if attempt < options.retries => {
                tracing::warn!(error = %err, "download of file {file_id} interrupted at {have} bytes; resuming");
                attempt += 1;
                tokio::time::sleep(client.backoff(attempt, None)).await;
                if matches!(err.status(), Some(401 | 403)) {
                    url = client.content_url(file_id).await?.href_content;
                }
            }
            Err(err) => return Err(err),
        }
        if size.is_none() {
            break;
        }
    }
    out.sync_all().await.map_err(io("flushing", partial))?;
    drop(out);
    let actual = tokio::fs::metadata(partial)
        .await
        .map_err(io("reading", partial))?
        .len();
    if let Some(expected) = size
        && expected != actual
    {
        return Ok((resumed_from, Some(Check::Size { expected, actual })));
    }
    let digests = hasher.finish();
    let check = match etag.and_then(Etag::parse) {
        None => Check::Ok(if size.is_some() {
            Verification::SizeOnly
        } else {
            Verification::Unverified
        }),
        Some(etag) if digests.matches(&etag) => Check::Ok(match etag {
            Etag::Md5(_) => Verification::Md5,
            Etag::Multipart { .. } => Verification::MultipartEtag,
        }),
        // A multipart ETag with an unusual part size: check again with every implied size.
        Some(Etag::Multipart { .. }) => return Ok((resumed_from, None)),
        Some(etag) => Check::Checksum {
            expected: etag.to_string(),
            actual: digests.md5,
        },
    };
    Ok((resumed_from, Some(check)))
}

async fn hash_prefix(path: &Path, len: u64, hasher: &mut EtagHasher) -> Result<(), TransferError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io("reading", path))?;
    let mut buffer = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let want = left.min(buffer.len() as u64) as usize;
        let read = file.read(&mut buffer[..want]).await.map_err(io("reading", path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        left -= read as u64;
    }
    Ok(())
}

/// Progress of a parallel download, kept next to the partial file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RangeState {
    size: u64,
    etag: Option<String>,
    part_size: u64,
    chunk_size: u64,
    /// Completed chunk index → hex MD5s of its parts.
    done: BTreeMap<u64, Vec<String>>,
}

#[allow(clippy::too_many_arguments)]
async fn download_ranges(
    client: &Client,
    file_id: &str,
    url: String,
    size: u64,
    etag: Option<&str>,
    partial: &Path,
    dest: &Path,
    options: &DownloadOptions,
) -> Result<(u64, Option<Check>), TransferError> {
    let parsed = etag.and_then(Etag::parse);
    let part_size = match &parsed {
        Some(Etag::Multipart { parts, .. }) => implied_part_sizes(size, *parts)
            .first()
            .copied()
            .unwrap_or(ferry_api::BASESPACE_PART_SIZE),
        _ => ferry_api::BASESPACE_PART_SIZE,
    };
    let chunk_size = (options.chunk_size.max(part_size) / part_size) * part_size;
    let chunks = size.div_ceil(chunk_size);
    let state_file = state_path(dest);
    let mut state = RangeState {
        size,
        etag: etag.map(str::to_string),
        part_size,
        chunk_size,
        done: BTreeMap::new(),
    };
    let partial_len = tokio::fs::metadata(partial).await.map(|m| m.len()).ok();
    if partial_len == Some(size)
        && let Ok(text) = tokio::fs::read(&state_file).await
        && let Ok(saved) = serde_json::from_slice::<RangeState>(&text)
        && saved.size == size
        && saved.etag == state.etag
        && saved.part_size == part_size
        && saved.chunk_size == chunk_size
    {
        // Ranges are not fsynced one by one: hash what is really on disk for the ranges the
        // state lists, so the final check covers the bytes that are there.
        let chunk_ranges: Vec<(u64, std::ops::Range<u64>)> = saved
            .done
            .keys()
            .filter(|index| **index < chunks)
            .map(|index| (*index, *index * chunk_size..((*index + 1) * chunk_size).min(size)))
            .collect();
        let path = partial.to_path_buf();
        state.done = tokio::task::spawn_blocking(move || hash_ranges(&path, &chunk_ranges, part_size))
            .await
            .map_err(|err| TransferError::Io {
                action: "reading",
                path: partial.to_path_buf(),
                source: std::io::Error::other(err),
            })??;
    } else {
        let out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(partial)
            .await
            .map_err(io("writing", partial))?;
        out.set_len(size).await.map_err(io("writing", partial))?;
        drop(out);
        write_state(&state_file, &state)?;
    }
    let chunk_range = |index: u64| index * chunk_size..((index + 1) * chunk_size).min(size);
    let resumed_from: u64 = state
        .done
        .keys()
        .map(|i| chunk_range(*i).end - chunk_range(*i).start)
        .sum();
    options.progress.add(resumed_from);
    let pending: Vec<u64> = (0..chunks).filter(|i| !state.done.contains_key(i)).collect();
    let url = Arc::new(tokio::sync::RwLock::new(url));
    let mut results = futures_util::stream::iter(pending.into_iter().map(|index| {
        let url = url.clone();
        let range = chunk_range(index);
        async move {
            let md5s = fetch_chunk(client, file_id, &url, range, part_size, partial, options).await?;
            Ok::<_, TransferError>((index, md5s))
        }
    }))
    .buffer_unordered(options.range_concurrency.max(1));
    while let Some((index, md5s)) = results.try_next().await? {
        state.done.insert(index, md5s);
        write_state(&state_file, &state)?;
    }
    drop(results);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(partial)
        .await
        .map_err(io("flushing", partial))?;
    file.sync_all().await.map_err(io("flushing", partial))?;
    drop(file);
    let check = match &parsed {
        Some(Etag::Multipart { parts, .. }) if size.div_ceil(part_size) == *parts => {
            let mut part_md5s = Vec::new();
            for md5s in state.done.values() {
                for hex_md5 in md5s {
                    let mut bytes = [0u8; 16];
                    hex::decode_to_slice(hex_md5, &mut bytes).map_err(|_| TransferError::Io {
                        action: "reading download state",
                        path: state_file.clone(),
                        source: std::io::Error::other("bad MD5 in state file"),
                    })?;
                    part_md5s.push(bytes);
                }
            }
            let actual = multipart_etag(&part_md5s);
            let expected = parsed.as_ref().map(ToString::to_string).unwrap_or_default();
            // Otherwise the uploader may have used another part size: `verify_path` re-reads the
            // file once and tries every plausible one.
            (actual == expected).then_some(Check::Ok(Verification::MultipartEtag))
        }
        _ => None,
    };
    Ok((resumed_from, check))
}

fn write_state(path: &Path, state: &RangeState) -> Result<(), TransferError> {
    let text = serde_json::to_vec(state).map_err(|err| TransferError::Io {
        action: "writing",
        path: path.to_path_buf(),
        source: std::io::Error::other(err),
    })?;
    crate::profile::write_atomic(path, &text, false).map_err(|err| match err {
        ClientError::Io { action, path, source } => TransferError::Io { action, path, source },
        other => TransferError::from(other),
    })
}

/// MD5s (hex) of the `part_size` parts of each byte range of a file.
fn hash_ranges(
    path: &Path,
    ranges: &[(u64, std::ops::Range<u64>)],
    part_size: u64,
) -> Result<BTreeMap<u64, Vec<String>>, TransferError> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path).map_err(io("reading", path))?;
    let mut done = BTreeMap::new();
    let mut buffer = vec![0u8; MIB as usize];
    for (index, range) in ranges {
        file.seek(std::io::SeekFrom::Start(range.start))
            .map_err(io("reading", path))?;
        let mut md5s = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let part_end = (at + part_size).min(range.end);
            let mut part = Md5::new();
            while at < part_end {
                let want = ((part_end - at) as usize).min(buffer.len());
                file.read_exact(&mut buffer[..want]).map_err(io("reading", path))?;
                part.update(&buffer[..want]);
                at += want as u64;
            }
            md5s.push(hex::encode(part.finalize()));
        }
        done.insert(*index, md5s);
    }
    Ok(done)
}

async fn fetch_chunk(
    client: &Client,
    file_id: &str,
    url: &tokio::sync::RwLock<String>,
    range: std::ops::Range<u64>,
    part_size: u64,
    partial: &Path,
    options: &DownloadOptions,
) -> Result<Vec<String>, TransferError> {
    let mut attempt = 0u32;
    loop {
        let current = url.read().await.clone();
        let mut received = 0u64;
        let result: Result<Vec<String>, TransferError> = async {
            let response = client.get_range(&current, Some(range.clone())).await?;
            if response.status().as_u16() == 200 {
                return Err(TransferError::RangeIgnored {
                    path: partial.to_path_buf(),
                });
            }
            if response.status().as_u16() != 206 {
                return Err(ClientError::InvalidResponse {
                    url: current.split('?').next().unwrap_or("").to_string(),
                    message: format!(
                        "asked for bytes {}-{} but got HTTP {}",
                        range.start,
                        range.end - 1,
                        response.status()
                    ),
                }
                .into());
            }
            let mut out = tokio::fs::OpenOptions::new()
                .write(true)
                .open(partial)
                .await
                .map_err(io("writing", partial))?;
            out.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(io("writing", partial))?;
            let mut writer = tokio::io::BufWriter::with_capacity(MIB as usize, out);
            let mut md5s = Vec::new();
            let mut part = Md5::new();
            let mut in_part = 0u64;
            let mut body = response.bytes_stream();
            let expected = range.end - range.start;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|err| ClientError::network("the storage server", err))?;
                if received + chunk.len() as u64 > expected {
                    return Err(ClientError::InvalidResponse {
                        url: current.split('?').next().unwrap_or("").to_string(),
                        message: "the server sent more bytes than the range asked for".into(),
                    }
                    .into());
                }
                writer.write_all(&chunk).await.map_err(io("writing", partial))?;
                let mut data = &chunk[..];
                while !data.is_empty() {
                    let take = ((part_size - in_part) as usize).min(data.len());
                    part.update(&data[..take]);
                    in_part += take as u64;
                    data = &data[take..];
                    if in_part == part_size {
                        md5s.push(hex::encode(part.finalize_reset()));
                        in_part = 0;
                    }
                }
                received += chunk.len() as u64;
                options.progress.add(chunk.len() as u64);
                if let Some(limit) = &options.rate_limit {
                    limit.consume(chunk.len() as u64).await;
                }
            }
            if received != expected {
                return Err(ClientError::InvalidResponse {
                    url: current.split('?').next().unwrap_or("").to_string(),
                    message: format!("the range ended after {received} of {expected} bytes"),
                }
                .into());
            }
            if in_part > 0 {
                md5s.push(hex::encode(part.finalize_reset()));
            }
            writer.flush().await.map_err(io("writing", partial))?;
            Ok(md5s)
        }
        .await;
        match result {
            Ok(md5s) => return Ok(md5s),
            Err(TransferError::Client(err)) if attempt < options.retries => {
                options.progress.rewind(received);
                tracing::warn!(error = %err, "range {}-{} of file {file_id} failed; retrying", range.start, range.end);
                attempt += 1;
                tokio::time::sleep(client.backoff(attempt, None)).await;
                if matches!(err.status(), Some(401 | 403)) {
                    let fresh = client.content_url(file_id).await?.href_content;
                    *url.write().await = fresh;
                }
            }
            Err(err) => {
                options.progress.rewind(received);
                return Err(err);
            }
        }
    }
}

impl From<ClientError> for TransferError {
    fn from(err: ClientError) -> Self {
        TransferError::Client(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verify_path_checks_both_etag_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        let data: Vec<u8> = (0..(20 * MIB as usize)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut hasher = EtagHasher::new(ferry_api::BASESPACE_PART_SIZE);
        hasher.update(&data);
        let digests = hasher.finish();
        let size = Some(data.len() as u64);
        assert_eq!(
            verify_path(&path, size, Some(&digests.md5)).await.unwrap(),
            Check::Ok(Verification::Md5)
        );
        assert_eq!(
            verify_path(&path, size, Some(&digests.multipart)).await.unwrap(),
            Check::Ok(Verification::MultipartEtag)
        );
        assert!(matches!(
            verify_path(&path, Some(1), Some(&digests.md5)).await.unwrap(),
            Check::Size { .. }
        ));
        // A wrong plain MD5 is wrong; a multipart ETag no tried part size reproduces may have been
        // made with another one: unverifiable, never "wrong".
        let wrong_md5 = "0".repeat(32);
        assert!(matches!(
            verify_path(&path, size, Some(&wrong_md5)).await.unwrap(),
            Check::Checksum { .. }
        ));
        let wrong = format!("{}-3", "0".repeat(32));
        assert!(matches!(
            verify_path(&path, size, Some(&wrong)).await.unwrap(),
            Check::Unverifiable { .. }
        ));
    }
}
