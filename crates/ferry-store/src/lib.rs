//! Blob storage behind one interface.
//!
//! [`BlobStore`] dispatches to a backend: [`LocalStore`], a directory on local disk, or
//! [`S3Store`], a bucket of an S3-compatible object store (see the `s3` module for its layout).
//! Everything streams: nothing holds a whole file in memory. Local writes go to a temporary file
//! next to their destination, are fsynced and renamed into place; S3 writes are published by the
//! store only when complete. Either way a reader never sees a partial object under its final
//! key, and a failed or cancelled write leaves nothing behind.
//!
//! Keys are relative paths such as `files/12/3456789`. Absolute keys, `.`/`..` and empty
//! segments, backslashes and NUL are rejected ([`validate_key`]).
//!
//! A local store is private to the user running Ferry: folders `0700`, files `0600`; an existing
//! wider one is tightened when opened ([`private_fs`]).

mod local;
pub mod private_fs;
mod s3;

use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;

pub use local::LocalStore;
pub use s3::{S3Options, S3Store};

/// Longest key accepted, in bytes.
pub const MAX_KEY_LENGTH: usize = 1024;

/// Highest multipart part number (as in S3).
pub const MAX_PART_NUMBER: u32 = 10_000;

/// Why a storage operation failed. Messages name the key (or upload) and the cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key (or upload id) is not an acceptable relative path.
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The store URL cannot be used.
    #[error("cannot use storage {url:?}: {reason}")]
    UnsupportedUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No object under this key.
    #[error("no stored object {key:?}")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The written size differs from the announced one; nothing was kept.
    #[error("{key:?}: expected {expected} bytes but the stream {actual_text}; nothing was stored", actual_text = describe_actual(*.actual, *.expected))]
    SizeMismatch {
        /// The key.
        key: String,
        /// Announced size.
        expected: u64,
        /// Bytes received (may stop counting just past `expected`).
        actual: u64,
    },
    /// The written content's MD5 differs from the announced one; nothing was kept.
    #[error("{key:?}: content MD5 {actual} does not match the expected {expected}; nothing was stored")]
    ChecksumMismatch {
        /// The key.
        key: String,
        /// Expected MD5 (hex).
        expected: String,
        /// Computed MD5 (hex).
        actual: String,
    },
    /// The requested byte range does not fit the object.
    #[error("{key:?}: byte range {start}..{end} is outside the object's {size} bytes")]
    RangeNotSatisfiable {
        /// The key.
        key: String,
        /// Requested start.
        start: u64,
        /// Requested end (exclusive).
        end: u64,
        /// Object size.
        size: u64,
    },
    /// The incoming byte stream failed; nothing was kept.
    #[error("{key:?}: the incoming data failed after {received} bytes: {source}; nothing was stored")]
    Source {
        /// The key.
        key: String,
        /// Bytes received before the failure.
        received: u64,
        /// The stream's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A multipart part exceeds the allowed size; it was not kept.
    #[error("upload {upload_id:?} part {part}: larger than the {max} bytes allowed; the part was not stored")]
    PartTooLarge {
        /// Upload id.
        upload_id: String,
        /// Part number.
        part: u32,
        /// Maximum part size.
        max: u64,
    },
    /// A part number outside 1..=10000.
    #[error("upload {upload_id:?}: part number {part} is outside 1..={MAX_PART_NUMBER}")]
    InvalidPartNumber {
        /// Upload id.
        upload_id: String,
        /// Part number.
        part: u32,
    },
    /// Completing a multipart upload named a part that was never stored.
    #[error("upload {upload_id:?}: part {part} was never uploaded (or the upload was aborted)")]
    MissingPart {
        /// Upload id.
        upload_id: String,
        /// Part number.
        part: u32,
    },
    /// Completing a multipart upload named a part with an ETag that does not match its content.
    #[error(
        "upload {upload_id:?} part {part}: ETag {given:?} does not match the stored part ({stored}); upload it again"
    )]
    PartEtagMismatch {
        /// Upload id.
        upload_id: String,
        /// Part number.
        part: u32,
        /// ETag given by the client.
        given: String,
        /// MD5 of the stored part.
        stored: String,
    },
    /// The part list of a completion is empty or not strictly ascending.
    #[error("upload {upload_id:?}: {reason}")]
    InvalidPartList {
        /// Upload id.
        upload_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A resumable write for this key is already open in this process.
    #[error("{key:?}: another resumable write to this key is in progress")]
    Busy {
        /// The key.
        key: String,
    },
    /// The object store (S3) refused or failed a request.
    #[error("{key:?}: cannot {action} in {location}: {source}")]
    Remote {
        /// The key (or upload id).
        key: String,
        /// What was being done.
        action: &'static str,
        /// The store, as `s3://bucket/prefix` (and its endpoint).
        location: String,
        /// The store's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The local file system failed.
    #[error("{key:?}: cannot {action}: {source}")]
    Io {
        /// The key (or upload id, or store root).
        key: String,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

fn describe_actual(actual: u64, expected: u64) -> String {
    if actual > expected {
        "went on past that".to_string()
    } else {
        format!("ended after {actual}")
    }
}

impl StoreError {
    /// True when the object (or part) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. } | StoreError::MissingPart { .. })
    }
}

/// Result alias for storage operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a completed [`BlobStore::put_stream`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Bytes stored.
    pub size: u64,
    /// MD5 of the content, lowercase hex (the S3 single-part ETag).
    pub md5_hex: String,
    /// SHA-256 of the content, lowercase hex.
    pub sha256_hex: String,
}

/// What a stored multipart part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartOutcome {
    /// Part number.
    pub part_number: u32,
    /// Bytes.
    pub size: u64,
    /// MD5 of the part, lowercase hex (its ETag).
    pub md5_hex: String,
}

/// What [`BlobStore::complete_multipart`] assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteOutcome {
    /// Bytes of the assembled object.
    pub size: u64,
    /// S3 multipart ETag: MD5 of the part MD5s, `-N`.
    pub etag: String,
    /// MD5 of the whole content, lowercase hex.
    pub md5_hex: String,
    /// SHA-256 of the whole content, lowercase hex.
    pub sha256_hex: String,
}

/// Optional checks for a write; a write that fails them leaves nothing stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Exact size in bytes.
    pub size: Option<u64>,
    /// MD5 (hex, any case, quotes allowed, as in an ETag or Content-MD5 converted to hex).
    pub md5_hex: Option<String>,
}

/// A stream of an object's bytes.
pub struct BlobReader {
    /// Total size of the object (not of the range).
    pub size: u64,
    /// The byte range the stream yields (the whole object when no range was asked for).
    pub range: Range<u64>,
    /// The bytes, in chunks of up to 256 KiB.
    pub stream: BoxStream<'static, std::io::Result<Bytes>>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A blob store: one of the backends.
#[derive(Debug, Clone)]
pub enum BlobStore {
    /// A directory on local disk.
    Local(LocalStore),
    /// A bucket (and prefix) of an S3-compatible object store.
    S3(S3Store),
}

impl BlobStore {
    /// A local store rooted at `root` (created if missing).
    pub fn local(root: impl AsRef<Path>) -> Result<BlobStore> {
        Ok(BlobStore::Local(LocalStore::new(root.as_ref())?))
    }

    /// A store in an S3-compatible `bucket`, keys below `prefix` (may be empty).
    pub fn s3(bucket: &str, prefix: &str, options: &S3Options) -> Result<BlobStore> {
        Ok(BlobStore::S3(S3Store::new(bucket, prefix, options)?))
    }

    /// Opens a store from a URL: `file:///abs/path`, a plain path, or `s3://bucket[/prefix]`
    /// configured from the standard AWS environment variables ([`S3Options::from_env`]).
    /// Other schemes are refused with an explanation.
    pub fn from_url(url: &str) -> Result<BlobStore> {
        BlobStore::from_url_with(url, &S3Options::from_env())
    }

    /// Like [`BlobStore::from_url`], with the endpoint, region, credentials etc. of an `s3://`
    /// location taken from `s3` (e.g. [`S3Options::from_env`] overridden by command-line flags).
    pub fn from_url_with(url: &str, s3: &S3Options) -> Result<BlobStore> {
        let unsupported = |reason: &str| StoreError::UnsupportedUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = url.strip_prefix("file://") {
            // file:///abs/path (empty host) or file://localhost/abs/path.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(unsupported("file URLs must name an absolute path: file:///path/to/dir"));
            }
            let decoded =
                percent_decode(path).ok_or_else(|| unsupported("the path is not valid percent-encoded UTF-8"))?;
            return BlobStore::local(decoded);
        }
        if url.starts_with("s3://") {
            let (bucket, prefix) = s3::parse_s3_url(url).map_err(|reason| unsupported(&reason))?;
            return BlobStore::s3(&bucket, &prefix, s3);
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(unsupported(&format!(
                "unknown storage scheme {scheme:?}; use a local directory (file:///path or /path) or s3://bucket/prefix"
            )));
        }
        if url.is_empty() {
            return Err(unsupported("empty storage location"));
        }
        BlobStore::local(url)
    }

    /// Where the store keeps its bytes, for logs and messages: the directory of a local store,
    /// `s3://bucket/prefix` (with its endpoint) for S3. Never includes credentials.
    pub fn location(&self) -> String {
        match self {
            BlobStore::Local(store) => store.root().display().to_string(),
            BlobStore::S3(store) => store.url(),
        }
    }

    /// The root directory of a local store.
    pub fn root(&self) -> Option<&Path> {
        match self {
            BlobStore::Local(store) => Some(store.root()),
            BlobStore::S3(_) => None,
        }
    }

    /// A URL that lets its holder `GET` the object directly from the store for `expires_in`
    /// (S3 presigned URL, honouring `Range`), served as an attachment named `download_name` when
    /// given; `None` for a local store, whose bytes must be served by the process.
    pub async fn presigned_get_url(
        &self,
        key: &str,
        expires_in: std::time::Duration,
        download_name: Option<&str>,
    ) -> Result<Option<url::Url>> {
        match self {
            BlobStore::Local(store) => store.object_path(key).map(|_| None),
            BlobStore::S3(store) => store.presigned_get_url(key, expires_in, download_name).await.map(Some),
        }
    }

    /// Stores a stream under `key`, replacing any object there, only if it is complete and
    /// `expected_size` (when given) matches.
    pub async fn put_stream<S, E>(&self, key: &str, stream: S, expected_size: Option<u64>) -> Result<PutOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let expect = Expect {
            size: expected_size,
            md5_hex: None,
        };
        self.put_stream_checked(key, stream, &expect).await
    }

    /// Like [`BlobStore::put_stream`] with a size and/or MD5 to verify before the object appears.
    pub async fn put_stream_checked<S, E>(&self, key: &str, stream: S, expect: &Expect) -> Result<PutOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match self {
            BlobStore::Local(store) => store.put_stream(key, stream, expect).await,
            BlobStore::S3(store) => store.put_stream(key, stream, expect).await,
        }
    }

    /// Reads an object, or the byte range `range` of it (end exclusive, clamped to the size).
    pub async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader> {
        match self {
            BlobStore::Local(store) => store.open(key, range).await,
            BlobStore::S3(store) => store.open(key, range).await,
        }
    }

    /// The size of the object, `None` when absent.
    pub async fn stat(&self, key: &str) -> Result<Option<u64>> {
        match self {
            BlobStore::Local(store) => store.stat(key).await,
            BlobStore::S3(store) => store.stat(key).await,
        }
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.stat(key).await?.is_some())
    }

    /// Removes an object (no error when absent).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self {
            BlobStore::Local(store) => store.delete(key).await,
            BlobStore::S3(store) => store.delete(key).await,
        }
    }

    /// Stores part `part_number` (1..=10000) of multipart upload `upload_id`, replacing an
    /// earlier upload of that part. A part larger than `max_part_size` is refused and not kept.
    pub async fn put_part<S, E>(
        &self,
        upload_id: &str,
        part_number: u32,
        stream: S,
        max_part_size: u64,
    ) -> Result<PartOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(StoreError::InvalidPartNumber {
                upload_id: upload_id.to_string(),
                part: part_number,
            });
        }
        match self {
            BlobStore::Local(store) => store.put_part(upload_id, part_number, stream, max_part_size).await,
            BlobStore::S3(store) => store.put_part(upload_id, part_number, stream, max_part_size).await,
        }
    }

    /// The parts stored for an upload, by part number: `(part, size, md5_hex)`.
    pub async fn list_parts(&self, upload_id: &str) -> Result<Vec<(u32, u64, String)>> {
        match self {
            BlobStore::Local(store) => store.list_parts(upload_id).await,
            BlobStore::S3(store) => store.list_parts(upload_id).await,
        }
    }

    /// Assembles the listed parts (strictly ascending part numbers, each with the ETag the
    /// client got for it) into `key`, then removes the upload's staging area. Parts not listed
    /// are discarded, as in S3.
    pub async fn complete_multipart(
        &self,
        upload_id: &str,
        key: &str,
        parts: &[(u32, String)],
    ) -> Result<CompleteOutcome> {
        check_part_list(upload_id, parts)?;
        match self {
            BlobStore::Local(store) => store.complete_multipart(upload_id, key, parts).await,
            BlobStore::S3(store) => store.complete_multipart(upload_id, key, parts).await,
        }
    }

    /// Discards an upload's parts (no error when there are none).
    pub async fn abort_multipart(&self, upload_id: &str) -> Result<()> {
        match self {
            BlobStore::Local(store) => store.abort_multipart(upload_id).await,
            BlobStore::S3(store) => store.abort_multipart(upload_id).await,
        }
    }

    /// Opens (creating) the resumable write of `key`: bytes go to a partial file that survives
    /// restarts and only appears under `key` on [`ResumableWrite::finish`]. For S3 the partial
    /// file is in the local staging directory ([`S3Options::staging_dir`]) and is uploaded on
    /// finish.
    pub async fn resumable(&self, key: &str) -> Result<ResumableWrite> {
        match self {
            BlobStore::Local(store) => Ok(ResumableWrite {
                partial: store.resumable(key).await?,
                upload_to: None,
            }),
            BlobStore::S3(store) => {
                store.check_key(key)?;
                let staging = store.staging()?;
                Ok(ResumableWrite {
                    partial: staging.resumable(key).await?,
                    upload_to: Some((store.clone(), staging)),
                })
            }
        }
    }

    /// Reads the partial bytes of an unfinished resumable write of `key`.
    pub async fn open_partial(&self, key: &str) -> Result<BlobReader> {
        match self {
            BlobStore::Local(store) => store.open_partial(key).await,
            BlobStore::S3(store) => {
                store.check_key(key)?;
                store.staging()?.open_partial(key).await
            }
        }
    }

    /// Removes the partial bytes of an unfinished resumable write (no error when absent).
    pub async fn delete_partial(&self, key: &str) -> Result<()> {
        match self {
            BlobStore::Local(store) => store.delete_partial(key).await,
            BlobStore::S3(store) => {
                store.check_key(key)?;
                store.staging()?.delete_partial(key).await
            }
        }
    }
    /// Removes temporary files of writes that were killed and not touched for `older_than`
    /// (call at startup, e.g. with a day). Returns how many were removed.
    pub async fn remove_stale_temporaries(&self, older_than: std::time::Duration) -> Result<u64> {
        match self {
            BlobStore::Local(store) => store.remove_stale_temporaries(older_than).await,
            BlobStore::S3(store) => store.remove_stale_temporaries(older_than).await,
        }
    }
}

/// An append-only write that survives restarts: bytes go to a partial file, and only
/// [`ResumableWrite::finish`] makes them the object `key` (for S3, by uploading the partial file
/// from the local staging directory). Reopening the same key continues from
/// [`ResumableWrite::offset`]. One writer per key at a time in a process. After an error, drop
/// the writer and open a new one (its offset is re-read from disk).
#[derive(Debug)]
pub struct ResumableWrite {
    partial: local::ResumableWrite,
    /// For S3: where `finish` uploads the bytes, and the staging store holding them.
    upload_to: Option<(S3Store, LocalStore)>,
}

impl ResumableWrite {
    /// The key being written.
    pub fn key(&self) -> &str {
        self.partial.key()
    }

    /// Bytes written so far (including those from earlier sessions).
    pub fn offset(&self) -> u64 {
        self.partial.offset()
    }

    /// Appends bytes at the end.
    pub async fn append(&mut self, data: &[u8]) -> Result<()> {
        self.partial.append(data).await
    }

    /// Makes the bytes written so far durable (they survive a crash or power loss).
    pub async fn sync(&mut self) -> Result<()> {
        self.partial.sync().await
    }

    /// Cuts the partial file back to `length` bytes (at most [`ResumableWrite::offset`]), e.g.
    /// to 0 to start over.
    pub async fn truncate_to(&mut self, length: u64) -> Result<()> {
        self.partial.truncate_to(length).await
    }

    /// Makes the bytes durable and publishes them as the object `key` (replacing any object
    /// there). Returns the size. For S3 the partial file is streamed up and removed once the
    /// object is stored; if the upload fails, the partial file stays for another attempt.
    pub async fn finish(mut self) -> Result<u64> {
        let Some((store, staging)) = self.upload_to.take() else {
            return self.partial.finish().await;
        };
        self.partial.sync().await?;
        let size = self.partial.offset();
        let key = self.partial.key().to_string();
        let reader = staging.open_partial(&key).await?;
        let expect = Expect {
            size: Some(size),
            md5_hex: None,
        };
        store.put_stream(&key, reader.stream, &expect).await?;
        self.partial.discard().await?;
        Ok(size)
    }

    /// Removes the partial file.
    pub async fn discard(self) -> Result<()> {
        self.partial.discard().await
    }
}

/// Checks that `key` is a safe relative path: not empty, not absolute, no empty, `.` or `..`
/// segments, no backslash or NUL, at most [`MAX_KEY_LENGTH`] bytes and 255 bytes per segment,
/// and no segment named like the store's temporary files (`.ferry-tmp-…`).
pub fn validate_key(key: &str) -> Result<()> {
    let invalid = |reason| StoreError::InvalidKey {
        key: key.to_string(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("it is empty"));
    }
    if key.len() > MAX_KEY_LENGTH {
        return Err(invalid("it is longer than 1024 bytes"));
    }
    if key.starts_with('/') {
        return Err(invalid("it must be relative, not start with '/'"));
    }
    if key.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    if key.contains('\\') {
        return Err(invalid("it contains a backslash"));
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(invalid("it has an empty path segment")),
            "." | ".." => return Err(invalid("it has a '.' or '..' segment")),
            _ if segment.starts_with(".ferry-tmp-") => {
                return Err(invalid(
                    "names starting with '.ferry-tmp-' are reserved for temporary files",
                ));
            }
            _ if segment.len() > 255 => return Err(invalid("a path segment is longer than 255 bytes")),
            _ => {}
        }
    }
    Ok(())
}

/// Normalises an ETag or MD5 for comparison: no quotes or spaces, lowercase.
pub(crate) fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;

/// A completion must list at least one part, in ascending order, each once.
fn check_part_list(upload_id: &str, parts: &[(u32, String)]) -> Result<()> {
    let invalid_list = |reason: String| StoreError::InvalidPartList {
        upload_id: upload_id.to_string(),
        reason,
    };
    if parts.is_empty() {
        return Err(invalid_list("no parts were listed".to_string()));
    }
    if let Some(pair) = parts.windows(2).find(|pair| pair[0].0 >= pair[1].0) {
        return Err(invalid_list(format!(
            "parts must be listed in ascending order without repeats (part {} follows part {})",
            pair[1].0, pair[0].0
        )));
    }
    Ok(())
}
