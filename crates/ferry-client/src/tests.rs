//! Client behaviour against small local servers shaped like the real service.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::TryStreamExt;
use serde_json::json;

use crate::{Client, ClientError, ClientOptions, DatasetQuery};

#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    auth_on_content: std::sync::Mutex<Vec<Option<String>>>,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{address}")
}

fn fast(url: &str) -> Client {
    Client::with_options(
        url,
        "token123",
        ClientOptions {
            retries: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

/// 25 datasets, at most 7 per page whatever the Limit, with fields the model does not know and
/// most fields omitted.
async fn datasets(Query(query): Query<std::collections::HashMap<String, String>>) -> Response {
    let offset: usize = query.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let items: Vec<_> = (offset..25.min(offset + 7))
        .map(|i| json!({"Id": format!("ds.{i}"), "Name": format!("S{i}_L001"), "Unknown": {"x": [1, 2]}, "TotalSize": i}))
        .collect();
    let count = items.len();
    axum::Json(
        json!({"Items": items, "Paging": {"DisplayedCount": count, "TotalCount": 25, "Offset": offset, "Limit": 7}}),
    )
    .into_response()
}

async fn v1_projects(Query(query): Query<std::collections::HashMap<String, String>>) -> Response {
    let offset: usize = query.get("Offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let items: Vec<_> = (offset..3.min(offset + 2))
        .map(|i| json!({"Id": i, "Name": format!("P{i}")}))
        .collect();
    axum::Json(json!({"Response": {"Items": items, "TotalCount": 3, "Offset": offset, "Limit": 2, "DisplayedCount": items.len()},
        "ResponseStatus": {}, "Notifications": []}))
    .into_response()
}

#[tokio::test]
async fn paging_reads_every_page_even_when_the_server_returns_fewer() {
    let url = serve(
        Router::new()
            .route("/v2/datasets", get(datasets))
            .route("/v1pre3/users/current/projects", get(v1_projects)),
    )
    .await;
    let client = fast(&url);
    let all: Vec<_> = client.datasets(&DatasetQuery::default()).try_collect().await.unwrap();
    assert_eq!(all.len(), 25);
    assert_eq!(all[24].id, "ds.24");
    assert_eq!(all[3].total_size, Some(3));
    let projects: Vec<_> = client.projects(None).try_collect().await.unwrap();
    assert_eq!(
        projects.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    let named: Vec<_> = client.projects(Some("P1")).try_collect().await.unwrap();
    assert_eq!(named.len(), 1, "names match exactly");
}

#[tokio::test]
async fn both_error_shapes_become_helpful_errors() {
    let router = Router::new()
        .route(
            "/v2/projects/{id}",
            get(|| async {
                (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({"ResponseStatus": {"ErrorCode": "BASESPACE.COMMON.INSUFFICIENT_RESOURCE_PERMISSIONS",
                        "Message": "Sorry but this requires READ access to this Project resource."}, "Notifications": []})),
                )
            }),
        )
        .route(
            "/v2/datasets/{id}",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"ErrorCode": "BASESPACE.DATASETS.NOT_FOUND", "ErrorMessage": "No dataset ds.1", "RequestId": "r-1"})),
                )
            }),
        )
        .route(
            "/v2/users/current",
            get(|| async {
                (StatusCode::UNAUTHORIZED, axum::Json(json!({"ErrorCode": "BASESPACE.COMMON.AUTHENTICATION_FAILURE", "ErrorMessage": "Invalid token"})))
            }),
        )
        .route("/v2/runs/{id}", get(|| async { (StatusCode::CONFLICT, "plain text body") }));
    let client = fast(&serve(router).await);
    match client.project("1").await.unwrap_err() {
        ClientError::Forbidden { code, message, .. } => {
            assert_eq!(code, "BASESPACE.COMMON.INSUFFICIENT_RESOURCE_PERMISSIONS");
            assert!(message.contains("READ access"));
        }
        other => panic!("{other:?}"),
    }
    match client.dataset("ds.1").await.unwrap_err() {
        ClientError::NotFound { message, what, .. } => {
            assert_eq!(message, "No dataset ds.1");
            assert_eq!(what, "/v2/datasets/ds.1");
        }
        other => panic!("{other:?}"),
    }
    let unauthorized = client.current_user().await.unwrap_err();
    assert!(unauthorized.is_unauthorized());
    assert!(unauthorized.to_string().contains("bs auth --force"), "{unauthorized}");
    let conflict = client.run("9").await.unwrap_err();
    assert_eq!(conflict.status(), Some(409));
    assert!(conflict.to_string().contains("plain text body"), "{conflict}");
}

#[tokio::test]
async fn idempotent_calls_retry_on_503_and_429_but_creations_do_not() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/v2/biosamples/{id}",
            get(|State(seen): State<Arc<Seen>>| async move {
                match seen.calls.fetch_add(1, Ordering::SeqCst) {
                    0 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    1 => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "0")]).into_response(),
                    _ => axum::Json(json!({"Id": "b1", "BioSampleName": "S"})).into_response(),
                }
            }),
        )
        .route(
            "/v2/biosamples",
            post(|State(seen): State<Arc<Seen>>| async move {
                seen.calls.fetch_add(100, Ordering::SeqCst);
                StatusCode::SERVICE_UNAVAILABLE
            }),
        )
        .with_state(seen.clone());
    let client = fast(&serve(router).await);
    let biosample = client.biosample("b1").await.unwrap();
    assert_eq!(biosample.bio_sample_name.as_deref(), Some("S"));
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
    let err = client.create_biosample("S", "p").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        103,
        "a POST that creates is sent once"
    );
}

#[tokio::test]
async fn content_urls_never_get_the_token_on_another_host() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/v2/files/{id}/content",
            get(|headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let port = host.rsplit(':').next().unwrap_or_default().to_string();
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("http://localhost:{port}/blob"))],
                )
                    .into_response()
            }),
        )
        .route(
            "/blob",
            get(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string);
                seen.auth_on_content.lock().unwrap().push(auth);
                "bytes"
            }),
        )
        .with_state(seen.clone());
    let client = fast(&serve(router).await);
    let meta = client.content_url("7").await.unwrap();
    assert!(meta.href_content.starts_with("http://localhost:") && meta.href_content.ends_with("/blob"));
    let body = client
        .get_range(&meta.href_content, None)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "bytes");
    assert_eq!(*seen.auth_on_content.lock().unwrap(), vec![None]);
    assert!(client.is_api_host(&format!("{}/v2/x", client.api_server())));
}

#[tokio::test]
async fn parallel_download_falls_back_when_ranges_are_ignored_and_verifies_multipart_etags() {
    use crate::download::{DownloadOptions, Verification, download_file};
    let data: Arc<Vec<u8>> = Arc::new((0..(20usize << 20)).map(|i| (i * 7 % 253) as u8).collect());
    let mut hasher = ferry_api::etag::EtagHasher::new(ferry_api::BASESPACE_PART_SIZE);
    hasher.update(&data);
    let etag = hasher.finish().multipart;
    let served = data.clone();
    let router = Router::new()
        .route(
            "/v2/files/{id}/content",
            get(|headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                axum::Json(json!({"Response": {"HrefContent": format!("http://{host}/blob"), "SupportsRange": true}}))
            }),
        )
        .route("/blob", get(move || async move { served.as_ref().clone() }));
    let client = fast(&serve(router).await);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big.bin");
    let file = ferry_api::File {
        id: "1".into(),
        name: Some("big.bin".into()),
        size: Some(data.len() as i64),
        etag: Some(etag),
        ..Default::default()
    };
    let options = DownloadOptions {
        parallel_threshold: 1 << 20,
        chunk_size: 8 << 20,
        ..DownloadOptions::default()
    };
    let outcome = download_file(&client, &file, &dest, &options).await.unwrap();
    assert_eq!(outcome.verified, Verification::MultipartEtag);
    assert_eq!(std::fs::read(&dest).unwrap(), *data);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no partial or state file is left"
    );
}

/// A server whose one file (`/v2/files/1/content` → `/blob`) is `data`, ranges honoured or not.
async fn serve_blob(data: Arc<Vec<u8>>) -> Client {
    let router = Router::new()
        .route(
            "/v2/files/{id}/content",
            get(|headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                axum::Json(json!({"Response": {"HrefContent": format!("http://{host}/blob"), "SupportsRange": false}}))
            }),
        )
        .route("/blob", get(move || async move { data.as_ref().clone() }));
    fast(&serve(router).await)
}

fn etag_with_part_size(data: &[u8], part_size: u64) -> String {
    let mut hasher = ferry_api::etag::EtagHasher::new(part_size);
    hasher.update(data);
    hasher.finish().multipart
}

#[tokio::test]
async fn multipart_etags_of_decimal_megabyte_parts_verify() {
    use crate::download::{DownloadOptions, Verification, download_file};
    let data: Arc<Vec<u8>> = Arc::new((0..12_345_678usize).map(|i| (i * 13 % 251) as u8).collect());
    let file = ferry_api::File {
        id: "1".into(),
        name: Some("reads.fastq.gz".into()),
        size: Some(data.len() as i64),
        etag: Some(etag_with_part_size(&data, 5_000_000)),
        ..Default::default()
    };
    let client = serve_blob(data.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("reads.fastq.gz");
    let outcome = download_file(&client, &file, &dest, &DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.verified, Verification::MultipartEtag);
    assert_eq!(std::fs::read(&dest).unwrap(), *data);
}

#[tokio::test]
async fn a_multipart_etag_no_plausible_part_size_reproduces_keeps_the_bytes_and_says_so() {
    use crate::download::{DownloadOptions, TransferError, Verification, download_file, partial_path};
    // Parts of 5 MiB + 1 byte: neither whole MiB nor whole MB, so not reproducible.
    let data: Arc<Vec<u8>> = Arc::new((0..(12usize << 20) + 5).map(|i| (i * 7 % 253) as u8).collect());
    let file = ferry_api::File {
        id: "1".into(),
        name: Some("odd.bam".into()),
        size: Some(data.len() as i64),
        etag: Some(etag_with_part_size(&data, (5 << 20) + 1)),
        ..Default::default()
    };
    let client = serve_blob(data.clone()).await;
    let dir = tempfile::tempdir().unwrap();

    // By default the bytes are kept, marked as size-checked only.
    let dest = dir.path().join("odd.bam");
    let outcome = download_file(&client, &file, &dest, &DownloadOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.verified, Verification::EtagNotReproducible);
    assert!(!outcome.verified.is_checksum());
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        *data,
        "the bytes are kept, never deleted"
    );
    // Again: the file present is kept as it is, not reported as different.
    let again = download_file(&client, &file, &dest, &DownloadOptions::default())
        .await
        .unwrap();
    assert!(again.skipped);

    // With --require-checksum it is an error, and the bytes stay in the partial file.
    let strict = DownloadOptions {
        require_checksum: true,
        ..DownloadOptions::default()
    };
    let other = dir.path().join("strict").join("odd.bam");
    let error = download_file(&client, &file, &other, &strict).await.unwrap_err();
    assert!(matches!(error, TransferError::Unverifiable { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("cannot be verified") && message.contains("kept"),
        "{message}"
    );
    assert!(!other.exists(), "nothing unverified is published under the final name");
    assert_eq!(std::fs::read(partial_path(&other)).unwrap(), *data);
}
