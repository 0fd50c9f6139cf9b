//! The local-directory backend.
//!
//! Layout under the root:
//! - `objects/<key>`: stored objects;
//! - `uploads/<upload_id>/<part:05>.<md5>`: staged multipart parts;
//! - `partial/<key>`: unfinished resumable writes.
//!
//! Temporary files are named `.ferry-tmp-<uuid>` and live in the directory of their destination.
//! Folders are created `0700` and files `0600` (see [`crate::private_fs`]).

use std::collections::HashSet;
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::private_fs::{self, private_file_options};
use crate::{
    BlobReader, CompleteOutcome, Expect, PartOutcome, PutOutcome, Result, StoreError, normalize_etag, validate_key,
};

const OBJECTS: &str = "objects";
const UPLOADS: &str = "uploads";
const PARTIAL: &str = "partial";
const TEMP_PREFIX: &str = ".ferry-tmp-";
const READ_CHUNK: usize = 256 * 1024;

/// A blob store in a local directory. Cheap to clone (clones share state).
#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Keys with an open [`ResumableWrite`] in this process.
    resumables: Mutex<HashSet<String>>,
    /// Serialises "rename a part into place and drop its older versions".
    parts: tokio::sync::Mutex<()>,
}

fn io_error<'a>(key: &'a str, action: &'static str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        key: key.to_string(),
        action,
        source,
    }
}

fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

/// Removes a temporary file when dropped unless disarmed (also on cancellation).
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(dir: &Path) -> TempFile {
        TempFile {
            path: dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple())),
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file written aside, fsynced, with its digests; removed on drop unless renamed.
struct Written {
    temp: TempFile,
    size: u64,
    md5: [u8; 16],
    sha256: [u8; 32],
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// Creates `dir` (below `base`) and fsyncs the parents of the directories it had to create.
async fn create_dirs(base: &Path, dir: &Path) -> io::Result<()> {
    if tokio::fs::metadata(dir).await.is_ok_and(|meta| meta.is_dir()) {
        return Ok(());
    }
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(private_fs::PRIVATE_DIR_MODE);
    builder.create(dir).await?;
    let mut current = dir;
    while let Some(parent) = current.parent() {
        sync_dir(parent).await?;
        if parent == base || !parent.starts_with(base) {
            break;
        }
        current = parent;
    }
    Ok(())
}

impl LocalStore {
    /// A store rooted at `root`, created if missing; made private (folders `0700`, files `0600`)
    /// if it was wider ([`private_fs::ensure_private_dir`]).
    pub fn new(root: &Path) -> Result<LocalStore> {
        let label = root.display().to_string();
        private_fs::ensure_private_dir(root)
            .map_err(|error| io_error(&label, "make the storage folder private")(io::Error::other(error)))?;
        for sub in [OBJECTS, UPLOADS, PARTIAL] {
            private_fs::private_dir_builder()
                .create(root.join(sub))
                .map_err(io_error(&label, "create the storage folder"))?;
        }
        Ok(LocalStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                resumables: Mutex::new(HashSet::new()),
                parts: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the object `key` lives on disk (whether or not it exists).
    pub fn object_path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.inner.root.join(OBJECTS).join(key))
    }

    fn partial_path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.inner.root.join(PARTIAL).join(key))
    }

    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf> {
        validate_key(upload_id)?;
        if upload_id.contains('/') {
            return Err(StoreError::InvalidKey {
                key: upload_id.to_string(),
                reason: "an upload id is a single path segment (no '/')",
            });
        }
        Ok(self.inner.root.join(UPLOADS).join(upload_id))
    }

    /// Streams `stream` into a temporary file in `dir`, hashing it; fails (leaving nothing) when
    /// the stream fails or goes past `limit`.
    async fn write_temp<S, E>(&self, label: &str, dir: &Path, stream: S, limit: Option<u64>) -> Result<Written>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        create_dirs(&self.inner.root, dir)
            .await
            .map_err(io_error(label, "create the folder"))?;
        let temp = TempFile::new(dir);
        let mut file = tokio::fs::OpenOptions::from(private_file_options())
            .write(true)
            .create_new(true)
            .open(&temp.path)
            .await
            .map_err(io_error(label, "create a temporary file"))?;
        let mut md5 = Md5::new();
        let mut sha256 = Sha256::new();
        let mut size = 0u64;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| StoreError::Source {
                key: label.to_string(),
                received: size,
                source: error.into(),
            })?;
            size += chunk.len() as u64;
            if let Some(limit) = limit
                && size > limit
            {
                return Err(StoreError::SizeMismatch {
                    key: label.to_string(),
                    expected: limit,
                    actual: size,
                });
            }
            md5.update(&chunk);
            sha256.update(&chunk);
            file.write_all(&chunk).await.map_err(io_error(label, "write"))?;
        }
        file.flush().await.map_err(io_error(label, "write"))?;
        file.sync_all().await.map_err(io_error(label, "sync to disk"))?;
        Ok(Written {
            temp,
            size,
            md5: md5.finalize().into(),
            sha256: sha256.finalize().into(),
        })
    }

    pub(crate) async fn put_stream<S, E>(&self, key: &str, stream: S, expect: &Expect) -> Result<PutOutcome>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = self.object_path(key)?;
        let dir = path.parent().unwrap_or(&self.inner.root).to_path_buf();
        let mut written = self.write_temp(key, &dir, stream, expect.size).await?;
        if let Some(expected) = expect.size
            && written.size != expected
        {
            return Err(StoreError::SizeMismatch {
                key: key.to_string(),
                expected,
                actual: written.size,
            });
        }
        let md5_hex = hex::encode(written.md5);
        if let Some(expected) = &expect.md5_hex
            && normalize_etag(expected) != md5_hex
        {
            return Err(StoreError::ChecksumMismatch {
                key: key.to_string(),
                expected: normalize_etag(expected),
                actual: md5_hex,
            });
        }
        tokio::fs::rename(&written.temp.path, &path)
            .await
            .map_err(io_error(key, "move the finished file into place"))?;
        written.temp.disarm();
        sync_dir(&dir).await.map_err(io_error(key, "sync the folder"))?;
        Ok(PutOutcome {
            size: written.size,
            md5_hex,
            sha256_hex: hex::encode(written.sha256),
        })
    }

    async fn open_path(&self, key: &str, path: &Path, range: Option<Range<u64>>) -> Result<BlobReader> {
        let not_found = || StoreError::NotFound { key: key.to_string() };
        let mut file = match tokio::fs::File::open(path).await {
            Ok(file) => file,
            Err(error) if is_absent(&error) => return Err(not_found()),
            Err(error) => return Err(io_error(key, "open")(error)),
        };
        let meta = file.metadata().await.map_err(io_error(key, "read the size"))?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let size = meta.len();
        let range = match range {
            None => 0..size,
            Some(range) => {
                if range.start > range.end || range.start > size {
                    return Err(StoreError::RangeNotSatisfiable {
                        key: key.to_string(),
                        start: range.start,
                        end: range.end,
                        size,
                    });
                }
                range.start..range.end.min(size)
            }
        };
        if range.start > 0 {
            file.seek(SeekFrom::Start(range.start))
                .await
                .map_err(io_error(key, "seek"))?;
        }
        let stream = ReaderStream::with_capacity(file.take(range.end - range.start), READ_CHUNK).boxed();
        Ok(BlobReader { size, range, stream })
    }

    pub(crate) async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader> {
        let path = self.object_path(key)?;
        self.open_path(key, &path, range).await
    }

    pub(crate) async fn stat(&self, key: &str) -> Result<Option<u64>> {
        let path = self.object_path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(error) if is_absent(&error) => Ok(None),
            Err(error) => Err(io_error(key, "read the size")(error)),
        }
    }

    async fn remove(&self, key: &str, path: &Path) -> Result<()> {
        match tokio::fs::remove_file(path).await {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    sync_dir(dir).await.map_err(io_error(key, "sync the folder"))?;
                }
                Ok(())
            }
            Err(error) if is_absent(&error) => Ok(()),
            Err(error) => Err(io_error(key, "delete")(error)),
        }
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        let path = self.object_path(key)?;
        self.remove(key, &path).await
    }

    pub(crate) async fn put_part<S, E>(
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
        let dir = self.upload_dir(upload_id)?;
        let label = format!("{upload_id}/{part_number}");
        let mut written = match self.write_temp(&label, &dir, stream, Some(max_part_size)).await {
            Err(StoreError::SizeMismatch { .. }) => {
                return Err(StoreError::PartTooLarge {
                    upload_id: upload_id.to_string(),
                    part: part_number,
                    max: max_part_size,
                });
            }
            other => other?,
        };
        let md5_hex = hex::encode(written.md5);
        let prefix = format!("{part_number:05}.");
        let name = format!("{prefix}{md5_hex}");
        let _guard = self.inner.parts.lock().await;
        tokio::fs::rename(&written.temp.path, dir.join(&name))
            .await
            .map_err(io_error(&label, "move the part into place"))?;
        written.temp.disarm();
        // Drop earlier uploads of the same part.
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .map_err(io_error(&label, "list the parts"))?;
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&label, "list the parts"))? {
            let other = entry.file_name().to_string_lossy().into_owned();
            if other.starts_with(&prefix) && other != name {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        sync_dir(&dir).await.map_err(io_error(&label, "sync the folder"))?;
        Ok(PartOutcome {
            part_number,
            size: written.size,
            md5_hex,
        })
    }

    /// Stored parts: part number → (size, md5, path), the newest when a crash left two.
    async fn stored_parts(&self, upload_id: &str) -> Result<std::collections::BTreeMap<u32, (u64, String, PathBuf)>> {
        let dir = self.upload_dir(upload_id)?;
        let mut parts = std::collections::BTreeMap::new();
        let mut newest = std::collections::HashMap::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(error) if is_absent(&error) => return Ok(parts),
            Err(error) => return Err(io_error(upload_id, "list the parts")(error)),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(io_error(upload_id, "list the parts"))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((number, md5)) = name.split_once('.') else {
                continue;
            };
            let (Ok(number), true) = (number.parse::<u32>(), md5.len() == 32) else {
                continue;
            };
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            let modified = meta.modified().ok();
            if newest.get(&number).is_some_and(|seen| *seen > modified) {
                continue;
            }
            newest.insert(number, modified);
            parts.insert(number, (meta.len(), md5.to_string(), entry.path()));
        }
        Ok(parts)
    }

    pub(crate) async fn list_parts(&self, upload_id: &str) -> Result<Vec<(u32, u64, String)>> {
        Ok(self
            .stored_parts(upload_id)
            .await?
            .into_iter()
            .map(|(number, (size, md5, _))| (number, size, md5))
            .collect())
    }

    pub(crate) async fn complete_multipart(
        &self,
        upload_id: &str,
        key: &str,
        parts: &[(u32, String)],
    ) -> Result<CompleteOutcome> {
        let path = self.object_path(key)?;
        let upload_dir = self.upload_dir(upload_id)?;
        let stored = self.stored_parts(upload_id).await?;
        let mut plan = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            let Some((size, md5, part_path)) = stored.get(number) else {
                return Err(StoreError::MissingPart {
                    upload_id: upload_id.to_string(),
                    part: *number,
                });
            };
            if normalize_etag(etag) != *md5 {
                return Err(StoreError::PartEtagMismatch {
                    upload_id: upload_id.to_string(),
                    part: *number,
                    given: etag.clone(),
                    stored: md5.clone(),
                });
            }
            plan.push((*number, *size, md5.clone(), part_path.clone()));
        }
        let dir = path.parent().unwrap_or(&self.inner.root).to_path_buf();
        create_dirs(&self.inner.root, &dir)
            .await
            .map_err(io_error(key, "create the folder"))?;
        let key_owned = key.to_string();
        let (outcome, mut temp) = tokio::task::spawn_blocking(move || assemble(&key_owned, &dir, &plan))
            .await
            .map_err(|join| io_error(key, "assemble the parts")(io::Error::other(join.to_string())))??;
        tokio::fs::rename(&temp.path, &path)
            .await
            .map_err(io_error(key, "move the assembled file into place"))?;
        temp.disarm();
        if let Some(dir) = path.parent() {
            sync_dir(dir).await.map_err(io_error(key, "sync the folder"))?;
        }
        if let Err(error) = tokio::fs::remove_dir_all(&upload_dir).await
            && !is_absent(&error)
        {
            tracing::warn!(upload_id, %error, "cannot remove the staged parts of a completed upload");
        }
        Ok(outcome)
    }

    pub(crate) async fn abort_multipart(&self, upload_id: &str) -> Result<()> {
        let dir = self.upload_dir(upload_id)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(error) if is_absent(&error) => Ok(()),
            Err(error) => Err(io_error(upload_id, "remove the staged parts")(error)),
        }
    }

    pub(crate) async fn resumable(&self, key: &str) -> Result<ResumableWrite> {
        let partial = self.partial_path(key)?;
        let final_path = self.object_path(key)?;
        {
            let mut open = self
                .inner
                .resumables
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if !open.insert(key.to_string()) {
                return Err(StoreError::Busy { key: key.to_string() });
            }
        }
        let lock = ResumableLock {
            inner: self.inner.clone(),
            key: key.to_string(),
        };
        let dir = partial.parent().unwrap_or(&self.inner.root);
        create_dirs(&self.inner.root, dir)
            .await
            .map_err(io_error(key, "create the folder for partial files"))?;
        let mut file = tokio::fs::OpenOptions::from(private_file_options())
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .await
            .map_err(io_error(key, "open the partial file"))?;
        let offset = file
            .seek(SeekFrom::End(0))
            .await
            .map_err(io_error(key, "find the end of the partial file"))?;
        Ok(ResumableWrite {
            key: key.to_string(),
            partial,
            final_path,
            root: self.inner.root.clone(),
            file,
            offset,
            _lock: lock,
        })
    }

    /// Removes temporary files left by writes that were killed (a crash, `kill -9`) and not
    /// modified for `older_than`. Returns how many were removed. Walks the whole store.
    pub async fn remove_stale_temporaries(&self, older_than: std::time::Duration) -> Result<u64> {
        let root = self.inner.root.clone();
        let label = root.display().to_string();
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut pending = vec![root.join(OBJECTS), root.join(UPLOADS)];
            while let Some(dir) = pending.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(error) if is_absent(&error) => continue,
                    Err(error) => return Err(error),
                };
                for entry in entries {
                    let entry = entry?;
                    let kind = entry.file_type()?;
                    if kind.is_dir() {
                        pending.push(entry.path());
                    } else if kind.is_file() && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                        if age >= older_than {
                            match std::fs::remove_file(entry.path()) {
                                Ok(()) => removed += 1,
                                Err(error) if is_absent(&error) => {}
                                Err(error) => return Err(error),
                            }
                        }
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|join| io::Error::other(join.to_string()))
        .and_then(|result| result)
        .map_err(io_error(&label, "remove stale temporary files"))
    }

    pub(crate) async fn open_partial(&self, key: &str) -> Result<BlobReader> {
        let path = self.partial_path(key)?;
        self.open_path(key, &path, None).await
    }

    pub(crate) async fn delete_partial(&self, key: &str) -> Result<()> {
        let path = self.partial_path(key)?;
        self.remove(key, &path).await
    }
}

/// Streams the planned parts into a temporary file in `dir`, re-checking each part's MD5.
fn assemble(key: &str, dir: &Path, plan: &[(u32, u64, String, PathBuf)]) -> Result<(CompleteOutcome, TempFile)> {
    use std::io::{Read, Write};
    let temp = TempFile::new(dir);
    let mut out = private_file_options()
        .write(true)
        .create_new(true)
        .open(&temp.path)
        .map_err(io_error(key, "create a temporary file"))?;
    let mut whole = Md5::new();
    let mut sha256 = Sha256::new();
    let mut part_md5s = Vec::with_capacity(plan.len());
    let mut size = 0u64;
    let mut buffer = vec![0u8; READ_CHUNK];
    for (number, _, md5_hex, part_path) in plan {
        let mut part = std::fs::File::open(part_path).map_err(io_error(key, "open a staged part"))?;
        let mut part_md5 = Md5::new();
        loop {
            let n = match part.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(io_error(key, "read a staged part")(error)),
            };
            let chunk = &buffer[..n];
            whole.update(chunk);
            sha256.update(chunk);
            part_md5.update(chunk);
            out.write_all(chunk).map_err(io_error(key, "write"))?;
            size += n as u64;
        }
        let digest: [u8; 16] = part_md5.finalize().into();
        if hex::encode(digest) != *md5_hex {
            return Err(io_error(key, "assemble the parts")(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("staged part {number} changed on disk (its MD5 no longer matches); upload it again"),
            )));
        }
        part_md5s.push(digest);
    }
    out.sync_all().map_err(io_error(key, "sync to disk"))?;
    let outcome = CompleteOutcome {
        size,
        etag: ferry_api::etag::multipart_etag(&part_md5s),
        md5_hex: hex::encode(whole.finalize()),
        sha256_hex: hex::encode(sha256.finalize()),
    };
    Ok((outcome, temp))
}

/// Releases the in-process claim on a resumable key when dropped.
#[derive(Debug)]
struct ResumableLock {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for ResumableLock {
    fn drop(&mut self) {
        let mut open = self
            .inner
            .resumables
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        open.remove(&self.key);
    }
}

/// An append-only write that survives restarts: bytes go to `partial/<key>`, and only
/// [`ResumableWrite::finish`] moves them to the object `key`. Reopening the same key continues
/// from [`ResumableWrite::offset`]. One writer per key at a time in a process. After an error,
/// drop the writer and open a new one (its offset is re-read from disk).
#[derive(Debug)]
pub struct ResumableWrite {
    key: String,
    partial: PathBuf,
    final_path: PathBuf,
    root: PathBuf,
    file: tokio::fs::File,
    offset: u64,
    _lock: ResumableLock,
}

impl ResumableWrite {
    /// The key being written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes written so far (including those from earlier sessions).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Appends bytes at the end. When this returns, the bytes are in the file (handed to the
    /// operating system; call [`ResumableWrite::sync`] to make them durable), so a writer opened
    /// later sees them even if this one is dropped right away.
    pub async fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .await
            .map_err(io_error(&self.key, "write the partial file"))?;
        // tokio writes in the background; wait so no write is in flight after we return.
        self.file
            .flush()
            .await
            .map_err(io_error(&self.key, "write the partial file"))?;
        self.offset += data.len() as u64;
        Ok(())
    }

    /// Makes the bytes written so far durable (they survive a crash or power loss).
    pub async fn sync(&mut self) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(io_error(&self.key, "write the partial file"))?;
        self.file
            .sync_data()
            .await
            .map_err(io_error(&self.key, "sync the partial file"))
    }

    /// Cuts the partial file back to `length` bytes (at most [`ResumableWrite::offset`]), e.g.
    /// to 0 to start over.
    pub async fn truncate_to(&mut self, length: u64) -> Result<()> {
        if length > self.offset {
            return Err(io_error(&self.key, "truncate the partial file")(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot extend {} bytes to {length} by truncating", self.offset),
            )));
        }
        self.file
            .flush()
            .await
            .map_err(io_error(&self.key, "write the partial file"))?;
        self.file
            .set_len(length)
            .await
            .map_err(io_error(&self.key, "truncate the partial file"))?;
        self.file
            .seek(SeekFrom::Start(length))
            .await
            .map_err(io_error(&self.key, "seek in the partial file"))?;
        self.offset = length;
        Ok(())
    }

    /// Makes the partial file durable and moves it to the object `key` (replacing any object
    /// there). Returns the size.
    pub async fn finish(mut self) -> Result<u64> {
        self.file
            .flush()
            .await
            .map_err(io_error(&self.key, "write the partial file"))?;
        self.file
            .sync_all()
            .await
            .map_err(io_error(&self.key, "sync the partial file"))?;
        let dir = self.final_path.parent().unwrap_or(&self.root).to_path_buf();
        create_dirs(&self.root, &dir)
            .await
            .map_err(io_error(&self.key, "create the folder"))?;
        tokio::fs::rename(&self.partial, &self.final_path)
            .await
            .map_err(io_error(&self.key, "move the finished file into place"))?;
        sync_dir(&dir).await.map_err(io_error(&self.key, "sync the folder"))?;
        if let Some(partial_dir) = self.partial.parent() {
            sync_dir(partial_dir)
                .await
                .map_err(io_error(&self.key, "sync the folder"))?;
        }
        Ok(self.offset)
    }

    /// Removes the partial file.
    pub async fn discard(self) -> Result<()> {
        match tokio::fs::remove_file(&self.partial).await {
            Ok(()) => Ok(()),
            Err(error) if is_absent(&error) => Ok(()),
            Err(error) => Err(io_error(&self.key, "delete the partial file")(error)),
        }
    }
}
