use std::io;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use md5::{Digest, Md5};

use super::*;

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path().join("store")).unwrap();
    (dir, store)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn chunks(data: &[u8], size: usize) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + use<> {
    let pieces: Vec<io::Result<Bytes>> = data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(pieces)
}

async fn read_all(reader: BlobReader) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = reader.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Every file under the store root whose name marks it temporary.
fn temp_files(store: &BlobStore) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.file_name().unwrap().to_string_lossy().starts_with(".ferry-tmp-") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(store.root().unwrap(), &mut found);
    found
}

#[tokio::test]
async fn put_open_range_stat_delete() {
    let (_dir, store) = store();
    let content = data(1_000_003, 1);
    let outcome = store
        .put_stream("files/12/3456789", chunks(&content, 70_000), Some(content.len() as u64))
        .await
        .unwrap();
    assert_eq!(outcome.size, content.len() as u64);
    assert_eq!(outcome.md5_hex, hex::encode(Md5::digest(&content)));
    assert_eq!(outcome.sha256_hex, hex::encode(sha2::Sha256::digest(&content)));
    assert_eq!(
        store.stat("files/12/3456789").await.unwrap(),
        Some(content.len() as u64)
    );
    assert!(store.exists("files/12/3456789").await.unwrap());
    assert!(!store.exists("files/12").await.unwrap(), "a folder is not an object");

    let reader = store.open("files/12/3456789", None).await.unwrap();
    assert_eq!(
        (reader.size, reader.range.clone()),
        (content.len() as u64, 0..content.len() as u64)
    );
    assert_eq!(read_all(reader).await, content);

    let reader = store.open("files/12/3456789", Some(500_000..500_010)).await.unwrap();
    assert_eq!(reader.size, content.len() as u64);
    assert_eq!(read_all(reader).await, &content[500_000..500_010]);
    // The end is clamped to the size; a start past the end is refused.
    let reader = store
        .open("files/12/3456789", Some(1_000_000..2_000_000))
        .await
        .unwrap();
    assert_eq!(reader.range, 1_000_000..1_000_003);
    assert_eq!(read_all(reader).await, &content[1_000_000..]);
    assert!(matches!(
        store.open("files/12/3456789", Some(1_000_004..1_000_005)).await,
        Err(StoreError::RangeNotSatisfiable { .. })
    ));

    // Replacing an object.
    let other = data(10, 9);
    store
        .put_stream("files/12/3456789", chunks(&other, 3), None)
        .await
        .unwrap();
    assert_eq!(
        read_all(store.open("files/12/3456789", None).await.unwrap()).await,
        other
    );

    store.delete("files/12/3456789").await.unwrap();
    store.delete("files/12/3456789").await.unwrap();
    assert_eq!(store.stat("files/12/3456789").await.unwrap(), None);
    let missing = store.open("files/12/3456789", None).await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(missing.to_string().contains("files/12/3456789"), "{missing}");
    assert!(temp_files(&store).is_empty());
}

#[tokio::test]
async fn empty_object() {
    let (_dir, store) = store();
    let outcome = store.put_stream("empty", chunks(&[], 1), Some(0)).await.unwrap();
    assert_eq!(outcome.md5_hex, "d41d8cd98f00b204e9800998ecf8427e");
    let reader = store.open("empty", Some(0..0)).await.unwrap();
    assert!(read_all(reader).await.is_empty());
}

#[tokio::test]
async fn failures_leave_nothing_visible() {
    let (_dir, store) = store();
    let good = data(1000, 2);
    store.put_stream("keep/me", chunks(&good, 100), None).await.unwrap();

    // The stream breaks off mid-way: nothing stored, the old object untouched.
    let broken = stream::iter(vec![
        Ok(Bytes::from_static(b"first part")),
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer went away")),
    ]);
    let error = store.put_stream("keep/me", broken, None).await.unwrap_err();
    assert!(matches!(error, StoreError::Source { received: 10, .. }), "{error}");
    assert!(error.to_string().contains("peer went away"));
    assert_eq!(read_all(store.open("keep/me", None).await.unwrap()).await, good);

    // Too short and too long against the announced size.
    let error = store
        .put_stream("new/a", chunks(&good, 100), Some(1001))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::SizeMismatch {
                expected: 1001,
                actual: 1000,
                ..
            }
        ),
        "{error}"
    );
    let error = store
        .put_stream("new/a", chunks(&good, 100), Some(999))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::SizeMismatch { expected: 999, .. }),
        "{error}"
    );

    // Wrong MD5.
    let expect = Expect {
        size: Some(1000),
        md5_hex: Some("\"00000000000000000000000000000000\"".to_string()),
    };
    let error = store
        .put_stream_checked("new/a", chunks(&good, 100), &expect)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::ChecksumMismatch { .. }), "{error}");
    let expect = Expect {
        size: Some(1000),
        md5_hex: Some(hex::encode(Md5::digest(&good)).to_uppercase()),
    };
    store
        .put_stream_checked("new/b", chunks(&good, 100), &expect)
        .await
        .unwrap();

    assert_eq!(store.stat("new/a").await.unwrap(), None);
    assert!(temp_files(&store).is_empty(), "{:?}", temp_files(&store));
}

#[tokio::test]
async fn cancelled_write_leaves_no_temporary_file() {
    let (_dir, store) = store();
    let endless = stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b"some bytes"))]).chain(stream::pending());
    let put = store.put_stream("cancel/me", endless, None);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), put)
            .await
            .is_err()
    );
    assert_eq!(store.stat("cancel/me").await.unwrap(), None);
    assert!(temp_files(&store).is_empty(), "{:?}", temp_files(&store));
}

#[tokio::test]
async fn concurrent_writes_to_one_key_leave_one_whole_object() {
    let (_dir, store) = store();
    let (a, b) = (data(300_000, 3), data(200_000, 4));
    let (ra, rb) = tokio::join!(
        store.put_stream("same", chunks(&a, 1000), None),
        store.put_stream("same", chunks(&b, 1000), None)
    );
    ra.unwrap();
    rb.unwrap();
    let stored = read_all(store.open("same", None).await.unwrap()).await;
    assert!(stored == a || stored == b);
}

#[tokio::test]
async fn traversal_and_malformed_keys_are_rejected() {
    let (_dir, store) = store();
    for key in [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../b",
        "a//b",
        "a/./b",
        "a/",
        "a\\b",
        "a\0b",
        ".",
    ] {
        let error = store.put_stream(key, chunks(b"x", 1), None).await.unwrap_err();
        assert!(matches!(error, StoreError::InvalidKey { .. }), "{key:?}: {error}");
        assert!(
            matches!(store.open(key, None).await, Err(StoreError::InvalidKey { .. })),
            "{key:?}"
        );
        assert!(
            matches!(store.delete(key).await, Err(StoreError::InvalidKey { .. })),
            "{key:?}"
        );
        assert!(
            matches!(store.resumable(key).await, Err(StoreError::InvalidKey { .. })),
            "{key:?}"
        );
    }
    assert!(validate_key(&"a".repeat(256)).is_err());
    assert!(validate_key("a/.ferry-tmp-123").is_err());
    assert!(validate_key("a/.hidden").is_ok());
    assert!(validate_key("datasets/ds.1/Sample_S1_L001_R1_001.fastq.gz").is_ok());
    for upload in ["", "..", "a/b", "/x"] {
        assert!(
            matches!(
                store.put_part(upload, 1, chunks(b"x", 1), 10).await,
                Err(StoreError::InvalidKey { .. })
            ),
            "{upload:?}"
        );
    }
}

#[tokio::test]
async fn multipart_assembles_with_s3_etag() {
    let (_dir, store) = store();
    let part_size = 64 * 1024;
    let content = data(3 * part_size + 1234, 5);
    let pieces: Vec<&[u8]> = content.chunks(part_size).collect();
    let mut etags = Vec::new();
    // Out of order, and part 2 uploaded twice (first with wrong bytes).
    store
        .put_part("up1", 2, chunks(b"wrong bytes", 4), part_size as u64)
        .await
        .unwrap();
    for number in [4u32, 2, 1, 3] {
        let piece = pieces[number as usize - 1];
        let outcome = store
            .put_part("up1", number, chunks(piece, 5000), part_size as u64)
            .await
            .unwrap();
        assert_eq!(outcome.size, piece.len() as u64);
        assert_eq!(outcome.md5_hex, hex::encode(Md5::digest(piece)));
        etags.push((number, format!("\"{}\"", outcome.md5_hex)));
    }
    etags.sort();
    let listed = store.list_parts("up1").await.unwrap();
    assert_eq!(listed.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(listed[1].1, part_size as u64);
    assert_eq!(listed[3].2, hex::encode(Md5::digest(pieces[3])));

    let outcome = store.complete_multipart("up1", "files/big", &etags).await.unwrap();
    let mut hasher = ferry_api::etag::EtagHasher::new(part_size as u64);
    hasher.update(&content);
    let expected = hasher.finish();
    assert_eq!(outcome.etag, expected.multipart);
    assert!(outcome.etag.ends_with("-4"));
    assert_eq!(outcome.md5_hex, expected.md5);
    assert_eq!(outcome.sha256_hex, hex::encode(sha2::Sha256::digest(&content)));
    assert_eq!(outcome.size, content.len() as u64);
    assert_eq!(read_all(store.open("files/big", None).await.unwrap()).await, content);
    assert!(store.list_parts("up1").await.unwrap().is_empty(), "staging removed");
    assert!(!store.root().unwrap().join("uploads/up1").exists());
    assert!(temp_files(&store).is_empty());
}

#[tokio::test]
async fn multipart_rejects_bad_completions_and_big_parts() {
    let (_dir, store) = store();
    let one = store.put_part("up2", 1, chunks(b"hello ", 2), 100).await.unwrap();
    let two = store.put_part("up2", 2, chunks(b"world", 2), 100).await.unwrap();

    let error = store
        .complete_multipart("up2", "out", &[(1, one.md5_hex.clone()), (2, one.md5_hex.clone())])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::PartEtagMismatch { part: 2, .. }), "{error}");
    let error = store
        .complete_multipart("up2", "out", &[(1, one.md5_hex.clone()), (3, two.md5_hex.clone())])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::MissingPart { part: 3, .. }), "{error}");
    let error = store
        .complete_multipart("up2", "out", &[(2, two.md5_hex.clone()), (1, one.md5_hex.clone())])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidPartList { .. }), "{error}");
    assert!(store.complete_multipart("up2", "out", &[]).await.is_err());
    assert_eq!(store.stat("out").await.unwrap(), None);

    let error = store
        .put_part("up2", 3, chunks(&data(101, 0), 10), 100)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::PartTooLarge { part: 3, max: 100, .. }),
        "{error}"
    );
    assert!(matches!(
        store.put_part("up2", 0, chunks(b"x", 1), 100).await,
        Err(StoreError::InvalidPartNumber { .. })
    ));
    assert!(matches!(
        store.put_part("up2", 10_001, chunks(b"x", 1), 100).await,
        Err(StoreError::InvalidPartNumber { .. })
    ));
    assert_eq!(store.list_parts("up2").await.unwrap().len(), 2);
    assert!(temp_files(&store).is_empty());

    // Only the listed parts make the object.
    let outcome = store
        .complete_multipart("up2", "out", &[(2, two.md5_hex.clone())])
        .await
        .unwrap();
    assert_eq!(outcome.size, 5);
    assert_eq!(read_all(store.open("out", None).await.unwrap()).await, b"world");

    store.put_part("up3", 1, chunks(b"abc", 1), 100).await.unwrap();
    store.abort_multipart("up3").await.unwrap();
    store.abort_multipart("up3").await.unwrap();
    assert!(store.list_parts("up3").await.unwrap().is_empty());
}

#[tokio::test]
async fn resumable_write_survives_reopen_and_stays_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let content = data(500_000, 6);
    {
        let store = BlobStore::local(&root).unwrap();
        let mut writer = store.resumable("files/9/dl").await.unwrap();
        assert_eq!(writer.offset(), 0);
        writer.append(&content[..123_456]).await.unwrap();
        writer.sync().await.unwrap();
        assert!(matches!(
            store.resumable("files/9/dl").await,
            Err(StoreError::Busy { .. })
        ));
        assert_eq!(
            store.stat("files/9/dl").await.unwrap(),
            None,
            "partial bytes are not an object"
        );
    }
    // A new store (as after a restart) continues where the last one stopped.
    let store = BlobStore::local(&root).unwrap();
    let mut writer = store.resumable("files/9/dl").await.unwrap();
    assert_eq!(writer.offset(), 123_456);
    assert_eq!(
        read_all(store.open_partial("files/9/dl").await.unwrap()).await,
        &content[..123_456]
    );
    writer.append(b"garbage").await.unwrap();
    writer.truncate_to(123_456).await.unwrap();
    assert!(writer.truncate_to(200_000).await.is_err());
    writer.append(&content[123_456..]).await.unwrap();
    assert_eq!(writer.offset(), content.len() as u64);
    assert_eq!(writer.finish().await.unwrap(), content.len() as u64);
    assert_eq!(read_all(store.open("files/9/dl", None).await.unwrap()).await, content);
    assert!(store.open_partial("files/9/dl").await.unwrap_err().is_not_found());

    // Start over and discard.
    let mut writer = store.resumable("files/9/other").await.unwrap();
    writer.append(b"abc").await.unwrap();
    writer.truncate_to(0).await.unwrap();
    assert_eq!(writer.offset(), 0);
    writer.append(b"xyz").await.unwrap();
    writer.sync().await.unwrap();
    drop(writer);
    store.delete_partial("files/9/other").await.unwrap();
    store.delete_partial("files/9/other").await.unwrap();
    assert_eq!(store.resumable("files/9/other").await.unwrap().offset(), 0);
}

#[tokio::test]
async fn urls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("by url");
    let encoded = format!("file://{}", path.display().to_string().replace(' ', "%20"));
    let store = BlobStore::from_url(&encoded).unwrap();
    assert_eq!(store.root().unwrap(), path);
    assert!(path.join("objects").is_dir());
    let plain = BlobStore::from_url(dir.path().join("plain").to_str().unwrap()).unwrap();
    assert!(plain.root().unwrap().ends_with("plain"));
    for bad in ["ftp://host/x", "file://relative/x", "", "s3://"] {
        let error = BlobStore::from_url(bad).unwrap_err();
        assert!(matches!(error, StoreError::UnsupportedUrl { .. }), "{bad}: {error}");
    }
    // S3 locations are covered by tests/s3.rs.
}

#[tokio::test]
async fn stale_temporaries_are_swept() {
    let (_dir, store) = store();
    store.put_stream("a/b/c", chunks(b"kept", 2), None).await.unwrap();
    let root = store.root().unwrap().to_path_buf();
    let old = root.join("objects/a/b/.ferry-tmp-old");
    let fresh = root.join("objects/a/.ferry-tmp-fresh");
    let staged = root.join("uploads/u1/.ferry-tmp-part");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    for path in [&old, &fresh, &staged] {
        std::fs::write(path, b"partial").unwrap();
    }
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    for path in [&old, &staged] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }
    let removed = store
        .remove_stale_temporaries(std::time::Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert!(!old.exists() && !staged.exists());
    assert!(fresh.exists());
    assert_eq!(store.stat("a/b/c").await.unwrap(), Some(4));
}
