//! The behaviour every backend must show. Each function takes a [`Harness`] and is run once per
//! backend by `for_each_backend!`.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use ferry_store::{BlobReader, Expect, StoreError, validate_key};
use futures_util::{StreamExt, stream};
use md5::{Digest, Md5};

use crate::harness::{Harness, PART_SIZE};

pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 13) as u8))
        .collect()
}

pub fn chunks(data: &[u8], size: usize) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + use<> {
    let pieces: Vec<io::Result<Bytes>> = data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(pieces)
}

pub async fn read_all(reader: BlobReader) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = reader.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// More than two parts of an S3 multipart write.
const BIG: usize = 2 * PART_SIZE + 1_000_003;

pub async fn put_open_range_stat_delete(h: &Harness) {
    let store = &h.store;
    for (key, len) in [("files/12/3456789", 1_000_003), ("files/12/big", BIG)] {
        let content = data(len, 1);
        let outcome = store
            .put_stream(key, chunks(&content, 70_000), Some(content.len() as u64))
            .await
            .unwrap();
        assert_eq!(outcome.size, content.len() as u64);
        assert_eq!(outcome.md5_hex, hex::encode(Md5::digest(&content)));
        assert_eq!(outcome.sha256_hex, hex::encode(sha2::Sha256::digest(&content)));
        assert_eq!(store.stat(key).await.unwrap(), Some(content.len() as u64));
        assert!(store.exists(key).await.unwrap());

        let reader = store.open(key, None).await.unwrap();
        assert_eq!((reader.size, reader.range.clone()), (len as u64, 0..len as u64));
        assert_eq!(read_all(reader).await, content);

        let reader = store.open(key, Some(500_000..500_010)).await.unwrap();
        assert_eq!((reader.size, reader.range.clone()), (len as u64, 500_000..500_010));
        assert_eq!(read_all(reader).await, &content[500_000..500_010]);
        // The end is clamped to the size; a start at the end reads nothing; past it is refused.
        let start = len as u64 - 3;
        let reader = store.open(key, Some(start..start + 1_000_000)).await.unwrap();
        assert_eq!(reader.range, start..len as u64);
        assert_eq!(read_all(reader).await, &content[len - 3..]);
        let reader = store.open(key, Some(len as u64..len as u64 + 5)).await.unwrap();
        assert!(read_all(reader).await.is_empty());
        let reader = store.open(key, Some(7..7)).await.unwrap();
        assert_eq!((reader.size, reader.range.clone()), (len as u64, 7..7));
        assert!(read_all(reader).await.is_empty());
        for bad in [len as u64 + 1..len as u64 + 5, std::ops::Range { start: 10, end: 5 }] {
            let error = store.open(key, Some(bad.clone())).await.unwrap_err();
            assert!(
                matches!(error, StoreError::RangeNotSatisfiable { size, .. } if size == len as u64),
                "{bad:?}: {error}"
            );
        }
    }
    // s3s-fs answers HEAD on a "folder" with 500 (S3 and moto say 404).
    if !h.is_s3s_fs() {
        assert!(!store.exists("files/12").await.unwrap(), "a folder is not an object");
    }
    assert_eq!(h.visible().await, ["files/12/3456789", "files/12/big"]);

    // Replacing an object, large by small.
    let other = data(10, 9);
    store.put_stream("files/12/big", chunks(&other, 3), None).await.unwrap();
    assert_eq!(read_all(store.open("files/12/big", None).await.unwrap()).await, other);

    for key in ["files/12/3456789", "files/12/big"] {
        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert_eq!(store.stat(key).await.unwrap(), None);
        let missing = store.open(key, None).await.unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert!(missing.to_string().contains(key), "{missing}");
        let missing = store.open(key, Some(0..10)).await.unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }
    assert!(h.visible().await.is_empty(), "{:?}", h.visible().await);
}

pub async fn empty_object(h: &Harness) {
    let store = &h.store;
    let outcome = store.put_stream("empty", chunks(&[], 1), Some(0)).await.unwrap();
    assert_eq!(outcome.md5_hex, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(store.stat("empty").await.unwrap(), Some(0));
    let reader = store.open("empty", Some(0..0)).await.unwrap();
    assert!(read_all(reader).await.is_empty());
    let reader = store.open("empty", None).await.unwrap();
    assert_eq!(reader.size, 0);
    assert!(read_all(reader).await.is_empty());
}

pub async fn failures_leave_nothing_visible(h: &Harness) {
    let store = &h.store;
    let good = data(1000, 2);
    store.put_stream("keep/me", chunks(&good, 100), None).await.unwrap();

    // The stream breaks off, early (one PUT) and after several parts (multipart): nothing
    // stored, the old object untouched.
    for before in [Bytes::from_static(b"first part"), Bytes::from(data(BIG, 3))] {
        let received = before.len() as u64;
        let broken = stream::iter(vec![
            Ok(before),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer went away")),
        ]);
        let error = store.put_stream("keep/me", broken, None).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Source { received: r, .. } if r == received),
            "{error}"
        );
        assert!(error.to_string().contains("peer went away"));
        assert_eq!(read_all(store.open("keep/me", None).await.unwrap()).await, good);
    }

    // Too short and too long against the announced size, small and large.
    for content in [good.clone(), data(BIG, 4)] {
        let len = content.len() as u64;
        let error = store
            .put_stream("new/a", chunks(&content, 100_000), Some(len + 1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::SizeMismatch { expected, actual, .. } if expected == len + 1 && actual == len),
            "{error}"
        );
        let error = store
            .put_stream("new/a", chunks(&content, 100_000), Some(len - 1))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::SizeMismatch { expected, .. } if expected == len - 1),
            "{error}"
        );
        // Wrong MD5.
        let expect = Expect {
            size: Some(len),
            md5_hex: Some("\"00000000000000000000000000000000\"".to_string()),
        };
        let error = store
            .put_stream_checked("new/a", chunks(&content, 100_000), &expect)
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::ChecksumMismatch { .. }), "{error}");
    }
    let big = data(BIG, 5);
    for (key, content) in [("new/b", &good), ("new/c", &big)] {
        let expect = Expect {
            size: Some(content.len() as u64),
            md5_hex: Some(hex::encode(Md5::digest(content)).to_uppercase()),
        };
        store
            .put_stream_checked(key, chunks(content, 100_000), &expect)
            .await
            .unwrap();
    }
    assert_eq!(store.stat("new/a").await.unwrap(), None);
    assert_eq!(h.visible().await, ["keep/me", "new/b", "new/c"]);
    assert_eq!(read_all(store.open("new/c", None).await.unwrap()).await, big);
    h.assert_no_pending_uploads().await;
}

pub async fn cancelled_write_leaves_nothing(h: &Harness) {
    let store = &h.store;
    // Cancelled before one part, and after parts were already sent.
    for first in [Bytes::from_static(b"some bytes"), Bytes::from(data(BIG, 6))] {
        let endless = stream::iter(vec![Ok::<_, io::Error>(first)]).chain(stream::pending());
        let put = store.put_stream("cancel/me", endless, None);
        assert!(tokio::time::timeout(Duration::from_millis(1500), put).await.is_err());
        assert_eq!(store.stat("cancel/me").await.unwrap(), None);
    }
    assert!(h.visible().await.is_empty(), "{:?}", h.visible().await);
    h.assert_no_pending_uploads().await;
}

pub async fn concurrent_writes_to_one_key_leave_one_whole_object(h: &Harness) {
    let store = &h.store;
    let (a, b) = (data(300_000, 3), data(PART_SIZE + 200_000, 4));
    let (ra, rb) = tokio::join!(
        store.put_stream("same", chunks(&a, 1000), None),
        store.put_stream("same", chunks(&b, 50_000), None)
    );
    ra.unwrap();
    rb.unwrap();
    let stored = read_all(store.open("same", None).await.unwrap()).await;
    assert!(stored == a || stored == b);
    assert_eq!(h.visible().await, ["same"]);
}

pub async fn malformed_keys_are_rejected(h: &Harness) {
    let store = &h.store;
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
            matches!(store.stat(key).await, Err(StoreError::InvalidKey { .. })),
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
    for upload in ["", "..", "a/b", "/x"] {
        assert!(
            matches!(
                store.put_part(upload, 1, chunks(b"x", 1), 10).await,
                Err(StoreError::InvalidKey { .. })
            ),
            "{upload:?}"
        );
    }
    // Keys with spaces and unusual (but legal) characters round-trip.
    for key in [
        "datasets/ds.1/Sample 1_S1_L001_R1_001.fastq.gz",
        "a/%20b/c~d#e?f",
        "ünï/çødé",
    ] {
        store.put_stream(key, chunks(key.as_bytes(), 3), None).await.unwrap();
        assert_eq!(read_all(store.open(key, None).await.unwrap()).await, key.as_bytes());
        store.delete(key).await.unwrap();
    }
    if h.is_s3() {
        // The S3 staging area cannot be reached as an object.
        for key in [".uploads", ".uploads/x/00001.0123456789abcdef0123456789abcdef"] {
            let error = store.put_stream(key, chunks(b"x", 1), None).await.unwrap_err();
            assert!(matches!(error, StoreError::InvalidKey { .. }), "{key:?}: {error}");
            assert!(
                matches!(store.open(key, None).await, Err(StoreError::InvalidKey { .. })),
                "{key:?}"
            );
        }
    }
    assert!(h.visible().await.is_empty(), "{:?}", h.visible().await);
}

pub async fn multipart_assembles_with_s3_etag(h: &Harness) {
    let store = &h.store;
    // Parts of one S3 part size plus a little: each part is itself streamed in several parts.
    let part_size = PART_SIZE + 4096;
    let content = data(2 * part_size + 1234, 5);
    let pieces: Vec<&[u8]> = content.chunks(part_size).collect();
    let mut etags = Vec::new();
    // Out of order, and part 2 uploaded twice (first with wrong bytes).
    store
        .put_part("up1", 2, chunks(b"wrong bytes", 4), part_size as u64)
        .await
        .unwrap();
    for number in [3u32, 2, 1] {
        let piece = pieces[number as usize - 1];
        let outcome = store
            .put_part("up1", number, chunks(piece, 100_000), part_size as u64)
            .await
            .unwrap();
        assert_eq!(outcome.part_number, number);
        assert_eq!(outcome.size, piece.len() as u64);
        assert_eq!(outcome.md5_hex, hex::encode(Md5::digest(piece)));
        etags.push((number, format!("\"{}\"", outcome.md5_hex)));
    }
    etags.sort();
    let listed = store.list_parts("up1").await.unwrap();
    assert_eq!(listed.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(listed[1].1, part_size as u64);
    assert_eq!(listed[1].2, hex::encode(Md5::digest(pieces[1])));
    assert_eq!(listed[2].1, 1234);
    let staged = h.visible().await;
    assert_eq!(
        staged.len(),
        3,
        "one object per part, older uploads removed: {staged:?}"
    );
    assert!(
        staged.iter().all(|name| name.starts_with(".uploads/up1/")),
        "{staged:?}"
    );

    let outcome = store.complete_multipart("up1", "files/big", &etags).await.unwrap();
    let mut hasher = ferry_api::etag::EtagHasher::new(part_size as u64);
    hasher.update(&content);
    let expected = hasher.finish();
    assert_eq!(outcome.etag, expected.multipart);
    assert!(outcome.etag.ends_with("-3"));
    assert_eq!(outcome.md5_hex, expected.md5);
    assert_eq!(outcome.sha256_hex, hex::encode(sha2::Sha256::digest(&content)));
    assert_eq!(outcome.size, content.len() as u64);
    assert_eq!(read_all(store.open("files/big", None).await.unwrap()).await, content);
    assert!(store.list_parts("up1").await.unwrap().is_empty(), "staging removed");
    assert_eq!(h.visible().await, ["files/big"]);

    // Small parts (each one PUT) assemble the same way.
    let small = data(3 * 64 * 1024 + 17, 8);
    let mut etags = Vec::new();
    for (index, piece) in small.chunks(64 * 1024).enumerate() {
        let outcome = store
            .put_part("up2", index as u32 + 1, chunks(piece, 5000), 64 * 1024)
            .await
            .unwrap();
        etags.push((outcome.part_number, outcome.md5_hex));
    }
    let outcome = store.complete_multipart("up2", "files/small", &etags).await.unwrap();
    let mut hasher = ferry_api::etag::EtagHasher::new(64 * 1024);
    hasher.update(&small);
    assert_eq!(outcome.etag, hasher.finish().multipart);
    assert_eq!(read_all(store.open("files/small", None).await.unwrap()).await, small);
    assert_eq!(h.visible().await, ["files/big", "files/small"]);
    h.assert_no_pending_uploads().await;
}

pub async fn multipart_rejects_bad_completions_and_big_parts(h: &Harness) {
    let store = &h.store;
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

    // Too large: small, and large enough to have been streamed in parts.
    for (len, max) in [(101, 100), (PART_SIZE + 100_001, PART_SIZE as u64 + 100_000)] {
        let error = store
            .put_part("up2", 3, chunks(&data(len, 0), 50_000), max)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::PartTooLarge { part: 3, max: m, .. } if m == max),
            "{error}"
        );
    }
    // A part stream that fails is not kept.
    let broken = stream::iter(vec![
        Ok(Bytes::from(data(PART_SIZE + 10, 1))),
        Err(io::Error::other("disconnected")),
    ]);
    let error = store
        .put_part("up2", 3, broken, 10 * PART_SIZE as u64)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Source { .. }), "{error}");
    assert!(matches!(
        store.put_part("up2", 0, chunks(b"x", 1), 100).await,
        Err(StoreError::InvalidPartNumber { .. })
    ));
    assert!(matches!(
        store.put_part("up2", 10_001, chunks(b"x", 1), 100).await,
        Err(StoreError::InvalidPartNumber { .. })
    ));
    assert_eq!(store.list_parts("up2").await.unwrap().len(), 2);
    assert_eq!(h.visible().await.len(), 2, "{:?}", h.visible().await);

    // Only the listed parts make the object.
    let outcome = store
        .complete_multipart("up2", "out", &[(2, two.md5_hex.clone())])
        .await
        .unwrap();
    assert_eq!(outcome.size, 5);
    assert_eq!(read_all(store.open("out", None).await.unwrap()).await, b"world");
    assert_eq!(h.visible().await, ["out"]);

    // The latest upload of a part wins, however quickly they follow each other.
    for round in 0..6u8 {
        let content = data(50 + round as usize, round);
        let outcome = store.put_part("up3", 1, chunks(&content, 7), 100).await.unwrap();
        assert_eq!(outcome.md5_hex, hex::encode(Md5::digest(&content)));
        let listed = store.list_parts("up3").await.unwrap();
        assert_eq!(
            listed,
            [(1, content.len() as u64, outcome.md5_hex.clone())],
            "round {round}"
        );
    }
    store.abort_multipart("up3").await.unwrap();
    store.abort_multipart("up3").await.unwrap();
    assert!(store.list_parts("up3").await.unwrap().is_empty());
    assert!(store.list_parts("never").await.unwrap().is_empty());
    assert_eq!(h.visible().await, ["out"]);
    h.assert_no_pending_uploads().await;
}

pub async fn resumable_write_survives_reopen_and_stays_invisible(h: &Harness) {
    let content = data(PART_SIZE + 500_000, 6);
    {
        let store = h.reopen();
        let mut writer = store.resumable("files/9/dl").await.unwrap();
        assert_eq!(writer.offset(), 0);
        assert_eq!(writer.key(), "files/9/dl");
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
    let store = h.reopen();
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
    assert!(h.visible().await.is_empty());
    assert_eq!(writer.finish().await.unwrap(), content.len() as u64);
    assert_eq!(read_all(store.open("files/9/dl", None).await.unwrap()).await, content);
    assert!(store.open_partial("files/9/dl").await.unwrap_err().is_not_found());
    assert_eq!(h.visible().await, ["files/9/dl"]);

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
    let writer = store.resumable("files/9/other").await.unwrap();
    assert_eq!(writer.offset(), 0);
    writer.discard().await.unwrap();
    assert_eq!(h.visible().await, ["files/9/dl"]);
}

pub async fn presigned_urls(h: &Harness) {
    let store = &h.store;
    let content = data(100_000, 7);
    store
        .put_stream("share/me", chunks(&content, 10_000), None)
        .await
        .unwrap();
    let url = store
        .presigned_get_url("share/me", Duration::from_secs(300), None)
        .await
        .unwrap();
    assert!(matches!(
        store.presigned_get_url("../x", Duration::from_secs(300), None).await,
        Err(StoreError::InvalidKey { .. })
    ));
    let Some(url) = url else {
        assert!(!h.is_s3(), "S3 stores give presigned URLs");
        return;
    };
    let (status, head, body) = http_get(&url, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, content);
    // Ranges work on it, as on BaseSpace's store URLs.
    let (status, _, body) = http_get(&url, Some("bytes=10-19")).await;
    assert_eq!(status, 206);
    assert_eq!(body, &content[10..20]);
    assert!(!head.to_ascii_lowercase().contains("content-disposition"), "{head}");
    // Named as an attachment when asked.
    let named = store
        .presigned_get_url(
            "share/me",
            Duration::from_secs(300),
            Some("Sample 1_S1_R1_001.fastq.gz"),
        )
        .await
        .unwrap()
        .unwrap();
    let (status, head, body) = http_get(&named, None).await;
    assert_eq!((status, body.len()), (200, content.len()));
    assert!(
        head.contains("attachment; filename=\"Sample 1_S1_R1_001.fastq.gz\""),
        "{head}"
    );
    // The signature covers the object: another key with the same query is refused (moto does
    // not check signatures at all).
    if h.is_s3s_fs() {
        store
            .put_stream("share/you", chunks(b"private", 3), None)
            .await
            .unwrap();
        let mut other = url.clone();
        other.set_path(&url.path().replace("share/me", "share/you"));
        let (status, _, _) = http_get(&other, None).await;
        assert_eq!(status, 403);
    }
}

/// A plain HTTP/1.0 GET (no client library), returning the status, the head and the body.
async fn http_get(url: &url::Url, range: Option<&str>) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.host_str().unwrap();
    let port = url.port_or_known_default().unwrap();
    let mut socket = tokio::net::TcpStream::connect((host, port)).await.unwrap();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let range = range.map(|range| format!("Range: {range}\r\n")).unwrap_or_default();
    let request = format!("GET {target} HTTP/1.0\r\nHost: {host}:{port}\r\n{range}\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}
