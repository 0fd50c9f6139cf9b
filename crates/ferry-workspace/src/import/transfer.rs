//! Workers: planning imports and transferring files, verified in one pass.
//!
//! A file streams from BaseSpace into the blob store's resumable writer. The same bytes go, in
//! large chunks, to three threads: the ETag hasher (whole MD5 and 8 MiB part MD5s, computed
//! together over each block), SHA-256, and the FASTQ statistics (gzip decoding and parsing). Only
//! when the size, the ETag and the gzip structure check out is the file moved into place and
//! marked completed. After a restart, the
//! bytes already on disk are re-read through the same digesters (local and fast) and the
//! download continues with a `Range` request from their length.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferry_api::etag::{Etag, EtagDigests, EtagHasher, implied_part_sizes};
use ferry_client::Client;
use ferry_fastq::FastqStats;
use ferry_fastq::stats::{FastqError, GzFastqStats};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::plan::{self, PlanError};
use super::queue::{self, ClaimedFile, ClaimedImport, FileFate, Verified};
use super::{ImportError, Inner};

/// Bytes handed to the digesters and the writer at a time.
const CHUNK: usize = 1024 * 1024;
/// A download that sends nothing for this long is broken.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Workers

enum Work {
    Plan(ClaimedImport),
    File(ClaimedFile),
}

async fn claim_any(inner: &Inner) -> Result<Option<Work>, ImportError> {
    if let Some(import) = queue::claim_import(inner).await? {
        return Ok(Some(Work::Plan(import)));
    }
    Ok(queue::claim_file(inner).await?.map(Work::File))
}

async fn run_work(inner: &Inner, work: Work, shutdown: &CancellationToken) -> Result<(), ImportError> {
    match work {
        Work::Plan(import) => run_planning(inner, import, shutdown).await,
        Work::File(file) => run_file(inner, file, shutdown).await,
    }
}

pub(crate) async fn run_one(inner: &Inner, shutdown: &CancellationToken) -> Result<bool, ImportError> {
    match claim_any(inner).await? {
        Some(work) => {
            run_work(inner, work, shutdown).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Takes this process's worker name from the identity file, if configured and free, and frees
/// the claims a killed earlier run under that name left behind. The returned value holds the
/// file's lock.
async fn take_identity(inner: &Inner) -> Option<super::Identity> {
    let identity = super::claim_identity(inner.config.identity_file.as_deref()?)?;
    if inner.worker_id.set(identity.worker_id.clone()).is_err() && inner.worker_id() != identity.worker_id {
        // This service already made claims under another name; keep that one.
        return None;
    }
    match queue::reclaim_leases(inner, &identity.worker_id).await {
        Ok(0) => {}
        Ok(freed) => tracing::info!(freed, "taking back the work a stopped earlier run left unfinished"),
        Err(error) => tracing::warn!(%error, "cannot free the claims of an earlier run; they wait for their leases"),
    }
    Some(identity)
}

pub(crate) async fn run_workers(inner: Arc<Inner>, shutdown: CancellationToken) {
    let _identity = take_identity(&inner).await;
    // Dropping the JoinSet (the worker task aborted) aborts every transfer with it.
    let mut tasks: JoinSet<()> = JoinSet::new();
    let limit = inner.config.max_parallel_files.max(1);
    loop {
        while let Some(done) = tasks.try_join_next() {
            if let Err(error) = done
                && error.is_panic()
            {
                tracing::error!(%error, "an import task panicked");
            }
        }
        if shutdown.is_cancelled() {
            break;
        }
        if tasks.len() >= limit {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = shutdown.cancelled() => {}
            }
            continue;
        }
        match claim_any(&inner).await {
            Ok(Some(work)) => {
                let inner = inner.clone();
                let token = shutdown.clone();
                tasks.spawn(async move {
                    if let Err(error) = run_work(&inner, work, &token).await {
                        tracing::error!(%error, "import work item failed");
                    }
                });
            }
            Ok(None) => {
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(inner.config.poll_interval) => {}
                    _ = shutdown.cancelled() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot claim import work; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(inner.config.poll_interval.max(Duration::from_secs(1))) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

fn backoff(inner: &Inner, attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let delay = inner
        .config
        .retry_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_BACKOFF);
    i64::try_from(delay.as_millis()).unwrap_or(300_000)
}

// ---------------------------------------------------------------------------------------------
// Planning

async fn run_planning(inner: &Inner, import: ClaimedImport, shutdown: &CancellationToken) -> Result<(), ImportError> {
    let client = match inner.clients.client_for(&import.user_id).await {
        Ok(client) => client,
        Err(reason) => return queue::fail_import(inner, &import, &reason).await,
    };
    let lease = plan::Lease {
        inner,
        import: &import,
        shutdown,
    };
    match plan::plan(&client, &import.request, &lease).await {
        Ok(plan) => {
            let samples = plan.samples.len();
            match queue::commit_plan(inner, &import, plan).await {
                Ok(true) => tracing::info!(import = %import.id, samples, "import planned"),
                Ok(false) => {}
                Err(error) => {
                    // For example two imports of the same files planned at once: the loser
                    // plans again and then finds the winner's rows.
                    let reason = format!("storing the plan failed: {error}");
                    if import.attempts >= i64::from(inner.config.max_attempts) {
                        queue::fail_import(inner, &import, &reason).await?;
                    } else {
                        tracing::warn!(import = %import.id, %reason, "planning will be retried");
                        queue::retry_import(inner, &import, &reason, backoff(inner, import.attempts)).await?;
                    }
                }
            }
            Ok(())
        }
        Err(PlanError::Stopped) => {
            if shutdown.is_cancelled() {
                queue::release_import(inner, &import).await?;
            }
            Ok(())
        }
        Err(PlanError::Permanent(reason)) => queue::fail_import(inner, &import, &reason).await,
        Err(PlanError::TokenRejected(reason)) => {
            inner.clients.token_rejected(&import.user_id).await;
            queue::fail_import(inner, &import, &reason).await
        }
        Err(PlanError::Transient(reason)) => {
            if import.attempts >= i64::from(inner.config.max_attempts) {
                let reason = format!("gave up after {} attempts: {reason}", import.attempts);
                queue::fail_import(inner, &import, &reason).await
            } else {
                let delay = backoff(inner, import.attempts);
                tracing::warn!(import = %import.id, %reason, delay_ms = delay, "planning will be retried");
                queue::retry_import(inner, &import, &format!("retrying: {reason}"), delay).await
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files

/// How a transfer ended without a verified file.
enum Failure {
    /// Try again later; the bytes on disk are kept for resuming.
    Transient { reason: String, on_disk: u64 },
    /// Will not get better: the partial bytes were discarded.
    Permanent(String),
    /// BaseSpace rejected the linked token: fails like `Permanent`, and the link is marked so
    /// the pages tell the user to set a new token.
    TokenRejected(String),
    /// The worker must stop: shutdown, or the file is no longer ours.
    Stopped(Stop),
    /// An earlier claim of this file in this process still holds its bytes open (its lease ran
    /// out while it was slow); it notices at its next heartbeat, so try again after a lease.
    Busy,
}

enum Stop {
    Shutdown { on_disk: u64 },
    Fate(FileFate),
}

impl From<ferry_store::StoreError> for Failure {
    fn from(error: ferry_store::StoreError) -> Self {
        if let ferry_store::StoreError::Busy { .. } = error {
            return Failure::Busy;
        }
        Failure::Transient {
            reason: format!("storage: {error}"),
            on_disk: 0,
        }
    }
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

async fn run_file(inner: &Inner, file: ClaimedFile, shutdown: &CancellationToken) -> Result<(), ImportError> {
    if file.attempts > i64::from(inner.config.max_attempts) {
        let reason = format!(
            "gave up after {} attempts (the last one was interrupted)",
            inner.config.max_attempts
        );
        discard_blob_logged(inner, &file.blob_key).await;
        return queue::fail_file(inner, &file, &reason, 0).await;
    }
    let client = match inner.clients.client_for(&file.user_id).await {
        Ok(client) if same_server(client.api_server(), &file.api_server) => client,
        Ok(client) => {
            let reason = format!(
                "this file is on {}, but the linked BaseSpace account is now on {}; link the account on {} \
                 again and import once more",
                file.api_server,
                client.api_server(),
                file.api_server
            );
            return queue::fail_file(inner, &file, &reason, 0).await;
        }
        Err(reason) => return queue::fail_file(inner, &file, &reason, 0).await,
    };
    let started = Instant::now();
    match transfer(inner, &client, &file, shutdown).await {
        Ok(verified) => {
            if queue::complete_file(inner, &file, &verified).await? {
                tracing::info!(
                    file = %file.name,
                    bytes = file.size,
                    seconds = started.elapsed().as_secs_f64(),
                    reads = verified.stats.reads,
                    "file imported and verified"
                );
            } else {
                match queue::file_fate(inner, &file.id).await? {
                    // Cancelled or deleted while it was being finished: its bytes go.
                    FileFate::Gone => discard_blob_logged(inner, &file.blob_key).await,
                    // Another worker holds it now and will finish it itself.
                    FileFate::TakenOver => {
                        tracing::warn!(file = %file.name, "another worker took this file over (lease expired)");
                    }
                }
            }
            Ok(())
        }
        Err(Failure::Permanent(reason)) => queue::fail_file(inner, &file, &reason, 0).await,
        Err(Failure::TokenRejected(reason)) => {
            inner.clients.token_rejected(&file.user_id).await;
            queue::fail_file(inner, &file, &reason, 0).await
        }
        Err(Failure::Transient { reason, on_disk }) => {
            if file.attempts >= i64::from(inner.config.max_attempts) {
                let reason = format!("gave up after {} attempts: {reason}", file.attempts);
                queue::fail_file(inner, &file, &reason, on_disk).await
            } else {
                let delay = backoff(inner, file.attempts);
                tracing::warn!(file = %file.name, %reason, delay_ms = delay, "transfer will be retried");
                queue::requeue_file(inner, &file, Some(&format!("retrying: {reason}")), on_disk, delay, true).await
            }
        }
        Err(Failure::Busy) => {
            tracing::warn!(file = %file.name, "an earlier claim of this file is still winding down; retrying later");
            queue::requeue_file(inner, &file, None, 0, queue::lease_millis(inner), false).await
        }
        Err(Failure::Stopped(Stop::Shutdown { on_disk })) => {
            queue::requeue_file(inner, &file, None, on_disk, 0, false).await
        }
        Err(Failure::Stopped(Stop::Fate(FileFate::Gone))) => {
            discard_blob_logged(inner, &file.blob_key).await;
            Ok(())
        }
        Err(Failure::Stopped(Stop::Fate(FileFate::TakenOver))) => {
            tracing::warn!(file = %file.name, "another worker took this file over (lease expired)");
            Ok(())
        }
    }
}

/// The digesters: three threads fed the same chunks.
struct Digesters {
    etag: mpsc::Sender<Bytes>,
    sha: mpsc::Sender<Bytes>,
    stats: mpsc::Sender<Bytes>,
    etag_done: tokio::task::JoinHandle<EtagDigests>,
    sha_done: tokio::task::JoinHandle<String>,
    stats_done: tokio::task::JoinHandle<Result<FastqStats, FastqError>>,
    fed: u64,
}

impl Digesters {
    fn start() -> Digesters {
        let (etag, mut etag_rx) = mpsc::channel::<Bytes>(8);
        let (sha, mut sha_rx) = mpsc::channel::<Bytes>(8);
        let (stats, mut stats_rx) = mpsc::channel::<Bytes>(8);
        let etag_done = tokio::task::spawn_blocking(move || {
            let mut hasher = EtagHasher::new(ferry_api::BASESPACE_PART_SIZE);
            while let Some(chunk) = etag_rx.blocking_recv() {
                hasher.update(&chunk);
            }
            hasher.finish()
        });
        let sha_done = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            while let Some(chunk) = sha_rx.blocking_recv() {
                hasher.update(&chunk);
            }
            hex::encode(hasher.finalize())
        });
        let stats_done = tokio::task::spawn_blocking(move || {
            let mut stats = GzFastqStats::new();
            while let Some(chunk) = stats_rx.blocking_recv() {
                // The first error ends parsing; dropping the receiver tells the feeder.
                stats.update(&chunk)?;
            }
            stats.finish()
        });
        Digesters {
            etag,
            sha,
            stats,
            etag_done,
            sha_done,
            stats_done,
            fed: 0,
        }
    }

    async fn feed(&mut self, chunk: Bytes) {
        self.fed += chunk.len() as u64;
        // A closed channel means that digester ended early (stats on bad data); finish() says why.
        let _ = self.etag.send(chunk.clone()).await;
        let _ = self.sha.send(chunk.clone()).await;
        let _ = self.stats.send(chunk).await;
    }

    async fn finish(self) -> Result<(EtagDigests, String, Result<FastqStats, FastqError>), String> {
        drop(self.etag);
        drop(self.sha);
        drop(self.stats);
        let etag = self
            .etag_done
            .await
            .map_err(|e| format!("checksum thread failed: {e}"))?;
        let sha = self
            .sha_done
            .await
            .map_err(|e| format!("checksum thread failed: {e}"))?;
        let stats = self
            .stats_done
            .await
            .map_err(|e| format!("statistics thread failed: {e}"))?;
        Ok((etag, sha, stats))
    }
}

/// Tracks time between progress writes.
struct Beat {
    last: Instant,
    interval: Duration,
}

impl Beat {
    async fn maybe(&mut self, inner: &Inner, file: &ClaimedFile, bytes: u64, force: bool) -> Result<(), Failure> {
        if !force && self.last.elapsed() < self.interval {
            return Ok(());
        }
        self.last = Instant::now();
        match queue::heartbeat_file(inner, file, bytes).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(fate)) => Err(Failure::Stopped(Stop::Fate(fate))),
            Err(error) => {
                // The lease is still ours for a while; the next beat tries again.
                tracing::warn!(%error, file = %file.name, "cannot record progress");
                Ok(())
            }
        }
    }
}

async fn transfer(
    inner: &Inner,
    client: &Client,
    file: &ClaimedFile,
    shutdown: &CancellationToken,
) -> Result<Verified, Failure> {
    let mut writer = inner.store.resumable(&file.blob_key).await?;
    let mut beat = Beat {
        last: Instant::now(),
        interval: inner.config.progress_interval,
    };
    if writer.offset() > file.size {
        writer.truncate_to(0).await?;
    }
    let mut digesters = Digesters::start();
    let mut written = writer.offset();
    let mut resumed_from = 0;
    if written > 0 {
        // Resume: what is on disk goes through the digesters first.
        let on_disk = feed_partial(inner, file, written, &mut digesters, &mut beat).await?;
        if on_disk != written {
            writer.truncate_to(0).await?;
            digesters = Digesters::start();
            written = 0;
        } else {
            tracing::info!(file = %file.name, resumed_from = written, "resuming a partial file");
            resumed_from = written;
        }
    }
    beat.maybe(inner, file, written, true).await?;

    if written < file.size {
        let meta = client
            .content_url(&file.bs_file_id)
            .await
            .map_err(|e| client_failure(e, written))?;
        let response = client
            .get_range(&meta.href_content, Some(written..file.size))
            .await
            .map_err(|e| client_failure(e, written))?;
        if written > 0 && response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
            // The server ignored the range: start over from byte 0 with this answer.
            writer.truncate_to(0).await?;
            digesters = Digesters::start();
            written = 0;
            resumed_from = 0;
        }
        let mut stream = std::pin::pin!(response.bytes_stream());
        let mut buffer = BytesMut::with_capacity(CHUNK);
        loop {
            if shutdown.is_cancelled() {
                flush(&mut writer, &mut digesters, &mut buffer, &mut written).await?;
                writer.sync().await?;
                return Err(Failure::Stopped(Stop::Shutdown { on_disk: written }));
            }
            let next = match tokio::time::timeout(STALL_TIMEOUT, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    flush(&mut writer, &mut digesters, &mut buffer, &mut written).await?;
                    writer.sync().await?;
                    return Err(Failure::Transient {
                        reason: format!("no data from BaseSpace for {} s", STALL_TIMEOUT.as_secs()),
                        on_disk: written,
                    });
                }
            };
            match next {
                None => break,
                Some(Ok(chunk)) => {
                    if written + (buffer.len() + chunk.len()) as u64 > file.size {
                        discard_partial(writer).await;
                        return Err(Failure::Permanent(format!(
                            "BaseSpace sent more bytes than the file's size ({} bytes); the partial \
                             file was discarded — import again to retry",
                            file.size
                        )));
                    }
                    buffer.extend_from_slice(&chunk);
                    if buffer.len() >= CHUNK {
                        flush(&mut writer, &mut digesters, &mut buffer, &mut written).await?;
                    }
                    beat.maybe(inner, file, written, false).await?;
                }
                Some(Err(error)) => {
                    flush(&mut writer, &mut digesters, &mut buffer, &mut written).await?;
                    writer.sync().await?;
                    return Err(Failure::Transient {
                        reason: format!("download broke off after {written} of {} bytes: {error}", file.size),
                        on_disk: written,
                    });
                }
            }
        }
        flush(&mut writer, &mut digesters, &mut buffer, &mut written).await?;
        writer.sync().await?;
        if written < file.size {
            return Err(Failure::Transient {
                reason: format!("the download ended after {written} of {} bytes", file.size),
                on_disk: written,
            });
        }
    }
    beat.maybe(inner, file, written, true).await?;

    let (digests, sha256, stats) = match digesters.finish().await {
        Ok(done) => done,
        Err(reason) => {
            return Err(Failure::Transient {
                reason,
                on_disk: written,
            });
        }
    };
    if digests.size != file.size {
        discard_partial(writer).await;
        return Err(Failure::Permanent(format!(
            "size mismatch: BaseSpace says {} bytes, {} arrived; the partial file was discarded — import \
             again to retry",
            file.size, digests.size
        )));
    }
    match Etag::parse(&file.bs_etag) {
        Some(etag) => {
            if !digests.matches(&etag) && !matches_other_part_sizes(inner, file, &etag, &mut beat).await? {
                discard_partial(writer).await;
                let computed = match etag {
                    Etag::Md5(_) => digests.md5.clone(),
                    Etag::Multipart { .. } => digests.multipart.clone(),
                };
                if resumed_from > 0 {
                    // The bytes kept from an interrupted attempt may be what is damaged: start over.
                    return Err(Failure::Transient {
                        reason: format!(
                            "checksum mismatch after resuming at byte {resumed_from} (ETag {etag}, got {computed}); \
                             the partial file was discarded and the download starts over"
                        ),
                        on_disk: 0,
                    });
                }
                return Err(Failure::Permanent(format!(
                    "checksum mismatch: BaseSpace's ETag is {etag}, the downloaded bytes give {computed}; the \
                     partial file was discarded — import again to retry"
                )));
            }
        }
        None => {
            tracing::warn!(file = %file.name, etag = %file.bs_etag, "ETag is not an S3 ETag: checked by size only");
        }
    }
    let stats = match stats {
        Ok(stats) => stats,
        Err(error) => {
            discard_partial(writer).await;
            return Err(Failure::Permanent(format!(
                "not a valid gzip-compressed FASTQ file: {error} (the bytes match BaseSpace's checksum, so the \
                 file is damaged in BaseSpace itself)"
            )));
        }
    };
    writer.finish().await?;
    Ok(Verified {
        md5: digests.md5,
        sha256,
        stats,
    })
}

async fn flush(
    writer: &mut ferry_store::ResumableWrite,
    digesters: &mut Digesters,
    buffer: &mut BytesMut,
    written: &mut u64,
) -> Result<(), Failure> {
    if buffer.is_empty() {
        return Ok(());
    }
    let chunk = buffer.split().freeze();
    writer.append(&chunk).await?;
    *written += chunk.len() as u64;
    digesters.feed(chunk).await;
    Ok(())
}

fn client_failure(error: ferry_client::ClientError, on_disk: u64) -> Failure {
    let reason = plan::describe(&error);
    if error.is_unauthorized() {
        Failure::TokenRejected(reason)
    } else if plan::is_transient(&error) {
        Failure::Transient { reason, on_disk }
    } else {
        Failure::Permanent(reason)
    }
}

/// Checks a multipart ETag made with another part size than BaseSpace's 8 MiB, re-reading the
/// bytes on disk once per plausible part size.
async fn matches_other_part_sizes(
    inner: &Inner,
    file: &ClaimedFile,
    etag: &Etag,
    beat: &mut Beat,
) -> Result<bool, Failure> {
    let Etag::Multipart { parts, .. } = etag else {
        return Ok(false);
    };
    for part_size in implied_part_sizes(file.size, *parts) {
        if part_size == ferry_api::BASESPACE_PART_SIZE {
            continue;
        }
        let mut hasher = EtagHasher::new(part_size);
        let mut reader = open_partial(inner, &file.blob_key).await?;
        let mut read = 0u64;
        while let Some(chunk) = reader.next().await {
            let chunk = chunk.map_err(|e| Failure::Transient {
                reason: format!("re-reading the downloaded bytes: {e}"),
                on_disk: 0,
            })?;
            read += chunk.len() as u64;
            hasher.update(&chunk);
            beat.maybe(inner, file, file.size, false).await?;
        }
        if read == file.size && hasher.finish().matches(etag) {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------------------
// Blob store access

type ByteStream = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// The bytes of a partial (not yet finished) blob.
async fn open_partial(inner: &Inner, key: &str) -> Result<ByteStream, Failure> {
    let reader = inner.store.open_partial(key).await?;
    Ok(reader.stream)
}

/// Feeds the first `expected` bytes of a partial blob to the digesters; returns how many there were.
async fn feed_partial(
    inner: &Inner,
    file: &ClaimedFile,
    expected: u64,
    digesters: &mut Digesters,
    beat: &mut Beat,
) -> Result<u64, Failure> {
    let mut stream = open_partial(inner, &file.blob_key).await?;
    let mut buffer = BytesMut::with_capacity(CHUNK);
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failure::Transient {
            reason: format!("reading the partial file: {e}"),
            on_disk: 0,
        })?;
        let take = chunk.len().min((expected - read) as usize - buffer.len());
        buffer.extend_from_slice(&chunk[..take]);
        if buffer.len() >= CHUNK {
            let full = buffer.split().freeze();
            read += full.len() as u64;
            digesters.feed(full).await;
            // Re-reading is local but not free: keep the lease (progress shows what is on disk).
            beat.maybe(inner, file, read, false).await?;
        }
        if read + buffer.len() as u64 >= expected {
            break;
        }
    }
    if !buffer.is_empty() {
        let rest = buffer.split().freeze();
        read += rest.len() as u64;
        digesters.feed(rest).await;
    }
    Ok(read)
}

async fn discard_partial(writer: ferry_store::ResumableWrite) {
    if let Err(error) = writer.discard().await {
        tracing::warn!(%error, "cannot discard a partial file");
    }
}

/// Removes a blob and any partial bytes of it.
pub(crate) async fn discard_blob(inner: &Inner, key: &str) -> Result<(), ImportError> {
    inner
        .store
        .delete(key)
        .await
        .map_err(|e| ImportError::Storage(e.to_string()))?;
    inner
        .store
        .delete_partial(key)
        .await
        .map_err(|e| ImportError::Storage(e.to_string()))
}

async fn discard_blob_logged(inner: &Inner, key: &str) {
    if let Err(error) = discard_blob(inner, key).await {
        tracing::warn!(%key, %error, "cannot remove stored bytes");
    }
}
