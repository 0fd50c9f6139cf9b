//! The hub's blob storage: a local directory. Objects are written aside under `tmp/`, fsynced and
//! renamed into `objects/`, so nothing partial is ever visible. Multipart uploads keep their parts
//! under `parts/<upload>/` until completed (assembled by streaming) or aborted.
//!
//! This is a private adapter with the shape of `ferry-store`'s `BlobStore` (put_stream, open with
//! a range, put_part / complete_multipart / abort_multipart) so the hub can move onto it.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_api::etag::EtagHasher;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body was larger than allowed.
    #[error("the body is larger than the {0}-byte limit")]
    TooLarge(u64),
    /// The client's stream failed (disconnect, bad chunking).
    #[error("the upload stream failed: {0}")]
    Body(String),
    /// Local I/O failed.
    #[error("blob storage I/O failed: {0}")]
    Io(#[from] io::Error),
}

/// What a write produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// Bytes.
    pub size: u64,
    /// MD5 of the bytes, hex.
    pub md5: String,
    /// Multipart ETag for 8 MiB parts.
    pub multipart_etag: String,
}

/// A local-directory blob store.
pub struct Blobs {
    root: PathBuf,
}

fn valid_key(key: &str) -> io::Result<()> {
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid blob key {key:?}"),
        ));
    }
    Ok(())
}

impl Blobs {
    /// Opens (creating) the store under `root`.
    pub async fn create(root: PathBuf) -> io::Result<Blobs> {
        for sub in ["objects", "tmp", "parts"] {
            tokio::fs::create_dir_all(root.join(sub)).await?;
        }
        Ok(Blobs { root })
    }

    fn object_path(&self, key: &str) -> io::Result<PathBuf> {
        valid_key(key)?;
        let shard = &key[..key.len().min(2)];
        Ok(self.root.join("objects").join(shard).join(key))
    }

    fn parts_dir(&self, upload: &str) -> io::Result<PathBuf> {
        valid_key(upload)?;
        Ok(self.root.join("parts").join(upload))
    }

    fn temp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}.partial", crate::ids::blob_key()))
    }

    async fn write_aside<S, E>(&self, stream: S, limit: u64) -> Result<(PathBuf, Written), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let temp = self.temp_path();
        let result = write_stream(&temp, stream, limit).await;
        match result {
            Ok(written) => Ok((temp, written)),
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(error)
            }
        }
    }

    /// Stores a stream under `key`, atomically; at most `limit` bytes.
    pub async fn put_stream<S, E>(&self, key: &str, stream: S, limit: u64) -> Result<Written, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let target = self.object_path(key)?;
        let (temp, written) = self.write_aside(stream, limit).await?;
        publish(&temp, &target).await?;
        Ok(written)
    }

    /// Stores one part of a multipart upload (replacing an earlier try of the same part).
    pub async fn put_part<S, E>(&self, upload: &str, part: u32, stream: S, limit: u64) -> Result<Written, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dir = self.parts_dir(upload)?;
        tokio::fs::create_dir_all(&dir).await?;
        let (temp, written) = self.write_aside(stream, limit).await?;
        publish(&temp, &dir.join(format!("{part:05}"))).await?;
        Ok(written)
    }

    /// Assembles parts (in the order given) into the object `key`; the parts stay until aborted.
    pub async fn complete_multipart(&self, upload: &str, parts: &[u32], key: &str) -> Result<Written, BlobError> {
        let dir = self.parts_dir(upload)?;
        let target = self.object_path(key)?;
        let temp = self.temp_path();
        let result = async {
            let mut out = tokio::fs::File::create(&temp).await?;
            let mut whole = Md5::new();
            let mut part_md5s = Vec::with_capacity(parts.len());
            let mut size = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            for part in parts {
                let mut input = tokio::fs::File::open(dir.join(format!("{part:05}"))).await?;
                let mut md5 = Md5::new();
                loop {
                    let n = input.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    whole.update(&buf[..n]);
                    md5.update(&buf[..n]);
                    out.write_all(&buf[..n]).await?;
                    size += n as u64;
                }
                part_md5s.push(<[u8; 16]>::from(md5.finalize()));
            }
            out.sync_all().await?;
            Ok::<_, io::Error>(Written {
                size,
                md5: hex::encode(whole.finalize()),
                multipart_etag: ferry_api::etag::multipart_etag(&part_md5s),
            })
        }
        .await;
        match result {
            Ok(written) => {
                publish(&temp, &target).await?;
                Ok(written)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(error.into())
            }
        }
    }

    /// Drops one stored part (a part that failed its checks).
    pub async fn abort_part(&self, upload: &str, part: u32) -> io::Result<()> {
        match tokio::fs::remove_file(self.parts_dir(upload)?.join(format!("{part:05}"))).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Drops all parts of an upload.
    pub async fn abort_multipart(&self, upload: &str) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.parts_dir(upload)?).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Opens an object for reading from `start`, returning the whole object's size.
    pub async fn open(&self, key: &str, start: u64) -> io::Result<(u64, tokio::fs::File)> {
        let mut file = tokio::fs::File::open(self.object_path(key)?).await?;
        let size = file.metadata().await?.len();
        if start > 0 {
            file.seek(io::SeekFrom::Start(start.min(size))).await?;
        }
        Ok((size, file))
    }

    /// Deletes an object (missing is fine).
    pub async fn delete(&self, key: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.object_path(key)?).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Whether an object exists.
    #[cfg(test)]
    pub async fn exists(&self, key: &str) -> bool {
        match self.object_path(key) {
            Ok(path) => tokio::fs::metadata(path).await.is_ok(),
            Err(_) => false,
        }
    }

    /// Writes an object with a blocking writer function (run on a blocking thread), atomically.
    /// Used for generated content (demo data): `produce` writes the bytes into the given writer.
    pub async fn put_with<F, T>(&self, key: &str, produce: F) -> Result<(Written, T), BlobError>
    where
        F: FnOnce(&mut dyn std::io::Write) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let target = self.object_path(key)?;
        let temp = self.temp_path();
        let temp_for_thread = temp.clone();
        let result = tokio::task::spawn_blocking(move || -> io::Result<(Written, T)> {
            let file = std::fs::File::create(&temp_for_thread)?;
            let mut writer = HashingWriter {
                inner: std::io::BufWriter::with_capacity(1024 * 1024, file),
                hasher: EtagHasher::new(ferry_api::BASESPACE_PART_SIZE),
            };
            let value = produce(&mut writer)?;
            let file = writer.inner.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            let digests = writer.hasher.finish();
            let written = Written {
                size: digests.size,
                md5: digests.md5,
                multipart_etag: digests.multipart,
            };
            Ok((written, value))
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        match result {
            Ok(written) => {
                publish(&temp, &target).await?;
                Ok(written)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(error.into())
            }
        }
    }

    /// Entries left in `tmp/` (tests check nothing partial is left behind).
    #[cfg(test)]
    pub fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: EtagHasher,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

async fn write_stream<S, E>(path: &Path, mut stream: S, limit: u64) -> Result<Written, BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut out = tokio::fs::File::create(path).await?;
    let mut hasher = EtagHasher::new(ferry_api::BASESPACE_PART_SIZE);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        if hasher.len() + chunk.len() as u64 > limit {
            return Err(BlobError::TooLarge(limit));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
    }
    out.sync_all().await?;
    let digests = hasher.finish();
    Ok(Written {
        size: digests.size,
        md5: digests.md5,
        multipart_etag: digests.multipart,
    })
}

async fn publish(temp: &Path, target: &Path) -> io::Result<()> {
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    if let Err(error) = tokio::fs::rename(temp, target).await {
        let _ = tokio::fs::remove_file(temp).await;
        return Err(error);
    }
    if let Some(parent) = target.parent()
        && let Ok(dir) = tokio::fs::File::open(parent).await
    {
        let _ = dir.sync_all().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(data: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin {
        futures_util::stream::iter(data.iter().map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn writes_atomically_and_refuses_oversize_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::create(dir.path().to_path_buf()).await.unwrap();
        let written = blobs
            .put_stream("abc", chunks(&[b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(written.size, 11);
        assert_eq!(written.md5, ferry_api::etag::single_part_etag(b"hello world"));
        let (size, mut file) = blobs.open("abc", 6).await.unwrap();
        let mut rest = String::new();
        file.read_to_string(&mut rest).await.unwrap();
        assert_eq!((size, rest.as_str()), (11, "world"));
        assert!(matches!(
            blobs.put_stream("big", chunks(&[b"0123456789", b"x"]), 10).await,
            Err(BlobError::TooLarge(10))
        ));
        assert!(!blobs.exists("big").await);
        assert_eq!(std::fs::read_dir(blobs.temp_dir()).unwrap().count(), 0);
        assert!(blobs.open("../etc", 0).await.is_err());
    }

    #[tokio::test]
    async fn assembles_parts_with_the_s3_etag() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::create(dir.path().to_path_buf()).await.unwrap();
        blobs.put_part("up1", 2, chunks(&[b"world"]), 100).await.unwrap();
        blobs.put_part("up1", 1, chunks(&[b"hello "]), 100).await.unwrap();
        let written = blobs.complete_multipart("up1", &[1, 2], "obj").await.unwrap();
        let expected = ferry_api::etag::multipart_etag(&[Md5::digest(b"hello ").into(), Md5::digest(b"world").into()]);
        assert_eq!(written.multipart_etag, expected);
        assert_eq!(written.md5, ferry_api::etag::single_part_etag(b"hello world"));
        blobs.abort_multipart("up1").await.unwrap();
        assert!(blobs.exists("obj").await);
    }
}
