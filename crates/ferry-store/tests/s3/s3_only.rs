//! Behaviour only the S3 backend has: configuration, errors, staging clean-up.

use std::time::Duration;

use ferry_store::{BlobStore, S3Options, StoreError};
use object_store::ObjectStoreExt;

use crate::harness::Harness;
use crate::suite::{chunks, data, read_all};

#[test]
fn options_from_the_aws_environment() {
    let vars = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ENDPOINT", "http://127.0.0.1:9000"),
        ("AWS_ALLOW_HTTP", "TRUE"),
        ("AWS_SESSION_TOKEN", ""),
    ];
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let options = S3Options::from_lookup(lookup);
    assert_eq!(options.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
    assert_eq!(options.secret_access_key.as_deref(), Some("very-secret"));
    assert_eq!(options.region.as_deref(), Some("eu-west-1"));
    assert_eq!(options.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(options.allow_http);
    assert!(!options.virtual_hosted);
    assert_eq!(options.session_token, None, "empty values count as unset");
    let shown = format!("{options:?}");
    assert!(!shown.contains("very-secret"), "{shown}");

    // AWS_REGION wins over AWS_DEFAULT_REGION, AWS_ENDPOINT_URL over AWS_ENDPOINT.
    let vars = [
        ("AWS_REGION", "us-west-2"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL", "https://s3.example.org"),
        ("AWS_ENDPOINT", "http://other"),
    ];
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let options = S3Options::from_lookup(lookup);
    assert_eq!(options.region.as_deref(), Some("us-west-2"));
    assert_eq!(options.endpoint.as_deref(), Some("https://s3.example.org"));
    assert!(!options.allow_http);
}

#[test]
fn s3_urls() {
    let options = S3Options {
        endpoint: Some("http://127.0.0.1:1".into()),
        access_key_id: Some("a".into()),
        secret_access_key: Some("b".into()),
        staging_dir: Some(std::env::temp_dir().join("ferry-store-url-test")),
        ..S3Options::default()
    };
    for (url, bucket, prefix) in [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://my-bucket.v2/ferry/hub/", "my-bucket.v2", "ferry/hub"),
        ("s3://bucket/with%20space", "bucket", "with space"),
    ] {
        let Ok(BlobStore::S3(store)) = BlobStore::from_url_with(url, &options) else {
            panic!("{url} is not an S3 store");
        };
        assert_eq!((store.bucket(), store.prefix()), (bucket, prefix), "{url}");
        assert!(store.url().starts_with(&format!("s3://{bucket}")), "{}", store.url());
        let full = store.object_key("files/1").unwrap();
        assert_eq!(
            full,
            if prefix.is_empty() {
                "files/1".to_string()
            } else {
                format!("{prefix}/files/1")
            }
        );
        let store = BlobStore::S3(store);
        assert!(store.root().is_none());
        assert_eq!(
            store.location(),
            format!(
                "{} at http://127.0.0.1:1",
                url.trim_end_matches('/').replace("%20", " ")
            )
        );
    }
    for bad in [
        "s3://",
        "s3:///prefix",
        "s3://Bad Bucket/x",
        "s3://bucket/a/../b",
        "s3://bucket/x?region=eu",
        "s3://bucket//x",
    ] {
        let error = BlobStore::from_url_with(bad, &options).unwrap_err();
        assert!(matches!(error, StoreError::UnsupportedUrl { .. }), "{bad}: {error}");
    }
    let half = S3Options {
        access_key_id: Some("a".into()),
        ..options.clone()
    };
    let half = S3Options {
        secret_access_key: None,
        ..half
    };
    let error = BlobStore::from_url_with("s3://bucket", &half).unwrap_err();
    assert!(error.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{error}");
    assert!(matches!(
        BlobStore::from_url_with("gs://bucket", &options),
        Err(StoreError::UnsupportedUrl { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_from_url_reaches_the_server() {
    let harness = Harness::s3().await;
    let target = harness.s3.as_ref().unwrap();
    let url = format!("s3://{}/{}/by-url", target.bucket, target.prefix);
    let store = BlobStore::from_url_with(&url, &target.options).unwrap();
    store.put_stream("a/b", chunks(b"hello", 2), Some(5)).await.unwrap();
    assert_eq!(harness.visible().await, ["by-url/a/b"]);
    assert_eq!(
        read_all(harness.store.open("by-url/a/b", None).await.unwrap()).await,
        b"hello"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_credentials_say_what_to_check() {
    let harness = Harness::s3().await;
    let target = harness.s3.as_ref().unwrap();
    let nowhere = S3Options {
        endpoint: Some("http://127.0.0.1:1".into()),
        ..target.options.clone()
    };
    let store = BlobStore::s3(&target.bucket, "p", &nowhere).unwrap();
    let started = std::time::Instant::now();
    let error = store.stat("x").await.unwrap_err();
    assert!(matches!(error, StoreError::Remote { .. }), "{error}");
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(120));

    if !harness.is_s3s_fs() {
        return; // moto accepts any credentials.
    }
    let options = S3Options {
        secret_access_key: Some("not-the-secret".into()),
        ..target.options.clone()
    };
    let store = BlobStore::s3(&target.bucket, &target.prefix, &options).unwrap();
    let error = store.put_stream("x", chunks(b"data", 4), None).await.unwrap_err();
    assert!(matches!(error, StoreError::Remote { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("\"x\""), "{message}");
    assert!(
        message.contains(&format!("s3://{}/{}", target.bucket, target.prefix)),
        "{message}"
    );
    assert!(message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
    assert!(!message.contains("not-the-secret"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stale_temporary_parts_are_swept() {
    let harness = Harness::s3().await;
    let target = harness.s3.as_ref().unwrap();
    let raw = target.raw();
    let temp = object_store::path::Path::parse(format!("{}/.uploads/u1/.tmp-killed", target.prefix)).unwrap();
    raw.put(&temp, data(10, 1).into()).await.unwrap();
    harness.store.put_part("u1", 1, chunks(b"kept", 2), 100).await.unwrap();
    harness.store.put_stream("obj", chunks(b"kept", 2), None).await.unwrap();
    assert_eq!(
        harness
            .store
            .remove_stale_temporaries(Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "a fresh temporary may belong to a running upload"
    );
    assert_eq!(harness.store.remove_stale_temporaries(Duration::ZERO).await.unwrap(), 1);
    let left = harness.visible().await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"obj".to_string()) && left.iter().any(|n| n.starts_with(".uploads/u1/00001/")));
}

#[tokio::test]
async fn s3_presigned_urls_follow_the_addressing_style() {
    let options = S3Options {
        endpoint: Some("https://s3.example.org/".into()),
        region: Some("eu-central-1".into()),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some("secret".into()),
        ..S3Options::default()
    };
    let path_style = BlobStore::from_url_with("s3://data/hub", &options).unwrap();
    let url = path_style
        .presigned_get_url("files/1", Duration::from_secs(60), None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.as_str().starts_with("https://s3.example.org/data/hub/files/1?"),
        "{url}"
    );
    assert!(url.query().unwrap().contains("X-Amz-Signature="), "{url}");
    assert!(url.query().unwrap().contains("X-Amz-Expires=60"), "{url}");
    assert!(!url.as_str().contains("secret"), "{url}");

    let virtual_hosted = S3Options {
        virtual_hosted: true,
        ..options
    };
    let store = BlobStore::from_url_with("s3://data/hub", &virtual_hosted).unwrap();
    let url = store
        .presigned_get_url("files/1", Duration::from_secs(60), None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        url.as_str().starts_with("https://data.s3.example.org/hub/files/1?"),
        "{url}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_bucket_is_named() {
    let harness = Harness::s3().await;
    if harness.is_s3s_fs() {
        return; // s3s-fs creates a missing bucket on PUT and calls it NoSuchKey on GET.
    }
    let target = harness.s3.as_ref().unwrap();
    let store = BlobStore::s3("no-such-bucket-here", "p", &target.options).unwrap();
    let error = store.open("x", None).await.unwrap_err();
    assert!(
        !error.is_not_found(),
        "a missing bucket is not a missing object: {error}"
    );
    assert!(error.to_string().contains("does the bucket exist?"), "{error}");
    let error = store.put_stream("x", chunks(b"data", 4), None).await.unwrap_err();
    assert!(matches!(error, StoreError::Remote { .. }), "{error}");
    assert!(error.to_string().contains("does the bucket exist?"), "{error}");
    assert!(error.to_string().contains("s3://no-such-bucket-here/p"), "{error}");
    let big = data(super::harness::PART_SIZE + 10, 1);
    let error = store.put_stream("x", chunks(&big, 100_000), None).await.unwrap_err();
    assert!(error.to_string().contains("does the bucket exist?"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_large_writes_send_parts_before_the_input_ends() {
    use bytes::Bytes;
    use futures_util::StreamExt;
    let harness = Harness::s3().await;
    let Some(server) = harness.s3.as_ref().and_then(|target| target.server.as_ref()) else {
        return; // Needs to see the in-process server's unfinished parts.
    };
    let part = super::harness::PART_SIZE;
    let content = data(6 * part + 12_345, 9);
    let (head, tail) = content.split_at(3 * part);
    let root = server.root.clone();
    // The input stalls after three parts until the server holds at least one of them: a store
    // that buffered the whole input before sending would never get past this point.
    let gate = futures_util::stream::once(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let parts = std::fs::read_dir(&root)
                .unwrap()
                .filter(|entry| {
                    entry
                        .as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(".upload_id-")
                })
                .count();
            if parts > 0 {
                return Err(std::io::Error::other("skip"));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "no part reached the server before the input ended",
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .filter_map(|gate: std::io::Result<Bytes>| async move {
        match gate {
            Err(error) if error.to_string() == "skip" => None,
            other => Some(other),
        }
    });
    let input = chunks(head, 256 * 1024).chain(gate).chain(chunks(tail, 256 * 1024));
    let outcome = harness
        .store
        .put_stream("streamed", input, Some(content.len() as u64))
        .await
        .unwrap();
    assert_eq!(outcome.size, content.len() as u64);
    assert_eq!(
        read_all(harness.store.open("streamed", None).await.unwrap()).await,
        content
    );
    harness.assert_no_pending_uploads().await;
}
