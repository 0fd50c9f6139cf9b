//! What only the local backend has: `file://` locations, its names for temporary files, and the
//! sweep of temporaries a crash left behind. Everything both backends do is checked once for each
//! by the behaviour suite in `tests/s3.rs`.

use std::io;

use bytes::Bytes;
use futures_util::stream;

use super::*;

fn chunks(data: &[u8], size: usize) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + use<> {
    let pieces: Vec<io::Result<Bytes>> = data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(pieces)
}

#[test]
fn temporary_names_are_not_keys_but_hidden_names_are() {
    assert!(validate_key("a/.ferry-tmp-123").is_err());
    assert!(validate_key("a/.hidden").is_ok());
    assert!(validate_key("datasets/ds.1/Sample_S1_L001_R1_001.fastq.gz").is_ok());
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
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path().join("store")).unwrap();
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

/// Every folder and file the store makes, and an older store opened again, only its user can use.
#[cfg(unix)]
#[tokio::test]
async fn folders_are_0700_and_files_0600_including_parts_partials_and_older_stores() {
    use std::os::unix::fs::PermissionsExt;
    fn modes(dir: &std::path::Path, found: &mut Vec<(std::path::PathBuf, u32)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            found.push((entry.path(), mode));
            if entry.file_type().unwrap().is_dir() {
                modes(&entry.path(), found);
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = BlobStore::local(&root).unwrap();
    store.put_stream("a/b/whole", chunks(b"whole", 2), None).await.unwrap();
    store.put_part("up1", 1, chunks(b"part one", 3), 100).await.unwrap();
    let part = store.put_part("up2", 1, chunks(b"assembled", 3), 100).await.unwrap();
    store
        .complete_multipart("up2", "c/assembled", &[(1, part.md5_hex)])
        .await
        .unwrap();
    let mut partial = store.resumable("d/resumed").await.unwrap();
    partial.append(b"half").await.unwrap();

    let mut found = vec![(
        root.clone(),
        std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
    )];
    modes(&root, &mut found);
    let files = found.iter().filter(|(path, _)| path.is_file()).count();
    assert!(
        files >= 4,
        "the object, the part, the assembled object and the partial file: {found:?}"
    );
    for (path, mode) in &found {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{} is {mode:o}", path.display());
    }
    drop(partial);

    // A store left by an older version (0755 folders, 0644 files) is tightened when opened.
    for (path, _) in &found {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    drop(store);
    let _store = BlobStore::local(&root).unwrap();
    let mut again = vec![(
        root.clone(),
        std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
    )];
    modes(&root, &mut again);
    for (path, mode) in &again {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{} is {mode:o} after reopening", path.display());
    }
}
