//! The hub's view of blob storage: `ferry-store`'s [`BlobStore`] with the hub's limits and
//! errors. Objects live under `objects/<key>`; multipart parts stay in the store's staging area
//! until completed (assembled with S3 ETags) or aborted. Nothing partial is ever visible.

use std::io;
use std::ops::Range;

use bytes::Bytes;
use ferry_api::etag::EtagHasher;
use ferry_store::{BlobReader, BlobStore, StoreError};
use futures_util::{Stream, StreamExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body was larger than allowed; nothing was kept.
    #[error("the body is larger than the {0}-byte limit")]
    TooLarge(u64),
    /// The client's stream failed (disconnect, bad chunking); nothing was kept.
    #[error("the upload stream failed: {0}")]
    Body(String),
    /// A part named at completion is missing or differs from what was stored.
    #[error("{0}")]
    Parts(String),
    /// Storage failed.
    #[error("blob storage failed: {0}")]
    Store(String),
}

/// What a write produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// Bytes.
    pub size: u64,
    /// MD5 of the bytes, hex.
    pub md5: String,
    /// For a completed multipart upload: its S3 ETag (`md5-of-part-md5s-N`). For generated
    /// content: the ETag of 8 MiB parts. Otherwise empty.
    pub multipart_etag: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the body is larger than the {0}-byte limit")]
struct LimitExceeded(u64);

fn store_error(error: StoreError) -> BlobError {
    match error {
        StoreError::PartTooLarge { max, .. } => BlobError::TooLarge(max),
        StoreError::Source { source, .. } => match source.downcast_ref::<LimitExceeded>() {
            Some(LimitExceeded(limit)) => BlobError::TooLarge(*limit),
            None => BlobError::Body(source.to_string()),
        },
        error @ (StoreError::MissingPart { .. }
        | StoreError::PartEtagMismatch { .. }
        | StoreError::InvalidPartList { .. }
        | StoreError::InvalidPartNumber { .. }) => BlobError::Parts(error.to_string()),
        other => BlobError::Store(other.to_string()),
    }
}

/// Fails the stream once it carries more than `limit` bytes.
fn limited<S>(stream: S, limit: u64) -> impl Stream<Item = Result<Bytes, BoxError>> + Send
where
    S: Stream<Item = Result<Bytes, String>> + Send,
{
    let mut seen = 0u64;
    stream.map(move |item| match item {
        Ok(chunk) => {
            seen += chunk.len() as u64;
            if seen > limit {
                Err(Box::new(LimitExceeded(limit)) as BoxError)
            } else {
                Ok(chunk)
            }
        }
        Err(message) => Err(message.into()),
    })
}

/// Store key of a hub blob: sharded by its first two characters.
fn object_key(key: &str) -> String {
    format!("{}/{key}", &key[..key.len().min(2)])
}

/// The hub's blob store.
pub struct Blobs {
    store: BlobStore,
}

impl Blobs {
    /// Uses `store`, first removing temporaries of killed writes (a day old: instances sharing the
    /// store may be writing the newer ones).
    pub async fn with_store(store: BlobStore) -> Blobs {
        match store
            .remove_stale_temporaries(std::time::Duration::from_secs(24 * 3600))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed temporaries of interrupted writes"),
            Err(error) => tracing::warn!(%error, "cannot clean the blob store's temporaries"),
        }
        Blobs { store }
    }

    /// Stores a stream under `key`, atomically; at most `limit` bytes.
    pub async fn put_stream<S>(&self, key: &str, stream: S, limit: u64) -> Result<Written, BlobError>
    where
        S: Stream<Item = Result<Bytes, String>> + Send,
    {
        let outcome = self
            .store
            .put_stream(&object_key(key), limited(stream, limit), None)
            .await
            .map_err(store_error)?;
        Ok(Written {
            size: outcome.size,
            md5: outcome.md5_hex,
            multipart_etag: String::new(),
        })
    }

    /// Stores one part of a multipart upload (replacing an earlier try of the same part).
    pub async fn put_part<S>(&self, upload: &str, part: u32, stream: S, limit: u64) -> Result<Written, BlobError>
    where
        S: Stream<Item = Result<Bytes, String>> + Send,
    {
        let outcome = self
            .store
            .put_part(upload, part, stream, limit)
            .await
            .map_err(store_error)?;
        Ok(Written {
            size: outcome.size,
            md5: outcome.md5_hex,
            multipart_etag: String::new(),
        })
    }

    /// Assembles the listed parts `(number, md5)` into the object `key`.
    pub async fn complete_multipart(
        &self,
        upload: &str,
        parts: &[(u32, String)],
        key: &str,
    ) -> Result<Written, BlobError> {
        // Driven in its own task with owned arguments: the assembly finishes even if the client
        // disconnects meanwhile.
        let store = self.store.clone();
        let (upload, key, parts) = (upload.to_string(), object_key(key), parts.to_vec());
        let outcome = tokio::spawn(async move { store.complete_multipart(&upload, &key, &parts).await })
            .await
            .map_err(|e| BlobError::Store(e.to_string()))?
            .map_err(store_error)?;
        Ok(Written {
            size: outcome.size,
            md5: outcome.md5_hex,
            multipart_etag: outcome.etag,
        })
    }

    /// Drops all parts of an upload.
    pub async fn abort_multipart(&self, upload: &str) -> Result<(), BlobError> {
        self.store.abort_multipart(upload).await.map_err(store_error)
    }

    /// Reads an object, or a byte range of it (end exclusive).
    pub async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader, BlobError> {
        self.store.open(&object_key(key), range).await.map_err(store_error)
    }

    /// The size of an object, `None` when absent.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        self.store.stat(&object_key(key)).await.map_err(store_error)
    }

    /// Deletes an object (missing is fine).
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.store.delete(&object_key(key)).await.map_err(store_error)
    }

    /// Stores generated content: `produce` writes the bytes on a blocking thread into a writer
    /// that streams them to the store (bounded buffering). Returns what `produce` returned.
    pub async fn put_with<F, T>(&self, key: &str, produce: F) -> Result<(Written, T), BlobError>
    where
        F: FnOnce(&mut dyn std::io::Write) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(8);
        let producer = tokio::task::spawn_blocking(move || -> io::Result<(T, String)> {
            let mut writer = ChannelWriter {
                sender,
                buffer: Vec::with_capacity(CHUNK),
                hasher: EtagHasher::new(ferry_api::BASESPACE_PART_SIZE),
            };
            let value = produce(&mut writer)?;
            writer.send_buffer()?;
            let etag = writer.hasher.finish().multipart;
            Ok((value, etag))
        });
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let stored = self.put_stream(key, stream, u64::MAX).await;
        let produced = producer.await.map_err(|e| BlobError::Store(e.to_string()))?;
        match (stored, produced) {
            (Ok(mut written), Ok((value, multipart_etag))) => {
                written.multipart_etag = multipart_etag;
                Ok((written, value))
            }
            (Ok(_), Err(error)) => {
                let _ = self.delete(key).await;
                Err(BlobError::Store(format!("generating the content failed: {error}")))
            }
            (Err(error), _) => Err(error),
        }
    }
}

const CHUNK: usize = 256 * 1024;

struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<Result<Bytes, String>>,
    buffer: Vec<u8>,
    hasher: EtagHasher,
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the blob store stopped reading"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn chunks(data: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, String>> + Send + use<> {
        futures_util::stream::iter(data.iter().map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>())
    }

    async fn read_all(reader: BlobReader) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stream = reader.stream;
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn writes_atomically_and_refuses_oversize_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::with_store(BlobStore::local(dir.path()).unwrap()).await;
        let written = blobs
            .put_stream("abc", chunks(&[b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(written.size, 11);
        assert_eq!(written.md5, ferry_api::etag::single_part_etag(b"hello world"));
        let reader = blobs.open("abc", Some(6..11)).await.unwrap();
        assert_eq!(reader.size, 11);
        assert_eq!(read_all(reader).await, b"world");
        assert!(matches!(
            blobs.put_stream("big", chunks(&[b"0123456789", b"x"]), 10).await,
            Err(BlobError::TooLarge(10))
        ));
        assert_eq!(blobs.size("big").await.unwrap(), None);
    }

    #[tokio::test]
    async fn assembles_parts_with_the_s3_etag_and_streams_generated_content() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::with_store(BlobStore::local(dir.path()).unwrap()).await;
        let two = blobs.put_part("up1", 2, chunks(&[b"world"]), 100).await.unwrap();
        let one = blobs.put_part("up1", 1, chunks(&[b"hello "]), 100).await.unwrap();
        assert!(matches!(
            blobs.put_part("up1", 3, chunks(&[b"too long"]), 4).await,
            Err(BlobError::TooLarge(4))
        ));
        let written = blobs
            .complete_multipart("up1", &[(1, one.md5), (2, two.md5)], "obj")
            .await
            .unwrap();
        let expected = ferry_api::etag::multipart_etag(&[Md5::digest(b"hello ").into(), Md5::digest(b"world").into()]);
        assert_eq!(written.multipart_etag, expected);
        assert_eq!(written.md5, ferry_api::etag::single_part_etag(b"hello world"));

        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let copy = data.clone();
        let (written, value) = blobs
            .put_with("gen", move |out| out.write_all(&copy).map(|_| 7))
            .await
            .unwrap();
        assert_eq!((written.size, value), (600_000, 7));
        assert_eq!(written.md5, ferry_api::etag::single_part_etag(&data));
        assert_eq!(read_all(blobs.open("gen", None).await.unwrap()).await, data);
    }

    #[tokio::test]
    async fn generated_content_over_8_mib_gets_the_basespace_multipart_etag() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::with_store(BlobStore::local(dir.path()).unwrap()).await;
        let size = ferry_api::BASESPACE_PART_SIZE as usize + 1000;
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let copy = data.clone();
        let (written, ()) = blobs.put_with("big", move |out| out.write_all(&copy)).await.unwrap();
        let part = ferry_api::BASESPACE_PART_SIZE as usize;
        let expected =
            ferry_api::etag::multipart_etag(&[Md5::digest(&data[..part]).into(), Md5::digest(&data[part..]).into()]);
        assert_eq!(written.multipart_etag, expected);
        assert!(written.multipart_etag.ends_with("-2"));
    }
}
